"""Create-date windows and the arithmetic that cuts one under PubMed's esearch cap.

A saved search runs over a `DateWindow` of Create dates (`[CRDT]`: EDAT is reset for late-added records). PubMed
returns at most `ESEARCH_CAP` ids per search, so a window holding more is tiled into contiguous slices that each
hold fewer. The tiling here does no HTTP itself: the client hands it a probe that counts (or searches) one slice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from ..errors import QueryError, short

log = logging.getLogger(__name__)

ESEARCH_CAP = 9999  # PubMed's esearch returns at most this many ids, whatever retmax says
# Slices are sized to 90 % of the cap: room for an uneven flow of records without cutting a slice again.
_SLICE_FILL = 0.9


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

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class SearchResult:
    """One esearch: the term as written and as sent, its window, the count and ids, and the history handle."""

    term: str
    full_term: str
    window: DateWindow | None
    count: int
    webenv: str | None
    query_key: str | None
    ids: tuple[str, ...]


def full_term(term: str, window: DateWindow | None) -> str:
    """The term as sent: the topic in parentheses (PubMed evaluates left to right), ANDed with the window."""
    return f"({term}) AND {window.crdt_clause()}" if window else term


# A probe asks PubMed about one slice: its count, and its search when the probe searched (else None).
Probe = Callable[[DateWindow], tuple[int, SearchResult | None]]


def tile(
    term: str, window: DateWindow, n: int, cap: int, probe: Probe, *, probe_last: bool
) -> Iterator[tuple[DateWindow, int, SearchResult | None]]:
    """Split `window` (known to hold n >= cap records) into slices under the cap, lazily and in date order.

    Equal date ranges suit PubMed's steady flow: ceil(n / (0.9 cap)) of them. A range over the cap (a burst of
    records) is cut again with the count its probe returned. The last range's count is n minus the others':
    probed only when `probe_last` (its search is needed anyway) or cut at once when that count is over the cap.
    """
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
            yield from tile(term, piece, remaining, cap, probe, probe_last=probe_last)
            continue
        if last and not probe_last:
            yield piece, max(remaining, 0), None
            continue
        count, result = probe(piece)
        remaining -= count
        if count >= cap:
            yield from tile(term, piece, count, cap, probe, probe_last=probe_last)
        else:
            yield piece, count, result
