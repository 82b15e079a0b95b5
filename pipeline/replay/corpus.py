"""The replay server's corpus: PubMed records kept byte for byte, their Create/Entry dates, and search over
them with the query matcher (`matching`). `Corpus.replicated` builds a large synthetic corpus lazily.

Records come from efetch-format files (`<PubmedArticleSet>` with `<PubmedArticle>`/`<PubmedBookArticle>`);
each record's bytes are kept verbatim. The Create date ([CRDT]) is the History `PubStatus="entrez"` date
(falling back to "pubmed", then DateCompleted, ArticleDate, DateRevised); the Entry date ([EDAT]) is the
"pubmed" date, else CRDT.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .matching import Doc, Query, build_doc, compile_term, top_crdt_range, with_date_limits

log = logging.getLogger(__name__)

DEFAULT_DOCTYPE = (
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)\b[^>]*>.*?</\1>", re.DOTALL)
_DOCTYPE = re.compile(rb"<!DOCTYPE PubmedArticleSet[^>]*>")
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")


# ---- dates -------------------------------------------------------------------------------------------------
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
        return [str(pmid) for pmid in self.search_ids(compile_term(term), datetype, mindate, maxdate)]

    def search_ids(
        self, query: Query, datetype: str | None = None, mindate: str | None = None, maxdate: str | None = None
    ) -> list[int]:
        """Matching PMIDs, newest first."""
        query = with_date_limits(query, datetype, mindate, maxdate)
        return [pmid for pmid in reversed(self._candidates(query)) if query.matches(self._entry(pmid), pmid)]  # type: ignore[arg-type]

    def _candidates(self, query: Query) -> Sequence[int]:
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

    def _candidates(self, query: Query) -> Sequence[int]:
        # Create dates grow with the index, so a CRDT range every match must satisfy is a PMID range.
        crdt = top_crdt_range(query)
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
