"""`litwatch status`: is litwatch healthy? For people and for monitoring (exit 1 when not).

Unhealthy when: a saved search has not succeeded within 2x [schedule] fetch_interval_days, a search that has been
running for longer than [schedule] zero_result_days found nothing in all that time, or the newest digest failed to
send (until a later digest is sent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from litwatch.storage import repository
from litwatch.storage.engine import session_scope
from litwatch.storage.locks import DEFAULT_NAME, lock_holder
from litwatch.storage.records import RunSummary

from .config import Settings
from .digest_run import DIGEST_LOCK
from .health import EPOCH, zero_result_warnings
from .watchlist import load_watchlist


@dataclass(frozen=True)
class QueryStatus:
    query_id: str
    last_success: datetime | None
    watermark: date | None
    last_status: str | None
    last_error: str | None
    last_found_any: datetime | None = None


@dataclass(frozen=True)
class Status:
    healthy: bool
    problems: tuple[str, ...]
    queries: tuple[QueryStatus, ...]
    lock: str | None
    digest_lock: str | None
    last_digest: str | None
    last_digest_sent: str | None
    pending_items: int = 0
    last_run: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def collect_status(settings: Settings, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                   ) -> Status:
    now = clock()
    query_ids = [q.id for a in load_watchlist(settings.queries_dir) for q in a.queries if q.enabled]
    with session_scope(engine) as s:
        queries, problems = _query_health(s, settings, query_ids, now)
        last = repository.last_digest(s)
        last_sent = repository.last_digest(s, sent_only=True)
        if last is not None and last.sent_at is None and last.error:
            problems.append(f"digest of {last.created_at:%Y-%m-%d}: send failed: {last.error}")
        since = last_sent.period_end if last_sent else now - timedelta(days=settings.digest.default_days)
        sent = repository.sent_item_keys(s)
        pending = sum(1 for x in repository.changed_between(s, since, now)
                      if (x.article.pmid, x.content_hash) not in sent)
        newest = repository.list_runs(s, limit=1)
    stale = settings.run.lock_stale_seconds
    return Status(
        healthy=not problems, problems=tuple(problems), queries=tuple(queries),
        lock=_holder(lock_holder(engine, DEFAULT_NAME, stale_after=stale)),
        digest_lock=_holder(lock_holder(engine, DIGEST_LOCK, stale_after=stale)),
        last_digest=(f"{last.created_at:%Y-%m-%d %H:%M} UTC ({'sent' if last.sent_at else 'not sent'})"
                     if last else None),
        last_digest_sent=f"{last_sent.sent_at:%Y-%m-%d %H:%M} UTC" if last_sent and last_sent.sent_at else None,
        pending_items=pending, last_run=_run_line(newest[0]) if newest else None, checked_at=now,
    )


def _query_health(s: Session, settings: Settings, query_ids: list[str], now: datetime
                  ) -> tuple[list[QueryStatus], list[str]]:
    max_age = timedelta(days=2 * settings.schedule.fetch_interval_days)
    overall = repository.query_stats(s, EPOCH)  # `runs` counts every run
    queries: list[QueryStatus] = []
    problems: list[str] = []
    for qid in query_ids:
        h = overall.get(qid)
        last_success = h.last_success if h else None
        queries.append(QueryStatus(qid, last_success, repository.get_watermark(s, qid),
                                   h.last_status if h else None, h.last_error if h else None,
                                   h.last_nonzero if h else None))
        if h is None or last_success is None:
            problems.append(f"query {qid}: no successful run yet")
            continue
        if now - last_success > max_age:
            problems.append(f"query {qid}: last success {last_success:%Y-%m-%d %H:%M} UTC is older than "
                            f"{_days(max_age)} (2x [schedule] fetch_interval_days)")
    problems += zero_result_warnings(s, settings, query_ids, now)
    return queries, problems


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"


def _run_line(r: RunSummary) -> str:
    took = f" in {r.duration_s:.1f}s" if r.duration_s is not None else ""
    return (f"run {r.run_id} {r.kind} ({r.trigger}) {r.status} at {r.started_at:%Y-%m-%d %H:%M} UTC{took}"
            + (f": {r.error}" if r.error else ""))


def _holder(value: tuple[str, datetime | None] | None) -> str | None:
    if value is None:
        return None
    holder, since = value
    return f"{holder} since {since:%Y-%m-%d %H:%M:%S} UTC" if since else holder


def format_status(st: Status) -> list[str]:
    lines = [f"litwatch: {'healthy' if st.healthy else 'UNHEALTHY'} (checked {st.checked_at:%Y-%m-%d %H:%M} UTC)"]
    lines += [f"  problem: {p}" for p in st.problems]
    for q in st.queries:
        success = f"{q.last_success:%Y-%m-%d %H:%M} UTC" if q.last_success else "never"
        lines.append(f"  query {q.query_id:<14} last success {success:<22} watermark {q.watermark or '-'}"
                     + (f"  last error: {q.last_error}" if q.last_status == "failed" and q.last_error else ""))
    lines.append(f"  last run: {st.last_run or 'none'}")
    lines.append(f"  run lock: {st.lock or 'free'}")
    if st.digest_lock:
        lines.append(f"  digest lock: {st.digest_lock}")
    lines.append(f"  last digest: {st.last_digest or 'none'}; last sent: {st.last_digest_sent or 'never'}; "
                 f"items pending for the next digest: {st.pending_items}")
    return lines
