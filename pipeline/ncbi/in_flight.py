"""An ordered, bounded concurrent map: up to `workers` jobs run at once in threads, results come out in job order.

Why: at NCBI's pace one efetch takes longer than the rate limit's spacing, so one request in flight leaves the
rate unused; two or three in flight (each still through the process-wide rate limiter) reach it. The runner
stores batches strictly in order, so results are yielded in the order the jobs were planned, whatever order they
finish in.

Guarantees:
- at most `workers` jobs are running or finished-but-not-yet-yielded at any time (memory stays bounded: the jobs
  are planned lazily, one more each time a result is handed on);
- an exception raised by job k is raised when the consumer reaches job k (the results before it are yielded
  first); an exception raised while planning (iterating `jobs`) is raised after every job planned before it;
- closing the generator early (or an exception reaching it) sets the `cancelled` event handed to every job,
  cancels the jobs that have not started, waits for the running ones and leaves no thread behind.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["ordered_map"]

J = TypeVar("J")
R = TypeVar("R")


def ordered_map(
    jobs: Iterable[J],
    work: Callable[[J, threading.Event], R],
    workers: int,
    *,
    name: str = "litwatch-pool",
    cancelled: threading.Event | None = None,
) -> Iterator[R]:
    """Yield `work(job, cancelled)` for every job, in job order, with up to `workers` calls running at once.

    `cancelled` is set when the consumer stops early: long waits inside `work` (backoff) should wait on it. A
    caller may pass its own event, to also set it from elsewhere (an interrupt); it is set at the end all the same.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return _run(iter(jobs), work, workers, name, cancelled or threading.Event())


def _run(
    jobs: Iterator[J], work: Callable[[J, threading.Event], R], workers: int, name: str, cancelled: threading.Event
) -> Iterator[R]:
    pending: deque[Future[R]] = deque()
    planning_error: BaseException | None = None
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def top_up() -> None:
        nonlocal planning_error
        while planning_error is None and len(pending) < workers:
            try:
                job = next(jobs)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - raised in order, after the jobs planned before it
                planning_error = exc
                return
            pending.append(executor.submit(work, job, cancelled))

    try:
        top_up()
        while pending:
            result = pending.popleft().result()  # job k's exception surfaces here, at job k
            top_up()  # keep `workers` requests busy while the consumer handles this result
            yield result
        if planning_error is not None:
            raise planning_error
    finally:
        cancelled.set()
        executor.shutdown(wait=True, cancel_futures=True)  # not-started jobs dropped, running ones joined
        close = getattr(jobs, "close", None)
        if close is not None:  # a planning generator: close it now, not whenever it is collected
            close()
