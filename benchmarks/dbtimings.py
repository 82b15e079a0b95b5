"""Digest and read-command timings on the largest backfilled database of each backend, aged to look like two
years of daily runs: each record first seen on its Create date (shifted so the newest is today), one fetch run
per day in the history. A week's items is then N x 7 / 730 records (~480 at N = 50,000)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from benchmarks.corpus import REPO, WINDOW, key_env
from benchmarks.runs import RunResult
from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.digest_run import DigestRequest, make_digest
from litwatch.pipeline.status import collect_status
from litwatch.storage import repository
from litwatch.storage.bulk import chunks
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.schema import ArticleRow, AssessmentRow, QueryRunRow, RunRow

REPEAT = 3


def age_database(engine: Engine, now: datetime) -> int:
    """Spread first_seen/last_changed (and assessed_at) over the Create dates; add a daily run history."""
    shift = now.date() - WINDOW[1]

    def seen(created: Any) -> datetime:
        return datetime.combine(created + shift, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)

    with session_scope(engine) as s:
        created = dict(s.execute(sa.select(ArticleRow.pmid, ArticleRow.created)).all())
        rows = [{"pmid": p, "first_seen": seen(c), "last_seen": seen(c), "last_changed": seen(c)}
                for p, c in created.items()]
        for chunk in chunks(rows):
            s.execute(sa.update(ArticleRow), chunk)
        assessed = [{"id": i, "assessed_at": seen(created[p])}
                    for i, p in s.execute(sa.select(AssessmentRow.id, AssessmentRow.pmid))]
        for chunk in chunks(assessed):
            s.execute(sa.update(AssessmentRow), chunk)
        days = (WINDOW[1] - WINDOW[0]).days + 1
        runs = [{"kind": "fetch", "trigger": "cron", "status": "success", "started_at": seen(WINDOW[0]) + timedelta(d),
                 "finished_at": seen(WINDOW[0]) + timedelta(days=d, seconds=40), "found": 70, "new": 68,
                 "changed": 2, "unchanged": 0, "deleted": 0, "warnings": [], "host": "bench", "pid": 1}
                for d in range(days)]
        ids = list(s.scalars(sa.insert(RunRow).returning(RunRow.id), runs))
        parts = [{"run_id": i, "query_id": "everything", "status": "success", "window_start": WINDOW[0],
                  "window_end": WINDOW[1], "found": 70, "new": 68, "changed": 2, "unchanged": 0, "deleted": 0}
                 for i in ids]
        for chunk in chunks(parts):
            s.execute(sa.insert(QueryRunRow), chunk)
    return len(created)


def _median(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(REPEAT):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _cli(settings: Settings, rate: float, *args: str) -> float:
    cmd = [str(Path(sys.executable).parent / "litwatch"), "--config", settings.source, *args]
    env = {"PATH": "/usr/bin:/bin", **key_env(rate)}
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, capture_output=True, env=env, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_database(result: RunResult) -> list[tuple[str, str, float, str]]:
    settings = load_settings(result.config, env=key_env(result.rate))
    engine = make_engine(result.db_url)
    now = datetime.now(UTC).replace(microsecond=0)
    stored = age_database(engine, now)
    with session_scope(engine) as s:
        newest = s.scalar(sa.select(ArticleRow.pmid).order_by(ArticleRow.last_changed.desc()).limit(1))
    week = DigestRequest(dry_run=True, since=now - timedelta(days=7), until=now)
    seconds, outcome = _median(lambda: make_digest(settings, week, engine=engine, clock=lambda: now))
    d = outcome.digest
    items = len(d.action_needed) + len(d.worth_a_look) + len(d.for_awareness)
    rows = [("digest (make_digest dry_run, last 7 days)", f"{items} items of {stored:,}", seconds, "in process")]

    def runs() -> int:
        with session_scope(engine) as s:
            return len(repository.list_runs(s, limit=20))

    def show() -> bool:
        with session_scope(engine) as s:
            return repository.get_article(s, newest) is not None

    seconds, _ = _median(runs)
    rows.append(("runs (list_runs, 20 of 731)", "", seconds, "in process"))
    seconds, st = _median(lambda: collect_status(settings, engine))
    rows.append(("status (collect_status)", f"{st.pending_items} pending", seconds, "in process"))
    seconds, _ = _median(show)
    rows.append(("show (get_article)", newest or "", seconds, "in process"))
    engine.dispose()
    rows.append(("`litwatch --version`", "interpreter + imports", _cli(settings, result.rate, "--version"), "CLI"))
    rows.append(("`litwatch runs`", "", _cli(settings, result.rate, "runs"), "CLI"))
    rows.append(("`litwatch status`", "", _cli(settings, result.rate, "status"), "CLI"))
    rows.append(("`litwatch show PMID`", "", _cli(settings, result.rate, "show", newest or ""), "CLI"))
    return rows


def timing_table(results: list[RunResult]) -> list[str]:
    largest: dict[str, RunResult] = {}
    for r in results:
        if r.backend not in largest or r.n > largest[r.backend].n:
            largest[r.backend] = r
    lines = ["| backend | N | what | detail | seconds (median of 3) | how |", "|---|---|---|---|---|---|"]
    for backend, result in largest.items():
        for what, detail, seconds, how in time_database(result):
            lines.append(f"| {backend} | {result.n:,} | {what} | {detail} | {seconds:.3f} | {how} |")
    return lines
