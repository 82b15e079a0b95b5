"""Scripted faults for the replay server: what NCBI does on a bad day (429, 5xx, HTTP-200 error bodies, empty,
truncated or HTML answers, resets, slowness, expired WebEnvs, records that vanish, esearch notes, foreign
DOCTYPEs, XML bombs), switched on per endpoint by tests and the demo, and the canned answers they produce."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from .responses import HTML_ERROR, Response, efetch_error, esearch_error, rate_limited

ENDPOINTS = ("esearch", "efetch")
_DISRUPTIVE = {
    "429", "500", "502", "503", "error200", "empty", "html", "truncate", "reset", "webenv_expired", "bomb", "xxe",
}
QUERY_NOTES = ("phrase_not_found:", "quoted_phrase_not_found:", "phrase_ignored:")
_ADDITIVE = ("drop:", "hide:", "doctype:", *QUERY_NOTES)  # change the normal answer; several may fire at once
_PARAMETRIC = ("slow:", "429:", *_ADDITIVE)
# Hostile efetch bodies: the DOCTYPE declares the entities, the first title uses them.
HOSTILE = {
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


def arguments(fired: Iterable[str], prefix: str) -> list[str]:
    """The arguments of the fired kinds `prefix<argument>` (e.g. the PMIDs of "drop:<pmid>")."""
    return [kind[len(prefix):] for kind in fired if kind.startswith(prefix)]


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
        if self.kind.startswith(("drop:", "doctype:")) or self.kind in HOSTILE:
            return endpoint == "efetch"
        if self.kind.startswith(("hide:", *QUERY_NOTES)):
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


def fault_response(kind: str, endpoint: str, as_json: bool) -> Response | None:
    """The canned answer of a disruptive fault (None: answer normally)."""
    if kind in ("500", "502", "503"):
        reason = {"500": "Internal Server Error", "502": "Bad Gateway", "503": "Service Unavailable"}[kind]
        return Response(int(kind), "text/html", f"<html><body><h1>{kind} {reason}</h1></body></html>\n".encode())
    if kind == "429" or kind.startswith("429:"):
        body = {"error": "API rate limit exceeded", "count": "4", "limit": "3"}
        return rate_limited(body, kind.split(":", 1)[1] if ":" in kind else None)
    if kind == "empty":
        return Response(200, "text/xml; charset=UTF-8", b"")
    if kind == "html":
        return Response(200, "text/html; charset=UTF-8", HTML_ERROR)
    if kind == "error200":
        message = "Search Backend failed: Database is not supported: pubmed"
        return esearch_error(message, as_json) if endpoint == "esearch" else efetch_error(message)
    return None
