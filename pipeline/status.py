"""`litwatch status`: is litwatch healthy? For people and for monitoring (exit 1 when not).

Unhealthy when: a saved search (or an article's trial-registry part) has not succeeded within 2x [schedule]
fetch_interval_days, a search that has been
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
from litwatch.storage.digests import DigestRecord
from litwatch.storage.engine import session_scope
from litwatch.storage.locks import DEFAULT_NAME, lock_holder
from litwatch.storage.records import RunCounts, RunSummary

from .config import Settings
from .digest_run import DIGEST_LOCK
from .health import EPOCH, zero_result_warnings
from .registry.spec import load_registry_watch
from .watchlist import WatchedArticle, load_watchlist


@dataclass(frozen=True)
class QueryStatus:
    query_id: str
    article: str  # the watched article's slug whose saved search this is
    last_success: datetime | None
    watermark: date | None
    last_status: str | None
    last_error: str | None
    last_found_any: datetime | None = None


@dataclass(frozen=True)
class RegistryStatus:
    """One article's trial-registry part (`registry:<slug>` in the run history and watermarks)."""

    article: str
    source_id: str  # "registry:<slug>"
    searches: int  # registry.toml searches
    follows: int  # NCT ids followed (registry.toml follow + the cited studies' nct_ids)
    last_success: datetime | None
    watermark: date | None
    last_status: str | None
    last_error: str | None


@dataclass(frozen=True)
class LastRun:
    """The newest run, as fields (monitoring reads `status --json`; a sentence is for people)."""

    id: int
    kind: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    counts: RunCounts = field(metadata={"inline": True})  # found, new, changed… beside the other fields
    error: str | None = None


@dataclass(frozen=True)
class LastDigest:
    id: int
    week: str  # ISO week of the period's end, as in the digest's file names: "2026-W47"
    period_start: datetime
    period_end: datetime
    created_at: datetime
    sent_at: datetime | None
    recipients: tuple[str, ...]
    paths: dict[str, str]
    error: str | None


@dataclass(frozen=True)
class Status:
    healthy: bool
    problems: tuple[str, ...]
    queries: tuple[QueryStatus, ...]
    lock: str | None
    digest_lock: str | None
    last_digest: LastDigest | None
    last_digest_sent: datetime | None
    pending_items: int = 0  # over every article; `pending_by_article` splits it
    last_run: LastRun | None = None
    pending_by_article: dict[str, int] = field(default_factory=dict)
    registry: tuple[RegistryStatus, ...] = ()  # articles watching the trial registry (when [registry] is enabled)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def collect_status(settings: Settings, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                   ) -> Status:
    now = clock()
    articles = load_watchlist(settings.queries_dir)
    query_ids = [(a.slug, q.id) for a in articles for q in a.queries if q.enabled]
    with session_scope(engine, readonly=True) as s:  # status never writes: it works on a read-only database
        queries, problems = _query_health(s, settings, query_ids, now)
        registry = _registry_health(s, settings, articles, now, problems)
        last = repository.last_digest(s)
        last_sent = repository.last_digest(s, sent_only=True)
        for article in articles:  # each article's newest digest: a failed send is a problem until one succeeds
            newest_digest = repository.last_digest(s, article=article.slug)
            if newest_digest is not None and newest_digest.sent_at is None and newest_digest.error:
                problems.append(f"digest of {newest_digest.created_at:%Y-%m-%d} ({article.slug}): send failed: "
                                f"{newest_digest.error}")
        pending = {a.slug: _pending(s, settings, a.slug, [q.id for q in a.queries], now) for a in articles}
        newest = repository.list_runs(s, limit=1)
    stale = settings.run.lock_stale_seconds
    return Status(
        healthy=not problems, problems=tuple(problems), queries=tuple(queries),
        lock=_holder(lock_holder(engine, DEFAULT_NAME, stale_after=stale)),
        digest_lock=_holder(lock_holder(engine, DIGEST_LOCK, stale_after=stale)),
        last_digest=_last_digest(last) if last else None,
        last_digest_sent=last_sent.sent_at if last_sent else None,
        pending_items=sum(pending.values()), last_run=_last_run(newest[0]) if newest else None, checked_at=now,
        pending_by_article=pending, registry=tuple(registry),
    )


def _pending(s: Session, settings: Settings, slug: str, query_ids: list[str], now: datetime) -> int:
    """Records the article's next digest will carry: changed since its last sent digest and not sent yet."""
    last_sent = repository.last_digest(s, sent_only=True, article=slug)
    since = last_sent.period_end if last_sent else now - timedelta(days=settings.digest.default_days)
    sent = repository.sent_item_keys(s, slug)
    return sum(1 for x in repository.changed_between(s, since, now, slug, query_ids)
               if (x.article.pmid, x.content_hash) not in sent)


def _last_run(r: RunSummary) -> LastRun:
    return LastRun(r.run_id, r.kind, r.trigger, r.status, r.started_at, r.finished_at, r.duration_s, r.counts,
                   r.error)


def _last_digest(d: DigestRecord) -> LastDigest:
    year, week, _ = d.period_end.isocalendar()
    return LastDigest(d.id, f"{year}-W{week:02d}", d.period_start, d.period_end, d.created_at, d.sent_at,
                      tuple(d.recipients), dict(d.paths), d.error)


def _query_health(s: Session, settings: Settings, query_ids: list[tuple[str, str]], now: datetime
                  ) -> tuple[list[QueryStatus], list[str]]:
    max_age = timedelta(days=2 * settings.schedule.fetch_interval_days)
    overall = repository.query_stats(s, EPOCH)  # `runs` counts every run
    queries: list[QueryStatus] = []
    problems: list[str] = []
    for slug, qid in query_ids:
        h = overall.get(qid)
        last_success = h.last_success if h else None
        queries.append(QueryStatus(qid, slug, last_success, repository.get_watermark(s, qid),
                                   h.last_status if h else None, h.last_error if h else None,
                                   h.last_nonzero if h else None))
        if h is None or last_success is None:
            problems.append(f"query {qid}: no successful run yet")
            continue
        if now - last_success > max_age:
            problems.append(f"query {qid}: last success {last_success:%Y-%m-%d %H:%M} UTC is older than "
                            f"{_days(max_age)} (2x [schedule] fetch_interval_days)")
    problems += zero_result_warnings(s, settings, [qid for _, qid in query_ids], now)
    return queries, problems


def _registry_health(s: Session, settings: Settings, articles: list[WatchedArticle], now: datetime,
                     problems: list[str]) -> list[RegistryStatus]:
    """Each article that watches the registry, judged like a saved search: no success within 2x the fetch
    interval is a problem. Nothing is expected of the registry while [registry] enabled = false."""
    if not settings.registry.enabled:
        return []
    max_age = timedelta(days=2 * settings.schedule.fetch_interval_days)
    overall = repository.query_stats(s, EPOCH)
    rows: list[RegistryStatus] = []
    for article in articles:
        watch = load_registry_watch(article.slug, article.path.parent, [n for c in article.cited for n in c.nct_ids])
        if watch.empty:
            continue
        h = overall.get(watch.source_id)
        last_success = h.last_success if h else None
        rows.append(RegistryStatus(article.slug, watch.source_id, len(watch.searches), len(watch.follow),
                                   last_success, repository.get_watermark(s, watch.source_id),
                                   h.last_status if h else None, h.last_error if h else None))
        if last_success is None:
            problems.append(f"trial registry ({article.slug}): no successful run yet")
        elif now - last_success > max_age:
            problems.append(f"trial registry ({article.slug}): last success {last_success:%Y-%m-%d %H:%M} UTC is "
                            f"older than {_days(max_age)} (2x [schedule] fetch_interval_days)")
    return rows


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"


def _run_line(r: LastRun) -> str:
    took = f" in {r.duration_s:.1f}s" if r.duration_s is not None else ""
    return (f"run {r.id} {r.kind} ({r.trigger}) {r.status} at {r.started_at:%Y-%m-%d %H:%M} UTC{took}"
            + (f": {r.error}" if r.error else ""))


def _digest_line(d: LastDigest) -> str:
    return f"{d.created_at:%Y-%m-%d %H:%M} UTC ({'sent' if d.sent_at else 'not sent'})"


def _holder(value: tuple[str, datetime | None] | None) -> str | None:
    if value is None:
        return None
    holder, since = value
    return f"{holder} since {since:%Y-%m-%d %H:%M:%S} UTC" if since else holder


def format_status(st: Status) -> list[str]:
    lines = [f"litwatch: {'healthy' if st.healthy else 'UNHEALTHY'} (checked {st.checked_at:%Y-%m-%d %H:%M} UTC)"]
    lines += [f"  problem: {p}" for p in st.problems]
    article = None
    for q in st.queries:  # each saved search under the article it watches for
        if q.article != article:
            article = q.article
            lines.append(f"  article {article}: {st.pending_by_article.get(article, 0)} item(s) pending")
        success = f"{q.last_success:%Y-%m-%d %H:%M} UTC" if q.last_success else "never"
        lines.append(f"    query {q.query_id:<14} last success {success:<22} watermark {q.watermark or '-'}"
                     + (f"  last error: {q.last_error}" if q.last_status == "failed" and q.last_error else ""))
    for r in st.registry:  # the trial registry, per article, like a saved search
        success = f"{r.last_success:%Y-%m-%d %H:%M} UTC" if r.last_success else "never"
        lines.append(f"  trial registry {r.article}: {r.follows} trial(s) followed, {r.searches} search(es); "
                     f"last success {success}, watermark {r.watermark or '-'}"
                     + (f"  last error: {r.last_error}" if r.last_status == "failed" and r.last_error else ""))
    lines.append(f"  last run: {_run_line(st.last_run) if st.last_run else 'none'}")
    lines.append(f"  run lock: {st.lock or 'free'}")
    if st.digest_lock:
        lines.append(f"  digest lock: {st.digest_lock}")
    sent = f"{st.last_digest_sent:%Y-%m-%d %H:%M} UTC" if st.last_digest_sent else "never"
    lines.append(f"  last digest: {_digest_line(st.last_digest) if st.last_digest else 'none'}; last sent: {sent}; "
                 f"items pending for the next digest: {st.pending_items}")
    return lines
