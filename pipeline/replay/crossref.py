"""A Crossref `works/{doi}` endpoint for the replay server, over a folder of Crossref JSON files.

A file is named by its DOI with "/" as "_" (`10.1002_jsp2.70086.json`); names may carry a prefix before `__` (the
third-party fixtures' `<repo>__`) and a `.trimmed` suffix. Every file is indexed by the DOI in its own `message.DOI`
(or, for a bare work object, its `DOI`), so the name only has to be recognisable. An unknown DOI gets Crossref's own
404 (`text/plain`, "Resource not found."). The replay server's fault switches apply (its `Faults`, endpoint "any"):
429 (with Retry-After), 5xx, empty, HTML, truncated bodies, resets and slowness.

Mounted on the replay server under `/crossref/` (`ReplayServer.crossref_url`); `stats` records every request's DOI,
parameters and User-Agent so tests can check the polite-pool identity.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .faults import Faults, fault_response
from .responses import Response

PREFIX = "/crossref/"
NOT_FOUND = Response(404, "text/plain", b"Resource not found.")
_JSON = "application/json;charset=utf-8"


@dataclass
class CrossrefStats:
    requests: int = 0
    dois: list[str] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)


class CrossrefWorks:
    """The works a replay server answers for, by lower-cased DOI, as the bytes of a `works/{doi}` answer."""

    def __init__(self, works: dict[str, bytes] | None = None) -> None:
        self._works = dict(works or {})
        self.faults = Faults()  # inject with endpoint "any": the switches are the replay server's
        self.stats = CrossrefStats()
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> CrossrefWorks:
        works: dict[str, bytes] = {}
        for path in paths:
            data = json.loads(path.read_bytes())
            message = data.get("message") if isinstance(data.get("message"), dict) else data
            works[str(message["DOI"]).lower()] = json.dumps(_envelope(data)).encode()
        return cls(works)

    @classmethod
    def from_dir(cls, folder: Path) -> CrossrefWorks:
        """Every `*.json` work in `folder` (none if the folder does not exist)."""
        return cls.from_files(sorted(folder.glob("*.json")) if folder.is_dir() else ())

    def add(self, path: Path) -> None:
        """One more work, e.g. a test's synthetic record."""
        self._works.update(CrossrefWorks.from_files([path])._works)

    def __len__(self) -> int:
        return len(self._works)

    def answer(self, path: str, params: dict[str, str], user_agent: str) -> Response | None:
        """The answer to `GET /crossref/<path>`; None: the "reset" fault (close the connection, answer nothing)."""
        if not path.startswith("works/"):
            return NOT_FOUND
        doi = unquote(path[len("works/"):]).strip().lower()
        with self._lock:
            self.stats.requests += 1
            self.stats.dois.append(doi)
            self.stats.params.append(dict(params))
            self.stats.user_agents.append(user_agent)
        fired = self.faults.take("works")
        truncate = "truncate" in fired
        for kind in fired:
            if kind == "reset":
                return None
            if kind.startswith("slow:"):
                time.sleep(float(kind.split(":", 1)[1]))
            if kind == "empty":
                return Response(200, _JSON, b"")
            canned = fault_response(kind, "works", as_json=True)
            if canned is not None:
                return canned
        body = self._works.get(doi)
        if body is None:
            return NOT_FOUND
        return Response(200, _JSON, body[: len(body) // 2] if truncate else body)


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    """A bare work object (an item of a list answer) wrapped as `works/{doi}` serves it."""
    if isinstance(data.get("message"), dict):
        return data
    return {"status": "ok", "message-type": "work", "message-version": "1.0.0", "message": data}


__all__ = ["NOT_FOUND", "PREFIX", "CrossrefStats", "CrossrefWorks"]
