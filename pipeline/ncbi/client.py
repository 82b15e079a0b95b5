"""NCBI E-utilities client (esearch/efetch for PubMed) on a `requests.Session`.

What it guarantees, because NCBI and PubMed punish the naive client:
- `tool`, `email` (and `api_key` when set) on every request, all sent by POST (long terms, no key in URLs);
- one rate limiter per rate per process (3/s, 10/s with a key), shared by every client;
- timeouts on every request; jittered exponential backoff (honouring `Retry-After`) on 429, 5xx, connection
  errors, read timeouts and HTTP-200 bodies that are really errors (NCBI answers many failures with status
  200);
- other 4xx fail at once (`EutilsRequestError`); an esearch `errorlist`/`warninglist` that changes the
  meaning of the query raises `QueryError`;
- the API key never appears in an error message or a log line.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from ..errors import EutilsRequestError, EutilsTransientError, QueryError, request_failure, short
from .in_flight import ordered_map
from .ratelimit import RateLimiter, shared_rate_limiter

__all__ = [
    "DEFAULT_BASE_URL",
    "ESEARCH_CAP",
    "DateWindow",
    "EutilsClient",
    "FetchedBatch",
    "RateLimiter",
    "SearchResult",
    "shared_rate_limiter",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
ESEARCH_CAP = 9999  # PubMed's esearch returns at most this many ids, whatever retmax says
# Slices are sized to 90 % of the cap: room for an uneven flow of records without cutting a slice again.
_SLICE_FILL = 0.9
_HISTORY_LOST = ("unable to obtain query", "cannot retrieve query", "webenv")


@dataclass(frozen=True)
class DateWindow:
    """An inclusive range of PubMed Create dates ([CRDT]; EDAT is reset for late-added records)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"date window starts after it ends: {self.start} > {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def crdt_clause(self) -> str:
        return f'("{self.start:%Y/%m/%d}"[CRDT] : "{self.end:%Y/%m/%d}"[CRDT])'

    def parts(self, k: int) -> list[DateWindow]:
        """`k` contiguous ranges of (nearly) equal days, in order; at least 2 and at most one per day."""
        k = max(2, min(k, self.days))
        size, extra = divmod(self.days, k)
        pieces, start = [], self.start
        for i in range(k):
            end = start + timedelta(days=size + (i < extra) - 1)
            pieces.append(DateWindow(start, end))
            start = end + timedelta(days=1)
        return pieces

    def halves(self) -> tuple[DateWindow, DateWindow]:
        if self.start == self.end:
            raise ValueError(f"the one-day window {self.start} cannot be split")
        mid = self.start + timedelta(days=(self.days - 1) // 2)
        return DateWindow(self.start, mid), DateWindow(mid + timedelta(days=1), self.end)

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class SearchResult:
    term: str
    full_term: str
    window: DateWindow | None
    count: int
    webenv: str | None
    query_key: str | None
    ids: tuple[str, ...]


@dataclass(frozen=True)
class FetchedBatch:
    index: int  # 1-based, as the error messages count
    retstart: int
    ids: tuple[str, ...]  # the ids asked for; deleted PMIDs are absent from `body`
    body: bytes


class _BadBody(Exception):
    """An HTTP-200 body that is really a failure (retried like a 5xx)."""


class _HistoryLost(Exception):
    """efetch says the WebEnv/query_key is unknown or expired."""


class _SliceHistory:
    """One slice's standing with the history server, shared by its batches (several may be in flight)."""

    def __init__(self, result: SearchResult) -> None:
        self.result = result
        self.usable = bool(result.webenv and result.query_key)  # a bool store is atomic: no lock needed


@dataclass(frozen=True)
class _Job:
    """One planned efetch: batch `index` of the window; from `history` (at `pos` in its slice) while usable."""

    index: int
    retstart: int
    ids: tuple[str, ...]
    history: _SliceHistory | None = None
    pos: int = 0


def _plan_slices(searches: Iterable[SearchResult], batch_size: int) -> Iterator[_Job]:
    """The batches of `EutilsClient.fetch_slices`, planned lazily (the next slice is pulled only when its
    first batch is needed): each slice's whole batches from the history server, the ids left at its end by id
    list with the next slice's first ids, the window's last ids from the history server when they are all of
    the last slice."""
    index, offset = 0, 0  # batches so far; ids of the window before the current slice
    carry: tuple[str, ...] = ()  # ids left at the end of earlier slices, not fetched yet
    slices = iter(searches)
    current = next(slices, None)
    while current is not None:
        ids, pos, history = current.ids, 0, _SliceHistory(current)
        if carry:
            pos = min(len(ids), batch_size - len(carry))
            carry += ids[:pos]
            if len(carry) == batch_size:
                index += 1
                yield _Job(index, offset + pos - len(carry), carry)
                carry = ()
        while len(ids) - pos >= batch_size:
            index += 1
            yield _Job(index, offset + pos, ids[pos : pos + batch_size], history, pos)
            pos += batch_size
        following = next(slices, None)
        rest = ids[pos:]
        if following is None and rest and not carry:  # the window's last ids, all of this slice: history
            index += 1
            yield _Job(index, offset + pos, rest, history, pos)
        else:
            carry += rest
        offset += len(ids)
        current = following
    if carry:
        index += 1
        yield _Job(index, offset - len(carry), carry)


class _ThreadSessions:
    """One requests.Session per worker thread (with the client session's headers), all closed at the end."""

    def __init__(self, template: requests.Session) -> None:
        self._headers = dict(template.headers)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self._headers)
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._all = self._all, []
        for session in sessions:
            session.close()


def full_term(term: str, window: DateWindow | None) -> str:
    """The term as sent: the topic in parentheses (PubMed evaluates left to right), ANDed with the window."""
    return f"({term}) AND {window.crdt_clause()}" if window else term


class EutilsClient:
    """PubMed esearch/efetch. `max_retries` is the number of attempts per request (the first one included);
    `max_in_flight` is how many efetch batches may be in flight at once (esearch is always one at a time)."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str,
        tool: str,
        api_key: str | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_in_flight: int = 1,
    ) -> None:
        if not email or not tool:
            raise ValueError("NCBI requires both 'tool' and 'email' on every request")
        if max_retries < 1:
            raise ValueError(f"max_retries must be at least 1, got {max_retries}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.email = email
        self.tool = tool
        self._api_key = api_key or None
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter or shared_rate_limiter(10.0 if self._api_key else 3.0)
        self._sleep = sleep  # backoff waits of the sequential path; worker threads wait on their cancel event
        self.max_in_flight = max_in_flight  # efetch requests at once (all within the rate limiter)
        self._count_lock = threading.Lock()
        self.requests_made = 0

    def __repr__(self) -> str:  # never show the key
        key = "set" if self._api_key else "none"
        return f"EutilsClient({self.base_url!r}, tool={self.tool!r}, api_key={key})"

    # ---- esearch -------------------------------------------------------------------------------------------
    def count(self, term: str, window: DateWindow | None = None) -> int:
        sent = full_term(term, window)
        # retmax=0 rather than rettype=count: the answer keeps errorlist/warninglist, checked before any fetch
        data = self._esearch({"term": sent, "retmax": "0"}, f"esearch count for {short(sent)}")
        return int(data["count"])

    def plan_windows(
        self, term: str, window: DateWindow, cap: int = ESEARCH_CAP
    ) -> list[tuple[DateWindow, int]]:
        """Slices of `window`, in date order, each holding fewer than `cap` records, with their counts (a dry
        run: counts only). Requests: one count, plus one per slice but the last when the window is split."""
        n = self.count(term, window)
        if n < cap:
            return [(window, n)]
        return [(piece, count) for piece, count, _ in self._tile(term, window, n, cap, self._count_probe(term),
                                                                  probe_last=False)]

    def search_windows(
        self, term: str, window: DateWindow, cap: int = ESEARCH_CAP
    ) -> tuple[int, Iterator[SearchResult]]:
        """(total, searches): one count sizes the window, then one esearch per slice, lazily in date order
        (each slice's search, made just before its ids are fetched, is also its count; a slice never costs a
        count and a search). Over the cap the window is cut into ceil(n / (0.9 cap)) equal date ranges, the
        last range's count derived from the others'; a range still over the cap is cut again."""
        n = self.count(term, window)
        if n == 0:
            return 0, iter(())
        if n < cap:
            return n, iter((self.search(term, window),))

        def searches() -> Iterator[SearchResult]:
            for _piece, _count, result in self._tile(term, window, n, cap, self._search_probe(term),
                                                     probe_last=True):
                assert result is not None  # probe_last: every slice was searched
                yield result

        return n, searches()

    def _tile(
        self,
        term: str,
        window: DateWindow,
        n: int,
        cap: int,
        probe: Callable[[DateWindow], tuple[int, SearchResult | None]],
        *,
        probe_last: bool,
    ) -> Iterator[tuple[DateWindow, int, SearchResult | None]]:
        """Split `window` (known to hold n >= cap records) into slices under the cap. Equal date ranges suit
        PubMed's steady flow; a range over the cap (a burst of records) is cut again with the count its probe
        returned. The last range's count is n minus the others': probed only when `probe_last` (its search is
        needed anyway) or cut at once when that count is over the cap."""
        if window.days == 1:
            raise QueryError(
                f"{n} records were created on {window.start} alone for {short(term)}; "
                f"PubMed returns at most {ESEARCH_CAP} ids per search and one day cannot be split further"
            )
        pieces = window.parts(math.ceil(n / (cap * _SLICE_FILL)))
        log.info("window %s holds %d records (cap %d): splitting into %d", window, n, cap, len(pieces))
        remaining = n
        for number, piece in enumerate(pieces, start=1):
            last = number == len(pieces)
            if last and remaining >= cap:
                yield from self._tile(term, piece, remaining, cap, probe, probe_last=probe_last)
                continue
            if last and not probe_last:
                yield piece, max(remaining, 0), None
                continue
            count, result = probe(piece)
            remaining -= count
            if count >= cap:
                yield from self._tile(term, piece, count, cap, probe, probe_last=probe_last)
            else:
                yield piece, count, result

    def _count_probe(self, term: str) -> Callable[[DateWindow], tuple[int, SearchResult | None]]:
        return lambda piece: (self.count(term, piece), None)

    def _search_probe(self, term: str) -> Callable[[DateWindow], tuple[int, SearchResult | None]]:
        def probe(piece: DateWindow) -> tuple[int, SearchResult | None]:
            result = self._search(term, piece)
            return result.count, result

        return probe

    def search(self, term: str, window: DateWindow | None = None) -> SearchResult:
        """esearch with the history server; every id (count must be under the cap: use search_windows)."""
        result = self._search(term, window)
        if result.count > len(result.ids):
            raise QueryError(
                f"esearch for {short(result.full_term)}: {result.count} records match but PubMed returns at "
                f"most {ESEARCH_CAP} ids; split the window (plan_windows) so each slice is under the cap"
            )
        return result

    def _search(self, term: str, window: DateWindow | None) -> SearchResult:
        """esearch with the history server; over the cap, the ids are the first ESEARCH_CAP only."""
        sent = full_term(term, window)
        params = {"term": sent, "usehistory": "y", "retmax": str(ESEARCH_CAP)}
        data = self._esearch(params, f"esearch for {short(sent)}")
        ids = tuple(str(i) for i in data.get("idlist", []))
        return SearchResult(term, sent, window, int(data["count"]), data.get("webenv"), data.get("querykey"), ids)

    def pmids_for_doi(self, doi: str) -> list[str]:
        sent = f'"{doi}"[doi]'
        data = self._esearch({"term": sent, "retmax": "20"}, f"esearch for {sent}")
        return [str(i) for i in data.get("idlist", [])]

    def _esearch(self, params: dict[str, str], what: str) -> dict[str, Any]:
        body = self._request("esearch", {**params, "retmode": "json"}, what, _check_esearch)
        data = json.loads(body)["esearchresult"]
        _raise_query_problems(data, params.get("term", ""))
        return data

    # ---- efetch --------------------------------------------------------------------------------------------
    def fetch_batches(self, result: SearchResult, batch_size: int = 500) -> Iterator[FetchedBatch]:
        """efetch every id of `result` in batches by POST from the history server; falls back to id lists
        for the rest of the result if the history server has forgotten the WebEnv."""
        return self.fetch_slices((result,), batch_size)

    def fetch_slices(self, searches: Iterable[SearchResult], batch_size: int = 500) -> Iterator[FetchedBatch]:
        """efetch every id of the consecutive slices of one window, `batch_size` ids per request across slice
        boundaries: each slice's whole batches come from the history server, and the ids left at its end go
        by id list together with the next slice's first ids, so a window cut into k slices costs no more
        efetch requests than one search of it would (ceil(total / batch_size)). Batches are numbered, and
        `retstart` counted, across the window; one slice is fetched exactly as `fetch_batches` did.

        With `max_in_flight` > 1 up to that many batches are fetched at once (see `_run_jobs`); they are
        yielded in index order all the same. `searches` is iterated in the caller's thread, as batches are
        planned (a lazy iterator's esearch runs while earlier batches are still in flight)."""
        return self._run_jobs(_plan_slices(searches, batch_size))

    def fetch_ids(self, ids: Sequence[str], batch_size: int = 500) -> Iterator[FetchedBatch]:
        jobs = (
            _Job(index, retstart, tuple(str(i) for i in ids[retstart : retstart + batch_size]))
            for index, retstart in enumerate(range(0, len(ids), batch_size), start=1)
        )
        return self._run_jobs(jobs)

    def _run_jobs(self, jobs: Iterator[_Job]) -> Iterator[FetchedBatch]:
        """Run planned batches: one after the other in this thread at max_in_flight 1 (the requests leave in
        exactly the planned order), else up to max_in_flight at once in worker threads, each with its own
        requests.Session (a Session is not documented thread-safe), every request through the shared rate
        limiter and the same retries. Batch k's error is raised when the consumer reaches batch k."""
        if self.max_in_flight == 1:
            return (self._fetch_job(job) for job in jobs)
        return self._run_pooled(jobs)

    def _run_pooled(self, jobs: Iterator[_Job]) -> Iterator[FetchedBatch]:
        sessions = _ThreadSessions(self.session)

        def work(job: _Job, cancelled: threading.Event) -> FetchedBatch:
            return self._fetch_job(job, sessions.get(), cancelled)

        try:
            yield from ordered_map(jobs, work, self.max_in_flight, name="litwatch-efetch")
        finally:
            sessions.close()

    def _fetch_job(
        self, job: _Job, session: requests.Session | None = None, cancelled: threading.Event | None = None
    ) -> FetchedBatch:
        """One batch: from the history server while its slice's search is still known there, else by id list.

        History lost switches the rest of the slice to id lists through the slice's shared flag; with several
        batches in flight, those already started may each try the history server once more (and fall back)."""
        what = f"efetch batch {job.index} (retstart {job.retstart}, {len(job.ids)} ids)"
        source = job.history
        if source is not None and source.usable:
            params = {
                "WebEnv": str(source.result.webenv),
                "query_key": str(source.result.query_key),
                "retstart": str(job.pos),
                "retmax": str(len(job.ids)),
            }
            try:
                body = self._efetch(params, what, history=True, session=session, cancelled=cancelled)
                return FetchedBatch(job.index, job.retstart, job.ids, body)
            except _HistoryLost as lost:
                source.usable = False
                log.warning("%s: history server lost the search (%s); fetching by id list", what, lost)
        body = self._efetch({"id": ",".join(job.ids)}, what, history=False, session=session, cancelled=cancelled)
        return FetchedBatch(job.index, job.retstart, job.ids, body)

    def _efetch(
        self,
        params: dict[str, str],
        what: str,
        *,
        history: bool,
        session: requests.Session | None = None,
        cancelled: threading.Event | None = None,
    ) -> bytes:
        check = _check_efetch_history if history else _check_efetch
        return self._request("efetch", {**params, "retmode": "xml"}, what, check, session, cancelled)

    # ---- transport -----------------------------------------------------------------------------------------
    def _request(
        self,
        endpoint: str,
        params: dict[str, str],
        what: str,
        check: Callable[[bytes], None],
        session: requests.Session | None = None,
        cancelled: threading.Event | None = None,
    ) -> bytes:
        """One request with retries; `session` and `cancelled` come from a worker thread (see `_run_pooled`):
        a cancelled worker stops before its next attempt and cuts its backoff short."""
        url = f"{self.base_url}{endpoint}.fcgi"
        data = {"db": "pubmed", **params, "tool": self.tool, "email": self.email}
        if self._api_key:
            data["api_key"] = self._api_key
        for attempt in range(1, self.max_retries + 1):
            if cancelled is not None and cancelled.is_set():
                raise EutilsTransientError(f"{what} cancelled: the consumer stopped")
            try:
                return self._attempt(url, data, check, session or self.session)
            except EutilsTransientError as error:
                cause, retry_after = self._redact(str(error)), error.retry_after
            if attempt == self.max_retries:
                raise EutilsTransientError(
                    f"{what} failed after {attempt} attempts: {cause}", retry_after=retry_after
                )
            delay = self._backoff(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.2f s", what, cause, attempt, self.max_retries - 1, delay)
            if cancelled is None:
                self._sleep(delay)
            else:
                cancelled.wait(delay)  # a stop need not wait out a backoff; the loop's check then ends it
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(
        self, url: str, data: dict[str, str], check: Callable[[bytes], None], session: requests.Session
    ) -> bytes:
        """One HTTP exchange: the body, or EutilsTransientError / EutilsRequestError / _HistoryLost."""
        self.rate_limiter.acquire()
        with self._count_lock:  # += is not atomic across the worker threads
            self.requests_made += 1
        log.debug(
            "POST %s (%s)", url, ", ".join(f"{k}={short(v, 60)}" for k, v in data.items() if k != "api_key")
        )
        try:
            response = session.post(url, data=data, timeout=self.timeout)
            body = response.content
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise EutilsTransientError(f"{request_failure(exc)} talking to {url}") from None
        except requests.RequestException as exc:
            raise EutilsRequestError(self._redact(f"request to {url} failed: {exc}")) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise EutilsTransientError(
                f"HTTP {status} from {url}", _retry_after(response.headers.get("Retry-After"))
            )
        if status >= 400:
            snippet = short(body.decode("utf-8", "replace"), 200)
            raise EutilsRequestError(self._redact(f"HTTP {status} from {url}: {snippet}"))
        try:
            check(body)
        except _BadBody as bad:
            raise EutilsTransientError(f"{bad} from {url} (HTTP 200)") from None
        return body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(
            ceiling / 2, ceiling
        )  # jitter: clients that failed together don't retry together

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


# ---- body checks (HTTP 200 is not success) -----------------------------------------------------------------
def _check_common(body: bytes) -> bytes:
    head = body[:2048].lstrip()
    if not head:
        raise _BadBody("empty body")
    lowered = head.lower()
    if lowered.startswith(b"<!doctype html") or b"<html" in lowered:
        raise _BadBody("HTML page instead of data")
    return head


def _check_esearch(body: bytes) -> None:
    _check_common(body)
    try:
        data = json.loads(body)
    except ValueError:
        raise _BadBody(
            f"esearch answer is not JSON ({short(body.decode('utf-8', 'replace'), 80)})"
        ) from None
    if not isinstance(data, dict):
        raise _BadBody("esearch answer is not a JSON object")
    if "error" in data:
        raise _BadBody(f"error {short(str(data['error']), 120)}")
    result = data.get("esearchresult")
    if not isinstance(result, dict):
        raise _BadBody("esearch answer has no esearchresult")
    if "ERROR" in result:
        raise _BadBody(f"ERROR {short(str(result['ERROR']), 160)}")
    if "count" not in result:
        raise _BadBody("esearch answer has no count")


def _xml_error(head: bytes) -> str | None:
    start = head.find(b"<ERROR>")
    if start < 0:
        return None
    end = head.find(b"</ERROR>", start)
    return head[start + 7 : end if end > 0 else None].decode("utf-8", "replace").strip()


def _check_efetch(body: bytes) -> None:
    head = _check_common(body)
    error = _xml_error(head)
    if error is not None:
        raise _BadBody(f"<ERROR>{short(error, 160)}</ERROR>")
    if not head.startswith(b"<"):
        raise _BadBody("efetch answer is not XML")
    tail = body[-64:].rstrip()
    if not (tail.endswith(b"</PubmedArticleSet>") or tail.endswith(b"<PubmedArticleSet/>")):
        raise _BadBody(f"truncated XML ({len(body)} bytes, no closing </PubmedArticleSet>)")


def _check_efetch_history(body: bytes) -> None:
    error = _xml_error(body[:2048])
    if error is not None and any(marker in error.lower() for marker in _HISTORY_LOST):
        raise _HistoryLost(error)
    _check_efetch(body)


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
            raise QueryError(
                f"PubMed {what} {names} ({kind}); the query would silently drop it: {short(term)}"
            )


# ---- small helpers -----------------------------------------------------------------------------------------
def _retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
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
