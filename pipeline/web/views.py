"""The console's pages and JSON endpoints. Every view reads through storage in one short session; writes are
the decisions (append-only), users (admins) and starting a run (editors)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)

from litwatch.storage import console, repository
from litwatch.storage.engine import session_scope

from ..status import collect_status
from ..watchlist import load_watchlist
from .app import DIGEST_CSP, digest_file, ext
from .auth import current_user, require_role, safe_next
from .data import VERDICTS, ItemFilter, console_items

views = Blueprint("views", __name__)

WRONG = "Wrong username or password."


def _now() -> datetime:
    return datetime.now(UTC)


def _address() -> str:
    return request.remote_addr or "unknown"


# ---- sign-in -----------------------------------------------------------------------------------------------

@views.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html.j2", next=target, error=None)
    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    throttle = ext("throttle")
    wait = throttle.wait_seconds(name, _address())
    if wait > 0:  # refused without checking the password: guessing gets no faster by trying harder
        return render_template("login.html.j2", next=target,
                               error=f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds."), 429
    with session_scope(ext("engine"), readonly=True) as s:
        user = console.authenticate(s, name, password) if name and password else None
        stamped = console.user_with_stamp(s, user.name) if user else None
    if user is None or stamped is None:
        throttle.failed(name, _address())
        return render_template("login.html.j2", next=target, error=WRONG), 401
    throttle.succeeded(name, _address())
    session.clear()  # a fresh session (and CSRF token) for the signed-in user: nothing carried over from before
    session.permanent = True
    session["user"], session["pw"] = user.name, stamped[1]
    return redirect(target)


@views.route("/logout", methods=["POST"])
def logout() -> Any:
    session.clear()
    return redirect(url_for("views.login"))


# ---- dashboard and runs --------------------------------------------------------------------------------------

@views.route("/")
def dashboard() -> Any:
    settings, engine = ext("settings"), ext("engine")
    status = collect_status(settings, engine)
    articles = load_watchlist(settings.queries_dir)
    with session_scope(engine, readonly=True) as s:
        items = console_items(s, articles, ItemFilter(), _now())
        runs = repository.list_runs(s, limit=5)
    open_actions = {a.slug: sum(1 for i in items if i.article == a.slug and i.action and i.status == "open")
                    for a in articles}
    return render_template("dashboard.html.j2", status=status, runs=runs, articles=articles,
                           open_actions=open_actions, run=ext("runs").state())


@views.route("/run", methods=["POST"])
@require_role("editor")
def run_now() -> Any:
    user = current_user()
    assert user is not None
    if ext("runs").start(user.name):
        flash("Run started.")
    else:
        flash("A run is already running: no second run was started.")
    return redirect(url_for("views.dashboard"))


@views.route("/api/run")
def run_state() -> Any:
    return jsonify(ext("runs").state().to_dict())


@views.route("/runs")
def runs_page() -> Any:
    with session_scope(ext("engine"), readonly=True) as s:
        runs = repository.list_runs(s, limit=100)
    return render_template("runs.html.j2", runs=runs)


@views.route("/api/runs")
def runs_json() -> Any:
    from litwatch.storage.records import to_jsonable

    limit = min(max(_int(request.args.get("limit"), 20), 1), 500)
    with session_scope(ext("engine"), readonly=True) as s:
        runs = repository.list_runs(s, limit=limit)
    return jsonify([{**to_jsonable(r), "duration_s": r.duration_s} for r in runs])


# ---- items and decisions -------------------------------------------------------------------------------------

def _filter() -> ItemFilter:
    args = request.args
    status = args.get("status") or None
    verdict = args.get("verdict") or None
    since = None
    if args.get("since"):
        try:
            since = date.fromisoformat(args["since"])
        except ValueError:
            abort(400)
    if status is not None and status not in console.STATUSES or verdict is not None and verdict not in VERDICTS:
        abort(400)
    return ItemFilter(article=args.get("article") or None, verdict=verdict, status=status, since=since)


@views.route("/items")
def items_page() -> Any:
    settings = ext("settings")
    wanted = _filter()
    articles = load_watchlist(settings.queries_dir)
    with session_scope(ext("engine"), readonly=True) as s:
        items = console_items(s, articles, wanted, _now())
    return render_template("items.html.j2", items=items[:200], total=len(items), articles=articles,
                           wanted=wanted, verdicts=VERDICTS, statuses=console.STATUSES, back=request.full_path)


@views.route("/api/items")
def items_json() -> Any:
    articles = load_watchlist(ext("settings").queries_dir)
    with session_scope(ext("engine"), readonly=True) as s:
        items = console_items(s, articles, _filter(), _now())
    return jsonify([i.to_dict() for i in items])


@views.route("/items/decide", methods=["POST"])
def decide() -> Any:
    user = current_user()
    assert user is not None
    form = request.form
    slugs = {a.slug for a in load_watchlist(ext("settings").queries_dir)}
    if form.get("article") not in slugs or not form.get("pmid", "").isdigit():
        abort(400)
    try:
        with session_scope(ext("engine")) as s:
            if repository.get_article(s, form["pmid"]) is None:
                abort(404)
            console.record_decision(s, article=form["article"], pmid=form["pmid"], status=form.get("status", ""),
                                    user=user.name, at=_now(), reason=form.get("reason") or None,
                                    note=form.get("note", ""))
    except console.ConsoleError as exc:
        flash(str(exc))
    return redirect(safe_next(form.get("back")))


# ---- digests -------------------------------------------------------------------------------------------------

@views.route("/digests")
def digests_page() -> Any:
    with session_scope(ext("engine"), readonly=True) as s:
        digests = console.list_digests(s)
    return render_template("digests.html.j2", digests=digests, has_html=lambda d: digest_file(d.paths) is not None)


@views.route("/digests/<int:digest_id>")
def digest_html(digest_id: int) -> Any:
    with session_scope(ext("engine"), readonly=True) as s:
        record = console.get_digest(s, digest_id)
    path = digest_file(record.paths) if record else None
    if path is None:
        abort(404)
    response: Response = send_file(path, mimetype="text/html", max_age=0)
    response.headers["Content-Security-Policy"] = DIGEST_CSP  # its own inline styles; never a script
    return response


# ---- users (admins) ------------------------------------------------------------------------------------------

@views.route("/users")
@require_role("admin")
def users_page() -> Any:
    with session_scope(ext("engine"), readonly=True) as s:
        users = console.list_users(s)
    return render_template("users.html.j2", users=users, roles=console.ROLES)


@views.route("/users/add", methods=["POST"])
@require_role("admin")
def users_add() -> Any:
    form = request.form
    if len(form.get("password", "")) < 8:
        flash("The password must have at least 8 characters.")
        return redirect(url_for("views.users_page"))
    try:
        with session_scope(ext("engine")) as s:
            console.add_user(s, form.get("name", ""), form.get("role", ""), form["password"], _now())
        flash(f"User {form.get('name', '').strip()} added.")
    except console.ConsoleError as exc:
        flash(str(exc))
    return redirect(url_for("views.users_page"))


@views.route("/users/remove", methods=["POST"])
@require_role("admin")
def users_remove() -> Any:
    user = current_user()
    name = request.form.get("name", "")
    if user is not None and name == user.name:
        flash("You cannot remove yourself.")
        return redirect(url_for("views.users_page"))
    try:
        with session_scope(ext("engine")) as s:
            console.remove_user(s, name)
        flash(f"User {name} removed.")
    except console.ConsoleError as exc:
        flash(str(exc))
    return redirect(url_for("views.users_page"))


@views.app_errorhandler(403)
def forbidden(_exc: Exception) -> Any:
    if request.path.startswith("/api/"):
        return jsonify({"error": "your role does not allow this"}), 403
    return render_template("error.html.j2", code=403, message="Your role does not allow this."), 403


@views.app_errorhandler(404)
def not_found(_exc: Exception) -> Any:
    return render_template("error.html.j2", code=404, message="Nothing here."), 404


@views.app_errorhandler(400)
def bad_request(_exc: Exception) -> Any:
    return render_template("error.html.j2", code=400, message="That request was not understood."), 400


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default
