"""Signals read from one PubMed record: who was studied, with what, for which condition, how many, how long.

Pure text/indexing analysis for `pipeline.assess`; the pattern machinery is in `text`. Fresh records
(Status="Publisher") carry neither MeSH nor real publication types, so the title and abstract are always read;
curated publication types and MeSH confirm or override. The title says what a paper *is*; the abstract's
background often talks about *other* studies ("a recent RCT showed…"), so abstract design rules only fire on
phrases describing the paper's own methods.
"""

from __future__ import annotations

import re

from litwatch.storage.records import INTERVENTION_PHRASES, Article

from .text import Guarded, Text, lc_pattern, quote, to_int

_ANIMAL = lc_pattern(
    r"\b(rats?|mice|mouse|murine|rabbits?|sheep|ovine|porcine|pigs?|minipigs?|canine|dogs?|goats?|bovine|"
    r"primates?|monkeys?|macaques?|zebrafish|sprague[- ]dawley|wistar|new zealand white|animal models?|"
    r"in vivo (?:rabbit|rat|mouse|animal|sheep|goat|pig|dog)|(?:rat|mouse|rabbit|sheep|goat|pig|dog|tail)"
    r"[- ](?:model|disc)s?)\b")
_ANIMAL_STUDIES = lc_pattern(r"\banimal (?:studies|experiments|models?)\b")
_IN_VITRO = lc_pattern(
    r"\b(in vitro|cell culture|cultured (?:human |rat )?(?:nucleus|np|disc|annulus)|cell lines?|"
    r"western blot\w*|"
    r"qrt-pcr|rt-qpcr|polymerase chain reaction|flow cytometry|transfect\w*|serotypes?|"
    r"(?:nucleus pulposus|np|annulus fibrosus|af|disc|intervertebral dis[ck]) cells?|npcs?|"
    r"il-1β[- ]induced|il-1β stimulation|tnf-α[- ]induced)\b")
_HUMAN_OUTCOMES = lc_pattern(
    r"\b(visual analog(?:ue)? scale|vas|oswestry|odi|numeric(?:al)? rating scale|nrs|sf-36|sf-12|eq-5d|"
    r"pain scores?|adverse events?|quality of life|re-?operation)\b")
_TREATED_PATIENTS = lc_pattern(
    r"\b(patients?|participants?|subjects?|adults|women|men|cases)\b[^.]{0,60}?\b(were|was|underwent|"
    r"received|"
    r"enrolled|treated|included|randomi[sz]ed|followed|injected|allocated|completed)\b"
    r"|\b(enrolled|recruited|treated|randomi[sz]ed)\b[^.]{0,40}?\b(patients?|participants?|subjects?)\b")

_INTERVENTIONS: dict[str, re.Pattern[str]] = {
    "stem-cells": lc_pattern(
        r"\b(stem cells?|stem-cells?|stromal cells?|mesenchymal|mscs?|bm-mscs?|ad-?mscs?|at-mscs?|huc-mscs?|"
        r"progenitor cells?|precursor cells?|mpcs?|bone marrow (?:aspirate )?concentrate|"
        r"(?:concentrated )?bone marrow aspirate|bmac|cbma|stromal vascular fraction|svf|"
        r"marrow (?:mesenchymal )?cells?|chondrocyte (?:transplantation|implantation)|disc chondrocytes?|"
        r"adct|notochordal cell (?:transplantation|therapy)|cell[- ]based therap\w*|cell therap\w*|"
        r"cellular therap\w*|cell (?:transplantation|implantation)|cell compound|viable (?:structural |"
        r"disc )?"
        r"allograft|cellularized bone matrix)\b"),
    "exosomes": lc_pattern(
        r"\b(exosom\w*|extracellular (?:nano)?vesicles?|evs|sevs|sc-s?evs|msc-s?evs|nanovesicles?|"
        r"microvesicles?|secretome|conditioned medi(?:um|a))\b"),
    "gene-therapy": lc_pattern(
        r"\b(gene therap\w*|genetic therap\w*|gene transfer|gene transduction|gene delivery|gene editing|"
        r"gene silencing|crispr\w*|cas9|adeno-associated virus\w*|aavs?|scaav|lentivir\w*|adenovir\w*|"
        r"retrovir\w*|viral vectors?|sirnas?|shrnas?|small interfering rnas?|antisense oligonucleotides?|"
        r"gene-modified|genetically (?:modified|engineered)|gene-enhanced|rnai)\b"),
}
# siSTING, siCOL1A2: case matters ("single" is no siRNA), so this one runs on the original text.
_SI_GENE = re.compile(r"\b(si[A-Z][A-Z0-9]{2,}\w*)\b")
_SI_QUICK = re.compile(r"si[A-Z][A-Z0-9]")  # a literal prefix: scanned at memchr speed
# Other treatments near-miss papers are about: named so a writer sees why a disc RCT is not ours.
_OTHER_TREATMENTS = lc_pattern(
    r"\b(platelet[- ]rich plasma|prp|methylene blue|ablation|radiofrequency|steroids?|corticosteroids?|"
    r"ozone|rhbmp-2|bmp-2|fusion|discectomy|acupuncture|quercetin|hyaluronic acid(?! derivative))\b")
# Cells merely named as the source of vesicles or the target of a drug are not a cell therapy.
_CELL_SOURCE = Guarded(lc_pattern(
    r"\b(?:stem|stromal|progenitor) cells?[- ](?:derived|secreted)|derived from [\w\s-]{0,40}?(?:stem|"
    r"stromal) "
    r"cells?|(?:mscs?|bm-mscs?|usc|imsc|adsc)[- ]derived|nucleus pulposus[- ]derived mesenchymal stem cells?|"
    r"(?:mscs?|stem cells?) deliver"), "derived", "secreted", "deliver")

_DISC = lc_pattern(
    r"\b(intervertebral dis[ck]s?|dis[ck] degeneration|degenerat\w* dis[ck]s?|dis[ck] disease|ivdd|idd|ivds?|"
    r"ddd|nucleus pulposus|annulus fibrosus|intradis[ck]al|dis[ck] regeneration|dis[ck] repair|"
    r"lumbar dis[ck]s?|"
    r"dis[ck] pathology|nucleotomi[sz]ed|degenerated dis[ck]s?|disc herniation)\b")
_DISCOGENIC = lc_pattern(r"\b(discogenic|diskogenic|dis[ck]-generated)\b")
_LBP = lc_pattern(r"\b(low(?:er)? back pain|lbp|clbp|dlbp|lumbago|back pain)\b")
_OTHER_SPINE = lc_pattern(
    r"\b(spinal cord injur\w*|sci|(?:interbody|spinal|lumbar|posterolateral) fusion|arthrodesis|"
    r"fusion rates?|"
    r"rates of fusion|nonunion|pseudarthrosis|vertebral (?:compression )?fractures?|basivertebral nerve|"
    r"vertebrogenic|scoliosis|osteoporo\w*)\b")

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

def interventions(text: Text) -> tuple[tuple[str, ...], list[str]]:
    """Watched interventions the paper is *about*, and reasons. An intervention only named in passing in a
    paper whose title names another treatment (a PRP trial mentioning stem cells) does not count."""
    found: list[str] = []
    reasons: list[str] = []
    everything = text.all_l
    other_in_title: bool | None = None
    for name, pattern in _INTERVENTIONS.items():
        haystack = _CELL_SOURCE.sub(" ", everything) if name == "stem-cells" else everything
        title = _CELL_SOURCE.sub(" ", text.title_l) if name == "stem-cells" else text.title_l
        if name == "gene-therapy":
            spans = [m.span() for m in pattern.finditer(haystack)]
            # the case-sensitive names count where no other gene-therapy word already matched (one alternation
            # before the split: the first alternative at a position won)
            si_names = _SI_GENE.finditer(text.all) if _SI_QUICK.search(text.all) else iter(())
            extra = [m for m in si_names if not any(a < m.end() and m.start() < b for a, b in spans)]
            count = len(spans) + len(extra)
            in_title = bool(pattern.search(title) or (_SI_QUICK.search(text.title) and _SI_GENE.search(text.title)))
        else:
            count = len(pattern.findall(haystack))
            in_title = bool(count and pattern.search(title))
        if not count:
            continue
        if other_in_title is None:
            other_in_title = bool(_OTHER_TREATMENTS.search(text.title_l))
        if not in_title and other_in_title and count < 3:
            reasons.append(f"{INTERVENTION_PHRASES[name]} only mentioned in passing")
            continue
        found.append(name)
    return tuple(found), reasons


def other_treatment(text: Text) -> str | None:
    """The non-watched treatment a title names, e.g. "platelet-rich plasma" (for the reason line)."""
    match = _OTHER_TREATMENTS.search(text.title_l)
    return quote(text.title, match, 1) if match else None


_CHRONIC = lc_pattern(r"\bchronic\b|\bclbp\b|\bdlbp\b")


def condition(text: Text) -> str:
    """disc-degeneration, discogenic-lbp, other-spine (fusion, cord injury, endplates…) or off-topic."""
    if _OTHER_SPINE.search(text.title_l):
        return "other-spine"
    body = text.all_l
    disc = bool(_DISC.search(body))
    lbp = bool(_LBP.search(body))
    chronic_lbp = lbp and _CHRONIC.search(body)
    if (lbp and disc) or chronic_lbp or _DISCOGENIC.search(body):  # the article: chronic LBP
        return "discogenic-lbp"
    if disc:
        return "disc-degeneration"
    if lbp or _OTHER_SPINE.search(body):
        return "other-spine"
    return "off-topic"


# --- population ---------------------------------------------------------------------------------------------

def population(article: Article, text: Text) -> tuple[str, str]:
    """(human | animal | in-vitro | unknown, reason). Curated MeSH check tags decide when present; the text
    decides otherwise, and for automatically indexed records when it disagrees."""
    mesh = {m.descriptor for m in article.mesh}
    if mesh and {"Humans", "Animals"} & mesh and article.indexing_method != "Automated":
        from_mesh = "human" if "Humans" in mesh else "animal"
        return from_mesh, f"MeSH: {'Humans' if from_mesh == 'human' else 'Animals'}"
    from_text, why = _population_from_text(text)
    if mesh and {"Humans", "Animals"} & mesh and from_text == "unknown":
        from_mesh = "human" if "Humans" in mesh else "animal"
        return from_mesh, f"MeSH: {'Humans' if from_mesh == 'human' else 'Animals'}"
    return from_text, why


def _population_from_text(text: Text) -> tuple[str, str]:
    title_animal = _ANIMAL.search(text.title_l)
    if title_animal:
        return "animal", f"animals ({quote(text.title, title_animal)}) in the title"
    body = text.body_l
    treated = _TREATED_PATIENTS.search(body)
    outcomes = _HUMAN_OUTCOMES.search(body) if treated else None
    first_animal = _ANIMAL.search(body)
    if treated and (outcomes or not first_animal):
        return "human", "patients treated/enrolled"
    if first_animal:
        return "animal", f"animal study ({quote(text.body, first_animal)})"
    if _IN_VITRO.search(body):
        return "in-vitro", "cells in culture"
    if _HUMAN_COUNT.search(body) or _HUMAN_OUTCOMES.search(body):
        return "human", "human subjects or clinical outcomes"
    return "unknown", "no study population stated"


def mentions_animal_work(text: Text) -> bool:
    return bool(_ANIMAL.search(text.body_l) or _ANIMAL_STUDIES.search(text.body_l))


_HUMAN_WORK = lc_pattern(r"\b(human|clinical)\s+(?:clinical\s+)?(trials?|studies)\b|\bpatients?\b|"
                  r"\bparticipants\b|\bcases\b")


def mentions_human_work(text: Text, title_only: bool = False) -> bool:
    return bool(_HUMAN_WORK.search(text.title_l if title_only else text.body_l))


def treated_patients(text: Text) -> bool:
    """Patients enrolled/treated and outcomes measured: a clinical study, whatever it calls itself."""
    return bool(_TREATED_PATIENTS.search(text.body_l) and _HUMAN_OUTCOMES.search(text.body_l))


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
