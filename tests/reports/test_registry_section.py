"""reports/registry.py and the digest's "Trial registry" section, from the golden input plus registry events:
wording, the counts (a trial update is an action item, counted once), and registry text escaped everywhere."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from litwatch.reports.digest import build_digest
from litwatch.reports.registry import registry_views
from litwatch.reports.render import render_atom, render_html, render_json, render_markdown
from tests.reports.conftest import golden_input

HOSTILE = '<script>alert(1)</script> **x** [y](javascript:z) \u202eevil'


def event(kind: str, verdict: str, before: str | None, after: str | None, **extra: Any) -> dict[str, Any]:
    return {"nct_id": "NCT03709901", "event": kind, "from": before, "to": after, "verdict": verdict,
            "reason": f"{kind} — a trial the article cites or follows", "key": kind, "detail": extra.pop("detail", {}),
            "created_at": "2026-11-19T06:00:00+00:00", "title": extra.pop("title", "VAST trial")}


EVENTS = [
    event("enrollment-final", "review", "220 (estimated)", "218 (actual)"),
    event("status-change", "update", "RECRUITING", "TERMINATED", title=HOSTILE, detail={"why_stopped": HOSTILE}),
    event("results-posted", "update", None, "2026-11-18"),
]


def test_views_word_the_events_and_put_actions_first() -> None:
    views = registry_views(EVENTS)
    assert [v.event for v in views] == ["status-change", "results-posted", "enrollment-final"]
    assert views[0].change == "recruiting → terminated" and views[0].url == "https://clinicaltrials.gov/study/NCT03709901"
    assert views[1].line == "Results posted — NCT03709901 (VAST trial): results first posted 2026-11-18"
    assert views[2].change == "220 (estimated) → 218 (actual)" and views[2].verdict_words == "worth a look"
    assert "\u202e" not in views[0].title  # bidi controls are cleaned from registry text


def test_trial_updates_are_action_items_counted_once() -> None:
    base = build_digest(golden_input())
    d = build_digest(replace(golden_input(), registry_events=EVENTS))
    assert d.counts.action == base.counts.action + 2 and d.counts.trial_updates == 2
    assert d.counts.records == base.counts.records  # a trial event is not a record
    assert d.tally.startswith(f"{base.counts.records} records and 2 trial registry updates: ")
    assert len(d.summary) == len(base.summary) + 2
    assert [x for x in d.summary if x.text.startswith("Trial registry: ")][1].text.startswith("Trial registry: Results")


def test_registry_text_is_escaped_in_every_format() -> None:
    d = build_digest(replace(golden_input(), registry_events=EVENTS))
    html, md = render_html(d), render_markdown(d)
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html
    assert "Trial registry (3)" in html
    assert "<script>" not in md and "](javascript:" not in md and "## Trial registry (3)" in md
    atom = render_atom(d, "https://example.org/feed.atom")
    assert "<script>" not in atom and "Trial registry: Status changed — NCT03709901" in atom
    data = json.loads(render_json(d))
    assert [(e["event"], e["from"], e["to"], e["verdict"]) for e in data["registry_events"]] == [
        ("status-change", "RECRUITING", "TERMINATED", "update"), ("results-posted", None, "2026-11-18", "update"),
        ("enrollment-final", "220 (estimated)", "218 (actual)", "review")]


def test_no_registry_events_no_section() -> None:
    d = build_digest(golden_input())
    assert d.registry_events == () and "Trial registry" not in render_markdown(d)
