"""The editor console's Flask application: `create_app(settings, engine=None)`.

Flask because the rest of litwatch is already Jinja2 + SQLAlchemy + plain functions: the console is a thin,
synchronous face over them (a run is a thread, like the scheduler's), served by waitress (pure Python, production
grade, no compiler needed). Pages are server-rendered templates with plain HTML forms; the only script is one
static file that polls a run's progress, so the Content-Security-Policy forbids inline script entirely.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, session, url_for
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from litwatch.storage import console
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade

from ..config import Settings
from .auth import CSRF_FIELD, CookieSessions, SignInThrottle, csrf_ok, csrf_token
from .runs import RunManager

log = logging.getLogger(__name__)

SECRET_FILE = "console-secret-key"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# A digest's own HTML (opened from /digests) is e-mail HTML with inline styles: it may style itself, never script.
DIGEST_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; " \
             "form-action 'none'; frame-ancestors 'none'"
OPEN_ENDPOINTS = {"views.login", "static"}


def secret_key(settings: Settings) -> str:
    """`LITWATCH_WEB__SECRET_KEY`, else a random key made once and kept in <data_dir> readable by its owner only
    (so sessions survive a restart). Never logged."""
    if settings.web.secret_key:
        return settings.web.secret_key
    path = settings.resolve(settings.storage.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


def create_app(settings: Settings, engine: Engine | None = None, *,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    app = Flask(__name__, static_folder="static", template_folder="templates")
    engine = engine or make_engine(settings.database_url)
    upgrade(engine)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="litwatch_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=64 * 1024,  # forms are small; a huge body is refused before it is read
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.session_interface = CookieSessions()
    app.jinja_env.autoescape = True  # every template, whatever its name: record text is data, never markup
    if settings.web.proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web.proxies,  # type: ignore[method-assign]
                                x_proto=settings.web.proxies, x_host=settings.web.proxies)
    app.extensions["litwatch"] = {
        "settings": settings, "engine": engine, "runs": RunManager(settings, engine),
        "throttle": SignInThrottle(clock),
    }
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=CSRF_FIELD, reasons=console.DISMISS_REASONS,
                                 status_labels=console.STATUS_LABELS)
    app.jinja_env.filters["when"] = _when
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.after_request(_security_headers)

    from .views import views

    app.register_blueprint(views)
    return app


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def ext(name: str) -> Any:
    from flask import current_app

    return current_app.extensions["litwatch"][name]


def _load_user() -> Response | None:
    """Who is asking: a session whose user still exists with the same password, or an API bearer token. Anyone
    else gets the sign-in page (HTML) or 401 (JSON) for everything but the sign-in page and static files."""
    g.user = None
    engine: Engine = ext("engine")
    bearer = request.headers.get("Authorization", "")
    with session_scope(engine, readonly=True) as s:
        if bearer.startswith("Bearer ") and request.path.startswith("/api/"):
            g.user = console.user_by_token(s, bearer[7:].strip())
            g.via_token = g.user is not None
        elif "user" in session:
            stamped = console.user_with_stamp(s, str(session["user"]))
            if stamped is not None and hmac.compare_digest(str(session.get("pw", "")), stamped[1]):
                g.user = stamped[0]
            else:  # removed, or the password changed since: the session ends
                session.clear()
    if g.user is not None or request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.path.startswith("/api/"):
        return _json_error(401, "sign in, or send an API token as 'Authorization: Bearer …'")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("views.login", next=target))


def _check_csrf() -> Response | None:
    """Every POST carries the session's CSRF token (token-authenticated API calls are GET only)."""
    if request.method == "POST" and not csrf_ok():
        return Response("The form was stale or not sent by this site (CSRF token missing or wrong): reload the "
                        "page and try again.\n", status=400, mimetype="text/plain")
    return None


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _security_headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Frame-Options"] = "DENY"
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "static":
        h["Cache-Control"] = "no-store"  # pages and JSON carry data: never kept by a browser or proxy
    if request.is_secure:
        h["Strict-Transport-Security"] = "max-age=31536000"
    return response


def digest_file(paths: dict[str, str]) -> Path | None:
    html = paths.get("html")
    return Path(html) if html and Path(html).is_file() else None
