"""Sign-in, roles, CSRF and the sign-in throttle of the editor console.

- Sessions: Flask's signed cookie (HttpOnly, SameSite=Lax, Secure whenever the request came over https — directly
  or, with `[web] proxies`, as the proxy's X-Forwarded-Proto says). It holds the user's name, the CSRF token and a
  fingerprint of the password hash: changing a password or removing a user ends their sessions at once.
- CSRF: one random token per session, in a hidden field of every form, compared with `hmac.compare_digest` before
  any POST is handled (our own 20 lines rather than Flask-WTF: one dependency less, and nothing else needs WTForms).
- Throttle: in memory, per process (a restart forgets it; with several worker processes each keeps its own count).
  After `FREE_FAILURES` failed sign-ins for one (user, address) pair — or `ADDRESS_FAILURES` from one address for
  any names — further attempts are refused without checking the password for 2^k seconds (capped at 15 min).
  Keyed by the pair, so nobody can lock a colleague out from elsewhere by mistyping their name.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, g, request, session
from flask.sessions import SecureCookieSessionInterface

from litwatch.storage.console import User

CSRF_FIELD = "csrf_token"
FREE_FAILURES = 3
ADDRESS_FAILURES = 20
MAX_LOCKOUT_S = 900.0

F = TypeVar("F", bound=Callable[..., Any])


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with the Secure flag decided per request: set whenever the browser reached
    us over https, so the cookie is never sent back in clear, while plain http on 127.0.0.1 still works."""

    def get_cookie_secure(self, app: Any) -> bool:
        return bool(request.is_secure)


# ---- CSRF --------------------------------------------------------------------------------------------------

def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok() -> bool:
    sent = request.form.get(CSRF_FIELD, "") or request.headers.get("X-CSRF-Token", "")
    want = session.get("csrf", "")
    return bool(sent) and bool(want) and hmac.compare_digest(str(sent), str(want))


# ---- where to go after signing in ----------------------------------------------------------------------------

def safe_next(target: str | None) -> str:
    """A local path to go to after signing in, or "/": never another site (`//evil`, `https://evil`, `/\\evil`,
    control characters), so the sign-in page cannot be used to send someone elsewhere."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 32 or c == "\\" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# ---- roles -------------------------------------------------------------------------------------------------

def current_user() -> User | None:
    return getattr(g, "user", None)


def require_role(role: str) -> Callable[[F], F]:
    """A view only users with `role`'s rights may use: 403 otherwise (they are signed in: a redirect would loop)."""
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or not user.can(role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped  # type: ignore[return-value]
    return decorate


# ---- throttle ------------------------------------------------------------------------------------------------

@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0


class SignInThrottle:
    """Failed sign-ins per (user, address) and per address; `clock` is injected so tests need no sleeping."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Failures] = {}
        self._addresses: dict[str, _Failures] = {}

    def wait_seconds(self, name: str, address: str) -> float:
        """0 when an attempt may be checked now, else how long until it may."""
        now = self.clock()
        with self._lock:
            until = max(self._pairs.get((name.lower(), address), _Failures()).blocked_until,
                        self._addresses.get(address, _Failures()).blocked_until)
        return max(0.0, until - now)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            self._bump(self._pairs.setdefault((name.lower(), address), _Failures()), FREE_FAILURES, now)
            self._bump(self._addresses.setdefault(address, _Failures()), ADDRESS_FAILURES, now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((name.lower(), address), None)

    @staticmethod
    def _bump(f: _Failures, free: int, now: float) -> None:
        f.count += 1
        if f.count >= free:
            f.blocked_until = now + min(MAX_LOCKOUT_S, 2.0 ** (f.count - free + 1))
