"""Engines and sessions: SQLite pragmas, a connection check up front, and database errors turned into one-line
`StorageError`s that name the database (never its password)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import StorageError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = (
    30_000  # writers queue behind each other instead of failing with "database is locked"
)
PG_CONNECT_TIMEOUT_S = 10
_SHOWN: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()  # engine -> URL for messages


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown to a user: password masked."""
    try:
        parsed = sa.make_url(url)
        if isinstance(url, str) and parsed.password is None:
            return (
                url  # nothing to hide: show it exactly as configured (rendering would %-escape SQLite paths)
            )
        return parsed.render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class NoDatabaseError(StorageError):
    """A command that only reads found no database where the URL points (a typo, or no run has stored anything)."""


def make_engine(url: str, *, echo: bool = False, create_dir: bool = True) -> Engine:
    """An engine for `url`, checked by connecting once. Creates no tables (`storage.migrate.upgrade` does);
    with `create_dir` (the default) it creates the folder of a SQLite file, which SQLite itself then creates."""
    parsed = _parse(url)
    shown = safe_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if create_dir:
            _ensure_sqlite_dir(parsed, shown)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
        _SHOWN[engine] = shown
    except (ArgumentError, NoSuchModuleError, ImportError, TypeError) as exc:
        raise StorageError(f"unsupported database URL {shown}: {_first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StorageError(f"cannot connect to database {shown}: {describe(exc)}") from None
    return engine


def open_existing(url: str) -> Engine:
    """An engine on a database that must already exist: for commands that only read (`runs`, `status`, `show`,
    `check`). Creates no file and no folder: a SQLite path that does not exist is a `NoDatabaseError` naming it
    (connecting would create an empty database there and report "nothing stored"). A server database is
    connected to as usual; connecting creates nothing."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoDatabaseError(f"no database at {path} (a first `litwatch run` creates it; check [storage] url "
                              "and data_dir in config.toml)")
    return make_engine(url, create_dir=False)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (`sqlite:///path` or `sqlite:///file:path?uri=true`); None for an in-memory
    database or another backend."""
    parsed = _parse(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
        if database.startswith("//"):  # file://host/path: only the local host is meaningful to SQLite
            database = "/" + database[2:].split("/", 1)[-1]
        if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
            return None
    return Path(database).expanduser()


def _parse(url: str) -> URL:
    try:
        return sa.make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL {url!r}: {_first_line(exc)}") from None


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, rollback on error; database errors become one-line `StorageError`s.

    On SQLite a writing session starts with BEGIN IMMEDIATE (the write lock is taken up front, so a
    read-then-write transaction waits for another writer instead of failing);
    `readonly=True` uses a plain BEGIN.
    """
    bind = (
        engine
        if readonly or engine.dialect.name != "sqlite"
        else engine.execution_options(sqlite_begin="IMMEDIATE")
    )
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except StorageError:
        session.rollback()
        raise
    except SQLAlchemyError as exc:
        _quiet_rollback(session)
        raise StorageError(f"database {engine_url(engine)}: {describe(exc)}") from exc
    except BaseException:
        _quiet_rollback(session)
        raise
    finally:
        session.close()


def engine_url(engine: Engine) -> str:
    """The URL the engine was made from, password masked (verbatim when there is none)."""
    return _SHOWN.get(engine) or safe_url(engine.url)


def describe(exc: BaseException) -> str:
    """The driver's one-line reason (e.g. 'attempt to write a readonly database'), no SQL or parameters."""
    orig = getattr(exc, "orig", None)
    return _first_line(orig if orig is not None else exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def _quiet_rollback(session: Session) -> None:
    try:
        session.rollback()
    except SQLAlchemyError as exc:  # the connection may be gone; the original error is the one to report
        log.debug("rollback failed: %s", describe(exc))


def _ensure_sqlite_dir(url: URL, shown: str) -> None:
    """Create the parent folder of a file database (the default data dir may not exist yet)."""
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("mode"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for database {shown}: {exc.strerror}") from None


def _install_sqlite_hooks(engine: Engine) -> None:
    """WAL, foreign keys and a busy timeout on every connection; SQLAlchemy emits BEGIN itself (the pysqlite
    driver's implicit transactions would otherwise defer BEGIN and ignore BEGIN IMMEDIATE)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(
                    "PRAGMA synchronous=NORMAL"
                )  # safe with WAL: a crash loses no committed transaction
            except Exception as exc:  # noqa: BLE001 - a read-only database cannot switch mode; reads still work
                log.debug("sqlite: WAL not enabled: %s", exc)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


__all__ = [
    "NoDatabaseError", "describe", "engine_url", "make_engine", "open_existing", "safe_url", "session_scope",
    "sqlite_file",
]
