"""efetch bytes → `Article` records, with Biopython's validating Entrez parser.

Three guards wrap Biopython (bound by the design card):
1. Hostile input is refused before any parser sees it (`safety.check_prolog`):
   internal DTD subsets, ENTITY declarations, foreign encodings, bodies that are not a
   `PubmedArticleSet`.
2. Biopython downloads a DTD it does not have; offline that hangs or fails obscurely. Our handler
   resolves DTDs by file name from the project cache and Biopython's bundled set only, and never
   opens a URL: a missing DTD is a one-line `DtdUnavailableError` naming the file and the cache
   directory (the runner may fetch it and retry).
3. Parsing streams: expat is fed 64 KiB blocks and each completed `<PubmedArticle>` is turned into
   an `Article` and dropped from Biopython's tree, so a 50 MB body is never held as a full object
   tree next to its bytes.

Each finished record becomes an `Article` in `fields`. Text fields come from Biopython with `escape=True` so
that inline markup and escaped text stay distinguishable; see `markup` for the text/HTML rules (and the one
whitespace normalisation text undergoes).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.parsers import expat

from Bio.Entrez.Parser import DataHandler, ValidationError

from litwatch.storage.records import Article, ParsedBatch

from ..errors import ParseError
from .dtd import DtdUnavailableError, MissingDtd, OfflineHandler, SchemaRefused, dtd_available
from .fields import MissingPmid, is_book, record_pmid, to_article
from .safety import PROLOG_LIMIT, Prolog, check_prolog

__all__ = ["iter_efetch", "parse_efetch"]

BLOCK = 64 * 1024
ROOT = "PubmedArticleSet"
_RECORD_KEYS = ("PubmedArticle", "PubmedBookArticle")


# --- public API ------------------------------------------------------------------------------------

def parse_efetch(body: bytes, batch: str = "efetch") -> ParsedBatch:
    """Parse one efetch body. Every failure is a one-line `ParseError` starting with `batch`."""
    articles: list[Article] = []
    deleted: list[str] = []
    for item in iter_efetch(io.BytesIO(body), batch):  # BytesIO shares the bytes: no copy of the body
        if isinstance(item, Article):
            articles.append(item)
        else:
            deleted.append(item)
    return ParsedBatch(articles=tuple(articles), deleted=tuple(deleted))


def iter_efetch(stream: BinaryIO, batch: str = "efetch") -> Iterator[Article | str]:
    """Yield each `Article` as soon as its element is complete, then the PMIDs of `<DeleteCitation>` (as str).

    Journal articles and books come out in document order within each kind; across kinds, per block.
    """
    head = _read_head(stream)
    prolog = check_prolog(head, batch)
    _check_root(prolog, batch)
    handler = OfflineHandler(validate=True, escape=True, ignore_errors=False)
    position = 0
    try:
        chunk = head
        while True:
            final = not chunk
            handler.parser.Parse(chunk, final)
            for record in _completed(handler):
                position += 1
                yield _to_article(record, batch, position)
            if final:
                break
            chunk = stream.read(BLOCK)
    except expat.ExpatError as exc:
        raise ParseError(f"{batch}: malformed XML at line {exc.lineno}, column {exc.offset + 1}: "
                         f"{expat.ErrorString(exc.code)}") from None
    except MissingDtd as exc:
        raise DtdUnavailableError(batch, exc.filename, exc.system_id) from None
    except ValidationError as exc:
        raise ParseError(f"{batch}: element <{exc.name}> is not in the DTD {prolog.dtd_filename}") from None
    except SchemaRefused as exc:
        raise ParseError(f"{batch}: {exc}") from None
    except RuntimeError as exc:  # Biopython raises it for a non-empty <ERROR> element
        raise ParseError(f"{batch}: NCBI error in the body: {_one_line(str(exc))}") from None
    except (ValueError, AssertionError) as exc:  # Biopython's other complaints (unknown namespace...)
        raise ParseError(f"{batch}: not parseable as PubMed XML: {_one_line(str(exc))}") from None
    yield from _deleted(handler)


# --- streaming over Biopython's handler ------------------------------------------------------------

def _read_head(stream: BinaryIO) -> bytes:
    """Read at least PROLOG_LIMIT bytes (or all there is): raw streams may return short reads."""
    parts: list[bytes] = []
    size = 0
    while size < PROLOG_LIMIT:
        data = stream.read(PROLOG_LIMIT - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _check_root(prolog: Prolog, batch: str) -> None:
    if prolog.root != ROOT:
        raise ParseError(f"{batch}: not a {ROOT} (root element <{prolog.root}>)")
    filename = prolog.dtd_filename
    if filename is None:
        raise ParseError(f"{batch}: no DOCTYPE naming PubMed's DTD (Biopython's validating parser needs one)")
    if not dtd_available(filename):  # fail before parsing anything; the handler enforces it for nested DTDs
        raise DtdUnavailableError(batch, filename, prolog.system_id)


def _completed(handler: DataHandler) -> Iterator[Any]:
    """Pop finished records off Biopython's root element; the one still being parsed stays.

    DTDs up to 2015 make the root a list of records (document order); from 2018 on, with `DeleteCitation`, a
    dictionary holding one list per record kind.
    """
    root = getattr(handler, "record", None)
    if root is None:
        return
    in_progress = None
    element = handler.element
    if element is not None and element is not root:
        while element.parent is not root:  # Biopython keeps `.parent` on open elements only
            element = element.parent
        in_progress = element
    lists = [root] if isinstance(root, list) else [root.get(key) for key in _RECORD_KEYS]
    for records in lists:
        while records and records[0] is not in_progress:
            yield records.pop(0)


def _deleted(handler: DataHandler) -> Iterator[str]:
    root = getattr(handler, "record", None)
    if not isinstance(root, dict):
        return  # list-shaped roots (pre-2018 DTDs) cannot hold a DeleteCitation
    for pmid in root.get("DeleteCitation") or ():
        yield str(pmid).strip()


# --- Biopython records → Article -------------------------------------------------------------------

def _to_article(record: Any, batch: str, position: int) -> Article:
    try:
        return to_article(record)
    except MissingPmid:
        element = "PubmedBookArticle" if is_book(record) else "PubmedArticle"
        raise ParseError(f"{batch}: record {position} (<{element}>) has no PMID") from None
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ParseError(f"{batch}: record {position} (PMID {record_pmid(record)}): unexpected structure: "
                         f"{type(exc).__name__} {exc}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
