"""The studies the watched article cites, as a digest shows them: worst status first. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from litwatch.storage.records import CitedStudyStatus

from .items import DigestItem
from .links import pubmed_url_or_none
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
    pubmed_url: str | None  # None without a PMID, or for a placeholder PMID
    status: str
    status_label: str
    notes: tuple[str, ...]
    checked_at: datetime | None
    needs_action: bool
    anchor: str  # the alert's id in the digest: the action list links here
    # Where the study links: PubMed, or its record's link when that is in the digest (a placeholder PMID's DOI).
    url: str | None = None
    # An alert's own record when it is in this digest: shown with the alert, and in no other section.
    record: DigestItem | None = None


def cited_views(cited: Sequence[CitedStudyStatus]) -> tuple[CitedView, ...]:
    """Every cited study, by id (the "Cited studies" table)."""
    return tuple(_view(c) for c in sorted(cited, key=lambda c: c.study_id))


def with_records(views: Sequence[CitedView], items: Mapping[str, DigestItem], attach: bool) -> tuple[CitedView, ...]:
    """Link each study to its record when that is in the digest; `attach`: carry the record too (alerts)."""
    def one(v: CitedView) -> CitedView:
        item = items.get(v.pmid or "")
        if item is None:
            return v
        return replace(v, url=item.url, record=item if attach else None)

    return tuple(one(v) for v in views)


def cited_alerts(views: Sequence[CitedView]) -> tuple[CitedView, ...]:
    """The cited studies a writer must act on, worst first (they open "Action needed")."""
    return tuple(sorted((c for c in views if c.needs_action), key=lambda c: CITED_SEVERITY.index(c.status)))


def _view(c: CitedStudyStatus) -> CitedView:
    return CitedView(
        study_id=c.study_id,
        label=clean_text(c.label),
        pmid=c.pmid,
        pubmed_url=pubmed_url_or_none(c.pmid),
        status=c.status,
        status_label=CITED_STATUS_LABELS.get(c.status, c.status),
        notes=tuple(clean_text(n) for n in c.notes),
        checked_at=c.checked_at,
        needs_action=c.status in CITED_SEVERITY,
        anchor="cited-" + re.sub(r"[^0-9A-Za-z_-]", "", c.study_id),
        url=pubmed_url_or_none(c.pmid),
    )


__all__ = ["CITED_SEVERITY", "CITED_STATUS_LABELS", "CitedView", "cited_alerts", "cited_views", "with_records"]
