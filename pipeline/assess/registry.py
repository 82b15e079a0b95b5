"""Verdicts for trial-registry events, like a paper's: what an editor should do about a change in a trial.

A trial the article cites or follows is the article's own evidence: its results posted, its status changed,
its linked paper retracted or the trial gone from the registry → `update` (act). A trial it follows passing its
completion date, closing enrolment or linking a paper → `review`. A trial its registry searches merely found:
a new registration of a watched therapy → `review` (worth a look); its other changes → `fyi`.
"""

from __future__ import annotations

_FOLLOWED_UPDATE = {"results-posted", "status-change", "retraction", "disappeared"}
_WORDS = {
    "new-registration": "new trial registered",
    "status-change": "status changed",
    "results-posted": "results posted",
    "completion-passed": "estimated primary completion date passed while the trial is still open",
    "enrollment-final": "enrolment final",
    "linked-publication": "new publication linked",
    "retraction": "the registry lists a retraction of a linked paper",
    "disappeared": "no longer in the registry",
    "moved": "registration merged into another NCT id",
}


def registry_verdict(kind: str, followed: bool) -> tuple[str, str]:
    """(verdict, reason) for one registry event; `followed`: the article cites or follows the trial."""
    what = _WORDS.get(kind, kind)
    if followed:
        verdict = "update" if kind in _FOLLOWED_UPDATE else "review"
        return verdict, f"{what} — a trial the article cites or follows"
    if kind == "new-registration":
        return "review", f"{what} — found by the article's registry search"
    return "fyi", f"{what} — a trial the article's registry search found"


def describe_event(kind: str) -> str:
    return _WORDS.get(kind, kind)
