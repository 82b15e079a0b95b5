"""The domain model: what litwatch knows about a publication, an assessment and a run.

Frozen dataclasses, stdlib only, so every layer (parser, assessment, storage, reports) can share them without
importing each other. `to_dict`/`from_dict` give a canonical JSON-able form; `content_hash` is computed on it, so two
parses of the same record always hash the same and any change in what PubMed says about it changes the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, Literal

from .run_records import CountsView, QueryRunStats, RunCounts, RunSummary

ArticleKind = Literal["article", "book"]
Verdict = Literal["update", "review", "fyi", "cited"]
VERDICTS: tuple[str, ...] = ("update", "review", "fyi", "cited")


# --- the domain vocabulary ------------------------------------------------------------------------------------
# The assessment's codes and their words, kept ONCE: the assessment writes its reasons with `phrase`, the watch
# list checks codes against it, the digest shows `label` as a badge and orders designs by DESIGN_ORDER.


@dataclass(frozen=True)
class Wording:
    """One code and how it is worded: `label` on a badge ("RCT"), `phrase` inside a reason ("randomised")."""

    code: str
    label: str
    phrase: str


# Study designs, strongest evidence first (the digest's reading order; an unknown code sorts last).
DESIGN_WORDINGS: tuple[Wording, ...] = (
    Wording("meta-analysis", "Meta-analysis", "meta-analysis"),
    Wording("rct", "RCT", "randomised"),
    Wording("systematic-review", "Systematic review", "systematic review"),
    Wording("clinical-trial", "Clinical, non-randomised", "non-randomised clinical study"),
    Wording("case-series", "Case series", "case series"),
    Wording("case-report", "Case report", "case report"),
    Wording("protocol", "Trial protocol", "trial protocol"),
    Wording("guideline", "Guideline", "guideline/statement"),
    Wording("narrative-review", "Narrative review", "narrative review"),
    Wording("preclinical-animal", "Animal study", "animal study"),
    Wording("preclinical-in-vitro", "In vitro", "in-vitro study"),
    Wording("comment", "Comment/letter", "comment/letter"),
    Wording("retraction", "Retraction notice", "retraction notice"),
    Wording("expression-of-concern", "Expression of concern", "expression of concern"),
    Wording("erratum", "Erratum", "erratum notice"),
    Wording("other", "No clinical design", "no clinical design"),
)
POPULATION_WORDINGS: tuple[Wording, ...] = (
    Wording("human", "Human", "humans"),
    Wording("animal", "Animal", "animals"),
    Wording("in-vitro", "In vitro", "cells in vitro"),
)
DESIGN_ORDER: tuple[str, ...] = tuple(w.code for w in DESIGN_WORDINGS)
DESIGN_LABELS: dict[str, str] = {w.code: w.label for w in DESIGN_WORDINGS}
DESIGN_PHRASES: dict[str, str] = {w.code: w.phrase for w in DESIGN_WORDINGS}
POPULATION_LABELS: dict[str, str] = {w.code: w.label for w in POPULATION_WORDINGS}
POPULATION_PHRASES: dict[str, str] = {w.code: w.phrase for w in POPULATION_WORDINGS}


@dataclass(frozen=True)
class Author:
    """One author; `collective` names (e.g. "DREAM Study Group") have only `name`."""

    name: str  # display form: "Vadalà G" or the collective name
    last_name: str | None = None
    fore_name: str | None = None
    initials: str | None = None
    collective: bool = False
    affiliations: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublicationType:
    ui: str  # MeSH UI, e.g. "D016449" for Randomized Controlled Trial
    name: str


@dataclass(frozen=True)
class MeshHeading:
    ui: str
    descriptor: str
    major: bool = False
    qualifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommentCorrection:
    """A CommentsCorrections link: RefType is e.g. "RetractionIn", "ErratumIn", "ExpressionOfConcernIn", "UpdateIn"."""

    ref_type: str
    pmid: str | None = None
    ref_source: str = ""


@dataclass(frozen=True)
class Accession:
    """A DataBankList entry, e.g. ("ClinicalTrials.gov", "NCT01290367")."""

    databank: str
    accession: str


@dataclass(frozen=True)
class AbstractSection:
    """One AbstractText element. `text` is plain text; `html` keeps inline markup as safe, escaped HTML."""

    text: str
    html: str
    label: str | None = None
    category: str | None = None  # NlmCategory: BACKGROUND, METHODS, RESULTS, CONCLUSIONS...


# Real PMIDs are ~41 million today (2026) and grow by ~1.5 million a year: a PMID at or above this floor is a local
# placeholder, given to a real paper whose PMID was not at hand (the demo corpus's 99000001 and up). The ONE rule:
# the digest links such records by DOI, never to a PubMed page that does not exist, and the demo says so.
PLACEHOLDER_PMID_FLOOR = 99_000_000


def is_placeholder_pmid(pmid: str) -> bool:
    return pmid.isdigit() and int(pmid) >= PLACEHOLDER_PMID_FLOOR


@dataclass(frozen=True)
class Article:
    """One PubMed record (journal article or book) as parsed from efetch XML."""

    pmid: str
    version: int = 1
    kind: ArticleKind = "article"
    status: str = ""  # MedlineCitation@Status: MEDLINE, Publisher, In-Data-Review, PubMed-not-MEDLINE...
    indexing_method: str | None = None  # MedlineCitation@IndexingMethod: "Automated", "Curated" or None (manual)
    title: str = ""
    title_html: str = ""
    abstract: tuple[AbstractSection, ...] = ()
    journal: str = ""
    journal_abbrev: str = ""
    pub_year: int | None = None
    pub_date: str = ""  # as printed: "2025 Mar 12", "2014 Spring"
    created: date | None = None  # History PubStatus="entrez" (Create date, what [CRDT] searches)
    pubmed_date: date | None = None  # History PubStatus="pubmed"
    doi: str | None = None
    pmc: str | None = None
    authors: tuple[Author, ...] = ()
    languages: tuple[str, ...] = ()
    publication_types: tuple[PublicationType, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    keywords: tuple[str, ...] = ()
    accessions: tuple[Accession, ...] = ()
    comments_corrections: tuple[CommentCorrection, ...] = ()
    references: tuple[str, ...] = ()  # PMIDs in the ReferenceList, where present

    @property
    def abstract_text(self) -> str:
        parts = []
        for section in self.abstract:
            parts.append(f"{section.label}: {section.text}" if section.label else section.text)
        return "\n".join(parts)

    @property
    def nct_ids(self) -> tuple[str, ...]:
        return tuple(a.accession for a in self.accessions if a.accession.upper().startswith("NCT"))

    @property
    def pubmed_url(self) -> str:
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        return _from_jsonable(cls, data)

    @cached_property
    def content_hash(self) -> str:
        """sha256 over the canonical JSON form: equal content, equal hash. Cached: records are immutable."""
        return canonical_hash(self.to_dict())


@dataclass(frozen=True)
class ParsedBatch:
    """What one efetch body held: records, plus PMIDs PubMed says were deleted (DeleteCitation)."""

    articles: tuple[Article, ...] = ()
    deleted: tuple[str, ...] = ()


# What a paper found, and what that means for each claim of a watched article (issue 12). Produced by
# pipeline.assess (pure, from the record's own text), stored with the assessment, shown on the digest card.
DIRECTIONS: tuple[str, ...] = (
    "favours-treatment", "no-difference", "favours-control", "mixed", "safety-only", "not-reported",
)
STANCES: tuple[str, ...] = ("contradicts", "outdates", "extends", "supports", "unclear")  # digest order


@dataclass(frozen=True)
class Outcome:
    """One result the abstract states. `value` is copied from the text as written, and `quote` is the exact span
    of the title/abstract it came from: a number that is not in the record is never shown."""

    measure: str  # VAS, ODI, NRS, WOMAC, KOOS, MRI grade, re-operation, adverse events, …
    value: str  # as written: "41.6", "−1.2", "7.4"
    unit: str = ""  # points, %, mean difference, SMD, …
    timepoint: str = ""  # "6 months"
    quote: str = ""  # verbatim from the record


@dataclass(frozen=True)
class Finding:
    direction: str  # one of DIRECTIONS
    controlled: bool | None = None  # vs sham/placebo/control (True), against baseline only (False), unknown
    outcomes: tuple[Outcome, ...] = ()
    statement: str = ""  # the abstract's own results/conclusion sentence, verbatim; never a methods sentence
    studies: int | None = None  # syntheses: studies pooled
    patients: int | None = None  # syntheses: patients pooled

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return _from_jsonable(cls, data)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ClaimStance:
    """What the paper means for one claim of the watched article."""

    claim: str  # the claim's id in article.toml
    stance: str  # one of STANCES
    reason: str  # one line quoting the claim's number or words and the paper's


@dataclass(frozen=True)
class Assessment:
    """The verdict on one record version under one rule-set version, with the reasons that produced it."""

    pmid: str
    verdict: Verdict
    design: str  # rct, meta-analysis, systematic-review, case-series, protocol, preclinical-animal, ...
    population: str  # human, animal, in-vitro, unknown
    condition: str  # an id from the article's [topic] conditions or look-alikes, or "off-topic"
    reasons: tuple[str, ...]
    ruleset_version: str
    record_version: int = 1
    content_hash: str = ""
    interventions: tuple[str, ...] = ()  # ids from the article's [topic] interventions
    claims: tuple[str, ...] = ()  # human labels of the article claims this touches
    sample_size: int | None = None
    follow_up_months: float | None = None
    cited_study: str | None = None  # id of the cited study this record is about (follow-up, retraction...)
    article: str = ""  # slug of the watched article this verdict is for (a verdict only means something per article)
    finding: Finding | None = None  # what it found (human clinical records; None when not read)
    stances: tuple[ClaimStance, ...] = ()  # per claim it touches

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assessment:
        return _from_jsonable(cls, data)


@dataclass(frozen=True)
class StoredArticle:
    """An article as the database holds it, with its bookkeeping; what reports are handed."""

    article: Article
    content_hash: str
    first_seen: datetime
    last_seen: datetime
    last_changed: datetime  # when the content hash last changed (== first_seen for never-changed records)
    deleted: bool = False
    query_ids: tuple[str, ...] = ()  # every saved search that ever found it
    assessment: Assessment | None = None  # the latest one for the article asked about (or the only one)
    assessments: tuple[Assessment, ...] = ()  # the latest one per watched article, by slug


@dataclass(frozen=True)
class CitedStudyStatus:
    """What the latest run saw of one study the article cites."""

    study_id: str  # the id in article.toml, e.g. "dream-2025"
    label: str
    pmid: str | None
    status: Literal["unchanged", "changed", "corrected", "retracted", "concern", "mismatch", "not-found", "new"]
    # human-readable: "RetractionIn PMID 123", "article says Pain Medicine; PubMed: JOR Spine"
    notes: tuple[str, ...] = ()
    checked_at: datetime | None = None
    article: str = ""  # slug of the watched article that cites it


# --- canonical JSON form -------------------------------------------------------------------------------------

_LEAVES = (str, int, float, type(None))
_EXACT_LEAVES = frozenset(_LEAVES) | {bool}
_FIELDS: dict[type, tuple[str, ...] | None] = {}
_INLINED: dict[type, tuple[str, ...]] = {}  # only types that have inlined fields


def to_jsonable(value: Any) -> Any:
    """Any of our frozen dataclasses (or lists/dicts of them) as plain JSON-able data: the canonical form of a
    record (`to_dict`, its content hash, the stored JSON) and of `--json` outputs. The one JSON conversion.
    Hot path of every stored batch: field names are looked up once per type."""
    if isinstance(value, _LEAVES):
        return value
    if isinstance(value, tuple | list):
        return [v if type(v) is str else to_jsonable(v) for v in value]  # most lists are PMIDs, keywords, names
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    cls = type(value)
    try:
        names = _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = _field_names(cls)
    if names is None:
        return value
    out = {}
    for name in names:
        v = getattr(value, name)
        out[name] = v if type(v) in _EXACT_LEAVES else to_jsonable(v)
    for name in _INLINED.get(cls, ()):
        out.update(out.pop(name))
    return out


def _field_names(cls: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    inlined = tuple(f.name for f in fields if f.metadata.get("inline"))
    if inlined:
        _INLINED[cls] = inlined
    return tuple(f.name for f in fields)


def canonical_hash(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a `to_dict()` form: what `Article.content_hash` is."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_NESTED: dict[tuple[str, str], type] = {
    ("Article", "abstract"): AbstractSection,
    ("Article", "authors"): Author,
    ("Article", "publication_types"): PublicationType,
    ("Article", "mesh"): MeshHeading,
    ("Article", "accessions"): Accession,
    ("Article", "comments_corrections"): CommentCorrection,
    ("Assessment", "stances"): ClaimStance,
    ("Finding", "outcomes"): Outcome,
}
_NESTED_ONE: dict[tuple[str, str], type] = {("Assessment", "finding"): Finding}  # one object (or None), not a list
_DATES = {("Article", "created"), ("Article", "pubmed_date")}


def _from_jsonable(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            continue  # tolerate fields dropped in a later version of the model
        nested = _NESTED.get((cls.__name__, key))
        one = _NESTED_ONE.get((cls.__name__, key))
        if one is not None:
            value = None if value is None else _from_jsonable(one, value)
        elif nested is not None:
            value = tuple(_from_jsonable(nested, v) for v in value)
        elif (cls.__name__, key) in _DATES and value is not None:
            value = date.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[key] = value
    return cls(**kwargs)


__all__ = [
    "DESIGN_LABELS", "DESIGN_ORDER", "DESIGN_PHRASES", "DESIGN_WORDINGS", "POPULATION_LABELS",
    "POPULATION_PHRASES", "POPULATION_WORDINGS", "Wording",
    "VERDICTS", "AbstractSection", "Accession", "Article", "ArticleKind", "Assessment", "Author",
    "CitedStudyStatus", "ClaimStance", "CommentCorrection", "CountsView", "DIRECTIONS", "Finding", "Outcome",
    "STANCES", "MeshHeading", "PLACEHOLDER_PMID_FLOOR", "ParsedBatch",
    "PublicationType", "is_placeholder_pmid",
    "QueryRunStats", "RunCounts", "RunSummary", "StoredArticle", "Verdict", "canonical_hash", "to_jsonable",
]
