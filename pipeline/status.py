"""`litwatch status`: is litwatch healthy? For people and for monitoring (exit 1 when not).

Unhealthy when: a saved search has not succeeded within 2x the expected fetch interval, a search has found nothing
for longer than [schedule] zero_result_days, or the newest digest failed to send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine

from pipeline.config import Settings
from pipeline.digest_job import DIGEST_LOCK, zero_result_warnings
from pipeline.watchlist import load_watchlist
from storage import repository
from storage.engine import session_scope
from storage.locks import DEFAULT_NAME, lock_holder


@dataclass(frozen=True)
class QueryStatus:
    query_id: str
    last_success: datetime | None
    watermark: date | None
    last_status: str | None
    last_error: str | None


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
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def collect_status(settings: Settings, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                   ) -> Status:
    now = clock()
    problems: list[str] = []
    query_ids = [q.id for a in load_watchlist(settings.queries_dir) for q in a.queries if q.enabled]
    labels = {q: q for q in query_ids}
    max_age = timedelta(days=2 * settings.schedule.fetch_interval_days)
    with session_scope(engine) as s:
        stats = repository.query_stats(s, now - max_age)
        queries = []
        for qid in query_ids:
            h = stats.get(qid)
            last_success = h.last_success if h else None
            queries.append(QueryStatus(qid, last_success, repository.get_watermark(s, qid),
                                       h.last_status if h else None, h.last_error if h else None))
            if last_success is None:
                problems.append(f"query {qid}: no successful run yet")
            elif now - last_success > max_age:
                problems.append(f"query {qid}: last success {last_success:%Y-%m-%d %H:%M} UTC, "
                                f"older than {max_age.days} days (2x the fetch interval)")
        problems += zero_result_warnings(s, settings, labels, now)
        last = repository.last_digest(s)
        last_sent = repository.last_digest(s, sent_only=True)
        if last is not None and last.sent_at is None and last.error:
            problems.append(f"digest of {last.created_at:%Y-%m-%d}: send failed: {last.error}")
        since = last_sent.period_end if last_sent else now - timedelta(days=settings.digest.default_days)
        sent = repository.sent_item_keys(s)
        pending = sum(1 for x in repository.changed_between(s, since, now) if (x.article.pmid, x.content_hash)
                      not in sent)
    holder = lock_holder(engine, DEFAULT_NAME)
    digest_holder = lock_holder(engine, DIGEST_LOCK)
    return Status(
        healthy=not problems, problems=tuple(problems), queries=tuple(queries),
        lock=_holder(holder), digest_lock=_holder(digest_holder),
        last_digest=(f"{last.created_at:%Y-%m-%d %H:%M} UTC ({'sent' if last.sent_at else 'not sent'})"
                     if last else None),
        last_digest_sent=f"{last_sent.sent_at:%Y-%m-%d %H:%M} UTC" if last_sent and last_sent.sent_at else None,
        pending_items=pending, checked_at=now,
    )


def _holder(value: tuple[str, datetime | None] | None) -> str | None:
    if value is None:
        return None
    holder, since = value
    return f"{holder} since {since:%Y-%m-%d %H:%M:%S} UTC" if since else holder


def format_status(st: Status) -> list[str]:
    lines = [f"litwatch: {'healthy' if st.healthy else 'UNHEALTHY'}"]
    lines += [f"  problem: {p}" for p in st.problems]
    for q in st.queries:
        success = f"{q.last_success:%Y-%m-%d %H:%M} UTC" if q.last_success else "never"
        lines.append(f"  query {q.query_id:<14} last success {success:<22} watermark {q.watermark or '-'}"
                     + (f"  last error: {q.last_error}" if q.last_status == "failed" and q.last_error else ""))
    lines.append(f"  run lock: {st.lock or 'free'}")
    if st.digest_lock:
        lines.append(f"  digest lock: {st.digest_lock}")
    lines.append(f"  last digest: {st.last_digest or 'none'}; last sent: {st.last_digest_sent or 'never'}; "
                 f"items pending for the next digest: {st.pending_items}")
    return lines
