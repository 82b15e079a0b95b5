"""Overlap network and CPU: fetch batch k+1 while batch k is parsed and stored.

NCBI's rate limit is the pipeline's physical limit; parsing and storing must hide behind it. A single background
thread pulls from the (blocking, network-bound) iterator into a queue of `depth` items, so at most `depth` bodies
wait in memory. Errors raised by the iterator are re-raised in the consumer at the point they would have occurred;
closing the generator early (stop request, storage error) stops the producer and closes the source. An interrupt
(Ctrl-C) reaching the consumer while it waits for the next item first calls `on_interrupt` (the client's
`interrupt`), so the producer's requests stop at once instead of retrying while the consumer waits to join it.

Bodies held at once, with a source that has k requests in flight (`EutilsClient(max_in_flight=k)`): k in the
source, one in the producer's hand waiting for a slot, `depth` in the queue and one with the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(
    source: Iterator[T], depth: int = 1, *, on_interrupt: Callable[[], None] | None = None
) -> Iterator[T]:
    """Yield what `source` yields, produced up to `depth` items ahead in a background thread."""
    slots: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
    closed = threading.Event()

    def put(item: object) -> bool:
        while not closed.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failure(exc))
        finally:
            # a source with threads of its own (efetch requests in flight: EutilsClient._run_pooled) stops them
            # now, in this thread, rather than whenever the suspended generator is collected
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="litwatch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    except KeyboardInterrupt:
        if on_interrupt is not None:
            on_interrupt()  # before the join below: the producer must not retry while we wait for it
        raise
    finally:
        closed.set()
        worker.join(timeout=30)
