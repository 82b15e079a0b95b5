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

from litwatch.storage.records import INTERVENTION_CODES

from .errors import QueryError
from .pubmed import validate_term

ARTICLE_FILE = "article.toml"
# Kinds of evidence that touch a claim (article.toml `watch_for`); pipeline.assess maps papers onto them.
EVIDENCE_KINDS: tuple[str, ...] = (
    "synthesis", "rct", "clinical", "long-term", "safety", "protocol", "regulatory", "preclinical",
    "correction",
)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


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


@dataclass(frozen=True)
class WatchedArticle:
    slug: str
    title: str
    url: str
    claims: tuple[Claim, ...]
    cited: tuple[CitedStudy, ...]
    queries: tuple[SavedQuery, ...]
    path: Path

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
    doc.allow({"slug", "title", "url", "last_updated", "claims", "studies"})
    slug = doc.ident("slug")
    if slug != article_toml.parent.name:
        raise QueryError(f"{where}: slug '{slug}' does not match its folder '{article_toml.parent.name}'")
    title = doc.text("title")
    url = doc.text("url")
    doc.optional_text("last_updated")

    studies = tuple(_study(t) for t in doc.tables("studies", required=False))
    _unique([s.id for s in studies], f"{where}: duplicate study id")
    study_ids = {s.id for s in studies}

    claims = tuple(_claim(t, study_ids) for t in doc.tables("claims", required=True))
    _unique([c.id for c in claims], f"{where}: duplicate claim id")
    claim_ids = {c.id for c in claims}

    queries = []
    for path in sorted(article_toml.parent.glob("*.toml")):
        if path.name != ARTICLE_FILE:
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
    return WatchedArticle(slug=slug, title=title, url=url, claims=claims, cited=studies,
                          queries=tuple(queries), path=article_toml)


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


def _claim(t: _Table, study_ids: set[str]) -> Claim:
    t.allow({"id", "section", "label", "text", "interventions", "cites", "watch_for"})
    interventions = t.strings("interventions")
    for name in interventions:
        if name not in INTERVENTION_CODES:
            raise QueryError(f"{t.where}: unknown intervention '{name}' (known: {', '.join(INTERVENTION_CODES)})")
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
                 interventions=interventions, cites=cites, watch_for=watch_for)


def _load_query(path: Path, root: Path, claim_ids: set[str]) -> SavedQuery:
    where = _show(path, root)
    t = _Table(_read_toml(path, where), where)
    t.allow({"id", "label", "term", "claims", "enabled"})
    query_id = t.ident("id")
    label = t.text("label")
    term = t.text("term")  # already one line: PubMed receives it as typed, minus the TOML line breaks
    try:
        validate_term(term)
    except QueryError as exc:
        raise QueryError(f"{where}: key 'term': {exc}") from None
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


def bundled_queries_dir() -> Path:
    """The watch list shipped inside the package (`litwatch.queries`, the repository's `queries/`): the demo's
    articles and searches, found the same way from a wheel and from an editable install."""
    spec = importlib.util.find_spec("litwatch.queries")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():  # an editable install also lists its finder's hook, which is not a folder
            return Path(location)
    raise QueryError("the bundled watch list (litwatch.queries) is missing from this installation")
