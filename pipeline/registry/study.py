"""What a snapshot keeps of a ClinicalTrials.gov v2 study: the fields registry events are computed from, as a
JSON-able dict (stored as is, diffed by `events`). Unknown keys in the study are ignored (real answers carry
keys the API does not document, e.g. mcode's `locations_nested`).

Registry dates are "YYYY-MM-DD" or month-only "YYYY-MM" (old records, estimates), with a `type` ACTUAL or
ESTIMATED, or none at all; `RegistryDate` keeps them as written and answers "has it passed?" by the period's end.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

# Statuses under which a trial is still running: a primary completion date in the past is then news.
OPEN_STATUSES = frozenset({"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING"})
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


@dataclass(frozen=True)
class RegistryDate:
    """A registry date as written: day or month precision, ACTUAL / ESTIMATED / untyped."""

    text: str
    type: str | None = None

    @classmethod
    def from_struct(cls, struct: Any) -> RegistryDate | None:
        if not isinstance(struct, dict) or not isinstance(struct.get("date"), str):
            return None
        if _DATE_RE.match(struct["date"]) is None:
            return None
        kind = struct.get("type")
        return cls(struct["date"], kind if isinstance(kind, str) else None)

    @property
    def estimated(self) -> bool:
        return self.type == "ESTIMATED"

    def last_day(self) -> date:
        """The last day the date may stand for: "2026-06" is all of June, so it has passed only from July 1."""
        match = _DATE_RE.match(self.text)
        assert match is not None  # from_struct checked it
        year, month = int(match[1]), int(match[2])
        day = int(match[3]) if match[3] else calendar.monthrange(year, month)[1]
        return date(year, month, day)

    def passed(self, today: date) -> bool:
        return self.last_day() < today

    def to_dict(self) -> dict[str, str | None]:
        return {"date": self.text, "type": self.type}

    @classmethod
    def from_dict(cls, value: Any) -> RegistryDate | None:
        return cls.from_struct(value)

    def __str__(self) -> str:
        return f"{self.text} ({self.type.lower()})" if self.type else self.text


def summarize(study: dict[str, Any]) -> dict[str, Any]:
    """The snapshot of one study: every field an event is computed from, JSON-able, keys sorted by meaning."""
    protocol = _dict(study.get("protocolSection"))
    ident = _dict(protocol.get("identificationModule"))
    status = _dict(protocol.get("statusModule"))
    design = _dict(protocol.get("designModule"))
    refs = _dict(protocol.get("referencesModule"))
    enrollment = _dict(design.get("enrollmentInfo"))
    results_posted = RegistryDate.from_struct(status.get("resultsFirstPostDateStruct"))
    return {
        "nct_id": str(ident.get("nctId", "")),
        "title": str(ident.get("briefTitle") or ident.get("officialTitle") or ""),
        "acronym": ident.get("acronym"),
        "status": status.get("overallStatus"),
        "why_stopped": status.get("whyStopped"),
        "has_results": bool(study.get("hasResults")) or results_posted is not None,
        "results_first_posted": results_posted.text if results_posted else None,
        "first_posted": _date_text(status.get("studyFirstPostDateStruct")),
        "last_update_posted": _date_text(status.get("lastUpdatePostDateStruct")),
        "primary_completion": _date_dict(status.get("primaryCompletionDateStruct")),
        "completion": _date_dict(status.get("completionDateStruct")),
        "enrollment": {"count": enrollment.get("count"), "type": enrollment.get("type")} if enrollment else None,
        "references": sorted(
            ({"pmid": str(r["pmid"]), "type": r.get("type")} for r in _list(refs.get("references"))
             if isinstance(r, dict) and r.get("pmid")),
            key=lambda r: r["pmid"],
        ),
        "retractions": sorted(
            ({"pmid": str(r["pmid"]), "source": r.get("source")} for r in _list(refs.get("retractions"))
             if isinstance(r, dict) and r.get("pmid")),
            key=lambda r: r["pmid"],
        ),
        "conditions": [str(c) for c in _list(_dict(protocol.get("conditionsModule")).get("conditions"))],
        "interventions": [str(i.get("name")) for i in _list(_dict(protocol.get("armsInterventionsModule"))
                                                             .get("interventions")) if isinstance(i, dict)],
    }


def study_nct_id(study: dict[str, Any]) -> str:
    return str(_dict(_dict(study.get("protocolSection")).get("identificationModule")).get("nctId", ""))


def _date_text(struct: Any) -> str | None:
    parsed = RegistryDate.from_struct(struct)
    return parsed.text if parsed else None


def _date_dict(struct: Any) -> dict[str, str | None] | None:
    parsed = RegistryDate.from_struct(struct)
    return parsed.to_dict() if parsed else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
