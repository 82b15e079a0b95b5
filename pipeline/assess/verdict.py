"""Does this paper mean the article's evidence section needs updating? Pure functions, no I/O.

`classify` reads one record (design, population, condition, interventions, sample size, follow-up);
`assess` turns that into a verdict relative to a watched article — update / review / fyi / cited — with the
reasons that produced it and the claims it touches; `check_cited_study` watches the studies the article cites.
The rules are general (no per-PMID or per-title cases) and versioned: bump RULESET_VERSION when they change,
so stored records are re-assessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

from litwatch.storage.records import Article, Assessment, CitedStudyStatus

from ..pubmed.parse import parse_efetch
from ..watchlist import CitedStudy, WatchedArticle
from . import signals as sig
from .design import HUMAN_EVIDENCE, NOTICES, SYNTHESIS, detect_design

RULESET_VERSION = "2026.11.2"

_CONDITION_WORDS = {"disc-degeneration": "disc degeneration", "discogenic-lbp": "discogenic LBP",
                    "other-spine": "other spine condition", "off-topic": "not a spine condition"}
_INTERVENTION_WORDS = {"stem-cells": "cell therapy", "exosomes": "exosomes/EVs",
                       "gene-therapy": "gene therapy"}
_DESIGN_WORDS = {
    "rct": "randomised", "meta-analysis": "meta-analysis", "systematic-review": "systematic review",
    "clinical-trial": "non-randomised clinical study", "case-series": "case series",
    "case-report": "case report",
    "protocol": "trial protocol", "guideline": "guideline/statement", "preclinical-animal": "animal study",
    "preclinical-in-vitro": "in-vitro study", "narrative-review": "narrative review",
    "comment": "comment/letter",
    "erratum": "erratum notice", "retraction": "retraction notice",
    "expression-of-concern": "expression of concern", "other": "no clinical design",
}
_PROBLEM_LINKS = {"RetractionIn": "retracted", "ExpressionOfConcernIn": "concern", "ErratumIn": "corrected",
                  "UpdateIn": "corrected"}
_NOTICE_LINKS = {"RetractionOf", "ErratumFor", "ExpressionOfConcernFor", "UpdateOf"}
_LONG_TERM_MONTHS = 12.0


@dataclass(frozen=True)
class Classification:
    design: str
    population: str  # human, animal, in-vitro, unknown
    condition: str  # disc-degeneration, discogenic-lbp, other-spine, off-topic
    interventions: tuple[str, ...]
    sample_size: int | None
    follow_up_months: float | None
    signals: tuple[str, ...]  # why: one short phrase per rule that fired
    retracted: bool = False
    uncertain_review: bool = False
    features: tuple[str, ...] = ()  # double-blind, sham-controlled, phase II…
    studies: int | None = None  # for reviews: number of studies pooled
    other_treatment: str | None = None
    safety: bool = False


_TITLE_ANIMAL = sig.lc_pattern(r"\banimal")
_NCT = re.compile(r"\bNCT\d{8}\b")


def classify(article: Article, text: sig.Text | None = None) -> Classification:
    text = text or sig.Text.of(article)
    population, population_why = sig.population(article, text)
    design = detect_design(article, text, population)
    signals = [*design.reasons, population_why]
    if design.design in SYNTHESIS and population in ("animal", "unknown", "in-vitro"):
        title_animal = _TITLE_ANIMAL.search(text.title_l)
        human_in_title = sig.mentions_human_work(text, title_only=True)
        if human_in_title or (sig.mentions_human_work(text) and not title_animal):
            population, why = "human", "includes human studies"
        elif population == "unknown":
            animal = sig.mentions_animal_work(text)
            population, why = ("animal", "animal studies") if animal else ("human", "")
        else:
            why = ""
        if why:
            signals.append(why)
    if design.design == "other" and population == "human" and sig.treated_patients(text):
        design = replace(design, design="clinical-trial")
        signals.append("patients treated and outcomes measured (no design named)")
    if design.design in HUMAN_EVIDENCE | {"protocol"} and population == "unknown":
        population = "human"
        signals.append("clinical design implies human subjects")
    interventions, passing = sig.interventions(text)
    signals.extend(passing)
    if design.retracted:
        signals.append("flagged as a retracted publication")
    if article.indexing_method == "Automated" and article.mesh:
        signals.append("MeSH assigned automatically: trusted less than the text")
    return Classification(
        design=design.design, population=population, condition=sig.condition(text),
        interventions=interventions, sample_size=sig.sample_size(text, population),
        follow_up_months=sig.follow_up_months(text) if population == "human" else None,
        signals=tuple(s for s in signals if s), retracted=design.retracted,
        uncertain_review=design.uncertain_review, features=tuple(sig.trial_features(text)),
        studies=sig.study_count(text) if design.design in SYNTHESIS else None,
        other_treatment=sig.other_treatment(text), safety=sig.mentions_safety(text),
    )


# --- verdict ------------------------------------------------------------------------------------------------

def assess(article: Article, profile: WatchedArticle) -> Assessment:
    text = sig.Text.of(article)
    c = classify(article, text)
    verdict, reasons, study = _verdict(article, c, profile, text)
    claims = _claims(c, profile, study, verdict)
    return Assessment(
        pmid=article.pmid, verdict=verdict, design=c.design, population=c.population, condition=c.condition,
        reasons=(summary(c), *reasons, *(f"signal: {s}" for s in c.signals)),
        ruleset_version=RULESET_VERSION, record_version=article.version, content_hash=article.content_hash,
        interventions=c.interventions, claims=claims, sample_size=c.sample_size,
        follow_up_months=c.follow_up_months, cited_study=study.id if study else None,
    )


def _verdict(article: Article, c: Classification, profile: WatchedArticle, text: sig.Text
             ) -> tuple[str, list[str], CitedStudy | None]:
    cited, how = match_cited(article, profile.cited)
    if cited is not None:
        problems = [f"{ref} (PMID {link.pmid or '?'})" for link in article.comments_corrections
                    if (ref := link.ref_type) in _PROBLEM_LINKS]
        if c.retracted and not any(p.startswith("RetractionIn") for p in problems):
            problems.append("publication type Retracted Publication")
        if problems:
            return "update", [f"the article cites this study ({cited.label}) and PubMed now shows: "
                              + "; ".join(problems)], cited
        return "cited", [f"already cited by the article: {cited.label} (matched by {how})"], cited

    target = _notice_target(article, c, profile, text)
    if target is not None:
        study, how = target
        return "update", [f"{_DESIGN_WORDS[c.design]} for a cited study: {study.label} ({how})"], study

    related = _related_to_cited(article, profile, text)
    if related is not None:
        study, how = related
        if c.design in HUMAN_EVIDENCE | SYNTHESIS | {"other"} and c.population in ("human", "unknown"):
            return "update", [f"follow-up or secondary analysis of a cited study: {study.label} ({how})"], \
                study
        if c.design == "comment":
            return "review", [f"comment on a cited study: {study.label} ({how})"], study
        verdict, reasons = _by_design(c)
        return verdict, [*reasons, f"mentions a cited study: {study.label} ({how})"], None

    verdict, reasons = _by_design(c)
    return verdict, reasons, None


def _by_design(c: Classification) -> tuple[str, list[str]]:
    if not c.interventions:
        other = f"about {c.other_treatment}; " if c.other_treatment else ""
        return "fyi", [f"{other}not a watched intervention (stem/stromal cells, exosomes, gene therapy)"]
    if c.condition == "other-spine":
        return "fyi", ["watched intervention, but for another spine condition (fusion, cord injury…)"]
    if c.condition == "off-topic":
        return "fyi", ["not about disc degeneration or discogenic low back pain"]
    if c.design in NOTICES:
        return "fyi", [f"{_DESIGN_WORDS[c.design]} about a study the article does not cite"]
    if c.retracted:
        return "fyi", ["retracted publication: not evidence"]
    human = c.population == "human"
    if c.design in SYNTHESIS:
        if human:
            return "update", [f"{_DESIGN_WORDS[c.design]} of human studies on a watched intervention"]
        return "review", [f"{_DESIGN_WORDS[c.design]} of preclinical studies"]
    if c.design == "rct" and human:
        return "update", ["human randomised trial on a watched intervention"]
    if c.design in HUMAN_EVIDENCE and human:
        return "review", ["other human clinical evidence (non-randomised)"]
    if c.design == "protocol":
        return "review", ["a new trial is planned or registered"]
    if c.design == "guideline":
        return "review", ["guideline or regulatory statement"]
    if c.uncertain_review:
        return "review", ["a review whose kind (systematic or narrative) cannot be told without an abstract"]
    if c.design.startswith("preclinical"):
        return "fyi", ["preclinical: not evidence in patients yet"]
    if c.design == "narrative-review":
        return "fyi", ["narrative review: no new evidence"]
    if c.design == "comment":
        return "fyi", ["comment/letter"]
    return "fyi", ["no clinical study design found"]


def _claims(
    c: Classification, profile: WatchedArticle, study: CitedStudy | None, verdict: str
) -> tuple[str, ...]:
    kinds: set[str] = set()
    human = c.population == "human"
    if c.design in SYNTHESIS:
        kinds.add("synthesis" if human else "preclinical")
    elif c.design == "rct" and human:
        kinds.add("rct")
    elif c.design in HUMAN_EVIDENCE and human:
        kinds.add("clinical")
    elif c.design == "protocol":
        kinds.add("protocol")
    elif c.design == "guideline":
        kinds.add("regulatory")
    elif c.design.startswith("preclinical"):
        kinds.add("preclinical")
    if human and (c.design in HUMAN_EVIDENCE or c.design in SYNTHESIS):
        if c.follow_up_months is not None and c.follow_up_months >= _LONG_TERM_MONTHS:
            kinds.add("long-term")
        if c.safety:
            kinds.add("safety")
    if verdict == "update" and study is not None:
        kinds.add("correction")
    on_topic = c.condition in ("disc-degeneration", "discogenic-lbp")
    labels = []
    for claim in profile.claims:
        cites_it = study is not None and study.id in claim.cites
        if cites_it or (on_topic and set(claim.interventions) & set(c.interventions)
                        and set(claim.watch_for) & kinds):
            labels.append(claim.label)
    return tuple(labels)


def summary(c: Classification) -> str:
    """The line a writer reads first, e.g.
    "randomised, sham-controlled, n = 52 humans; cell therapy; discogenic LBP"."""
    design = _DESIGN_WORDS[c.design]
    if c.design in ("rct", "clinical-trial", "protocol") and c.features:
        design = ", ".join([design, *c.features])
    who = {"human": "humans", "animal": "animals", "in-vitro": "cells in vitro"}.get(c.population, "")
    if c.design in SYNTHESIS:
        parts = [f"{c.studies} studies" if c.studies else "", f"n = {c.sample_size}" if c.sample_size else "",
                 who]
        design = f"{design} ({', '.join(p for p in parts if p)})" if any(parts) else design
    elif c.sample_size:
        design = f"{design}, n = {c.sample_size} {who}".rstrip()
    elif who:
        design = f"{design}, {who}"
    if c.follow_up_months is not None and c.population == "human" and c.design not in SYNTHESIS:
        design += f", follow-up {c.follow_up_months:g} months"
    what = ", ".join(_INTERVENTION_WORDS[i] for i in c.interventions) or (
        f"{c.other_treatment} (not watched)" if c.other_treatment else "no watched intervention")
    return f"{design}; {what}; {_CONDITION_WORDS[c.condition]}"


# --- cited studies ------------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)  # cited studies' titles are normalised again for every record assessed
def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"^\s*\[?(retracted|retraction)\]?:?\s*", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def normalise_doi(doi: str) -> str:
    return re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", doi.strip().lower())


def match_cited(article: Article, studies: tuple[CitedStudy, ...]) -> tuple[CitedStudy | None, str]:
    """The cited study this record *is* (PMID, DOI or normalised title), and how it was matched."""
    title = normalise_title(article.title)
    for study in studies:
        if study.pmid and study.pmid == article.pmid:
            return study, f"PMID {article.pmid}"
        if study.doi and article.doi and normalise_doi(study.doi) == normalise_doi(article.doi):
            return study, f"DOI {article.doi}"
        if study.title and title and normalise_title(study.title) == title:
            return study, "title"
    return None, ""


def _notice_target(article: Article, c: Classification, profile: WatchedArticle, text: sig.Text
                   ) -> tuple[CitedStudy, str] | None:
    """A retraction/erratum/concern/update notice pointing at a cited study."""
    links = [link for link in article.comments_corrections if link.ref_type in _NOTICE_LINKS]
    if c.design not in NOTICES and not links:
        return None
    body = text.body.lower()
    norm_body = normalise_title(body)
    for study in profile.cited:
        for link in links:
            if study.pmid and link.pmid == study.pmid:
                return study, f"{link.ref_type} PMID {link.pmid}"
            if study.doi and normalise_doi(study.doi) in link.ref_source.lower():
                return study, f"{link.ref_type} {study.doi}"
        if study.doi and normalise_doi(study.doi) in body:
            return study, f"names DOI {study.doi}"
        if study.title and normalise_title(study.title) in norm_body:
            return study, "names its title"
    return None


def _related_to_cited(article: Article, profile: WatchedArticle, text: sig.Text
                      ) -> tuple[CitedStudy, str] | None:
    """Shared trial registration, trial name, or a citation/link to a cited PMID."""
    body = text.body
    ncts = set(article.nct_ids) | (set(_NCT.findall(body)) if "NCT" in body else set())
    for study in profile.cited:
        shared = ncts & set(study.nct_ids)
        if shared:
            return study, f"same trial registration {sorted(shared)[0]}"
        for name in study.trial_names:
            flags = 0 if name.isupper() else re.IGNORECASE  # acronyms: "DREAM" is a trial, "dream" a word
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", body, flags):
                return study, f"trial name {name}"
        if study.pmid and (study.pmid in article.references
                           or any(link.pmid == study.pmid for link in article.comments_corrections)):
            return study, f"cites PMID {study.pmid}"
    return None


def check_cited_study(
    study: CitedStudy, current: Article | None, previous: Article | None
) -> CitedStudyStatus:
    """What PubMed now says about a study the article cites, compared with the last version seen."""
    if current is None:
        where = f"PMID {study.pmid}" if study.pmid else (f"DOI {study.doi}" if study.doi else "no identifier")
        return CitedStudyStatus(study_id=study.id, label=study.label, pmid=study.pmid, status="not-found",
                                notes=(f"no PubMed record found for {where}",))
    notes: list[str] = []
    states: set[str] = set()
    before = {(c.ref_type, c.pmid) for c in previous.comments_corrections} if previous else set()
    for link in current.comments_corrections:
        if link.ref_type in _PROBLEM_LINKS:
            states.add(_PROBLEM_LINKS[link.ref_type])
            new = "new: " if previous is not None and (link.ref_type, link.pmid) not in before else ""
            notes.append(f"{new}{link.ref_type} PMID {link.pmid or '?'} {link.ref_source}".rstrip())
    types = {pt.name for pt in current.publication_types}
    old_types = {pt.name for pt in previous.publication_types} if previous else set()
    for name, state in (("Retracted Publication", "retracted"), ("Expression of Concern", "concern")):
        if name in types:
            states.add(state)
            new = "new: " if previous is not None and name not in old_types else ""
            notes.append(f"{new}publication type {name}")
    notes.extend(_article_says_mismatches(study, current))
    if any(n.startswith("article says") for n in notes):
        states.add("mismatch")
    if previous is not None and previous.content_hash != current.content_hash:
        states.add("changed")
        notes.append(_what_changed(previous, current))
    for status in ("retracted", "concern", "corrected", "mismatch", "changed"):
        if status in states:
            break
    else:
        status = "unchanged" if previous is not None else "new"
    return CitedStudyStatus(study_id=study.id, label=study.label, pmid=current.pmid, status=status,  # type: ignore
                            notes=tuple(notes))


def _article_says_mismatches(study: CitedStudy, current: Article) -> list[str]:
    notes = []
    year = f" ({current.pub_year})" if current.pub_year else ""
    where = f"{current.journal or current.journal_abbrev}{year}"
    journal = study.article_says.get("journal")
    if isinstance(journal, str) and not (_same_journal(journal, current.journal)
                                         or _same_journal(journal, current.journal_abbrev)):
        notes.append(f"article says '{journal}'; PubMed: {where}")
    year = study.article_says.get("year")
    if isinstance(year, int) and current.pub_year is not None and year != current.pub_year:
        notes.append(f"article says {year}; PubMed: {where}")
    return notes


_STOP = {"and", "of", "the", "in", "for", "on", "&", "journal"}


def _same_journal(said: str, pubmed: str) -> bool:
    """Full name vs full name or ISO abbreviation ("Front. Bioeng. Biotechnol." is "Frontiers in
    Bioengineering and Biotechnology"): every abbreviated word is a prefix of the corresponding full word."""
    if not pubmed:
        return False
    a = [w for w in re.findall(r"[a-z0-9]+", said.lower()) if w not in _STOP]
    b = [w for w in re.findall(r"[a-z0-9]+", pubmed.lower()) if w not in _STOP]
    if a == b:
        return True
    if len(a) != len(b) or not a:
        return False
    return all(x.startswith(y) or y.startswith(x) for x, y in zip(a, b, strict=True))


def _what_changed(previous: Article, current: Article) -> str:
    parts = []
    if previous.version != current.version:
        parts.append(f"version {previous.version} → {current.version}")
    if {p.name for p in previous.publication_types} != {p.name for p in current.publication_types}:
        parts.append("publication types changed")
    if {m.descriptor for m in previous.mesh} != {m.descriptor for m in current.mesh}:
        parts.append("MeSH changed")
    if previous.status != current.status:
        parts.append(f"status {previous.status or '?'} → {current.status or '?'}")
    if previous.title != current.title or previous.abstract != current.abstract:
        parts.append("title/abstract changed")
    return "record changed: " + (", ".join(parts) if parts else "bibliographic details")


# --- files --------------------------------------------------------------------------------------------------

def assess_file(xml_bytes: bytes, profile: WatchedArticle, batch: str = "file") -> list[Assessment]:
    """Assess every record of an efetch XML body without storing anything (`litwatch assess`/`evaluate`)."""
    return [assess(article, profile) for article in parse_efetch(xml_bytes, batch).articles]


__all__ = [
    "RULESET_VERSION", "Classification", "assess", "assess_file", "check_cited_study", "classify",
    "match_cited", "normalise_doi", "normalise_title", "summary",
]
