"""ClinicalTrials.gov API v2 client on a `requests.Session`, with E-utilities' discipline (see `ncbi.client`):
timeouts on every request; jittered exponential backoff (honouring `Retry-After`) on 429, 5xx, connection errors
and read timeouts; other 4xx fail at once; a connection refused or an unknown host before the registry has
answered once fails at once (a wrong base_url is not worth minutes of retries); one process-wide rate limiter
(the registry publishes no limit: at most 1 request/s by default).

Paging: `GET studies` with `pageSize` ≤ 1000 and `pageToken` until an answer carries no `nextPageToken`. A page
may hold no studies before the end, and every page repeats the first page's parameters (the OpenAPI text says
both). `GET studies/{nctId}`: 404 is "not in the registry" (None); a 301 for a merged NCT id is followed and the
alias recorded on the answer.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import LitwatchError, request_failure, short
from ..ncbi.bodies import parse_retry_after
from ..ncbi.client import unreachable_reason
from ..ncbi.ratelimit import RateLimiter, shared_rate_limiter

log = logging.getLogger(__name__)

REGISTRY_BASE_URL = "https://clinicaltrials.gov/api/v2/"
MAX_PAGE_SIZE = 1000  # the API refuses more


class RegistryError(LitwatchError):
    """Talking to ClinicalTrials.gov failed."""


class RegistryTransientError(RegistryError):
    """Worth retrying: 429, 5xx, connection errors, timeouts, a body that is not the JSON promised."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RegistryRequestError(RegistryError):
    """Not worth retrying: a 4xx other than 429 (the registry answers 400 as text/plain)."""


class RegistryUnreachable(RegistryError):
    """The registry was never reached (connection refused, host name unknown): the run's registry part stops."""


@dataclass(frozen=True)
class SearchSpec:
    """One registry search: condition / intervention / free-text terms (Essie syntax), any of them."""

    id: str
    cond: str | None = None
    intr: str | None = None
    term: str | None = None

    def params(self) -> dict[str, str]:
        pairs = {"query.cond": self.cond, "query.intr": self.intr, "query.term": self.term}
        return {k: v for k, v in pairs.items() if v}


@dataclass(frozen=True)
class FetchedStudy:
    """One study as `GET studies/{id}` answered: its JSON, and the id asked for when the registry redirected
    (a merged alias: `requested` differs from the study's own NCT id)."""

    requested: str
    study: dict[str, Any]
    redirected: bool = False

    @property
    def nct_id(self) -> str:
        return str(self.study["protocolSection"]["identificationModule"]["nctId"])


class RegistryClient:
    """`search(spec, updated_since)` yields studies page by page; `get(nct_id)` one study (None: not there)."""

    def __init__(
        self,
        base_url: str = REGISTRY_BASE_URL,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.session = session or requests.Session()
        self.session.headers.setdefault("Accept", "application/json")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter or shared_rate_limiter(1.0, service="registry")
        self.page_size = page_size
        self._sleep = sleep or _default_sleep
        self.requests_made = 0
        self._answered = False

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    # ---- public calls --------------------------------------------------------------------------------------
    def search(self, spec: SearchSpec, updated_since: date | None = None) -> Iterator[dict[str, Any]]:
        """Every study `spec` finds (last updated on or after `updated_since`), across all pages."""
        params = {**spec.params(), "pageSize": str(self.page_size), "format": "json"}
        if updated_since is not None:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{updated_since.isoformat()},MAX]"
        token: str | None = None
        page = 0
        while True:
            page += 1
            sent = {**params, "pageToken": token} if token else params  # every page repeats the first's
            answer = self._request("studies", sent, f"registry search {spec.id} page {page}")
            assert answer is not None  # a search is never "missing"
            data = answer[0]
            yield from data.get("studies") or []  # a page may be empty before the end
            token = data.get("nextPageToken")
            if not token:
                return

    def get(self, nct_id: str) -> FetchedStudy | None:
        answer = self._request(f"studies/{nct_id}", {"format": "json"}, f"registry study {nct_id}",
                               missing_ok=True)
        if answer is None:
            return None
        study, redirected = answer
        if "protocolSection" not in study:
            raise RegistryRequestError(f"registry study {nct_id}: the answer holds no protocolSection")
        return FetchedStudy(nct_id, study, redirected)

    # ---- transport -----------------------------------------------------------------------------------------
    def _request(
        self, path: str, params: dict[str, str], what: str, *, missing_ok: bool = False
    ) -> tuple[dict[str, Any], bool] | None:
        """The JSON answer and whether a redirect was followed (None: 404 and `missing_ok`)."""
        url = f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._attempt(url, params, missing_ok)
            except RegistryTransientError as error:
                cause, retry_after = str(error), error.retry_after
            if attempt == self.max_attempts:
                raise RegistryTransientError(f"{what} failed after {attempt} attempts: {cause}", retry_after)
            delay = self._backoff(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.2f s", what, cause, attempt, self.max_attempts - 1, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(self, url: str, params: dict[str, str], missing_ok: bool) -> tuple[dict[str, Any], bool] | None:
        self.rate_limiter.acquire()
        self.requests_made += 1
        log.debug("GET %s (%s)", url, ", ".join(f"{k}={short(v, 60)}" for k, v in params.items()))
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
            response.content  # noqa: B018 - read the body here, where a broken one is a transient error
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            never_reached = unreachable_reason(exc, urlsplit(url).hostname) if not self._answered else None
            if never_reached is not None:
                raise RegistryUnreachable(f"cannot reach ClinicalTrials.gov at {self.base_url}: {never_reached} "
                                          "— check [registry] base_url or the network") from None
            raise RegistryTransientError(f"{request_failure(exc)} talking to {url}") from None
        except requests.RequestException as exc:
            raise RegistryRequestError(f"request to {url} failed: {exc}") from None
        self._answered = True
        self.requests_made += len(response.history)  # a followed redirect was a request of its own
        status = response.status_code
        if status == 429 or status >= 500:
            raise RegistryTransientError(f"HTTP {status} from {url}",
                                         parse_retry_after(response.headers.get("Retry-After")))
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise RegistryRequestError(f"HTTP {status} from {url}: {short(response.text, 200)}")
        redirected = any(r.status_code in (301, 308) for r in response.history)
        return self._json(response), redirected  # inside the attempt: a cut or HTML body is retried

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            data = json.loads(response.content)
        except ValueError:
            raise RegistryTransientError(f"not JSON from {response.url} (HTTP {response.status_code}): "
                                         f"{short(response.text, 80)}") from None
        if not isinstance(data, dict):
            raise RegistryTransientError(f"unexpected JSON from {response.url}: not an object")
        return data

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter: clients that failed together don't retry together


def _default_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)
