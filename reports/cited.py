"""The studies the watched article cites, as a digest shows them: worst status first. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from litwatch.storage.records import CitedStudyStatus

from .links import pubmed_url
from .sanitize import clean_text

CITED_STATUS_LABELS: Mapping[str, str] = {
    "unchanged": "Unchanged",
    "changed": "Record changed",
    "corrected": "Corrected (erratum)",
    "retracted": "Retracted",
    "concern": "Expression of concern",
    "mismatch": "Citation mismatch",
    "not-found": "Not found in PubMed",
    "new": "Newly tracked",
}
# Worst first. "new" only means we started tracking the study: nothing for a writer to do.
CITED_SEVERITY: tuple[str, ...] = ("retracted", "concern", "corrected", "mismatch", "changed", "not-found")


@dataclass(frozen=True)
class CitedView:
    study_id: str
    label: str
    pmid: str | None
    pubmed_url: str | None
    status: str
    status_label: str
    notes: tuple[str, ...]
    checked_at: datetime | None
    needs_action: bool


def cited_views(cited: Sequence[CitedStudyStatus]) -> tuple[CitedView, ...]:
    """Every cited study, by id (the "Cited studies" table)."""
    return tuple(_view(c) for c in sorted(cited, key=lambda c: c.study_id))


def cited_alerts(views: Sequence[CitedView]) -> tuple[CitedView, ...]:
    """The cited studies a writer must act on, worst first (they open "Action needed")."""
    return tuple(sorted((c for c in views if c.needs_action), key=lambda c: CITED_SEVERITY.index(c.status)))


def _view(c: CitedStudyStatus) -> CitedView:
    return CitedView(
        study_id=c.study_id,
        label=clean_text(c.label),
        pmid=c.pmid,
        pubmed_url=pubmed_url(c.pmid) if c.pmid else None,
        status=c.status,
        status_label=CITED_STATUS_LABELS.get(c.status, c.status),
        notes=tuple(clean_text(n) for n in c.notes),
        checked_at=c.checked_at,
        needs_action=c.status in CITED_SEVERITY,
    )


__all__ = ["CITED_SEVERITY", "CITED_STATUS_LABELS", "CitedView", "cited_alerts", "cited_views"]
