"""What a paper found and what it means for each claim of the article, worded for the card's first lines. Pure.

The assessment gives a `Finding` (direction, controlled, outcomes with their quotes) and one `ClaimStance` per
claim it touches; here they become "Found: …" (one line) and "For the article: …" (one line per claim), and the
JSON shapes the digest and `litwatch assess --json` share. Record text (quotes, statement, reasons) is cleaned
of invisible controls here and escaped by the templates: it is data, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litwatch.storage.records import STANCES, ClaimStance, Finding, Outcome

from .sanitize import clean_text

OUTCOMES_SHOWN = 3  # key numbers on the one "Found:" line; the JSON keeps every outcome

# direction → (vs a control, against baseline only, comparison unknown): the direction in words, saying vs what.
# Against baseline only, the line also says "no control group" after the time point: the weaker evidence.
_DIRECTION_WORDS: Mapping[str, tuple[str, str, str]] = {
    "favours-treatment": ("Better than control", "Improved from baseline", "Favours the treatment"),
    "no-difference": ("No difference from control", "No change from baseline", "No difference"),
    "favours-control": ("Worse than control", "Worse than baseline", "Favours the control"),
    "mixed": ("Mixed results vs control", "Mixed results vs baseline", "Mixed results"),
    "safety-only": ("Safety results only, vs control", "Safety results only", "Safety results only"),
    "not-reported": ("No results reported yet", "No results reported yet", "No results reported yet"),
}
# The stance as the first word of its line: "Outdates clinical evidence — meta-analysis paragraph: …".
STANCE_WORDS: Mapping[str, str] = {
    "contradicts": "Contradicts",
    "outdates": "Outdates",
    "extends": "Extends",
    "supports": "Supports",
    "unclear": "Unclear for",
}
URGENT_STANCES = frozenset({"contradicts", "outdates"})  # shown in red: the paragraph is likely wrong or stale


@dataclass(frozen=True)
class StanceLine:
    """One line under "For the article:"."""

    claim: str  # the claim's id in article.toml
    label: str  # the claim's label (its id when the digest was given none)
    stance: str  # one of STANCES
    word: str  # "Outdates"
    reason: str
    urgent: bool  # contradicts / outdates


def clean_finding(finding: Finding | None) -> Finding | None:
    """The finding with every record-derived string cleaned of invisible/bidi controls (the same hygiene as
    every other string of the digest); None stays None."""
    if finding is None:
        return None
    outcomes = tuple(
        Outcome(clean_text(o.measure), clean_text(o.value), clean_text(o.unit), clean_text(o.timepoint),
                clean_text(o.quote))
        for o in finding.outcomes
    )
    return Finding(finding.direction, finding.controlled, outcomes, clean_text(finding.statement),
                   finding.studies, finding.patients)


def found_line(finding: Finding | None) -> str:
    """"No difference from control at 6 months (VAS −1.2 points; ODI 3 %)"; "" when there is no finding."""
    if finding is None:
        return ""
    vs_control, vs_baseline, unknown = _DIRECTION_WORDS.get(
        finding.direction, (finding.direction,) * 3)
    words = vs_control if finding.controlled is True else vs_baseline if finding.controlled is False else unknown
    shown = finding.outcomes[:OUTCOMES_SHOWN]
    timepoints = {o.timepoint for o in shown}
    common = next(iter(timepoints)) if len(timepoints) == 1 else ""  # said once, after the direction
    numbers = [_outcome_words(o, with_timepoint=not common) for o in shown]
    if len(finding.outcomes) > OUTCOMES_SHOWN:
        numbers.append(f"+{len(finding.outcomes) - OUTCOMES_SHOWN} more")
    pooled = _pooled(finding.studies, finding.patients)
    if pooled:
        numbers.append(pooled)
    line = words + (f" at {common}" if common else "")
    if finding.controlled is False and finding.direction != "not-reported":
        line += ", no control group"
    return line + (f" ({'; '.join(numbers)})" if numbers else "")


def stance_lines(stances: Sequence[ClaimStance], claim_labels: Mapping[str, str]) -> tuple[StanceLine, ...]:
    """One line per claim, the most pressing stance first (STANCES order), then in the assessment's order."""
    ordered = sorted(stances, key=lambda s: stance_rank(s.stance))
    return tuple(
        StanceLine(
            claim=clean_text(s.claim),
            label=clean_text(claim_labels.get(s.claim, s.claim)),
            stance=s.stance,
            word=STANCE_WORDS.get(s.stance, clean_text(s.stance).capitalize()),
            reason=clean_text(s.reason),
            urgent=s.stance in URGENT_STANCES,
        )
        for s in ordered
    )


def stance_rank(stance: str) -> int:
    """Digest order: contradicts, outdates, extends, supports, unclear; an unknown word after those."""
    return STANCES.index(stance) if stance in STANCES else len(STANCES)


def item_stance_rank(stances: Iterable[str]) -> int:
    """A record ranks by its most pressing stance word; a record with none after every stance (and unknown
    words)."""
    return min((stance_rank(s) for s in stances), default=len(STANCES) + 1)


def finding_json(finding: Finding | None) -> dict[str, Any] | None:
    """{direction, controlled, outcomes[{measure, value, unit, timepoint, quote}], statement} (+ studies,
    patients for syntheses): what the JSON digest and `litwatch assess --json` carry."""
    if finding is None:
        return None
    return {
        "direction": finding.direction,
        "controlled": finding.controlled,
        "outcomes": [
            {"measure": o.measure, "value": o.value, "unit": o.unit, "timepoint": o.timepoint, "quote": o.quote}
            for o in finding.outcomes
        ],
        "statement": finding.statement,
        "studies": finding.studies,
        "patients": finding.patients,
    }


def stance_json(stances: Sequence[ClaimStance]) -> dict[str, dict[str, str]]:
    """{claim id: {stance, reason}}."""
    return {s.claim: {"stance": s.stance, "reason": s.reason} for s in stances}


def _outcome_words(o: Outcome, *, with_timepoint: bool) -> str:
    """"VAS −1.2 points"; a value in words reads before its measure: "no serious adverse events"."""
    parts = (o.measure, o.value, o.unit) if any(c.isdigit() for c in o.value) else (o.value, o.measure, o.unit)
    text = " ".join(p for p in parts if p)
    return text + (f" at {o.timepoint}" if with_timepoint and o.timepoint else "")


def _pooled(studies: int | None, patients: int | None) -> str:
    parts = []
    if studies:
        parts.append(f"{studies} stud{'y' if studies == 1 else 'ies'}")
    if patients:
        parts.append(f"{patients} patient{'' if patients == 1 else 's'}")
    return ", ".join(parts)


__all__ = [
    "STANCE_WORDS",
    "StanceLine",
    "clean_finding",
    "finding_json",
    "found_line",
    "item_stance_rank",
    "stance_json",
    "stance_lines",
    "stance_rank",
]
