"""prefetch: same items in the same order, errors surface where they happened, early close stops the producer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from litwatch.pipeline.errors import RunStepError
from litwatch.pipeline.ncbi.prefetch import prefetch
from litwatch.pipeline.replay import Corpus
from litwatch.pipeline.runner import Runner
from tests.pipeline.ncbi.test_batches import ScriptedEfetch
from tests.test_fault_matrix import BATCH, RATE, REQUEST, assert_complete, db_state, expected_ids, settings_for


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


# ---- the runner consumes the fetch stream in order, whatever order the requests finish in ---------------------
def test_a_failing_batch_2_with_three_in_flight_leaves_exactly_batch_1_stored(
    tmp_path: Path, domain_corpus: Corpus, db_url: str
) -> None:
    """Batch 2 fails (slowly) while batches 3 and 4 are answered at once: the run fails naming batch 2 and only
    batch 1 is stored, as with one request at a time; the next run completes."""
    probe = ScriptedEfetch(domain_corpus, {}).start()
    try:
        settings = settings_for(tmp_path, probe.base_url, db_url)
        expected = expected_ids(domain_corpus, settings)
    finally:
        probe.stop()
    second = expected[BATCH]
    server = ScriptedEfetch(domain_corpus, {second: 0.3}, fail=frozenset({second}), api_key_rate_limit=RATE)
    with server:
        settings = settings_for(tmp_path, server.base_url, db_url, max_in_flight=3)
        with pytest.raises(RunStepError, match=rf"efetch batch 2 \(retstart {BATCH}, {BATCH} ids\) failed after 3 "
                                               r"attempts: HTTP 500"):  # fmt: skip
            Runner(settings).run(REQUEST)
        assert server.stats.max_concurrent >= 2  # batches 3 and 4 really were fetched alongside batch 2
        assert sorted(db_state(db_url).articles) == sorted(expected[:BATCH])
        assert server.stats.rate_violations == 0
        server.fail = frozenset()
        Runner(settings).run(REQUEST)
        assert_complete(db_url, expected)


def test_closing_early_closes_the_source_in_the_producer_thread() -> None:
    """A source with threads of its own (requests in flight) is closed when the consumer stops, not left to GC."""
    closed: list[str] = []

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)

    it = prefetch(source())
    assert next(it) == 0
    it.close()
    assert closed == ["litwatch-prefetch"]
