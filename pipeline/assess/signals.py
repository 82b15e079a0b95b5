"""Signals read from one PubMed record: who was studied, with what, for which condition, how many, how long.

Pure text/indexing analysis for `pipeline.assess`; everything that names a disease or a therapy comes from the
watched article's topic (`pipeline.assess.topic`), the rest is general; the pattern machinery is in `text`.
Fresh records (Status="Publisher") carry neither MeSH nor real publication types, so the title and abstract are
always read; curated publication types and MeSH confirm or override. The title says what a paper *is*; the abstract's
background often talks about *other* studies ("a recent RCT showed…"), so abstract design rules only fire on
phrases describing the paper's own methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from litwatch.storage.records import Article

from ..watchlist import OFF_TOPIC, Topic
from .text import Guarded, Text, lc_pattern, quote, to_int
from .topic import CompiledIntervention, alternation, compile_topic

# General words; the topic adds its own animal models, tissue cells and outcome scales (`_topic_patterns`).
_ANIMAL_WORDS = (
    r"rats?|mice|mouse|murine|rabbits?|sheep|ovine|porcine|pigs?|minipigs?|canine|dogs?|goats?|bovine|"
    r"primates?|monkeys?|macaques?|zebrafish|sprague[- ]dawley|wistar|new zealand white|animal models?|"
    r"in vivo (?:rabbit|rat|mouse|animal|sheep|goat|pig|dog)|(?:rat|mouse|rabbit|sheep|goat|pig|dog|tail)"
    r"[- ]models?")
_ANIMAL_STUDIES = lc_pattern(r"\banimal (?:studies|experiments|models?)\b")
_IN_VITRO_WORDS = (
    r"in vitro|cell culture|cell lines?|western blot\w*|"
    r"qrt-pcr|rt-qpcr|polymerase chain reaction|flow cytometry|transfect\w*|serotypes?|"
    r"il-1β[- ]induced|il-1β stimulation|tnf-α[- ]induced")
_HUMAN_OUTCOME_WORDS = (
    r"visual analog(?:ue)? scale|vas|numeric(?:al)? rating scale|nrs|sf-36|sf-12|eq-5d|"
    r"pain scores?|adverse events?|quality of life|re-?operation")
_TREATED_PATIENTS = lc_pattern(
    r"\b(patients?|participants?|subjects?|adults|women|men|cases)\b[^.]{0,60}?\b(were|was|underwent|"
    r"received|"
    r"enrolled|treated|included|randomi[sz]ed|followed|injected|allocated|completed)\b"
    r"|\b(enrolled|recruited|treated|randomi[sz]ed)\b[^.]{0,40}?\b(patients?|participants?|subjects?)\b")



@dataclass(frozen=True)
class _TopicPatterns:
    animal: re.Pattern[str]
    in_vitro: re.Pattern[str]
    human_outcomes: re.Pattern[str]


def _with_topic(general: str, extra: tuple[str, ...]) -> re.Pattern[str]:
    return lc_pattern(r"\b(" + general + (("|" + alternation(extra)) if extra else "") + r")\b")


@lru_cache(maxsize=32)
def _topic_patterns(topic: Topic) -> _TopicPatterns:
    return _TopicPatterns(animal=_with_topic(_ANIMAL_WORDS, topic.animal_models),
                          in_vitro=_with_topic(_IN_VITRO_WORDS, topic.in_vitro_cells),
                          human_outcomes=_with_topic(_HUMAN_OUTCOME_WORDS, topic.outcome_scales))


_NUM = (r"(\d{1,5}(?:,\d{3})?|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-(?:one|two|three|"
        r"four|five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
        r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)")
_HUMAN_COUNT = Guarded(lc_pattern(
    r"(?<![\w.,-])" + _NUM + r"\s+(?:(?!(?:in|of|with|from|for|to|at|by|and|or)\b)[a-z][\w-]*\s+){0,4}?"
    r"(patients|participants|subjects|adults|individuals|cases|volunteers)\b"),
    "patients", "participants", "subjects", "adults", "individuals", "cases", "volunteers")
_TOTAL_COUNT = Guarded(lc_pattern(r"\b(?:a total of|total of|enrolled|included|recruited)\s+" + _NUM + r"\b"),
                       "total of", "enrolled", "included", "recruited")
_ANIMAL_COUNT = lc_pattern(
    _NUM + r"\s+(?:[a-z][\w-]*\s+){0,3}?(rats|mice|rabbits|sheep|goats|pigs|dogs|animals)\b")
_SEARCH_YIELD = lc_pattern(r"\s*(?:were\s+)?(?:identified|screened|retrieved|found|records|initially)")
_STUDY_COUNT = lc_pattern(_NUM + r"\s+(?:eligible\s+|included\s+)?(studies|articles|trials|rcts)\b")

_DURATION = Guarded(lc_pattern(_NUM + r"[- ](months?|years?|weeks?)\b"), "month", "year", "week")
_FOLLOW_CONTEXT = lc_pattern(
    r"follow|post-?injection|post-?operative|post-?procedure|post-?treatment|month study|year study|"
    r"year results|month results|evaluated at|assessed at|collected at|visit|through|out to|over \d|"
    r"maintenance")
_SYMPTOM_DURATION = lc_pattern(
    r"(?:at least|more than|lasted for|longer than|≥|>|duration of|for over|history of)\s*\(?" + _NUM +
    r"[- ](?:months?|years?|weeks?)$")
_AT_LIST = lc_pattern(r"\bat\s+((?:\d+,\s*)*\d+,?\s*(?:and|or)\s+(\d+))\s+(months|years|weeks)\b")


# --- interventions, condition -------------------------------------------------------------------------------

def interventions(text: Text, topic: Topic) -> tuple[tuple[str, ...], list[str]]:
    """The topic's interventions the paper is *about*, and reasons. An intervention only named in passing in a
    paper whose title names another treatment (a PRP trial mentioning stem cells) does not count."""
    found: list[str] = []
    reasons: list[str] = []
    compiled = compile_topic(topic)
    other_in_title: bool | None = None
    for item in compiled.interventions:
        count, in_title = _mentions(item, text)
        if not count:
            continue
        if other_in_title is None:
            other_in_title = bool(compiled.other_treatments.search(text.title_l))
        if not in_title and other_in_title and count < 3:
            reasons.append(f"{item.phrase} only mentioned in passing")
            continue
        found.append(item.id)
    return tuple(found), reasons


def _mentions(item: CompiledIntervention, text: Text) -> tuple[int, bool]:
    """(how often the intervention is named, whether the title names it); look-alike phrasings blanked."""
    everything = item.words.blank(text.all_l)
    title = item.words.blank(text.title_l)
    pattern = item.words.pattern
    spans = [m.span() for m in pattern.finditer(everything)] if pattern is not None else []
    in_title = bool(pattern is not None and pattern.search(title))
    if item.case_sensitive is None:
        return len(spans), bool(spans) and in_title
    # the case-sensitive names count where no plain word already matched (one alternation before the split:
    # the first alternative at a position won)
    extra = [m for m in item.case_sensitive.finditer(text.all)
             if not any(a < m.end() and m.start() < b for a, b in spans)]
    return len(spans) + len(extra), in_title or bool(item.case_sensitive.search(text.title))


def other_treatment(text: Text, topic: Topic) -> str | None:
    """The non-watched treatment a title names, e.g. "platelet-rich plasma" (for the reason line)."""
    match = compile_topic(topic).other_treatments.search(text.title_l)
    return quote(text.title, match) if match else None


def condition(text: Text, topic: Topic) -> str:
    """The topic's condition the paper is about (the first that matches, in the topic's order), a look-alike
    condition, or off-topic. A look-alike named in the title wins: a fusion trial mentioning discs is about fusion;
    elsewhere in the text it counts only when none of the article's conditions is named."""
    compiled = compile_topic(topic)
    for look_alike in compiled.look_alikes:
        if look_alike.named(text.title_l):
            return look_alike.id
    body = text.all_l
    for item in (*compiled.conditions, *compiled.look_alikes):
        if item.matches(body):
            return item.id
    return OFF_TOPIC


# --- population ---------------------------------------------------------------------------------------------

def population(article: Article, text: Text, topic: Topic) -> tuple[str, str]:
    """(human | animal | in-vitro | unknown, reason). Curated MeSH check tags decide when present; the text
    decides otherwise, and for automatically indexed records when it disagrees."""
    mesh = {m.descriptor for m in article.mesh}
    if mesh and {"Humans", "Animals"} & mesh and article.indexing_method != "Automated":
        from_mesh = "human" if "Humans" in mesh else "animal"
        return from_mesh, f"MeSH: {'Humans' if from_mesh == 'human' else 'Animals'}"
    from_text, why = _population_from_text(text, _topic_patterns(topic))
    if mesh and {"Humans", "Animals"} & mesh and from_text == "unknown":
        from_mesh = "human" if "Humans" in mesh else "animal"
        return from_mesh, f"MeSH: {'Humans' if from_mesh == 'human' else 'Animals'}"
    return from_text, why


def _population_from_text(text: Text, p: _TopicPatterns) -> tuple[str, str]:
    title_animal = p.animal.search(text.title_l)
    if title_animal:
        return "animal", f"animals ({quote(text.title, title_animal)}) in the title"
    body = text.body_l
    treated = _TREATED_PATIENTS.search(body)
    outcomes = p.human_outcomes.search(body) if treated else None
    first_animal = p.animal.search(body)
    if treated and (outcomes or not first_animal):
        return "human", "patients treated/enrolled"
    if first_animal:
        return "animal", f"animal study ({quote(text.body, first_animal)})"
    if p.in_vitro.search(body):
        return "in-vitro", "cells in culture"
    if _HUMAN_COUNT.search(body) or p.human_outcomes.search(body):
        return "human", "human subjects or clinical outcomes"
    return "unknown", "no study population stated"


def mentions_animal_work(text: Text, topic: Topic) -> bool:
    return bool(_topic_patterns(topic).animal.search(text.body_l) or _ANIMAL_STUDIES.search(text.body_l))


_HUMAN_WORK = lc_pattern(r"\b(human|clinical)\s+(?:clinical\s+)?(trials?|studies)\b|\bpatients?\b|"
                  r"\bparticipants\b|\bcases\b")


def mentions_human_work(text: Text, title_only: bool = False) -> bool:
    return bool(_HUMAN_WORK.search(text.title_l if title_only else text.body_l))


def treated_patients(text: Text, topic: Topic) -> bool:
    """Patients enrolled/treated and outcomes measured: a clinical study, whatever it calls itself."""
    return bool(_TREATED_PATIENTS.search(text.body_l) and _topic_patterns(topic).human_outcomes.search(text.body_l))


# --- numbers ------------------------------------------------------------------------------------------------

def sample_size(text: Text, population: str) -> int | None:
    """Participants (or animals) in the study, as the abstract states it; None if not stated."""
    body = text.body_l
    if population == "animal":
        match = _ANIMAL_COUNT.search(body)
        return to_int(match.group(1)) if match else None
    for pattern in (_TOTAL_COUNT, _HUMAN_COUNT):
        for match in pattern.finditer(body):
            after = body[match.end(1):match.end(1) + 2]
            if after[:1] in ("%", "·") or after == " %":
                continue
            value = to_int(match.group(1))
            if value is not None and 0 < value < 1_000_000:
                return value
    return None


def study_count(text: Text) -> int | None:
    """Studies a review pooled; "2,392 studies were identified" is the search yield, not the review's size."""
    body = text.body_l
    for match in _STUDY_COUNT.finditer(body):
        if _SEARCH_YIELD.match(body, match.end()):
            continue
        return to_int(match.group(1))
    return None


_SENTENCE_END = re.compile(r"(?<=[.;:])\s+|\n")


def follow_up_months(text: Text) -> float | None:
    """Longest follow-up stated (months); symptom durations ("pain for at least 6 months") excluded."""
    best: float | None = None
    if not _DURATION.possible(text.body_l):
        return None
    for sentence in _SENTENCE_END.split(text.body_l):
        if not _FOLLOW_CONTEXT.search(sentence):
            continue
        for match in _DURATION.finditer(sentence):
            if _SYMPTOM_DURATION.search(sentence[max(0, match.start() - 30):match.end()]):
                continue
            value = to_int(match.group(1))
            if value is None:
                continue
            best = _max(best, _months(value, match.group(2)))
        for match in _AT_LIST.finditer(sentence):
            best = _max(best, _months(int(match.group(2)), match.group(3)))
    return best


def _months(value: int, unit: str) -> float:
    unit = unit.lower()
    if unit.startswith("year"):
        return float(value * 12)
    if unit.startswith("week"):
        return round(value / 4.345, 1)
    return float(value)


def _max(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)


# --- trial features -----------------------------------------------------------------------------------------

_DOUBLE_BLIND = lc_pattern(r"double[- ]blind")
_SHAM = Guarded(lc_pattern(r"\bsham\b"), "sham")
_PLACEBO = lc_pattern(r"placebo|saline control|vehicle control")
_MULTICENTRE = Guarded(lc_pattern(r"multi-?cent(?:er|re)|\b\d+ (?:clinical )?sites\b"), "multi", "sites")
_PHASE = Guarded(lc_pattern(r"\bphase\s+(i{1,3}[ab]?(?:/i{1,3})?|[123][ab]?(?:/[123])?)\b"), "phase")
_SAFETY = lc_pattern(r"adverse events?|safety|safe\b|tolerab\w*|complications?|side effects?")


def trial_features(text: Text) -> list[str]:
    """Words a writer uses to weigh a trial: double-blind, placebo-/sham-controlled, multicentre, phase."""
    body = text.body_l
    features = []
    if _DOUBLE_BLIND.search(body):
        features.append("double-blind")
    if _SHAM.search(body):
        features.append("sham-controlled")
    elif _PLACEBO.search(body):
        features.append("placebo-controlled")
    if _MULTICENTRE.search(body):
        features.append("multicentre")
    phase = _PHASE.search(body)
    if phase:
        features.append(f"phase {phase.group(1).upper()}")
    return features


def mentions_safety(text: Text) -> bool:
    return bool(_SAFETY.search(text.body_l))


__all__ = [
    "condition", "follow_up_months", "interventions", "mentions_animal_work", "mentions_human_work",
    "mentions_safety", "other_treatment", "population", "sample_size", "study_count", "trial_features",
]
