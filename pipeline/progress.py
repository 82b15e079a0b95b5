"""Progress as an injected sink: the runner reports, the CLI decides how (bar on a TTY, log lines otherwise)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Protocol, TextIO

log = logging.getLogger("litwatch.progress")


class Progress(Protocol):
    def start(self, label: str, total: int) -> None: ...
    def advance(self, done: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    """The default: library code reports progress to nobody."""

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass

    def finish(self) -> None:
        pass


class LogProgress:
    """For cron and log files: one line per step, never carriage returns."""

    def __init__(self) -> None:
        self._label = ""
        self._total = 0
        self._done = 0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, total, 0
        log.info("%s: %d records to fetch", label, total)

    def advance(self, done: int) -> None:
        self._done += done
        log.info("%s: %d/%d records stored", self._label, self._done, self._total)

    def finish(self) -> None:
        pass


class BarProgress:
    """A one-line bar with rate and ETA for people at a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 28) -> None:
        self._stream = stream
        self._width = width
        self._label = ""
        self._total = 0
        self._done = 0
        self._t0 = 0.0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done, self._t0 = label, total, 0, time.monotonic()
        self._draw()

    def advance(self, done: int) -> None:
        self._done += done
        self._draw()

    def finish(self) -> None:
        self._draw()
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self) -> None:
        total = max(self._total, 1)
        frac = min(self._done / total, 1.0)
        filled = int(frac * self._width)
        elapsed = time.monotonic() - self._t0
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - self._done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(
            f"\r{self._label:<20.20} [{bar}] {self._done}/{self._total} {rate:6.1f} rec/s ETA {eta:5.0f}s"
        )
        self._stream.flush()
