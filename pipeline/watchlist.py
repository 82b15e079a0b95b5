"""Load and validate the watch list: `queries/<slug>/article.toml` plus one TOML per saved PubMed search.

Everything is checked before a run starts (a typo in a query must not cost a week of silent misses): unknown
or missing keys, wrong types, duplicate ids, claims and cited studies that do not exist, each term's
PubMed syntax.
Errors are one line naming the file: `queries/stem-cell-lbp/exosomes.toml: missing key 'term'`.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QueryError, UsageError
from .pubmed import validate_term
from .pubmed.term import TermSyntaxError

ARTICLE_FILE = "article.toml"
KNOWN_FILE = "known.toml"  # papers the searches must find (`litwatch searches test`); not a saved search
REGISTRY_FILE = "registry.toml"  # ClinicalTrials.gov searches and followed trials (pipeline.registry.spec)
# Kinds of evidence that touch a claim (article.toml `watch_for`); pipeline.assess maps papers onto them.
EVIDENCE_KINDS: tuple[str, ...] = (
    "synthesis", "rct", "clinical", "long-term", "safety", "protocol", "regulatory", "preclinical",
    "correction",
)
# What a claim may assert (`expects`): a finding's direction (storage.records.DIRECTIONS) or "safe" (no serious harm).
CLAIM_EXPECTS: tuple[str, ...] = ("favours-treatment", "no-difference", "favours-control", "mixed", "safe")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A phrase in the topic's word syntax: words of letters/digits/Greek and a few signs, `*` ends a word, `...` a gap.
_PHRASE_RE = re.compile(r"^(?:\.\.\.|[^\s*]+\*?)(?:[\s-]+(?:\.\.\.|[^\s*]+\*?))*$")
OFF_TOPIC = "off-topic"  # the condition code of a paper on none of the topic's conditions


@dataclass(frozen=True)
class SavedQuery:
    id: str
    label: str
    term: str
    claims: tuple[str, ...]
    path: Path
    enabled: bool = True


@dataclass(frozen=True)
class CitedStudy:
    id: str
    label: str
    pmid: str | None
    doi: str | None
    nct_ids: tuple[str, ...]
    trial_names: tuple[str, ...]
    first_author: str | None
    year: int | None
    title: str | None
    article_says: dict[str, str | int]


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    label: str
    text: str
    interventions: tuple[str, ...]
    cites: tuple[str, ...]
    watch_for: tuple[str, ...] = ()  # EVIDENCE_KINDS that touch this claim
    # What a new paper's finding is compared with (issue 12): the direction the claim asserts (one of
    # CLAIM_EXPECTS) and the numbers it states, e.g. {"vas": -41.6, "odi": -22, "studies": 9, "patients": 245}.
    expects: str | None = None
    numbers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class TopicIntervention:
    """A watched intervention: `words` name it (word syntax: pipeline.assess.topic); `not_words` are look-alike
    phrasings blanked out first (cells only named as the source of vesicles); `case_sensitive` are regular
    expressions on the original text for names whose case matters (siRNA names such as siSTING)."""

    id: str
    label: str  # badge, e.g. "Stem cells"
    phrase: str  # in summaries, e.g. "cell therapy"
    words: tuple[str, ...]
    not_words: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()


@dataclass(frozen=True)
class TopicCondition:
    """A condition (or a look-alike one): named by any of `words`, or by one word of every group in a
    `together` entry (group names from `[topic.word_groups]`)."""

    id: str
    label: str
    words: tuple[str, ...] = ()
    together: tuple[tuple[str, ...], ...] = ()
    reason: str = ""  # look-alikes: "watched intervention, but for <reason>"


@dataclass(frozen=True)
class Topic:
    """What the article is about (`[topic]` in article.toml): everything in the assessment that names a disease or
    a therapy. Conditions are in order of precedence; look-alikes named in a title win over them."""

    about: str  # "not about <about>"
    off_topic_label: str  # summary words for a paper on none of the conditions
    watching: str  # "not a watched intervention (<watching>)"
    interventions: tuple[TopicIntervention, ...]
    conditions: tuple[TopicCondition, ...]
    look_alikes: tuple[TopicCondition, ...] = ()
    word_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    other_treatments: tuple[str, ...] = ()
    other_treatments_not: tuple[str, ...] = ()
    in_vitro_cells: tuple[str, ...] = ()  # the topic's tissue cells in culture ("nucleus pulposus cell")
    animal_models: tuple[str, ...] = ()  # the topic's animal models ("tail disc")
    outcome_scales: tuple[str, ...] = ()  # the topic's clinical outcome scales ("oswestry", "womac")

    @property
    def intervention_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.interventions)

    def intervention(self, intervention_id: str) -> TopicIntervention:
        for item in self.interventions:
            if item.id == intervention_id:
                return item
        raise KeyError(intervention_id)


@dataclass(frozen=True)
class KnownPaper:
    """A paper the article's searches must find (`known.toml` `[[papers]]`): by PMID or DOI (at least one)."""

    pmid: str | None
    doi: str | None
    note: str = ""

    @property
    def name(self) -> str:
        return f"PMID {self.pmid}" if self.pmid else f"doi {self.doi}"


@dataclass(frozen=True)
class WatchedArticle:
    slug: str
    title: str
    url: str
    claims: tuple[Claim, ...]
    cited: tuple[CitedStudy, ...]
    queries: tuple[SavedQuery, ...]
    path: Path
    topic: Topic
    # ISO date the article's evidence was last searched: human trials and syntheses published before it may
    # already be in it (review, not update). None: every new trial is news.
    evidence_current_to: str | None = None
    recipients: tuple[str, ...] = ()  # who gets this article's digest by mail (empty: [mail] recipients)
    known: tuple[KnownPaper, ...] = ()  # known.toml: papers the searches must find (the cited studies count too)
    last_updated: str | None = None  # "YYYY-MM" or "YYYY-MM-DD": papers older than this may have been considered

    def claim(self, claim_id: str) -> Claim:
        for claim in self.claims:
            if claim.id == claim_id:
                return claim
        raise KeyError(claim_id)


# --- loading ------------------------------------------------------------------------------------------

def load_watchlist(queries_dir: Path) -> list[WatchedArticle]:
    """Every `<slug>/` folder under `queries_dir`, sorted by slug; raises QueryError on the first problem."""
    queries_dir = Path(queries_dir)
    if not queries_dir.is_dir():
        raise QueryError(f"{queries_dir}: not a directory")
    folders = sorted(p for p in queries_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        raise QueryError(f"{queries_dir}: no article folders (expected <slug>/{ARTICLE_FILE})")
    articles = []
    seen: dict[str, Path] = {}
    root = queries_dir.parent
    for folder in folders:
        article_toml = folder / ARTICLE_FILE
        if not article_toml.is_file():
            raise QueryError(f"{_show(folder, root)}: missing {ARTICLE_FILE}")
        article = _load_article(article_toml, root)
        for query in article.queries:  # run ids and watermarks are per query id: they must be unique overall
            if query.id in seen:
                raise QueryError(f"{_show(query.path, root)}: duplicate query id '{query.id}' "
                                 f"(also in {_show(seen[query.id], root)})")
            seen[query.id] = query.path
        articles.append(article)
    return articles


def load_article(article_toml: Path) -> WatchedArticle:
    """One article with the saved searches of its folder (every other `*.toml` there)."""
    article_toml = Path(article_toml)
    return _load_article(article_toml, article_toml.parent.parent.parent)


def _load_article(article_toml: Path, root: Path) -> WatchedArticle:
    where = _show(article_toml, root)
    data = _read_toml(article_toml, where)
    doc = _Table(data, where)
    doc.allow({"slug", "title", "url", "last_updated", "evidence_current_to", "recipients", "topic", "claims",
               "studies"})
    slug = doc.ident("slug")
    if slug != article_toml.parent.name:
        raise QueryError(f"{where}: slug '{slug}' does not match its folder '{article_toml.parent.name}'")
    title = doc.text("title")
    url = doc.text("url")
    last_updated = doc.optional_text("last_updated")
    recipients = doc.strings("recipients")
    for address in recipients:
        if "@" not in address:
            raise QueryError(f"{where}: key 'recipients': not an e-mail address: '{address}'")
    current_to = doc.optional_text("evidence_current_to")
    if current_to is not None and not _ISO_DATE.match(current_to):
        raise QueryError(f"{where}: key 'evidence_current_to' must be a date YYYY-MM-DD, got '{current_to}'")
    if "topic" not in data:
        raise QueryError(f"{where}: missing key 'topic' (the [topic] table: interventions and conditions)")
    if not isinstance(data["topic"], dict):
        raise QueryError(f"{where}: key 'topic' must be a table ([topic])")
    topic = _topic(_Table(data["topic"], f"{where}: topic"))

    studies = tuple(_study(t) for t in doc.tables("studies", required=False))
    _unique([s.id for s in studies], f"{where}: duplicate study id")
    study_ids = {s.id for s in studies}

    claims = tuple(_claim(t, study_ids, topic) for t in doc.tables("claims", required=True))
    _unique([c.id for c in claims], f"{where}: duplicate claim id")
    claim_ids = {c.id for c in claims}

    queries = []
    for path in sorted(article_toml.parent.glob("*.toml")):
        if path.name not in (ARTICLE_FILE, KNOWN_FILE, REGISTRY_FILE):
            queries.append(_load_query(path, root, claim_ids))
    if not queries:
        folder = _show(article_toml.parent, root)
        raise QueryError(f"{folder}: no saved searches (expected <topic>.toml files)")
    ids: dict[str, Path] = {}
    for query in queries:
        if query.id in ids:
            raise QueryError(f"{_show(query.path, root)}: duplicate query id '{query.id}' "
                             f"(also in {_show(ids[query.id], root)})")
        ids[query.id] = query.path
    known_toml = article_toml.parent / KNOWN_FILE
    known = _load_known(known_toml, root) if known_toml.is_file() else ()
    return WatchedArticle(slug=slug, title=title, url=url, claims=claims, cited=studies,
                          queries=tuple(queries), path=article_toml, topic=topic,
                          evidence_current_to=current_to, recipients=recipients, known=known,
                          last_updated=last_updated)


def _load_known(path: Path, root: Path) -> tuple[KnownPaper, ...]:
    """`known.toml`: `[[papers]]` with `pmid` and/or `doi` and an optional `note`; no paper listed twice."""
    where = _show(path, root)
    doc = _Table(_read_toml(path, where), where)
    doc.allow({"papers"})
    papers = []
    seen: dict[str, str] = {}
    for t in doc.tables("papers", required=True):
        t.allow({"pmid", "doi", "note"})
        pmid, doi = t.optional_text("pmid"), t.optional_text("doi")
        if pmid is None and doi is None:
            raise QueryError(f"{t.where}: needs 'pmid' or 'doi' (which paper must the searches find?)")
        if pmid is not None and not pmid.isdigit():
            raise QueryError(f"{t.where}: key 'pmid' must be digits, got '{pmid}'")
        if doi is not None and (not doi.startswith("10.") or "/" not in doi or '"' in doi):
            raise QueryError(f"{t.where}: key 'doi' must look like 10.xxxx/yyyy, got '{doi}'")
        for key in (f"pmid {pmid}" if pmid else None, f"doi {doi.lower()}" if doi else None):
            if key is not None and key in seen:
                raise QueryError(f"{t.where}: {key} is already listed in {seen[key]}")
            if key is not None:
                seen[key] = t.where.rsplit(": ", 1)[-1]
        papers.append(KnownPaper(pmid=str(int(pmid)) if pmid else None, doi=doi, note=t.optional_text("note") or ""))
    return tuple(papers)


def _study(t: _Table) -> CitedStudy:
    t.allow({"id", "label", "pmid", "doi", "nct_ids", "trial_names", "first_author", "year", "title",
             "article_says"})
    pmid = t.optional_text("pmid")
    if pmid is not None and not pmid.isdigit():
        raise QueryError(f"{t.where}: key 'pmid' must be digits, got '{pmid}'")
    doi = t.optional_text("doi")
    if doi is not None and not doi.startswith("10."):
        raise QueryError(f"{t.where}: key 'doi' must start with '10.', got '{doi}'")
    says = t.raw.get("article_says", {})
    if not isinstance(says, dict) or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                             for v in says.values()):
        raise QueryError(f"{t.where}: key 'article_says' must be a table of strings or integers")
    return CitedStudy(id=t.ident("id"), label=t.text("label"), pmid=pmid, doi=doi,
                      nct_ids=t.strings("nct_ids"), trial_names=t.strings("trial_names"),
                      first_author=t.optional_text("first_author"), year=t.optional_int("year"),
                      title=t.optional_text("title"), article_says=dict(says))


def _claim(t: _Table, study_ids: set[str], topic: Topic) -> Claim:
    t.allow({"id", "section", "label", "text", "interventions", "cites", "watch_for", "expects", "numbers"})
    expects = t.optional_text("expects")
    if expects is not None and expects not in CLAIM_EXPECTS:
        raise QueryError(f"{t.where}: key 'expects' must be one of {', '.join(CLAIM_EXPECTS)}, got '{expects}'")
    numbers = t.raw.get("numbers", {})
    if not isinstance(numbers, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in numbers.values()):
        raise QueryError(f"{t.where}: key 'numbers' must be a table of numbers, e.g. {{ vas = -41.6, studies = 9 }}")
    interventions = t.strings("interventions")
    declared = topic.intervention_ids
    for name in interventions:
        if name not in declared:
            raise QueryError(f"{t.where}: key 'interventions' names '{name}', which [topic] does not declare "
                             f"(declared: {', '.join(declared)})")
    cites = t.strings("cites")
    for study in cites:
        if study not in study_ids:
            raise QueryError(f"{t.where}: key 'cites' names unknown study '{study}'")
    watch_for = t.strings("watch_for")
    for kind in watch_for:
        if kind not in EVIDENCE_KINDS:
            raise QueryError(f"{t.where}: unknown evidence kind '{kind}' in 'watch_for' "
                             f"(known: {', '.join(EVIDENCE_KINDS)})")
    return Claim(id=t.ident("id"), section=t.text("section"), label=t.text("label"), text=t.text("text"),
                 interventions=interventions, cites=cites, watch_for=watch_for, expects=expects,
                 numbers=tuple((str(k).lower(), float(v)) for k, v in numbers.items()))


# --- the topic ------------------------------------------------------------------------------------------

def _topic(t: _Table) -> Topic:
    t.allow({"about", "off_topic_label", "watching", "interventions", "conditions", "look_alikes", "word_groups",
             "other_treatments", "in_vitro_cells", "animal_models", "outcome_scales"})
    groups = _word_groups(t)
    interventions = tuple(_intervention(i) for i in t.tables("interventions", required=True))
    if not interventions:
        raise QueryError(f"{t.where}: key 'interventions' must declare at least one intervention")
    conditions = tuple(_condition(c, groups, look_alike=False) for c in t.tables("conditions", required=True))
    if not conditions:
        raise QueryError(f"{t.where}: key 'conditions' must declare at least one condition")
    look_alikes = tuple(_condition(c, groups, look_alike=True) for c in t.tables("look_alikes", required=False))
    _unique([i.id for i in interventions], f"{t.where}: duplicate intervention id")
    _unique([c.id for c in (*conditions, *look_alikes)], f"{t.where}: duplicate condition id")
    if OFF_TOPIC in {c.id for c in (*conditions, *look_alikes)}:
        raise QueryError(f"{t.where}: condition id '{OFF_TOPIC}' is reserved (papers on none of the conditions)")
    other_words: tuple[str, ...] = ()
    other_not: tuple[str, ...] = ()
    if "other_treatments" in t.raw:
        if not isinstance(t.raw["other_treatments"], dict):
            raise QueryError(f"{t.where}: key 'other_treatments' must be a table with 'words' (and 'not_words')")
        other = _Table(t.raw["other_treatments"], f"{t.where}.other_treatments")
        other.allow({"words", "not_words"})
        other_words, other_not = _words(other, "words", required=True), _words(other, "not_words")
    return Topic(
        about=t.text("about"), off_topic_label=t.text("off_topic_label"),
        watching=t.optional_text("watching") or ", ".join(i.label.lower() for i in interventions),
        interventions=interventions, conditions=conditions, look_alikes=look_alikes,
        word_groups=tuple(groups.items()), other_treatments=other_words, other_treatments_not=other_not,
        in_vitro_cells=_words(t, "in_vitro_cells"), animal_models=_words(t, "animal_models"),
        outcome_scales=_words(t, "outcome_scales"),
    )


def _word_groups(t: _Table) -> dict[str, tuple[str, ...]]:
    raw = t.raw.get("word_groups", {})
    if not isinstance(raw, dict):
        raise QueryError(f"{t.where}: key 'word_groups' must be a table of word lists")
    table = _Table(raw, f"{t.where}.word_groups")
    groups = {}
    for name in raw:
        if not _ID_RE.match(name):
            raise QueryError(f"{table.where}: group name '{name}' must be lowercase letters, digits, '-', '_'")
        groups[name] = _words(table, name, required=True)
    return groups


def _intervention(t: _Table) -> TopicIntervention:
    t.allow({"id", "label", "phrase", "words", "not_words", "case_sensitive"})
    patterns = t.strings("case_sensitive")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise QueryError(f"{t.where}: key 'case_sensitive': bad regular expression '{pattern}': {exc}") from None
    return TopicIntervention(id=t.ident("id"), label=t.text("label"), phrase=t.text("phrase"),
                             words=_words(t, "words", required=True), not_words=_words(t, "not_words"),
                             case_sensitive=patterns)


def _condition(t: _Table, groups: dict[str, tuple[str, ...]], look_alike: bool) -> TopicCondition:
    t.allow({"id", "label", "words", "together"} | ({"reason"} if look_alike else set()))
    words = _words(t, "words")
    together = t.raw.get("together", [])
    if not isinstance(together, list) or not all(
            isinstance(g, list) and g and all(isinstance(n, str) for n in g) for g in together):
        raise QueryError(f"{t.where}: key 'together' must be a list of lists of word-group names")
    for names in together:
        for name in names:
            if name not in groups:
                raise QueryError(f"{t.where}: key 'together' names word group '{name}', which "
                                 f"[topic.word_groups] does not declare (declared: {', '.join(groups) or 'none'})")
    if not words and not together:
        raise QueryError(f"{t.where}: needs 'words' or 'together' (a condition nothing can name)")
    reason = t.text("reason") if look_alike else ""
    return TopicCondition(id=t.ident("id"), label=t.text("label"), words=words,
                          together=tuple(tuple(g) for g in together), reason=reason)


def _words(t: _Table, key: str, required: bool = False) -> tuple[str, ...]:
    """A list of phrases in the topic's word syntax; an empty list is an error (it would match nothing)."""
    if key not in t.raw:
        if required:
            raise QueryError(f"{t.where}: missing key '{key}'")
        return ()
    words = t.strings(key)
    if not words:
        raise QueryError(f"{t.where}: key '{key}' is an empty list (list the words, or leave the key out)")
    for phrase in words:
        if not _PHRASE_RE.match(phrase) or phrase.startswith("...") or phrase.endswith("..."):
            raise QueryError(f"{t.where}: key '{key}': bad phrase '{phrase}' (words, '*' at a word's end, "
                             f"'...' between words)")
    _unique(list(words), f"{t.where}: key '{key}' lists twice the phrase")
    return words


def _load_query(path: Path, root: Path, claim_ids: set[str]) -> SavedQuery:
    where = _show(path, root)
    t = _Table(_read_toml(path, where), where)
    t.allow({"id", "label", "term", "claims", "enabled"})
    query_id = t.ident("id")
    label = t.text("label")
    term = t.text("term")  # already one line: PubMed receives it as typed, minus the TOML line breaks
    try:
        validate_term(term)
    except TermSyntaxError as exc:
        place = _term_place(path, t.raw["term"], exc.position)
        raise QueryError(f"{where}:{place}: {exc.problem}" if place else f"{where}: key 'term': {exc}") from None
    claims = t.strings("claims", required=True)
    if not claims:
        raise QueryError(f"{where}: key 'claims' must name at least one claim")
    for claim in claims:
        if claim not in claim_ids:
            raise QueryError(f"{where}: key 'claims' names unknown claim '{claim}'")
    enabled = t.raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise QueryError(f"{where}: key 'enabled' must be true or false")
    return SavedQuery(id=query_id, label=label, term=term, claims=claims, path=path, enabled=enabled)


_TERM_KEY = re.compile(r"""^[ \t]*term[ \t]*=[ \t]*('{3}|"{3}|'|")(\r?\n)?""", re.MULTILINE)


def _term_place(path: Path, raw: str, position: int) -> str | None:
    """`line:column` in the file of the 1-based `position` in the term as validated (its whitespace collapsed to
    single spaces), so an editor jumps to the mistake; None when the value cannot be found verbatim (escapes)."""
    words = list(re.finditer(r"\S+", raw))
    offset, seen = None, 0
    for word in words:  # collapsed = the words joined by single spaces
        if position - 1 < seen + len(word.group()):
            offset = word.start() + max(0, position - 1 - seen)
            break
        seen += len(word.group()) + 1
    if offset is None:  # past the end (e.g. "OR without a term after it"): just after the last word
        offset = words[-1].end() if words else 0
    text = path.read_text(encoding="utf-8")
    key = _TERM_KEY.search(text)
    if key is None or text[key.end():key.end() + len(raw)].replace("\r\n", "\n") != raw.replace("\r\n", "\n"):
        return None
    before = text[:key.end() + offset]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"{line}:{column}"


def _read_toml(path: Path, where: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:  # message already carries "(at line L, column C)"
        raise QueryError(f"{where}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise QueryError(f"{where}: cannot read: {exc.strerror}") from None


def _show(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _unique(ids: list[str], message: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise QueryError(f"{message} '{item}'")
        seen.add(item)


class _Table:
    """Typed access to one TOML table; every error names the file (and the array entry)."""

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def allow(self, keys: set[str]) -> None:
        for key in self.raw:
            if key not in keys:
                raise QueryError(f"{self.where}: unknown key '{key}' (allowed: {', '.join(sorted(keys))})")

    def text(self, key: str) -> str:
        if key not in self.raw:
            raise QueryError(f"{self.where}: missing key '{key}'")
        value = self.raw[key]
        if not isinstance(value, str) or not value.strip():
            raise QueryError(f"{self.where}: key '{key}' must be a non-empty string")
        return " ".join(value.split())  # multi-line TOML strings read as one line

    def optional_text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and key == "pmid":
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise QueryError(f"{self.where}: key '{key}' must be a non-empty string")
        return " ".join(value.split())

    def optional_int(self, key: str) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise QueryError(f"{self.where}: key '{key}' must be an integer")
        return value

    def ident(self, key: str) -> str:
        value = self.text(key)
        if not _ID_RE.match(value):
            raise QueryError(f"{self.where}: key '{key}' must be lowercase letters, digits, '-', '_' or '.', "
                             f"got '{value}'")
        return value

    def strings(self, key: str, required: bool = False) -> tuple[str, ...]:
        if key not in self.raw:
            if required:
                raise QueryError(f"{self.where}: missing key '{key}'")
            return ()
        value = self.raw[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise QueryError(f"{self.where}: key '{key}' must be a list of strings")
        return tuple(v.strip() for v in value)

    def tables(self, key: str, required: bool) -> list[_Table]:
        if key not in self.raw:
            if required:
                raise QueryError(f"{self.where}: missing key '{key}'")
            return []
        value = self.raw[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise QueryError(f"{self.where}: key '{key}' must be an array of tables ([[{key}]])")
        return [_Table(v, f"{self.where}: {key}[{i}]") for i, v in enumerate(value)]


def pick_article(articles: list[WatchedArticle], slug: str | None) -> WatchedArticle:
    """The watched article `slug` names, or the only one there is; otherwise a usage error listing the slugs."""
    slugs = ", ".join(a.slug for a in articles) or "none"
    if slug is None:
        if len(articles) == 1:
            return articles[0]
        raise UsageError(f"{len(articles)} articles are watched: name one with --article SLUG ({slugs})")
    for article in articles:
        if article.slug == slug:
            return article
    raise UsageError(f"--article {slug}: no such watched article (watched: {slugs})")


def bundled_queries_dir() -> Path:
    """The watch list shipped inside the package (`litwatch.queries`, the repository's `queries/`): the demo's
    articles and searches, found the same way from a wheel and from an editable install."""
    spec = importlib.util.find_spec("litwatch.queries")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():  # an editable install also lists its finder's hook, which is not a folder
            return Path(location)
    raise QueryError("the bundled watch list (litwatch.queries) is missing from this installation")
