"""The replay server's query matcher: a PubMed term (parsed by `pubmed.term`, the one term parser) compiled
into nodes that match one record's searchable view (`Doc`, built here from the record's XML).

What it does:
- Boolean AND / OR / NOT (upper case only, as PubMed), evaluated left to right like PubMed, parentheses
  nest; terms side by side without an operator are ANDed.
- Quoted phrases and unquoted words; a trailing `*` truncates the last word ("stem cell*", exosom*).
- Words are case-insensitive runs of letters/digits: "stem-cell" and "stem cell" are the same phrase; a
  phrase matches consecutive words inside one field (it never spans title→abstract or two keywords).
- Field tags: [tiab]/[Title/Abstract] (title, abstract, other abstract, author keywords — as PubMed's
  [tiab]), [ti], [ab], [ot] (keywords), [mh]/[MeSH Terms]/[Mesh:NoExp] (a descriptor name equal to the
  phrase, or starting with it when truncated), [majr] (the same over major-topic descriptors),
  [pt]/[Publication Type] (equal names), [all]/[All Fields]/[tw] and untagged (a phrase in any of the
  above); [doi]/[aid]/[lid] (a DOI of the record), [pmid]/[uid]; [crdt]/[edat] single dates and ranges
  `("2026/10/01"[CRDT] : "2026/11/20"[CRDT])`, with YYYY, YYYY/MM or YYYY/MM/DD (a partial end date covers
  its whole month/year).
- An unquoted multi-word run followed by a tag (`low back pain[tiab]`) is that phrase; untagged runs are
  ANDed words.

What it does not do (real PubMed does): Automatic Term Mapping and synonyms, MeSH tree explosion and entry
terms, stemming, stopwords, proximity ([tiab:~3]), and the author, journal, publication date, language and
subset fields (such tags make the server answer HTTP 400 naming the tag). A tag PubMed does not know either
is reported in `fieldsnotfound` and its term searched in all fields — roughly what PubMed does.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from ..pubmed.term import Bool, Leaf, Node, TermSyntaxError, parse_term

_WORD = re.compile(r"[^\W_]+")


class QuerySyntaxError(ValueError):
    """The term cannot be parsed, or uses a PubMed field this matcher does not implement."""


# ---- searchable view of one record -------------------------------------------------------------------------
Words = tuple[str, ...]


def words(text: str) -> Words:
    return tuple(_WORD.findall(text.lower()))


@dataclass(eq=False)
class Doc:
    """What the matcher sees of a record; `cache` memoises text-leaf results (shared by replicated copies)."""

    title: Words
    abstract: tuple[Words, ...]
    keywords: tuple[Words, ...]
    mesh: tuple[Words, ...]
    major_mesh: tuple[Words, ...]
    pubtypes: tuple[Words, ...]
    dois: frozenset[str]
    cache: dict[object, bool] = field(default_factory=dict)

    def fields(self, tag: str) -> tuple[Words, ...]:
        tiab = (self.title, *self.abstract, *self.keywords)
        return {
            "tiab": tiab,
            "ti": (self.title,),
            "ab": self.abstract,
            "ot": self.keywords,
            "all": (*tiab, *self.mesh, *self.pubtypes),
        }[tag]


def _text(element: Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def build_doc(record: bytes) -> Doc:
    root = fromstring(record)
    title = _text(root.find(".//ArticleTitle")) or _text(root.find(".//BookTitle"))
    abstracts = [words(_text(e)) for e in root.iterfind(".//Abstract/AbstractText")]
    abstracts += [words(_text(e)) for e in root.iterfind(".//OtherAbstract/AbstractText")]
    mesh = root.findall(".//MeshHeading")
    major = [
        h.find("DescriptorName")
        for h in mesh
        if any(e.get("MajorTopicYN") == "Y" for e in h if e.tag in ("DescriptorName", "QualifierName"))
    ]
    own_ids = [*root.iterfind("./PubmedData/ArticleIdList/ArticleId"), *root.iterfind(".//ELocationID")]
    own_ids += [
        *root.iterfind("./BookDocument/ArticleIdList/ArticleId"),
        *root.iterfind("./PubmedBookData/ArticleIdList/ArticleId"),
    ]
    return Doc(
        title=words(title),
        abstract=tuple(abstracts),
        keywords=tuple(words(_text(e)) for e in root.iterfind(".//KeywordList/Keyword")),
        mesh=tuple(words(_text(h.find("DescriptorName"))) for h in mesh),
        major_mesh=tuple(words(_text(d)) for d in major if d is not None),
        pubtypes=tuple(words(_text(e)) for e in root.iterfind(".//PublicationTypeList/PublicationType")),
        dois=frozenset(
            (e.text or "").strip().lower()
            for e in own_ids
            if (e.get("IdType") or e.get("EIdType")) == "doi" and e.text
        ),
    )


class Entry(Protocol):
    """One record as the corpus holds it."""

    @property
    def created(self) -> date: ...
    @property
    def entered(self) -> date: ...
    @property
    def doc(self) -> Doc: ...


# ---- field tags --------------------------------------------------------------------------------------------
# fmt: off
_TEXT_TAGS = {
    "tiab": "tiab", "title/abstract": "tiab", "ti": "ti", "title": "ti", "ab": "ab", "abstract": "ab",
    "ot": "ot", "other term": "ot", "all": "all", "all fields": "all", "tw": "all", "text word": "all",
    "mh": "mh", "mesh": "mh", "mesh terms": "mh", "mh:noexp": "mh", "mesh:noexp": "mh",
    "mesh terms:noexp": "mh",
    "majr": "majr", "mesh major topic": "majr", "majr:noexp": "majr",
    "pt": "pt", "publication type": "pt",
}
_ID_TAGS = {"doi": "doi", "aid": "doi", "lid": "doi", "article identifier": "doi", "location id": "doi",
            "pmid": "pmid", "uid": "pmid"}
_DATE_TAGS = {"crdt": "crdt", "create date": "crdt",
              "edat": "edat", "entry date": "edat", "entrez date": "edat"}
# PubMed knows these; this matcher does not, and says so rather than answering wrongly.
_UNIMPLEMENTED_TAGS = {
    "au", "author", "1au", "lastau", "fau", "full author name", "ir", "cn", "dp", "pdat", "publication date",
    "la", "language", "ta", "journal", "jour", "ad", "affiliation", "sb", "subset", "filter", "gr", "ip",
    "vi", "pg", "nm", "sh", "subheading", "mhda", "lr", "dcom", "si", "ps", "rn", "cois", "pa", "book", "ed",
    "isbn",
    "pl", "tt", "orcid", "auid", "sh:noexp", "mesh subheading",
}
# fmt: on


# ---- matchable nodes ---------------------------------------------------------------------------------------
class Query(ABC):
    """A node of a compiled search term."""

    @abstractmethod
    def matches(self, entry: Entry, pmid: int) -> bool: ...

    def fields_not_found(self) -> list[str]:
        return []


@dataclass(frozen=True, eq=False)
class And(Query):
    left: Query
    right: Query

    def matches(self, entry: Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) and self.right.matches(entry, pmid)

    def fields_not_found(self) -> list[str]:
        return self.left.fields_not_found() + self.right.fields_not_found()


@dataclass(frozen=True, eq=False)
class Or(And):
    def matches(self, entry: Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) or self.right.matches(entry, pmid)


@dataclass(frozen=True, eq=False)
class Not(And):
    def matches(self, entry: Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) and not self.right.matches(entry, pmid)


@dataclass(frozen=True)
class Text(Query):
    phrase: Words
    tag: str  # tiab ti ab ot all mh majr pt
    truncated: bool = False
    unknown_tag: str | None = None

    def matches(self, entry: Entry, pmid: int) -> bool:
        cache = entry.doc.cache
        hit = cache.get(self)
        if hit is None:
            hit = cache[self] = self._evaluate(entry.doc)
        return hit

    def _evaluate(self, doc: Doc) -> bool:
        if self.tag in ("mh", "majr", "pt"):  # controlled vocabularies: the whole name
            names = {"mh": doc.mesh, "majr": doc.major_mesh, "pt": doc.pubtypes}[self.tag]
            return any(self._whole(name) for name in names)
        return any(self._inside(text) for text in doc.fields(self.tag))

    def _whole(self, name: Words) -> bool:
        if not self.truncated:
            return name == self.phrase
        n = len(self.phrase)
        return (
            len(name) >= n and name[: n - 1] == self.phrase[:-1] and name[n - 1].startswith(self.phrase[-1])
        )

    def _inside(self, text: Words) -> bool:
        n = len(self.phrase)
        first, last = self.phrase[0], self.phrase[-1]
        for i in range(len(text) - n + 1):
            if n > 1 and text[i] != first:
                continue
            if text[i : i + n - 1] == self.phrase[:-1] and (
                text[i + n - 1].startswith(last) if self.truncated else text[i + n - 1] == last
            ):
                return True
        return False

    def fields_not_found(self) -> list[str]:
        return [self.unknown_tag] if self.unknown_tag else []


@dataclass(frozen=True)
class Ident(Query):
    kind: str  # doi | pmid
    value: str

    def matches(self, entry: Entry, pmid: int) -> bool:
        return self.value in entry.doc.dois if self.kind == "doi" else str(pmid) == self.value


@dataclass(frozen=True)
class DateRange(Query):
    kind: str  # crdt | edat
    start: date
    end: date

    def matches(self, entry: Entry, pmid: int) -> bool:
        day = entry.created if self.kind == "crdt" else entry.entered
        return self.start <= day <= self.end


def top_crdt_range(query: Query) -> DateRange | None:
    """A CRDT range every match must satisfy (found through the top-level ANDs), if any."""
    if isinstance(query, DateRange):
        return query if query.kind == "crdt" else None
    if type(query) is And:
        return top_crdt_range(query.right) or top_crdt_range(query.left)
    return None


def with_date_limits(query: Query, datetype: str | None, mindate: str | None, maxdate: str | None) -> Query:
    """esearch's `mindate`/`maxdate` on `datetype` (PubMed's default: pdat, not implemented here)."""
    if not (mindate or maxdate):
        return query
    kind = _DATE_TAGS.get((datetype or "pdat").lower())
    if kind is None:
        raise QuerySyntaxError(f"datetype {datetype!r} is not implemented (crdt and edat are)")
    low = _parse_date(mindate or "1800", end=False)
    high = _parse_date(maxdate or "3000", end=True)
    return And(query, DateRange(kind, low, high))


def _parse_date(text: str, *, end: bool) -> date:
    try:
        parts = [int(p) for p in re.split(r"[/\-.]", text.strip()) if p]
        if not 1 <= len(parts) <= 3:
            raise ValueError(text)
        year, month, day = (parts + [0, 0])[:3]
        if len(parts) == 3:
            return date(year, month, day)
        if len(parts) == 2:
            first = date(year, month, 1)
            return (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)) if end else first
        return date(year, 12, 31) if end else date(year, 1, 1)
    except ValueError:
        raise QuerySyntaxError(f"not a date: {text!r}") from None


# ---- compiling the syntax tree -----------------------------------------------------------------------------
def compile_term(term: str) -> Query:
    """`term` as matchable nodes; QuerySyntaxError if it is not PubMed syntax or uses an unimplemented tag."""
    try:
        tree = parse_term(term)
    except TermSyntaxError as error:
        raise QuerySyntaxError(_message(error, term)) from None
    return _compile(tree)


def _message(error: TermSyntaxError, term: str) -> str:
    """The replay server's wording (clients and tests know it), the parser's detail otherwise."""
    if error.kind == "empty":
        return "empty term"
    if error.kind == "parens":
        return f"unbalanced parentheses in {term!r}"
    if error.kind == "end":
        return f"the term ends too early: {term!r}"
    return f"cannot read the term {term!r} at {error}"


def _compile(node: Node) -> Query:
    if isinstance(node, Bool):
        kind = {"AND": And, "OR": Or, "NOT": Not}[node.op]
        return kind(_compile(node.left), _compile(node.right))
    if isinstance(node, Leaf):
        return _leaf(node)
    tag = node.tag.name if node.tag else ""
    return _date_range(node.start.text, node.end.text, tag)


def _date_range(start: str, end: str, tag: str) -> Query:
    kind = _DATE_TAGS.get(tag)
    if kind is None:
        raise QuerySyntaxError(f"a range needs a [crdt] or [edat] tag, got [{tag or None}]")
    return DateRange(kind, _parse_date(start, end=False), _parse_date(end, end=True))


def _leaf(leaf: Leaf) -> Query:
    tag = leaf.tag.name if leaf.tag else "all"
    if tag in _DATE_TAGS:
        return _date_range(leaf.text, leaf.text, tag)
    if tag in _ID_TAGS:
        kind = _ID_TAGS[tag]
        return Ident(kind, leaf.text.strip().lower() if kind == "doi" else leaf.text.strip())
    if tag in _UNIMPLEMENTED_TAGS:
        raise QuerySyntaxError(f"the replay server does not implement the field tag [{tag}]")
    unknown = None
    if tag not in _TEXT_TAGS:
        unknown, tag = tag, "all"  # PubMed: FieldNotFound, and the term searched in all fields
    phrase = words(leaf.text)
    if not phrase:
        raise QuerySyntaxError(f"nothing to search in {leaf.text!r}")
    return Text(phrase, _TEXT_TAGS[tag], leaf.truncated, unknown)
