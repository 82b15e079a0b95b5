"""One run at a time, across processes and machines, held in the database.

SQLite: a row in `run_lock` (holder, token, heartbeat) written inside BEGIN IMMEDIATE, so two contenders
are serialised by SQLite itself; a row whose heartbeat is older than `stale_after` belongs to a crashed
holder and is taken over. PostgreSQL: `pg_try_advisory_lock` on a dedicated connection kept open while held,
so a crashed holder's lock dies with its session; the row is written too, so that `litwatch status` can name
the holder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from . import StorageError
from .engine import describe, engine_url
from .schema import RunLockRow

log = logging.getLogger(__name__)

DEFAULT_NAME = "litwatch-run"
_POLL_S = 0.2  # how often a waiting acquire() tries again
_TABLE = RunLockRow.__table__


class LockHeld(StorageError):
    """Another holder has the lock. The pipeline maps this to RunLockedError (exit code 3)."""

    def __init__(self, name: str, holder: str, since: datetime | None) -> None:
        self.name, self.holder, self.since = name, holder, since
        when = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
        super().__init__(f"run lock '{name}' is held by {holder}{when}")


def holder_process_is_gone(holder: str) -> bool:
    """True when `holder` ("host:pid[:…]") names a process on this host that no longer exists.

    SQLite has no session that dies with its process (PostgreSQL's advisory lock does), so without this a run
    killed with -9 would block cron for lock_stale_seconds. Holders on other hosts still wait for staleness."""
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def default_holder() -> str:
    """`host:pid`, what a lock holder is called unless the caller says otherwise."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunLock:
    """`with RunLock(engine, holder=default_holder()): ...` — raises LockHeld if another run has it.

    While held, a daemon thread refreshes the heartbeat every `heartbeat` seconds; if it finds the lock taken
    over (this process stalled past `stale_after`) it sets `lost` and logs an error: the run should stop.
    """

    def __init__(
        self,
        engine: Engine,
        name: str = DEFAULT_NAME,
        *,
        holder: str,
        stale_after: float = 600.0,
        heartbeat: float = 30.0,
    ) -> None:
        if not 0 < heartbeat < stale_after:
            raise ValueError(
                f"heartbeat ({heartbeat}s) must be positive and shorter than stale_after ({stale_after}s)"
            )
        self.engine, self.name, self.holder = engine, name, holder
        self.stale_after, self.heartbeat_interval = stale_after, heartbeat
        self._token: str | None = None
        self._pg_conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = False

    @property
    def held(self) -> bool:
        return self._token is not None

    @property
    def lost(self) -> bool:
        return self._lost

    def acquire(self, wait: float = 0.0, cancel: threading.Event | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds for the holder to let go; LockHeld if it does not.
        `cancel` (e.g. set by SIGTERM) ends the wait at once: a stopped job must not sit out the whole wait."""
        if self.held:
            raise RuntimeError(f"run lock '{self.name}' is already held by this RunLock")
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            other = self._try_pg() if self._is_pg else self._try_sqlite()
            if other is None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (cancel is not None and cancel.is_set()):
                raise LockHeld(self.name, *other)
            if cancel is not None:
                cancel.wait(min(_POLL_S, remaining))
            else:
                time.sleep(min(_POLL_S, remaining))
        self._lost = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat:{self.name}", daemon=True)
        self._thread.start()
        log.info("run lock '%s' acquired by %s", self.name, self.holder)

    def release(self) -> None:
        """Let go (idempotent). Only this acquisition's row is removed, never a holder's that took over."""
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        token, self._token = self._token, None
        try:
            if self._pg_conn is not None:
                self._release_pg(token)
            else:
                with self._write() as conn:
                    conn.execute(sa.delete(_TABLE).where(_TABLE.c.name == self.name, _TABLE.c.token == token))
        except SQLAlchemyError as exc:
            raise self._error("release", exc) from None
        log.info("run lock '%s' released by %s", self.name, self.holder)

    def heartbeat(self) -> bool:
        """Refresh the heartbeat now. False (and `lost` set) if the lock is no longer ours."""
        if not self.held:
            return False
        now = datetime.now(UTC)
        stmt = (
            sa.update(_TABLE)
            .where(_TABLE.c.name == self.name, _TABLE.c.token == self._token)
            .values(heartbeat_at=now)
        )
        if self._pg_conn is not None:  # the lock's own session: its survival is what holds the lock
            updated = self._pg_conn.execute(stmt).rowcount
        else:
            with self._write() as conn:
                updated = conn.execute(stmt).rowcount
        if not updated and not self._lost:
            self._lost = True
            log.error(
                "run lock '%s' was taken over from %s (heartbeat too late); stop this run",
                self.name,
                self.holder,
            )
        return not self._lost

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    # --- backends ----------------------------------------------------------------------------------------

    @property
    def _is_pg(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _write(self) -> _Txn:
        return _Txn(self.engine)

    def _try_sqlite(self) -> tuple[str, datetime | None] | None:
        """One attempt; None when taken, else (holder, since) of whoever has it."""
        now = datetime.now(UTC)
        token = uuid.uuid4().hex
        try:
            with self._write() as conn:
                row = conn.execute(sa.select(_TABLE).where(_TABLE.c.name == self.name)).first()
                dead = row is not None and holder_process_is_gone(row.holder)
                if row is not None and not dead and row.heartbeat_at > now - timedelta(seconds=self.stale_after):
                    return row.holder, row.acquired_at
                if row is not None:
                    why = ("its process is gone from this host" if dead else
                           f"no heartbeat since {row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC")
                    log.warning("run lock '%s': taking over from %s (%s)", self.name, row.holder, why)
                    conn.execute(sa.delete(_TABLE).where(_TABLE.c.name == self.name))
                conn.execute(sa.insert(_TABLE).values(self._row(token, now)))
        except SQLAlchemyError as exc:
            raise self._error("acquire", exc) from None
        self._token = token
        return None

    def _try_pg(self) -> tuple[str, datetime | None] | None:
        now = datetime.now(UTC)
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            key = _pg_key(conn, self.name)
            if not conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                other = _pg_holder_row(conn, self.name)
                conn.close()
                return other or ("another process", None)
            # The token starts with our backend pid, so that others can tell our row from a dead holder's.
            pid = conn.execute(sa.text("select pg_backend_pid()")).scalar_one()
            token = f"{pid:x}-{uuid.uuid4().hex}"[:32]
            values = self._row(token, now)
            upsert = postgresql.insert(_TABLE).values(values)
            conn.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=values))
        except SQLAlchemyError as exc:
            conn.invalidate()  # never hand a connection that may hold the advisory lock back to the pool
            conn.close()
            raise self._error("acquire", exc) from None
        self._pg_conn, self._token = conn, token
        return None

    def _release_pg(self, token: str | None) -> None:
        conn, self._pg_conn = self._pg_conn, None
        assert conn is not None
        try:
            conn.execute(sa.delete(_TABLE).where(_TABLE.c.name == self.name, _TABLE.c.token == token))
            conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": _pg_key(conn, self.name)})
        except SQLAlchemyError:
            conn.invalidate()  # closing the session frees the advisory lock anyway
            raise
        finally:
            conn.close()

    def _row(self, token: str, now: datetime) -> dict[str, object]:
        return {
            "name": self.name,
            "holder": self.holder,
            "token": token,
            "acquired_at": now,
            "heartbeat_at": now,
        }

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            try:
                if not self.heartbeat():
                    return
            except SQLAlchemyError as exc:  # a busy or briefly unreachable database: try again next beat
                log.warning("run lock '%s': heartbeat failed: %s", self.name, describe(exc))
                if self._pg_conn is not None and self._pg_conn.invalidated:
                    self._lost = True
                    log.error("run lock '%s': the lock's database session died; stop this run", self.name)
                    return

    def _error(self, what: str, exc: SQLAlchemyError) -> StorageError:
        return StorageError(
            f"run lock '{self.name}' on {engine_url(self.engine)}: {what} failed: {describe(exc)}"
        )


class _Txn:
    """A short write transaction (BEGIN IMMEDIATE on SQLite, so two contenders never both see 'free')."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> Connection:
        opts = {"sqlite_begin": "IMMEDIATE"} if self._engine.dialect.name == "sqlite" else {}
        self._conn = self._engine.connect().execution_options(**opts)
        self._txn = self._conn.begin()
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                self._txn.commit()
            else:
                self._txn.rollback()
        finally:
            self._conn.close()


def lock_holder(
    engine: Engine, name: str = DEFAULT_NAME, *, stale_after: float = 600.0
) -> tuple[str, datetime] | None:
    """Who holds the lock and since when, for `litwatch status`; None when free or held by a dead holder."""
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(_TABLE).where(_TABLE.c.name == name)).first()
            if engine.dialect.name == "postgresql":
                if _pg_lock_pid(conn, name) is None:
                    return None
                return _pg_holder_row(conn, name) or ("another process", datetime.now(UTC))
            if row is None or row.heartbeat_at <= datetime.now(UTC) - timedelta(seconds=stale_after):
                return None
            return row.holder, row.acquired_at
    except SQLAlchemyError as exc:
        raise StorageError(
            f"run lock '{name}' on {engine_url(engine)}: cannot read: {describe(exc)}"
        ) from None


def _pg_key(conn: Connection, name: str) -> int:
    """A stable signed 64-bit key for (current schema, name): instances in different schemas never collide."""
    schema = conn.execute(sa.text("select current_schema()")).scalar_one()
    digest = hashlib.sha256(f"{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _pg_lock_pid(conn: Connection, name: str) -> int | None:
    """The backend pid of the session holding the advisory lock, or None (pg_locks splits a bigint key into
    classid/objid)."""
    unsigned = _pg_key(conn, name) & 0xFFFF_FFFF_FFFF_FFFF
    return conn.execute(
        sa.text(
            "select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1"
            " and database = (select oid from pg_database where datname = current_database())"
            " and classid::text::bigint = :hi and objid::text::bigint = :lo"
        ),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
    ).scalar()


def _pg_holder_row(conn: Connection, name: str, patience: float = 2.0) -> tuple[str, datetime] | None:
    """(holder, since) from the row written by the session that holds the lock. Right after taking the lock
    the winner is still writing its row, so a missing row or a dead holder's is re-read for a moment."""
    deadline = time.monotonic() + patience
    while True:
        pid = _pg_lock_pid(conn, name)
        if pid is None:
            return None
        row = conn.execute(sa.select(_TABLE).where(_TABLE.c.name == name)).first()
        if row is not None and row.token.startswith(f"{pid:x}-"):
            return row.holder, row.acquired_at
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


__all__ = ["DEFAULT_NAME", "LockHeld", "RunLock", "default_holder", "holder_process_is_gone", "lock_holder"]
