"""Operations, for real: `litwatch` processes against the replay server and real databases.

Two runs at once (one exits 3, `--wait` waits), a kill -9'd run's lock taken over, SIGTERM to `litwatch schedule`
mid-run (whole batches kept, the next run completes), a backfill over more than 9,999 hits, cron mode versus a
terminal (pty), and log lines tagged with the run id.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import lock_holder
from litwatch.storage.records import RunSummary
from tests.conftest import DOMAIN_RECORDS

REPO = Path(__file__).resolve().parents[1]
ARTICLE = REPO / "queries" / "stem-cell-lbp"
SINCE, UNTIL = "2026-09-01", "2026-11-24"
BATCH = 5
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) run=(\d+|-) \S+: ")


# --- helpers (also used by tests/pipeline/test_scheduler.py and test_status.py) ----------------------------------

def queries_dir(tmp_path: Path, *query_files: str, extra: dict[str, str] | None = None) -> Path:
    """A queries/ folder with the real article.toml and the named saved searches (or extra ones: name → TOML)."""
    folder = tmp_path / "queries" / ARTICLE.name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE / "article.toml", folder / "article.toml")
    for name in query_files:
        shutil.copy(ARTICLE / name, folder / name)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder.parent


def write_config(tmp_path: Path, base_url: str, db_url: str, queries: Path, **sections: dict[str, object]) -> Path:
    """config.toml for a local replay server: fast client, small batches; `sections` add or override keys."""
    values: dict[str, dict[str, object]] = {
        "ncbi": {"base_url": base_url, "email": "tests@example.org", "batch_size": BATCH, "backoff_base": 0.001,
                 "max_attempts": 3, "requests_per_second": 200.0},
        "storage": {"url": db_url, "data_dir": str(tmp_path)},
        "paths": {"queries": str(queries)},
        "registry": {"enabled": False},  # a test about the registry switches it on with its own server
        "crossref": {"enabled": False},  # likewise Crossref: tests never reach the network
    }
    for name, keys in sections.items():
        values.setdefault(name, {}).update(keys)
    text = ""
    for name, keys in values.items():
        text += f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in keys.items())
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment minus any LITWATCH_*/NCBI_* setting that could leak in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITWATCH_", "NCBI_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def litwatch(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(config), *args]


def start(config: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """A `litwatch` process in cron conditions: no terminal on stdin, output to pipes."""
    return subprocess.Popen(litwatch(config, *args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env(**env))


def run(config: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(litwatch(config, *args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          cwd=REPO, env=cli_env(**env), timeout=timeout)


def wait_until(what: str, check: Callable[[], object], proc: subprocess.Popen[str] | None = None,
               deadline_s: float = 60.0) -> None:
    """Poll until `check()` is true; fail early with the process's output if it exited first."""
    end = time.monotonic() + deadline_s
    while not check():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def scalar(db_url: str, sql: str) -> object:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    except sa.exc.SQLAlchemyError:  # the table may not exist yet while the process starts up
        return None
    finally:
        engine.dispose()


def stored_pmids(db_url: str) -> set[str]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        pmids = {r[0] for r in conn.execute(sa.text("select pmid from articles"))}
    engine.dispose()
    return pmids


def runs_table(db_url: str) -> list[RunSummary]:
    """The run history, oldest first."""
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        rows = repository.list_runs(s, limit=100)
    engine.dispose()
    return rows[::-1]


def lock_is_held(db_url: str) -> bool:
    engine = make_engine(db_url)
    try:
        return lock_holder(engine) is not None
    except Exception:  # noqa: BLE001 - schema not created yet
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def domain() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture
def slow_server(domain: Corpus) -> Iterator[ReplayServer]:
    """Every request takes 0.1 s: long enough that a test can catch a run between two batches."""
    with ReplayServer(domain, rate_limit=None, api_key_rate_limit=None, latency=0.1) as server:
        yield server


def stem_cell_hits(domain: Corpus, queries: Path) -> set[str]:
    from litwatch.pipeline.watchlist import load_watchlist

    (article,) = load_watchlist(queries)
    return {pmid for q in article.queries for pmid in domain.search(q.term)}


# --- one run at a time ---------------------------------------------------------------------------------------

def test_second_run_exits_3_at_once_and_wait_runs_after_the_first(
    tmp_path: Path, slow_server: ReplayServer, domain: Corpus, db_url: str
) -> None:
    queries = queries_dir(tmp_path, "stem-cells.toml")
    config = write_config(tmp_path, slow_server.base_url, db_url, queries)
    window = ("--since", SINCE, "--until", UNTIL, "--no-cited")
    # The first run's first esearch stalls for a few seconds while it holds the lock (and no database transaction).
    slow_server.faults.inject("esearch", "slow:4", times=1)
    first = start(config, "run", *window)
    waiting: subprocess.Popen[str] | None = None
    try:
        wait_until("the first run holds the lock", lambda: lock_is_held(db_url), first)
        waiting = start(config, "run", "--wait", "120", *window)
        second = run(config, "run", *window)
        refused_at = datetime.now(UTC)
        assert second.returncode == 3, second.stderr
        assert re.fullmatch(r"litwatch: error: another run holds the lock: run lock 'litwatch-run' is held by "
                            r"\S+:\d+:cron since .*\n", second.stderr), second.stderr
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        assert out.startswith("run 2 success")
    finally:
        for proc in (first, waiting):
            if proc is not None and proc.poll() is None:
                proc.kill()
    rows = runs_table(db_url)
    assert [(r.run_id, r.status, r.trigger) for r in rows] == [(1, "success", "cron"), (2, "success", "cron")]
    assert refused_at < rows[0].finished_at  # refused while the first run was still going, not after it
    assert rows[1].started_at >= rows[0].finished_at  # the waiting run ran after the first, not beside it
    assert stored_pmids(db_url) == stem_cell_hits(domain, queries)


def test_killed_runs_lock_is_taken_over_and_the_next_run_completes(
    tmp_path: Path, slow_server: ReplayServer, domain: Corpus, db_url: str
) -> None:
    queries = queries_dir(tmp_path, "stem-cells.toml")
    config = write_config(tmp_path, slow_server.base_url, db_url, queries,
                          run={"lock_stale_seconds": 3.0, "heartbeat_seconds": 0.5})
    window = ("--since", SINCE, "--until", UNTIL, "--no-cited")
    victim = start(config, "run", *window)
    try:
        wait_until("a committed batch", lambda: (scalar(db_url, "select count(*) from articles") or 0) > 0, victim)
    finally:
        victim.kill()  # SIGKILL: no release, no finish_run
        victim.communicate()
    done = run(config, "run", *window)  # no --wait: the dead holder must not block the next run at all
    assert done.returncode == 0, done.stderr
    if db_url.startswith("sqlite"):
        # The dead holder's row is still there, but its process is gone from this host: taken over at once.
        assert "taking over from" in done.stderr and "its process is gone from this host" in done.stderr
    # (PostgreSQL: the advisory lock died with the killed process's session, so there was nothing to take over.)
    assert done.stdout.startswith("run 2 success")
    assert stored_pmids(db_url) == stem_cell_hits(domain, queries)


# --- NCBI unreachable -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "litwatch-nonexistent.invalid"])
def test_run_against_an_unreachable_ncbi_fails_at_once_with_one_line(
    tmp_path: Path, sqlite_url: str, host: str
) -> None:
    from tests.conftest import free_port

    base_url = f"http://{host}:{free_port()}/" if host == "127.0.0.1" else f"http://{host}/"
    reason = "connection refused" if host == "127.0.0.1" else f"host name {host} does not resolve"
    queries = queries_dir(tmp_path, "stem-cells.toml", "exosomes.toml", "gene-therapy.toml")
    # NCBI's defaults for retries: 6 attempts, backoff from 1 s; three saved searches once took 73 s and 15 retries
    config = write_config(tmp_path, base_url, sqlite_url, queries, ncbi={"max_attempts": 6, "backoff_base": 1.0})
    done = run(config, "run", "--since", SINCE, "--until", UNTIL, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (f"litwatch: error: cannot reach NCBI at {base_url}: {reason} — check [ncbi] base_url "
                           "or the network\n")
    (failed,) = runs_table(sqlite_url)
    assert failed.status == "failed" and len(failed.queries) == 1


# --- SIGTERM to the scheduler --------------------------------------------------------------------------------

def test_sigterm_to_schedule_stops_after_the_batch_in_hand_and_the_next_run_resumes(
    tmp_path: Path, slow_server: ReplayServer, domain: Corpus, sqlite_url: str
) -> None:
    queries = queries_dir(tmp_path, "stem-cells.toml")
    expected = stem_cell_hits(domain, queries)
    # The scheduler's fetch uses the default window: make a first run reach back over the whole corpus.
    first_run_days = (datetime.now(UTC).date() - date(2026, 9, 1)).days
    config = write_config(tmp_path, slow_server.base_url, sqlite_url, queries,
                          ncbi={"first_run_days": first_run_days})
    sched = start(config, "schedule", "--now")
    try:
        wait_until("a committed batch",
                   lambda: (scalar(sqlite_url, "select count(*) from articles") or 0) > 0, sched)
        sched.send_signal(signal.SIGTERM)
        out, err = sched.communicate(timeout=60)
    finally:
        if sched.poll() is None:
            sched.kill()
    assert sched.returncode == 0, err
    assert out.splitlines()[-1] == "litwatch scheduler: stopped"
    assert "job fetch: cron[" in out and "next run" in out
    assert "stopping after the current batch" in err
    (stopped,) = runs_table(sqlite_url)
    assert (stopped.kind, stopped.trigger, stopped.status) == ("fetch", "scheduler", "failed")
    assert "stopped by signal" in (stopped.error or "")
    kept = stored_pmids(sqlite_url)
    assert 0 < len(kept) < len(expected) and len(kept) % BATCH == 0, "only whole batches are kept"
    assert scalar(sqlite_url, "select count(*) from watermarks") == 0  # the window did not complete

    resumed = run(config, "run")
    assert resumed.returncode == 0, resumed.stderr
    assert stored_pmids(sqlite_url) == expected
    assert [r.status for r in runs_table(sqlite_url)] == ["failed", "success"]


# --- backfill over PubMed's 9,999 cap ---------------------------------------------------------------------------

def small_base(domain: Corpus, tmp_path: Path, n: int = 5) -> Corpus:
    """The n shortest domain records: the backfill's cost is per record, so cheap records keep the test fast."""
    pmids = sorted(domain.pmids, key=lambda p: len(domain.record_xml(p)))[:n]
    path = tmp_path / "base.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + domain.doctype + b"\n<PubmedArticleSet>\n"
                     + b"\n".join(domain.record_xml(p) for p in pmids) + b"\n</PubmedArticleSet>\n")
    return Corpus.from_files([path])


def test_backfill_over_9999_hits_stores_exactly_the_expected_pmids(
    tmp_path: Path, domain: Corpus, sqlite_url: str
) -> None:
    term = '"Journal Article"[pt] OR of'
    base = small_base(domain, tmp_path)
    assert len(base.search(term)) == len(base)  # the term matches every record
    corpus = Corpus.replicated(base, 10_200, 40_000_000, date(2020, 1, 1), date(2020, 12, 31))
    queries = queries_dir(tmp_path, extra={
        "everything.toml": f'id = "everything"\nlabel = "every record"\nclaims = ["overview"]\nterm = \'{term}\'\n'})
    log_file = tmp_path / "litwatch.log"
    with ReplayServer(corpus, rate_limit=None, api_key_rate_limit=None) as server:
        config = write_config(tmp_path, server.base_url, sqlite_url, queries, ncbi={"batch_size": 500})
        done = run(config, "-v", "--log-file", str(log_file), "backfill", "--since", "2020-01-01",
                   "--until", "2020-12-31", "--no-cited", timeout=300)
        esearch_calls = server.stats.requests["esearch"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run 1 success") and "found 10200, new 10200" in done.stdout
    assert stored_pmids(sqlite_url) == {str(p) for p in range(40_000_000, 40_010_200)}
    assert "holds 10200 records (cap 9999): splitting" in done.stderr and esearch_calls > 2
    # cron mode: plain log lines with the run id, progress with an ETA, never a carriage return
    assert "\r" not in done.stderr
    assert re.search(r"run=1 litwatch\.progress: everything: 500/\d+ records stored \(\d+ rec/s, ETA ", done.stderr)
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines and all(LINE.match(line) for line in lines), [x for x in lines if not LINE.match(x)][:3]
    assert sum(" run=1 " in line for line in lines) >= 20
    (row,) = runs_table(sqlite_url)
    assert (row.kind, row.trigger, row.status) == ("backfill", "cron", "success")


# --- a person at a terminal ------------------------------------------------------------------------------------

def test_on_a_terminal_run_draws_a_bar_and_records_a_manual_trigger(
    tmp_path: Path, domain: Corpus, sqlite_url: str
) -> None:
    queries = queries_dir(tmp_path, "stem-cells.toml")
    with ReplayServer(domain, rate_limit=None, api_key_rate_limit=None) as server:
        config = write_config(tmp_path, server.base_url, sqlite_url, queries)
        master, slave = pty.openpty()
        proc = subprocess.Popen(litwatch(config, "run", "--since", SINCE, "--until", UNTIL, "--no-cited"),
                                stdin=slave, stderr=slave, stdout=subprocess.PIPE, text=True, cwd=REPO,
                                env=cli_env())
        os.close(slave)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(master, chunks))
        reader.start()
        out, _ = proc.communicate(timeout=120)
        reader.join(timeout=30)
        os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal
    assert out.startswith("run 1 success")
    assert re.search(r"\rstem-cells\s+\[#+-*\] \d+/36 .* rec/s ETA", terminal), terminal
    assert " INFO " not in terminal  # people get the bar; log lines only with -v
    assert [r.trigger for r in runs_table(sqlite_url)] == ["manual"]


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return
        if not data:
            return
        chunks.append(data)
