"""Shared fixtures: paths to the real PubMed fixtures, and real databases (SQLite file, PostgreSQL on loopback)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
DOMAIN_RECORDS = FIXTURES / "domain" / "records.xml"
DOMAIN_LABELS = FIXTURES / "domain" / "labels.jsonl"
PG_ADMIN_URL = os.environ.get("LITWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def _pg_available() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no server"
        return False


def _fresh_pg_schema() -> Iterator[str]:
    """A private schema per test (search_path in the URL), dropped afterwards: real PostgreSQL, no cross-talk."""
    import sqlalchemy as sa

    if os.environ.get("CI") and not _pg_available():
        pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN_URL}")
    if not _pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    schema = f"lw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage-touching test runs on both backends, for real."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'litwatch.sqlite'}"
    else:
        yield from _fresh_pg_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'litwatch.sqlite'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _fresh_pg_schema()
