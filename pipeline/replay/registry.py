"""A ClinicalTrials.gov API v2 stand-in on 127.0.0.1, beside the E-utilities replay server, for the tests and the
demo: `GET /api/v2/studies` and `GET /api/v2/studies/{nctId}` over study JSON files (as the registry returns them).

- `query.cond` / `query.intr` / `query.term`: each an OR of phrases, matched case-insensitively against the
  study's conditions, keywords and condition MeSH terms / its interventions / its whole text (not Essie: enough
  for litwatch's searches);
- `filter.advanced=AREA[LastUpdatePostDate]RANGE[from,MAX]`; `pageSize` (≤ 1000) and `pageToken` paging, the
  last page without `nextPageToken`; `empty_page_after` puts an empty page before the end (the API may);
  a page token used with other parameters than the first page's is refused (HTTP 400), as the API says;
- an NCT id alias answers 301 to the surviving study; an unknown id answers 404 (text/plain, as the API);
- the replay server's fault switches (`faults.inject("studies"|"study"|"any", kind)`): 429, 429:<s>, 500, 502,
  503, reset, slow:<s>, html, truncate, empty.
"""

from __future__ import annotations

import collections
import json
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Faults, _Rule
from .server import _HTTPServer

PREFIX = "/api/v2/"
_KINDS = {"429", "500", "502", "503", "reset", "html", "truncate", "empty"}
_RANGE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}|MIN),\s*(\d{4}-\d{2}-\d{2}|MAX)\]")


class RegistryFaults(Faults):
    """The replay server's fault rules, on the registry's endpoints: "studies" (search), "study" (one id)."""

    def inject(self, endpoint: str, kind: str, times: int | None = 1, after: int = 0) -> None:
        if endpoint not in ("any", "studies", "study"):
            raise ValueError(f"unknown endpoint {endpoint!r}: use studies, study or any")
        if kind not in _KINDS and not kind.startswith(("slow:", "429:")):
            raise ValueError(f"unknown registry fault kind {kind!r}")
        if ":" in kind:
            float(kind.split(":", 1)[1])
        with self._lock:
            self._rules.append(_Rule(endpoint, kind, times, after))


@dataclass
class RegistryStats:
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    params_log: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class RegistryReplayServer:
    """`with RegistryReplayServer(folder) as server: ... server.base_url ...` (…/api/v2/)."""

    def __init__(self, folder: Path | None = None, *, port: int = 0, empty_page_after: int | None = None) -> None:
        self.studies: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.empty_page_after = empty_page_after  # 1-based page number followed by an empty page
        self.faults = RegistryFaults()
        self.stats = RegistryStats()
        self.port = port
        self._lock = threading.Lock()
        self._pages: dict[str, tuple[tuple[tuple[str, str], ...], int, bool]] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if folder is not None:
            self.load(sorted(Path(folder).glob("*.json")))

    # ---- data -------------------------------------------------------------------------------------------
    def load(self, files: Iterable[Path]) -> None:
        for path in files:
            self.put(json.loads(path.read_text(encoding="utf-8")))

    def put(self, study: dict[str, Any]) -> None:
        with self._lock:
            self.studies[study["protocolSection"]["identificationModule"]["nctId"]] = study

    def remove(self, nct_id: str) -> None:
        with self._lock:
            self.studies.pop(nct_id, None)

    def alias(self, old: str, new: str) -> None:
        with self._lock:
            self.aliases[old] = new

    # ---- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> RegistryReplayServer:
        httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.registry = self  # type: ignore[attr-defined]
        self._httpd, self.port = httpd, httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RegistryReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    # ---- answers ----------------------------------------------------------------------------------------
    def search(self, params: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        size = min(int(params.get("pageSize", "10")), 1000)
        first = tuple(sorted((k, v) for k, v in params.items() if k != "pageToken"))
        offset, page = 0, 1
        token = params.get("pageToken")
        if token:
            with self._lock:
                known = self._pages.get(token)
            if known is None or known[0] != first:
                return 400, "pageToken does not match the first page's parameters\n"
            offset, page = known[1], known[2]
        hits = [s for _, s in sorted(self.studies.items()) if _matches(s, params)]
        empty = self.empty_page_after is not None and page == self.empty_page_after + 1 and offset < len(hits)
        chunk = [] if empty else hits[offset:offset + size]
        answer: dict[str, Any] = {"studies": chunk}
        if page == 1:
            answer["totalCount"] = len(hits)
        nxt = offset if empty else offset + size
        if nxt < len(hits):
            token = f"tok{page + 1}x{nxt}"
            with self._lock:
                self._pages[token] = (first, nxt, page + 1)
            answer["nextPageToken"] = token
        return 200, answer

    def study(self, nct_id: str) -> tuple[int, dict[str, Any] | str, str | None]:
        with self._lock:
            if nct_id in self.aliases:
                return 301, "", f"{PREFIX}studies/{self.aliases[nct_id]}"
            study = self.studies.get(nct_id)
        if study is None:
            return 404, f"Study {nct_id} not found\n", None
        return 200, study, None


def _phrases(value: str) -> list[str]:
    return [p.strip().strip('"').lower() for p in re.split(r"\s+OR\s+", value) if p.strip()]


def _matches(study: dict[str, Any], params: dict[str, str]) -> bool:
    protocol = study.get("protocolSection", {})
    cond_text = json.dumps([protocol.get("conditionsModule", {}),
                            study.get("derivedSection", {}).get("conditionBrowseModule", {})]).lower()
    intr_text = json.dumps(protocol.get("armsInterventionsModule", {})).lower()
    for key, text in (("query.cond", cond_text), ("query.intr", intr_text),
                      ("query.term", json.dumps(study).lower())):
        if key in params and not any(p in text for p in _phrases(params[key])):
            return False
    window = _RANGE.search(params.get("filter.advanced", ""))
    if window:
        updated = protocol.get("statusModule", {}).get("lastUpdatePostDateStruct", {}).get("date", "")
        if window[1] != "MIN" and updated < window[1]:
            return False
        if window[2] != "MAX" and updated > window[2]:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "litwatch-registry-replay"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        registry: RegistryReplayServer = self.server.registry  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else ""
        endpoint = "studies" if path == "studies" else "study" if path.startswith("studies/") else ""
        if not endpoint:
            self._send(404, "text/plain", b"Not found\n")
            return
        with registry._lock:
            registry.stats.requests[endpoint] += 1
            registry.stats.params_log.append({"path": path, **params})
        for kind in registry.faults.take(endpoint):
            if self._fault(kind):
                return
        if endpoint == "studies":
            status, body = registry.search(params)
            location = None
        else:
            status, body, location = registry.study(path.split("/", 1)[1])
        if isinstance(body, dict):
            self._send(status, "application/json", json.dumps(body).encode())
        else:
            self._send(status, "text/plain", body.encode(), location)

    def _fault(self, kind: str) -> bool:
        if kind == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if kind.startswith("slow:"):
            time.sleep(float(kind.split(":", 1)[1]))
            return False
        if kind == "429" or kind.startswith("429:"):
            retry = kind.split(":", 1)[1] if ":" in kind else None
            self._send(429, "text/plain", b"Too Many Requests\n", retry_after=retry)
        elif kind in ("500", "502", "503"):
            self._send(int(kind), "text/html", f"<html><body><h1>{kind}</h1></body></html>\n".encode())
        elif kind == "html":
            self._send(200, "text/html", b"<!DOCTYPE html><html><body>Maintenance</body></html>\n")
        elif kind == "truncate":
            self._send(200, "application/json", b'{"studies": [{"protocolSection": {"identif')
        elif kind == "empty":
            self._send(200, "application/json", b"")
        return True

    def _send(self, status: int, content_type: str, body: bytes, location: str | None = None,
              retry_after: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(body)
