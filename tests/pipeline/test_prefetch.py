"""prefetch: same items in the same order, errors surface where they happened, early close stops the producer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.prefetch import prefetch


def test_yields_everything_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("efetch batch 3 failed")

    got: list[int] = []
    with pytest.raises(ValueError, match="batch 3"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [1, 2]


def test_works_ahead_by_at_most_depth_items() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10):
            produced.append(i)
            yield i

    it = prefetch(source(), depth=1)
    assert next(it) == 0
    time.sleep(0.3)  # give the producer every chance to run ahead
    # consumer holds 0; queue holds 1; the producer may hold 2 waiting for a slot — never more
    assert len(produced) <= 3
    it.close()


def test_closing_early_stops_the_producer() -> None:
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    it = prefetch(endless())
    assert next(it) == 0
    it.close()
    assert threading.active_count() == before
