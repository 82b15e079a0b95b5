"""Items, decisions and their audit trail; decisions feeding the digest; `litwatch user` and `items export`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from flask import Flask

from litwatch.pipeline.digest_run import DigestRequest, make_digest
from litwatch.storage import console
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import REPO
from tests.pipeline.web.conftest import HOSTILE, SignIn, csrf_of, store_hostile_record


def _decide(client, pmid: str, status: str, **extra: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_of(client, "/items"), "article": "stem-cell-lbp", "pmid": pmid, "status": status,
            "back": "/items", **extra}
    return client.post("/items/decide", data=data)


def test_hostile_title_is_text_on_the_items_page_and_in_json(app: Flask, sign_in: SignIn) -> None:
    pmid = store_hostile_record(app.extensions["litwatch"]["settings"])
    client = sign_in("wri")
    page = client.get("/items").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page or "&lt;script&gt;" in page
    item = next(i for i in client.get("/api/items").get_json() if i["pmid"] == pmid)
    assert item["title"].startswith('<script>alert("x")')  # JSON carries the text as it is: data, not markup
    assert item["status"] == "open" and item["verdict"] == "update"


def test_dismiss_needs_a_reason_and_every_decision_is_kept_with_who_when_from_to(app: Flask,
                                                                                sign_in: SignIn) -> None:
    pmid = store_hostile_record(app.extensions["litwatch"]["settings"])
    writer = sign_in("wri")
    _decide(writer, pmid, "dismissed")  # no reason: refused, said on the page
    assert "dismissing needs a reason" in writer.get("/items").get_data(as_text=True)
    assert _decide(writer, pmid, "dismissed", reason="preclinical", note="rats").status_code == 302
    editor = sign_in("ed")
    assert _decide(editor, pmid, "reviewed").status_code == 302  # a decision can be changed later
    page = editor.get("/items?status=reviewed").get_data(as_text=True)
    assert "Reviewed by ed on" in page
    assert pmid not in editor.get("/items?status=dismissed").get_data(as_text=True)
    engine = make_engine(app.extensions["litwatch"]["settings"].database_url)
    with session_scope(engine) as s:
        trail = [(d.user, d.from_status, d.status, d.reason, d.note) for d in console.decision_history(s)]
    engine.dispose()
    assert trail == [("wri", "open", "dismissed", "preclinical", "rats"), ("ed", "dismissed", "reviewed", None, "")]


def test_unknown_article_or_record_is_refused(sign_in: SignIn) -> None:
    client = sign_in("wri")
    r = client.post("/items/decide", data={"csrf_token": csrf_of(client, "/items"), "article": "nope",
                                           "pmid": "1", "status": "reviewed"})
    assert r.status_code == 400
    assert _decide(client, "424242", "reviewed").status_code == 404


def test_dismissed_item_leaves_the_digest_action_list_and_open_ones_stay_still_open(app: Flask,
                                                                                    sign_in: SignIn) -> None:
    settings = app.extensions["litwatch"]["settings"]
    pmid = store_hostile_record(settings)
    before = make_digest(settings, DigestRequest(dry_run=True, article="stem-cell-lbp"))
    assert pmid in {i.pmid for i in before.digest.action_needed}
    assert before.digest.item_status[pmid] == "open"
    _decide(sign_in("wri"), pmid, "dismissed", reason="off-topic")
    after = make_digest(settings, DigestRequest(dry_run=True, article="stem-cell-lbp"))
    assert pmid not in {i.pmid for i in after.digest.action_needed}
    assert after.digest.item_status[pmid] == "dismissed"


def test_open_action_items_of_earlier_periods_are_still_open(app: Flask, sign_in: SignIn) -> None:
    from datetime import UTC, datetime, timedelta

    settings = app.extensions["litwatch"]["settings"]
    pmid = store_hostile_record(settings)
    later = DigestRequest(dry_run=True, article="stem-cell-lbp", since=datetime.now(UTC) + timedelta(seconds=1),
                          until=datetime.now(UTC) + timedelta(days=1))
    digest = make_digest(settings, later).digest
    assert [i.pmid for i in digest.still_open] == [pmid] and digest.item_status[pmid] == "open"
    _decide(sign_in("wri"), pmid, "article-updated")
    assert make_digest(settings, later).digest.still_open == ()


def _cli(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "litwatch.pipeline.cli", "--config", settings.source, *args],
                          input=stdin, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_user_commands_read_the_password_from_stdin_and_manage_users(app: Flask, sign_in: SignIn) -> None:
    settings = app.extensions["litwatch"]["settings"]
    done = _cli(settings, "user", "add", "new", "--role", "writer", stdin="s3cret-password\n")
    assert done.returncode == 0, done.stderr
    sign_in("new", "s3cret-password")
    assert _cli(settings, "user", "add", "new", "--role", "writer", stdin="another-pw\n").returncode == 1
    assert _cli(settings, "user", "add", "short", "--role", "writer", stdin="x\n").returncode == 2
    listed = _cli(settings, "user", "list").stdout
    assert "new" in listed and "writer" in listed and "s3cret" not in listed
    assert _cli(settings, "user", "passwd", "new", stdin="changed-password\n").returncode == 0
    sign_in("new", "changed-password")
    token = _cli(settings, "user", "token", "new").stdout.strip()
    assert app.test_client().get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert _cli(settings, "user", "remove", "new").returncode == 0
    assert "new " not in _cli(settings, "user", "list").stdout


def test_items_export_csv_and_json(app: Flask, sign_in: SignIn) -> None:
    settings = app.extensions["litwatch"]["settings"]
    pmid = store_hostile_record(settings)
    _decide(sign_in("wri"), pmid, "dismissed", reason="duplicate", note='a "quoted", note')
    rows = list(csv.DictReader(io.StringIO(_cli(settings, "items", "export").stdout)))
    assert [(r["pmid"], r["from"], r["to"], r["reason"], r["verdict"], r["user"]) for r in rows] == [
        (pmid, "open", "dismissed", "duplicate", "update", "wri")]
    assert rows[0]["title"] == HOSTILE and rows[0]["note"] == 'a "quoted", note'
    lines = _cli(settings, "items", "export", "--format", "json").stdout.splitlines()
    assert json.loads(lines[0])["to"] == "dismissed"


@pytest.mark.parametrize("password", ["", "short"])
def test_web_admin_cannot_add_a_user_with_a_short_password(sign_in: SignIn, password: str) -> None:
    admin = sign_in("ada")
    admin.post("/users/add", data={"csrf_token": csrf_of(admin, "/users"), "name": "weak", "role": "writer",
                                   "password": password})
    assert "weak" not in admin.get("/users").get_data(as_text=True).split("Add a user")[0]


def test_serve_binds_loopback_by_default() -> None:
    from litwatch.pipeline.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
