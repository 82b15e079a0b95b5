"""Checking what NCBI answered: HTTP 200 is not success.

NCBI answers many failures with status 200: `<ERROR>` bodies, `{"error": ...}`, empty bodies, HTML error pages,
truncated XML. Those raise `BadBody`, which the client retries like a 5xx. An efetch `<ERROR>` saying the
history server forgot the search raises `HistoryLost` (the client falls back to id lists). An esearch
`errorlist`/`warninglist` that changes the meaning of the query raises `QueryError` (never retried).
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

from ..errors import QueryError, short

_HISTORY_LOST = ("unable to obtain query", "cannot retrieve query", "webenv")


class BadBody(Exception):
    """An HTTP-200 body that is really a failure (retried like a 5xx)."""


class HistoryLost(Exception):
    """efetch says the WebEnv/query_key is unknown or expired."""


def _check_common(body: bytes) -> bytes:
    head = body[:2048].lstrip()
    if not head:
        raise BadBody("empty body")
    lowered = head.lower()
    if lowered.startswith(b"<!doctype html") or b"<html" in lowered:
        raise BadBody("HTML page instead of data")
    return head


def check_esearch(body: bytes) -> None:
    _check_common(body)
    try:
        data = json.loads(body)
    except ValueError:
        raise BadBody(f"esearch answer is not JSON ({short(body.decode('utf-8', 'replace'), 80)})") from None
    if not isinstance(data, dict):
        raise BadBody("esearch answer is not a JSON object")
    if "error" in data:
        raise BadBody(f"error {short(str(data['error']), 120)}")
    result = data.get("esearchresult")
    if not isinstance(result, dict):
        raise BadBody("esearch answer has no esearchresult")
    if "ERROR" in result:
        raise BadBody(f"ERROR {short(str(result['ERROR']), 160)}")
    if "count" not in result:
        raise BadBody("esearch answer has no count")


def _xml_error(head: bytes) -> str | None:
    start = head.find(b"<ERROR>")
    if start < 0:
        return None
    end = head.find(b"</ERROR>", start)
    return head[start + 7 : end if end > 0 else None].decode("utf-8", "replace").strip()


def check_efetch(body: bytes) -> None:
    head = _check_common(body)
    error = _xml_error(head)
    if error is not None:
        raise BadBody(f"<ERROR>{short(error, 160)}</ERROR>")
    if not head.startswith(b"<"):
        raise BadBody("efetch answer is not XML")
    tail = body[-64:].rstrip()
    if not (tail.endswith(b"</PubmedArticleSet>") or tail.endswith(b"<PubmedArticleSet/>")):
        raise BadBody(f"truncated XML ({len(body)} bytes, no closing </PubmedArticleSet>)")


def check_efetch_history(body: bytes) -> None:
    """`check_efetch`, and `HistoryLost` when the `<ERROR>` says the WebEnv/query_key is gone."""
    error = _xml_error(body[:2048])
    if error is not None and any(marker in error.lower() for marker in _HISTORY_LOST):
        raise HistoryLost(error)
    check_efetch(body)


def esearch_result(body: bytes, term: str) -> dict[str, Any]:
    """The `esearchresult` of a body `check_esearch` passed, after refusing queries PubMed changed."""
    data: dict[str, Any] = json.loads(body)["esearchresult"]
    _raise_query_problems(data, term)
    return data


def _raise_query_problems(result: dict[str, Any], term: str) -> None:
    """PubMed quietly drops what it cannot find and searches the rest: that is never what the user meant."""
    errors = result.get("errorlist") or {}
    warnings = result.get("warninglist") or {}
    problems = [
        ("did not find the phrase", "PhraseNotFound", errors.get("phrasesnotfound")),
        ("does not know the field", "FieldNotFound", errors.get("fieldsnotfound")),
        ("did not find the quoted phrase", "QuotedPhraseNotFound", warnings.get("quotedphrasesnotfound")),
        ("ignored the phrase", "PhraseIgnored", warnings.get("phrasesignored")),
    ]
    for what, kind, items in problems:
        if items:
            names = ", ".join(f"'{item}'" for item in items)
            raise QueryError(f"PubMed {what} {names} ({kind}); the query would silently drop it: {short(term)}")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header, which is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
