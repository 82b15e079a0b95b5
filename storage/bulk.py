"""Small SQL helpers shared by the repository modules: chunked IN lists, INSERT-or-ignore on both backends, and
timezone-aware datetimes read back from SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 500  # ids per IN list / rows per executemany: well under SQLite's and PostgreSQL's parameter limits
_T = TypeVar("_T")


def insert_ignore(s: Session, model: type, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING on both backends (Core, on the table)."""
    name = s.get_bind().dialect.name
    insert = postgresql.insert if name == "postgresql" else sqlite.insert
    return insert(model.__table__).on_conflict_do_nothing(index_elements=keys)  # type: ignore[attr-defined]


def aware(value: datetime) -> datetime:
    """Naive datetimes are UTC by convention (see storage.schema.UTCDateTime)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def chunks(items: Sequence[_T], size: int = CHUNK) -> Iterable[Sequence[_T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
