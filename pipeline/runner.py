"""One fetch run: lock → search → fetch → parse → store → assess → record. The only orchestrator.

Guarantees the design asks for:
- one transaction per efetch batch (records, query hits, deletions and their assessments together), so a failure
  leaves only whole batches behind and a re-run re-fetches the window idempotently;
- a query's watermark advances only after every slice of its window was fetched, parsed, committed and the fetched
  PMIDs reconciled with esearch's id list (deleted records accounted for);
- a stop request (SIGTERM/SIGINT via `stop`) is honoured between batches, never inside one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from litwatch.storage import StorageError, repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import LockHeld, RunLock
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import Article, ParsedBatch, RunSummary
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .assess.verdict import RULESET_VERSION, assess, check_cited_study
from .config import Settings
from .errors import EutilsError, LitwatchError, ParseError, QueryError, RunLockedError, RunStepError
from .logs import set_run_id
from .ncbi.client import (
    DateWindow,
    EutilsClient,
    FetchedBatch,
    SearchResult,
    shared_rate_limiter,
)
from .ncbi.prefetch import prefetch
from .progress import NullProgress, Progress
from .pubmed.dtd import DtdDownloads, configure_dtd_cache, is_ncbi_dtd_url
from .pubmed.parse import parse_efetch
from .watchlist import CitedStudy, SavedQuery, WatchedArticle, load_watchlist

log = logging.getLogger(__name__)

BACKFILL_RESUME_DAYS = 7  # a backfill slice completed longer ago than this is fetched again on a re-run


@dataclass(frozen=True)
class RunRequest:
    """What an editor, cron or the scheduler asked for."""

    trigger: str = "manual"
    kind: str = "fetch"  # fetch | backfill
    query_ids: tuple[str, ...] = ()  # empty: every enabled query
    since: date | None = None
    until: date | None = None
    wait: float = 0.0  # seconds to wait for another run's lock
    check_cited: bool = True


@dataclass(frozen=True)
class PlannedQuery:
    query: SavedQuery
    window: DateWindow
    count: int | None = None
    slices: tuple[tuple[DateWindow, int], ...] = ()


@dataclass
class _QueryTally:
    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    warnings: list[str] = field(default_factory=list)


def today_utc() -> date:
    return datetime.now(UTC).date()


def make_client(settings: Settings) -> EutilsClient:
    n = settings.ncbi
    return EutilsClient(
        n.base_url,
        email=n.email,
        tool=n.tool,
        api_key=n.api_key,
        timeout=(n.connect_timeout, n.read_timeout),
        max_retries=n.max_retries,
        backoff_base=n.backoff_base,
        rate_limiter=shared_rate_limiter(n.rate),
        max_in_flight=n.max_in_flight,
    )


def select_queries(
    articles: Iterable[WatchedArticle], query_ids: Iterable[str]
) -> list[tuple[WatchedArticle, SavedQuery]]:
    wanted = list(query_ids)
    pairs = [(a, q) for a in articles for q in a.queries if (q.id in wanted if wanted else q.enabled)]
    unknown = set(wanted) - {q.id for _, q in pairs}
    if unknown:
        known = sorted(q.id for a in articles for q in a.queries)
        raise QueryError(f"unknown query id(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return pairs


def query_window(
    request: RunRequest, watermark: date | None, settings: Settings, today: date
) -> DateWindow:
    """--since/--until win; else from the watermark minus the overlap (first run: first_run_days back) to today."""
    until = request.until or today
    if request.since is not None:
        since = request.since
    elif watermark is not None:
        since = watermark - timedelta(days=settings.ncbi.overlap_days)
    else:
        since = until - timedelta(days=settings.ncbi.first_run_days)
    if since > until:
        raise QueryError(f"the window starts after it ends: {since.isoformat()} > {until.isoformat()}")
    return DateWindow(since, until)


class _SliceProgress:
    """Backfill resume: the date slices of a window whose every listed record is stored are recorded, and a
    re-run of the backfill skips them. Only backfills do this — a regular run's window is re-queried on purpose
    (the overlap catches late-created records) — and only slices completed within BACKFILL_RESUME_DAYS count:
    an older backfill is taken as stale and fetched again."""

    def __init__(self, runner: Runner, run_id: int, query: SavedQuery, enabled: bool) -> None:
        self._runner, self._run_id, self._query, self.enabled = runner, run_id, query, enabled
        self._term_hash = hashlib.sha256(" ".join(query.term.split()).encode("utf-8")).hexdigest()
        # appended to by the fetch pipeline's planning thread, drained by the runner thread
        self._pending: list[SearchResult] = []
        self._pending_lock = threading.Lock()
        self._done: set[tuple[date, date]] = set()
        if enabled:
            since = runner.clock() - timedelta(days=BACKFILL_RESUME_DAYS)
            with session_scope(runner.engine) as s:
                self._done = repository.completed_slices(s, query.id, self._term_hash, since)

    def already_done(self, result: SearchResult) -> bool:
        if not self.enabled or result.window is None:
            return False
        key = (result.window.start, result.window.end)
        if key in self._done:
            log.info("query %s: slice %s..%s already backfilled (%d records); skipped",
                     self._query.id, key[0], key[1], len(result.ids))
            return True
        with self._pending_lock:
            self._pending.append(result)
        return False

    def completed(self, seen: set[str]) -> None:
        """Record every pending slice whose ids are all stored (or reported deleted)."""
        if not self.enabled:
            return
        with self._pending_lock:
            finished = [r for r in self._pending if all(pmid in seen for pmid in r.ids)]
            self._pending = [r for r in self._pending if r not in finished]
        if not finished:
            return
        now = self._runner.clock()
        with session_scope(self._runner.engine) as s:
            for r in finished:
                assert r.window is not None
                repository.mark_slice_complete(
                    s, query_id=self._query.id, term_hash=self._term_hash, start=r.window.start,
                    end=r.window.end, records=len(r.ids), run_id=self._run_id, completed_at=now,
                )


class Runner:
    """Runs fetches against one database with one E-utilities client. Cheap to build; holds no open resources."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: EutilsClient | None = None,
        engine: Engine | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        dtd_url_allowed: Callable[[str], bool] = is_ncbi_dtd_url,
    ) -> None:
        self.settings = settings
        self._dtds = DtdDownloads(
            allowed=dtd_url_allowed, timeout=(settings.ncbi.connect_timeout, settings.ncbi.read_timeout)
        )
        self.client = client or make_client(settings)
        self.engine = engine or make_engine(settings.database_url)
        self.progress = progress or NullProgress()
        self.stop = stop or threading.Event()
        self.clock = clock
        configure_dtd_cache(settings.cache_dir / "dtd")

    # -- public ---------------------------------------------------------------------------------------------

    def plan(self, request: RunRequest) -> list[PlannedQuery]:
        """Dry run: the window and hit count of each query, without storing anything."""
        articles = load_watchlist(self.settings.queries_dir)
        upgrade(self.settings.database_url)
        plans = []
        for _article, query in select_queries(articles, request.query_ids):
            with session_scope(self.engine) as s:
                mark = repository.get_watermark(s, query.id)
            window = query_window(request, mark, self.settings, self.clock().date())
            slices = tuple(self.client.plan_windows(query.term, window))
            plans.append(PlannedQuery(query, window, sum(c for _, c in slices), slices))
        return plans

    def run(self, request: RunRequest) -> RunSummary:
        articles = load_watchlist(self.settings.queries_dir)
        pairs = select_queries(articles, request.query_ids)
        upgrade(self.settings.database_url)
        lock = RunLock(
            self.engine,
            holder=f"{socket.gethostname()}:{os.getpid()}:{request.trigger}",
            stale_after=self.settings.run.lock_stale_seconds,
            heartbeat=self.settings.run.heartbeat_seconds,
        )
        try:
            lock.acquire(wait=request.wait, cancel=self.stop)
        except LockHeld as exc:
            raise RunLockedError(f"another run holds the lock: {exc}") from None
        try:
            return self._run_locked(request, articles, pairs, lock)
        finally:
            lock.release()

    # -- the run --------------------------------------------------------------------------------------------

    def _run_locked(
        self,
        request: RunRequest,
        articles: list[WatchedArticle],
        pairs: list[tuple[WatchedArticle, SavedQuery]],
        lock: RunLock,
    ) -> RunSummary:
        today = self.clock().date()
        with session_scope(self.engine) as s:
            run_id = repository.start_run(
                s, kind=request.kind, trigger=request.trigger,
                window_start=request.since, window_end=request.until, started_at=self.clock(),
            )
        set_run_id(run_id)
        self._dtds.reset()
        self._close_orphaned_runs(run_id)
        log.info("run %d started (%s, trigger %s, %d queries)", run_id, request.kind, request.trigger, len(pairs))
        warnings: list[str] = []
        failure: LitwatchError | StorageError | None = None
        for article, query in pairs:
            if self.stop.is_set():
                break
            try:
                warnings += self._run_query(run_id, request, article, query, today, lock)
            except (LitwatchError, StorageError) as exc:
                failure = failure or exc
                log.error("run %d: query %s failed: %s", run_id, query.id, exc)
        if request.check_cited and not self.stop.is_set() and failure is None:
            for article in articles:
                warnings += self._check_cited(run_id, article)
        try:
            with session_scope(self.engine) as s:
                self._assess_pending(s, articles)
        except (LitwatchError, StorageError) as exc:
            failure = failure or exc
        if self.stop.is_set() and failure is None:
            failure = RunStepError("run", RuntimeError("stopped by signal after a committed batch"),
                                   "a re-run fetches the rest of the window")
        status = "failed" if failure else "success"
        with session_scope(self.engine) as s:
            repository.finish_run(
                s, run_id, status=status, finished_at=self.clock(),
                error=str(failure) if failure else None, warnings=warnings,
            )
            summary = repository.get_run(s, run_id)
        assert summary is not None
        log.info(
            "run %d %s: found %d, new %d, changed %d, unchanged %d, deleted %d",
            run_id, status, summary.found, summary.new, summary.changed, summary.unchanged, summary.deleted,
        )
        if failure is not None and not isinstance(failure, RunStepError):
            raise RunStepError(f"run {run_id}", failure, "stored batches are kept; a re-run resumes the window")
        if failure is not None:
            raise failure
        return summary

    def _close_orphaned_runs(self, run_id: int) -> None:
        """A fetch run still "running" while we hold the run lock died without finishing (kill -9, power loss):
        say so in the history instead of leaving it running forever. Its committed batches are kept."""
        now = self.clock()
        note = "interrupted: the process ended before the run finished; committed batches are kept"
        with session_scope(self.engine) as s:
            for old in repository.list_runs(s, limit=50):
                if old.run_id == run_id or old.status != "running" or old.kind not in ("fetch", "backfill"):
                    continue
                for q in old.queries:
                    if q.status == "running":
                        repository.finish_query_run(
                            s, old.run_id, q.query_id, status="failed", found=q.found, new=q.new, changed=q.changed,
                            unchanged=q.unchanged, deleted=q.deleted, error=note,
                        )
                repository.finish_run(s, old.run_id, status="failed", finished_at=now, error=note,
                                      warnings=list(old.warnings))
                log.warning("run %d was left running by a process that died; recorded as failed", old.run_id)

    def _run_query(
        self, run_id: int, request: RunRequest, article: WatchedArticle, query: SavedQuery, today: date,
        lock: RunLock,
    ) -> list[str]:
        with session_scope(self.engine) as s:
            mark = repository.get_watermark(s, query.id)
        window = query_window(request, mark, self.settings, today)
        with session_scope(self.engine) as s:
            repository.start_query_run(s, run_id, query.id, window.start, window.end)
        tally = _QueryTally()
        error: str | None = None
        try:
            self._fetch_window(run_id, article, query, window, tally, lock, resume=request.kind == "backfill")
        except (LitwatchError, StorageError) as exc:
            error = str(exc)
            raise
        finally:
            stopped = self.stop.is_set() and error is None
            status = "failed" if (error or stopped) else "success"
            with session_scope(self.engine) as s:
                repository.finish_query_run(
                    s, run_id, query.id, status=status, found=tally.found, new=tally.new,
                    changed=tally.changed, unchanged=tally.unchanged, deleted=tally.deleted,
                    error=error or ("stopped before the window was complete" if stopped else None),
                )
                if status == "success" and not tally.warnings:
                    repository.set_watermark(s, query.id, window.end, run_id)
        return tally.warnings

    def _fetch_window(
        self, run_id: int, article: WatchedArticle, query: SavedQuery, window: DateWindow, tally: _QueryTally,
        lock: RunLock, *, resume: bool = False,
    ) -> None:
        try:
            total, searches = self.client.search_windows(query.term, window)
        except QueryError as exc:
            raise QueryError(f"{query.path}: {exc}") from None
        self.progress.start(query.id, total)
        log.info("query %s: window %s..%s, %d records", query.id, window.start, window.end, total)
        progress = _SliceProgress(self, run_id, query, resume)
        listed: list[str] = []  # every id esearch listed, over all slices, for the reconciliation

        def slices() -> Iterator[SearchResult]:
            while not self.stop.is_set():  # checked before each slice's esearch: a stop costs no extra search
                result = next(searches, None)
                if result is None:
                    return
                if progress.already_done(result):
                    self.progress.advance(len(result.ids))
                    continue
                listed.extend(result.ids)
                yield result

        seen: set[str] = set()
        fetches = self.client.fetch_slices(slices(), self.settings.ncbi.batch_size)
        try:
            # closing() stops the prefetch thread on every way out: stop request, storage or parse error
            with closing(prefetch(fetches)) as batches:
                for batch in batches:
                    seen |= self._store_batch(run_id, article, query, batch, tally)
                    progress.completed(seen)
                    if not lock.heartbeat():
                        raise RunLockedError(
                            "the run lock was taken over by another run (this one stalled past "
                            f"lock_stale_seconds); stopped after committed batch {batch.index}"
                        )
                    self.progress.advance(len(batch.ids))
                    if self.stop.is_set():
                        log.warning("query %s: stop requested; stopping after batch %d", query.id, batch.index)
                        self.progress.finish()
                        return
        except QueryError as exc:  # a slice still over the cap on one day, found while splitting
            raise QueryError(f"{query.path}: {exc}") from None
        if self.stop.is_set():  # stopped between slices: the window is incomplete, nothing to reconcile
            self.progress.finish()
            return
        self._reconcile(run_id, article, query, listed, seen, tally)
        progress.completed(seen)
        self.progress.finish()

    def _store_batch(
        self, run_id: int, article: WatchedArticle, query: SavedQuery, batch: FetchedBatch, tally: _QueryTally
    ) -> set[str]:
        label = f"query {query.id} efetch batch {batch.index} (retstart {batch.retstart})"
        parsed = self._parse(batch.body, label)
        now = self.clock()
        with session_scope(self.engine) as s:
            counts = repository.upsert_articles(s, parsed.articles, now)
            repository.record_hits(s, run_id, query.id, [a.pmid for a in parsed.articles])
            deleted = repository.mark_deleted(s, parsed.deleted, now) if parsed.deleted else 0
            touched = set(counts.new_pmids) | set(counts.changed_pmids)
            repository.save_assessments(s, [assess(r, article) for r in parsed.articles if r.pmid in touched], now)
        tally.found += len(parsed.articles)
        tally.new += counts.new
        tally.changed += counts.changed
        tally.unchanged += counts.unchanged
        tally.deleted += deleted
        return {a.pmid for a in parsed.articles} | set(parsed.deleted)

    def _reconcile(
        self, run_id: int, article: WatchedArticle, query: SavedQuery, listed: list[str], seen: set[str],
        tally: _QueryTally,
    ) -> None:
        """Every id esearch listed must have been fetched or reported deleted; re-ask once for the missing."""
        missing = [pmid for pmid in listed if pmid not in seen]
        if not missing:
            return
        log.warning("query %s: %d PMIDs listed by esearch were not in efetch; re-fetching by id",
                    query.id, len(missing))
        for batch in self.client.fetch_ids(missing, self.settings.ncbi.batch_size):
            seen |= self._store_batch(run_id, article, query, batch, tally)
        still = [pmid for pmid in missing if pmid not in seen]
        if still:
            shown = ", ".join(still[:10]) + (" …" if len(still) > 10 else "")
            tally.warnings.append(
                f"query {query.id}: {len(still)} PMID(s) listed by esearch were never returned by efetch "
                f"({shown}); the watermark stays put so the next run retries them"
            )

    def _parse(self, body: bytes, label: str) -> ParsedBatch:
        return self._dtds.parse(lambda: parse_efetch(body, label))

    # -- cited studies and assessments --------------------------------------------------------------------------

    def _check_cited(self, run_id: int, article: WatchedArticle) -> list[str]:
        """Re-fetch every cited study each run: retractions and errata arrive months later."""
        warnings: list[str] = []
        for study in article.cited:
            try:
                self._check_one_cited(run_id, article, study)
            except (LitwatchError, StorageError) as exc:
                warnings.append(f"cited study {study.id}: check failed: {exc}")
                log.warning("cited study %s: check failed: %s", study.id, exc)
        return warnings

    def _check_one_cited(self, run_id: int, article: WatchedArticle, study: CitedStudy) -> None:
        pmids = [study.pmid] if study.pmid else (self.client.pmids_for_doi(study.doi) if study.doi else [])
        current: Article | None = None
        previous: Article | None = None
        now = self.clock()
        if pmids:
            with session_scope(self.engine) as s:
                stored = repository.get_article(s, pmids[0])
            previous = stored.article if stored else None
            for batch in self.client.fetch_ids(pmids[:1], self.settings.ncbi.batch_size):
                parsed = self._parse(batch.body, f"cited study {study.id} efetch")
                if parsed.articles:
                    current = parsed.articles[0]
        with session_scope(self.engine) as s:
            if current is not None:
                repository.upsert_articles(s, [current], now)
                repository.save_assessment(s, assess(current, article), now)
            status = check_cited_study(study, current, previous)
            repository.save_cited_check(s, status, run_id)

    def _assess_pending(self, s: Session, articles: list[WatchedArticle]) -> int:
        """Anything stored but not assessed under the current rules (rule change, crash between steps)."""
        if not articles:
            return 0
        profile = articles[0]
        pending = repository.articles_needing_assessment(s, RULESET_VERSION)
        now = self.clock()
        for stored in pending:
            repository.save_assessment(s, assess(stored.article, profile), now)
        if pending:
            log.info("re-assessed %d stored records under rules %s", len(pending), RULESET_VERSION)
        return len(pending)


__all__ = [
    "EutilsError", "ParseError", "PlannedQuery", "RunRequest", "Runner", "make_client", "query_window",
    "select_queries", "today_utc",
]
