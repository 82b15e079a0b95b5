"""Signals read from one PubMed record: who was studied, with what, for which condition, how many, how long.

Pure text/indexing analysis for `pipeline.assess`. Fresh records (Status="Publisher") carry neither MeSH nor
real publication types, so the title and abstract are always read; curated publication types and MeSH confirm
or override. The title says what a paper *is*; the abstract's background often talks about *other* studies
("a recent RCT showed…"), so abstract design rules only fire on phrases describing the paper's own methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.records import Article

# --- vocabulary ---------------------------------------------------------------------------------------------

_I = re.IGNORECASE
_ANIMAL = re.compile(
    r"\b(rats?|mice|mouse|murine|rabbits?|sheep|ovine|porcine|pigs?|minipigs?|canine|dogs?|goats?|bovine|"
    r"primates?|monkeys?|macaques?|zebrafish|sprague[- ]dawley|wistar|new zealand white|animal models?|"
    r"in vivo (?:rabbit|rat|mouse|animal|sheep|goat|pig|dog)|(?:rat|mouse|rabbit|sheep|goat|pig|dog|tail)"
    r"[- ](?:model|disc)s?)\b", _I)
_ANIMAL_STUDIES = re.compile(r"\banimal (?:studies|experiments|models?)\b", _I)
_IN_VITRO = re.compile(
    r"\b(in vitro|cell culture|cultured (?:human |rat )?(?:nucleus|np|disc|annulus)|cell lines?|"
    r"western blot\w*|"
    r"qrt-pcr|rt-qpcr|polymerase chain reaction|flow cytometry|transfect\w*|serotypes?|"
    r"(?:nucleus pulposus|np|annulus fibrosus|af|disc|intervertebral dis[ck]) cells?|npcs?|"
    r"il-1β[- ]induced|il-1β stimulation|tnf-α[- ]induced)\b", _I)
_HUMAN_OUTCOMES = re.compile(
    r"\b(visual analog(?:ue)? scale|vas|oswestry|odi|numeric(?:al)? rating scale|nrs|sf-36|sf-12|eq-5d|"
    r"pain scores?|adverse events?|quality of life|re-?operation)\b", _I)
_HUMAN_SUBJECTS = re.compile(
    r"\b(patients?|participants?|subjects?|volunteers?|adults?|humans?|men and women|women|men|"
    r"individuals|cases)\b", _I)
_TREATED_PATIENTS = re.compile(
    r"\b(patients?|participants?|subjects?|adults|women|men|cases)\b[^.]{0,60}?\b(were|was|underwent|"
    r"received|"
    r"enrolled|treated|included|randomi[sz]ed|followed|injected|allocated|completed)\b"
    r"|\b(enrolled|recruited|treated|randomi[sz]ed)\b[^.]{0,40}?\b(patients?|participants?|subjects?)\b", _I)

_INTERVENTIONS: dict[str, re.Pattern[str]] = {
    "stem-cells": re.compile(
        r"\b(stem cells?|stem-cells?|stromal cells?|mesenchymal|mscs?|bm-mscs?|ad-?mscs?|at-mscs?|huc-mscs?|"
        r"progenitor cells?|precursor cells?|mpcs?|bone marrow (?:aspirate )?concentrate|"
        r"(?:concentrated )?bone marrow aspirate|bmac|cbma|stromal vascular fraction|svf|"
        r"marrow (?:mesenchymal )?cells?|chondrocyte (?:transplantation|implantation)|disc chondrocytes?|"
        r"adct|notochordal cell (?:transplantation|therapy)|cell[- ]based therap\w*|cell therap\w*|"
        r"cellular therap\w*|cell (?:transplantation|implantation)|cell compound|viable (?:structural |"
        r"disc )?"
        r"allograft|cellularized bone matrix)\b", _I),
    "exosomes": re.compile(
        r"\b(exosom\w*|extracellular (?:nano)?vesicles?|evs|sevs|sc-s?evs|msc-s?evs|nanovesicles?|"
        r"microvesicles?|secretome|conditioned medi(?:um|a))\b", _I),
    "gene-therapy": re.compile(
        r"\b(gene therap\w*|genetic therap\w*|gene transfer|gene transduction|gene delivery|gene editing|"
        r"gene silencing|crispr\w*|cas9|adeno-associated virus\w*|aavs?|scaav|lentivir\w*|adenovir\w*|"
        r"retrovir\w*|viral vectors?|sirnas?|shrnas?|small interfering rnas?|antisense oligonucleotides?|"
        r"gene-modified|genetically (?:modified|engineered)|gene-enhanced|rnai|"
        r"(?-i:si[A-Z][A-Z0-9]{2,}\w*))\b", _I),  # siSTING, siCOL1A2: case matters ("single" is no siRNA)
}
_INTERVENTION_WORDS = {"stem-cells": "cell therapy", "exosomes": "exosomes/extracellular vesicles",
                       "gene-therapy": "gene therapy"}
# Other treatments near-miss papers are about: named so a writer sees why a disc RCT is not ours.
_OTHER_TREATMENTS = re.compile(
    r"\b(platelet[- ]rich plasma|prp|methylene blue|ablation|radiofrequency|steroids?|corticosteroids?|"
    r"ozone|rhbmp-2|bmp-2|fusion|discectomy|acupuncture|quercetin|hyaluronic acid(?! derivative))\b", _I)
# Cells merely named as the source of vesicles or the target of a drug are not a cell therapy.
_CELL_SOURCE = re.compile(
    r"\b(?:stem|stromal|progenitor) cells?[- ](?:derived|secreted)|derived from [\w\s-]{0,40}?(?:stem|"
    r"stromal) "
    r"cells?|(?:mscs?|bm-mscs?|usc|imsc|adsc)[- ]derived|nucleus pulposus[- ]derived mesenchymal stem cells?|"
    r"(?:mscs?|stem cells?) deliver", _I)

_DISC = re.compile(
    r"\b(intervertebral dis[ck]s?|dis[ck] degeneration|degenerat\w* dis[ck]s?|dis[ck] disease|ivdd|idd|ivds?|"
    r"ddd|nucleus pulposus|annulus fibrosus|intradis[ck]al|dis[ck] regeneration|dis[ck] repair|"
    r"lumbar dis[ck]s?|"
    r"dis[ck] pathology|nucleotomi[sz]ed|degenerated dis[ck]s?|disc herniation)\b", _I)
_DISCOGENIC = re.compile(r"\b(discogenic|diskogenic|dis[ck]-generated)\b", _I)
_LBP = re.compile(r"\b(low(?:er)? back pain|lbp|clbp|dlbp|lumbago|back pain)\b", _I)
_OTHER_SPINE = re.compile(
    r"\b(spinal cord injur\w*|sci|(?:interbody|spinal|lumbar|posterolateral) fusion|arthrodesis|"
    r"fusion rates?|"
    r"rates of fusion|nonunion|pseudarthrosis|vertebral (?:compression )?fractures?|basivertebral nerve|"
    r"vertebrogenic|scoliosis|osteoporo\w*)\b", _I)

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_NUM = (r"(\d{1,5}(?:,\d{3})?|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:-(?:one|two|three|"
        r"four|five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
        r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)")
_HUMAN_COUNT = re.compile(
    r"(?<![\w.,-])" + _NUM + r"\s+(?:(?!(?:in|of|with|from|for|to|at|by|and|or)\b)[a-z][\w-]*\s+){0,4}?"
    r"(patients|participants|subjects|adults|individuals|cases|volunteers)\b",
    _I)
_TOTAL_COUNT = re.compile(r"\b(?:a total of|total of|enrolled|included|recruited)\s+" + _NUM + r"\b", _I)
_ANIMAL_COUNT = re.compile(
    _NUM + r"\s+(?:[a-z][\w-]*\s+){0,3}?(rats|mice|rabbits|sheep|goats|pigs|dogs|animals)\b", _I)
_SEARCH_YIELD = re.compile(r"\s*(?:were\s+)?(?:identified|screened|retrieved|found|records|initially)", _I)
_STUDY_COUNT = re.compile(_NUM + r"\s+(?:eligible\s+|included\s+)?(studies|articles|trials|rcts)\b", _I)

_DURATION = re.compile(_NUM + r"[- ](months?|years?|weeks?)\b", _I)
_FOLLOW_CONTEXT = re.compile(
    r"follow|post-?injection|post-?operative|post-?procedure|post-?treatment|month study|year study|"
    r"year results|month results|evaluated at|assessed at|collected at|visit|through|out to|over \d|"
    r"maintenance", _I)
_SYMPTOM_DURATION = re.compile(
    r"(?:at least|more than|lasted for|longer than|≥|>|duration of|for over|history of)\s*\(?" + _NUM +
    r"[- ](?:months?|years?|weeks?)$", _I)
_AT_LIST = re.compile(r"\bat\s+((?:\d+,\s*)*\d+,?\s*(?:and|or)\s+(\d+))\s+(months|years|weeks)\b", _I)


@dataclass(frozen=True)
class Text:
    """The words of a record, split by where they appear (the title weighs more than the abstract)."""

    title: str
    abstract: str
    keywords: str

    @property
    def all(self) -> str:
        return f"{self.title}\n{self.abstract}\n{self.keywords}"

    @property
    def body(self) -> str:
        return f"{self.title}\n{self.abstract}"

    @classmethod
    def of(cls, article: Article) -> Text:
        return cls(title=article.title, abstract=article.abstract_text, keywords="; ".join(article.keywords))


def to_int(token: str) -> int | None:
    token = token.lower().replace(",", "")
    if token.isdigit():
        return int(token)
    if "-" in token:
        tens, _, ones = token.partition("-")
        if tens in _NUMBER_WORDS and ones in _NUMBER_WORDS:
            return _NUMBER_WORDS[tens] + _NUMBER_WORDS[ones]
        return None
    return _NUMBER_WORDS.get(token)


# --- interventions, condition -------------------------------------------------------------------------------

def interventions(text: Text) -> tuple[tuple[str, ...], list[str]]:
    """Watched interventions the paper is *about*, and reasons. An intervention only named in passing in a
    paper whose title names another treatment (a PRP trial mentioning stem cells) does not count."""
    found: list[str] = []
    reasons: list[str] = []
    everything = text.all
    for name, pattern in _INTERVENTIONS.items():
        haystack = everything
        if name == "stem-cells":
            haystack = _CELL_SOURCE.sub(" ", everything)
        hits = pattern.findall(haystack)
        if not hits:
            continue
        title = _CELL_SOURCE.sub(" ", text.title) if name == "stem-cells" else text.title
        in_title = bool(pattern.search(title))
        if not in_title and _OTHER_TREATMENTS.search(text.title) and len(hits) < 3:
            reasons.append(f"{_INTERVENTION_WORDS[name]} only mentioned in passing")
            continue
        found.append(name)
    return tuple(found), reasons


def other_treatment(text: Text) -> str | None:
    """The non-watched treatment a title names, e.g. "platelet-rich plasma" (for the reason line)."""
    match = _OTHER_TREATMENTS.search(text.title)
    return match.group(1) if match else None


def condition(text: Text) -> str:
    """disc-degeneration, discogenic-lbp, other-spine (fusion, cord injury, endplates…) or off-topic."""
    if _OTHER_SPINE.search(text.title):
        return "other-spine"
    body = text.all
    disc = bool(_DISC.search(body))
    chronic_lbp = _LBP.search(body) and re.search(r"\bchronic\b|\bclbp\b|\bdlbp\b", body, _I)
    if _DISCOGENIC.search(body) or (_LBP.search(body) and disc) or chronic_lbp:  # the article: chronic LBP
        return "discogenic-lbp"
    if disc:
        return "disc-degeneration"
    if _OTHER_SPINE.search(body) or _LBP.search(body):
        return "other-spine"
    return "off-topic"


# --- population ---------------------------------------------------------------------------------------------

def population(article: Article, text: Text) -> tuple[str, str]:
    """(human | animal | in-vitro | unknown, reason). Curated MeSH check tags decide when present; the text
    decides otherwise, and for automatically indexed records when it disagrees."""
    from_text, why = _population_from_text(text)
    mesh = {m.descriptor for m in article.mesh}
    if mesh and {"Humans", "Animals"} & mesh:
        from_mesh = "human" if "Humans" in mesh else "animal"
        if article.indexing_method != "Automated" or from_text == "unknown":
            return from_mesh, f"MeSH: {'Humans' if from_mesh == 'human' else 'Animals'}"
    return from_text, why


def _population_from_text(text: Text) -> tuple[str, str]:
    body = text.body
    title_animal = _ANIMAL.search(text.title)
    treated = _TREATED_PATIENTS.search(body)
    outcomes = _HUMAN_OUTCOMES.search(body)
    animal_hits = [m.group(0) for m in _ANIMAL.finditer(body)]
    if title_animal:
        return "animal", f"animals ({title_animal.group(0)}) in the title"
    if treated and (outcomes or not animal_hits):
        return "human", "patients treated/enrolled"
    if animal_hits:
        return "animal", f"animal study ({animal_hits[0]})"
    if _IN_VITRO.search(body):
        return "in-vitro", "cells in culture"
    if _HUMAN_COUNT.search(body) or outcomes:
        return "human", "human subjects or clinical outcomes"
    return "unknown", "no study population stated"


def mentions_animal_work(text: Text) -> bool:
    return bool(_ANIMAL.search(text.body) or _ANIMAL_STUDIES.search(text.body))


_HUMAN_WORK = re.compile(r"\b(human|clinical)\s+(?:clinical\s+)?(trials?|studies)\b|\bpatients?\b|"
                         r"\bparticipants\b|\bcases\b", _I)


def mentions_human_work(text: Text, title_only: bool = False) -> bool:
    return bool(_HUMAN_WORK.search(text.title if title_only else text.body))


def treated_patients(text: Text) -> bool:
    """Patients enrolled/treated and outcomes measured: a clinical study, whatever it calls itself."""
    return bool(_TREATED_PATIENTS.search(text.body) and _HUMAN_OUTCOMES.search(text.body))


# --- numbers ------------------------------------------------------------------------------------------------

def sample_size(text: Text, population: str) -> int | None:
    """Participants (or animals) in the study, as the abstract states it; None if not stated."""
    body = text.body
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
    body = text.body
    for match in _STUDY_COUNT.finditer(body):
        if _SEARCH_YIELD.match(body, match.end()):
            continue
        return to_int(match.group(1))
    return None


def follow_up_months(text: Text) -> float | None:
    """Longest follow-up stated (months); symptom durations ("pain for at least 6 months") excluded."""
    best: float | None = None
    for sentence in re.split(r"(?<=[.;:])\s+|\n", text.body):
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

def trial_features(text: Text) -> list[str]:
    """Words a writer uses to weigh a trial: double-blind, placebo-/sham-controlled, multicentre, phase."""
    body = text.body
    features = []
    if re.search(r"double[- ]blind", body, _I):
        features.append("double-blind")
    if re.search(r"\bsham\b", body, _I):
        features.append("sham-controlled")
    elif re.search(r"placebo|saline control|vehicle control", body, _I):
        features.append("placebo-controlled")
    if re.search(r"multi-?cent(?:er|re)|\b\d+ (?:clinical )?sites\b", body, _I):
        features.append("multicentre")
    phase = re.search(r"\bphase\s+(I{1,3}[AB]?(?:/I{1,3})?|[123][ab]?(?:/[123])?)\b", body, _I)
    if phase:
        features.append(f"phase {phase.group(1).upper()}")
    return features


def mentions_safety(text: Text) -> bool:
    return bool(re.search(r"adverse events?|safety|safe\b|tolerab\w*|complications?|side effects?",
                          text.body, _I))


__all__ = [
    "Text", "condition", "follow_up_months", "interventions", "mentions_animal_work", "mentions_human_work",
    "mentions_safety", "other_treatment", "population", "sample_size", "study_count", "to_int",
    "trial_features",
]
