"""Process-wide request spacing for NCBI E-utilities (3 requests/s without an API key, 10/s with one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Biopython found that spacing by exactly 1/3 s still trips NCBI's counter now and then and spaces by 0.37 s;
# the same ~10 % margin absorbs the jitter between our clock and the server's.
DEFAULT_MARGIN = 0.1


class RateLimiter:
    """Hands out send slots at least `interval` seconds apart, across threads (a lock guards the next slot).

    Each caller reserves the next free slot under the lock and then sleeps outside it, so waiting threads
    queue in order and never hold the lock while sleeping.
    """

    def __init__(
        self,
        requests_per_second: float,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError(f"requests_per_second must be positive, got {requests_per_second}")
        self.requests_per_second = requests_per_second
        self.interval = (1.0 + margin) / requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    def acquire(self) -> float:
        """Block until this caller may send; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter({self.requests_per_second}/s, interval={self.interval:.3f}s)"


_shared: dict[tuple[str, float], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_rate_limiter(requests_per_second: float, service: str = "ncbi") -> RateLimiter:
    """The one limiter of this process for that service and rate: every client of the service built with the same
    rate shares it. Services never share one (NCBI's, the registry's and Crossref's budgets are separate, even at
    the same rate)."""
    with _shared_lock:
        limiter = _shared.get((service, requests_per_second))
        if limiter is None:
            limiter = _shared[(service, requests_per_second)] = RateLimiter(requests_per_second)
        return limiter
