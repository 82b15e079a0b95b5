"""The console under test: real settings over a temp SQLite database (the bundled low-back-pain article), users
of each role, and a Flask test client that signs in through the real form (CSRF token included)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.web import create_app
from litwatch.storage import console
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from tests.conftest import lbp_only_queries

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(tmp_path: Path, base_url: str = "http://127.0.0.1:9/", **web: Any) -> Settings:
    """Test settings: nothing here reaches the network ([registry] and [crossref] off; NCBI is the replay
    server, or a closed port)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = 7\n'
        "backoff_base = 0.001\nmax_attempts = 2\n"
        f'[storage]\nurl = "sqlite:///{tmp_path}/console.sqlite"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{lbp_only_queries()}"\n'
        f'[digest]\nout_dir = "{tmp_path}/digests"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n",
        encoding="utf-8",
    )
    settings = load_settings(cfg, env={"NCBI_API_KEY": "test-key-0000"})
    return settings.with_overrides(web=web) if web else settings


def add_users(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine) as s:
        for name, role in (("ada", "admin"), ("ed", "editor"), ("wri", "writer")):
            console.add_user(s, name, role, PASSWORD, datetime.now(UTC))
    engine.dispose()


class Clock:
    """The throttle's clock, moved by hand: no test sleeps or measures time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = console_settings(tmp_path)
    add_users(s)
    return s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[Flask]:
    app = create_app(settings, clock=clock)
    yield app
    app.extensions["litwatch"]["runs"].join(timeout=60)
    app.extensions["litwatch"]["engine"].dispose()


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    m = CSRF.search(page)
    assert m, f"no CSRF token on {path}"
    return m[1]


SignIn = Callable[..., FlaskClient]


@pytest.fixture
def sign_in(app: Flask) -> SignIn:
    def sign(name: str = "ed", password: str = PASSWORD, client: FlaskClient | None = None) -> FlaskClient:
        client = client or app.test_client()
        response = client.post("/login", data={"username": name, "password": password,
                                               "csrf_token": csrf_of(client)})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return sign


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> Mesenchymal stem cells for discogenic back pain'


def store_hostile_record(settings: Settings, pmid: str = "99999001") -> str:
    """A stored record whose title is markup, found by the article's first saved search and judged `update`."""
    from dataclasses import replace

    from litwatch.pipeline.watchlist import load_watchlist
    from litwatch.storage import repository
    from tests.storage.conftest import article, assessment

    query_id = load_watchlist(settings.queries_dir)[0].queries[0].id
    engine = make_engine(settings.database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        repository.upsert_articles(s, [article(pmid, title=HOSTILE)], now)
        run_id = repository.start_run(s, kind="fetch", trigger="manual", window_start=None, window_end=None,
                                      started_at=now)
        repository.record_hits(s, run_id, query_id, [pmid])
        stored = repository.get_article(s, pmid)
        assert stored is not None
        repository.save_assessment(s, replace(assessment(pmid, "update"), content_hash=stored.content_hash), now)
        repository.finish_run(s, run_id, status="success", finished_at=now, error=None, warnings=[])
    engine.dispose()
    return pmid
