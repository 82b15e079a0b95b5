"""Schema migrations for callers (`litwatch db upgrade`, the runner's first run, tests): Alembic driven
through its API with the migrations shipped inside this package, on one connection and one transaction.

Every command calls `upgrade` first, and nearly always the database is already at head: that case reads the
version row and never imports Alembic (~80-90 ms of a ~0.5 s `litwatch runs`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import StorageError
from .engine import NoDatabaseError, describe, engine_url, make_engine, safe_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

# The newest revision in migrations/versions: a test checks it against the scripts (bump it with a new one).
HEAD_REVISION = "0007"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = "litwatch-migrate"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head() -> str:
    """The newest revision this version of litwatch knows (read from the scripts)."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None  # there is always at least the initial revision
    return rev


def upgrade(url: str | Engine, revision: str = "head") -> str | None:
    """Bring the database to `revision` (default: newest); a no-op when it is there. Returns the revision."""
    if revision == "head" and _stored_revision(url) == HEAD_REVISION:
        return HEAD_REVISION
    from alembic import command
    from alembic.migration import MigrationContext

    with _migration_connection(url) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        _run(conn, lambda cfg: command.upgrade(cfg, revision), url)
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("database %s upgraded from %s to %s", _shown(url), before or "empty", after)
    return after


def downgrade(url: str | Engine, steps: int = 1) -> str | None:
    """Undo the newest `steps` revisions. Returns the revision the database is left at (None: empty)."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    from alembic import command
    from alembic.migration import MigrationContext

    with _migration_connection(url) as conn:
        _run(conn, lambda cfg: command.downgrade(cfg, f"-{steps}"), url)
        after = MigrationContext.configure(conn).get_current_revision()
    log.info("database %s downgraded by %d step(s) to %s", _shown(url), steps, after or "empty")
    return after


def current(url: str | Engine) -> str | None:
    """The database's revision, or None for a database litwatch has never migrated."""
    from alembic.migration import MigrationContext

    engine, owned = _engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(
            f"database {engine_url(engine)}: cannot read schema revision: {describe(exc)}"
        ) from None
    finally:
        if owned:
            engine.dispose()


def require_current(engine: Engine) -> None:
    """For commands that only read: the schema must be this litwatch's, and is never migrated here (a read-only
    database must work; an older one is upgraded by `litwatch db upgrade` or the next run, not by `status`)."""
    stored = _stored_revision(engine)
    if stored == HEAD_REVISION:
        return
    shown = engine_url(engine)
    if stored is None and not _has_tables(engine):
        raise NoDatabaseError(f"no litwatch tables in database {shown} yet (a first `litwatch run` creates them)")
    raise StorageError(f"database {shown} is at schema revision {stored or 'unknown'}, this litwatch needs "
                       f"{HEAD_REVISION}: run `litwatch db upgrade` (commands that only read never migrate)")


def schema_state(engine: Engine) -> str:
    """`litwatch check`'s words for the schema: up to date, to be upgraded by the next run, or not created yet."""
    stored = _stored_revision(engine)
    if stored == HEAD_REVISION:
        return f"schema {HEAD_REVISION}, up to date"
    if stored is None and not _has_tables(engine):
        return "no litwatch tables yet: the first run creates them"
    return f"schema {stored or 'unknown'}: the next run (or `litwatch db upgrade`) upgrades it to {HEAD_REVISION}"


def _has_tables(engine: Engine) -> bool:
    try:
        return bool(sa.inspect(engine).get_table_names())
    except SQLAlchemyError as exc:
        raise StorageError(f"database {engine_url(engine)}: cannot list tables: {describe(exc)}") from None


def _stored_revision(url: str | Engine) -> str | None:
    """The alembic_version row, or None when it cannot be read (no table yet, several rows, any error: the
    full Alembic path then decides and reports)."""
    engine, owned = _engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select version_num from alembic_version")).scalars().all()
        return rows[0] if len(rows) == 1 else None
    except SQLAlchemyError:
        return None
    finally:
        if owned:
            engine.dispose()


def _run(conn: sa.Connection, step: object, url: str | Engine) -> None:
    from alembic.util.exc import CommandError

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    try:
        step(cfg)  # type: ignore[operator]
    except CommandError as exc:
        raise StorageError(f"database {_shown(url)}: migration failed: {exc}") from None


@contextmanager
def _migration_connection(url: str | Engine) -> Iterator[sa.Connection]:
    """One transaction around the whole migration. Two first runs at once must not both create tables: SQLite
    serialises on BEGIN IMMEDIATE, PostgreSQL on a transaction-scoped advisory lock."""
    engine, owned = _engine(url)
    try:
        opts = {"sqlite_begin": "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}
        with engine.connect().execution_options(**opts) as conn, conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _pg_key(conn)})
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"database {engine_url(engine)}: migration failed: {describe(exc)}") from None
    finally:
        if owned:
            engine.dispose()


def _pg_key(conn: sa.Connection) -> int:
    schema = conn.execute(sa.text("select current_schema()")).scalar_one()
    digest = hashlib.sha256(f"{_MIGRATION_LOCK}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _engine(url: str | Engine) -> tuple[Engine, bool]:
    if isinstance(url, Engine):
        return url, False
    return make_engine(url), True


def _shown(url: str | Engine) -> str:
    return engine_url(url) if isinstance(url, Engine) else safe_url(url)


__all__ = [
    "HEAD_REVISION", "MIGRATIONS_DIR", "alembic_config", "current", "downgrade", "head", "require_current",
    "schema_state", "upgrade",
]
