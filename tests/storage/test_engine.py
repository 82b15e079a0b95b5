"""storage.engine: connection set-up, pragmas, transactions and the one-line errors users see."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from litwatch.storage import StorageError
from litwatch.storage.engine import make_engine, safe_url, session_scope
from litwatch.storage.migrate import upgrade
from litwatch.storage.repository import get_article, upsert_articles
from tests.storage.conftest import article, at


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


def test_make_engine_creates_no_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_make_engine_creates_the_sqlite_folder(tmp_path: Path) -> None:
    target = tmp_path / "data" / "deeper" / "litwatch.sqlite"
    make_engine(f"sqlite:///{target}").dispose()
    assert target.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"invalid database URL 'not a url'"),
        ("nosuchdb://u:pw@host/db", r"unsupported database URL nosuchdb://u:\*\*\*@host/db"),
    ],
)
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        make_engine(url)


def test_unreachable_postgresql_names_url_without_password() -> None:
    url = "postgresql+psycopg://litwatch:s3cret@127.0.0.1:1/litwatch"
    with pytest.raises(
        StorageError,
        match=r"^cannot connect to database postgresql\+psycopg://litwatch:\*\*\*@127\.0\.0\.1:1/litwatch: ",
    ) as err:
        make_engine(url)
    assert "s3cret" not in str(err.value)
    assert "\n" not in str(err.value)


def test_unopenable_sqlite_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")  # a file where a folder should be: fails for root too
    with pytest.raises(
        StorageError, match=r"cannot create the folder for database sqlite:///.*a-file/db\.sqlite"
    ):
        make_engine(f"sqlite:///{tmp_path / 'a-file' / 'db.sqlite'}")


def test_session_scope_commits_and_rolls_back(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        upsert_articles(s, [article("1")], at(0))
    with pytest.raises(ValueError, match="boom"), session_scope(engine) as s:
        upsert_articles(s, [article("2")], at(0))
        raise ValueError("boom")
    with session_scope(engine, readonly=True) as s:
        assert get_article(s, "1") is not None
        assert get_article(s, "2") is None
    engine.dispose()


def test_read_only_sqlite_is_a_clear_error_and_keeps_data(tmp_path: Path) -> None:
    # Tests run as root, so file modes cannot make a database read-only; SQLite's mode=ro refuses writes.
    path = tmp_path / "litwatch.sqlite"
    upgrade(f"sqlite:///{path}")
    rw = make_engine(f"sqlite:///{path}")
    with session_scope(rw) as s:
        upsert_articles(s, [article("1")], at(0))
    ro = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(
        StorageError, match=r"^database sqlite:///file:.*mode=ro.*: attempt to write a readonly database$"
    ):
        with session_scope(ro) as s:
            upsert_articles(s, [article("2", title="new")], at(1))
    with session_scope(ro, readonly=True) as s:
        assert get_article(s, "1") is not None  # reads still work, and nothing was half-written
        assert get_article(s, "2") is None
    ro.dispose()
    rw.dispose()


def test_disk_full_is_a_clear_error_and_rolls_back(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        upsert_articles(s, [article("1")], at(0))

    @event.listens_for(engine, "connect")
    def _tiny(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # SQLite's own SQLITE_FULL, as on a full disk: the file may not grow past its current pages
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()  # new connections get the limit
    big = [article(str(n), title="x" * 4000) for n in range(100, 200)]
    with pytest.raises(
        StorageError, match=r"^database sqlite:///.*litwatch\.sqlite: database or disk is full$"
    ):
        with session_scope(engine) as s:
            upsert_articles(s, big, at(1))
    with session_scope(engine, readonly=True) as s:
        assert get_article(s, "1") is not None
        assert get_article(s, "100") is None
    engine.dispose()


def test_safe_url_hides_password() -> None:
    assert safe_url("postgresql+psycopg://u:pw@h:5432/d") == "postgresql+psycopg://u:***@h:5432/d"


def test_open_existing_creates_no_file_and_no_folder(tmp_path: Path) -> None:
    """Commands that only read must not turn a mistyped path into an empty database that has "no runs yet"."""
    from litwatch.storage.engine import NoDatabaseError, open_existing

    target = tmp_path / "dtaa" / "litwatch.sqlite"
    with pytest.raises(NoDatabaseError, match=rf"^no database at {re.escape(str(target))} \(a first `litwatch run`"):
        open_existing(f"sqlite:///{target}")
    assert not (tmp_path / "dtaa").exists()
    upgrade(f"sqlite:///{tmp_path / 'real.sqlite'}")
    open_existing(f"sqlite:///{tmp_path / 'real.sqlite'}").dispose()


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:////data/litwatch.sqlite", "/data/litwatch.sqlite"),
    ("sqlite:///relative/db.sqlite", "relative/db.sqlite"),
    ("sqlite:///file:/data/db.sqlite?mode=ro&uri=true", "/data/db.sqlite"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("postgresql+psycopg://u:pw@host/db", None),
])
def test_sqlite_file_names_the_file_a_url_points_at(url: str, path: str | None) -> None:
    from litwatch.storage.engine import sqlite_file

    assert sqlite_file(url) == (Path(path) if path else None)
