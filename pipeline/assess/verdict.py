"""Does this paper mean the article's evidence section needs updating? Pure functions, no I/O.

`classify` reads one record (design, population, condition, interventions, sample size, follow-up);
`assess` turns that into a verdict relative to a watched article — update / review / fyi / cited — with the
reasons that produced it and the claims it touches. Matching records to the article's cited studies is in `cited`.
The rules are general (no per-PMID or per-title cases) and versioned: bump RULESET_VERSION when they change,
so stored records are re-assessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from litwatch.storage.records import DESIGN_PHRASES, POPULATION_PHRASES, Article, Assessment

from ..watchlist import OFF_TOPIC, CitedStudy, Claim, Topic, WatchedArticle
from . import signals as sig
from .cited import PROBLEM_LINKS, match_cited, notice_target, related_to_cited
from .design import HUMAN_EVIDENCE, NOTICES, SYNTHESIS, detect_design
from .findings import read_finding
from .stance import claim_stances
from .text import Text, lc_pattern

RULESET_VERSION = "2026.12.4"  # findings and per-claim stances (issue 12); verdicts unchanged
_LONG_TERM_MONTHS = 12.0


@dataclass(frozen=True)
class Classification:
    design: str
    population: str  # human, animal, in-vitro, unknown
    condition: str  # one of the topic's conditions or look-alikes, or off-topic
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


_TITLE_ANIMAL = lc_pattern(r"\banimal")


def classify(article: Article, text: Text | None = None, *, topic: Topic) -> Classification:
    text = text or Text.of(article)
    population, population_why = sig.population(article, text, topic)
    design = detect_design(article, text, population)
    signals = [*design.reasons, population_why]
    if design.design in SYNTHESIS and population in ("animal", "unknown", "in-vitro"):
        title_animal = _TITLE_ANIMAL.search(text.title_l)
        human_in_title = sig.mentions_human_work(text, title_only=True)
        if human_in_title or (sig.mentions_human_work(text) and not title_animal):
            population, why = "human", "includes human studies"
        elif population == "unknown":
            animal = sig.mentions_animal_work(text, topic)
            population, why = ("animal", "animal studies") if animal else ("human", "")
        else:
            why = ""
        if why:
            signals.append(why)
    if design.design == "other" and population == "human" and sig.treated_patients(text, topic):
        design = replace(design, design="clinical-trial")
        signals.append("patients treated and outcomes measured (no design named)")
    if design.design in HUMAN_EVIDENCE | {"protocol"} and population == "unknown":
        population = "human"
        signals.append("clinical design implies human subjects")
    interventions, passing = sig.interventions(text, topic)
    signals.extend(passing)
    if design.retracted:
        signals.append("flagged as a retracted publication")
    if article.indexing_method == "Automated" and article.mesh:
        signals.append("MeSH assigned automatically: trusted less than the text")
    return Classification(
        design=design.design, population=population, condition=sig.condition(text, topic),
        interventions=interventions, sample_size=sig.sample_size(text, population),
        follow_up_months=sig.follow_up_months(text) if population == "human" else None,
        signals=tuple(s for s in signals if s), retracted=design.retracted,
        uncertain_review=design.uncertain_review, features=tuple(sig.trial_features(text)),
        studies=sig.study_count(text) if design.design in SYNTHESIS else None,
        other_treatment=sig.other_treatment(text, topic), safety=sig.mentions_safety(text),
    )


# --- verdict ------------------------------------------------------------------------------------------------

def assess(article: Article, profile: WatchedArticle) -> Assessment:
    text = Text.of(article)
    c = classify(article, text, topic=profile.topic)
    verdict, reasons, study = _verdict(article, c, profile, text)
    touched = _touched_claims(c, profile, study, verdict)
    finding = read_finding(article, c.design, c.population, profile.topic, studies=c.studies,
                           patients=c.sample_size)
    cited = study if verdict == "cited" else None
    stances = claim_stances(finding, touched, profile, article, design=c.design,
                            follow_up_months=c.follow_up_months, cited=cited)
    return Assessment(
        pmid=article.pmid, verdict=verdict, design=c.design, population=c.population, condition=c.condition,
        reasons=(summary(c, profile.topic), *reasons, *(f"signal: {s}" for s in c.signals)),
        ruleset_version=RULESET_VERSION, record_version=article.version, content_hash=article.content_hash,
        interventions=c.interventions, claims=tuple(claim.label for claim in touched), sample_size=c.sample_size,
        follow_up_months=c.follow_up_months, cited_study=study.id if study else None,
        article=profile.slug, finding=finding, stances=stances,
    )


def _verdict(article: Article, c: Classification, profile: WatchedArticle, text: Text
             ) -> tuple[str, list[str], CitedStudy | None]:
    cited, how = match_cited(article, profile.cited)
    if cited is not None:
        problems = [f"{ref} (PMID {link.pmid or '?'})" for link in article.comments_corrections
                    if (ref := link.ref_type) in PROBLEM_LINKS]
        if c.retracted and not any(p.startswith("RetractionIn") for p in problems):
            problems.append("publication type Retracted Publication")
        if problems:
            return "update", [f"the article cites this study ({cited.label}) and PubMed now shows: "
                              + "; ".join(problems)], cited
        return "cited", [f"already cited by the article: {cited.label} (matched by {how})"], cited

    target = notice_target(article, c.design, profile, text)
    if target is not None:
        study, how = target
        return "update", [f"{DESIGN_PHRASES[c.design]} for a cited study: {study.label} ({how})"], study

    related = related_to_cited(article, profile, text)
    if related is not None:
        study, how = related
        if c.design in HUMAN_EVIDENCE | SYNTHESIS | {"other"} and c.population in ("human", "unknown"):
            return "update", [f"follow-up or secondary analysis of a cited study: {study.label} ({how})"], \
                study
        if c.design == "comment":
            return "review", [f"comment on a cited study: {study.label} ({how})"], study
        verdict, reasons = _by_design(c, profile, article)
        return verdict, [*reasons, f"mentions a cited study: {study.label} ({how})"], None

    verdict, reasons = _by_design(c, profile, article)
    return verdict, reasons, None


def _by_design(c: Classification, profile: WatchedArticle, article: Article) -> tuple[str, list[str]]:
    topic = profile.topic
    if not c.interventions:
        other = f"about {c.other_treatment}; " if c.other_treatment else ""
        return "fyi", [f"{other}not a watched intervention ({topic.watching})"]
    look_alike = next((la for la in topic.look_alikes if la.id == c.condition), None)
    if look_alike is not None:
        return "fyi", [f"watched intervention, but for {look_alike.reason}"]
    if c.condition == OFF_TOPIC:
        return "fyi", [f"not about {topic.about}"]
    if c.design in NOTICES:
        return "fyi", [f"{DESIGN_PHRASES[c.design]} about a study the article does not cite"]
    if c.retracted:
        return "fyi", ["retracted publication: not evidence"]
    human = c.population == "human"
    if human and (c.design in SYNTHESIS or c.design == "rct") and profile.evidence_current_to \
            and published_before(article, profile.evidence_current_to):
        return "review", [f"{DESIGN_PHRASES[c.design]} published before the article's evidence was last searched "
                          f"({profile.evidence_current_to}): may already be included"]
    if c.design in SYNTHESIS:
        if human:
            return "update", [f"{DESIGN_PHRASES[c.design]} of human studies on a watched intervention"]
        return "review", [f"{DESIGN_PHRASES[c.design]} of preclinical studies"]
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


def _touched_claims(
    c: Classification, profile: WatchedArticle, study: CitedStudy | None, verdict: str
) -> tuple[Claim, ...]:
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
    on_topic = c.condition in {condition.id for condition in profile.topic.conditions}
    labels = []
    for claim in profile.claims:
        cites_it = study is not None and study.id in claim.cites
        if cites_it or (on_topic and set(claim.interventions) & set(c.interventions)
                        and set(claim.watch_for) & kinds):
            labels.append(claim)
    return tuple(labels)


def summary(c: Classification, topic: Topic) -> str:
    """The line a writer reads first, e.g.
    "randomised, sham-controlled, n = 52 humans; cell therapy; discogenic LBP"."""
    design = DESIGN_PHRASES[c.design]
    if c.design in ("rct", "clinical-trial", "protocol") and c.features:
        design = ", ".join([design, *c.features])
    who = POPULATION_PHRASES.get(c.population, "")
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
    what = ", ".join(topic.intervention(i).phrase for i in c.interventions) or (
        f"{c.other_treatment} (not watched)" if c.other_treatment else "no watched intervention")
    condition = next((x.label for x in (*topic.conditions, *topic.look_alikes) if x.id == c.condition),
                     topic.off_topic_label)
    return f"{design}; {what}; {condition}"


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}


def published_before(article: Article, iso_date: str) -> bool:
    """Was the record certainly published before `iso_date` (YYYY-MM-DD)? A date PubMed prints without the month
    ("2023") in the same year is not certainly before: such a paper is treated as new."""
    if article.pub_year is None:
        return False
    year, month, day = (int(x) for x in iso_date.split("-"))
    if article.pub_year != year:
        return article.pub_year < year
    parts = article.pub_date.split()
    pub_month = _MONTHS.get(parts[1][:3].lower()) if len(parts) > 1 else None
    if pub_month is None or pub_month > month:
        return False
    if pub_month < month:
        return True
    pub_day = int(parts[2]) if len(parts) > 2 and re.fullmatch(r"\d{1,2}", parts[2]) else None
    return pub_day is not None and pub_day < day


__all__ = ["RULESET_VERSION", "Classification", "assess", "classify", "published_before", "summary"]
