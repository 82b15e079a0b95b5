"""Load and validate the watch list: `queries/<slug>/article.toml` plus one TOML per saved PubMed search.

Everything is checked before a run starts (a typo in a query must not cost a week of silent misses): unknown
or missing keys, wrong types, duplicate ids, claims and cited studies that do not exist, each term's
PubMed syntax.
Errors are one line naming the file: `queries/stem-cell-lbp/exosomes.toml: missing key 'term'`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import QueryError

ARTICLE_FILE = "article.toml"
INTERVENTIONS: tuple[str, ...] = ("stem-cells", "exosomes", "gene-therapy")
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
        if name not in INTERVENTIONS:
            raise QueryError(f"{t.where}: unknown intervention '{name}' (known: {', '.join(INTERVENTIONS)})")
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


# --- PubMed term syntax --------------------------------------------------------------------------------

# Search field tags from PubMed's "Search Field Descriptions and Tags" (short and long forms), lower-cased.
FIELD_TAGS: frozenset[str] = frozenset({
    "ad", "affiliation", "all", "all fields", "au", "author", "auid", "author identifier", "book", "cois",
    "conflict of interest statements", "cn", "corporate author", "crdt", "date - create", "dcom",
    "date - completion", "ec", "ed", "editor", "edat", "date - entry", "filter", "sb", "subset", "1au",
    "author - first", "fau", "full author name", "fir", "full investigator name", "gr", "grant number", "ir",
    "investigator", "isbn", "ip", "issue", "ta", "journal", "jour", "jid", "la", "language", "lastau",
    "author - last", "lid", "location id", "mhda", "date - mesh", "majr", "mesh major topic", "sh",
    "mesh subheading", "subheading", "mh", "mesh", "mesh terms", "nm", "supplementary concept", "ot",
    "other term", "pg", "pagination", "ps", "personal name as subject", "pa", "pharmacological action", "pt",
    "publication type", "pubn", "publisher", "dp", "pdat", "date - publication", "rn", "ec/rn number", "si",
    "secondary source id", "tt", "transliterated title", "ti", "title", "tiab", "title/abstract", "tw",
    "text word", "vi", "volume", "pmid", "uid", "aid", "doi", "lr", "date - modification", "mesh:noexp",
    "mh:noexp", "majr:noexp", "sh:noexp", "pmcid",
})
_NOEXP = {"mh", "mesh", "majr", "sh", "mesh terms", "mesh major topic", "mesh subheading"}
_PROXIMITY = {"ti", "tiab", "ad", "title", "title/abstract", "affiliation"}
_OPERATORS = {"AND", "OR", "NOT"}
_MIN_TRUNCATION = 4  # PubMed: "at least four characters" before the truncation symbol


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "op", "term", ":"
    text: str
    pos: int  # 1-based character position in the term
    tag: str | None = None
    quoted: bool = False


def validate_term(term: str) -> None:
    """Raise QueryError("position N: …") if `term` is not valid PubMed syntax; positions are 1-based."""
    tokens = _tokenise(term)
    if not tokens:
        raise QueryError("position 1: empty search term")
    _Parser(tokens, len(term)).parse()


def _tokenise(term: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(term)
    while i < n:
        ch = term[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, i + 1))
            i += 1
        elif ch == ":":
            tokens.append(_Token(":", ch, i + 1))
            i += 1
        elif ch == "]":
            raise QueryError(f"position {i + 1}: ']' without '['")
        elif ch == "[":
            raise QueryError(f"position {i + 1}: field tag without a search term before it")
        elif ch == '"':
            end = term.find('"', i + 1)
            if end < 0:
                raise QueryError(f"position {i + 1}: unbalanced quote")
            phrase = term[i + 1:end]
            if not phrase.strip():
                raise QueryError(f"position {i + 1}: empty quoted phrase")
            tag, j = _read_tag(term, end + 1)
            tokens.append(_Token("term", phrase, i + 1, tag, quoted=True))
            i = j
        else:
            j = i
            while j < n and not term[j].isspace() and term[j] not in '()[]":':
                j += 1
            word = term[i:j]
            if word in _OPERATORS:
                tokens.append(_Token("op", word, i + 1))
                i = j
                continue
            tag, k = _read_tag(term, j)
            tokens.append(_Token("term", word, i + 1, tag))
            i = k
    return tokens


def _read_tag(term: str, i: int) -> tuple[str | None, int]:
    if i >= len(term) or term[i] != "[":
        return None, i
    end = term.find("]", i)
    if end < 0:
        raise QueryError(f"position {i + 1}: unbalanced bracket: '[' without ']'")
    tag = term[i + 1:end].strip().lower()
    base, _, option = tag.partition(":")
    known = tag in FIELD_TAGS or (
        base in FIELD_TAGS and ((option == "noexp" and base in _NOEXP)
                                or (re.fullmatch(r"~\d+", option) is not None and base in _PROXIMITY)))
    if not known:
        raise QueryError(f"position {i + 1}: unknown field tag [{term[i + 1:end]}]")
    return tag, end + 1


class _Parser:
    """expr := unit ((AND|OR|NOT)? unit)* ; unit := '(' expr ')' | term (':' term)? — adjacency means AND."""

    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.length = length

    def parse(self) -> None:
        self._expr(top=True)

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _expr(self, top: bool) -> None:
        self._unit()
        while (tok := self._peek()) is not None:
            if tok.kind == ")":
                if top:
                    raise QueryError(f"position {tok.pos}: unbalanced parenthesis: ')' without '('")
                return
            if tok.kind == "op":
                self.i += 1
                nxt = self._peek()
                if nxt is None or nxt.kind in (")", "op"):
                    where = nxt.pos if nxt else self.length + 1
                    raise QueryError(f"position {where}: {tok.text} without a search term after it")
            self._unit()

    def _unit(self) -> None:
        tok = self._peek()
        if tok is None:
            raise QueryError(f"position {self.length + 1}: search term expected at the end")
        if tok.kind == "(":
            self.i += 1
            nxt = self._peek()
            if nxt is None:
                raise QueryError(f"position {tok.pos}: unbalanced parenthesis: '(' never closed")
            if nxt.kind == ")":
                raise QueryError(f"position {tok.pos}: empty group '()'")
            self._expr(top=False)
            close = self._peek()
            if close is None or close.kind != ")":
                raise QueryError(f"position {tok.pos}: unbalanced parenthesis: '(' never closed")
            self.i += 1
            return
        if tok.kind == "op":
            raise QueryError(f"position {tok.pos}: {tok.text} without a search term before it")
        if tok.kind in (")", ":"):
            raise QueryError(f"position {tok.pos}: unexpected '{tok.text}'")
        self._term(tok)
        self.i += 1
        colon = self._peek()
        if colon is not None and colon.kind == ":":  # a range: "2020/01/01"[crdt] : "…"[crdt]
            self.i += 1
            end = self._peek()
            if end is None or end.kind != "term":
                raise QueryError(f"position {colon.pos}: range ':' without an end term")
            self._term(end)
            self.i += 1

    def _term(self, tok: _Token) -> None:
        if not tok.quoted and tok.text.lower() in {"and", "or", "not"}:
            raise QueryError(f"position {tok.pos}: Boolean operator '{tok.text}' must be upper case")
        for match in re.finditer(r"\S+", tok.text):
            word = match.group()
            star = word.find("*")
            if star < 0:
                continue
            where = tok.pos + (1 if tok.quoted else 0) + match.start() + star
            if star != len(word) - 1:
                raise QueryError(f"position {where}: '*' is only allowed at the end of a word")
            if len(word) - 1 < _MIN_TRUNCATION:
                raise QueryError(f"position {where}: truncation needs at least {_MIN_TRUNCATION} characters "
                                 f"before '*' ('{word}')")
