"""Assessments: the verdicts stored per (watched article, record content, rule set), one bulk save per batch, and
their history. A verdict only means something for one article: the same RCT is `update` for the knee article and
`fyi` for the back-pain one, so every read names the article (or asks for all of them).

Re-exported by `storage.repository`, which callers use; `articles_needing_assessment` lives there, beside the
articles it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .bulk import chunks, insert_ignore
from .records import Assessment, ClaimStance, Finding, to_jsonable
from .schema import ArticleRow, AssessmentRow


def save_assessment(s: Session, a: Assessment, assessed_at: datetime) -> bool:
    """Store an assessment; False if this (article, pmid, content hash, rule set) was assessed already. An
    assessment without a content hash is taken to be of the stored content."""
    _require_article(a)
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
    had this (article, pmid, content hash, rule set) assessed already). Missing content hashes are the stored
    content's."""
    for a in assessments:
        _require_article(a)
    missing = [a.pmid for a in assessments if not a.content_hash]
    stored: dict[str, str] = {}
    for chunk in chunks(list(dict.fromkeys(missing))):
        query = sa.select(ArticleRow.pmid, ArticleRow.content_hash).where(ArticleRow.pmid.in_(chunk))
        stored.update((pmid, digest) for pmid, digest in s.execute(query))
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for a in assessments:  # the first of duplicates wins, as with one save_assessment call after another
        values = _assessment_values(a, a.content_hash or stored.get(a.pmid, ""), assessed_at)
        rows.setdefault((a.article, a.pmid, values["content_hash"], a.ruleset_version), values)
    done: set[tuple[str, str, str, str]] = set()
    for chunk in chunks(list({key[1] for key in rows})):
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


_ASSESSMENT_KEY = ("article", "pmid", "content_hash", "ruleset_version")


def _require_article(a: Assessment) -> None:
    if not a.article:  # a verdict stored without its article could never be read back for the right one
        raise ValueError(f"assessment of PMID {a.pmid} names no watched article")


def _assessment_values(a: Assessment, content_hash: str, assessed_at: datetime) -> dict[str, Any]:
    return {
        "article": a.article,
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
        "finding": to_jsonable(a.finding),
        "stances": to_jsonable(list(a.stances)),
    }


def latest_assessment(s: Session, pmid: str, article: str) -> Assessment | None:
    """The newest verdict on the record for one watched article."""
    row = s.scalars(
        sa.select(AssessmentRow)
        .where(AssessmentRow.pmid == pmid, AssessmentRow.article == article)
        .order_by(AssessmentRow.assessed_at.desc(), AssessmentRow.id.desc())
        .limit(1)
    ).first()
    return None if row is None else assessment_from_row(row)


def latest_assessments(s: Session, pmid: str) -> dict[str, Assessment]:
    """The newest verdict on the record for every article that judged it, by article slug (sorted)."""
    latest: dict[str, Assessment] = {}
    for row in s.scalars(
        sa.select(AssessmentRow).where(AssessmentRow.pmid == pmid).order_by(AssessmentRow.assessed_at, AssessmentRow.id)
    ):
        latest[row.article] = assessment_from_row(row)  # time order: the last one wins
    return dict(sorted(latest.items()))


def assessment_history(s: Session, pmid: str, article: str | None = None) -> list[Assessment]:
    """Every assessment of the record (for one article, or for all), oldest first."""
    query = sa.select(AssessmentRow).where(AssessmentRow.pmid == pmid)
    if article is not None:
        query = query.where(AssessmentRow.article == article)
    rows = s.scalars(query.order_by(AssessmentRow.assessed_at, AssessmentRow.id))
    return [assessment_from_row(r) for r in rows]


def assessment_from_row(r: AssessmentRow) -> Assessment:
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
        article=r.article,
        finding=Finding.from_dict(r.finding) if r.finding else None,
        stances=tuple(ClaimStance(**x) for x in r.stances or ()),
    )


__all__ = [
    "assessment_from_row", "assessment_history", "latest_assessment", "latest_assessments", "save_assessment",
    "save_assessments",
]
