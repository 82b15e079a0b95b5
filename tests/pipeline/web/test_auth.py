"""The console's sign-in, roles, CSRF, headers, redirects, throttle and API tokens, through Flask's test client
against the real app and a real SQLite database."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

import pytest
from flask import Flask

from litwatch.pipeline.web.app import CSP, SECRET_FILE, secret_key
from litwatch.pipeline.web.auth import safe_next
from litwatch.storage import console
from litwatch.storage.engine import make_engine, session_scope
from tests.pipeline.web.conftest import PASSWORD, Clock, SignIn, csrf_of


def test_login_page_has_the_labelled_fields_and_button(app: Flask) -> None:
    page = app.test_client().get("/login").get_data(as_text=True)
    assert '<label for="username">Username</label>' in page
    assert '<label for="password">Password</label>' in page
    assert '<button type="submit">Sign in</button>' in page


def test_sign_in_then_the_dashboard_opens(sign_in: SignIn) -> None:
    client = sign_in("ed")
    response = client.get("/")
    assert response.status_code == 200
    assert "Run now" in response.get_data(as_text=True)


@pytest.mark.parametrize("name, password", [("ed", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_username_or_password_says_neither(app: Flask, name: str, password: str) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_of(client)})
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still not signed in


def test_session_cookie_is_httponly_and_lax_and_secure_only_over_https(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client)
    plain = client.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token})
    cookie = plain.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    tls = app.test_client()
    token = csrf_of(tls)
    secure = tls.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token},
                      base_url="https://localhost")
    assert "Secure" in secure.headers["Set-Cookie"]


def test_behind_a_trusted_proxy_x_forwarded_proto_makes_the_cookie_secure(tmp_path, clock: Clock) -> None:
    from tests.pipeline.web.conftest import add_users, console_settings

    settings = console_settings(tmp_path, proxies=1)
    add_users(settings)
    client = create(settings, clock).test_client()
    token = csrf_of(client)
    r = client.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token},
                    headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["Set-Cookie"]


def create(settings, clock):  # type: ignore[no-untyped-def]
    from litwatch.pipeline.web import create_app

    return create_app(settings, clock=clock)


@pytest.mark.parametrize("path", ["/", "/items", "/runs", "/digests", "/users", "/items?status=open"])
def test_pages_redirect_to_login_with_next_when_signed_out(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/api/items", "/api/runs", "/api/run"])
def test_api_without_sign_in_is_401_json(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 401
    assert response.is_json and "error" in response.get_json()


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "/%0d%0aSet-Cookie:x", "evil.example", "\\\\evil"])
def test_next_never_leaves_the_site(app: Flask, target: str) -> None:
    client = app.test_client()
    token = csrf_of(client)
    r = client.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token, "next": target})
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "evil" not in location.split("?")[0][:2]
    assert safe_next(target) in ("/", target) and not safe_next(target).startswith("//")


def test_next_local_path_is_kept(app: Flask) -> None:
    client = app.test_client()
    token = csrf_of(client)
    r = client.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token,
                                    "next": "/items?status=open"})
    assert r.headers["Location"] == "/items?status=open"


def test_post_without_or_with_a_wrong_csrf_token_is_refused(sign_in: SignIn) -> None:
    client = sign_in("ed")
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post("/run", data=data)
        assert r.status_code == 400
        assert "CSRF" in r.get_data(as_text=True)
    no_token_login = client.post("/login", data={"username": "ed", "password": PASSWORD})
    assert no_token_login.status_code == 400


def test_security_headers_on_every_response(app: Flask, sign_in: SignIn) -> None:
    client = sign_in("ed")
    for path in ("/login", "/", "/items", "/api/runs", "/static/console.css"):
        h = client.get(path).headers
        assert h["Content-Security-Policy"] == CSP, path
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "no-referrer"
        if not path.startswith("/static"):
            assert h["Cache-Control"] == "no-store", path


def test_failed_sign_ins_are_slowed_per_user_and_address(app: Flask, clock: Clock) -> None:
    client = app.test_client()

    def attempt(password: str, addr: str = "10.0.0.1", name: str = "ed") -> int:
        token = csrf_of(client)
        return client.post("/login", data={"username": name, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": addr}).status_code

    assert [attempt("bad") for _ in range(3)] == [401, 401, 401]
    assert attempt(PASSWORD) == 429  # refused without checking: even the right password waits
    assert attempt(PASSWORD, addr="10.0.0.2") == 302  # another address is not locked out by this one
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert attempt(PASSWORD, name="wri") == 302  # another user from the same address is not either
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    clock.now += 3  # the lockout after the third failure is 2 s
    assert attempt(PASSWORD) == 302


def test_roles_writer_cannot_run_or_manage_users(sign_in: SignIn) -> None:
    writer = sign_in("wri")
    assert "Run now" not in writer.get("/").get_data(as_text=True)
    assert writer.post("/run", data={"csrf_token": csrf_of(writer, "/")}).status_code == 403
    assert writer.get("/users").status_code == 403
    token = csrf_of(writer, "/")
    r = writer.post("/users/add", data={"csrf_token": token, "name": "mallory", "role": "admin",
                                        "password": "whatever123"})
    assert r.status_code == 403
    editor = sign_in("ed")
    assert editor.get("/users").status_code == 403
    admin = sign_in("ada")
    assert admin.get("/users").status_code == 200
    r = admin.post("/users/add", data={"csrf_token": csrf_of(admin, "/users"), "name": "newbie", "role": "writer",
                                       "password": "long enough"})
    assert r.status_code == 302 and "newbie" in admin.get("/users").get_data(as_text=True)


def test_api_token_opens_the_api_and_nothing_else(app: Flask) -> None:
    settings = app.extensions["litwatch"]["settings"]
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        token = console.new_token(s, "wri", datetime.now(UTC))
    engine.dispose()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/runs", headers=auth).status_code == 200
    assert client.get("/api/items", headers=auth).status_code == 200
    assert client.get("/api/runs", headers={"Authorization": "Bearer lw_wrong"}).status_code == 401
    assert client.get("/", headers=auth).status_code == 302  # a token is for scripts, not for the pages


def test_changing_the_password_ends_existing_sessions(app: Flask, sign_in: SignIn) -> None:
    client = sign_in("ed")
    assert client.get("/").status_code == 200
    engine = make_engine(app.extensions["litwatch"]["settings"].database_url)
    with session_scope(engine) as s:
        console.set_password(s, "ed", "a new password")
    engine.dispose()
    assert client.get("/").status_code == 302


def test_generated_secret_key_is_kept_owner_only_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.pipeline.web.conftest import console_settings

    settings = console_settings(tmp_path)
    first = secret_key(settings)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key(settings) == first and len(first) >= 48
    assert secret_key(settings.with_overrides(web={"secret_key": "from-env"})) == "from-env"
