"""`litwatch watermark`: show, set or reset a saved search's watermark — the editor's repair.

A watermark is the Create date a saved search is complete up to; the next run searches from it (minus the overlap)
to today. One set past today (a future `--until` before that was refused) stalls the search: every later run's
window would start after it ends. Each set/reset is recorded in the run history as a run of kind "watermark" whose
note (in `warnings`) says what changed, and is made under the run lock, so a fetch in progress cannot overwrite
the repair with its own watermark a moment later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from litwatch.storage import runs as run_store
from litwatch.storage.engine import make_engine, open_existing, session_scope
from litwatch.storage.locks import LockHeld
from litwatch.storage.migrate import require_current, upgrade

from .config import Settings
from .errors import QueryError, RunLockedError, UsageError
from .run_lock import configured_lock
from .watchlist import load_watchlist

RUN_KIND = "watermark"


@dataclass(frozen=True)
class WatermarkView:
    """A saved search and its watermark (None: never completed a window, the next run is a first run)."""

    query_id: str
    until: date | None
    updated_at: datetime | None
    last_run_id: int | None
    in_watch_list: bool = True


@dataclass(frozen=True)
class WatermarkChange:
    query_id: str
    before: date | None
    after: date | None
    run_id: int

    @property
    def note(self) -> str:
        after = self.after.isoformat() if self.after else "none (the next run is a first run)"
        return f"watermark {self.query_id}: {self.before or 'none'} -> {after}"


def show_watermarks(settings: Settings, query_id: str | None = None) -> list[WatermarkView]:
    """Every saved search's watermark (or one's); reads only (no database is created or migrated)."""
    known = _query_ids(settings)
    if query_id is not None:
        _require_known(query_id, known)
    engine = open_existing(settings.database_url)
    try:
        require_current(engine)
        with session_scope(engine, readonly=True) as s:
            stored = {w.query_id: w for w in run_store.list_watermarks(s)}
    finally:
        engine.dispose()
    ids = [query_id] if query_id is not None else [*known, *sorted(set(stored) - set(known))]
    return [_view(qid, stored.get(qid), qid in known) for qid in ids]


def set_watermark(
    settings: Settings, query_id: str, until: date, *, trigger: str = "manual", engine: Engine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WatermarkChange:
    """Set a watermark to `until`, earlier or later than it was, but never after today: PubMed has nothing dated
    in the future, and a future watermark is exactly the stall this command repairs."""
    today = clock().date()
    if until > today:
        raise UsageError(f"watermark {until.isoformat()} is after today ({today.isoformat()}): PubMed has nothing "
                         "dated in the future")
    _require_known(query_id, _query_ids(settings))
    return _change(settings, query_id, until, trigger, engine, clock)


def reset_watermark(
    settings: Settings, query_id: str, *, trigger: str = "manual", engine: Engine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WatermarkChange:
    """Forget a watermark: the next run searches [ncbi] first_run_days back, as on a first run."""
    _require_known(query_id, _query_ids(settings))
    return _change(settings, query_id, None, trigger, engine, clock)


def _change(
    settings: Settings, query_id: str, until: date | None, trigger: str, engine: Engine | None,
    clock: Callable[[], datetime],
) -> WatermarkChange:
    engine = engine or make_engine(settings.database_url)
    upgrade(engine)
    lock = configured_lock(engine, settings, trigger)
    try:
        lock.acquire()
    except LockHeld as exc:
        raise RunLockedError(f"another run holds the lock: {exc}") from None
    try:
        now = clock()
        with session_scope(engine) as s:  # the run and the change in one transaction: recorded iff made
            run_id = run_store.start_run(s, kind=RUN_KIND, trigger=trigger, window_start=None, window_end=until,
                                         started_at=now)
            if until is None:
                before = run_store.delete_watermark(s, query_id)
            else:
                before = run_store.put_watermark(s, query_id, until, run_id, now)
            change = WatermarkChange(query_id, before, until, run_id)
            run_store.finish_run(s, run_id, status="success", finished_at=now, error=None, warnings=[change.note])
        return change
    finally:
        lock.release()


def _query_ids(settings: Settings) -> list[str]:
    return [q.id for a in load_watchlist(settings.queries_dir) for q in a.queries]


def _require_known(query_id: str, known: list[str]) -> None:
    if query_id not in known:
        raise QueryError(f"unknown query id {query_id}; known: {', '.join(sorted(known))}")


def _view(query_id: str, stored: run_store.WatermarkInfo | None, known: bool) -> WatermarkView:
    if stored is None:
        return WatermarkView(query_id, None, None, None, known)
    return WatermarkView(query_id, stored.until, stored.updated_at, stored.last_run_id, known)


__all__ = ["WatermarkChange", "WatermarkView", "reset_watermark", "set_watermark", "show_watermarks"]
