"""The replay server's data: PubMed records kept byte for byte, their dates, and a small honest query matcher.

Records come from efetch-format files (`<PubmedArticleSet>` with `<PubmedArticle>`/`<PubmedBookArticle>`);
each record's bytes are kept verbatim. The Create date ([CRDT]) is the History `PubStatus="entrez"` date
(falling back to "pubmed", then DateCompleted, ArticleDate, DateRevised); the Entry date ([EDAT]) is the
"pubmed" date, else CRDT.

The query matcher — what it does:
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

import bisect
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

log = logging.getLogger(__name__)

DEFAULT_DOCTYPE = (
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b[^>]*>.*?</\1>", re.DOTALL)
_DOCTYPE = re.compile(rb"<!DOCTYPE PubmedArticleSet[^>]*>")
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")
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


def _history_date(record: bytes, status: str) -> date | None:
    match = re.search(
        rb'<PubMedPubDate PubStatus="' + status.encode() + rb'">\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>'
        rb"\s*<Day>(\d+)</Day>",
        record,
    )
    return date(int(match[1]), int(match[2]), int(match[3])) if match else None


def _element_date(record: bytes, tag: str) -> date | None:
    match = re.search(
        rb"<" + tag.encode() + rb"[^>]*>\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>\s*<Day>(\d+)</Day>",
        record,
    )
    return date(int(match[1]), int(match[2]), int(match[3])) if match else None


def record_dates(record: bytes) -> tuple[date, date]:
    """(Create date, Entry date) of one record."""
    created = (
        _history_date(record, "entrez")
        or _history_date(record, "pubmed")
        or _element_date(record, "DateCompleted")
        or _element_date(record, "ArticleDate")
        or _element_date(record, "DateRevised")
        or date(1900, 1, 1)
    )
    return created, _history_date(record, "pubmed") or created


# ---- the corpus --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    xml: bytes
    created: date
    entered: date
    doc: Doc


class _PmidView(Sequence[str]):
    """Sorted PMIDs as strings, without materialising a list (replicated corpora have tens of thousands)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self._ids = ids

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [str(i) for i in self._ids[index]]
        return str(self._ids[index])


class Corpus:
    """PubMed records by PMID. Build with `from_dir`, `from_files` or `replicated`; read-only afterwards."""

    def __init__(self, entries: dict[int, _Entry], doctype: bytes = DEFAULT_DOCTYPE) -> None:
        self._entries = entries
        self._ids: Sequence[int] = sorted(entries)
        self.doctype = doctype

    # construction
    @classmethod
    def from_dir(cls, path: Path | str) -> Corpus:
        files = sorted(Path(path).glob("*.xml"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.xml files to serve")
        return cls.from_files(files)

    @classmethod
    def from_files(cls, paths: Iterable[Path | str]) -> Corpus:
        """Later files win when a PMID repeats (a revised record replaces the old one)."""
        entries: dict[int, _Entry] = {}
        doctype: bytes | None = None
        for path in paths:
            data = Path(path).read_bytes()
            doctype = doctype or (m[0] if (m := _DOCTYPE.search(data[:4096])) else None)
            for match in _RECORD.finditer(data):
                record = match[0]
                pmid = _PMID.search(record)
                if pmid is None:
                    log.warning("%s: a %s without PMID skipped", path, match[1].decode())
                    continue
                created, entered = record_dates(record)
                entries[int(pmid[1])] = _Entry(record, created, entered, build_doc(record))
        return cls(entries, doctype or DEFAULT_DOCTYPE)

    @classmethod
    def replicated(cls, base: Corpus, n: int, first_pmid: int, start: date, end: date) -> Corpus:
        return _ReplicatedCorpus(base, n, first_pmid, start, end)

    # reading
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, pmid: object) -> bool:
        try:
            return self._entry(int(pmid)) is not None  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    @property
    def pmids(self) -> Sequence[str]:
        return _PmidView(self._ids)

    def record_xml(self, pmid: str | int) -> bytes:
        return self._xml(int(pmid), self._require(pmid))

    def created(self, pmid: str | int) -> date:
        return self._require(pmid).created

    def entered(self, pmid: str | int) -> date:
        return self._require(pmid).entered

    def _require(self, pmid: str | int) -> _Entry:
        entry = self._entry(int(pmid))
        if entry is None:
            raise KeyError(f"PMID {pmid} is not in the corpus")
        return entry

    def _entry(self, pmid: int) -> _Entry | None:
        return self._entries.get(pmid)

    def search(
        self,
        term: str,
        *,
        datetype: str | None = None,
        mindate: str | None = None,
        maxdate: str | None = None,
    ) -> list[str]:
        """PMIDs matching `term` (and the mindate/maxdate limits), newest PMID first."""
        return [str(pmid) for pmid in self.search_ids(parse_term(term), datetype, mindate, maxdate)]

    def search_ids(
        self, query: Node, datetype: str | None = None, mindate: str | None = None, maxdate: str | None = None
    ) -> list[int]:
        """Matching PMIDs, newest first."""
        if mindate or maxdate:
            kind = _DATE_TAGS.get((datetype or "pdat").lower())
            if kind is None:
                raise QuerySyntaxError(f"datetype {datetype!r} is not implemented (crdt and edat are)")
            low = _parse_date(mindate or "1800", end=False)
            high = _parse_date(maxdate or "3000", end=True)
            query = And(query, DateRange(kind, low, high))
        return [pmid for pmid in reversed(self._candidates(query)) if query.matches(self._entry(pmid), pmid)]  # type: ignore[arg-type]

    def _candidates(self, query: Node) -> Sequence[int]:
        return self._ids

    def iter_records(self, pmids: Iterable[str | int]) -> Iterator[bytes]:
        """The records of `pmids` that exist, in that order (PubMed leaves unknown/deleted PMIDs out)."""
        for pmid in pmids:
            try:
                entry = self._entry(int(pmid))
            except ValueError:
                continue
            if entry is not None:
                yield self._xml(int(pmid), entry)

    def _xml(self, pmid: int, entry: _Entry) -> bytes:
        return entry.xml


class _ReplicatedCorpus(Corpus):
    """`n` synthetic records: base records cycled with fresh PMIDs and Create dates spread over [start, end].

    Nothing is stored per record: the XML is rewritten on demand (PMID, pubmed ArticleId, entrez/pubmed
    History dates) and the searchable view is the base record's (text matches are computed once per base
    record).
    DOIs stay those of the base record.
    """

    def __init__(self, base: Corpus, n: int, first_pmid: int, start: date, end: date) -> None:
        if len(base) == 0 or n < 1 or start > end:
            raise ValueError("replicated corpus needs a non-empty base, n >= 1 and start <= end")
        self.doctype = base.doctype
        self._base = [base._require(p) for p in base._ids]
        self._first = first_pmid
        self._n = n
        self._start = start
        self._days = (end - start).days + 1
        self._ids = range(first_pmid, first_pmid + n)

    def _entry(self, pmid: int) -> _Entry | None:
        i = pmid - self._first
        if not 0 <= i < self._n:
            return None
        base = self._base[i % len(self._base)]
        created = self._date_of(i)
        return _Entry(base.xml, created, created, base.doc)  # base bytes: rewritten only when served

    def _xml(self, pmid: int, entry: _Entry) -> bytes:
        return _rewrite(entry.xml, pmid, entry.created)

    def _candidates(self, query: Node) -> Sequence[int]:
        # Create dates grow with the index, so a CRDT range every match must satisfy is a PMID range.
        crdt = _top_crdt_range(query)
        if crdt is None:
            return self._ids
        low = bisect.bisect_left(range(self._n), crdt.start, key=self._date_of)
        high = bisect.bisect_right(range(self._n), crdt.end, key=self._date_of)
        return range(self._first + low, self._first + high)

    def _date_of(self, i: int) -> date:
        return self._start + timedelta(days=i * self._days // self._n)


def _rewrite(xml: bytes, pmid: int, created: date) -> bytes:
    new = str(pmid).encode()
    xml = _PMID.sub(lambda m: m[0].replace(m[1], new), xml, count=1)
    xml = re.sub(
        rb'(<ArticleId IdType="pubmed">)\d+(</ArticleId>)', rb"\g<1>" + new + rb"\g<2>", xml, count=1
    )
    stamp = b"<Year>%d</Year><Month>%d</Month><Day>%d</Day>" % (created.year, created.month, created.day)
    return re.sub(
        rb'(<PubMedPubDate PubStatus="(?:entrez|pubmed)">)'
        rb"\s*<Year>\d+</Year>\s*<Month>\d+</Month>\s*<Day>\d+</Day>",
        lambda m: m[1] + stamp,
        xml,
    )


# ---- query language ----------------------------------------------------------------------------------------
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


class Node(ABC):
    """A node of a parsed search term."""

    @abstractmethod
    def matches(self, entry: _Entry, pmid: int) -> bool: ...

    def fields_not_found(self) -> list[str]:
        return []


@dataclass(frozen=True, eq=False)
class And(Node):
    left: Node
    right: Node

    def matches(self, entry: _Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) and self.right.matches(entry, pmid)

    def fields_not_found(self) -> list[str]:
        return self.left.fields_not_found() + self.right.fields_not_found()


@dataclass(frozen=True, eq=False)
class Or(And):
    def matches(self, entry: _Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) or self.right.matches(entry, pmid)


@dataclass(frozen=True, eq=False)
class Not(And):
    def matches(self, entry: _Entry, pmid: int) -> bool:
        return self.left.matches(entry, pmid) and not self.right.matches(entry, pmid)


@dataclass(frozen=True)
class Text(Node):
    phrase: Words
    tag: str  # tiab ti ab ot all mh majr pt
    truncated: bool = False
    unknown_tag: str | None = None

    def matches(self, entry: _Entry, pmid: int) -> bool:
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
class Ident(Node):
    kind: str  # doi | pmid
    value: str

    def matches(self, entry: _Entry, pmid: int) -> bool:
        return self.value in entry.doc.dois if self.kind == "doi" else str(pmid) == self.value


@dataclass(frozen=True)
class DateRange(Node):
    kind: str  # crdt | edat
    start: date
    end: date

    def matches(self, entry: _Entry, pmid: int) -> bool:
        day = entry.created if self.kind == "crdt" else entry.entered
        return self.start <= day <= self.end


def _top_crdt_range(node: Node) -> DateRange | None:
    """A CRDT range every match must satisfy (found through the top-level ANDs), if any."""
    if isinstance(node, DateRange):
        return node if node.kind == "crdt" else None
    if type(node) is And:
        return _top_crdt_range(node.right) or _top_crdt_range(node.left)
    return None


def _parse_date(text: str, *, end: bool) -> date:
    parts = [int(p) for p in re.split(r"[/\-.]", text.strip()) if p]
    if not 1 <= len(parts) <= 3:
        raise QuerySyntaxError(f"not a date: {text!r}")
    year, month, day = (parts + [0, 0])[:3]
    try:
        if len(parts) == 3:
            return date(year, month, day)
        if len(parts) == 2:
            first = date(year, month, 1)
            return (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)) if end else first
        return date(year, 12, 31) if end else date(year, 1, 1)
    except ValueError:
        raise QuerySyntaxError(f"not a date: {text!r}") from None


_TOKEN = re.compile(
    r'\s*(?:(?P<paren>[()])|(?P<colon>:)|"(?P<quoted>[^"]*)"|\[(?P<tag>[^\]]*)\]|(?P<word>[^\s()\[\]":]+))'
)


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenize(term: str) -> list[_Tok]:
    tokens, pos = [], 0
    term = term.rstrip()
    while pos < len(term):
        match = _TOKEN.match(term, pos)
        if match is None or match.end() == pos:
            raise QuerySyntaxError(f"cannot read the term at {term[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        text = match[kind]
        if kind == "word" and text in ("AND", "OR", "NOT"):
            kind = "op"
        tokens.append(_Tok(kind, text))
        pos = match.end()
    return tokens


class _Parser:
    """Left-to-right Boolean parser (PubMed has no operator precedence)."""

    def __init__(self, term: str) -> None:
        self.term = term
        self.tokens = _tokenize(term)
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError(f"the term ends too early: {self.term!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise QuerySyntaxError("empty term")
        node = self.expression()
        if self.peek() is not None:
            raise QuerySyntaxError(f"unbalanced parentheses in {self.term!r}")
        return node

    def expression(self) -> Node:
        node = self.primary()
        while (token := self.peek()) is not None and token.text != ")":
            if token.kind == "op":
                self.pos += 1
                right = self.primary()
                node = {"AND": And, "OR": Or, "NOT": Not}[token.text](node, right)
            else:  # side by side: AND
                node = And(node, self.primary())
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "paren" and token.text == "(":
            node = self.expression()
            if (close := self.peek()) is None or close.text != ")":
                raise QuerySyntaxError(f"unbalanced parentheses in {self.term!r}")
            self.pos += 1
            return node
        if token.kind in ("quoted", "word"):
            return self.term_from(token)
        raise QuerySyntaxError(f"unexpected {token.text!r} in {self.term!r}")

    def term_from(self, token: _Tok) -> Node:
        run = [token.text]
        if token.kind == "word":  # an unquoted run of words, up to an operator, parenthesis, tag or colon
            while (nxt := self.peek()) is not None and nxt.kind == "word":
                run.append(self.take().text)
        tag = (
            self.take().text.strip().lower()
            if (nxt := self.peek()) is not None and nxt.kind == "tag"
            else None
        )
        if (nxt := self.peek()) is not None and nxt.kind == "colon":
            self.pos += 1
            end_token = self.take()
            end_tag = self.take().text.strip().lower() if (t := self.peek()) and t.kind == "tag" else None
            return _date_range(" ".join(run), end_token.text, tag or end_tag)
        if tag is None and token.kind == "word" and len(run) > 1:
            node: Node = _leaf(run[0], None, quoted=False)
            for word in run[1:]:
                node = And(node, _leaf(word, None, quoted=False))
            return node
        return _leaf(" ".join(run), tag, quoted=token.kind == "quoted")


def _date_range(start: str, end: str, tag: str | None) -> Node:
    kind = _DATE_TAGS.get(tag or "")
    if kind is None:
        raise QuerySyntaxError(f"a range needs a [crdt] or [edat] tag, got [{tag}]")
    return DateRange(kind, _parse_date(start, end=False), _parse_date(end, end=True))


def _leaf(text: str, tag: str | None, *, quoted: bool) -> Node:
    tag = tag or "all"
    if tag in _DATE_TAGS:
        return _date_range(text, text, tag)
    if tag in _ID_TAGS:
        kind = _ID_TAGS[tag]
        return Ident(kind, text.strip().lower() if kind == "doi" else text.strip())
    if tag in _UNIMPLEMENTED_TAGS:
        raise QuerySyntaxError(f"the replay server does not implement the field tag [{tag}]")
    unknown = None
    if tag not in _TEXT_TAGS:
        unknown, tag = tag, "all"
    phrase = words(text)
    if not phrase:
        raise QuerySyntaxError(f"nothing to search in {text!r}")
    return Text(phrase, _TEXT_TAGS[tag], text.rstrip().endswith("*"), unknown)


def parse_term(term: str) -> Node:
    return _Parser(term).parse()
