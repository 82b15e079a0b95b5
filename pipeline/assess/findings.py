"""What a human clinical record found (issue 12): direction, control, stated outcomes, the abstract's own result
sentence. Pure, topic-free (the topic only adds its outcome scales).

Every outcome is copied, never computed: `value` is a slice of its `quote`, and the quote a slice of the record's
title or abstract (`quote_in_record` checks both; the tests and `evaluate` hold every record to it). Results are
read from the RESULTS/CONCLUSIONS sections when the abstract labels them (or heads them inline, "Results At 6
months…"), otherwise from sentences worded as results; methods sentences ("were randomized", "we searched") are
never a result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from litwatch.storage.records import Article, Finding, Outcome

from ..watchlist import Topic
from .design import HUMAN_EVIDENCE, SYNTHESIS
from .text import fold, lc_pattern
from .topic import alternation

_MAX_OUTCOMES = 6

# --- sentences and sections -----------------------------------------------------------------------------------

_RESULT_LABEL = lc_pattern(r"^(results?|findings|main results|outcomes?)\b")
_CONCLUSION_LABEL = lc_pattern(r"^(conclusions?|authors' conclusions|interpretation|clinical relevance)\b")
_RESULT_CATEGORY = {"RESULTS"}
_CONCLUSION_CATEGORY = {"CONCLUSIONS"}
# Inline headings of an unlabelled abstract ("…12 months.Results At 6 and…", "ResultsEight RCTs…"): capitalised,
# followed by a capital letter or a digit, so "Results from trials" is no heading.
_INLINE_HEAD = re.compile(
    r"(?:(?<=[.\s])|^)(Background|BACKGROUND|Objectives?|OBJECTIVES?|Purpose|PURPOSE|Aims?|Design|DESIGN|"
    r"Methods?|METHODS?|Results?|RESULTS?|Conclusions?|CONCLUSIONS?)(?::\s*|\s+(?=[A-Z0-9])|(?=[A-Z][a-z]))")
# A sentence ends at . ! ? followed by space and a capital, digit or bracket: decimals ("54.81"), "P = .02" and
# "vs. baseline" do not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\u201c\"])")


@dataclass(frozen=True)
class _Sentence:
    text: str  # verbatim slice of the record's title or abstract
    part: str  # "result", "conclusion", "other" (which part of the abstract it is in)


def _sections(article: Article) -> Iterator[tuple[str, str]]:
    """(part, text) per abstract section; an unlabelled section is split at its inline headings."""
    for section in article.abstract:
        label = fold(section.label or "")
        category = (section.category or "").upper()
        if category in _CONCLUSION_CATEGORY or _CONCLUSION_LABEL.search(label):
            yield "conclusion", section.text
        elif category in _RESULT_CATEGORY or _RESULT_LABEL.search(label):
            yield "result", section.text
        elif section.label:
            yield "other", section.text
        else:
            yield from _inline_sections(section.text)


def _inline_sections(text: str) -> Iterator[tuple[str, str]]:
    heads = list(_INLINE_HEAD.finditer(text))
    if len(heads) < 2:  # one capitalised word is no structure
        yield "unlabelled", text
        return
    if heads[0].start() > 0:
        yield "other", text[:heads[0].start()]
    for head, nxt in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end():nxt.start() if nxt else len(text)]
        word = head.group(1).lower()
        part = "result" if word.startswith("result") else "conclusion" if word.startswith("conclusion") else "other"
        yield part, body


def sentences(article: Article) -> list[_Sentence]:
    out = []
    for part, text in _sections(article):
        for sentence in (piece.strip() for piece in _BOUNDARY.split(text)):
            if len(sentence) > 3:
                out.append(_Sentence(sentence, part))
    return out


# --- wording --------------------------------------------------------------------------------------------------

_METHODS = lc_pattern(
    r"\b(were|was) (randomi[sz]ed|randomly|enrolled|recruited|included|allocated|assigned|searched|screened|"
    r"evaluated using|assessed using|collected|measured|used)\b|\bwe (searched|included|conducted|performed|"
    r"enrolled|recruited|used)\b|\bwill be\b|\b(databases?|literature) (were|was) (systematically )?searched\b|"
    r"\bprimary (outcome|end ?point)s? (was|were|is|included)\b|\bsecondary (outcome|end ?point)s?\b|"
    r"\bthe (aim|objective|purpose) of\b|\bwere identified in the initial search\b")
_RESULT_WORDS = lc_pattern(
    r"\b(we found|showed|shown|demonstrat\w+|revealed|was associated|were associated|no significant|"
    r"not significantly|significant\w*|improv\w+|reduc\w+|decreas\w+|increas\w+|compar(?:able|ably)|"
    r"did not differ|no differences?|effective|efficacy|superior|inferior|better|worse|beneficial|favou?rabl\w*|"
    r"conclusions?|suggest\w*|indicat\w+|resolved|safe|tolerated|adverse|relief|responders?|p\s*[<=>≤])")
# Null between groups ("no significant differences", "comparable", "did not differ", "not superior").
_NULL = lc_pattern(
    r"\b(no (?:statistically )?significant (?:\w+ ){0,2}differences?|no (?:\w+ ){0,2}differences? (?:between|was|were"
    r"|in)|not (?:statistically )?significantly (?:different|better|superior)|did not (?:significantly )?differ|"
    r"comparabl[ey]|similar (?:improvements?|outcomes|results|effects?|pain relief)|not superior|no (?:added|"
    r"additional) (?:benefit|effect)|failed to (?:show|demonstrate)|no clinically (?:important|meaningful|relevant)"
    r"|no significant (?:changes?|effect|improvement)s? (?:were observed )?between)")
# "no differences … in age, gender" compares the groups at baseline, not the result
_BASELINE_CHARACTERISTICS = lc_pattern(r"\b(age|gender|sex|bmi|demographic\w*|baseline characteristics|kl grade)\b")
_POSITIVE = lc_pattern(
    r"\b(significant(?:ly)? (?:\w+ ){0,3}(?:improv\w*|better|reduc\w*|lower|decreas\w*|greater|higher|increas\w*|"
    r"relief)|improv(?:ed|ement|ements|es|e)|effective|beneficial|better (?:results|outcomes|than)|superior|"
    r"favou?rabl\w*|significant(?:ly)? differen\w+ between (?:the )?groups|reduc(?:ed|tion|es)|decreased|"
    r"relie(?:f|ve)|promising|outperformed|encouraging)")
_NEGATIVE = lc_pattern(
    r"\b(worse than|inferior to|favou?red (?:the )?(?:control|placebo|saline|sham)|(?:placebo|control|sham|saline)"
    r" (?:\w+ ){0,2}(?:was|were) (?:significantly )?(?:better|superior))")
_STRUCTURE = lc_pattern(
    r"\b(mri|magnetic resonance|pfirrmann|disc height|t2|water content|cartilage|structur\w+|radiograph\w*|"
    r"imaging)\b")
_SAFETY = lc_pattern(r"\b(adverse|safe(?:ty)?|tolera(?:ted|ble|bility)|complications?|side effects?|harms?)\b")
_BETWEEN = lc_pattern(r"\b(between (?:the )?(?:two |2 )?groups|vs\.?|versus|compared (?:with|to) (?:the )?"
                      r"(?:control|placebo|sham|saline|hyaluronic|ha\b|exercise|traditional|other)|than (?:the )?"
                      r"(?:control|placebo|sham|saline|patients receiving|ha\b|hyaluronic|exercise))")
_BASELINE = lc_pattern(r"\b(from baseline|compared (?:with|to) baseline|before and after|pre-? ?(?:and|to) "
                       r"post|baseline)\b")
_CONTROL = lc_pattern(
    r"\b(sham|placebo|saline|control group|controls|versus|vs\.?|compared (?:with|to)(?! baseline)|randomi[sz]\w+|"
    r"randomly|control(?:led)?)\b")
_UNCONTROLLED = lc_pattern(r"\b(single[- ]arm|open[- ]label|case series|retrospective|registry|case reports?|"
                           r"two case|one patient|\d+ patients? (?:was|were) treated)\b")

# --- outcomes -------------------------------------------------------------------------------------------------

_GENERAL_MEASURES: tuple[tuple[str, str], ...] = (
    ("VAS", r"visual analog(?:ue)? (?:scale|score)s?(?: \(vas\))?|vas(?:[- ]pain)?"),
    ("NRS", r"numeric(?:al)? (?:pain )?rating scale(?: \(nrs\))?|nrs"),
    ("ODI", r"oswestry(?: low back pain)? disability index(?: \(odi\))?|odi"),
    ("SMD", r"smd|standardi[sz]ed mean difference"),
    ("MRI grade", r"pfirrmann(?: grade| grading| score)?|mri|t2 (?:mapping|values?)|disc height(?: index)?"),
    ("re-operation", r"re-?operations?|reoperation rate|revision surgery|subsequent surgery"),
    ("adverse events", r"(?:serious |major |severe )?adverse (?:events?|reactions?|effects)|complications?|"
                       r"side effects?"),
    ("pain", r"pain (?:scores?|intensity)"),
)
_NUMBER = re.compile(r"(?<![\w.±−–-])[−–-]?\d+(?:[.,·]\d+)?(?: ?%)?(?![\w])")
_PVALUE_BEFORE = re.compile(r"(?:\bp\s*[<=>≤≥]\s*|ci\s*[=:,]?\s*\(?|95\s*%\s*ci[^0-9−-]{0,6}|\bto\s|[~≈]|i2\s*[=≤<]\s*|"
                            r"\bn\s*=\s*|\bcases?\s|\bgrade\s|\bkl\s)$", re.IGNORECASE)
_LISTED_TIME = re.compile(r"(?:\s*(?:,|and|or)?\s*\d+)*\s*[- ]?(?:days?|weeks?|months?|years?)\b")
_TIMEPOINT = re.compile(r"\b(\d+|one|two|three|four|five|six|eight|nine|ten|twelve|eighteen|twenty-four)[- ]"
                        r"(?:months?|years?|weeks?|days?)\b", re.IGNORECASE)


@lru_cache(maxsize=32)
def _measure_patterns(scales: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The general measures plus the topic's own scales (named as the topic writes them, upper-cased)."""
    out = [(name, lc_pattern(r"\b(?:" + regex + r")\b")) for name, regex in _GENERAL_MEASURES]
    for scale in scales:
        out.append((scale.upper() if len(scale) <= 6 else scale, re.compile(r"(?<!\w)(?:" + alternation((scale,))
                                                                               + r")(?!\w)")))
    return tuple(out)


def _outcomes(sentence: str, scales: tuple[str, ...]) -> list[Outcome]:
    """Numbers the sentence states right after a measure it names: each copied, with the sentence as quote."""
    folded = fold(sentence)
    found: list[Outcome] = []
    taken: set[int] = set()
    for name, pattern in _measure_patterns(scales):
        for match in pattern.finditer(folded):
            window_end = min(len(sentence), match.end() + 50)
            for number in _NUMBER.finditer(sentence, match.end(), window_end):
                before = folded[max(0, number.start() - 16):number.start()]
                if ("case" in before or "group" in before[-7:] or re.search(r"\bci\b", before)
                        or _LISTED_TIME.match(folded, number.end())):
                    continue  # "(cases 4, 8)" numbers patients; "95% CI (1.90, 4.56)" bounds; "3, 7 days" times
                if number.start() in taken or _PVALUE_BEFORE.search(sentence[max(0, number.start() - 14):
                                                                              number.start()]):
                    continue
                if _TIMEPOINT.match(sentence, number.start()) or re.fullmatch(r"(?:19|20)\d\d", number.group()):
                    continue
                if fold(sentence[number.end():number.end() + 5]).lstrip("% ").startswith("ci"):
                    continue  # "95% CI" is no result
                taken.add(number.start())
                found.append(Outcome(measure=name, value=number.group(), unit=_unit(sentence, match, number),
                                     timepoint=_timepoint(sentence, number.start()), quote=sentence))
                break
    return found


def _timepoint(sentence: str, position: int) -> str:
    """The time point nearest before the number ("two months: SMD = −0.837"), else the sentence's first."""
    points = list(_TIMEPOINT.finditer(sentence))
    before = [p for p in points if p.start() < position]
    chosen = before[-1] if before else (points[0] if points else None)
    return chosen.group() if chosen else ""


def _unit(sentence: str, measure: re.Match[str], number: re.Match[str]) -> str:
    value = number.group()
    between = fold(sentence[measure.start():number.start()])
    after = fold(sentence[number.end():number.end() + 12])
    if value.endswith("%") or after.startswith(("%", " %")):
        return "%"
    if "smd" in between or "standardi" in between:
        return "SMD"
    if "mean difference" in between or re.search(r"\bmd\b", between):
        return "mean difference"
    if after.lstrip().startswith(("point", "pts")):
        return "points"
    if " to " in after[:5] or after.lstrip().startswith("to "):
        return "score (from … to)"
    return ""


# --- the finding ----------------------------------------------------------------------------------------------


def read_finding(article: Article, design: str, population: str, topic: Topic, *,
                 studies: int | None = None, patients: int | None = None) -> Finding | None:
    """The finding of a human clinical record or synthesis (protocols: `not-reported`); None for anything else
    (preclinical, narrative reviews, comments, notices)."""
    if population != "human" or design not in HUMAN_EVIDENCE | SYNTHESIS | {"protocol"}:
        return None
    synthesis = design in SYNTHESIS
    all_sentences = sentences(article)
    counts = {"studies": studies, "patients": _pooled_patients(all_sentences) or patients} if synthesis else {}
    controlled = _controlled(article, design, all_sentences)
    if design == "protocol" and not any(s.part == "result" for s in all_sentences):
        return Finding(direction="not-reported", controlled=controlled, **counts)
    results = _result_sentences(all_sentences)
    if title_result := _title_result(article):  # a title that states its result outweighs a cut abstract
        results = [title_result, *results]
    if not results:
        return Finding(direction="not-reported", controlled=controlled, **counts)
    outcomes: list[Outcome] = []
    for sentence in results:
        outcomes.extend(_outcomes(sentence.text, topic.outcome_scales))
    if controlled and _baseline_only(results):
        controlled = False  # the result it states is a change from baseline (crossover, cut comparison)
    return Finding(direction=_direction(results, controlled), controlled=controlled,
                   outcomes=tuple(outcomes[:_MAX_OUTCOMES]), statement=_statement(results), **counts)


_POOLED = re.compile(r"\b(\d{1,3}(?:,\d{3})*|\d+) (?:participants|patients|subjects)\b")


def _pooled_patients(all_sentences: list[_Sentence]) -> int | None:
    """Patients a synthesis pooled: the first "N participants/patients" of its results ("8 trials (544
    participants)")."""
    for sentence in all_sentences:
        if sentence.part in ("result", "unlabelled") and (match := _POOLED.search(sentence.text)):
            return int(match.group(1).replace(",", ""))
    return None


def _result_sentences(all_sentences: list[_Sentence]) -> list[_Sentence]:
    """The sentences that state results: the labelled RESULTS/CONCLUSIONS parts when the abstract has them,
    otherwise sentences worded as results; methods sentences never."""
    labelled = [s for s in all_sentences if s.part in ("result", "conclusion")]
    if labelled:  # what the abstract itself calls results: every sentence but a methods one
        return [s for s in labelled if not _METHODS.search(fold(s.text))]
    pool = [s for s in all_sentences if s.part == "unlabelled"]
    methods = [i for i, s in enumerate(pool) if _METHODS.search(fold(s.text))]
    if methods:  # background comes before the methods: results only after them
        pool = pool[methods[0] + 1:]
    return [s for s in pool if not _METHODS.search(fold(s.text)) and _RESULT_WORDS.search(fold(s.text))]


_TITLE_RESULT = lc_pattern(r"\b(can improve|improves?|comparably|have better outcomes|is superior|no difference|"
                           r"not superior|reduces)\b")


def _title_result(article: Article) -> _Sentence | None:
    """A title that states its result ("…Comparably Improve…", "…Have Better Outcomes Than…")."""
    return _Sentence(article.title, "result") if _TITLE_RESULT.search(fold(article.title)) else None


def _statement(results: list[_Sentence]) -> str:
    """The abstract's own conclusion: the first CONCLUSIONS sentence, else the last result-worded sentence that
    names an effect."""
    for sentence in results:
        if sentence.part == "conclusion":
            return sentence.text
    for sentence in reversed(results):
        if _POSITIVE.search(fold(sentence.text)) or _NULL.search(fold(sentence.text)):
            return sentence.text
    return results[-1].text


def _controlled(article: Article, design: str, all_sentences: list[_Sentence]) -> bool | None:
    text = fold(article.title + "\n" + "\n".join(s.text for s in all_sentences))
    if design in ("case-report", "case-series"):
        return False
    if design == "rct":
        return True
    if _UNCONTROLLED.search(text) and not re.search(r"\b(sham|placebo|control group|randomi[sz])", text):
        return False
    if _CONTROL.search(text):
        return True
    if _BASELINE.search(text):
        return False
    return None


def _baseline_only(results: list[_Sentence]) -> bool:
    """Every effect the results state is measured against baseline, none between groups."""
    effects = [fold(s.text) for s in results if _POSITIVE.search(fold(s.text)) or _NULL.search(fold(s.text))]
    return bool(effects) and all(_BASELINE.search(t) and not _BETWEEN.search(t) for t in effects) \
        and not any(_NULL.search(t) for t in effects)


def _direction(results: list[_Sentence], controlled: bool | None) -> str:
    text = " ".join(fold(s.text) for s in results)
    null = [m for s in results for m in _NULL.finditer(fold(s.text))
            if not _BASELINE_CHARACTERISTICS.search(fold(s.text))]
    positive_between = any(_POSITIVE.search(fold(s.text)) and _BETWEEN.search(fold(s.text))
                           and not _NULL.search(fold(s.text)) for s in results)
    positive = bool(_POSITIVE.search(_NULL.sub(" ", text)))
    if _NEGATIVE.search(text):
        return "favours-control"
    if null and not controlled and positive:
        null = []  # an uncontrolled study's "did not differ" compares its doses or subgroups, not treatment
    if null:
        structure_better = any(_STRUCTURE.search(fold(s.text)) and _POSITIVE.search(fold(s.text))
                               and not _NULL.search(fold(s.text)) for s in results)
        if structure_better or positive_between:
            return "mixed"
        return "no-difference"
    if positive:
        return "favours-treatment"
    if _SAFETY.search(text):
        return "safety-only"
    return "not-reported"


# --- the checker ----------------------------------------------------------------------------------------------


def quote_in_record(outcome: Outcome, article: Article) -> bool:
    """The rule every outcome keeps: its value is verbatim in its quote, its quote verbatim in the title or the
    abstract (as stored: each section's text)."""
    if not outcome.value or outcome.value not in outcome.quote:
        return False
    return outcome.quote in article.title or any(outcome.quote in s.text for s in article.abstract)


def unverified_outcomes(finding: Finding | None, article: Article) -> list[Outcome]:
    """The outcomes of `finding` that break `quote_in_record` (must be none), and a statement not in the record."""
    if finding is None:
        return []
    bad = [o for o in finding.outcomes if not quote_in_record(o, article)]
    if finding.statement and not (finding.statement in article.title
                                  or any(finding.statement in s.text for s in article.abstract)):
        bad.append(Outcome(measure="statement", value=finding.statement, quote=finding.statement))
    return bad


__all__ = ["quote_in_record", "read_finding", "sentences", "unverified_outcomes"]
