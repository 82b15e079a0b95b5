"""Repository functions: everything the runner and the digest read or write, each taking a `Session`.

Articles, assessments and cited-study checks live here; run bookkeeping (`storage.runs`) and digest
bookkeeping (`storage.digests`) are re-exported, so callers need only this module. Bulk by design: a batch of
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

from .bulk import aware, canonical_hash, chunks, insert_ignore, jsonable
from .digests import (
    DigestRecord,
    last_digest,
    mark_digest_failed,
    mark_digest_sent,
    record_digest,
    sent_item_keys,
    unsent_digests,
)
from .records import Article, Assessment, CitedStudyStatus, StoredArticle
from .runs import (
    QueryHealth,
    completed_slices,
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
from .schema import ArticleRow, ArticleVersionRow, AssessmentRow, CitedCheckRow, QueryHitRow


@dataclass(frozen=True)
class UpsertCounts:
    new: int
    changed: int
    unchanged: int
    changed_pmids: tuple[str, ...]
    new_pmids: tuple[str, ...]


# --- articles -----------------------------------------------------------------------------------------------


def upsert_articles(s: Session, articles: Sequence[Article], seen_at: datetime) -> UpsertCounts:
    """Store a batch. Idempotent; a lower version never overwrites a higher one, and for the same version
    the content seen last wins, so any arrival order converges to the latest version. Every distinct content
    goes to history (`article_versions`), a late lower version included."""
    # Each record is serialised once: its canonical form is the stored JSON of both tables and its hash's input.
    incoming: dict[str, tuple[Article, str, dict[str, Any]]] = {}
    history: dict[tuple[str, str], tuple[Article, dict[str, Any]]] = {}
    for art in articles:
        record = jsonable(art)
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
            ).where(ArticleRow.pmid.in_(chunk))
        )
    }

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    new: list[str] = []
    changed: list[str] = []
    unchanged = 0
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
            unchanged += 1

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
    return UpsertCounts(len(new), len(changed), unchanged, tuple(changed), tuple(new))


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


def get_article(s: Session, pmid: str) -> StoredArticle | None:
    return get_articles(s, [pmid]).get(pmid)


def get_articles(s: Session, pmids: Iterable[str]) -> dict[str, StoredArticle]:
    """Stored articles by PMID, with the queries that found them and their latest assessment; unknown ones
    are left out."""
    rows = [
        row
        for chunk in chunks(list(dict.fromkeys(pmids)))
        for row in s.scalars(sa.select(ArticleRow).where(ArticleRow.pmid.in_(chunk)))
    ]
    return {a.article.pmid: a for a in _hydrate(s, rows)}


def article_history(s: Session, pmid: str) -> list[tuple[datetime, str, int]]:
    """(first seen, content hash, version) of every distinct content of the record, oldest first."""
    rows = s.execute(
        sa.select(ArticleVersionRow.seen_at, ArticleVersionRow.content_hash, ArticleVersionRow.version)
        .where(ArticleVersionRow.pmid == pmid)
        .order_by(ArticleVersionRow.seen_at, ArticleVersionRow.id)
    )
    return [(r.seen_at, r.content_hash, r.version) for r in rows]


def changed_between(s: Session, since: datetime, until: datetime) -> list[StoredArticle]:
    """Articles first seen or whose content changed in [since, until), oldest change first, fully hydrated."""
    in_range = sa.or_(
        sa.and_(ArticleRow.first_seen >= since, ArticleRow.first_seen < until),
        sa.and_(ArticleRow.last_changed >= since, ArticleRow.last_changed < until),
    )
    rows = list(
        s.scalars(sa.select(ArticleRow).where(in_range).order_by(ArticleRow.last_changed, ArticleRow.pmid))
    )
    return _hydrate(s, rows)


def _hydrate(s: Session, rows: Sequence[ArticleRow]) -> list[StoredArticle]:
    pmids = [r.pmid for r in rows]
    queries: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, AssessmentRow] = {}
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
            latest[a.pmid] = a  # the last one in time order wins
    return [
        StoredArticle(
            article=Article.from_dict(r.record),
            content_hash=r.content_hash,
            first_seen=r.first_seen,
            last_seen=r.last_seen,
            last_changed=r.last_changed,
            deleted=r.deleted,
            query_ids=tuple(sorted(queries.get(r.pmid, ()))),
            assessment=_assessment(latest[r.pmid]) if r.pmid in latest else None,
        )
        for r in rows
    ]


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


# --- assessments --------------------------------------------------------------------------------------------


def save_assessment(s: Session, a: Assessment, assessed_at: datetime) -> bool:
    """Store an assessment; False if this (pmid, content hash, rule set) was assessed already. An assessment
    without a content hash is taken to be of the stored content."""
    content_hash = a.content_hash or s.scalar(
        sa.select(ArticleRow.content_hash).where(ArticleRow.pmid == a.pmid)
    )
    stmt = insert_ignore(s, AssessmentRow, list(_ASSESSMENT_KEY))
    # Values as execute() parameters, not .values(): one cached compiled statement instead of one per call.
    # RETURNING, not rowcount: psycopg reports -1 for a single INSERT ... ON CONFLICT DO NOTHING
    row = s.execute(
        stmt.returning(AssessmentRow.__table__.c.id), _assessment_values(a, content_hash or "", assessed_at)
    ).first()
    return row is not None


def save_assessments(s: Session, assessments: Sequence[Assessment], assessed_at: datetime) -> int:
    """Store a batch of assessments in a constant number of statements; returns how many were new (the others
    had this (pmid, content hash, rule set) assessed already). Missing content hashes are the stored content's."""
    missing = [a.pmid for a in assessments if not a.content_hash]
    stored: dict[str, str] = {}
    for chunk in chunks(list(dict.fromkeys(missing))):
        query = sa.select(ArticleRow.pmid, ArticleRow.content_hash).where(ArticleRow.pmid.in_(chunk))
        stored.update((pmid, digest) for pmid, digest in s.execute(query))
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for a in assessments:  # the first of duplicates wins, as with one save_assessment call after another
        values = _assessment_values(a, a.content_hash or stored.get(a.pmid, ""), assessed_at)
        rows.setdefault((a.pmid, values["content_hash"], a.ruleset_version), values)
    done: set[tuple[str, str, str]] = set()
    for chunk in chunks(list({key[0] for key in rows})):
        done.update(
            tuple(r)  # type: ignore[misc]
            for r in s.execute(
                sa.select(*(getattr(AssessmentRow, c) for c in _ASSESSMENT_KEY)).where(AssessmentRow.pmid.in_(chunk))
            )
        )
    fresh = [values for key, values in rows.items() if key not in done]
    for chunk in chunks(fresh):
        s.execute(insert_ignore(s, AssessmentRow, list(_ASSESSMENT_KEY)), chunk)
    return len(fresh)


_ASSESSMENT_KEY = ("pmid", "content_hash", "ruleset_version")


def _assessment_values(a: Assessment, content_hash: str, assessed_at: datetime) -> dict[str, Any]:
    return {
        "pmid": a.pmid,
        "content_hash": content_hash,
        "record_version": a.record_version,
        "ruleset_version": a.ruleset_version,
        "verdict": a.verdict,
        "design": a.design,
        "population": a.population,
        "condition": a.condition,
        "interventions": list(a.interventions),
        "claims": list(a.claims),
        "reasons": list(a.reasons),
        "sample_size": a.sample_size,
        "follow_up_months": a.follow_up_months,
        "cited_study": a.cited_study,
        "assessed_at": assessed_at,
    }


def latest_assessment(s: Session, pmid: str) -> Assessment | None:
    row = s.scalars(
        sa.select(AssessmentRow)
        .where(AssessmentRow.pmid == pmid)
        .order_by(AssessmentRow.assessed_at.desc(), AssessmentRow.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _assessment(row)


def assessment_history(s: Session, pmid: str) -> list[Assessment]:
    """Every assessment of the record, oldest first."""
    rows = s.scalars(
        sa.select(AssessmentRow)
        .where(AssessmentRow.pmid == pmid)
        .order_by(AssessmentRow.assessed_at, AssessmentRow.id)
    )
    return [_assessment(r) for r in rows]


def articles_needing_assessment(
    s: Session, ruleset_version: str, limit: int | None = None
) -> list[StoredArticle]:
    """Live articles whose current content has no assessment under `ruleset_version` (new, changed, or
    assessed under other rules)."""
    done = sa.exists().where(
        AssessmentRow.pmid == ArticleRow.pmid,
        AssessmentRow.content_hash == ArticleRow.content_hash,
        AssessmentRow.ruleset_version == ruleset_version,
    )
    stmt = (
        sa.select(ArticleRow)
        .where(ArticleRow.deleted.is_(False), ~done)
        .order_by(ArticleRow.last_changed, ArticleRow.pmid)
        .limit(limit)
    )
    return _hydrate(s, list(s.scalars(stmt)))


def _assessment(r: AssessmentRow) -> Assessment:
    return Assessment(
        pmid=r.pmid,
        verdict=r.verdict,
        design=r.design,
        population=r.population,  # type: ignore[arg-type]
        condition=r.condition,
        reasons=tuple(r.reasons),
        ruleset_version=r.ruleset_version,
        record_version=r.record_version,
        content_hash=r.content_hash,
        interventions=tuple(r.interventions),
        claims=tuple(r.claims),
        sample_size=r.sample_size,
        follow_up_months=r.follow_up_months,
        cited_study=r.cited_study,
    )


# --- cited studies ------------------------------------------------------------------------------------------


def save_cited_check(s: Session, status: CitedStudyStatus, run_id: int | None) -> None:
    """Record one check; the stored content hash of its PMID (if stored) says which content was checked."""
    content_hash = None
    if status.pmid:
        content_hash = s.scalar(sa.select(ArticleRow.content_hash).where(ArticleRow.pmid == status.pmid))
    s.add(
        CitedCheckRow(
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


def latest_cited_checks(s: Session) -> list[CitedStudyStatus]:
    """The newest check of each cited study, by study id."""
    newest = (
        sa.select(CitedCheckRow.study_id, sa.func.max(CitedCheckRow.id).label("id"))
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
        )
        for r in rows
    ]


__all__ = [
    "DigestRecord",
    "QueryHealth",
    "UpsertCounts",
    "article_history",
    "articles_needing_assessment",
    "assessment_history",
    "changed_between",
    "finish_query_run",
    "finish_run",
    "get_article",
    "get_articles",
    "get_run",
    "get_watermark",
    "last_digest",
    "latest_assessment",
    "latest_cited_checks",
    "list_runs",
    "mark_deleted",
    "mark_digest_failed",
    "mark_digest_sent",
    "query_stats",
    "record_digest",
    "record_hits",
    "save_assessment",
    "save_assessments",
    "save_cited_check",
    "sent_item_keys",
    "set_watermark",
    "completed_slices",
    "mark_slice_complete",
    "start_query_run",
    "start_run",
    "unsent_digests",
    "upsert_articles",
]
