"""Crossref's REST API: the update notices (retractions, corrections, expressions of concern, including the
Retraction Watch database) of the studies the watched articles cite. A source: it fetches and parses, never judges.

Modules: `client` (`CrossrefClient`: `works/{doi}` with retries, the polite pool's identity), `works` (the JSON →
`CrossrefWork`, `CrossrefUpdate`; which entries are about the work itself).
"""

from .client import CROSSREF_BASE_URL, CrossrefClient, CrossrefError, CrossrefUnreachable
from .works import KINDS, CrossrefUpdate, CrossrefWork, canonical_kind, parse_work

__all__ = [
    "CROSSREF_BASE_URL", "KINDS", "CrossrefClient", "CrossrefError", "CrossrefUnreachable", "CrossrefUpdate",
    "CrossrefWork", "canonical_kind", "parse_work",
]
