"""Shared fixtures: paths to the real PubMed fixtures, and real databases (SQLite file, PostgreSQL on loopback)."""

from __future__ import annotations

import atexit
import email
import functools
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"  # the project's own record sets (built for litwatch; committed)


@functools.cache
def lbp_only_queries() -> Path:
    """The bundled watch list with only the low-back-pain article (a copy, once per test process): for the tests
    written about one article, whose counts and digests a second article's searches would change. The tests of
    several articles use the bundled `queries/` itself."""
    folder = Path(tempfile.mkdtemp(prefix="litwatch-lbp-queries-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(REPO / "queries" / "stem-cell-lbp", folder / "stem-cell-lbp")
    return folder
DOMAIN_RECORDS = FIXTURES / "domain" / "records.xml"
DOMAIN_LABELS = FIXTURES / "domain" / "labels.jsonl"
KNEE_RECORDS = FIXTURES / "knee-oa" / "records.xml"  # the second bundled article's real records (knee-oa)
KNEE_LABELS = FIXTURES / "knee-oa" / "labels.jsonl"
PG_ADMIN_URL = os.environ.get("LITWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Files taken from other public repositories (eutils/, ctgov/, crossref/) are third-party data: never committed,
# read in place from the shared folder beside the clone. LITWATCH_SHARED_FIXTURES points elsewhere if needed.
SHARED_FIXTURES = Path(os.environ.get("LITWATCH_SHARED_FIXTURES", REPO.parent / "shared" / "fixtures"))
THIRD_PARTY_FOLDERS = ("eutils", "crossref", "ctgov")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(path: Path) -> str:
    return f"third-party fixture {path} is missing (read in place from ../shared/fixtures, never copied)"


def third_party(folder: str, name: str = "") -> Path:
    """The path of a third-party fixture file (or folder). Missing: the test fails under CI=true, else skips."""
    path = SHARED_FIXTURES / folder / name
    if not path.exists():
        if _in_ci():
            pytest.fail(_missing(path))
        pytest.skip(_missing(path))
    return path


def eutils(name: str) -> Path:
    return third_party("eutils", name)


@dataclass(frozen=True)
class ThirdPartyBytes:
    """A parametrize value standing for a third-party file's bytes, read when the test runs (not at collection),
    so a missing file skips or fails that test alone. `head` keeps only the first bytes, then appends `tail`."""

    folder: str
    name: str
    head: int | None = None
    tail: bytes = b""

    def read(self) -> bytes:
        data = third_party(self.folder, self.name).read_bytes()
        return data if self.head is None else data[: self.head] + self.tail


def eutils_bytes(name: str, head: int | None = None, tail: bytes = b"") -> ThirdPartyBytes:
    return ThirdPartyBytes("eutils", name, head, tail)


def body_of(value: bytes | ThirdPartyBytes) -> bytes:
    return value.read() if isinstance(value, ThirdPartyBytes) else value


def third_party_files(folder: str, pattern: str) -> list[Any]:
    """For parametrize: the folder's files matching `pattern`; when the folder is missing, one placeholder that
    skips saying why (CI never gets there: the session refuses to start, see pytest_sessionstart)."""
    directory = SHARED_FIXTURES / folder
    if directory.is_dir():
        return sorted(directory.glob(pattern))
    return [pytest.param(directory / pattern, marks=pytest.mark.skip(reason=_missing(directory)), id="missing")]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI a missing third-party folder fails the run at once, instead of quietly skipping its tests."""
    missing = [SHARED_FIXTURES / f for f in THIRD_PARTY_FOLDERS if not (SHARED_FIXTURES / f).is_dir()]
    if missing and _in_ci():
        pytest.exit(_missing(missing[0]), returncode=1)


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


# --- a real SMTP server on loopback (aiosmtpd), for delivery tests -------------------------------------------------

class SmtpInbox:
    """An aiosmtpd handler that keeps what it accepted. `refuse_rcpt` answers RCPT and `refuse_data` answers DATA
    with that reply instead (both may be changed while the server runs)."""

    def __init__(self, refuse_rcpt: str | None = None) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []  # (MAIL FROM, RCPT TOs, raw message)
        self.refuse_rcpt = refuse_rcpt
        self.refuse_data: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.refuse_data:
            return self.refuse_data
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy) for _, _, raw in self.received]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_smtp(handler: SmtpInbox, **kwargs: Any) -> Iterator[tuple[SmtpInbox, int]]:
    """Run `handler` on a free loopback port for the duration of a fixture; yields (handler, port)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    yield from serve_smtp(SmtpInbox())
