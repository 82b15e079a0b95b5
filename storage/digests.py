"""Digest bookkeeping: which digests were written, sent or failed, and which items they held."""

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
    period_start: datetime,
    period_end: datetime,
    created_at: datetime,
    paths: dict[str, str],
    item_keys: Sequence[tuple[str, str]],
) -> int:
    row = DigestRow(
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


def unsent_digests(s: Session) -> list[DigestRecord]:
    """Digests written but not (yet) delivered, oldest first: the next send retries them."""
    rows = s.scalars(
        sa.select(DigestRow).where(DigestRow.sent_at.is_(None)).order_by(DigestRow.created_at, DigestRow.id)
    )
    return [_digest(r) for r in rows]


def last_digest(s: Session, sent_only: bool = False) -> DigestRecord | None:
    """The newest digest (by creation; with `sent_only`, the most recently sent one)."""
    stmt = sa.select(DigestRow)
    if sent_only:
        stmt = stmt.where(DigestRow.sent_at.is_not(None)).order_by(
            DigestRow.sent_at.desc(), DigestRow.id.desc()
        )
    else:
        stmt = stmt.order_by(DigestRow.created_at.desc(), DigestRow.id.desc())
    row = s.scalars(stmt.limit(1)).first()
    return None if row is None else _digest(row)


def sent_item_keys(s: Session) -> set[tuple[str, str]]:
    """(pmid, content hash) of every item in a digest that was sent: those are not repeated."""
    keys: set[tuple[str, str]] = set()
    for item_keys in s.scalars(sa.select(DigestRow.item_keys).where(DigestRow.sent_at.is_not(None))):
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
