"""Repository functions: everything the runner and the digest read or write, each taking a `Session`.

Articles and cited-study checks live here; assessments (`storage.assessments`), run bookkeeping (`storage.runs`)
and digest bookkeeping (`storage.digests`) are re-exported, so callers need only this module. Bulk by design: a batch of
N articles costs a constant number of statements (chunked IN lists, executemany), never N round trips.
Callers own the transaction (`storage.engine.session_scope`); nothing here commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .assessments import (
    assessment_from_row,
    assessment_history,
    latest_assessment,
    latest_assessments,
    save_assessment,
    save_assessments,
)
from .bulk import aware, chunks, insert_ignore
from .digests import (
    DigestRecord,
    last_digest,
    mark_digest_failed,
    mark_digest_sent,
    record_digest,
    sent_item_keys,
    unsent_digests,
)
from .records import Article, CitedStudyStatus, CountsView, RunCounts, StoredArticle, canonical_hash, to_jsonable
from .registry import (
    RegistryEventRecord,
    SnapshotResult,
    mark_gone,
    pmids_for_trial,
    record_alias,
    registry_events,
    save_registry_events,
    snapshot_versions,
    store_snapshot,
    stored_pmids,
    trials_for_pmid,
)
from .runs import (
    QueryStats,
    close_open_query_runs,
    completed_slices,
    fail_orphaned_runs,
    finish_query_run,
    finish_run,
    get_run,
    get_watermark,
    list_runs,
    mark_slice_complete,
    query_stats,
    set_watermark,
    start_query_run,
    start_run,
)
from .schema import ArticleRow, ArticleVersionRow, AssessmentRow, CitedCheckRow, QueryHitRow, RunRow


@dataclass(frozen=True)
class UpsertResult(CountsView):
    """What storing a batch did: its counts (found = records handed in) and which PMIDs were new or changed."""

    counts: RunCounts
    new_pmids: tuple[str, ...]
    changed_pmids: tuple[str, ...]


# --- articles -----------------------------------------------------------------------------------------------


def upsert_articles(
    s: Session, articles: Sequence[Article], seen_at: datetime, run_id: int | None = None
) -> UpsertResult:
    """Store a batch. Idempotent; a lower version never overwrites a higher one, and for the same version
    the content seen last wins, so any arrival order converges to the latest version. Every distinct content
    goes to history (`article_versions`), a late lower version included.

    With `run_id`, the counts are the run's view: a record an earlier search of the same run first stored (or
    changed) is new (changed) for this search too, never "unchanged" — found by both, new to the run once
    (`runs.finish_run` counts the run's records distinct). `new_pmids`/`changed_pmids` stay what this batch
    itself inserted or changed: the records to assess."""
    run_started = _run_started(s, run_id)
    # Each record is serialised once: its canonical form is the stored JSON of both tables and its hash's input.
    incoming: dict[str, tuple[Article, str, dict[str, Any]]] = {}
    history: dict[tuple[str, str], tuple[Article, dict[str, Any]]] = {}
    for art in articles:
        record = to_jsonable(art)
        digest = canonical_hash(record)
        history.setdefault((art.pmid, digest), (art, record))
        held = incoming.get(art.pmid)
        if held is None or art.version >= held[0].version:
            incoming[art.pmid] = (art, digest, record)

    existing = {
        row.pmid: row
        for chunk in chunks(list(incoming))
        for row in s.execute(
            sa.select(
                ArticleRow.pmid,
                ArticleRow.version,
                ArticleRow.content_hash,
                ArticleRow.deleted,
                ArticleRow.last_seen,
                ArticleRow.first_seen,
                ArticleRow.last_changed,
            ).where(ArticleRow.pmid.in_(chunk))
        )
    }

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    new: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for pmid, (art, digest, record) in incoming.items():
        old = existing.get(pmid)
        if old is None:
            inserts.append(
                _article_values(art, digest, record)
                | {
                    "first_seen": seen_at,
                    "last_seen": seen_at,
                    "last_changed": seen_at,
                    "deleted": False,
                }
            )
            new.append(pmid)
            continue
        last_seen = max(old.last_seen, aware(seen_at))
        if art.version >= old.version and digest != old.content_hash:
            updates.append(
                _article_values(art, digest, record)
                | {
                    "last_seen": last_seen,
                    "last_changed": seen_at,
                    "deleted": False,
                    "deleted_at": None,
                }
            )
            changed.append(pmid)
        else:  # same content, or a stale lower version arriving late: only the sighting is news
            updates.append({"pmid": pmid, "last_seen": last_seen, "deleted": False, "deleted_at": None})
            unchanged.append(pmid)

    # Core insert on the table: one executemany per chunk. (The ORM bulk insert splits rows by which columns
    # are None — 712 statements for 2,000 real records instead of 4.)
    for chunk in chunks(inserts):
        s.execute(sa.insert(ArticleRow.__table__), chunk)
    # Bulk UPDATE by primary key; rows are grouped by key set, since executemany needs one statement shape.
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for values in updates:
        by_shape[tuple(sorted(values))].append(values)
    for rows in by_shape.values():
        for chunk in chunks(rows):
            s.execute(sa.update(ArticleRow), chunk)

    versions = [
        {
            "pmid": pmid,
            "content_hash": digest,
            "version": art.version,
            "seen_at": seen_at,
            "record": record,
        }
        for (pmid, digest), (art, record) in history.items()
    ]
    for chunk in chunks(versions):
        s.execute(insert_ignore(s, ArticleVersionRow, ["pmid", "content_hash"]), chunk)
    s.flush()
    counts = _run_view(len(articles), new, changed, unchanged, existing, run_started)
    return UpsertResult(counts, tuple(new), tuple(changed))


def _run_view(
    found: int, new: list[str], changed: list[str], unchanged: list[str], existing: dict[str, Any],
    run_started: datetime | None,
) -> RunCounts:
    """The batch's counts as its run sees them: a record first stored in this run is new, one whose content
    changed in this run is changed, whichever search of the run got there first."""
    if run_started is None:
        return RunCounts(found=found, new=len(new), changed=len(changed), unchanged=len(unchanged))
    started: datetime = run_started

    def in_run(pmid: str, column: str) -> bool:
        return pmid in existing and aware(getattr(existing[pmid], column)) >= started

    new_in_run = [p for p in (*changed, *unchanged) if in_run(p, "first_seen")]
    changed_in_run = [p for p in unchanged if in_run(p, "last_changed") and p not in new_in_run]
    return RunCounts(
        found=found,
        new=len(new) + len(new_in_run),
        changed=len(changed) - sum(p in new_in_run for p in changed) + len(changed_in_run),
        unchanged=len(unchanged) - sum(p in new_in_run for p in unchanged) - len(changed_in_run),
    )


def _run_started(s: Session, run_id: int | None) -> datetime | None:
    if run_id is None:
        return None
    started = s.scalar(sa.select(RunRow.started_at).where(RunRow.id == run_id))
    if started is None:
        raise KeyError(f"no run {run_id}")
    return aware(started)


def mark_deleted(s: Session, pmids: Sequence[str], seen_at: datetime) -> int:
    """Flag PMIDs that PubMed deleted (DeleteCitation). Returns how many stored, live rows were flagged."""
    total = 0
    for chunk in chunks(list(dict.fromkeys(pmids))):
        result = s.execute(
            sa.update(ArticleRow)
            .where(ArticleRow.pmid.in_(chunk), ArticleRow.deleted.is_(False))
            .values(deleted=True, deleted_at=seen_at)
            .execution_options(synchronize_session=False)
        )
        total += result.rowcount or 0
    return total


def record_hits(s: Session, run_id: int, query_id: str, pmids: Sequence[str]) -> None:
    """Remember that `query_id` found these PMIDs in this run (idempotent)."""
    rows = [{"run_id": run_id, "query_id": query_id, "pmid": p} for p in dict.fromkeys(pmids)]
    for chunk in chunks(rows):
        s.execute(insert_ignore(s, QueryHitRow, ["query_id", "pmid", "run_id"]), chunk)


def get_article(s: Session, pmid: str, article: str | None = None) -> StoredArticle | None:
    return get_articles(s, [pmid], article).get(pmid)


def get_articles(s: Session, pmids: Iterable[str], article: str | None = None) -> dict[str, StoredArticle]:
    """Stored articles by PMID, with the queries that found them and their latest assessment per watched article
    (`assessment`: the one for `article`, or the only one there is); unknown ones are left out."""
    rows = [
        row
        for chunk in chunks(list(dict.fromkeys(pmids)))
        for row in s.scalars(sa.select(ArticleRow).where(ArticleRow.pmid.in_(chunk)))
    ]
    return {a.article.pmid: a for a in _hydrate(s, rows, article)}


def article_history(s: Session, pmid: str) -> list[tuple[datetime, str, int]]:
    """(first seen, content hash, version) of every distinct content of the record, oldest first."""
    rows = s.execute(
        sa.select(ArticleVersionRow.seen_at, ArticleVersionRow.content_hash, ArticleVersionRow.version)
        .where(ArticleVersionRow.pmid == pmid)
        .order_by(ArticleVersionRow.seen_at, ArticleVersionRow.id)
    )
    return [(r.seen_at, r.content_hash, r.version) for r in rows]


def first_seen_at(s: Session) -> datetime | None:
    """When the first record was stored (None: nothing yet): how far back the database's memory goes."""
    return s.scalar(sa.select(sa.func.min(ArticleRow.first_seen)))


def changed_between(
    s: Session, since: datetime, until: datetime, article: str | None = None,
    query_ids: Iterable[str] | None = None,
) -> list[StoredArticle]:
    """Articles first seen or whose content changed in [since, until), oldest change first, fully hydrated.
    `query_ids`: only records one of these saved searches found (one watched article's); `article`: whose
    verdict `assessment` carries."""
    in_range = sa.or_(
        sa.and_(ArticleRow.first_seen >= since, ArticleRow.first_seen < until),
        sa.and_(ArticleRow.last_changed >= since, ArticleRow.last_changed < until),
    )
    stmt = sa.select(ArticleRow).where(in_range)
    if query_ids is not None:
        stmt = stmt.where(_found_by(query_ids))
    rows = list(s.scalars(stmt.order_by(ArticleRow.last_changed, ArticleRow.pmid)))
    return _hydrate(s, rows, article)


def _found_by(query_ids: Iterable[str]) -> sa.ColumnElement[bool]:
    return sa.exists().where(QueryHitRow.pmid == ArticleRow.pmid, QueryHitRow.query_id.in_(list(query_ids)))


def _hydrate(s: Session, rows: Sequence[ArticleRow], article: str | None = None) -> list[StoredArticle]:
    pmids = [r.pmid for r in rows]
    queries: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, dict[str, AssessmentRow]] = defaultdict(dict)
    for chunk in chunks(pmids):
        hits = s.execute(
            sa.select(QueryHitRow.pmid, QueryHitRow.query_id).where(QueryHitRow.pmid.in_(chunk)).distinct()
        )
        for pmid, query_id in hits:
            queries[pmid].add(query_id)
        ordered = s.scalars(
            sa.select(AssessmentRow)
            .where(AssessmentRow.pmid.in_(chunk))
            .order_by(AssessmentRow.assessed_at, AssessmentRow.id)
        )
        for a in ordered:
            latest[a.pmid][a.article] = a  # the last one in time order wins
    return [
        _stored(r, tuple(sorted(queries.get(r.pmid, ()))), latest.get(r.pmid, {}), article) for r in rows
    ]


def _stored(r: ArticleRow, query_ids: tuple[str, ...], latest: dict[str, AssessmentRow],
            article: str | None) -> StoredArticle:
    every = tuple(assessment_from_row(latest[slug]) for slug in sorted(latest))
    if article is not None:
        mine = next((a for a in every if a.article == article), None)
    else:  # no article named: the verdict is unambiguous only when one article judged the record
        mine = every[0] if len(every) == 1 else None
    return StoredArticle(
            article=Article.from_dict(r.record),
            content_hash=r.content_hash,
            first_seen=r.first_seen,
            last_seen=r.last_seen,
            last_changed=r.last_changed,
            deleted=r.deleted,
            query_ids=query_ids,
            assessment=mine,
            assessments=every,
        )


def _article_values(art: Article, digest: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "pmid": art.pmid,
        "version": art.version,
        "kind": art.kind,
        "status": art.status,
        "title": art.title,
        "journal": art.journal,
        "pub_year": art.pub_year,
        "created": art.created,
        "doi": art.doi,
        "content_hash": digest,
        "record": record,
    }


# --- assessments (stored by storage.assessments; the one that needs articles lives here) ---------------


def articles_needing_assessment(
    s: Session, ruleset_version: str, article: str, query_ids: Iterable[str], limit: int | None = None
) -> list[StoredArticle]:
    """Live records one of `query_ids` (the article's saved searches) found whose current content has no
    verdict for `article` under `ruleset_version`: new, changed, assessed under other rules, or stored before
    the article was added to the watch list."""
    done = sa.exists().where(
        AssessmentRow.article == article,
        AssessmentRow.pmid == ArticleRow.pmid,
        AssessmentRow.content_hash == ArticleRow.content_hash,
        AssessmentRow.ruleset_version == ruleset_version,
    )
    stmt = (
        sa.select(ArticleRow)
        .where(ArticleRow.deleted.is_(False), _found_by(query_ids), ~done)
        .order_by(ArticleRow.last_changed, ArticleRow.pmid)
        .limit(limit)
    )
    return _hydrate(s, list(s.scalars(stmt)), article)


# --- cited studies ------------------------------------------------------------------------------------------


def save_cited_check(s: Session, status: CitedStudyStatus, run_id: int | None) -> None:
    """Record one check; the stored content hash of its PMID (if stored) says which content was checked."""
    if not status.article:
        raise ValueError(f"cited-study check of '{status.study_id}' names no watched article")
    content_hash = None
    if status.pmid:
        content_hash = s.scalar(sa.select(ArticleRow.content_hash).where(ArticleRow.pmid == status.pmid))
    s.add(
        CitedCheckRow(
            article=status.article,
            study_id=status.study_id,
            label=status.label,
            pmid=status.pmid,
            status=status.status,
            notes=list(status.notes),
            content_hash=content_hash,
            checked_at=status.checked_at or datetime.now(UTC),
            run_id=run_id,
        )
    )
    s.flush()


def latest_cited_checks(s: Session, article: str) -> list[CitedStudyStatus]:
    """The newest check of each study one watched article cites, by study id."""
    newest = (
        sa.select(CitedCheckRow.study_id, sa.func.max(CitedCheckRow.id).label("id"))
        .where(CitedCheckRow.article == article)
        .group_by(CitedCheckRow.study_id)
        .subquery()
    )
    rows = s.scalars(
        sa.select(CitedCheckRow)
        .join(newest, CitedCheckRow.id == newest.c.id)
        .order_by(CitedCheckRow.study_id)
    )
    return [
        CitedStudyStatus(
            study_id=r.study_id,
            label=r.label,
            pmid=r.pmid,
            status=r.status,  # type: ignore[arg-type]
            notes=tuple(r.notes),
            checked_at=r.checked_at,
            article=r.article,
        )
        for r in rows
    ]


__all__ = [
    "RegistryEventRecord", "SnapshotResult", "mark_gone", "pmids_for_trial", "record_alias", "registry_events",
    "save_registry_events", "snapshot_versions", "store_snapshot", "stored_pmids", "trials_for_pmid",
    "DigestRecord",
    "QueryStats",
    "UpsertResult",
    "article_history",
    "articles_needing_assessment",
    "assessment_history",
    "changed_between",
    "close_open_query_runs",
    "completed_slices",
    "fail_orphaned_runs",
    "finish_query_run",
    "first_seen_at",
    "finish_run",
    "get_article",
    "get_articles",
    "get_run",
    "get_watermark",
    "last_digest",
    "latest_assessment",
    "latest_assessments",
    "latest_cited_checks",
    "list_runs",
    "mark_deleted",
    "mark_digest_failed",
    "mark_digest_sent",
    "mark_slice_complete",
    "query_stats",
    "record_digest",
    "record_hits",
    "save_assessment",
    "save_assessments",
    "save_cited_check",
    "sent_item_keys",
    "set_watermark",
    "start_query_run",
    "start_run",
    "unsent_digests",
    "upsert_articles",
]
