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

ArticleKind = Literal["article", "book"]
Verdict = Literal["update", "review", "fyi", "cited"]
VERDICTS: tuple[str, ...] = ("update", "review", "fyi", "cited")


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
        return _to_jsonable(self)

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


@dataclass(frozen=True)
class Assessment:
    """The verdict on one record version under one rule-set version, with the reasons that produced it."""

    pmid: str
    verdict: Verdict
    design: str  # rct, meta-analysis, systematic-review, case-series, protocol, preclinical-animal, ...
    population: str  # human, animal, in-vitro, unknown
    condition: str  # disc-degeneration, discogenic-lbp, other-spine, off-topic
    reasons: tuple[str, ...]
    ruleset_version: str
    record_version: int = 1
    content_hash: str = ""
    interventions: tuple[str, ...] = ()  # stem-cells, exosomes, gene-therapy
    claims: tuple[str, ...] = ()  # human labels of the article claims this touches
    sample_size: int | None = None
    follow_up_months: float | None = None
    cited_study: str | None = None  # id of the cited study this record is about (follow-up, retraction...)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)

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
    assessment: Assessment | None = None  # the latest one


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


@dataclass(frozen=True)
class QueryRunStats:
    """One saved search within one run."""

    query_id: str
    window_start: date | None
    window_end: date | None
    status: Literal["running", "success", "failed", "skipped"] = "running"
    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    error: str | None = None


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    kind: str  # "fetch", "digest", "backfill"
    trigger: str  # manual, cron, scheduler, demo
    status: Literal["running", "success", "failed", "skipped"]  # skipped: a scheduled job found the lock held
    started_at: datetime
    finished_at: datetime | None = None
    found: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    queries: tuple[QueryRunStats, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


# --- canonical JSON form -------------------------------------------------------------------------------------

_LEAVES = (str, int, float, type(None))
_EXACT_LEAVES = frozenset(_LEAVES) | {bool}
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _to_jsonable(value: Any) -> Any:
    """The canonical JSON-able form. Hot path of every stored batch: field names are looked up once per type."""
    if isinstance(value, _LEAVES):
        return value
    if isinstance(value, tuple | list):
        return [v if type(v) is str else _to_jsonable(v) for v in value]  # most lists are PMIDs, keywords, names
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    cls = type(value)
    try:
        names = _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = (
            tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        )
    if names is None:
        return value
    out = {}
    for name in names:
        v = getattr(value, name)
        out[name] = v if type(v) in _EXACT_LEAVES else _to_jsonable(v)
    return out


def to_jsonable(value: Any) -> Any:
    """Any of our frozen dataclasses (or lists/dicts of them) as plain JSON-able data: for `--json` outputs."""
    return _to_jsonable(value)


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
}
_DATES = {("Article", "created"), ("Article", "pubmed_date")}


def _from_jsonable(cls: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            continue  # tolerate fields dropped in a later version of the model
        nested = _NESTED.get((cls.__name__, key))
        if nested is not None:
            value = tuple(_from_jsonable(nested, v) for v in value)
        elif (cls.__name__, key) in _DATES and value is not None:
            value = date.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[key] = value
    return cls(**kwargs)


__all__ = [
    "VERDICTS", "AbstractSection", "Accession", "Article", "ArticleKind", "Assessment", "Author",
    "CitedStudyStatus", "CommentCorrection", "MeshHeading", "ParsedBatch", "PublicationType", "QueryRunStats",
    "RunSummary", "StoredArticle", "Verdict",
]
