"""The backfill resume ledger: which date slices of a backfill are already stored, so a re-run skips them.

Only backfills keep one — a regular run's window is re-queried on purpose (the overlap catches late-created
records) — and only slices completed within BACKFILL_RESUME_DAYS count: an older backfill is taken as stale and
fetched again. A slice is keyed by its query, the hash of its term (an edited term is a new search) and its dates.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from litwatch.storage import repository
from litwatch.storage.engine import session_scope

from .ncbi import SearchResult
from .watchlist import SavedQuery

log = logging.getLogger(__name__)

BACKFILL_RESUME_DAYS = 7  # a backfill slice completed longer ago than this is fetched again on a re-run


class BackfillLedger:
    """One query's ledger within one run. Disabled (a no-op) for regular runs."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], run_id: int, query: SavedQuery, enabled: bool
    ) -> None:
        self._engine, self._clock, self._run_id, self._query, self.enabled = engine, clock, run_id, query, enabled
        self._term_hash = hashlib.sha256(" ".join(query.term.split()).encode("utf-8")).hexdigest()
        # appended to by the fetch pipeline's planning thread, drained by the runner thread
        self._pending: list[SearchResult] = []
        self._pending_lock = threading.Lock()
        self._done: set[tuple[date, date]] = set()
        if enabled:
            since = clock() - timedelta(days=BACKFILL_RESUME_DAYS)
            with session_scope(engine) as s:
                self._done = repository.completed_slices(s, query.id, self._term_hash, since)

    def already_done(self, result: SearchResult) -> bool:
        """True if this slice is in the ledger (skip it); otherwise it is remembered as pending."""
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
        now = self._clock()
        with session_scope(self._engine) as s:
            for r in finished:
                assert r.window is not None
                repository.mark_slice_complete(
                    s, query_id=self._query.id, term_hash=self._term_hash, start=r.window.start,
                    end=r.window.end, records=len(r.ids), run_id=self._run_id, completed_at=now,
                )


__all__ = ["BACKFILL_RESUME_DAYS", "BackfillLedger"]
