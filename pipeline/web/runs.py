""""Run now": one fetch run in a background thread of the console, through the same run lock as cron.

A run already going — in this process, or anywhere that holds the database's run lock (cron, `litwatch run`, the
scheduler) — is reported as running instead of starting a second; the lock would refuse the second anyway, but
saying "running" is clearer than a failed run. The page polls `state()` as JSON (static/progress.js).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from litwatch.storage import StorageError
from litwatch.storage.locks import DEFAULT_NAME, lock_holder

from ..config import Settings
from ..errors import LitwatchError
from ..runner import Runner, RunRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunState:
    state: str = "idle"  # idle / running / success / failed
    started_by: str = ""
    started_at: datetime | None = None
    label: str = ""  # what the run is doing now (the progress sink's label)
    done: int = 0
    total: int = 0
    run_id: int | None = None
    result: str = ""  # the run's counts, or its error
    holder: str = ""  # another process holding the run lock

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "started_by": self.started_by,
                "started_at": self.started_at.isoformat() if self.started_at else None, "label": self.label,
                "done": self.done, "total": self.total, "run_id": self.run_id, "result": self.result,
                "holder": self.holder}


@dataclass
class _Progress:
    """The runner's progress sink: keeps the newest label and count for the page to poll."""

    update: Callable[..., None]
    totals: dict[str, int] = field(default_factory=dict)

    def start(self, label: str, total: int) -> None:
        self.update(label=label, done=0, total=total)

    def advance(self, done: int) -> None:
        self.update(done=done)

    def finish(self) -> None:
        pass


class RunManager:
    def __init__(self, settings: Settings, engine: Engine,
                 runner_factory: Callable[..., Runner] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self._runner_factory = runner_factory or Runner
        self._lock = threading.Lock()
        self._state = RunState()
        self._thread: threading.Thread | None = None
        self.stop = threading.Event()

    def state(self) -> RunState:
        with self._lock:
            current = self._state
        if current.state != "running":
            holder = lock_holder(self.engine, DEFAULT_NAME, stale_after=self.settings.run.lock_stale_seconds)
            if holder is not None:  # cron or a shell holds the lock: show it as running elsewhere
                return replace(current, state="running", holder=holder[0], label="a run started elsewhere")
        return current

    def start(self, user: str) -> bool:
        """Start a run for `user`; False (nothing started) when one is already running here or elsewhere."""
        if self.state().state == "running":
            return False
        with self._lock:
            if self._state.state == "running":
                return False
            self._state = RunState("running", user, datetime.now(UTC), "starting")
            self._thread = threading.Thread(target=self._run, args=(user,), name="litwatch-console-run",
                                            daemon=True)
            self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _update(self, **values: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **values)

    def _run(self, user: str) -> None:
        runner = self._runner_factory(self.settings, engine=self.engine, progress=_Progress(self._update),
                                      stop=self.stop)
        try:
            summary = runner.run(RunRequest(trigger="console"))
        except (LitwatchError, StorageError) as exc:  # the run is recorded failed; the page says why
            log.warning("console run started by %s failed: %s", user, exc)
            self._update(state="failed", result=str(exc), label="")
            return
        except Exception as exc:  # a bug: keep the server up, say so on the page, keep the traceback in the log
            log.exception("console run started by %s crashed", user)
            self._update(state="failed", result=f"internal error: {type(exc).__name__}", label="")
            return
        self._update(state=summary.status if summary.status in ("success", "failed") else "failed",
                     run_id=summary.run_id, result=summary.counts.describe(), label="")
