"""The digest view-model: stored rows for one period → what a writer reads, already sorted and worded. Pure.

Everything a template shows is decided here and in the modules it composes (`items`, `cited`, `run_health`):
sections, order, wording, links — so the four renderers stay dumb and agree with each other. What a writer sees
first is `headline` and `summary` (the action list, one line per thing to do, each with the paragraph it touches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from litwatch.storage.records import DESIGN_LABELS, CitedStudyStatus, RunSummary, StoredArticle

from .cited import CitedView, cited_alerts, cited_views
from .items import DigestItem, make_item, one_per_pmid, sort_items
from .links import Link, doi_url, nct_url, pubmed_url
from .run_health import QueryHealthRow, RunHealth, RunLine, build_run_health
from .sanitize import clean_text
from .text import conclusion, shorten, split_sentences

CITED_KEY_PREFIX = "cited:"
SUMMARY_TITLE_LIMIT = 90  # characters of a title in the action list: one phone line and a bit


@dataclass(frozen=True)
class SummaryLine:
    """One line of the action list: what to do, a link to the record, and the paragraph it touches."""

    text: str
    url: str | None
    touches: str  # "" when the assessment named no paragraph


@dataclass(frozen=True)
class Digest:
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    week: str  # ISO week of period_end: "2026-W47"
    period_label: str  # "13 Nov – 20 Nov 2026", or "all records stored so far, up to 20 Nov 2026"
    article_title: str
    article_url: str
    headline: str
    summary: tuple[SummaryLine, ...]  # one line per action, the first things a writer reads
    cited_alerts: tuple[CitedView, ...]  # cited studies that changed: shown first under "Action needed"
    action_needed: tuple[DigestItem, ...]
    worth_a_look: tuple[DigestItem, ...]
    for_awareness: tuple[DigestItem, ...]
    cited_studies: tuple[CitedView, ...]
    run_health: RunHealth
    # What to mark sent once delivered: (pmid, content_hash) per item, ("cited:<id>", status) per cited alert.
    item_keys: tuple[tuple[str, str], ...] = field(default=())

    @property
    def action_count(self) -> int:
        return len(self.cited_alerts) + len(self.action_needed)


@dataclass(frozen=True)
class DigestInput:
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    article_title: str
    article_url: str
    items: Sequence[StoredArticle]
    already_sent: set[tuple[str, str]]
    cited: Sequence[CitedStudyStatus]
    runs: Sequence[RunSummary]
    query_labels: Mapping[str, str]
    zero_result_warnings: Sequence[str] = ()
    # When the oldest stored record was first seen: a period starting before it covers "everything so far".
    first_record_at: datetime | None = None


def build_digest(inp: DigestInput) -> Digest:
    sent_pmids = {pmid for pmid, _ in inp.already_sent}
    items = [
        make_item(stored, inp.query_labels, previously_sent=stored.article.pmid in sent_pmids)
        for stored in one_per_pmid(inp.items)
        if (stored.article.pmid, stored.content_hash) not in inp.already_sent
    ]
    cited = cited_views(inp.cited)
    # A cited study's problem is reported once per status, like an item; the table below still shows it.
    alerts = tuple(a for a in cited_alerts(cited) if cited_key(a) not in inp.already_sent)
    # A cited study's own record changing is "any change to a cited study": action, like an `update` verdict.
    action = sort_items(
        [
            i
            for i in items
            if i.change != "deleted"
            and (i.verdict == "update" or (i.verdict == "cited" and i.change == "changed"))
        ]
    )
    worth = sort_items([i for i in items if i.verdict == "review" and i.change != "deleted"])
    chosen = {i.pmid for i in (*action, *worth)}
    awareness = sort_items([i for i in items if i.pmid not in chosen])
    return Digest(
        period_start=inp.period_start,
        period_end=inp.period_end,
        generated_at=inp.generated_at,
        week=_iso_week(inp.period_end),
        period_label=period_label(inp.period_start, inp.period_end, inp.first_record_at),
        article_title=clean_text(inp.article_title),
        article_url=inp.article_url,
        headline=_headline(len(alerts) + len(action), len(worth), inp.period_end - inp.period_start),
        summary=_summary(alerts, action),
        cited_alerts=alerts,
        action_needed=action,
        worth_a_look=worth,
        for_awareness=awareness,
        cited_studies=cited,
        run_health=build_run_health(inp.runs, inp.query_labels, inp.zero_result_warnings),
        item_keys=tuple(sorted([*((i.pmid, i.content_hash) for i in items), *map(cited_key, alerts)])),
    )


def cited_key(view: CitedView) -> tuple[str, str]:
    """The sent-item key of a cited-study alert: ("cited:<study id>", status). A PMID never starts "cited:"."""
    return (f"{CITED_KEY_PREFIX}{view.study_id}", view.status)


def period_label(start: datetime, end: datetime, first_record_at: datetime | None) -> str:
    """The period in words. A start before the first stored record (the demo, a first digest) is not a date a
    writer should puzzle over ("1 Jan 1970"): say what it means instead."""
    if first_record_at is not None and start <= first_record_at:
        return f"all records stored so far, up to {_day(end)}"
    first = _day(start) if start.year != end.year else _day(start).rsplit(" ", 1)[0]
    return f"{first} – {_day(end)}"


def _headline(actions: int, worth: int, span: timedelta) -> str:
    when = "this week" if span.days <= 8 else "this period"
    if actions:
        return f"Action needed: {actions} — the article's evidence section should be updated"
    if worth:
        return f"No action needed {when} — {worth} worth a look"
    return f"No action needed {when}"


def _summary(alerts: tuple[CitedView, ...], action: tuple[DigestItem, ...]) -> tuple[SummaryLine, ...]:
    lines = [
        SummaryLine(f"Cited study {a.label}: {a.status_label.lower()}", a.pubmed_url, "")
        for a in alerts
    ]
    for item in action:
        design = DESIGN_LABELS.get(item.design, "record")
        what = "Changed" if item.change == "changed" else "New"
        text = f"{what} {design}: {shorten(item.title, SUMMARY_TITLE_LIMIT)}"
        lines.append(SummaryLine(text, item.pubmed_url, _touches(item.claims)))
    return tuple(lines)


def _touches(claims: tuple[str, ...]) -> str:
    if not claims:
        return ""
    more = len(claims) - 1
    return claims[0] + (f" (+{more} more)" if more else "")


def _day(moment: datetime) -> str:
    return moment.strftime("%d %b %Y").lstrip("0")


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def subject_line(d: Digest) -> str:
    n = d.action_count
    tail = (
        "no action needed"
        if n == 0
        else f"{n} item{'s' if n != 1 else ''} need{'s' if n == 1 else ''} action"
    )
    return f"litwatch digest {d.week} — {tail}"


__all__ = [
    "CitedView",
    "Digest",
    "DigestInput",
    "DigestItem",
    "Link",
    "QueryHealthRow",
    "RunHealth",
    "RunLine",
    "SummaryLine",
    "build_digest",
    "cited_key",
    "conclusion",
    "doi_url",
    "nct_url",
    "period_label",
    "pubmed_url",
    "shorten",
    "split_sentences",
    "subject_line",
]
