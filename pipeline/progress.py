"""Progress as an injected sink: the runner reports, the CLI decides how (bar on a TTY, log lines otherwise)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

log = logging.getLogger("litwatch.progress")

Clock = Callable[[], float]


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


class _Meter:
    """Counts records against a total and estimates the time left from the rate so far."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.label, self.total, self.done, self.t0 = "", 0, 0, 0.0

    def reset(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.t0 = label, total, 0, self.clock()

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.t0
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> str:
        """Seconds left as `1m05s`, or `--` before the rate is known."""
        if self.done >= self.total:
            return "0s"
        rate = self.rate
        if rate <= 0:
            return "--"
        left = int((self.total - self.done) / rate + 0.5)
        return f"{left // 60}m{left % 60:02d}s" if left >= 60 else f"{left}s"


class LogProgress:
    """For cron and log files: one INFO line per committed batch, never carriage returns."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._m = _Meter(clock)

    def start(self, label: str, total: int) -> None:
        self._m.reset(label, total)
        log.info("%s: %d records to fetch", label, total)

    def advance(self, done: int) -> None:
        m = self._m
        m.done += done
        log.info("%s: %d/%d records stored (%.0f rec/s, ETA %s)", m.label, m.done, m.total, m.rate, m.eta)

    def finish(self) -> None:
        pass


class BarProgress:
    """A one-line bar with rate and ETA for people at a terminal, redrawn in place with `\\r`."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 28, clock: Clock = time.monotonic) -> None:
        self._stream = stream
        self._width = width
        self._m = _Meter(clock)
        self._drawn = False

    def start(self, label: str, total: int) -> None:
        self._m.reset(label, total)
        self._draw()

    def advance(self, done: int) -> None:
        self._m.done += done
        self._draw()

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _draw(self) -> None:
        m = self._m
        frac = min(m.done / m.total, 1.0) if m.total else 1.0
        filled = int(frac * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(
            f"\r{m.label:<20.20} [{bar}] {m.done}/{m.total} {m.rate:6.1f} rec/s ETA {m.eta:>6}"
        )
        self._stream.flush()
        self._drawn = True


def progress_for(stream: TextIO) -> Progress:
    """A bar when `stream` is a terminal; plain log lines otherwise (cron, pipes, systemd's journal)."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream is not a terminal
        interactive = False
    return BarProgress(stream) if interactive else LogProgress()
