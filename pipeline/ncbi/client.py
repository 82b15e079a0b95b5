"""NCBI E-utilities client (esearch/efetch for PubMed) on a `requests.Session`: the transport and the public calls.

What it guarantees, because NCBI and PubMed punish the naive client:
- `tool`, `email` (and `api_key` when set) on every request, all sent by POST (long terms, no key in URLs);
- one rate limiter per rate per process (3/s, 10/s with a key), shared by every client;
- timeouts on every request; jittered exponential backoff (honouring `Retry-After`) on 429, 5xx, connection
  errors, read timeouts and HTTP-200 bodies that are really errors (NCBI answers many failures with status
  200; see `bodies`);
- other 4xx fail at once (`EutilsRequestError`); an esearch `errorlist`/`warninglist` that changes the
  meaning of the query raises `QueryError`;
- a connection refused or a host name that does not resolve before NCBI has answered once fails at once
  (`EutilsUnreachable`: a wrong base_url or no network is not worth minutes of retries); once NCBI has
  answered, the same errors are transient like any other;
- `interrupt()` (Ctrl-C) stops every request of the client, in every thread, before its next attempt: no retry
  follows an interrupt;
- the API key never appears in an error message or a log line.

Window tiling lives in `windows`, batch planning in `batches`; this module ties them to HTTP.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import (
    EutilsInterrupted,
    EutilsRequestError,
    EutilsTransientError,
    EutilsUnreachable,
    QueryError,
    request_failure,
    short,
)
from .batches import FetchedBatch, Job, plan_ids, plan_slices
from .bodies import (
    BadBody,
    HistoryLost,
    check_efetch,
    check_efetch_history,
    check_esearch,
    esearch_result,
    parse_retry_after,
)
from .in_flight import ordered_map
from .ratelimit import RateLimiter, shared_rate_limiter
from .windows import ESEARCH_CAP, DateWindow, SearchResult, full_term, tile

log = logging.getLogger(__name__)

NCBI_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"


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


def unreachable_reason(exc: BaseException, host: str | None = None) -> str | None:
    """"connection refused" / "host name … does not resolve" when `exc` (a requests error) says the server was
    never reached at all; None for anything else (timeouts, resets, broken bodies). Walks the exception chain:
    requests wraps urllib3's MaxRetryError, which wraps NewConnectionError, which wraps the socket error."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return f"host name {host} does not resolve" if host else "the host name does not resolve"
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        stack.extend(x for x in linked if isinstance(x, BaseException))
    return None


class EutilsClient:
    """PubMed esearch/efetch. `max_attempts` is the number of attempts per request (the first one included);
    `max_in_flight` is how many efetch batches may be in flight at once (esearch is always one at a time).

    `sleep` replaces the backoff wait (tests record the delays); by default a wait ends early on `interrupt()`.
    Public calls take an optional `query_id`: their log lines and errors then name the saved search
    (`query=exosomes`) instead of quoting its term."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str,
        tool: str,
        api_key: str | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        max_in_flight: int = 1,
    ) -> None:
        if not email or not tool:
            raise ValueError("NCBI requires both 'tool' and 'email' on every request")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.email = email
        self.tool = tool
        self._api_key = api_key or None
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter or shared_rate_limiter(10.0 if self._api_key else 3.0)
        self._sleep = sleep  # backoff waits of the sequential path; worker threads wait on their cancel event
        self.max_in_flight = max_in_flight  # efetch requests at once (all within the rate limiter)
        self._count_lock = threading.Lock()
        self.requests_made = 0
        self._answered = False  # has the server answered at all? Before it has, refused/DNS errors are final
        self._interrupted = threading.Event()
        self._pool_events: set[threading.Event] = set()  # the cancel events of pools running now (interrupt())

    def __repr__(self) -> str:  # never show the key
        key = "set" if self._api_key else "none"
        return f"EutilsClient({self.base_url!r}, tool={self.tool!r}, api_key={key})"

    def interrupt(self) -> None:
        """The process is being interrupted (Ctrl-C): from now on no request of this client makes another attempt,
        in any thread, and backoff waits end at once. Final: an interrupted client makes no more requests."""
        self._interrupted.set()
        with self._count_lock:
            events = list(self._pool_events)
        for event in events:
            event.set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    # ---- esearch -------------------------------------------------------------------------------------------
    def count(self, term: str, window: DateWindow | None = None, *, query_id: str | None = None) -> int:
        sent = full_term(term, window)
        # retmax=0 rather than rettype=count: the answer keeps errorlist/warninglist, checked before any fetch
        data = self._esearch({"term": sent, "retmax": "0"}, _what("esearch count", sent, window, query_id), query_id)
        return int(data["count"])

    def plan_windows(
        self, term: str, window: DateWindow, cap: int = ESEARCH_CAP, *, query_id: str | None = None
    ) -> list[tuple[DateWindow, int]]:
        """Slices of `window`, in date order, each holding fewer than `cap` records, with their counts (a dry
        run: counts only). Requests: one count, plus one per slice but the last when the window is split."""
        n = self.count(term, window, query_id=query_id)
        if n < cap:
            return [(window, n)]

        def count_probe(piece: DateWindow) -> tuple[int, SearchResult | None]:
            return self.count(term, piece, query_id=query_id), None

        return [(piece, count) for piece, count, _ in tile(term, window, n, cap, count_probe, probe_last=False)]

    def search_windows(
        self, term: str, window: DateWindow, cap: int = ESEARCH_CAP, *, query_id: str | None = None
    ) -> tuple[int, Iterator[SearchResult]]:
        """(total, searches): one count sizes the window, then one esearch per slice, lazily in date order
        (each slice's search, made just before its ids are fetched, is also its count; a slice never costs a
        count and a search). Over the cap the window is cut into ceil(n / (0.9 cap)) equal date ranges, the
        last range's count derived from the others'; a range still over the cap is cut again."""
        n = self.count(term, window, query_id=query_id)
        if n == 0:
            return 0, iter(())
        if n < cap:
            return n, iter((self.search(term, window, query_id=query_id),))

        def search_probe(piece: DateWindow) -> tuple[int, SearchResult | None]:
            result = self._search(term, piece, query_id)
            return result.count, result

        def searches() -> Iterator[SearchResult]:
            for _piece, _count, result in tile(term, window, n, cap, search_probe, probe_last=True):
                assert result is not None  # probe_last: every slice was searched
                yield result

        return n, searches()

    def search(self, term: str, window: DateWindow | None = None, *, query_id: str | None = None) -> SearchResult:
        """esearch with the history server; every id (count must be under the cap: use search_windows)."""
        result = self._search(term, window, query_id)
        if result.count > len(result.ids):
            raise QueryError(
                f"esearch for {short(result.full_term)}: {result.count} records match but PubMed returns at "
                f"most {ESEARCH_CAP} ids; split the window (plan_windows) so each slice is under the cap"
            )
        return result

    def _search(self, term: str, window: DateWindow | None, query_id: str | None = None) -> SearchResult:
        """esearch with the history server; over the cap, the ids are the first ESEARCH_CAP only."""
        sent = full_term(term, window)
        params = {"term": sent, "usehistory": "y", "retmax": str(ESEARCH_CAP)}
        data = self._esearch(params, _what("esearch", sent, window, query_id), query_id)
        ids = tuple(str(i) for i in data.get("idlist", []))
        return SearchResult(term, sent, window, int(data["count"]), data.get("webenv"), data.get("querykey"), ids)

    def search_ids(self, term: str, *, ids_may_be_missing: bool = False) -> list[str]:
        """Every PMID `term` matches over all of PubMed (no date window, no history server): for small answers,
        such as a saved search ANDed with a list of known papers. More than ESEARCH_CAP matches is a QueryError.

        `ids_may_be_missing`: the term is (or ends in) an OR of `[pmid]`/`[doi]` clauses, some of which may name
        no record; PubMed reports those as phrases not found and searches the rest, which for an OR of identifiers
        is exactly right (a missing id matches nothing), so that report is not an error here."""
        what = f"esearch for {short(term)}"
        params = {"term": term, "retmax": str(ESEARCH_CAP), "retmode": "json"}
        body = self._request("esearch", params, what, check_esearch)
        if ids_may_be_missing:
            data: dict[str, Any] = json.loads(body)["esearchresult"]
            unknown = (data.get("errorlist") or {}).get("fieldsnotfound")
            if unknown:  # a field tag PubMed does not know changes the meaning: still refused
                raise QueryError(f"PubMed does not know the field {', '.join(unknown)}: {short(term)}")
        else:
            data = esearch_result(body, term)
        ids = [str(i) for i in data.get("idlist", [])]
        if int(data.get("count", 0)) > len(ids):
            raise QueryError(f"{what}: {data['count']} records match, more than the {ESEARCH_CAP} ids PubMed "
                             f"returns")
        return ids

    def pmids_for_doi(self, doi: str) -> list[str]:
        sent = f'"{doi}"[doi]'
        data = self._esearch({"term": sent, "retmax": "20"}, f"esearch for {sent}")
        return [str(i) for i in data.get("idlist", [])]

    def _esearch(self, params: dict[str, str], what: str, query_id: str | None = None) -> dict[str, Any]:
        body = self._request("esearch", {**params, "retmode": "json"}, what, check_esearch, query_id=query_id)
        return esearch_result(body, params.get("term", ""))

    # ---- efetch --------------------------------------------------------------------------------------------
    def fetch_batches(
        self, result: SearchResult, batch_size: int = 500, *, query_id: str | None = None
    ) -> Iterator[FetchedBatch]:
        """efetch every id of `result` in batches by POST from the history server; falls back to id lists
        for the rest of the result if the history server has forgotten the WebEnv."""
        return self.fetch_slices((result,), batch_size, query_id=query_id)

    def fetch_slices(
        self, searches: Iterable[SearchResult], batch_size: int = 500, *, query_id: str | None = None
    ) -> Iterator[FetchedBatch]:
        """efetch every id of the consecutive slices of one window, `batch_size` ids per request across slice
        boundaries (planned by `batches.plan_slices`): a window cut into k slices costs no more efetch requests
        than one search of it would (ceil(total / batch_size)). Batches are numbered, and `retstart` counted,
        across the window; one slice is fetched exactly as `fetch_batches` does.

        With `max_in_flight` > 1 up to that many batches are fetched at once (see `_run_jobs`); they are
        yielded in index order all the same. `searches` is iterated in the caller's thread, as batches are
        planned (a lazy iterator's esearch runs while earlier batches are still in flight)."""
        return self._run_jobs(plan_slices(searches, batch_size), query_id)

    def fetch_ids(
        self, ids: Sequence[str], batch_size: int = 500, *, query_id: str | None = None
    ) -> Iterator[FetchedBatch]:
        return self._run_jobs(plan_ids(ids, batch_size), query_id)

    def _run_jobs(self, jobs: Iterator[Job], query_id: str | None = None) -> Iterator[FetchedBatch]:
        """Run planned batches: one after the other in this thread at max_in_flight 1 (the requests leave in
        exactly the planned order), else up to max_in_flight at once in worker threads, each with its own
        requests.Session (a Session is not documented thread-safe), every request through the shared rate
        limiter and the same retries. Batch k's error is raised when the consumer reaches batch k."""
        if self.max_in_flight == 1:
            return (self._fetch_job(job, query_id) for job in jobs)
        return self._run_pooled(jobs, query_id)

    def _run_pooled(self, jobs: Iterator[Job], query_id: str | None) -> Iterator[FetchedBatch]:
        sessions = _ThreadSessions(self.session)
        cancelled = threading.Event()  # set by ordered_map when the consumer stops, or by interrupt()
        with self._count_lock:
            self._pool_events.add(cancelled)
        if self.interrupted:
            cancelled.set()

        def work(job: Job, cancelled: threading.Event) -> FetchedBatch:
            return self._fetch_job(job, query_id, sessions.get(), cancelled)

        try:
            yield from ordered_map(jobs, work, self.max_in_flight, name="litwatch-efetch", cancelled=cancelled)
        finally:
            with self._count_lock:
                self._pool_events.discard(cancelled)
            sessions.close()

    def _fetch_job(
        self, job: Job, query_id: str | None = None, session: requests.Session | None = None,
        cancelled: threading.Event | None = None,
    ) -> FetchedBatch:
        """One batch: from the history server while its slice's search is still known there, else by id list.

        History lost switches the rest of the slice to id lists through the slice's shared flag; with several
        batches in flight, those already started may each try the history server once more (and fall back)."""
        what = job.describe()
        params = job.history_params()
        if params is not None:
            try:
                return job.batch(self._efetch(params, what, query_id, history=True, session=session,
                                              cancelled=cancelled))
            except HistoryLost as lost:
                job.forget_history()
                log.warning("%s%s: history server lost the search (%s); fetching by id list", _tag(query_id), what,
                            lost)
        return job.batch(self._efetch(job.id_params(), what, query_id, history=False, session=session,
                                      cancelled=cancelled))

    def _efetch(
        self,
        params: dict[str, str],
        what: str,
        query_id: str | None,
        *,
        history: bool,
        session: requests.Session | None = None,
        cancelled: threading.Event | None = None,
    ) -> bytes:
        check = check_efetch_history if history else check_efetch
        return self._request("efetch", {**params, "retmode": "xml"}, what, check, session, cancelled, query_id)

    # ---- transport -----------------------------------------------------------------------------------------
    def _request(
        self,
        endpoint: str,
        params: dict[str, str],
        what: str,
        check: Callable[[bytes], None],
        session: requests.Session | None = None,
        cancelled: threading.Event | None = None,
        query_id: str | None = None,
    ) -> bytes:
        """One request, tried up to `max_attempts` times; `session` and `cancelled` come from a worker thread
        (see `_run_pooled`): a cancelled worker stops before its next attempt and cuts its backoff short.
        `query_id` tags the retry warnings (`query=exosomes …`); the errors leave naming it to the caller."""
        url = f"{self.base_url}{endpoint}.fcgi"
        data = {"db": "pubmed", **params, "tool": self.tool, "email": self.email}
        if self._api_key:
            data["api_key"] = self._api_key
        for attempt in range(1, self.max_attempts + 1):
            self._check_interrupted(what)
            if cancelled is not None and cancelled.is_set():
                raise EutilsTransientError(f"{what} cancelled: the consumer stopped")
            try:
                return self._attempt(url, data, check, session or self.session)
            except EutilsTransientError as error:
                cause, retry_after = self._redact(str(error)), error.retry_after
            self._check_interrupted(what)  # the failure may be the interrupt's doing: no warning, no retry
            if attempt == self.max_attempts:
                raise EutilsTransientError(f"{what} failed after {attempt} attempts: {cause}", retry_after=retry_after)
            delay = self._backoff(attempt, retry_after)
            log.warning("%s%s: %s; retry %d/%d in %.2f s", _tag(query_id), what, cause, attempt,
                        self.max_attempts - 1, delay)
            if cancelled is not None:
                cancelled.wait(delay)  # a stop need not wait out a backoff; the loop's check then ends it
            elif self._sleep is not None:
                self._sleep(delay)
            else:
                self._interrupted.wait(delay)  # an interrupt need not wait out a backoff either
        raise AssertionError("unreachable")  # the loop returns or raises

    def _check_interrupted(self, what: str) -> None:
        if self._interrupted.is_set():
            raise EutilsInterrupted(f"{what}: interrupted")

    def _attempt(
        self, url: str, data: dict[str, str], check: Callable[[bytes], None], session: requests.Session
    ) -> bytes:
        """One HTTP exchange: the body, or EutilsTransientError / EutilsRequestError / HistoryLost."""
        self.rate_limiter.acquire()
        with self._count_lock:  # += is not atomic across the worker threads
            self.requests_made += 1
        log.debug("POST %s (%s)", url, ", ".join(f"{k}={short(v, 60)}" for k, v in data.items() if k != "api_key"))
        try:
            response = session.post(url, data=data, timeout=self.timeout)
            body = response.content
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            never_reached = unreachable_reason(exc, urlsplit(url).hostname) if not self._answered else None
            if never_reached is not None:
                raise EutilsUnreachable(
                    f"cannot reach NCBI at {self.base_url}: {never_reached} — check [ncbi] base_url or the network"
                ) from None
            raise EutilsTransientError(f"{request_failure(exc)} talking to {url}") from None
        except requests.RequestException as exc:
            raise EutilsRequestError(self._redact(f"request to {url} failed: {exc}")) from None
        self._answered = True  # a bool store is atomic: the worker threads need no lock for it
        status = response.status_code
        if status == 429 or status >= 500:
            raise EutilsTransientError(
                f"HTTP {status} from {url}", parse_retry_after(response.headers.get("Retry-After"))
            )
        if status >= 400:
            snippet = short(body.decode("utf-8", "replace"), 200)
            raise EutilsRequestError(self._redact(f"HTTP {status} from {url}: {snippet}"))
        try:
            check(body)
        except BadBody as bad:
            raise EutilsTransientError(f"{bad} from {url} (HTTP 200)") from None
        return body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter: clients that failed together don't retry together

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def _what(call: str, sent: str, window: DateWindow | None, query_id: str | None) -> str:
    """How log lines and errors name one esearch: by its window when the caller named the saved search (the
    warnings then carry `query=<id>`; a term is long and its first characters rarely tell searches apart), else by
    the term sent."""
    if query_id is None or window is None:
        return f"{call} for {short(sent)}"
    return f"{call} for {window}"


def _tag(query_id: str | None) -> str:
    """The prefix of a retry warning: which saved search it is about, grep-able as `query=<id>`."""
    return f"query={query_id} " if query_id else ""
