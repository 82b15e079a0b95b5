"""Run bookkeeping: runs and their per-query parts, watermarks, backfill resume slices, and per-query statistics."""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .bulk import aware, chunks
from .records import QueryRunStats, RunCounts, RunSummary
from .schema import ArticleRow, BackfillSliceRow, QueryHitRow, QueryRunRow, RunRow, WatermarkRow


@dataclass(frozen=True)
class QueryStats:
    """Statistics of one saved search's runs: `runs`/`failures` since the given time, the rest over all history."""

    query_id: str
    runs: int
    failures: int
    last_status: str | None
    last_run_at: datetime | None
    last_success: datetime | None
    last_nonzero: datetime | None  # start of the last successful run in which the search found anything
    last_error: str | None


# --- runs ---------------------------------------------------------------------------------------------------


def start_run(
    s: Session,
    *,
    kind: str,
    trigger: str,
    window_start: date | None,
    window_end: date | None,
    started_at: datetime,
) -> int:
    row = RunRow(
        kind=kind,
        trigger=trigger,
        status="running",
        started_at=started_at,
        window_start=window_start,
        window_end=window_end,
        warnings=[],
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    s.add(row)
    s.flush()
    return row.id


def start_query_run(
    s: Session, run_id: int, query_id: str, window_start: date | None, window_end: date | None
) -> None:
    """Begin (or, on a retry within the same run, restart) one saved search's part of a run."""
    row = s.get(QueryRunRow, (run_id, query_id))
    if row is None:
        s.add(
            QueryRunRow(
                run_id=run_id,
                query_id=query_id,
                window_start=window_start,
                window_end=window_end,
                status="running",
            )
        )
    else:
        row.window_start, row.window_end, row.status, row.error = window_start, window_end, "running", None
    s.flush()


def finish_query_run(
    s: Session,
    run_id: int,
    query_id: str,
    *,
    status: str,
    counts: RunCounts,
    error: str | None,
) -> None:
    result = s.execute(
        sa.update(QueryRunRow)
        .where(QueryRunRow.run_id == run_id, QueryRunRow.query_id == query_id)
        .values(status=status, error=error, **asdict(counts))
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        raise KeyError(f"run {run_id} has no query run {query_id!r}; call start_query_run first")


def close_open_query_runs(s: Session, run_id: int, *, status: str, error: str) -> int:
    """Close the run's saved searches still marked running (an interrupt can land between a search's start and
    the code that records its end); returns how many there were."""
    result = s.execute(
        sa.update(QueryRunRow)
        .where(QueryRunRow.run_id == run_id, QueryRunRow.status == "running")
        .values(status=status, error=error)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def finish_run(
    s: Session, run_id: int, *, status: str, finished_at: datetime, error: str | None, warnings: Sequence[str]
) -> None:
    """Close a run; its counts are distinct records (`_run_totals`), not the sums over its query runs."""
    totals = tuple(asdict(_run_totals(s, run_id)).values())
    result = s.execute(
        sa.update(RunRow)
        .where(RunRow.id == run_id)
        .values(
            status=status,
            finished_at=finished_at,
            error=error,
            warnings=list(warnings),
            **dict(zip(_COUNTS, (int(t) for t in totals), strict=True)),
        )
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        raise KeyError(f"no run {run_id}")


_COUNTS = tuple(f.name for f in fields(RunCounts))  # the count columns of runs and query_runs


def _run_totals(s: Session, run_id: int) -> RunCounts:
    """A record two searches found is one record: found/new/changed count the distinct PMIDs the run's searches
    stored (its query hits) by when the record was first stored or last changed. A run with no hits (nothing
    stored, or bookkeeping written by hand) keeps the sums over its query runs; deletions are always summed
    (`mark_deleted` flags a record once)."""
    sums = RunCounts(*(int(t) for t in s.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(getattr(QueryRunRow, c)), 0) for c in _COUNTS)).where(
            QueryRunRow.run_id == run_id
        )
    ).one()))
    started = s.scalar(sa.select(RunRow.started_at).where(RunRow.id == run_id))
    hits = sa.select(QueryHitRow.pmid).where(QueryHitRow.run_id == run_id).distinct().subquery()
    new = ArticleRow.first_seen >= started
    changed = sa.and_(ArticleRow.first_seen < started, ArticleRow.last_changed >= started)
    found, n_new, n_changed = s.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((new, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((changed, 1), else_=0)), 0),
        ).select_from(ArticleRow).join(hits, hits.c.pmid == ArticleRow.pmid)
    ).one()
    if not found or started is None:
        return sums
    return RunCounts(found, int(n_new), int(n_changed), found - int(n_new) - int(n_changed), sums.deleted)


def fail_orphaned_runs(s: Session, current_run_id: int, finished_at: datetime, note: str) -> list[int]:
    """Record as failed every fetch/backfill run other than `current_run_id` still marked running, and its
    running query runs (their committed counts kept). Only the run-lock holder may call this: no other fetch
    can be running, so such a run died without finishing (kill -9, power loss). Returns their ids."""
    closed: list[int] = []
    for old in list_runs(s, limit=50):
        if old.run_id == current_run_id or old.status != "running" or old.kind not in ("fetch", "backfill"):
            continue
        for q in old.queries:
            if q.status == "running":
                finish_query_run(s, old.run_id, q.query_id, status="failed", counts=q.counts, error=note)
        finish_run(s, old.run_id, status="failed", finished_at=finished_at, error=note, warnings=list(old.warnings))
        closed.append(old.run_id)
    return closed


def _counts(row: RunRow | QueryRunRow) -> RunCounts:
    return RunCounts(*(getattr(row, c) for c in _COUNTS))


def list_runs(s: Session, limit: int = 20) -> list[RunSummary]:
    """The newest runs first."""
    rows = list(
        s.scalars(sa.select(RunRow).order_by(RunRow.started_at.desc(), RunRow.id.desc()).limit(limit))
    )
    return _summaries(s, rows)


def get_run(s: Session, run_id: int) -> RunSummary | None:
    row = s.get(RunRow, run_id)
    return None if row is None else _summaries(s, [row])[0]


def _summaries(s: Session, rows: Sequence[RunRow]) -> list[RunSummary]:
    per_run: dict[int, list[QueryRunStats]] = defaultdict(list)
    for chunk in chunks([r.id for r in rows]):
        for q in s.scalars(
            sa.select(QueryRunRow).where(QueryRunRow.run_id.in_(chunk)).order_by(QueryRunRow.query_id)
        ):
            per_run[q.run_id].append(
                QueryRunStats(
                    query_id=q.query_id,
                    window_start=q.window_start,
                    window_end=q.window_end,
                    status=q.status,  # type: ignore[arg-type]
                    counts=_counts(q),
                    error=q.error,
                )
            )
    return [
        RunSummary(
            run_id=r.id,
            kind=r.kind,
            trigger=r.trigger,
            status=r.status,  # type: ignore[arg-type]
            started_at=r.started_at,
            finished_at=r.finished_at,
            counts=_counts(r),
            error=r.error,
            warnings=tuple(r.warnings or ()),
            queries=tuple(per_run.get(r.id, ())),
        )
        for r in rows
    ]


def query_stats(s: Session, since: datetime) -> dict[str, QueryStats]:
    """Per saved search: how its runs went since `since`, and when it last succeeded / last found anything."""
    stmt = (
        sa.select(
            QueryRunRow.query_id, QueryRunRow.status, QueryRunRow.found, QueryRunRow.error, RunRow.started_at
        )
        .join(RunRow, RunRow.id == QueryRunRow.run_id)
        .order_by(RunRow.started_at, RunRow.id)
    )
    acc: dict[str, dict[str, Any]] = {}
    for query_id, status, found, error, started_at in s.execute(stmt):
        h = acc.setdefault(
            query_id,
            {
                "runs": 0,
                "failures": 0,
                "last_status": None,
                "last_run_at": None,
                "last_success": None,
                "last_nonzero": None,
                "last_error": None,
            },
        )
        if started_at >= aware(since):
            h["runs"] += 1
            h["failures"] += status == "failed"
        h["last_status"], h["last_run_at"] = status, started_at
        if status == "success":
            h["last_success"] = started_at
            if found:
                h["last_nonzero"] = started_at
        if error:
            h["last_error"] = error
    return {q: QueryStats(query_id=q, **h) for q, h in acc.items()}


# --- watermarks ---------------------------------------------------------------------------------------------


def get_watermark(s: Session, query_id: str) -> date | None:
    return s.scalar(sa.select(WatermarkRow.until).where(WatermarkRow.query_id == query_id))


def set_watermark(s: Session, query_id: str, until: date, run_id: int) -> None:
    """Advance the query's watermark to `until`; an older date than the stored one is ignored."""
    row = s.get(WatermarkRow, query_id, with_for_update=True)
    now = datetime.now(UTC)
    if row is None:
        s.add(WatermarkRow(query_id=query_id, until=until, updated_at=now, last_run_id=run_id))
    elif until > row.until:
        row.until, row.updated_at, row.last_run_id = until, now, run_id
    s.flush()


@dataclass(frozen=True)
class WatermarkInfo:
    """One saved search's stored watermark: the Create date its searches are complete up to, and who set it."""

    query_id: str
    until: date
    updated_at: datetime
    last_run_id: int | None


def list_watermarks(s: Session) -> list[WatermarkInfo]:
    rows = s.scalars(sa.select(WatermarkRow).order_by(WatermarkRow.query_id))
    return [WatermarkInfo(r.query_id, r.until, aware(r.updated_at), r.last_run_id) for r in rows]


def put_watermark(s: Session, query_id: str, until: date, run_id: int | None, at: datetime) -> date | None:
    """An editor's repair: set the watermark to `until`, earlier or later (`set_watermark` only advances it).
    Returns the date it replaced."""
    row = s.get(WatermarkRow, query_id, with_for_update=True)
    before = row.until if row is not None else None
    if row is None:
        s.add(WatermarkRow(query_id=query_id, until=until, updated_at=at, last_run_id=run_id))
    else:
        row.until, row.updated_at, row.last_run_id = until, at, run_id
    s.flush()
    return before


def delete_watermark(s: Session, query_id: str) -> date | None:
    """Forget the watermark: the next run is a first run again. Returns the date it had."""
    row = s.get(WatermarkRow, query_id, with_for_update=True)
    if row is None:
        return None
    before = row.until
    s.delete(row)
    s.flush()
    return before


# --- backfill resume ledger ----------------------------------------------------------------------------------------


def completed_slices(s: Session, query_id: str, term_hash: str, since: datetime) -> set[tuple[date, date]]:
    """(start, end) of the backfill slices of this query and term completed at or after `since`."""
    rows = s.execute(
        sa.select(BackfillSliceRow.slice_start, BackfillSliceRow.slice_end).where(
            BackfillSliceRow.query_id == query_id,
            BackfillSliceRow.term_hash == term_hash,
            BackfillSliceRow.completed_at >= aware(since),
        )
    )
    return {(start, end) for start, end in rows}


def mark_slice_complete(
    s: Session, *, query_id: str, term_hash: str, start: date, end: date, records: int, run_id: int,
    completed_at: datetime,
) -> None:
    """Record (or refresh) a backfill slice whose every listed record is stored."""
    row = s.get(BackfillSliceRow, (query_id, term_hash, start, end))
    if row is None:
        s.add(BackfillSliceRow(query_id=query_id, term_hash=term_hash, slice_start=start, slice_end=end,
                               records=records, completed_at=completed_at, run_id=run_id))
    else:
        row.records, row.completed_at, row.run_id = records, completed_at, run_id
    s.flush()


__all__ = [
    "QueryStats",
    "WatermarkInfo",
    "completed_slices",
    "delete_watermark",
    "fail_orphaned_runs",
    "close_open_query_runs",
    "finish_query_run",
    "finish_run",
    "get_run",
    "get_watermark",
    "list_runs",
    "list_watermarks",
    "mark_slice_complete",
    "put_watermark",
    "query_stats",
    "set_watermark",
    "start_query_run",
    "start_run",
]
