"""NCBI E-utilities for PubMed: Create-date windows under the esearch cap, efetch batches, the HTTP client with
its retries and HTTP-200 checks, the process-wide rate limit, and requests in flight.

Modules: `windows` (date windows, slicing under the cap), `batches` (efetch planning across slices), `bodies`
(what NCBI answered), `client` (`EutilsClient`: transport and the public calls), `ratelimit`, `in_flight`
(ordered concurrent map), `prefetch` (fetch ahead while the consumer parses and stores).
"""

from .batches import FetchedBatch
from .client import NCBI_BASE_URL, EutilsClient
from .ratelimit import RateLimiter, shared_rate_limiter
from .windows import ESEARCH_CAP, DateWindow, SearchResult, full_term

__all__ = [
    "ESEARCH_CAP",
    "NCBI_BASE_URL",
    "DateWindow",
    "EutilsClient",
    "FetchedBatch",
    "RateLimiter",
    "SearchResult",
    "full_term",
    "shared_rate_limiter",
]
