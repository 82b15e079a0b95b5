"""Screenshots of the editor console's pages at phone and desktop width, into docs/screenshots/console-*.png.

    .venv/bin/python docs/console_screenshots.py [--out docs/screenshots]

Builds a throw-away database in a temp folder (one fetch run against the replay server over the bundled demo
records, a writer's decision), serves the console with waitress on a free loopback port and drives Debian's
/usr/bin/chromium with Playwright. Offline; not part of the test suite: look at the PNGs.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"login": "/login", "dashboard": "/", "items": "/items?article=stem-cell-lbp&verdict=update",
         "runs": "/runs", "digests": "/digests", "users": "/users"}
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}
PASSWORD = "screenshots-only"


def _settings(folder: Path, base_url: str):  # type: ignore[no-untyped-def]
    from litwatch.pipeline.config import load_settings

    cfg = folder / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "docs@example.org"\n'
        f'[storage]\nurl = "sqlite:///{folder}/console.sqlite"\ndata_dir = "{folder}"\n'
        f'[paths]\nqueries = "{ROOT / "queries"}"\n[digest]\nout_dir = "{folder}/digests"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n", encoding="utf-8")
    return load_settings(cfg, env={"NCBI_API_KEY": "docs-0000"})


def _fill(settings) -> None:  # type: ignore[no-untyped-def]
    from litwatch.pipeline.digest_run import DigestRequest, make_digests
    from litwatch.pipeline.runner import Runner, RunRequest
    from litwatch.storage import console
    from litwatch.storage.engine import make_engine, session_scope

    Runner(settings.with_overrides(ncbi={"requests_per_second": 50.0})).run(
        RunRequest(trigger="cron", since=datetime(2000, 1, 1, tzinfo=UTC).date()))
    make_digests(settings, DigestRequest(all_time=True))
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        now = datetime.now(UTC)
        for name, role in (("ada", "admin"), ("ed", "editor"), ("wri", "writer")):
            console.add_user(s, name, role, PASSWORD, now)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    from waitress import create_server

    from litwatch.pipeline.demo import demo_record_files
    from litwatch.pipeline.replay import Corpus, ReplayServer
    from litwatch.pipeline.web import create_app

    with tempfile.TemporaryDirectory() as tmp, ReplayServer(
            Corpus.from_files(demo_record_files()), rate_limit=None, api_key_rate_limit=None) as replay:
        settings = _settings(Path(tmp), replay.base_url)
        _fill(settings)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = create_server(create_app(settings), host="127.0.0.1", port=port)
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            for width_name, (w, h) in WIDTHS.items():
                page = browser.new_context(viewport={"width": w, "height": h}).new_page()
                page.goto(base + "/login")
                page.screenshot(path=args.out / f"console-login-{width_name}.png")
                page.get_by_label("Username").fill("ada")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(base + "/")
                for name, path in PAGES.items():
                    if name != "login":
                        page.goto(base + path)
                        page.screenshot(path=args.out / f"console-{name}-{width_name}.png", full_page=True)
            browser.close()
        server.close()


if __name__ == "__main__":
    main()
