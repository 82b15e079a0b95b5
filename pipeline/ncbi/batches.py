"""Planning efetch batches: which ids go in which request, from the history server or by id list.

A window's slices are fetched `batch_size` ids per request across slice boundaries: each slice's whole batches
come from the history server (`WebEnv`/`query_key`, `retstart` within the slice), and the ids left at a slice's
end go by id list together with the next slice's first ids. A window cut into k slices thus costs no more efetch
requests than one search of it would. When the history server forgets a slice's search, the rest of that slice
goes by id list (`Job.forget_history`). Planning does no HTTP; the client runs the jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .windows import SearchResult


@dataclass(frozen=True)
class FetchedBatch:
    """One efetch answer, numbered and positioned across the whole window."""

    index: int  # 1-based, as the error messages count
    retstart: int
    ids: tuple[str, ...]  # the ids asked for; deleted PMIDs are absent from `body`
    body: bytes


class SliceHistory:
    """One slice's standing with the history server, shared by its batches (several may be in flight)."""

    def __init__(self, result: SearchResult) -> None:
        self.result = result
        self.usable = bool(result.webenv and result.query_key)  # a bool store is atomic: no lock needed


@dataclass(frozen=True)
class Job:
    """One planned efetch: batch `index` of the window; from `history` (at `pos` in its slice) while usable."""

    index: int
    retstart: int
    ids: tuple[str, ...]
    history: SliceHistory | None = None
    pos: int = 0

    def describe(self) -> str:
        return f"efetch batch {self.index} (retstart {self.retstart}, {len(self.ids)} ids)"

    def history_params(self) -> dict[str, str] | None:
        """The efetch parameters from the history server, or None when this batch must go by id list."""
        source = self.history
        if source is None or not source.usable:
            return None
        return {
            "WebEnv": str(source.result.webenv),
            "query_key": str(source.result.query_key),
            "retstart": str(self.pos),
            "retmax": str(len(self.ids)),
        }

    def id_params(self) -> dict[str, str]:
        return {"id": ",".join(self.ids)}

    def forget_history(self) -> None:
        """The history server lost this slice's search: its remaining batches go by id list."""
        if self.history is not None:
            self.history.usable = False

    def batch(self, body: bytes) -> FetchedBatch:
        return FetchedBatch(self.index, self.retstart, self.ids, body)


def plan_slices(searches: Iterable[SearchResult], batch_size: int) -> Iterator[Job]:
    """The batches of the consecutive slices of one window, planned lazily (the next slice is pulled only when its
    first batch is needed): each slice's whole batches from the history server, the ids left at its end by id
    list with the next slice's first ids, the window's last ids from the history server when they are all of
    the last slice."""
    index, offset = 0, 0  # batches so far; ids of the window before the current slice
    carry: tuple[str, ...] = ()  # ids left at the end of earlier slices, not fetched yet
    slices = iter(searches)
    current = next(slices, None)
    while current is not None:
        ids, pos, history = current.ids, 0, SliceHistory(current)
        if carry:
            pos = min(len(ids), batch_size - len(carry))
            carry += ids[:pos]
            if len(carry) == batch_size:
                index += 1
                yield Job(index, offset + pos - len(carry), carry)
                carry = ()
        while len(ids) - pos >= batch_size:
            index += 1
            yield Job(index, offset + pos, ids[pos : pos + batch_size], history, pos)
            pos += batch_size
        following = next(slices, None)
        rest = ids[pos:]
        if following is None and rest and not carry:  # the window's last ids, all of this slice: history
            index += 1
            yield Job(index, offset + pos, rest, history, pos)
        else:
            carry += rest
        offset += len(ids)
        current = following
    if carry:
        index += 1
        yield Job(index, offset - len(carry), carry)


def plan_ids(ids: Sequence[str], batch_size: int) -> Iterator[Job]:
    """Batches of an explicit id list, all by id list."""
    return (
        Job(index, retstart, tuple(str(i) for i in ids[retstart : retstart + batch_size]))
        for index, retstart in enumerate(range(0, len(ids), batch_size), start=1)
    )
