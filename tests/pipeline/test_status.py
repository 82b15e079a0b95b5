"""pipeline/status.py: healthy or not, from a real run history (SQLite and PostgreSQL), with a fixed clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.status import collect_status, format_status
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import RunLock
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import RunCounts
from tests.test_operations import queries_dir, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
QUERIES = ("exosomes", "stem-cells")


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def record_run(s: Session, started: datetime, found: dict[str, int], status: str = "success") -> int:
    """A finished fetch run as the runner records it: one query run per saved search."""
    run_id = repository.start_run(s, kind="fetch", trigger="cron", window_start=None, window_end=None,
                                  started_at=started)
    for query_id, n in found.items():
        repository.start_query_run(s, run_id, query_id, started.date(), started.date())
        repository.finish_query_run(s, run_id, query_id, status=status, counts=RunCounts(found=n, new=n),
                                    error=None if status == "success" else "efetch failed: HTTP 503")
    repository.finish_run(s, run_id, status=status, finished_at=started + timedelta(minutes=1),
                          error=None if status == "success" else "run 1 failed", warnings=[])
    return run_id


def both(n: int) -> dict[str, int]:
    return dict.fromkeys(QUERIES, n)


def digest(s: Session, created: datetime, *, sent: bool, error: str | None = None) -> None:
    digest_id = repository.record_digest(s, article="stem-cell-lbp", period_start=created - timedelta(days=7),
                                         period_end=created,
                                         created_at=created, paths={}, item_keys=[])
    if sent:
        repository.mark_digest_sent(s, digest_id, created, ["writer@example.org"])
    if error:
        repository.mark_digest_failed(s, digest_id, error)


def healthy_history(s: Session) -> None:
    record_run(s, ago(days=30), both(3))
    record_run(s, ago(hours=1), both(2))


def never_found_exosomes(s: Session) -> None:
    record_run(s, ago(days=40), {"exosomes": 0, "stem-cells": 4})
    record_run(s, ago(hours=1), {"exosomes": 0, "stem-cells": 1})


def exosomes_dried_up(s: Session) -> None:
    record_run(s, ago(days=40), {"exosomes": 5, "stem-cells": 4})
    record_run(s, ago(hours=1), {"exosomes": 0, "stem-cells": 1})


def exosomes_new_and_empty(s: Session) -> None:
    """A search added three days ago that has found nothing yet: too early to call it broken."""
    record_run(s, ago(days=40), {"stem-cells": 4})
    record_run(s, ago(days=3), {"exosomes": 0, "stem-cells": 1})
    record_run(s, ago(hours=1), {"exosomes": 0, "stem-cells": 1})


def stale(s: Session) -> None:
    record_run(s, ago(days=3), both(2))
    record_run(s, ago(hours=1), both(0), status="failed")


def failed_send(s: Session) -> None:
    healthy_history(s)
    digest(s, ago(days=7), sent=True)
    digest(s, ago(hours=2), sent=False, error="SMTP 127.0.0.1:25: connection refused")


def failed_then_sent(s: Session) -> None:
    healthy_history(s)
    digest(s, ago(days=1), sent=False, error="SMTP 127.0.0.1:25: connection refused")
    digest(s, ago(hours=2), sent=True)


@pytest.mark.parametrize(
    ("history", "problems"),
    [
        (healthy_history, []),
        (lambda s: None, [r"query exosomes: no successful run yet", r"query stem-cells: no successful run yet"]),
        (never_found_exosomes, [r"query exosomes: 0 results in every run for more than 28 days — check the query"]),
        (exosomes_dried_up, [r"query exosomes: 0 results since 2026-10-16 \(more than 28 days\) — check the query"]),
        (exosomes_new_and_empty, []),
        (stale, [rf"query {q}: last success 2026-11-22 12:00 UTC is older than 2 days \(2x \[schedule\] "
                 r"fetch_interval_days\)" for q in QUERIES]),
        (failed_send, [r"digest of 2026-11-25 \(stem-cell-lbp\): send failed: SMTP 127\.0\.0\.1:25: "
                       r"connection refused"]),
        (failed_then_sent, []),
    ],
    ids=["healthy", "never-ran", "never-found", "dried-up", "new-and-empty", "stale", "failed-send",
         "failed-then-sent"],
)
def test_health(tmp_path: Path, db_url: str, history: Callable[[Session], None], problems: list[str]) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    upgrade(db_url)
    with session_scope(engine) as s:
        history(s)
    st = collect_status(settings, engine, clock=lambda: NOW)
    assert len(st.problems) == len(problems), st.problems
    for pattern, problem in zip(problems, st.problems, strict=True):
        assert re.fullmatch(pattern, problem), problem
    assert st.healthy is (not problems)
    assert format_status(st)[0].startswith("litwatch: healthy" if not problems else "litwatch: UNHEALTHY")


def test_status_names_the_lock_holder_the_newest_run_and_pending_items(tmp_path: Path, db_url: str) -> None:
    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    upgrade(db_url)
    with session_scope(engine) as s:
        healthy_history(s)
    lock = RunLock(engine, holder="worker-7:4242:cron", stale_after=60, heartbeat=30)
    lock.acquire()
    try:
        held = collect_status(settings, engine, clock=lambda: NOW)
    finally:
        lock.release()
    free = collect_status(settings, engine, clock=lambda: NOW)
    assert held.lock is not None and held.lock.startswith("worker-7:4242:cron since ")
    assert free.lock is None
    lines = format_status(held)
    assert any(line.startswith("  run lock: worker-7:4242:cron since ") for line in lines)
    assert "  last run: run 2 fetch (cron) success at 2026-11-25 11:00 UTC in 60.0s" in lines
    assert "  article stem-cell-lbp: 0 item(s) pending" in lines  # each saved search under its article
    assert any(line.startswith("    query exosomes       last success 2026-11-25 11:00 UTC") for line in lines)
    assert lines[-1] == ("  last digest: none; last sent: never; items pending for the next digest: 0")


def _settings(tmp_path: Path, db_url: str) -> Settings:
    queries = queries_dir(tmp_path, "exosomes.toml", "stem-cells.toml")
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", db_url, queries,
                          schedule={"fetch_interval_days": 1.0, "zero_result_days": 28})
    return load_settings(config, env={})


def test_status_json_gives_the_last_run_and_digest_as_fields(tmp_path: Path, db_url: str) -> None:
    """Monitoring reads `status --json`: the newest run and digest are objects with fields, not sentences."""
    import json

    from litwatch.pipeline.cli.output import json_line

    settings = _settings(tmp_path, db_url)
    engine = make_engine(db_url)
    upgrade(db_url)
    with session_scope(engine) as s:
        healthy_history(s)
        digest(s, ago(hours=2), sent=True)
    st = json.loads(json_line(collect_status(settings, engine, clock=lambda: NOW)))
    run = st["last_run"]
    assert isinstance(run, dict)
    assert {k: run[k] for k in ("id", "kind", "trigger", "status", "found", "new", "duration_s", "error")} == {
        "id": 2, "kind": "fetch", "trigger": "cron", "status": "success", "found": 4, "new": 4, "duration_s": 60.0,
        "error": None}
    assert (run["started_at"], run["finished_at"]) == ("2026-11-25T11:00:00+00:00", "2026-11-25T11:01:00+00:00")
    last = st["last_digest"]
    assert isinstance(last, dict)
    assert (last["week"], last["sent_at"], last["recipients"], last["error"]) == (
        "2026-W48", "2026-11-25T10:00:00+00:00", ["writer@example.org"], None)
    assert {"id", "period_start", "period_end", "created_at", "paths"} <= set(last)
    assert st["last_digest_sent"] == "2026-11-25T10:00:00+00:00"
