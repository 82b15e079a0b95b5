"""What a paper's finding means for each claim of the watched article it touches (issue 12). Pure, topic-free.

supports / contradicts (the finding agrees with or opposes the direction the claim asserts: `expects` in
article.toml), extends (longer follow-up, a new trial of the kind, a new protocol: more of the same evidence),
outdates (a newer or larger synthesis than the one the claim cites, or numbers that differ from the claim's by 50 %
or more: the update triggers of Shojania 2007 / Ahmadzai 2013), unclear. Each with a one-line reason quoting the
claim's numbers or words and the paper's. Papers published before the article's last update say so.
"""

from __future__ import annotations

import re

from litwatch.storage.records import Article, ClaimStance, Finding, Outcome

from ..watchlist import CitedStudy, Claim, WatchedArticle
from .findings import sentences

_LONG_TERM_MONTHS = 12.0
_SIZE_KEYS = ("studies", "patients")
_AGAINST = {  # what a claim expects → the finding directions that oppose it
    "favours-treatment": {"no-difference", "favours-control"},
    "no-difference": {"favours-treatment"},  # only a controlled positive result opposes a null one
    "favours-control": {"favours-treatment"},
    "mixed": set(),
}
_AGREE = {
    "favours-treatment": {"favours-treatment"},
    "no-difference": {"no-difference", "mixed"},  # pain no better than sham (structure better) agrees
    "favours-control": {"favours-control"},
    "mixed": {"mixed", "no-difference", "favours-control"},
}
_HARM = re.compile(r"\b(serious|severe|major) (adverse|complication)", re.IGNORECASE)
_NO_HARM = re.compile(r"\bno (?:[\w-]+ ){0,4}(?:serious|severe|major|adverse|complication)|"
                      r"well[- ]tolerated|\bsafe\b|safety profile|transient and resolved", re.IGNORECASE)


def claim_stances(finding: Finding | None, claims: tuple[Claim, ...], profile: WatchedArticle, article: Article,
                  *, design: str, follow_up_months: float | None, cited: CitedStudy | None = None
                  ) -> tuple[ClaimStance, ...]:
    """One stance per claim the record touches (the claims `verdict` selected)."""
    if finding is None and not claims:
        return ()
    out = []
    for claim in claims:
        stance, reason = _stance(finding, claim, profile, article, design, follow_up_months, cited)
        # a study the article cites was considered, whenever it was published: asking would be noise
        note = "" if cited is not None else _predates(article, profile.last_updated)
        out.append(ClaimStance(claim=claim.id, stance=stance, reason=f"{reason}{note}"))
    return tuple(out)


def _stance(finding: Finding | None, claim: Claim, profile: WatchedArticle, article: Article, design: str,
            follow_up: float | None, cited: CitedStudy | None) -> tuple[str, str]:
    said = _claim_words(claim, profile)
    if cited is not None and cited.id in claim.cites:
        lead = said if claim.numbers else ""  # "article: cites X; this is X" would say it twice
        return "supports", f"{lead}this is the study the claim cites ({cited.label.split(' — ')[0]})"
    if finding is None:
        return "unclear", f"{said}this paper states no clinical finding"
    found = describe(finding)
    if finding.direction == "not-reported":
        if design == "protocol":
            return "extends", f"{said}a new trial is planned: {found}"
        if follow_up is not None and follow_up >= _LONG_TERM_MONTHS and "long-term" in claim.watch_for:
            return "extends", (f"{said}this paper: {follow_up:g} months of follow-up "
                               "(no result in the abstract)")
        if design == "rct" and "rct" in claim.watch_for and claim.cites:
            return "extends", f"{said}a new randomised trial of the cited kind (no result in the abstract)"
        return "unclear", f"{said}this paper: no result in the abstract ({found})"
    outdated = _outdates(finding, claim, profile, article, design)
    if outdated:
        return "outdates", f"{said}this paper: {outdated}"
    expects = claim.expects
    if expects == "safe":
        return _safety(finding, article, said, found)
    if expects in _AGAINST:
        if finding.direction in _AGAINST[expects] and (finding.controlled or expects == "favours-treatment"):
            return "contradicts", f"{said}this paper: {found}"
        if finding.direction in _AGREE[expects]:
            if expects == "favours-treatment" and finding.controlled is False:
                return "supports", f"{said}this paper (against baseline only): {found}"
            return "supports", f"{said}this paper: {found}"
    if follow_up is not None and follow_up >= _LONG_TERM_MONTHS:
        return "extends", f"{said}this paper: {follow_up:g} months of follow-up, {found}"
    if expects is None and design in ("rct", "meta-analysis", "systematic-review"):
        return "extends", f"{said}new evidence of the kind: {found}"
    if expects == "mixed" and finding.direction == "favours-treatment":
        return "extends", f"{said}one more positive result: {found}"
    return "unclear", f"{said}this paper: {found}"


def _safety(finding: Finding, article: Article, said: str, found: str) -> tuple[str, str]:
    text = " ".join([finding.statement, *(s.text for s in sentences(article) if s.part != "other")])
    if _NO_HARM.search(text):
        return "supports", f"{said}this paper: {found}"
    if _HARM.search(text):
        return "contradicts", f"{said}this paper reports harm: {found}"
    return "unclear", f"{said}this paper says nothing clear on safety: {found}"


def _outdates(finding: Finding, claim: Claim, profile: WatchedArticle, article: Article, design: str) -> str:
    """Why a synthesis outdates the claim: newer than the synthesis it cites and larger, or its numbers differ
    from the claim's by 50 % or more; "" when it does not."""
    if design not in ("meta-analysis", "systematic-review"):
        return ""
    numbers = dict(claim.numbers)
    cited_years = [s.year for s in profile.cited if s.id in claim.cites and s.year]
    newer = not cited_years or (article.pub_year is not None and article.pub_year > max(cited_years))
    larger = [f"{getattr(finding, key)} {key} (article: {numbers[key]:g})" for key in _SIZE_KEYS
              if key in numbers and getattr(finding, key) and getattr(finding, key) > numbers[key]]
    if newer and larger:
        return f"a newer, larger synthesis: {', '.join(larger)}; {describe(finding)}"
    differing = [f"{o.measure} {o.value} vs article {numbers[key]:g} (“{o.quote[:80]}”)"
                 for o in finding.outcomes if (key := o.measure.lower()) in numbers
                 and _differs(o, numbers[key])]
    if differing:
        return "numbers differ by 50 % or more: " + "; ".join(differing)
    return ""


def _differs(outcome: Outcome, claimed: float) -> bool:
    """The stated value differs from the claim's by 50 % or more (sizes compared: signs follow each text's
    wording). Only like with like: the same points scale, never an SMD or a percentage against points."""
    if outcome.unit not in ("", "points", "mean difference") or not claimed:
        return False
    try:
        value = float(outcome.value.replace("−", "-").replace("–", "-").replace("·", ".").replace(",", "."))
    except ValueError:
        return False
    return abs(abs(value) - abs(claimed)) / abs(claimed) >= 0.5


def describe(finding: Finding) -> str:
    """One line: direction, vs what, a few numbers with their measure, syntheses' size."""
    versus = {True: "vs control", False: "vs baseline", None: ""}[finding.controlled]
    parts = [" ".join(p for p in (finding.direction, versus) if p)]
    if finding.studies or finding.patients:
        parts.append("/".join(p for p in (f"{finding.studies} studies" if finding.studies else "",
                                          f"{finding.patients} patients" if finding.patients else "") if p))
    numbers = [f"{o.measure} {o.value}{' ' + o.unit if o.unit and o.unit != '%' else ''}"
               f"{' at ' + o.timepoint if o.timepoint else ''}" for o in finding.outcomes[:3]]
    if numbers:
        parts.append(", ".join(numbers))
    return "; ".join(parts)


def _claim_words(claim: Claim, profile: WatchedArticle) -> str:
    """"article: <the claim's numbers> (<whom it cites>); " — the lead of a reason. Without numbers the claim's
    label is not repeated (the digest line names the claim right before the reason); nothing to say → ""."""
    cites = [s.label.split(" — ")[0] for s in profile.cited if s.id in claim.cites]
    said = ""
    if claim.numbers:
        numbers = ", ".join(f"{_measure_name(k)} {v:g}" for k, v in claim.numbers if k not in _SIZE_KEYS)
        size = "/".join(f"{v:g} {k}" for k, v in claim.numbers if k in _SIZE_KEYS)
        said = " from ".join(p for p in (numbers, size) if p)
    if cites:
        said = f"{said} ({', '.join(cites)})" if said else f"cites {', '.join(cites)}"
    return f"article: {said}; " if said else ""


def _measure_name(key: str) -> str:
    """A claim's number key as a writer reads it: scales are acronyms (vas → VAS), words stay words
    (reoperation_pct → re-operation %)."""
    words = key.replace("_pct", " %").replace("_", " ")
    return words.upper() if len(key) <= 5 and key.isalpha() else words.replace("reoperation", "re-operation")


def _predates(article: Article, last_updated: str | None) -> str:
    """"; predates the article's last update (2025-10) — was it considered?" for an older paper."""
    if not last_updated or article.pub_year is None:
        return ""
    year = int(last_updated[:4])
    month = int(last_updated[5:7]) if len(last_updated) >= 7 else 12
    pub_month = _month(article.pub_date)
    before = article.pub_year < year or (article.pub_year == year and pub_month is not None and pub_month < month)
    return f"; predates the article's last update ({last_updated}) — was it considered?" if before else ""


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _month(pub_date: str) -> int | None:
    parts = pub_date.split()
    if len(parts) > 1 and parts[1][:3].lower() in _MONTHS:
        return _MONTHS.index(parts[1][:3].lower()) + 1
    return None


__all__ = ["claim_stances", "describe"]
