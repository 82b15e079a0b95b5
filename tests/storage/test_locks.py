"""storage.locks on both backends: one holder at a time across processes, release, waiting, stale takeover,
a killed holder never blocks the next run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from litwatch.storage import StorageError
from litwatch.storage.engine import make_engine
from litwatch.storage.locks import LockHeld, RunLock, default_holder, holder_process_is_gone, lock_holder
from litwatch.storage.migrate import upgrade
from litwatch.storage.schema import RunLockRow

ROOT = Path(__file__).resolve().parents[2]

# A contender in its own process: waits for "go" on stdin, tries once, reports, and (if it won) holds the lock
# until told to release. The barrier makes both contenders try while the other is alive.
CONTENDER = """
import sys
from litwatch.storage.engine import make_engine
from litwatch.storage.locks import LockHeld, RunLock
url, holder = sys.argv[1], sys.argv[2]
lock = RunLock(make_engine(url), holder=holder, stale_after=float(sys.argv[3]), heartbeat=0.1)
print("ready", flush=True)
sys.stdin.readline()
try:
    lock.acquire()
except LockHeld as exc:
    print("held", exc.holder, flush=True)
    sys.exit(0)
print("acquired", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


def _contender(url: str, holder: str, stale_after: float = 600.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CONTENDER, url, holder, str(stale_after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _say(proc: subprocess.Popen[str], line: str = "") -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _hear(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


@pytest.fixture
def locks(engine: Engine) -> Iterator[list[RunLock]]:
    made: list[RunLock] = []
    yield made
    for lock in made:
        lock.release()


def _lock(engine: Engine, made: list[RunLock], holder: str, **kw: float) -> RunLock:
    lock = RunLock(engine, holder=holder, **kw)
    made.append(lock)
    return lock


def test_two_processes_exactly_one_wins(engine: Engine, db_url: str) -> None:
    procs = [_contender(db_url, f"proc-{i}") for i in range(2)]
    try:
        assert [_hear(p) for p in procs] == ["ready", "ready"]
        for p in procs:
            _say(p, "go")
        results = {p: _hear(p) for p in procs}
        winners = [p for p, r in results.items() if r == "acquired"]
        assert len(winners) == 1, results
        (loser,) = [p for p in procs if p not in winners]
        winner_name = f"proc-{procs.index(winners[0])}"
        assert results[loser] == f"held {winner_name}"
        assert lock_holder(engine)[0] == winner_name  # type: ignore[index]
        _say(winners[0])
        assert _hear(winners[0]) == "released"
        assert all(p.wait(timeout=30) == 0 for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert lock_holder(engine) is None
    with RunLock(engine, holder="next") as lock:  # and the next one gets in
        assert lock.held


def test_killed_holder_never_blocks_the_next_run(engine: Engine, db_url: str) -> None:
    proc = _contender(db_url, "doomed", stale_after=1.0)
    try:
        assert _hear(proc) == "ready"
        _say(proc, "go")
        assert _hear(proc) == "acquired"
        os.kill(proc.pid, signal.SIGKILL)  # no release, no cleanup
        proc.wait()
    finally:
        proc.kill()
    # SQLite: the row goes stale after 1 s and is taken over; PostgreSQL: the dead session freed the lock.
    lock = RunLock(engine, holder="survivor", stale_after=1.0, heartbeat=0.2)
    lock.acquire(wait=30)
    assert lock_holder(engine)[0] == "survivor"  # type: ignore[index]
    lock.release()


def test_held_lock_refuses_then_release_lets_next_in(engine: Engine, locks: list[RunLock]) -> None:
    first = _lock(engine, locks, "host-a:1")
    second = _lock(engine, locks, "host-b:2")
    first.acquire()
    with pytest.raises(
        LockHeld, match=r"^run lock 'litwatch-run' is held by host-a:1 since \d{4}-\d\d-\d\d "
    ) as err:
        second.acquire()
    assert isinstance(err.value, StorageError) and err.value.holder == "host-a:1"
    holder, since = lock_holder(engine)  # type: ignore[misc]
    assert holder == "host-a:1" and since <= datetime.now(UTC)
    first.release()
    first.release()  # idempotent
    second.acquire()
    assert second.held and not first.held


def test_wait_outlasts_a_holder_that_lets_go(engine: Engine, locks: list[RunLock]) -> None:
    first = _lock(engine, locks, "first")
    second = _lock(engine, locks, "second")
    first.acquire()
    with pytest.raises(LockHeld, match="held by first"):
        second.acquire(wait=0.3)  # waits, then gives up
    timer = threading.Timer(0.3, first.release)
    timer.start()
    second.acquire(wait=30)  # returns as soon as the first one lets go
    timer.join()
    assert second.held


def test_stale_row_is_taken_over_and_old_holder_learns_it(engine: Engine, locks: list[RunLock]) -> None:
    old = _lock(engine, locks, "stalled", stale_after=600, heartbeat=60)
    old.acquire()
    if engine.dialect.name == "postgresql":
        old._pg_conn.invalidate()  # type: ignore[union-attr]  # its session dies: the advisory lock is gone
        old._pg_conn = None
    table = RunLockRow.__table__
    with engine.begin() as conn:  # the holder stopped beating an hour ago
        conn.execute(sa.update(table).values(heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    assert engine.dialect.name == "postgresql" or lock_holder(engine) is None  # stale: shown as free
    new = _lock(engine, locks, "rescuer")
    new.acquire()
    assert lock_holder(engine)[0] == "rescuer"  # type: ignore[index]
    assert old.heartbeat() is False and old.lost
    old.release()  # must not remove the rescuer's row
    assert lock_holder(engine)[0] == "rescuer"  # type: ignore[index]


def test_heartbeat_thread_keeps_the_row_fresh(engine: Engine, locks: list[RunLock]) -> None:
    lock = _lock(engine, locks, default_holder(), stale_after=5, heartbeat=0.05)
    lock.acquire()
    table = RunLockRow.__table__
    with engine.connect() as conn:
        first = conn.execute(sa.select(table.c.heartbeat_at)).scalar_one()
    stop = threading.Event()

    def beaten() -> bool:
        with engine.connect() as conn:
            return conn.execute(sa.select(table.c.heartbeat_at)).scalar_one() > first

    # poll the row until the daemon thread has refreshed it (bounded, so a dead thread fails the test)
    assert any(beaten() or stop.wait(0.05) for _ in range(400))
    assert lock.heartbeat() and not lock.lost


def test_context_manager_and_arguments(engine: Engine) -> None:
    with RunLock(engine, holder="ctx") as lock:
        assert lock_holder(engine)[0] == "ctx"  # type: ignore[index]
        with pytest.raises(RuntimeError, match="already held"):
            lock.acquire()
    assert lock_holder(engine) is None
    with pytest.raises(ValueError, match="shorter than stale_after"):
        RunLock(engine, holder="x", stale_after=10, heartbeat=30)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("holder", "gone"),
    [
        (lambda: f"{socket.gethostname()}:{_dead_pid()}:cron", True),
        (lambda: f"{socket.gethostname()}:{os.getpid()}:manual", False),  # ourselves
        (lambda: f"{socket.gethostname()}:1", False),  # init: alive
        (lambda: f"another-host.example:{_dead_pid()}:cron", False),  # cannot tell: wait for staleness
        (lambda: "doomed", False),
    ],
)
def test_holder_process_is_gone(holder: Callable[[], str], gone: bool) -> None:
    assert holder_process_is_gone(holder()) is gone


def test_sqlite_lock_of_a_dead_local_process_is_taken_over_at_once(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    dead = RunLock(engine, holder=f"{socket.gethostname()}:{_dead_pid()}:cron", stale_after=600, heartbeat=60)
    dead.acquire()
    dead._stop.set()  # simulate kill -9: the row stays, fresh heartbeat, nobody releases it
    dead._token = None
    survivor = RunLock(engine, holder="survivor", stale_after=600, heartbeat=60)
    survivor.acquire()  # would raise LockHeld for 10 minutes without the dead-process check
    assert lock_holder(engine, stale_after=600)[0] == "survivor"
    survivor.release()


def test_a_cancelled_wait_gives_up_at_once(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    holder = RunLock(engine, holder="busy", stale_after=600, heartbeat=60)
    holder.acquire()
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    waiter = RunLock(engine, holder="waiter", stale_after=600, heartbeat=60)
    started = time.monotonic()
    with pytest.raises(LockHeld, match="held by busy"):
        waiter.acquire(wait=60, cancel=cancel)
    assert time.monotonic() - started < 30  # not the whole minute: the cancel ended the wait
    holder.release()
