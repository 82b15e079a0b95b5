"""A Crossref `works/{doi}` answer → `CrossrefWork`: the work's DOI, title and its update notices. Pure.

Crossref records an update on both ends: the updated work carries `updated-by` (one entry per notice: its DOI, type,
label, `source` and `updated` date), the notice carries `update-to` pointing back. Since 2025 the Retraction Watch
database is in the API as entries with `source: retraction-watch` (and a `record-id`); publishers' own Crossmark
deposits say `source: publisher`; records deposited before 2025 carry no source at all. Publishers spell the type
their own way ("Retraction", "expression-of-concern", "partial_retraction"): `canonical_kind` folds the variants.

Which entries are *about this work* (`CrossrefWork.notices`) is not simply `updated-by`:
- a work retracted in place names its own DOI in `update-to` (and maybe `updated-by`): that is about this work;
- publishers sometimes deposit a notice's link both ways, so the notice carries `updated-by` pointing at the paper
  it retracts and the paper carries `update-to` pointing at its notices. When a `publisher` entry of `updated-by`
  names a DOI that Retraction Watch lists in this work's `update-to` (Retraction Watch says: this work is the
  notice for that DOI), the entry is the deposit read backwards and is dropped. Otherwise it is kept: for a cited
  study a missed retraction costs more than a false alarm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

# Crossref's update types (and what publishers write for them) → one spelling each.
_ALIASES = {
    "retracted": "retraction",
    "partial_retracted": "partial_retraction",
    "withdrawn": "withdrawal",
    "removed": "removal",
    "corrigendum": "correction",
    "errata": "erratum",
    "concern": "expression_of_concern",
    "expression_of_concerns": "expression_of_concern",
}
KINDS = frozenset({
    "retraction", "partial_retraction", "removal", "withdrawal", "correction", "erratum", "expression_of_concern",
})

Direction = Literal["updated-by", "update-to"]


@dataclass(frozen=True)
class CrossrefUpdate:
    """One `updated-by`/`update-to` entry. `doi`: the other end (the notice for `updated-by`, the updated work for
    `update-to`). `kind`: canonical (see `KINDS`; other types are kept folded but unknown). `source`:
    "retraction-watch", "publisher", or "" (pre-2025 records)."""

    kind: str
    doi: str
    source: str
    date: date | None
    label: str
    direction: Direction = "updated-by"
    record_id: str | None = None


@dataclass(frozen=True)
class CrossrefWork:
    doi: str
    title: str
    updates: tuple[CrossrefUpdate, ...]  # every entry of both lists, as deposited

    @property
    def notices(self) -> tuple[CrossrefUpdate, ...]:
        """The updates *of this work* (see the module docstring), each once."""
        own = self.doi.lower()
        rw_targets = {u.doi.lower() for u in self.updates
                      if u.direction == "update-to" and u.source == "retraction-watch" and u.doi.lower() != own}
        kept: list[CrossrefUpdate] = []
        seen: set[tuple[str, str, str, date | None]] = set()
        for u in self.updates:
            if u.direction == "update-to" and u.doi.lower() != own:
                continue  # this work is the notice about another one
            if u.direction == "updated-by" and u.source == "publisher" and u.doi.lower() in rw_targets:
                continue  # the notice's link deposited backwards
            key = (u.kind, u.source, u.doi.lower(), u.date)
            if key not in seen:
                seen.add(key)
                kept.append(u)
        return tuple(kept)


def canonical_kind(raw: str) -> str:
    """'Retraction', 'expression-of-concern', 'Expression of Concern' → 'retraction', 'expression_of_concern'."""
    folded = re.sub(r"[\s\-]+", "_", raw.strip().lower())
    return _ALIASES.get(folded, folded)


def parse_work(data: dict[str, Any]) -> CrossrefWork:
    """A `works/{doi}` envelope (`{"status": "ok", "message": {...}}`) or a bare work object (a list's item)."""
    message = data.get("message") if isinstance(data.get("message"), dict) else data
    assert isinstance(message, dict)
    titles = message.get("title") or []
    updates = [
        _update(entry, direction)
        for direction in ("updated-by", "update-to")
        for entry in (message.get(direction) or [])
        if isinstance(entry, dict)
    ]
    return CrossrefWork(
        doi=str(message.get("DOI", "")),
        title=str(titles[0]) if isinstance(titles, list) and titles else "",
        updates=tuple(updates),
    )


def _update(entry: dict[str, Any], direction: Direction) -> CrossrefUpdate:
    raw_type = str(entry.get("type", ""))
    record_id = entry.get("record-id")
    return CrossrefUpdate(
        kind=canonical_kind(raw_type),
        doi=str(entry.get("DOI", "")),
        source=str(entry.get("source", "")).strip().lower(),
        date=_date(entry.get("updated")),
        label=str(entry.get("label") or raw_type),
        direction=direction,
        record_id=str(record_id) if record_id is not None else None,
    )


def _date(updated: Any) -> date | None:
    """`{"date-parts": [[2025, 3, 2]]}` → 2025-03-02; month- or year-only dates fall on the 1st."""
    try:
        parts = [int(p) for p in updated["date-parts"][0]]
        return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except (KeyError, IndexError, TypeError, ValueError):
        return None


__all__ = ["KINDS", "CrossrefUpdate", "CrossrefWork", "canonical_kind", "parse_work"]
