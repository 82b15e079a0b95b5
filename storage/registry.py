"""Repository functions of the trial registry: study snapshots (the newest in `registry_studies`, every distinct
one in `registry_versions`), registry events per watched article (insert-if-absent: once and only once), the
PMIDs a study links (both ways: trial → papers, paper → trials, and which of them PubMed records we hold) and
merged NCT ids. Each takes a `Session`; callers own the transaction. A snapshot is a JSON dict this layer does
not interpret (pipeline.registry.study makes it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .bulk import aware, insert_ignore
from .records import canonical_hash
from .schema import (
    ArticleRow,
    RegistryAliasRow,
    RegistryEventRow,
    RegistryLinkRow,
    RegistryStudyRow,
    RegistryVersionRow,
)


@dataclass(frozen=True)
class SnapshotResult:
    """What storing one snapshot did: the snapshot before it (None: first sight) and whether it is new content."""

    previous: dict[str, Any] | None
    changed: bool
    version: int


@dataclass(frozen=True)
class RegistryEventRecord:
    """One registry event for one article, as stored (and as the digest lists it)."""

    article: str
    nct_id: str
    kind: str
    key: str
    before: str | None
    after: str | None
    verdict: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON digest's shape: {nct_id, event, from, to, verdict, reason, …}."""
        return {"nct_id": self.nct_id, "event": self.kind, "from": self.before, "to": self.after,
                "verdict": self.verdict, "reason": self.reason, "key": self.key, "detail": dict(self.detail),
                "created_at": self.created_at.isoformat() if self.created_at else None}


def get_snapshot(s: Session, nct_id: str) -> dict[str, Any] | None:
    row = s.get(RegistryStudyRow, nct_id)
    return dict(row.summary) if row is not None else None


def store_snapshot(s: Session, summary: dict[str, Any], seen_at: datetime, run_id: int | None) -> SnapshotResult:
    """Keep `summary` as the study's newest snapshot (a new version only when its content differs), and its
    linked PMIDs. A study seen again after a 404 is no longer gone."""
    nct_id = summary["nct_id"]
    digest = canonical_hash(summary)
    row = s.get(RegistryStudyRow, nct_id, with_for_update=True)
    previous = dict(row.summary) if row is not None else None
    if row is None:
        row = RegistryStudyRow(nct_id=nct_id, version=1, content_hash=digest, summary=summary, first_seen_at=seen_at,
                               last_seen_at=seen_at, gone_since=None)
        s.add(row)
        changed = True
    else:
        changed = row.content_hash != digest
        row.last_seen_at, row.gone_since = seen_at, None
        if changed:
            row.version, row.content_hash, row.summary = row.version + 1, digest, summary
    if changed:
        s.add(RegistryVersionRow(nct_id=nct_id, version=row.version, summary=summary, seen_at=seen_at, run_id=run_id))
    _link(s, nct_id, summary.get("references") or [], seen_at)
    s.flush()
    return SnapshotResult(previous, changed, row.version)


def mark_gone(s: Session, nct_id: str, seen_at: datetime) -> dict[str, Any] | None:
    """The registry answered 404 for a study: note since when; returns its last snapshot (None: never seen)."""
    row = s.get(RegistryStudyRow, nct_id, with_for_update=True)
    if row is None:
        return None
    if row.gone_since is None:
        row.gone_since = seen_at
    s.flush()
    return dict(row.summary)


def snapshot_versions(s: Session, nct_id: str) -> list[dict[str, Any]]:
    rows = s.scalars(sa.select(RegistryVersionRow).where(RegistryVersionRow.nct_id == nct_id)
                     .order_by(RegistryVersionRow.version))
    return [dict(r.summary) for r in rows]


def record_alias(s: Session, alias: str, nct_id: str, at: datetime) -> None:
    s.execute(insert_ignore(s, RegistryAliasRow, ["alias"]).values(alias=alias, nct_id=nct_id, recorded_at=at))


def aliases(s: Session) -> dict[str, str]:
    return {r.alias: r.nct_id for r in s.scalars(sa.select(RegistryAliasRow))}


def save_registry_events(s: Session, events: Sequence[RegistryEventRecord], run_id: int | None,
                         at: datetime) -> list[RegistryEventRecord]:
    """Store the events not stored before (same article, trial, kind and key); returns those that were new."""
    new: list[RegistryEventRecord] = []
    for e in events:
        result = s.execute(insert_ignore(s, RegistryEventRow, ["article", "nct_id", "kind", "key"]).values(
            article=e.article, nct_id=e.nct_id, kind=e.kind, key=e.key, before=e.before, after=e.after,
            detail=e.detail, verdict=e.verdict, reason=e.reason, created_at=at, run_id=run_id,
        ))
        if result.rowcount:
            new.append(e)
    return new


def registry_events(s: Session, article: str, since: datetime | None = None,
                    until: datetime | None = None) -> list[RegistryEventRecord]:
    """The article's registry events recorded in [since, until), oldest first."""
    query = sa.select(RegistryEventRow).where(RegistryEventRow.article == article)
    if since is not None:
        query = query.where(RegistryEventRow.created_at >= since)
    if until is not None:
        query = query.where(RegistryEventRow.created_at < until)
    rows = s.scalars(query.order_by(RegistryEventRow.created_at, RegistryEventRow.id))
    return [RegistryEventRecord(r.article, r.nct_id, r.kind, r.key, r.before, r.after, r.verdict, r.reason,
                                dict(r.detail), aware(r.created_at), r.run_id) for r in rows]


def pmids_for_trial(s: Session, nct_id: str) -> list[str]:
    return list(s.scalars(sa.select(RegistryLinkRow.pmid).where(RegistryLinkRow.nct_id == nct_id)
                          .order_by(RegistryLinkRow.pmid)))


def trials_for_pmid(s: Session, pmid: str) -> list[str]:
    """The registry studies listing `pmid` in their references (the paper → trial direction)."""
    return list(s.scalars(sa.select(RegistryLinkRow.nct_id).where(RegistryLinkRow.pmid == pmid)
                          .order_by(RegistryLinkRow.nct_id)))


def stored_pmids(s: Session, pmids: Iterable[str]) -> set[str]:
    """Which of `pmids` are PubMed records we hold."""
    wanted = sorted(set(pmids))
    if not wanted:
        return set()
    return set(s.scalars(sa.select(ArticleRow.pmid).where(ArticleRow.pmid.in_(wanted))))


def _link(s: Session, nct_id: str, references: Iterable[dict[str, Any]], at: datetime) -> None:
    for ref in references:
        s.execute(insert_ignore(s, RegistryLinkRow, ["nct_id", "pmid"]).values(
            nct_id=nct_id, pmid=str(ref["pmid"]), ref_type=ref.get("type"), first_seen_at=at))


__all__ = [
    "RegistryEventRecord", "SnapshotResult", "aliases", "get_snapshot", "mark_gone", "pmids_for_trial",
    "record_alias", "registry_events", "save_registry_events", "snapshot_versions", "store_snapshot",
    "stored_pmids", "trials_for_pmid",
]
