"""A real E-utilities HTTP server on 127.0.0.1 over a folder of PubMed XML, for the tests, the offline
demo and the benchmark. It speaks enough of NCBI's esearch/efetch for litwatch's client, byte for byte
where it matters:

- esearch (GET/POST): JSON or XML shaped like NCBI's, the term matched by `matching` (see its docstring
  for exactly what the matcher does and does not do versus PubMed), `mindate`/`maxdate`/`datetype` (crdt,
  edat), `retstart`/`retmax` with PubMed's 9,999 cap, `usehistory=y` → WebEnv/query_key;
- efetch (GET/POST): `id=` list or `WebEnv`+`query_key`+`retstart`/`retmax`, XML only; a `PubmedArticleSet`
  with the DOCTYPE line of the source files and each record's bytes as in the source; unknown PMIDs are left
  out;
- NCBI's rate limit (3 requests/s, 10/s with `api_key`, over any one-second window per key/client): a
  request over the limit gets HTTP 429 with NCBI's JSON body and is counted in `stats.rate_violations`;
- scripted faults (`server.faults.inject(...)`, see `faults`), latency and bandwidth limits.

Deliberately absent: other databases and endpoints, rettypes other than XML, esummary/elink/epost.
"""

from __future__ import annotations

import collections
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

from .corpus import Corpus
from .crossref import PREFIX as CROSSREF_PREFIX
from .crossref import CrossrefWorks
from .faults import ENDPOINTS, HOSTILE, QUERY_NOTES, Faults, arguments, fault_response
from .matching import QuerySyntaxError, compile_term
from .responses import (
    RETSTART_ERROR,
    Response,
    efetch_body,
    efetch_error,
    esearch_error,
    esearch_json,
    esearch_xml,
    rate_limited,
)

log = logging.getLogger(__name__)

PREFIX = "/entrez/eutils/"
ESEARCH_CAP = 9999


# ---- statistics --------------------------------------------------------------------------------------------
@dataclass
class ReplayStats:
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    rate_violations: int = 0
    post_count: int = 0
    bytes_sent: int = 0
    max_concurrent: int = 0  # the most requests being served at once (clients with several in flight)
    last_params: dict[str, str] = field(default_factory=dict)
    params_log: collections.deque[dict[str, str]] = field(default_factory=lambda: collections.deque(maxlen=10_000))


# ---- the server --------------------------------------------------------------------------------------------
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
        crossref: CrossrefWorks | None = None,
    ) -> None:
        self.corpus = corpus
        self.crossref = crossref if crossref is not None else CrossrefWorks()  # /crossref/works/{doi}
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
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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
    def crossref_url(self) -> str:
        """The Crossref REST API stand-in ([crossref] base_url): `works/{doi}` over `self.crossref`."""
        return f"http://127.0.0.1:{self.port}{CROSSREF_PREFIX}"

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

    def _over_rate(self, params: dict[str, str], client: str) -> Response | None:
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
        return rate_limited(
            {"error": "API rate limit exceeded", "api-key": identity, "count": str(count), "limit": f"{limit:g}"}
        )

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
    def esearch(self, params: dict[str, str], fired: list[str]) -> Response:
        as_json = params.get("retmode", "xml").lower() == "json"
        if params.get("db", "pubmed") != "pubmed":
            return esearch_error(f"Invalid db name specified: {params['db']}", as_json)
        term = params.get("term", "").strip()
        if not term:
            return esearch_error("Empty term and query_key - nothing todo", as_json)
        retstart, retmax = _int(params, "retstart", 0), _int(params, "retmax", 20)
        if retstart > ESEARCH_CAP - 1:
            return esearch_error(RETSTART_ERROR, as_json)
        query = compile_term(term)
        ids = self.corpus.search_ids(query, params.get("datetype"), params.get("mindate"), params.get("maxdate"))
        hidden = {int(pmid) for pmid in arguments(fired, "hide:")}
        if hidden:
            ids = [i for i in ids if i not in hidden]
        result: dict[str, Any] = {"count": str(len(ids))}
        page = ids[retstart : min(retstart + retmax, ESEARCH_CAP)]
        result.update(retmax=str(len(page)), retstart=str(retstart))
        if params.get("usehistory", "").lower() == "y":
            result["webenv"], result["querykey"] = self._remember(params.get("WebEnv"), ids)
        result.update(idlist=[str(i) for i in page], translationset=[], querytranslation=term)
        notes = {prefix: arguments(fired, prefix) for prefix in QUERY_NOTES}
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
        return esearch_json(result) if as_json else esearch_xml(result)

    def efetch(self, params: dict[str, str], fired: list[str]) -> Response:
        if params.get("db", "pubmed") != "pubmed":
            return efetch_error(f"Invalid db name specified: {params['db']}")
        rettype = params.get("rettype", "xml").lower()
        if params.get("retmode", "xml").lower() != "xml" or rettype not in ("xml", "abstract", "full", ""):
            return Response(400, "text/plain", b"the replay server serves retmode=xml only\n")
        if "WebEnv" in params or "query_key" in params:
            stored = self._recall(params.get("WebEnv", ""), params.get("query_key", ""))
            if stored is None or "webenv_expired" in fired:
                return efetch_error(f"Unable to obtain query #{params.get('query_key', '')}")
            retstart = _int(params, "retstart", 0)
            pmids: list[str] = [str(i) for i in stored[retstart : retstart + _int(params, "retmax", 20)]]
        else:
            pmids = [p.strip() for p in params.get("id", "").split(",") if p.strip()]
            if not pmids:
                return efetch_error("Empty id list - nothing todo")
        dropped = set(arguments(fired, "drop:"))
        records = self.corpus.iter_records(p for p in pmids if p not in dropped)
        doctype = next((line.encode() for line in arguments(fired, "doctype:")), self.corpus.doctype)
        hostile = next((HOSTILE[k] for k in fired if k in HOSTILE), None)
        if hostile is None:
            return Response(200, "text/xml; charset=UTF-8", efetch_body(doctype, records))
        body = efetch_body(hostile[0], records).replace(b"<ArticleTitle>", b"<ArticleTitle>" + hostile[1], 1)
        return Response(200, "text/xml; charset=UTF-8", body)


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return max(0, int(params.get(name, default)))
    except ValueError:
        raise QuerySyntaxError(f"{name} must be a number, got {params[name]!r}") from None



class _HTTPServer(ThreadingHTTPServer):
    """Keeps its open connections, so that a stopped server really stops: keep-alive connections are served by
    their own threads, which would otherwise go on answering a client after `stop()` (unlike a server that is
    gone, as the tests of unreachable and interrupted runs need)."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            still_open, self._open = self._open, set()
        for conn in still_open:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # the serving thread sees EOF and ends; the client sees a reset
            except OSError:
                pass  # already closed by its client

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
            for key, values in parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True).items():
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
        if path.startswith(CROSSREF_PREFIX):  # Crossref's API: not NCBI's, so none of its rate limit or faults
            crossref = replay.crossref.answer(path[len(CROSSREF_PREFIX):], params, self.headers.get("User-Agent", ""))
            if crossref is None:  # the "reset" fault
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._send(crossref, replay)
            return
        endpoint = path[len(PREFIX) : -len(".fcgi")] if path.startswith(PREFIX) and path.endswith(".fcgi") else ""
        if endpoint not in ENDPOINTS:
            self._send(Response(404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>\n"), replay)
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
            canned = fault_response(kind, endpoint, as_json)
            if canned is not None:
                self._send(canned, replay)
                return
        try:
            response = replay.esearch(params, fired) if endpoint == "esearch" else replay.efetch(params, fired)
        except QuerySyntaxError as error:
            response = Response(400, "text/plain; charset=UTF-8", f"replay: {error}\n".encode())
        if "truncate" in fired:
            response = Response(response.status, response.content_type, response.body[: len(response.body) // 2])
        self._send(response, replay)

    def _send(self, response: Response, replay: ReplayServer) -> None:
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
