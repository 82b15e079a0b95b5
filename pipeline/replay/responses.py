"""The replay server's answers as bytes shaped like NCBI's: esearch results in JSON and XML, efetch's
`PubmedArticleSet`, and NCBI's error bodies (esearch `<ERROR>`/`{"ERROR": …}`, efetch `<ERROR>`, the HTML
error page, the 429 rate-limit JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

_ESEARCH_DOCTYPE = (
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">'
)
_EFETCH_ERROR = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eFetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n<eFetchResult>\n\t<ERROR>{}</ERROR>\n'
    "</eFetchResult>\n"
)
HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>NCBI - WWW Error 500 Diagnostic</title></head>\n"
    b"<body><h1>Error</h1><p>Server Error. Your request could not be processed due to a problem on our web "
    b"server.</p></body></html>\n"
)
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can only "
    "retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, "
    "consider using EDirect that contains additional logic to batch PubMed search results automatically so "
    "that an arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)
_XML = "text/xml; charset=UTF-8"
_JSON = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def rate_limited(body: dict[str, str], retry_after: str | None = None) -> Response:
    """NCBI's HTTP 429: a JSON body, Retry-After only when given."""
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Response(429, "application/json", json.dumps(body).encode(), headers)


def esearch_error(message: str, as_json: bool) -> Response:
    if as_json:
        body = json.dumps(
            {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {"ERROR": message}}
        )
        return Response(200, _JSON, body.encode())
    xml = _esearch_doc(f"<ERROR>{escape(message)}</ERROR>")
    return Response(200, _XML, xml.encode())


def efetch_error(message: str) -> Response:
    return Response(200, _XML, _EFETCH_ERROR.format(escape(message)).encode())


def efetch_body(doctype: bytes, records: Iterable[bytes]) -> bytes:
    """A `PubmedArticleSet` under `doctype`, each record's bytes as given."""
    return b"\n".join(
        [b'<?xml version="1.0" ?>', doctype, b"<PubmedArticleSet>", *records, b"</PubmedArticleSet>\n"]
    )


def _esearch_doc(inner: str) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8" ?>\n{_ESEARCH_DOCTYPE}\n'
    return f"{head}<eSearchResult>{inner}</eSearchResult>\n"


def esearch_json(result: dict[str, Any]) -> Response:
    body = json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result})
    return Response(200, _JSON, body.encode())


def esearch_xml(result: dict[str, Any]) -> Response:
    parts = [
        f"<Count>{result['count']}</Count><RetMax>{result['retmax']}</RetMax><RetStart>{result['retstart']}</RetStart>"
    ]
    if "querykey" in result:
        parts.append(f"<QueryKey>{result['querykey']}</QueryKey><WebEnv>{result['webenv']}</WebEnv>")
    ids = "".join(f"<Id>{i}</Id>" for i in result["idlist"])
    parts.append(f"<IdList>{ids}</IdList>" if ids else "<IdList/>")
    parts.append(
        f"<TranslationSet/><QueryTranslation>{escape(result['querytranslation'])}</QueryTranslation>"
    )
    errors = result.get("errorlist", {})
    items = [f"<PhraseNotFound>{escape(p)}</PhraseNotFound>" for p in errors.get("phrasesnotfound", [])]
    items += [f"<FieldNotFound>{escape(f)}</FieldNotFound>" for f in errors.get("fieldsnotfound", [])]
    if items:
        parts.append(f"<ErrorList>{''.join(items)}</ErrorList>")
    if "warninglist" in result:
        warnings = result["warninglist"]
        notes = [f"<PhraseIgnored>{escape(p)}</PhraseIgnored>" for p in warnings["phrasesignored"]]
        notes += [
            f"<QuotedPhraseNotFound>{escape(p)}</QuotedPhraseNotFound>"
            for p in warnings["quotedphrasesnotfound"]
        ]
        notes += [f"<OutputMessage>{escape(m)}</OutputMessage>" for m in warnings["outputmessages"]]
        parts.append(f"<WarningList>{''.join(notes)}</WarningList>")
    xml = _esearch_doc("".join(parts))
    return Response(200, _XML, xml.encode())
