"""Crash safety of `litwatch run` as a real process: kill -9 at random points, SIGTERM mid-run, a read-only database.

The promise under test: a run that dies anywhere leaves only whole batches behind, and the next run brings the
database to exactly the state an uninterrupted run produces (articles with version and content hash, query hits,
watermarks, assessments) — and the run history says what happened to the dead run.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from tests.conftest import DOMAIN_RECORDS, lbp_only_queries
from tests.test_fault_matrix import db_state, expected_ids

REPO = Path(__file__).resolve().parents[1]
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)
WINDOW = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat(), "--no-cited"]
BATCH = 7
RATE = 40.0  # server limit per key and client pace: NCBI's mechanics, quicker than 10/s
KEY = "test-key-crash"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture(scope="module")
def server(corpus: Corpus) -> Iterator[ReplayServer]:
    with ReplayServer(corpus, api_key_rate_limit=RATE) as srv:
        yield srv


def write_config(tmp_path: Path, base_url: str, db_url: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = {BATCH}\n'
        f"backoff_base = 0.001\nmax_attempts = 3\nrequests_per_second = {RATE}\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{lbp_only_queries()}"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n"  # tests never reach clinicaltrials.gov or Crossref
        # a crashed holder's SQLite lock row goes stale quickly, so the re-run can take over
        "[run]\nlock_stale_seconds = 0.5\nheartbeat_seconds = 0.1\n",
        encoding="utf-8",
    )
    return cfg


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITWATCH_", "NCBI_"))}
    return {**env, "NCBI_API_KEY": KEY, **extra}


def start_cli(cfg: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(cfg), *args],
        cwd=REPO, env=cli_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def settings_of(cfg: Path) -> Settings:
    return load_settings(cfg, env={"NCBI_API_KEY": KEY})


def requests_seen(server: ReplayServer) -> int:
    return sum(server.stats.requests.values())


def wait_for_requests(server: ReplayServer, proc: subprocess.Popen[str], n: int, timeout: float = 30) -> bool:
    """Block until the server has seen `n` more requests (True) or the process ended (False)."""
    deadline = time.monotonic() + timeout
    while requests_seen(server) < n:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.002)
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, server: ReplayServer) -> tuple[object, ...]:
    """The database an uninterrupted run leaves (everything but the run history)."""
    tmp = tmp_path_factory.mktemp("reference")
    settings = settings_of(write_config(tmp, server.base_url, f"sqlite:///{tmp / 'ref.sqlite'}"))
    Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    state = db_state(settings.database_url)
    assert len(state.articles) > 40 and len(state.watermarks) == 3
    return state.comparable()


@pytest.mark.parametrize("seed", range(4))
def test_kill_9_at_a_random_point_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, server: ReplayServer, reference: tuple[object, ...], seed: int
) -> None:
    _kill_and_rerun(tmp_path, server, reference, f"sqlite:///{tmp_path / 'crash.sqlite'}", seed)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(100, 102))
def test_kill_9_on_postgresql_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, server: ReplayServer, reference: tuple[object, ...], pg_url: str, seed: int
) -> None:
    _kill_and_rerun(tmp_path, server, reference, pg_url, seed)


def _kill_and_rerun(tmp_path: Path, server: ReplayServer, reference: tuple[object, ...], db_url: str,
                    seed: int) -> None:
    rng = random.Random(seed)
    cfg = write_config(tmp_path, server.base_url, db_url)
    # Kill after the k-th request of this run (k = 0: while starting up / migrating), then a little later, so
    # that the kill lands anywhere: in a request, in a parse, inside a database transaction.
    k, delay = rng.randint(0, 15), rng.uniform(0.0, 0.06)
    start = requests_seen(server)
    proc = start_cli(cfg, "run", *WINDOW)
    try:
        alive = wait_for_requests(server, proc, start + k) if k else True
        time.sleep(delay if k else rng.uniform(0.3, 0.9))
        if alive:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]

    summary = Runner(settings_of(cfg)).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False, wait=10))
    assert summary.status == "success"
    state = db_state(db_url)
    assert state.comparable() == reference, f"seed {seed}: k={k}, delay={delay:.3f}"
    statuses = [status for status, _, _ in state.runs]
    assert statuses[-1] == "success" and "running" not in statuses  # the dead run is not left "running"
    for status, error, _ in state.runs[:-1]:
        assert status == "failed" and "interrupted" in (error or ""), state.runs


def test_sigterm_stops_after_the_batch_in_hand_and_the_next_run_resumes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    cfg = write_config(tmp_path, server.base_url, db_url)
    settings = settings_of(cfg)
    expected = expected_ids(corpus, settings)  # stem-cells, in esearch order: 36 ids, 6 batches of 7
    start = requests_seen(server)
    proc = start_cli(cfg, "run", "--query", "stem-cells", *WINDOW)
    assert wait_for_requests(server, proc, start + 4), proc.communicate()  # count, search, efetch 1 and 2
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.startswith("litwatch: error:")]
    assert len(lines) == 1 and "stopped by signal after a committed batch" in lines[0], err
    assert "Traceback" not in err and out == ""

    state = db_state(db_url)
    stored = len(state.articles)
    assert 0 < stored < len(expected) and stored % BATCH == 0  # whole batches only
    assert sorted(state.articles) == sorted(expected[:stored])  # and the first ones, in order
    assert state.watermarks == {}
    assert [s for s, _, _ in state.runs] == ["failed"] and "stopped" in (state.runs[0][1] or "")

    Runner(settings).run(RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False))
    state = db_state(db_url)
    assert sorted(state.articles) == sorted(expected) and state.watermarks == {"stem-cells": UNTIL}
    assert state.assessments == dict.fromkeys(expected, 1)


def test_read_only_database_fails_with_one_line_and_is_not_touched(
    tmp_path: Path, server: ReplayServer
) -> None:
    path = tmp_path / "ro.sqlite"
    cfg = write_config(tmp_path, server.base_url, f"sqlite:///{path}")
    Runner(settings_of(cfg)).run(RunRequest(query_ids=("exosomes",), since=SINCE, until=UNTIL, check_cited=False))
    before = path.read_bytes()
    ro_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    done = subprocess.run(
        [sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(cfg), "run", *WINDOW],
        cwd=REPO, env=cli_env(LITWATCH_STORAGE__URL=ro_url), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("litwatch: error: "), done.stderr
    assert "read" in done.stderr.lower() and "Traceback" not in done.stderr
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
