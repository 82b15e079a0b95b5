"""Beside the runner: the trial-registry part of a run, per watched article.

    registry.toml + cited nct_ids → search (updated since the registry watermark − overlap) → GET every followed
    NCT id → snapshot (a new version only when the study changed) → diff → events (once) with a verdict

Each article's registry part is recorded like a saved search (`query_runs` / `watermarks` under
`registry:<slug>`), so `litwatch runs` and `litwatch status` show it; its watermark advances only when every search
and every followed trial was fetched and stored. A study two articles watch is stored once per run, and both
articles get the events of that one change (the diff is kept for the run). A registry failure is recorded on the
article's registry part and returned; it never touches PubMed's records or watermarks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from litwatch.storage import StorageError, repository
from litwatch.storage.engine import session_scope
from litwatch.storage.records import RunCounts
from litwatch.storage.registry import RegistryEventRecord

from .assess.registry import registry_verdict
from .config import RegistrySettings
from .errors import LitwatchError
from .ncbi.ratelimit import shared_rate_limiter
from .registry.client import RegistryClient, RegistryUnreachable
from .registry.events import RegistryEvent, diff_snapshots, disappeared, moved
from .registry.spec import RegistryWatch, load_registry_watch
from .registry.study import summarize
from .watchlist import WatchedArticle

log = logging.getLogger(__name__)

Failure = LitwatchError | StorageError


def make_registry_client(settings: RegistrySettings) -> RegistryClient:
    return RegistryClient(
        settings.base_url, timeout=(settings.connect_timeout, settings.read_timeout),
        max_attempts=settings.max_attempts, backoff_base=settings.backoff_base,
        rate_limiter=shared_rate_limiter(settings.requests_per_second, service="registry"),
    )


def registry_watches(articles: Iterable[WatchedArticle]) -> list[RegistryWatch]:
    """Every article's registry watch that watches something (searches or followed trials)."""
    watches = [load_registry_watch(a.slug, a.path.parent, [n for c in a.cited for n in c.nct_ids]) for a in articles]
    return [w for w in watches if not w.empty]


@dataclass
class _Seen:
    """One study as this run stored it: the snapshot before the run's first store, and now."""

    previous: dict[str, Any] | None
    current: dict[str, Any]


@dataclass
class _Tally:
    counts: RunCounts = field(default_factory=RunCounts)
    events: int = 0


class RegistryWatcher:
    """The registry part of one run. Build one per run: it remembers what this run stored."""

    def __init__(self, client: RegistryClient, engine: Engine, settings: RegistrySettings,
                 clock: Callable[[], datetime]) -> None:
        self.client = client
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def run(self, run_id: int, watches: Iterable[RegistryWatch], today: date) -> Failure | None:
        """Every watch in turn; the first failure is returned (after the others ran, unless unreachable)."""
        failure: Failure | None = None
        for watch in watches:
            try:
                self._watch(run_id, watch, today)
            except RegistryUnreachable as exc:
                return failure or exc
            except (LitwatchError, StorageError) as exc:
                failure = failure or exc
                log.error("run %d: %s failed: %s", run_id, watch.source_id, exc)
        return failure

    def _watch(self, run_id: int, watch: RegistryWatch, today: date) -> None:
        with session_scope(self.engine) as s:
            mark = repository.get_watermark(s, watch.source_id)
        since = (mark - timedelta(days=self.settings.overlap_days) if mark is not None
                 else today - timedelta(days=self.settings.first_run_days))
        with session_scope(self.engine) as s:
            repository.start_query_run(s, run_id, watch.source_id, since, today)
        tally = _Tally()
        before = self.client.requests_made
        try:
            self._fetch_and_store(run_id, watch, since, today, tally)
        except (LitwatchError, StorageError) as exc:
            self._finish(run_id, watch, tally, str(exc))
            raise
        self._finish(run_id, watch, tally, None)
        with session_scope(self.engine) as s:  # complete: the next run asks only from here (less the overlap)
            repository.set_watermark(s, watch.source_id, today, run_id)
        log.info("%s: %d studies, %d new event(s), %d request(s)", watch.source_id, tally.counts.found,
                 tally.events, self.client.requests_made - before)

    def _finish(self, run_id: int, watch: RegistryWatch, tally: _Tally, error: str | None) -> None:
        with session_scope(self.engine) as s:
            repository.finish_query_run(s, run_id, watch.source_id, status="failed" if error else "success",
                                        counts=tally.counts, error=error)

    def _fetch_and_store(self, run_id: int, watch: RegistryWatch, since: date, today: date, tally: _Tally) -> None:
        searched: dict[str, dict[str, Any]] = {}
        for spec in watch.searches:  # every page of every search before anything is stored: a cut-off search
            for study in self.client.search(spec, since):  # stores nothing and the watermark stays
                summary = summarize(study)
                searched[summary["nct_id"]] = summary
        followed = set(watch.follow)
        for nct_id, summary in searched.items():
            self._store(run_id, watch, summary, nct_id in followed, today, since, tally)
        for nct_id in watch.follow:
            self._follow(run_id, watch, nct_id, searched, today, tally)

    def _follow(self, run_id: int, watch: RegistryWatch, nct_id: str, searched: dict[str, dict[str, Any]],
                today: date, tally: _Tally) -> None:
        if nct_id in searched:  # the search already brought this run's version
            return
        if nct_id in self._seen:  # another article's watch fetched it in this run
            self._store(run_id, watch, self._seen[nct_id].current, True, today, None, tally)
            return
        fetched = self.client.get(nct_id)
        now = self.clock()
        if fetched is None:
            with session_scope(self.engine) as s:
                last = repository.mark_gone(s, nct_id, now)
            self._save(run_id, watch, [disappeared(nct_id, last)], True, tally)
            return
        summary = summarize(fetched.study)
        if fetched.nct_id != nct_id:  # a merged alias: the registry answered with the surviving study
            with session_scope(self.engine) as s:
                repository.record_alias(s, nct_id, fetched.nct_id, now)
            self._save(run_id, watch, [moved(nct_id, fetched.nct_id)], True, tally)
        self._store(run_id, watch, summary, True, today, None, tally)

    def _store(self, run_id: int, watch: RegistryWatch, summary: dict[str, Any], followed: bool, today: date,
               new_since: date | None, tally: _Tally) -> None:
        nct_id = summary["nct_id"]
        seen = self._seen.get(nct_id)
        if seen is None or seen.current != summary:
            with session_scope(self.engine) as s:
                stored = repository.store_snapshot(s, summary, self.clock(), run_id)
            previous = seen.previous if seen is not None else stored.previous
            seen = self._seen[nct_id] = _Seen(previous, summary)
        tally.counts += RunCounts(found=1, new=int(seen.previous is None),
                                  changed=int(seen.previous is not None and seen.previous != summary),
                                  unchanged=int(seen.previous == summary))
        events = diff_snapshots(seen.previous, summary, today, new_since=None if followed else new_since)
        self._save(run_id, watch, events, followed, tally)

    def _save(self, run_id: int, watch: RegistryWatch, events: list[RegistryEvent], followed: bool,
              tally: _Tally) -> None:
        if not events:
            return
        with session_scope(self.engine) as s:
            linked = repository.stored_pmids(s, [e.after for e in events if e.kind == "linked-publication" and e.after])
            records = [self._record(watch.article, e, followed, linked) for e in events]
            new = repository.save_registry_events(s, records, run_id, self.clock())
        tally.events += len(new)
        for e in new:
            log.info("%s: %s %s (%s → %s): %s", watch.source_id, e.nct_id, e.kind, e.before, e.after, e.verdict)

    @staticmethod
    def _record(article: str, e: RegistryEvent, followed: bool, linked: set[str]) -> RegistryEventRecord:
        verdict, reason = registry_verdict(e.kind, followed)
        detail = dict(e.detail)
        if e.kind == "linked-publication":
            detail["in_pubmed_store"] = e.after in linked  # the paper side of the link, if we hold the record
        return RegistryEventRecord(article, e.nct_id, e.kind, e.key, e.before, e.after, verdict, reason, detail)


__all__ = ["RegistryWatcher", "make_registry_client", "registry_watches"]
