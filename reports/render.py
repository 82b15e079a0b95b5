"""Render a `Digest` as HTML (email-safe), Markdown, JSON or Atom. One Jinja2 environment for all templates.

Safety does not rest on the view-model alone: the HTML/Atom templates are autoescaped, the only markup let
through is re-sanitised here (`inline_html`), links must be https URLs we built (`https_url`), and every
record-derived string in the Markdown template goes through `md`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from litwatch.storage.records import to_jsonable

from .digest import Digest, subject_line
from .sanitize import escape_markdown, sanitize_inline_html

# /2: one digest per watched article; a cited study's record travels with its alert (`cited_alerts[].record`), not in
# `action_needed`; items carry `finding` and `stance`. A consumer checks this before reading the fields.
JSON_FORMAT = "litwatch-digest/2"


def _inline_html(value: str) -> Markup:
    return Markup(sanitize_inline_html(value))  # noqa: S704 - sanitised to the five-tag allowlist just now


def _https_url(value: str | None) -> str:
    """Only absolute https links reach an href; anything else (javascript:, data:, relative) becomes '#'."""
    text = (value or "").strip()
    return text if text.lower().startswith("https://") and not any(c.isspace() for c in text) else "#"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value: datetime | None) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _day(value: datetime) -> str:
    return value.strftime("%d %b %Y").lstrip("0")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "still running"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("litwatch.reports", "templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "xml.j2"), default=False, default_for_string=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        inline_html=_inline_html,
        https_url=_https_url,
        md=escape_markdown,
        rfc3339=_rfc3339,
        when=_when,
        day=_day,
        duration=_duration,
    )
    env.globals["subject_line"] = subject_line
    return env


_ENV = _make_environment()


def render_html(d: Digest) -> str:
    return _ENV.get_template("digest.html.j2").render(d=d)


def render_markdown(d: Digest) -> str:
    return _ENV.get_template("digest.md.j2").render(d=d)


def render_atom(d: Digest, feed_url: str) -> str:
    return _ENV.get_template("atom.xml.j2").render(d=d, feed_url=feed_url)


def render_json(d: Digest) -> str:
    """Stable JSON: sorted keys, ISO dates, a format tag so consumers can tell versions apart."""
    payload = {
        "format": JSON_FORMAT,
        "subject": subject_line(d),
        "action_count": d.action_count,
        "run_health_ok": d.run_health.ok,
        **to_jsonable(d),  # the model's one JSON conversion (the view-model's datetimes are UTC already)
        # the registry's own shape for consumers: {nct_id, event, from, to, verdict, …}
        "registry_events": [e.to_json() for e in d.registry_events],
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


__all__ = ["JSON_FORMAT", "render_atom", "render_html", "render_json", "render_markdown"]
