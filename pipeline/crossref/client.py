"""Crossref REST API client: `GET {base_url}works/{doi}` on a `requests.Session`, with E-utilities' discipline.

- Crossref's polite pool: `mailto` (the NCBI contact address) on every request and a User-Agent naming litwatch
  and that address;
- one rate limiter per rate per process (`requests_per_second`), timeouts on every request;
- jittered exponential backoff (honouring `Retry-After`) on 429, 5xx, connection errors, timeouts and 200 bodies
  that are not a work;
- 404 is an answer, not an error: the DOI is unknown to Crossref (`work()` returns None); other 4xx fail at once;
- a refused connection or a host name that does not resolve before Crossref has answered once fails at once
  (`CrossrefUnreachable`): every further DOI would fail the same way.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from importlib import metadata
from urllib.parse import quote, urlsplit

import requests

from ..errors import LitwatchError, request_failure, short
from ..ncbi.bodies import parse_retry_after
from ..ncbi.client import unreachable_reason
from ..ncbi.ratelimit import RateLimiter, shared_rate_limiter
from .works import CrossrefWork, parse_work

log = logging.getLogger(__name__)

CROSSREF_BASE_URL = "https://api.crossref.org/"


class CrossrefError(LitwatchError):
    """Asking Crossref about a DOI failed (a warning of the run: the PubMed check stands without it)."""


class CrossrefTransientError(CrossrefError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CrossrefUnreachable(CrossrefError):
    """Crossref was never reached (refused, or the host name does not resolve): no DOI is worth trying."""


def crossref_rate_limiter(requests_per_second: float) -> RateLimiter:
    """Crossref's own limiter for that rate, shared in the process (never NCBI's: the two budgets are separate)."""
    return shared_rate_limiter(requests_per_second, service="crossref")


def user_agent(mailto: str) -> str:
    try:
        version = metadata.version("litwatch")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"litwatch/{version} (https://github.com/litwatch; mailto:{mailto})"


class CrossrefClient:
    """`work(doi)`: the DOI's Crossref work, or None when Crossref does not know it. `requests_made` counts
    HTTP requests (retries included)."""

    def __init__(
        self,
        base_url: str,
        *,
        mailto: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 30.0),
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.mailto = mailto
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent(mailto)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter or crossref_rate_limiter(5.0)
        self._sleep = sleep
        self._interrupted = threading.Event()
        self._answered = False
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"CrossrefClient({self.base_url!r})"

    def interrupt(self) -> None:
        """No further attempt; a backoff wait ends at once."""
        self._interrupted.set()

    def work(self, doi: str) -> CrossrefWork | None:
        url = f"{self.base_url}works/{quote(doi.strip(), safe='/')}"
        what = f"Crossref works/{doi}"
        params = {"mailto": self.mailto} if self.mailto else {}
        for attempt in range(1, self.max_attempts + 1):
            if self._interrupted.is_set():
                raise CrossrefError(f"{what}: interrupted")
            try:
                return self._attempt(url, params, what)
            except CrossrefTransientError as error:
                cause, retry_after = str(error), error.retry_after
            if attempt == self.max_attempts:
                raise CrossrefTransientError(f"{what} failed after {attempt} attempts: {cause}", retry_after)
            delay = self._backoff(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.2f s", what, cause, attempt, self.max_attempts - 1, delay)
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._interrupted.wait(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _attempt(self, url: str, params: dict[str, str], what: str) -> CrossrefWork | None:
        self.rate_limiter.acquire()
        self.requests_made += 1
        log.debug("GET %s", url)
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
            body = response.content
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            never_reached = unreachable_reason(exc, urlsplit(url).hostname) if not self._answered else None
            if never_reached is not None:
                raise CrossrefUnreachable(
                    f"cannot reach Crossref at {self.base_url}: {never_reached} — check [crossref] base_url or the "
                    "network") from None
            raise CrossrefTransientError(f"{request_failure(exc)} talking to {url}") from None
        except requests.RequestException as exc:
            raise CrossrefError(f"request to {url} failed: {exc}") from None
        self._answered = True
        status = response.status_code
        if status == 404:
            return None  # "Resource not found.": Crossref does not know the DOI
        if status == 429 or status >= 500:
            raise CrossrefTransientError(f"HTTP {status} from {url}",
                                         parse_retry_after(response.headers.get("Retry-After")))
        if status >= 400:
            raise CrossrefError(f"{what}: HTTP {status}: {short(body.decode('utf-8', 'replace'), 200)}")
        try:
            data = json.loads(body)
        except ValueError:
            raise CrossrefTransientError(f"not JSON from {url} (HTTP 200): {short(body.decode('utf-8', 'replace'), 80)}"
                                         ) from None
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict) or data.get("status") != "ok":
            raise CrossrefTransientError(f"not a Crossref work from {url} (HTTP 200)")
        return parse_work(data)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter: clients that failed together don't retry together


__all__ = [
    "CROSSREF_BASE_URL", "CrossrefClient", "CrossrefError", "CrossrefTransientError", "CrossrefUnreachable",
    "crossref_rate_limiter", "user_agent",
]
