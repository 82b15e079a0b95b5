"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium) against the app under
waitress on a free loopback port, over a temp SQLite database, with "Run now" fetching from the replay server.

Chromium missing: these tests skip with the reason outside CI and fail under CI=true (the set-up installs it:
`make test` / `.ci/run` run `apt-get install -y chromium` when /usr/bin/chromium is missing)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from litwatch.pipeline.config import Settings
from litwatch.pipeline.digest_run import DigestRequest, make_digest
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.web import create_app
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import DOMAIN_RECORDS, _in_ci, free_port
from tests.pipeline.web.conftest import HOSTILE, PASSWORD, add_users, console_settings, store_hostile_record

CHROMIUM = Path(os.environ.get("LITWATCH_CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.slow


def _need_chromium() -> None:
    why = f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does it when it can)"
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(why)
        pytest.skip(why)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")


@dataclass
class Console:
    url: str
    settings: Settings
    pmid: str  # the hostile record


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    _need_chromium()
    from waitress import create_server

    tmp = tmp_path_factory.mktemp("console")
    # latency: a run takes a few seconds, long enough for a second "Run now" to meet the first one running
    replay = ReplayServer(Corpus.from_dir(DOMAIN_RECORDS.parent), rate_limit=None, api_key_rate_limit=None,
                          latency=0.4).start()
    settings = console_settings(tmp, base_url=replay.base_url)
    add_users(settings)
    pmid = store_hostile_record(settings)
    app = create_app(settings)
    server = create_server(app, host="127.0.0.1", port=free_port(), threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Console(f"http://127.0.0.1:{server.effective_port}", settings, pmid)
    finally:
        app.extensions["litwatch"]["runs"].join(timeout=120)
        server.close()
        replay.stop()


@pytest.fixture(scope="module")
def browser(live: Console) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield page
    assert dialogs == [], "a script ran from record data"
    context.close()


def sign_in(page: Any, live: Console, name: str, password: str = PASSWORD, path: str = "/") -> None:
    page.goto(live.url + path)
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_page_opened_without_signing_in_lands_on_login_and_returns_after(page: Any, live: Console) -> None:
    page.goto(live.url + "/runs")
    assert page.url == live.url + "/login?next=/runs"
    sign_in(page, live, "wri", path="/login?next=/runs")
    page.wait_for_url(live.url + "/runs")
    assert page.get_by_role("heading", name="Runs").is_visible()


def test_wrong_password_is_refused(page: Any, live: Console) -> None:
    sign_in(page, live, "ed", "not the password")
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert "/login" in page.url


def test_run_now_runs_once_and_the_run_appears_with_its_counts(page: Any, live: Console) -> None:
    sign_in(page, live, "ed")
    page.get_by_role("button", name="Run now").click()
    assert page.get_by_role("status").first.inner_text() == "Run started."
    assert page.locator("#run-state").inner_text().startswith("running")
    page.get_by_role("button", name="Run now").click()  # the first is still fetching from the slow server
    assert page.get_by_role("status").first.inner_text() == "A run is already running: no second run was started."
    # progress.js polls and reloads the page when the run ends; the run is then in "Last runs" with its counts
    page.locator("#run-state", has_text="success").wait_for(timeout=120_000)
    row = page.locator("table.runs tr.run-success", has_text="console").first
    assert "found" in row.inner_text() and "new" in row.inner_text()
    engine = make_engine(live.settings.database_url)
    with session_scope(engine, readonly=True) as s:
        console_runs = [r for r in repository.list_runs(s, limit=50) if r.trigger == "console"]
    engine.dispose()
    assert len(console_runs) == 1 and console_runs[0].status == "success" and console_runs[0].counts.found > 0


def test_a_hostile_record_title_renders_as_text(page: Any, live: Console) -> None:
    sign_in(page, live, "wri", path="/login?next=/items%3Farticle%3Dstem-cell-lbp")
    card = page.locator(f"article[data-pmid='{live.pmid}']")
    assert card.locator("h2.title").inner_text() == HOSTILE  # shown as the characters it is made of
    assert card.locator("script, img").count() == 0  # (and the page fixture saw no alert dialog)


def test_an_item_dismissed_with_a_reason_leaves_the_next_digest_action_list(page: Any, live: Console) -> None:
    action = make_digest(live.settings, DigestRequest(dry_run=True)).digest.action_needed
    assert action, "the run against the replay server found no action item"
    pmid = action[0].pmid
    sign_in(page, live, "wri", path="/login?next=/items%3Farticle%3Dstem-cell-lbp")
    card = page.locator(f"article[data-pmid='{pmid}']")
    card.get_by_label("Reason").select_option("preclinical")
    card.get_by_label("Note", exact=True).fill("rat model")
    card.get_by_role("button", name="Dismiss").click()
    card = page.locator(f"article[data-pmid='{pmid}']")
    assert "Dismissed by wri" in card.locator(".decided").inner_text()
    after = make_digest(live.settings, DigestRequest(dry_run=True)).digest
    assert pmid not in {i.pmid for i in after.action_needed}
    assert after.item_status[pmid] == "dismissed"


def test_a_writer_cannot_run_or_manage_users(page: Any, live: Console) -> None:
    sign_in(page, live, "wri")
    page.wait_for_url(live.url + "/")
    assert page.get_by_role("button", name="Run now").count() == 0
    assert page.get_by_role("link", name="Users").count() == 0
    response = page.goto(live.url + "/users")
    assert response.status == 403


def test_a_post_without_the_csrf_token_is_refused(page: Any, live: Console) -> None:
    sign_in(page, live, "ed")
    page.wait_for_url(live.url + "/")
    page.eval_on_selector("#runbox input[name=csrf_token]", "e => e.remove()")
    with page.expect_response(lambda r: r.url.endswith("/run")) as caught:
        page.get_by_role("button", name="Run now").click()
    assert caught.value.status == 400
    assert "CSRF" in page.content()
