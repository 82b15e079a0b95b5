"""Registry events from two snapshots of one study (`study.summarize` dicts): pure, no I/O, no judgement.

Transitions need the previous snapshot (a first sight is the baseline, never a change): status change (with
`whyStopped`), results posted, enrollment final, new linked publication. States are checked on every snapshot,
so a trial that has not changed is still caught: completion date passed (an ESTIMATED primary completion date
whose period has ended while the status is still open), a retraction the registry lists on a linked PMID, and a
new registration (first seen, first posted on or after `new_since`). Each event carries a `key` that, with the
trial and the kind, names it once and for all: storing events is insert-if-absent, so the same fact seen on
every run is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .study import OPEN_STATUSES, RegistryDate

NEW_REGISTRATION = "new-registration"
STATUS_CHANGE = "status-change"
RESULTS_POSTED = "results-posted"
COMPLETION_PASSED = "completion-passed"
ENROLLMENT_FINAL = "enrollment-final"
LINKED_PUBLICATION = "linked-publication"
RETRACTION = "retraction"
DISAPPEARED = "disappeared"
MOVED = "moved"
EVENT_KINDS = (NEW_REGISTRATION, STATUS_CHANGE, RESULTS_POSTED, COMPLETION_PASSED, ENROLLMENT_FINAL,
               LINKED_PUBLICATION, RETRACTION, DISAPPEARED, MOVED)


@dataclass(frozen=True)
class RegistryEvent:
    nct_id: str
    kind: str
    key: str  # with (nct_id, kind): the identity that makes the event once-only
    before: str | None = None
    after: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def diff_snapshots(
    previous: dict[str, Any] | None, current: dict[str, Any], today: date, *, new_since: date | None = None
) -> list[RegistryEvent]:
    """The events `current` shows against `previous` (None: first sight), in a fixed order."""
    events = _first_sight(current, new_since) if previous is None else _transitions(previous, current)
    return events + _states(current, today)


def disappeared(nct_id: str, last: dict[str, Any] | None) -> RegistryEvent:
    """A followed trial the registry no longer returns (404): its last known status is `before`."""
    return RegistryEvent(nct_id, DISAPPEARED, "", (last or {}).get("status"), None,
                         {"title": (last or {}).get("title")})


def moved(alias: str, nct_id: str) -> RegistryEvent:
    """A followed NCT id the registry answers with another study (a merged alias, HTTP 301)."""
    return RegistryEvent(nct_id, MOVED, alias, alias, nct_id, {})


def _first_sight(current: dict[str, Any], new_since: date | None) -> list[RegistryEvent]:
    posted = current.get("first_posted")
    if new_since is None or not posted:
        return []
    first = RegistryDate(posted)
    if first.last_day() < new_since:
        return []
    return [RegistryEvent(current["nct_id"], NEW_REGISTRATION, "", None, current.get("status"),
                          {"first_posted": posted, "title": current.get("title")})]


def _transitions(previous: dict[str, Any], current: dict[str, Any]) -> list[RegistryEvent]:
    nct = current["nct_id"]
    events: list[RegistryEvent] = []
    before, after = previous.get("status"), current.get("status")
    if before != after:
        detail = {"why_stopped": current.get("why_stopped")} if current.get("why_stopped") else {}
        events.append(RegistryEvent(nct, STATUS_CHANGE, f"{before}->{after}", before, after, detail))
    if current.get("has_results") and not previous.get("has_results"):
        posted = current.get("results_first_posted")
        events.append(RegistryEvent(nct, RESULTS_POSTED, posted or "", None, posted, {}))
    old, new = previous.get("enrollment") or {}, current.get("enrollment") or {}
    if new.get("type") == "ACTUAL" and old.get("type") != "ACTUAL":
        events.append(RegistryEvent(nct, ENROLLMENT_FINAL, str(new.get("count")), _enrollment(old),
                                    _enrollment(new), {}))
    known = {r["pmid"] for r in previous.get("references") or []}
    for ref in current.get("references") or []:
        if ref["pmid"] not in known:
            events.append(RegistryEvent(nct, LINKED_PUBLICATION, ref["pmid"], None, ref["pmid"],
                                        {"type": ref.get("type")}))
    return events


def _states(current: dict[str, Any], today: date) -> list[RegistryEvent]:
    nct = current["nct_id"]
    events: list[RegistryEvent] = []
    primary = RegistryDate.from_dict(current.get("primary_completion"))
    if primary is not None and primary.estimated and primary.passed(today) and current.get("status") in OPEN_STATUSES:
        events.append(RegistryEvent(nct, COMPLETION_PASSED, primary.text, str(primary), current.get("status"),
                                    {"primary_completion": primary.text}))
    for retraction in current.get("retractions") or []:
        events.append(RegistryEvent(nct, RETRACTION, retraction["pmid"], None, retraction["pmid"],
                                    {"source": retraction.get("source")}))
    return events


def _enrollment(value: dict[str, Any]) -> str | None:
    if not value or value.get("count") is None:
        return None
    kind = value.get("type")
    return f"{value['count']} ({kind.lower()})" if isinstance(kind, str) else str(value["count"])
