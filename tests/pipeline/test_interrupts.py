"""Ctrl-C for real: `litwatch run` and `litwatch demo` in a subprocess, sent SIGINT mid-run.

Either stops at once (no request is retried after the interrupt, the demo stops its server only after the run has
stopped), records the run as "stopped" (interrupted) with no run left "running" and the lock free, and exits with
the CLI's code for an interrupt (1, "litwatch: interrupted"). Deadlines are generous bounds, never timing asserts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from litwatch.pipeline.cli import EXIT_FAILED
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.storage.records import RunSummary
from tests.conftest import DOMAIN_RECORDS
from tests.test_operations import (
    BATCH,
    REPO,
    SINCE,
    UNTIL,
    cli_env,
    lock_is_held,
    queries_dir,
    runs_table,
    scalar,
    start,
    stored_pmids,
    wait_until,
    write_config,
)

INTERRUPTED = "interrupted (Ctrl-C): stopped at once; committed batches are kept; a re-run resumes the window"


@pytest.fixture(scope="module")
def domain() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture
def server(domain: Corpus) -> Iterator[ReplayServer]:
    with ReplayServer(domain, rate_limit=None, api_key_rate_limit=None) as srv:
        yield srv


def assert_recorded_as_interrupted(db_url: str) -> RunSummary:
    (run,) = runs_table(db_url)
    assert (run.status, run.error) == ("stopped", INTERRUPTED)
    assert all(q.status != "running" for q in run.queries), run.queries
    assert not lock_is_held(db_url)
    return run


def test_sigint_to_run_stops_at_once_without_retrying_and_records_the_run_as_interrupted(
    tmp_path: Path, server: ReplayServer, sqlite_url: str
) -> None:
    queries = queries_dir(tmp_path, "stem-cells.toml")
    # Backoffs of 30-60 s: without the interrupt stopping them the process outlives the deadline below.
    config = write_config(tmp_path, server.base_url, sqlite_url, queries,
                          ncbi={"backoff_base": 60.0, "max_attempts": 6, "max_in_flight": 2})
    # the first two efetch answers succeed, every later one is a 503 that backs off. With two batches in flight
    # the two successes may be batches 1 and 3 (arrival order is the scheduler's): then batch 2 backs off and only
    # batch 1 can be stored, in order. Either way whole batches only, and nothing retried after the SIGINT.
    server.faults.inject("efetch", "503", times=None, after=2)
    proc = start(config, "run", "--since", SINCE, "--until", UNTIL, "--no-cited")
    try:
        wait_until("a batch stored and two efetch requests backing off",
                   lambda: server.stats.requests.get("efetch", 0) >= 4
                   and (scalar(sqlite_url, "select count(*) from articles") or 0) >= BATCH, proc)
        asked = dict(server.stats.requests)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # the backoffs alone would take minutes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_FAILED, err
    assert err.rstrip().splitlines()[-1] == "litwatch: interrupted", err
    assert dict(server.stats.requests) == asked  # not one request after the interrupt
    assert out == ""
    run = assert_recorded_as_interrupted(sqlite_url)
    stored = len(stored_pmids(sqlite_url))
    assert stored in (BATCH, 2 * BATCH)  # whole batches only
    assert [(q.query_id, q.status, q.found) for q in run.queries] == [("stem-cells", "stopped", stored)]
    assert scalar(sqlite_url, "select count(*) from watermarks") == 0  # the window did not complete

    runs = subprocess.run([sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(config), "runs"],
                          capture_output=True, text=True, cwd=REPO, env=cli_env(), timeout=60)
    assert runs.returncode == 0, runs.stderr
    assert " stopped " in runs.stdout and "interrupted (Ctrl-C)" in runs.stdout


# The demo's own replay server, made slow (0.3 s an answer) so that a SIGINT lands mid-run; nothing else changes.
SLOW_DEMO = """
import functools, sys
import litwatch.pipeline.demo as demo
demo.ReplayServer = functools.partial(demo.ReplayServer, latency=0.3)
from litwatch.pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigint_to_the_demo_stops_the_run_before_its_server_and_records_it_as_interrupted(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    db_url = f"sqlite:///{out_dir / 'litwatch-demo.sqlite'}"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_DEMO, "demo", "--out", str(out_dir)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=cli_env())
    try:
        wait_until("the demo's first committed batch",
                   lambda: (scalar(db_url, "select count(*) from articles") or 0) > 0, proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_FAILED, err
    assert err.rstrip().splitlines()[-1] == "litwatch: interrupted", err
    assert "retry" not in err, err  # nothing retried against the server the demo stops on its way out
    assert "digest" not in out
    assert_recorded_as_interrupted(db_url)
