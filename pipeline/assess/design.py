"""Study design of one PubMed record, from publication types (when informative) and the title/abstract text.

Order matters and encodes the traps of the field: notices before everything (a retraction notice of an RCT is
not an RCT); protocols before RCTs (a protocol's title says "randomised controlled trial"); the title before
the abstract (a case series' background cites "a recently published RCT"); explicit narrative-review titles
before systematic-search words; population last (animals "randomly divided" are preclinical, not an RCT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from litwatch.storage.records import Article

from .text import Guarded, Text, lc_pattern, quote

HUMAN_EVIDENCE = frozenset({"rct", "clinical-trial", "case-series", "case-report"})
SYNTHESIS = frozenset({"meta-analysis", "systematic-review"})
NOTICES = frozenset({"erratum", "retraction", "expression-of-concern"})

_PT_DESIGN: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"Retraction of Publication"}), "retraction"),
    (frozenset({"Published Erratum", "Correction"}), "erratum"),
    (frozenset({"Expression of Concern"}), "expression-of-concern"),
    (frozenset({"Clinical Trial Protocol"}), "protocol"),
    (frozenset({"Guideline", "Practice Guideline", "Consensus Development Conference",
                "Consensus Development Conference, NIH"}), "guideline"),
    (frozenset({"Meta-Analysis", "Network Meta-Analysis"}), "meta-analysis"),
    (frozenset({"Systematic Review"}), "systematic-review"),
    (frozenset({"Randomized Controlled Trial", "Pragmatic Clinical Trial", "Equivalence Trial"}), "rct"),
    (frozenset({"Case Reports"}), "case-report"),
    (frozenset({"Clinical Trial", "Clinical Trial, Phase I", "Clinical Trial, Phase II",
                "Clinical Trial, Phase III", "Clinical Trial, Phase IV", "Controlled Clinical Trial",
                "Observational Study", "Multicenter Study", "Clinical Study"}), "clinical-trial"),
    (frozenset({"Comment", "Editorial", "Letter", "News", "Interview"}), "comment"),
    (frozenset({"Review", "Scoping Review"}), "narrative-review"),
)

_NOTICE_TITLE = (
    (lc_pattern(r"^\s*(retraction(?: note| notice)?\b|notice of retraction|withdrawal notice)"),
     "retraction"),
    (lc_pattern(r"^\s*(erratum|correction|corrigendum|publisher correction|author correction)\b"),
     "erratum"),
    (lc_pattern(r"^\s*(editorial )?expression of concern"), "expression-of-concern"),
)
_NOTICE_ABSTRACT = Guarded(lc_pattern(
    r"\b(this article has been retracted|the (?:editor|editors|journal|publisher) (?:has|"
    r"have) (?:decided to )?"
    r"retract|following the publication of the above (?:paper|article)|we (?:hereby )?retract|"
    r"is hereby retracted)\b"), "retract", "following the publication")
_PROTOCOL_TITLE = lc_pattern(r"\b(protocol|design and rationale|trial design)\b")
_PROTOCOL_ABSTRACT = Guarded(lc_pattern(
    r"\b(will be (?:randomi[sz]ed|randomly|enrolled|recruited|allocated|assigned|included|followed)|"
    r"this (?:study |trial )?protocol|study protocol (?:for|of)|we will (?:recruit|enrol|randomi[sz]e|"
    r"conduct))"), "will be", "protocol", "we will")
_GUIDELINE_TITLE = lc_pattern(
    r"\b(guidelines?|consensus statement|position statement|expert consensus|recommendations (?:for|on|of)|"
    r"regulatory (?:framework|considerations|status|science)|practice advisory)\b")
_COMMENT_TITLE = lc_pattern(r"^\s*(re:|in reply|reply to|response to|comment(?:ary)? on|letter to|"
                            r"letter:|editorial\b)")
_NARRATIVE_TITLE = lc_pattern(
    r"\b(narrative review|critical review|comprehensive review|literature review|"
    r"review of (?:the )?literature|"
    r"overview|mini-?review|state of the art|current (?:progress|status|concepts|perspectives)|"
    r"recent advances|"
    r"perspectives?|an update|what (?:they|it) can)\b")
_MA_TITLE = lc_pattern(r"\bmeta-?analys[ie]s\b|\bmetaanalys")
_SR_TITLE = lc_pattern(r"\bsystematic (?:literature )?review\b|\bumbrella review\b|\bscoping review\b")
_MA_ABSTRACT = lc_pattern(
    r"\b(?:this|the present|our|we (?:conducted|performed|carried out) a|the) (?:systematic review and )?"
    r"meta-?analys[ie]s\b(?! of (?:previous|earlier))|\bpooled (?:risk ratios?|estimates?|analysis|mean)|"
    r"\brandom[- ]effects? model")
_SR_ABSTRACT = lc_pattern(
    r"\b(this systematic review|we (?:conducted|performed) a systematic|systematically searched|"
    r"(?:databases?|literature) (?:were|was) (?:systematically )?searched|prisma|prospero|"
    r"eligible studies|studies (?:were|was) included|included in (?:the |this )?(?:qualitative|quantitative) "
    r"synthesis|(?:searches|search) of (?:pubmed|medline|embase))\b")
_RCT_TITLE = lc_pattern(r"\brandomi[sz]ed\b|\brandomised\b|\brct\b")
_RCT_ABSTRACT = lc_pattern(
    r"\b((?:were|was) randomi[sz]ed|randomly (?:assigned|allocated)|randomi[sz]ed (?:in|"
    r"at) a (?:\d+:\d+ )?ratio|"
    r"randomi[sz]ed \d+:\d+|(?:this|a|the present|our) (?:prospective,? |multicent(?:er|re),? |"
    r"double-blind,? |"
    r"phase [\w/]+,? |sham-controlled,? |placebo-controlled,? )*randomi[sz]ed (?:controlled |clinical )?"
    r"(?:trial|study)|participants were randomi[sz]ed|this rct)\b")
_NONRANDOM = lc_pattern(
    r"\b(phase (?:i|1|ii|2|i/ii|1/2)(?:a|b)?\b(?! randomi)|pilot (?:study|trial)|single-arm|open-label|"
    r"non-?randomi[sz]ed|prospective(?:,? [\w-]+){0,2} (?:study|clinical|cohort|trial|observational|series)|"
    r"retrospective (?:analysis|study|review|cohort|chart|case)|cohort study|interims? analys[ie]s|"
    r"clinical series|case series|consecutive patients|first-in-human|feasibility (?:study|trial)|"
    r"(?:minimum|year|month)[\w -]{0,12} follow-?up)\b")
_CASE_REPORT = lc_pattern(
    r"\b(case reports?|case stud(?:y|ies)|report of (?:a|one|two|three|\d) cases?)\b")
_CASE_SERIES = lc_pattern(
    r"\b(case series|clinical series|retrospective (?:analysis|review|chart|case))\b")
_NARRATIVE_ABSTRACT = lc_pattern(
    r"\b(this (?:review|overview|paper|article) (?:focuses|summari[sz]es|describes|discusses|aims|highlights|"
    r"provides)|in this review|we (?:review|summari[sz]e|discuss) (?:the|recent|current)|this review|"
    r"we give an overview|provide an overview|the focus (?:of|on) this paper|literature (?:searches|"
    r"analysis) "
    r"(?:were|was) (?:conducted|performed))\b")
_REVIEW_WORD = lc_pattern(r"\breview\b")
# Weak title cues, used only when neither the title's strong words nor the abstract name a design.
_CLINICAL_TITLE = lc_pattern(r"\b(clinical (?:trial|study)|(?:in|of) patients|patients with)\b")


@dataclass(frozen=True)
class DesignResult:
    design: str
    reasons: tuple[str, ...]
    retracted: bool = False  # the record itself is flagged "Retracted Publication"
    uncertain_review: bool = False  # a "review" whose kind cannot be told (no abstract)


def informative_publication_types(article: Article) -> list[str]:
    return [pt.name for pt in article.publication_types if pt.name not in {"Journal Article",
                                                                         "Research Support, Non-U.S. Gov't"}
            and not pt.name.startswith("Research Support")]


def detect_design(article: Article, text: Text, population: str) -> DesignResult:
    """The record's design, with the rule that decided it as a reason."""
    pts = set(informative_publication_types(article))
    retracted = "Retracted Publication" in pts or any(c.ref_type == "RetractionIn"
                                                        for c in article.comments_corrections)
    result = (_notice(article, text, pts) or _from_title_and_types(text, pts) or _from_abstract(text)
              or _weak_title(text))
    design, why = result if result else ("", "")
    if design in HUMAN_EVIDENCE and population in ("animal", "in-vitro"):
        why = f"{why}, but the subjects are {'animals' if population == 'animal' else 'cells'}"
        design = "preclinical-animal" if population == "animal" else "preclinical-in-vitro"
    if not design:
        if population == "animal":
            design, why = "preclinical-animal", "animal experiments"
        elif population == "in-vitro":
            design, why = "preclinical-in-vitro", "cell-culture experiments"
        elif _REVIEW_WORD.search(text.title_l) and not text.abstract.strip():
            return DesignResult("narrative-review", ("title says 'review', no abstract to tell what kind",),
                                retracted, uncertain_review=True)
        else:
            design, why = "other", "no study design stated"
    return DesignResult(design, (why,), retracted)


def _notice(article: Article, text: Text, pts: set[str]) -> tuple[str, str] | None:
    for names, design in _PT_DESIGN[:3]:
        found = names & pts
        if found:
            return design, f"publication type: {sorted(found)[0]}"
    links = {c.ref_type for c in article.comments_corrections}
    for ref, design in (("RetractionOf", "retraction"), ("ErratumFor", "erratum"),
                        ("ExpressionOfConcernFor", "expression-of-concern")):
        if ref in links:
            return design, f"PubMed link {ref}"
    for pattern, design in _NOTICE_TITLE:
        match = pattern.search(text.title_l)
        if match:
            return design, f"title: '{quote(text.title, match, 1)}'"
    if _NOTICE_ABSTRACT.search(text.abstract_l):
        return "retraction", "the text is a retraction notice"
    return None


def _from_title_and_types(text: Text, pts: set[str]) -> tuple[str, str] | None:
    title = text.title_l

    def said(match: re.Match[str]) -> str:
        return quote(text.title, match, 1)

    if "Clinical Trial Protocol" in pts or _PROTOCOL_TITLE.search(title):
        return "protocol", "title/publication type: study protocol"
    future = _PROTOCOL_ABSTRACT.search(text.abstract_l)
    if future and not _MA_TITLE.search(title):
        return "protocol", f"future tense: '{quote(text.abstract, future, 1)}'"
    synthesis_title = bool(_SR_TITLE.search(title) or _MA_TITLE.search(title))
    for names, design in _PT_DESIGN[3:]:
        found = names & pts
        if found and not (design == "narrative-review" and synthesis_title):
            return design, f"publication type: {sorted(found)[0]}"
    if match := _GUIDELINE_TITLE.search(title):
        return "guideline", f"title: '{said(match)}'"
    if _COMMENT_TITLE.search(title):
        return "comment", "title: comment/letter"
    if (match := _NARRATIVE_TITLE.search(title)) and not synthesis_title:
        return "narrative-review", f"title: '{said(match)}'"
    if _MA_TITLE.search(title):
        return "meta-analysis", "title: meta-analysis"
    if _SR_TITLE.search(title):
        return "systematic-review", "title: systematic review"
    if _RCT_TITLE.search(title):
        return "rct", "title: randomised"
    if match := _CASE_REPORT.search(title):
        return "case-report", f"title: '{said(match)}'"
    if match := _CASE_SERIES.search(title):
        return "case-series", f"title: '{said(match)}'"
    if match := _NONRANDOM.search(title):
        return "clinical-trial", f"title: '{said(match)}'"
    return None


def _weak_title(text: Text) -> tuple[str, str] | None:
    match = _CLINICAL_TITLE.search(text.title_l)
    return ("clinical-trial", f"title: '{quote(text.title, match, 1)}'") if match else None


def _from_abstract(text: Text) -> tuple[str, str] | None:
    abstract = text.abstract_l
    if not abstract.strip():
        return None

    def said(match: re.Match[str]) -> str:
        return quote(text.abstract, match, 1)

    if _MA_ABSTRACT.search(abstract):
        return "meta-analysis", "abstract: meta-analysis of pooled studies"
    if match := _SR_ABSTRACT.search(abstract):
        return "systematic-review", f"abstract: '{said(match)}'"
    if _NARRATIVE_ABSTRACT.search(abstract):
        return "narrative-review", "abstract: a review"
    if match := _RCT_ABSTRACT.search(abstract):
        return "rct", f"abstract: '{said(match)}'"
    if _CASE_REPORT.search(abstract):
        return "case-report", "abstract: case report"
    if match := _CASE_SERIES.search(abstract):
        return "case-series", f"abstract: '{said(match)}'"
    if match := _NONRANDOM.search(abstract):
        return "clinical-trial", f"abstract: '{said(match)}'"
    return None
