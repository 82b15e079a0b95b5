"""A real E-utilities HTTP server on 127.0.0.1 over a folder of PubMed XML, for the tests, the offline
demo and the benchmark. It speaks enough of NCBI's esearch/efetch for litwatch's client, byte for byte
where it matters:

- esearch (GET/POST): JSON or XML shaped like NCBI's, the term matched by `replay_corpus` (see its docstring
  for exactly what the matcher does and does not do versus PubMed), `mindate`/`maxdate`/`datetype` (crdt,
  edat), `retstart`/`retmax` with PubMed's 9,999 cap, `usehistory=y` → WebEnv/query_key;
- efetch (GET/POST): `id=` list or `WebEnv`+`query_key`+`retstart`/`retmax`, XML only; a `PubmedArticleSet`
  with the DOCTYPE line of the source files and each record's bytes as in the source; unknown PMIDs are left
  out;
- NCBI's rate limit (3 requests/s, 10/s with `api_key`, over any one-second window per key/client): a
  request over the limit gets HTTP 429 with NCBI's JSON body and is counted in `stats.rate_violations`;
- scripted faults (`server.faults.inject(...)`), latency and bandwidth limits.

Deliberately absent: other databases and endpoints, rettypes other than XML, esummary/elink/epost.
"""

from __future__ import annotations

import collections
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from .corpus import Corpus, QuerySyntaxError, parse_term

__all__ = ["Corpus", "Faults", "ReplayServer", "ReplayStats", "serve"]

log = logging.getLogger(__name__)

PREFIX = "/entrez/eutils/"
ESEARCH_CAP = 9999
ENDPOINTS = ("esearch", "efetch")
_DISRUPTIVE = {
    "429", "500", "502", "503", "error200", "empty", "html", "truncate", "reset", "webenv_expired", "bomb", "xxe",
}
_QUERY_NOTES = ("phrase_not_found:", "quoted_phrase_not_found:", "phrase_ignored:")
_ADDITIVE = ("drop:", "hide:", "doctype:", *_QUERY_NOTES)  # change the normal answer; several may fire at once
_PARAMETRIC = ("slow:", "429:", *_ADDITIVE)
# Hostile efetch bodies: the DOCTYPE declares the entities, the first title uses them.
_HOSTILE = {
    "bomb": (
        b'<!DOCTYPE PubmedArticleSet [\n<!ENTITY lol "lol">\n'
        + b"".join(
            b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
        )
        + b"]>",
        b"&lol9;",
    ),
    "xxe": (b'<!DOCTYPE PubmedArticleSet [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>', b"&xxe;"),
}
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
_HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>NCBI - WWW Error 500 Diagnostic</title></head>\n"
    b"<body><h1>Error</h1><p>Server Error. Your request could not be processed due to a problem on our web "
    b"server.</p></body></html>\n"
)
_RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can only "
    "retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, "
    "consider using EDirect that contains additional logic to batch PubMed search results automatically so "
    "that an arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)


# ---- faults ------------------------------------------------------------------------------------------------
@dataclass
class _Rule:
    endpoint: str
    kind: str
    times: int | None
    after: int
    seen: int = 0

    def applies(self, endpoint: str, history: bool) -> bool:
        if self.endpoint not in ("any", endpoint):
            return False
        if self.kind == "webenv_expired":
            return endpoint == "efetch" and history
        if self.kind.startswith(("drop:", "doctype:")) or self.kind in _HOSTILE:
            return endpoint == "efetch"
        if self.kind.startswith(("hide:", *_QUERY_NOTES)):
            return endpoint == "esearch"
        return True


class Faults:
    """Scripted faults, thread-safe. A rule lets `after` matching requests through, then fires on the next
    `times` (None: forever). At most one disruptive fault fires per request; `drop:` and the query notes
    add to it.

    Kinds: "429" (no Retry-After, as NCBI), "429:<seconds>" (with Retry-After), "500", "502", "503",
    "error200" (HTTP 200 with NCBI's "Search Backend failed" error), "empty", "html", "truncate" (the body cut
    in the middle), "reset" (connection closed without a response), "slow:<seconds>", "drop:<pmid>" (efetch
    leaves the record out, as PubMed does for deleted PMIDs), "webenv_expired" (efetch by history: "Unable to
    obtain query"), "phrase_not_found:<phrase>" (esearch reports the phrase in errorlist),
    "quoted_phrase_not_found:<phrase>" and "phrase_ignored:<phrase>" (in warninglist), "hide:<pmid>" (esearch
    does not see the record yet: with `times`/`after`, a record that appears or vanishes between two searches),
    "doctype:<line>" (efetch sends this DOCTYPE line instead of the corpus's: a new or foreign DTD), "bomb"
    (efetch body with a billion-laughs internal DTD subset) and "xxe" (an external entity on file:///etc/passwd).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    def inject(self, endpoint: str, kind: str, times: int | None = 1, after: int = 0) -> None:
        if endpoint not in ("any", *ENDPOINTS):
            raise ValueError(f"unknown endpoint {endpoint!r}: use esearch, efetch or any")
        if kind not in _DISRUPTIVE and not kind.startswith(_PARAMETRIC):
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind.startswith(("slow:", "429:")):
            float(kind.split(":", 1)[1])  # fail here, not in the server thread
        if kind.startswith("hide:"):
            int(kind.split(":", 1)[1])
        with self._lock:
            self._rules.append(_Rule(endpoint, kind, times, after))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, endpoint: str, *, history: bool = False) -> list[str]:
        """The kinds that fire for this request (and count it against their rules)."""
        fired: list[str] = []
        disrupted = False
        with self._lock:
            for rule in self._rules:
                disruptive = not rule.kind.startswith(_ADDITIVE)
                if not rule.applies(endpoint, history) or (disruptive and disrupted) or rule.times == 0:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                fired.append(rule.kind)
                disrupted = disrupted or disruptive
        return fired


# ---- statistics --------------------------------------------------------------------------------------------
@dataclass
class ReplayStats:
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    rate_violations: int = 0
    post_count: int = 0
    bytes_sent: int = 0
    max_concurrent: int = 0  # the most requests being served at once (clients with several in flight)
    last_params: dict[str, str] = field(default_factory=dict)
    params_log: collections.deque[dict[str, str]] = field(
        default_factory=lambda: collections.deque(maxlen=10_000)
    )


# ---- the server --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class ReplayServer:
    """`with ReplayServer(corpus) as server: ... server.base_url ...` — or start()/stop()."""

    def __init__(
        self,
        corpus: Corpus,
        *,
        port: int = 0,
        rate_limit: float | None = 3.0,
        api_key_rate_limit: float | None = 10.0,
        latency: float = 0.0,
        bandwidth_bps: float | None = None,
    ) -> None:
        self.corpus = corpus
        self.port = port
        self.rate_limit = rate_limit
        self.api_key_rate_limit = api_key_rate_limit
        self.latency = latency
        self.bandwidth_bps = bandwidth_bps
        self.faults = Faults()
        self.stats = ReplayStats()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._arrivals: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._history: collections.OrderedDict[str, dict[str, tuple[int, ...]]] = collections.OrderedDict()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ReplayServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.replay = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        log.info("replay server on %s serving %d records", self.base_url, len(self.corpus))
        return self

    def stop(self) -> None:
        with self._lock:  # stop() may race with serve_forever()'s own stop()
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Foreground: serve until interrupted."""
        self.start()
        try:
            while (thread := self._thread) is not None and thread.is_alive():
                thread.join(timeout=0.5)
        finally:
            self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    @property
    def last_params(self) -> dict[str, str]:
        with self._lock:
            return dict(self.stats.last_params)

    # request accounting
    def _record(self, endpoint: str, method: str, params: dict[str, str]) -> None:
        with self._lock:
            self.stats.requests[endpoint] += 1
            self.stats.post_count += method == "POST"
            self.stats.last_params = dict(params)
            self.stats.params_log.append(dict(params))

    def _over_rate(self, params: dict[str, str], client: str) -> _Response | None:
        """NCBI counts requests per key (or per client address) over a one-second window."""
        key = params.get("api_key")
        limit = self.api_key_rate_limit if key else self.rate_limit
        if limit is None:
            return None
        identity = key or client
        now = time.monotonic()
        with self._lock:
            window = self._arrivals[identity]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) < limit:
                window.append(now)
                return None
            self.stats.rate_violations += 1
            count = len(window) + 1
        body = {
            "error": "API rate limit exceeded",
            "api-key": identity,
            "count": str(count),
            "limit": f"{limit:g}",
        }
        return _Response(429, "application/json", json.dumps(body).encode())

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.stats.max_concurrent = max(self.stats.max_concurrent, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sent(self, n: int) -> None:
        with self._lock:
            self.stats.bytes_sent += n

    # history server
    def _remember(self, webenv: str | None, ids: list[int]) -> tuple[str, str]:
        with self._lock:
            if webenv not in self._history:
                webenv = f"MCID_{secrets.token_hex(12)}"
                self._history[webenv] = {}
                while len(self._history) > 500:
                    self._history.popitem(last=False)
            queries = self._history[webenv]
            key = str(len(queries) + 1)
            queries[key] = tuple(ids)
            return webenv, key

    def _recall(self, webenv: str, query_key: str) -> tuple[int, ...] | None:
        with self._lock:
            return self._history.get(webenv, {}).get(query_key)

    def expire_history(self) -> None:
        """Forget every WebEnv, as NCBI does after a while."""
        with self._lock:
            self._history.clear()

    # endpoints
    def esearch(self, params: dict[str, str], fired: list[str]) -> _Response:
        as_json = params.get("retmode", "xml").lower() == "json"
        if params.get("db", "pubmed") != "pubmed":
            return _esearch_error(f"Invalid db name specified: {params['db']}", as_json)
        term = params.get("term", "").strip()
        if not term:
            return _esearch_error("Empty term and query_key - nothing todo", as_json)
        retstart, retmax = _int(params, "retstart", 0), _int(params, "retmax", 20)
        if retstart > ESEARCH_CAP - 1:
            return _esearch_error(_RETSTART_ERROR, as_json)
        query = parse_term(term)
        ids = self.corpus.search_ids(
            query, params.get("datetype"), params.get("mindate"), params.get("maxdate")
        )
        hidden = {int(k.split(":", 1)[1]) for k in fired if k.startswith("hide:")}
        if hidden:
            ids = [i for i in ids if i not in hidden]
        result: dict[str, Any] = {"count": str(len(ids))}
        page = ids[retstart : min(retstart + retmax, ESEARCH_CAP)]
        result.update(retmax=str(len(page)), retstart=str(retstart))
        if params.get("usehistory", "").lower() == "y":
            result["webenv"], result["querykey"] = self._remember(params.get("WebEnv"), ids)
        result.update(idlist=[str(i) for i in page], translationset=[], querytranslation=term)
        notes = {
            prefix: [k.split(":", 1)[1] for k in fired if k.startswith(prefix)] for prefix in _QUERY_NOTES
        }
        fields = query.fields_not_found()
        if notes["phrase_not_found:"] or fields:
            result["errorlist"] = {"phrasesnotfound": notes["phrase_not_found:"], "fieldsnotfound": fields}
        ignored, unquoted = notes["phrase_ignored:"], notes["quoted_phrase_not_found:"]
        if ignored or unquoted or not ids:
            result["warninglist"] = {
                "phrasesignored": ignored,
                "quotedphrasesnotfound": unquoted,
                "outputmessages": [] if ids else ["No items found."],
            }
        return _esearch_json(result) if as_json else _esearch_xml(result)

    def efetch(self, params: dict[str, str], fired: list[str]) -> _Response:
        if params.get("db", "pubmed") != "pubmed":
            return _efetch_error(f"Invalid db name specified: {params['db']}")
        if params.get("retmode", "xml").lower() != "xml" or params.get("rettype", "xml").lower() not in (
            "xml",
            "abstract",
            "full",
            "",
        ):
            return _Response(400, "text/plain", b"the replay server serves retmode=xml only\n")
        if "WebEnv" in params or "query_key" in params:
            stored = self._recall(params.get("WebEnv", ""), params.get("query_key", ""))
            if stored is None or "webenv_expired" in fired:
                return _efetch_error(f"Unable to obtain query #{params.get('query_key', '')}")
            retstart = _int(params, "retstart", 0)
            pmids: list[str] = [str(i) for i in stored[retstart : retstart + _int(params, "retmax", 20)]]
        else:
            pmids = [p.strip() for p in params.get("id", "").split(",") if p.strip()]
            if not pmids:
                return _efetch_error("Empty id list - nothing todo")
        dropped = {kind.split(":", 1)[1] for kind in fired if kind.startswith("drop:")}
        records = self.corpus.iter_records(p for p in pmids if p not in dropped)
        doctype = next((k.split(":", 1)[1].encode() for k in fired if k.startswith("doctype:")), self.corpus.doctype)
        hostile = next((_HOSTILE[k] for k in fired if k in _HOSTILE), None)
        if hostile is not None:
            doctype = hostile[0]
        body = b"\n".join(
            [
                b'<?xml version="1.0" ?>',
                doctype,
                b"<PubmedArticleSet>",
                *records,
                b"</PubmedArticleSet>\n",
            ]
        )
        if hostile is not None:
            body = body.replace(b"<ArticleTitle>", b"<ArticleTitle>" + hostile[1], 1)
        return _Response(200, "text/xml; charset=UTF-8", body)


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return max(0, int(params.get(name, default)))
    except ValueError:
        raise QuerySyntaxError(f"{name} must be a number, got {params[name]!r}") from None


def _esearch_error(message: str, as_json: bool) -> _Response:
    if as_json:
        body = json.dumps(
            {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {"ERROR": message}}
        )
        return _Response(200, "application/json; charset=UTF-8", body.encode())
    xml = _esearch_doc(f"<ERROR>{escape(message)}</ERROR>")
    return _Response(200, "text/xml; charset=UTF-8", xml.encode())


def _efetch_error(message: str) -> _Response:
    return _Response(200, "text/xml; charset=UTF-8", _EFETCH_ERROR.format(escape(message)).encode())


def _esearch_doc(inner: str) -> str:
    head = f'<?xml version="1.0" encoding="UTF-8" ?>\n{_ESEARCH_DOCTYPE}\n'
    return f"{head}<eSearchResult>{inner}</eSearchResult>\n"


def _esearch_json(result: dict[str, Any]) -> _Response:
    body = json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result})
    return _Response(200, "application/json; charset=UTF-8", body.encode())


def _esearch_xml(result: dict[str, Any]) -> _Response:
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
    return _Response(200, "text/xml; charset=UTF-8", xml.encode())


def _fault_response(kind: str, endpoint: str, as_json: bool) -> _Response | None:
    """The canned answer of a disruptive fault (None: answer normally)."""
    if kind in ("500", "502", "503"):
        reason = {"500": "Internal Server Error", "502": "Bad Gateway", "503": "Service Unavailable"}[kind]
        return _Response(
            int(kind), "text/html", f"<html><body><h1>{kind} {reason}</h1></body></html>\n".encode()
        )
    if kind == "429" or kind.startswith("429:"):
        body = json.dumps({"error": "API rate limit exceeded", "count": "4", "limit": "3"}).encode()
        headers = (("Retry-After", kind.split(":", 1)[1]),) if ":" in kind else ()
        return _Response(429, "application/json", body, headers)
    if kind == "empty":
        return _Response(200, "text/xml; charset=UTF-8", b"")
    if kind == "html":
        return _Response(200, "text/html; charset=UTF-8", _HTML_ERROR)
    if kind == "error200":
        message = "Search Backend failed: Database is not supported: pubmed"
        return _esearch_error(message, as_json) if endpoint == "esearch" else _efetch_error(message)
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("replay server: error while serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like NCBI; every answer carries Content-Length
    server_version = "litwatch-replay"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)

    def _params(self, method: str) -> dict[str, str]:
        url = urlsplit(self.path)
        raw = parse_qs(url.query, keep_blank_values=True)
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            for key, values in parse_qs(
                self.rfile.read(length).decode("utf-8"), keep_blank_values=True
            ).items():
                raw.setdefault(key, []).extend(values)
        return {key: ",".join(values) if key == "id" else values[-1] for key, values in raw.items()}

    def _serve(self, method: str) -> None:
        replay: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        replay._enter()
        try:
            self._serve_counted(replay, method)
        finally:
            replay._leave()

    def _serve_counted(self, replay: ReplayServer, method: str) -> None:
        params = self._params(method)
        path = urlsplit(self.path).path
        endpoint = (
            path[len(PREFIX) : -len(".fcgi")] if path.startswith(PREFIX) and path.endswith(".fcgi") else ""
        )
        if endpoint not in ENDPOINTS:
            self._send(
                _Response(404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>\n"), replay
            )
            return
        replay._record(endpoint, method, params)
        limited = replay._over_rate(params, self.client_address[0])
        if limited is not None:
            self._send(limited, replay)
            return
        if replay.latency:
            time.sleep(replay.latency)
        fired = replay.faults.take(endpoint, history="WebEnv" in params)
        self._answer(replay, endpoint, params, fired)

    def _answer(self, replay: ReplayServer, endpoint: str, params: dict[str, str], fired: list[str]) -> None:
        as_json = params.get("retmode", "").lower() == "json"
        for kind in fired:
            if kind == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind.startswith("slow:"):
                time.sleep(float(kind.split(":", 1)[1]))
            canned = _fault_response(kind, endpoint, as_json)
            if canned is not None:
                self._send(canned, replay)
                return
        try:
            response = (
                replay.esearch(params, fired) if endpoint == "esearch" else replay.efetch(params, fired)
            )
        except QuerySyntaxError as error:
            response = _Response(400, "text/plain; charset=UTF-8", f"replay: {error}\n".encode())
        if "truncate" in fired:
            response = _Response(
                response.status, response.content_type, response.body[: len(response.body) // 2]
            )
        self._send(response, replay)

    def _send(self, response: _Response, replay: ReplayServer) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self._write(response.body, replay.bandwidth_bps)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its read timeout)
            self.close_connection = True
            return
        replay._sent(len(response.body))

    def _write(self, body: bytes, bandwidth_bps: float | None) -> None:
        if not bandwidth_bps:
            self.wfile.write(body)
            return
        chunk = max(1024, int(bandwidth_bps / 20))  # ~20 writes a second
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            self.wfile.write(piece)
            time.sleep(len(piece) / bandwidth_bps)


def serve(
    corpus_dir: Path,
    port: int,
    *,
    rate_limit: float | None = 3.0,
    latency: float = 0.0,
    ready: Callable[[ReplayServer], None] | None = None,
) -> None:
    """Serve `corpus_dir` in the foreground until interrupted (`litwatch replay`); `ready` gets the server."""
    server = ReplayServer(Corpus.from_dir(corpus_dir), port=port, rate_limit=rate_limit, latency=latency)
    server.start()
    if ready is not None:
        ready(server)
    server.serve_forever()
