"""Digest bookkeeping: which digests were written, sent or failed, and which items they held — one digest per
watched article (`article`: its slug), so each article's period and "already sent" items are its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .schema import DigestRow


@dataclass(frozen=True)
class DigestRecord:
    """One digest as recorded: where its files went, whether and to whom it was sent, which items it held."""

    id: int
    article: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    paths: dict[str, str]
    item_keys: tuple[tuple[str, str], ...]
    sent_at: datetime | None = None
    recipients: tuple[str, ...] = ()
    error: str | None = None


def record_digest(
    s: Session,
    *,
    article: str,
    period_start: datetime,
    period_end: datetime,
    created_at: datetime,
    paths: dict[str, str],
    item_keys: Sequence[tuple[str, str]],
) -> int:
    row = DigestRow(
        article=article,
        period_start=period_start,
        period_end=period_end,
        created_at=created_at,
        paths=dict(paths),
        recipients=[],
        item_keys=[list(k) for k in item_keys],
    )
    s.add(row)
    s.flush()
    return row.id


def mark_digest_sent(s: Session, digest_id: int, sent_at: datetime, recipients: Sequence[str]) -> None:
    _update_digest(s, digest_id, sent_at=sent_at, recipients=list(recipients), error=None)


def mark_digest_failed(s: Session, digest_id: int, error: str) -> None:
    _update_digest(s, digest_id, error=error)


def unsent_digests(s: Session, article: str | None = None) -> list[DigestRecord]:
    """Digests written but not (yet) delivered (of one article, or of all), oldest first: the next send
    retries them."""
    stmt = sa.select(DigestRow).where(DigestRow.sent_at.is_(None))
    if article is not None:
        stmt = stmt.where(DigestRow.article == article)
    return [_digest(r) for r in s.scalars(stmt.order_by(DigestRow.created_at, DigestRow.id))]


def last_digest(s: Session, sent_only: bool = False, article: str | None = None) -> DigestRecord | None:
    """The newest digest (by creation; with `sent_only`, the most recently sent one) of one article, or of any."""
    stmt = sa.select(DigestRow)
    if article is not None:
        stmt = stmt.where(DigestRow.article == article)
    if sent_only:
        stmt = stmt.where(DigestRow.sent_at.is_not(None)).order_by(
            DigestRow.sent_at.desc(), DigestRow.id.desc()
        )
    else:
        stmt = stmt.order_by(DigestRow.created_at.desc(), DigestRow.id.desc())
    row = s.scalars(stmt.limit(1)).first()
    return None if row is None else _digest(row)


def sent_item_keys(s: Session, article: str) -> set[tuple[str, str]]:
    """(pmid, content hash) of every item in a sent digest of this article: those are not repeated (another
    article's digest may well carry the same record — it means something else there)."""
    keys: set[tuple[str, str]] = set()
    sent = sa.select(DigestRow.item_keys).where(DigestRow.sent_at.is_not(None), DigestRow.article == article)
    for item_keys in s.scalars(sent):
        keys.update((str(p), str(h)) for p, h in item_keys)
    return keys


def _update_digest(s: Session, digest_id: int, **values: Any) -> None:
    result = s.execute(
        sa.update(DigestRow)
        .where(DigestRow.id == digest_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        raise KeyError(f"no digest {digest_id}")


def _digest(r: DigestRow) -> DigestRecord:
    return DigestRecord(
        id=r.id,
        article=r.article,
        period_start=r.period_start,
        period_end=r.period_end,
        created_at=r.created_at,
        paths=dict(r.paths),
        item_keys=tuple((str(p), str(h)) for p, h in r.item_keys),
        sent_at=r.sent_at,
        recipients=tuple(r.recipients or ()),
        error=r.error,
    )


__all__ = [
    "DigestRecord",
    "last_digest",
    "mark_digest_failed",
    "mark_digest_sent",
    "record_digest",
    "sent_item_keys",
    "unsent_digests",
]
