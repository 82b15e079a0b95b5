"""ordered_map: job order out whatever order jobs finish in, bounded concurrency, errors at their job, clean close."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from litwatch.pipeline.ncbi.in_flight import ordered_map


class Gauge:
    """Counts jobs running at once (the most seen) and the jobs started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = self.started = 0

    def wrap(self, work: Callable[[int], int]) -> Callable[[int, threading.Event], int]:
        def run(job: int, cancelled: threading.Event) -> int:
            with self._lock:
                self.now += 1
                self.started += 1
                self.most = max(self.most, self.now)
            try:
                return work(job)
            finally:
                with self._lock:
                    self.now -= 1

        return run


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_results_come_out_in_job_order_whatever_order_they_finish_in(workers: int) -> None:
    rng = random.Random(workers)
    delays = [rng.uniform(0, 0.02) for _ in range(40)]
    gauge = Gauge()

    def work(job: int) -> int:
        time.sleep(delays[job])
        return job * job

    assert list(ordered_map(range(40), gauge.wrap(work), workers)) == [j * j for j in range(40)]
    assert 1 <= gauge.most <= workers


def test_workers_really_overlap() -> None:
    """Three jobs that each wait for the other two to start can only finish if they run at once."""
    barrier = threading.Barrier(3, timeout=10)

    def work(job: int, cancelled: threading.Event) -> int:
        barrier.wait()
        return job

    assert list(ordered_map(range(6), work, 3)) == list(range(6))


def test_at_most_workers_jobs_are_started_ahead_of_the_consumer() -> None:
    gauge = Gauge()
    it = ordered_map(range(100), gauge.wrap(lambda j: j), 3)
    assert next(it) == 0
    time.sleep(0.2)  # every chance to run ahead
    # job 0 handed on; at most 3 more planned (1, 2, 3): nothing beyond is started
    assert gauge.started <= 4
    it.close()


def test_a_failing_job_is_raised_at_its_place_after_the_results_before_it() -> None:
    def work(job: int, cancelled: threading.Event) -> int:
        if job == 2:
            time.sleep(0.05)  # later jobs finish first: their results must not be handed on
            raise ValueError("efetch batch 3 failed after 3 attempts: HTTP 500")
        return job

    got: list[int] = []
    with pytest.raises(ValueError, match=r"^efetch batch 3 failed after 3 attempts: HTTP 500$"):
        for item in ordered_map(range(10), work, 3):
            got.append(item)
    assert got == [0, 1]


def test_a_planning_error_is_raised_after_every_job_planned_before_it() -> None:
    def jobs() -> Iterator[int]:
        yield from range(4)
        raise LookupError("esearch for slice 2 failed")

    got: list[int] = []
    with pytest.raises(LookupError, match="slice 2"):
        for item in ordered_map(jobs(), lambda job, cancelled: job, 3):
            got.append(item)
    assert got == [0, 1, 2, 3]


@pytest.mark.parametrize("how", ["close", "consumer error"])
def test_stopping_early_cancels_the_rest_and_leaves_no_thread(how: str) -> None:
    before = threading.active_count()
    gauge = Gauge()
    waited: list[bool] = []

    def work(job: int) -> int:
        time.sleep(0.01)
        return job

    def slow_backoff(job: int, cancelled: threading.Event) -> int:
        if job == 3:  # a job in a long backoff is cut short by the cancel event
            waited.append(cancelled.wait(30))
            return job
        return gauge.wrap(work)(job, cancelled)

    it = ordered_map(range(1000), slow_backoff, 4)
    if how == "close":
        assert next(it) == 0
        it.close()
    else:
        with pytest.raises(RuntimeError, match="storage failed"):
            for item in it:
                if item == 1:
                    raise RuntimeError("storage failed")
        it.close()  # what closing() does in the runner
    assert threading.active_count() == before
    assert gauge.started < 10 and waited == [True]


def test_closing_the_pool_closes_a_planning_generator() -> None:
    closed: list[bool] = []

    def jobs() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    it = ordered_map(jobs(), lambda job, cancelled: job, 2)
    assert next(it) == 0
    it.close()
    assert closed == [True]


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        ordered_map(range(3), lambda job, cancelled: job, 0)
