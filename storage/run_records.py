"""The domain records of a run: what it did to the records (`RunCounts`, the one counts type), per saved search
(`QueryRunStats`) and in all (`RunSummary`). Part of the domain model; `storage.records` re-exports them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal


@dataclass(frozen=True)
class RunCounts:
    """What a run (or one saved search within it, or one stored batch) did to the records: the one counts type."""

    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    def describe(self) -> str:
        """"found 3, new 1, changed 0, unchanged 2, deleted 0": the log line's, the CLI's and the demo's wording."""
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self))


# In the JSON form a `counts` field is inlined: `runs --json` shows found/new/... beside run_id, as it always has.
_INLINE = {"inline": True}


class CountsView:
    """`x.found` for `x.counts.found`: what readers of runs, query runs and upserts have always written."""

    counts: RunCounts

    @property
    def found(self) -> int:
        return self.counts.found

    @property
    def new(self) -> int:
        return self.counts.new

    @property
    def changed(self) -> int:
        return self.counts.changed

    @property
    def unchanged(self) -> int:
        return self.counts.unchanged

    @property
    def deleted(self) -> int:
        return self.counts.deleted


@dataclass(frozen=True)
class QueryRunStats(CountsView):
    """One saved search within one run."""

    query_id: str
    window_start: date | None
    window_end: date | None
    status: Literal["running", "success", "failed", "skipped", "stopped"] = "running"
    counts: RunCounts = field(default_factory=RunCounts, metadata=_INLINE)
    error: str | None = None


@dataclass(frozen=True)
class RunSummary(CountsView):
    run_id: int
    kind: str  # "fetch", "digest", "backfill"
    trigger: str  # manual, cron, scheduler, demo
    # skipped: a scheduled job found the lock held; stopped: interrupted (Ctrl-C)
    status: Literal["running", "success", "failed", "skipped", "stopped"]
    started_at: datetime
    finished_at: datetime | None = None
    # Distinct records (`runs.finish_run`): a record two searches found is found (and new) once, so these are
    # not the sums over `queries`, whose counts are each search's own view of the run.
    counts: RunCounts = field(default_factory=RunCounts, metadata=_INLINE)
    error: str | None = None
    warnings: tuple[str, ...] = ()
    queries: tuple[QueryRunStats, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


__all__ = ["CountsView", "QueryRunStats", "RunCounts", "RunSummary"]
