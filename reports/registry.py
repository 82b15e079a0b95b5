"""The digest's "Trial registry" section: ClinicalTrials.gov events of one period, worded for a writer. Pure.

Input is the stored events as plain dicts (`RegistryEventRecord.to_dict()` plus the trial's title from its
newest snapshot): reports reads no storage module but `records`. Everything here came from the registry, so every
string is data: cleaned of invisible characters here, escaped by the renderers (HTML/Atom autoescape, `md`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .links import NCT_ID, nct_url
from .sanitize import clean_text
from .text import shorten

_STATUS = re.compile(r"[A-Z]+(?:_[A-Z]+)*")  # the registry's enum spelling of a status
TITLE_LIMIT = 120  # characters of a trial's title on its line
VERDICT_ORDER = {"update": 0, "review": 1, "fyi": 2}
VERDICT_WORDS = {"update": "action", "review": "worth a look", "fyi": "for awareness"}
# The event in a writer's words (the same wording as pipeline.assess.registry; reports may not import it).
EVENT_WORDS = {
    "new-registration": "New trial registered",
    "status-change": "Status changed",
    "results-posted": "Results posted",
    "completion-passed": "Estimated primary completion date passed, trial still open",
    "enrollment-final": "Enrolment final",
    "linked-publication": "New publication linked",
    "retraction": "The registry lists a retraction of a linked paper",
    "disappeared": "No longer in the registry",
    "moved": "Registration merged into another NCT id",
}


@dataclass(frozen=True)
class RegistryEventView:
    """One registry event as the digest shows it: "Results posted — NCT02097862 (title): – → 2025-11-20"."""

    nct_id: str
    event: str  # the stored kind: results-posted, status-change, …
    key: str  # with the trial and the kind, names the event once and for all (the Atom entry id)
    words: str  # "Results posted"
    title: str  # the trial's brief title ("" when not known)
    before: str  # "" when there was nothing before (a first sight, results posted)
    after: str
    change: str  # "recruiting → active, not recruiting", "2025-11-20", "" when nothing to say
    verdict: str  # update | review | fyi
    verdict_words: str  # "action", "worth a look", "for awareness"
    reason: str
    note: str  # why the trial stopped, the first-posted date, the retracted PMID's source…
    url: str | None  # https://clinicaltrials.gov/study/<NCT id>; None for an id that is not one
    anchor: str
    created_at: str | None
    raw_from: str | None = None  # the registry's own value ("RECRUITING"), for the JSON digest
    raw_to: str | None = None

    @property
    def action(self) -> bool:
        return self.verdict == "update"

    @property
    def line(self) -> str:
        """The event in one line of plain text (the action list, the Atom summary)."""
        trial = f"{self.nct_id} ({shorten(self.title, 80)})" if self.title else self.nct_id
        return f"{self.words} — {trial}" + (f": {self.change}" if self.change else "")

    def to_json(self) -> dict[str, Any]:
        """The JSON digest's `registry_events` entry: {nct_id, event, from, to, verdict, …}."""
        return {"nct_id": self.nct_id, "event": self.event, "from": self.raw_from, "to": self.raw_to,
                "verdict": self.verdict, "reason": self.reason, "words": self.words, "title": self.title,
                "change": self.change, "note": self.note, "url": self.url, "created_at": self.created_at}


def registry_views(events: Sequence[Mapping[str, Any]]) -> tuple[RegistryEventView, ...]:
    """Actions first, then worth a look, then awareness; within each, in the order they were recorded."""
    views = [_view(e, i) for i, e in enumerate(events)]
    return tuple(sorted(views, key=lambda v: VERDICT_ORDER.get(v.verdict, 3)))


def _view(e: Mapping[str, Any], index: int) -> RegistryEventView:
    nct = clean_text(str(e.get("nct_id") or ""))
    kind = clean_text(str(e.get("event") or ""))
    before, after = _state(e.get("from")), _state(e.get("to"))
    verdict = clean_text(str(e.get("verdict") or "fyi"))
    detail = e.get("detail") if isinstance(e.get("detail"), Mapping) else {}
    return RegistryEventView(
        nct_id=nct, event=kind, key=clean_text(str(e.get("key") or "")),
        words=EVENT_WORDS.get(kind, kind.replace("-", " ").capitalize()),
        title=shorten(clean_text(str(e.get("title") or detail.get("title") or "")), TITLE_LIMIT),
        before=before, after=after, change=_change(kind, before, after), verdict=verdict,
        verdict_words=VERDICT_WORDS.get(verdict, verdict), reason=clean_text(str(e.get("reason") or "")),
        note=_note(kind, detail), url=nct_url(nct) if NCT_ID.fullmatch(nct) else None,
        anchor=f"trial-{index + 1}", created_at=e.get("created_at"),
        raw_from=None if e.get("from") is None else clean_text(str(e["from"])),
        raw_to=None if e.get("to") is None else clean_text(str(e["to"])),
    )


def _state(value: Any) -> str:
    """A registry value in words: "ACTIVE_NOT_RECRUITING" → "active, not recruiting"; dates and ids as they are."""
    text = clean_text(str(value)) if value is not None else ""
    if _STATUS.fullmatch(text):
        text = text.replace("ACTIVE_NOT_RECRUITING", "ACTIVE, NOT RECRUITING").replace("_", " ").lower()
    return text


def _change(kind: str, before: str, after: str) -> str:
    if kind == "results-posted":
        return f"results first posted {after}" if after else ""
    if kind in ("linked-publication", "retraction"):
        return f"PMID {after}" if after else ""
    if kind == "completion-passed":
        return f"primary completion {before}, status still {after}"
    if before and after:
        return f"{before} → {after}"
    if after:
        return f"– → {after}"
    return f"{before} → –" if before else ""


def _note(kind: str, detail: Mapping[str, Any]) -> str:
    parts = []
    if detail.get("why_stopped"):
        parts.append(f"why stopped: {clean_text(str(detail['why_stopped']))}")
    if kind == "new-registration" and detail.get("first_posted"):
        parts.append(f"first posted {clean_text(str(detail['first_posted']))}")
    if kind == "retraction" and detail.get("source"):
        parts.append(f"source: {clean_text(str(detail['source']))}")
    if detail.get("in_pubmed_store"):
        parts.append("its PubMed record is stored")
    return shorten("; ".join(parts), 300)


__all__ = ["EVENT_WORDS", "RegistryEventView", "registry_views"]
