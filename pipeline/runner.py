"""One fetch run, the orchestrator. `Runner.run` reads as the data flow:

    lock → per saved search: window → search → fetch → parse → store → reconcile → watermark
         → cited-study checks (`cited_checks`) → re-assessment → record the run

Guarantees the design asks for:
- one transaction per efetch batch (records, query hits, deletions and their assessments together), so a failure
  leaves only whole batches behind and a re-run re-fetches the window idempotently;
- a query's watermark advances only after every slice of its window was fetched, parsed, committed and the fetched
  PMIDs reconciled with esearch's id list (deleted records accounted for);
- a stop request (SIGTERM via `stop`) is honoured between batches, never inside one;
- an interrupt (Ctrl-C: KeyboardInterrupt) stops at once: no request is retried after it, the helper threads are
  stopped before it propagates, the run and its saved search are recorded as "stopped" ("interrupted …") and no
  watermark moves; the KeyboardInterrupt then goes on to the caller (the CLI's exit code, the demo's server stop);
- NCBI unreachable before its first answer (connection refused, host name unknown) fails the whole run at once.
Beside it: the backfill resume ledger (`backfill_ledger`), the DTD retry (`pubmed.dtd.DtdDownloads`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine

from litwatch.storage import StorageError, repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import LockHeld, RunLock
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import ParsedBatch, RunCounts, RunSummary

from .assess import RULESET_VERSION, assess
from .backfill_ledger import BackfillLedger
from .cited_checks import CitedStudyChecks, make_crossref
from .config import Settings
from .errors import EutilsUnreachable, LitwatchError, QueryError, RunLockedError, RunStepError
from .logs import set_run_id
from .ncbi import DateWindow, EutilsClient, FetchedBatch, SearchResult, shared_rate_limiter
from .ncbi.prefetch import prefetch
from .progress import NullProgress, Progress
from .pubmed.dtd import DtdDownloads, configure_dtd_cache, is_ncbi_dtd_url
from .pubmed.parse import parse_efetch
from .registry.client import RegistryClient
from .registry_watch import RegistryWatcher, make_registry_client, registry_watches
from .run_lock import configured_lock
from .watchlist import SavedQuery, WatchedArticle, load_watchlist

log = logging.getLogger(__name__)

Failure = LitwatchError | StorageError  # what fails a query or a step; anything else is a bug and propagates

STOPPED = "stopped"  # the status of an interrupted run and its saved search (fits the 10-character column)
INTERRUPTED = "interrupted (Ctrl-C): stopped at once; committed batches are kept; a re-run resumes the window"


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
    sources: tuple[str, ...] = ()  # pubmed / registry / crossref; empty: every enabled source

    def wants(self, source: str) -> bool:
        return not self.sources or source in self.sources


@dataclass(frozen=True)
class PlannedQuery:
    query: SavedQuery
    window: DateWindow
    count: int | None = None
    slices: tuple[tuple[DateWindow, int], ...] = ()


@dataclass
class _QueryTally:
    """What one query's window has committed so far: recorded in its query run even when a later batch fails."""

    counts: RunCounts = field(default_factory=RunCounts)
    warnings: list[str] = field(default_factory=list)


def make_client(settings: Settings) -> EutilsClient:
    n = settings.ncbi
    return EutilsClient(
        n.base_url,
        email=n.email,
        tool=n.tool,
        api_key=n.api_key,
        timeout=(n.connect_timeout, n.read_timeout),
        max_attempts=n.max_attempts,
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
        registry_client: RegistryClient | None = None,
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
        self.registry_client = registry_client or make_registry_client(settings.registry)
        self._cited = CitedStudyChecks(self.client, self.engine, self._parse, clock, settings.ncbi.batch_size,
                                       crossref=make_crossref(settings))
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
            slices = tuple(self.client.plan_windows(query.term, window, query_id=query.id))
            plans.append(PlannedQuery(query, window, sum(c for _, c in slices), slices))
        return plans

    def run(self, request: RunRequest) -> RunSummary:
        articles = load_watchlist(self.settings.queries_dir)
        pairs = select_queries(articles, request.query_ids) if request.wants("pubmed") else []
        upgrade(self.settings.database_url)
        lock = configured_lock(self.engine, self.settings, request.trigger)
        try:
            lock.acquire(wait=request.wait, cancel=self.stop)
        except LockHeld as exc:
            raise RunLockedError(f"another run holds the lock: {exc}") from None
        try:
            return self._run_locked(request, articles, pairs, lock)
        finally:
            lock.release()
            set_run_id(None)  # what this process logs next (another command, the next job) is not this run's

    # -- the run --------------------------------------------------------------------------------------------

    def _run_locked(
        self,
        request: RunRequest,
        articles: list[WatchedArticle],
        pairs: list[tuple[WatchedArticle, SavedQuery]],
        lock: RunLock,
    ) -> RunSummary:
        today = self.clock().date()
        run_id = self._start_run(request)
        warnings: list[str] = []
        try:
            return self._run_steps(run_id, request, articles, pairs, lock, today, warnings)
        except KeyboardInterrupt:
            self.client.interrupt()  # threads still asking NCBI stop now, before anything waits for them
            self._record_interrupted(run_id, warnings)
            raise

    def _run_steps(
        self, run_id: int, request: RunRequest, articles: list[WatchedArticle],
        pairs: list[tuple[WatchedArticle, SavedQuery]], lock: RunLock, today: date, warnings: list[str],
    ) -> RunSummary:
        self._dtds.reset()
        self._close_orphaned_runs(run_id)
        log.info("run %d started (%s, trigger %s, %d queries)", run_id, request.kind, request.trigger, len(pairs))
        failure: Failure | None = None
        for article, query in pairs:  # window → search → fetch → parse → store → reconcile → watermark
            if self.stop.is_set():
                break
            try:
                warnings += self._run_query(run_id, request, article, query, today, lock)
            except EutilsUnreachable as exc:  # the next saved search would not reach it either
                failure = exc
                break
            except (LitwatchError, StorageError) as exc:
                failure = failure or exc
                log.error("run %d: query %s failed: %s", run_id, query.id, exc)
        cited_wanted = request.wants("pubmed") or request.wants("crossref")
        if request.check_cited and cited_wanted and not self.stop.is_set() and failure is None:
            for article in articles:
                warnings += self._cited.check(run_id, article)
        if request.wants("registry") and self.settings.registry.enabled and not self.stop.is_set():
            # after PubMed, in the same run and lock; its failure is its own (PubMed's records and watermarks stay)
            watcher = RegistryWatcher(self.registry_client, self.engine, self.settings.registry, self.clock)
            failure = failure or watcher.run(run_id, registry_watches(articles), today)
        failure = failure or self._reassess(articles)
        if self.stop.is_set() and failure is None:
            failure = RunStepError("run", RuntimeError("stopped by signal after a committed batch"),
                                   "a re-run fetches the rest of the window")
        return self._finish_run(run_id, failure, warnings)

    def _start_run(self, request: RunRequest) -> int:
        with session_scope(self.engine) as s:
            run_id = repository.start_run(
                s, kind=request.kind, trigger=request.trigger,
                window_start=request.since, window_end=request.until, started_at=self.clock(),
            )
        set_run_id(run_id)
        return run_id

    def _record_interrupted(self, run_id: int, warnings: list[str]) -> None:
        """An interrupted run is a stopped one in the history, never left "running" once the lock is free."""
        with session_scope(self.engine) as s:
            repository.close_open_query_runs(s, run_id, status=STOPPED,
                                             error="interrupted (Ctrl-C) before the window was complete")
            repository.finish_run(s, run_id, status=STOPPED, finished_at=self.clock(), error=INTERRUPTED,
                                  warnings=warnings)
        log.warning("run %d interrupted: recorded as %s; committed batches are kept", run_id, STOPPED)

    def _finish_run(self, run_id: int, failure: Failure | None, warnings: list[str]) -> RunSummary:
        """Record the run (its counts are its query runs' sums); raise its failure, saying what a re-run does."""
        status = "failed" if failure else "success"
        with session_scope(self.engine) as s:
            repository.finish_run(
                s, run_id, status=status, finished_at=self.clock(),
                error=str(failure) if failure else None, warnings=warnings,
            )
            summary = repository.get_run(s, run_id)
        assert summary is not None
        log.info("run %d %s: %s", run_id, status, summary.counts.describe())
        if isinstance(failure, EutilsUnreachable):
            raise failure  # its one line says what to check; "a re-run resumes" would not help
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
            closed = repository.fail_orphaned_runs(s, run_id, now, note)
        for old in closed:
            log.warning("run %d was left running by a process that died; recorded as failed", old)

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
        interrupted = False
        try:
            self._fetch_window(run_id, article, query, window, tally, lock, resume=request.kind == "backfill")
        except (LitwatchError, StorageError) as exc:
            error = str(exc)
            raise
        except KeyboardInterrupt:
            interrupted = True  # the window is incomplete: recorded as stopped, and the watermark stays put
            raise
        finally:
            stopped = self.stop.is_set() and error is None
            status = STOPPED if interrupted else "failed" if (error or stopped) else "success"
            if interrupted:
                error = "interrupted (Ctrl-C) before the window was complete"
            with session_scope(self.engine) as s:
                repository.finish_query_run(
                    s, run_id, query.id, status=status, counts=tally.counts,
                    error=error or ("stopped before the window was complete" if stopped else None),
                )
                if status == "success" and not tally.warnings:
                    # never past today: PubMed holds nothing later, and a future watermark stalls the search
                    repository.set_watermark(s, query.id, min(window.end, today), run_id)
        return tally.warnings

    def _fetch_window(
        self, run_id: int, article: WatchedArticle, query: SavedQuery, window: DateWindow, tally: _QueryTally,
        lock: RunLock, *, resume: bool = False,
    ) -> None:
        try:
            total, searches = self.client.search_windows(query.term, window, query_id=query.id)
        except QueryError as exc:
            raise QueryError(f"{query.path}: {exc}") from None
        self.progress.start(query.id, total)
        log.info("query %s: window %s..%s, %d records", query.id, window.start, window.end, total)
        ledger = BackfillLedger(self.engine, self.clock, run_id, query, resume)
        listed: list[str] = []  # every id esearch listed, over all slices, for the reconciliation

        def slices() -> Iterator[SearchResult]:
            while not self.stop.is_set():  # checked before each slice's esearch: a stop costs no extra search
                result = next(searches, None)
                if result is None:
                    return
                if ledger.already_done(result):
                    self.progress.advance(len(result.ids))
                    continue
                listed.extend(result.ids)
                yield result

        seen: set[str] = set()
        fetches = self.client.fetch_slices(slices(), self.settings.ncbi.batch_size, query_id=query.id)
        try:
            # closing() stops the prefetch thread on every way out: stop request, storage or parse error, interrupt
            with closing(prefetch(fetches, on_interrupt=self.client.interrupt)) as batches, self._interrupts():
                for batch in batches:
                    seen |= self._store_batch(run_id, article, query, batch, tally)
                    ledger.completed(seen)
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
        ledger.completed(seen)
        self.progress.finish()

    def _store_batch(
        self, run_id: int, article: WatchedArticle, query: SavedQuery, batch: FetchedBatch, tally: _QueryTally
    ) -> set[str]:
        label = f"query {query.id} efetch batch {batch.index} (retstart {batch.retstart})"
        parsed = self._parse(batch.body, label)
        now = self.clock()
        with session_scope(self.engine) as s:
            stored = repository.upsert_articles(s, parsed.articles, now, run_id=run_id)
            repository.record_hits(s, run_id, query.id, [a.pmid for a in parsed.articles])
            deleted = repository.mark_deleted(s, parsed.deleted, now) if parsed.deleted else 0
            touched = set(stored.new_pmids) | set(stored.changed_pmids)
            repository.save_assessments(s, [assess(r, article) for r in parsed.articles if r.pmid in touched], now)
        tally.counts += stored.counts + RunCounts(deleted=deleted)
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
        for batch in self.client.fetch_ids(missing, self.settings.ncbi.batch_size, query_id=query.id):
            seen |= self._store_batch(run_id, article, query, batch, tally)
        still = [pmid for pmid in missing if pmid not in seen]
        if still:
            shown = ", ".join(still[:10]) + (" …" if len(still) > 10 else "")
            tally.warnings.append(
                f"query {query.id}: {len(still)} PMID(s) listed by esearch were never returned by efetch "
                f"({shown}); the watermark stays put so the next run retries them"
            )

    @contextmanager
    def _interrupts(self) -> Iterator[None]:
        """An interrupt in the consumer's own code (parse, store) reaches prefetch as a plain close: tell the
        client first, so the producer thread stops asking NCBI before closing() waits for it."""
        try:
            yield
        except KeyboardInterrupt:
            self.client.interrupt()
            raise

    def _parse(self, body: bytes, label: str) -> ParsedBatch:
        return self._dtds.parse(lambda: parse_efetch(body, label))

    # -- re-assessment --------------------------------------------------------------------------

    def _reassess(self, articles: list[WatchedArticle]) -> Failure | None:
        """Every stored record an article's searches found that has no verdict for that article under the current
        rules: a rule change, a crash between steps, a record another article's search stored first (so this one
        saw it "unchanged"), or an article added to the watch list after the record was stored."""
        for profile in articles:
            query_ids = [q.id for q in profile.queries]
            try:
                with session_scope(self.engine) as s:
                    pending = repository.articles_needing_assessment(s, RULESET_VERSION, profile.slug, query_ids)
                    now = self.clock()
                    repository.save_assessments(s, [assess(x.article, profile) for x in pending], now)
            except (LitwatchError, StorageError) as exc:
                return exc
            if pending:
                log.info("assessed %d stored records for article %s under rules %s", len(pending), profile.slug,
                         RULESET_VERSION)
        return None


__all__ = ["PlannedQuery", "RunRequest", "Runner", "make_client", "query_window", "select_queries"]
