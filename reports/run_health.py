"""Run health for a digest: the runs of the period, their failures, records per saved search, warnings. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from litwatch.storage.records import QueryRunStats, RunSummary, StoredArticle

from .sanitize import clean_text
from .text import first_line


@dataclass(frozen=True)
class QueryHealthRow:
    """One row of the digest's per-search table. Counts are never summed over runs (a record two daily runs
    both found is one record): `found_last_run` is what the search returned in its latest run of the period;
    `new`/`changed` are distinct records of the period that the search found (`RecordTally`)."""

    query_id: str
    label: str
    runs: int
    found_last_run: int
    new: int
    changed: int
    last_status: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class RunLine:
    run_id: int
    kind: str
    trigger: str
    status: str
    started_at: datetime
    duration_s: float | None
    found: int
    new: int
    changed: int
    error: str | None


@dataclass(frozen=True)
class RunHealth:
    runs: tuple[RunLine, ...]
    failures: tuple[str, ...]
    queries: tuple[QueryHealthRow, ...]
    warnings: tuple[str, ...]
    zero_result_warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not (self.failures or self.zero_result_warnings)


@dataclass(frozen=True)
class RecordTally:
    """Distinct records of the period one saved search found: first stored in it (new) or changed in it."""

    new: int = 0
    changed: int = 0


def tally_records(
    records: Sequence[StoredArticle], start: datetime, end: datetime
) -> dict[str, RecordTally]:
    """Per saved search, the distinct records (one row per PMID) first stored or changed in [start, end)."""
    new: dict[str, set[str]] = {}
    changed: dict[str, set[str]] = {}
    for r in records:
        if start <= r.first_seen < end:
            bucket = new
        elif start <= r.last_changed < end:
            bucket = changed
        else:
            continue
        for q in r.query_ids:
            bucket.setdefault(q, set()).add(r.article.pmid)
    return {
        q: RecordTally(len(new.get(q, ())), len(changed.get(q, ()))) for q in sorted({*new, *changed})
    }


def build_run_health(
    runs: Sequence[RunSummary],
    labels: Mapping[str, str],
    zero: Sequence[str],
    records: Mapping[str, RecordTally] | None = None,
) -> RunHealth:
    ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id))
    lines = tuple(
        RunLine(r.run_id, r.kind, r.trigger, r.status, r.started_at, r.duration_s, r.found, r.new, r.changed,
                clean_text(r.error) or None)
        for r in ordered
    )
    failures = [
        f"Run {r.run_id} ({r.kind}, {r.trigger}, {r.started_at:%Y-%m-%d %H:%M}) failed: "
        f"{first_line(r.error) or 'no error recorded'}"
        for r in ordered
        if r.status == "failed"
    ]
    stats: dict[str, list[QueryRunStats]] = {}
    for run in ordered:
        for q in run.queries:
            stats.setdefault(q.query_id, []).append(q)
            if q.status == "failed":
                failures.append(
                    f"Query {labels.get(q.query_id, q.query_id)} failed in run {run.run_id}: "
                    f"{first_line(q.error) or 'no error recorded'}"
                )
    queries = tuple(
        _query_health(qid, clean_text(labels.get(qid, qid)), qs, (records or {}).get(qid, RecordTally()))
        for qid, qs in sorted(stats.items(), key=lambda kv: labels.get(kv[0], kv[0]).lower())
    )
    warnings = tuple(dict.fromkeys(clean_text(w) for r in ordered for w in r.warnings))
    return RunHealth(lines, tuple(failures), queries, warnings, tuple(clean_text(z) for z in zero))


def _query_health(query_id: str, label: str, qs: list[QueryRunStats], records: RecordTally) -> QueryHealthRow:
    return QueryHealthRow(
        query_id=query_id,
        label=label,
        runs=len(qs),
        found_last_run=qs[-1].found,
        new=records.new,
        changed=records.changed,
        last_status=qs[-1].status,
        errors=tuple(dict.fromkeys(first_line(q.error) for q in qs if q.error)),
    )


__all__ = ["QueryHealthRow", "RecordTally", "RunHealth", "RunLine", "build_run_health", "tally_records"]
