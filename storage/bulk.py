"""Small SQL helpers shared by the repository modules: chunked IN lists, INSERT-or-ignore on both backends, and
the fast canonical JSON form of a record (the hot path of every stored batch)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 500  # ids per IN list / rows per executemany: well under SQLite's and PostgreSQL's parameter limits
_T = TypeVar("_T")
_LEAVES = (str, int, float, type(None))
_EXACT_LEAVES = frozenset(_LEAVES) | {bool}
_FIELDS: dict[type, tuple[str, ...] | None] = {}


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


def jsonable(value: Any) -> Any:
    """Exactly `storage.records._to_jsonable` (so `jsonable(a) == a.to_dict()`), about 4x faster: the field names
    of each dataclass are looked up once, not per instance. A stored batch serialises every record once."""
    if isinstance(value, _LEAVES):
        return value
    if isinstance(value, tuple | list):
        return [v if type(v) is str else jsonable(v) for v in value]  # most lists are PMIDs, keywords, names
    if isinstance(value, datetime | date):
        return value.isoformat()
    cls = type(value)
    try:
        names = _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = (
            tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        )
    if names is None:
        return value
    out = {}
    for name in names:
        v = getattr(value, name)
        out[name] = v if type(v) in _EXACT_LEAVES else jsonable(v)
    return out


def canonical_hash(record: dict[str, Any]) -> str:
    """`Article.content_hash` computed from an already built `to_dict()` form (sha256 of the canonical JSON)."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
