"""The digest view-model: stored rows for one period → what a writer reads, already sorted and worded. Pure.

Everything a template shows is decided here and in the modules it composes (`items`, `cited`, `run_health`):
sections, order, wording, links — so the four renderers stay dumb and agree with each other. What a writer sees
first is `headline` and `summary` (the action list, one line per thing to do, each with the paragraph it touches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from litwatch.storage.records import DESIGN_LABELS, CitedStudyStatus, RunSummary, StoredArticle

from .cited import CitedView, cited_alerts, cited_views, with_records
from .items import DigestItem, make_item, one_per_pmid, sort_items
from .links import Link, doi_url, nct_url, pubmed_url
from .registry import RegistryEventView, registry_views
from .run_health import QueryHealthRow, RunHealth, RunLine, build_run_health, tally_records
from .sanitize import clean_text
from .text import conclusion, shorten, split_sentences

CITED_KEY_PREFIX = "cited:"
PLACEHOLDER_NOTE = (
    "Real abstracts; placeholder PMIDs: a PMID of 99000000 and up stands for a real paper whose PMID was not at "
    "hand, so it links to the paper's DOI (or a PubMed title search) instead of a PubMed page that does not exist."
)
SUMMARY_TITLE_LIMIT = 90  # characters of a title in the action list: one phone line and a bit
STILL_OPEN_LIMIT = 10  # "Still open": a short reminder, not a second digest


@dataclass(frozen=True)
class SummaryLine:
    """One line of the action list: what to do, a link to the record, and the paragraph it touches."""

    text: str
    url: str | None  # the record (PubMed, or a placeholder PMID's DOI)
    touches: str  # "" when the assessment named no paragraph
    anchor: str = ""  # the card below that the line jumps to
    # The most pressing stance on a claim, "Outdates: clinical evidence — meta-analysis paragraph (+1 more)"
    # (the list is ordered by it); "" without stances, and the line says what it `touches` instead.
    stance: str = ""
    urgent: bool = False  # contradicts / outdates: shown in red


@dataclass(frozen=True)
class DigestCounts:
    """How many entries each section lists and how many distinct records they are: the ONE source of the
    numbers a digest, its subject and the demo print. Every record is in exactly one section; a cited study's
    alert carries its own record when that is in the digest, so nothing is counted twice."""

    action: int  # cited-study alerts + records to act on
    worth: int
    awareness: int
    records: int  # distinct records in the digest
    cited_without_record: int  # alerts whose study's record is not in this digest (not found, or not changed)
    trial_updates: int = 0  # registry events with verdict update: action items without a PubMed record


    def describe(self) -> str:
        """"44 records: 7 need action, 12 worth a look, 25 for awareness" (the digest's second line, the demo's)."""
        what = _plural(self.records, "record")
        if self.cited_without_record:
            what += f" and {_plural(self.cited_without_record, 'cited study', 'cited studies')}"
        if self.trial_updates:
            what += f" and {_plural(self.trial_updates, 'trial registry update')}"
        return (f"{what}: {self.action} need{'s' if self.action == 1 else ''} action, "
                f"{self.worth} worth a look, {self.awareness} for awareness")


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
    tally: str  # `DigestCounts.describe()`: under the headline, and what the demo prints
    summary: tuple[SummaryLine, ...]  # one line per action, the first things a writer reads
    cited_alerts: tuple[CitedView, ...]  # cited studies that changed: shown first under "Action needed"
    action_needed: tuple[DigestItem, ...]
    worth_a_look: tuple[DigestItem, ...]
    for_awareness: tuple[DigestItem, ...]
    cited_studies: tuple[CitedView, ...]
    run_health: RunHealth
    # ClinicalTrials.gov events of the period ("Trial registry"), actions first; the `update` ones are also
    # action items (counted in `counts.action`, one line each in `summary`).
    registry_events: tuple[RegistryEventView, ...] = ()
    # Said at the foot when any record carries a placeholder PMID (the demo corpus): why it links to a DOI.
    placeholder_note: str = ""
    # What to mark sent once delivered: (pmid, content_hash) per item, ("cited:<id>", status) per cited alert.
    item_keys: tuple[tuple[str, str], ...] = field(default=())
    # The console's triage (storage.console): action items of earlier periods nobody has decided on yet, newest
    # first, and each listed item's status (pmid → open / reviewed / article-updated / dismissed).
    still_open: tuple[DigestItem, ...] = ()
    item_status: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> DigestCounts:
        return digest_counts(self.cited_alerts, self.action_needed, self.worth_a_look, self.for_awareness,
                             self.registry_events)

    @property
    def action_count(self) -> int:
        return self.counts.action

    @property
    def registry_actions(self) -> tuple[RegistryEventView, ...]:
        return tuple(e for e in self.registry_events if e.action)


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
    intervention_labels: Mapping[str, str] = field(default_factory=dict)  # the article's [topic] names
    claim_labels: Mapping[str, str] = field(default_factory=dict)  # claim id → its label (article.toml)
    article_last_updated: str = ""  # article.toml `last_updated` ("2025-10"): older papers rank below newer ones
    zero_result_warnings: Sequence[str] = ()
    # When the oldest stored record was first seen: a period starting before it covers "everything so far".
    first_record_at: datetime | None = None
    # The article's trial-registry events of the period: `RegistryEventRecord.to_dict()` plus the trial's "title".
    registry_events: Sequence[Mapping[str, Any]] = ()
    # The console's decisions for this article: pmid → status (no entry: open). A dismissed item is never action.
    decisions: Mapping[str, str] = field(default_factory=dict)
    # Records first seen or changed before the period (action items of earlier digests may still be open).
    earlier: Sequence[StoredArticle] = ()


def build_digest(inp: DigestInput) -> Digest:
    sent_pmids = {pmid for pmid, _ in inp.already_sent}
    records = one_per_pmid(inp.items)
    items = [
        make_item(stored, inp.query_labels, previously_sent=stored.article.pmid in sent_pmids,
                  intervention_labels=inp.intervention_labels, claim_labels=inp.claim_labels,
                  last_updated=inp.article_last_updated)
        for stored in records
        if (stored.article.pmid, stored.content_hash) not in inp.already_sent
    ]
    by_pmid = {i.pmid: i for i in items}
    cited = with_records(cited_views(inp.cited), by_pmid, attach=False)
    # A cited study's problem is reported once per status, like an item; the table below still shows it.
    # The study's own record goes with its alert, so it is listed (and counted) once, not also below.
    alerts = with_records(
        [a for a in cited_alerts(cited) if cited_key(a) not in inp.already_sent], by_pmid, attach=True
    )
    with_alert = {a.pmid for a in alerts if a.record is not None}
    dismissed = {pmid for pmid, status in inp.decisions.items() if status == "dismissed"}
    listed = [i for i in items if i.pmid not in with_alert]
    # A cited study's own record changing is "any change to a cited study": action, like an `update` verdict.
    action = sort_items(
        [
            i
            for i in listed
            if i.pmid not in dismissed and _is_action(i)
        ]
    )
    worth = sort_items([i for i in listed
                        if i.verdict == "review" and i.change != "deleted" and i.pmid not in dismissed])
    chosen = {i.pmid for i in (*action, *worth)}
    awareness = sort_items([i for i in listed if i.pmid not in chosen])
    trials = registry_views(inp.registry_events)
    counts = digest_counts(alerts, action, worth, awareness, trials)
    still_open = _still_open(inp, {i.pmid for i in items})
    return Digest(
        period_start=inp.period_start,
        period_end=inp.period_end,
        generated_at=inp.generated_at,
        week=_iso_week(inp.period_end),
        period_label=period_label(inp.period_start, inp.period_end, inp.first_record_at),
        article_title=clean_text(inp.article_title),
        article_url=inp.article_url,
        headline=_headline(counts.action, counts.worth, inp.period_end - inp.period_start),
        tally=counts.describe(),
        summary=_summary(alerts, action, trials),
        cited_alerts=alerts,
        action_needed=action,
        worth_a_look=worth,
        for_awareness=awareness,
        cited_studies=cited,
        registry_events=trials,
        run_health=build_run_health(
            inp.runs, inp.query_labels, inp.zero_result_warnings,
            tally_records(records, inp.period_start, inp.period_end),
        ),
        placeholder_note=PLACEHOLDER_NOTE if any(i.placeholder for i in items) else "",
        item_keys=tuple(sorted([*((i.pmid, i.content_hash) for i in items), *map(cited_key, alerts)])),
        still_open=still_open,
        item_status={i.pmid: inp.decisions.get(i.pmid, "open") for i in (*items, *still_open)},
    )


def _is_action(i: DigestItem) -> bool:
    return i.change != "deleted" and (i.verdict == "update" or (i.verdict == "cited" and i.change == "changed"))


def _still_open(inp: DigestInput, listed: set[str]) -> tuple[DigestItem, ...]:
    """Action items of earlier periods with no decision yet (or reopened), newest first, at most a few."""
    found = []
    for stored in one_per_pmid(inp.earlier):
        pmid = stored.article.pmid
        if pmid in listed or inp.decisions.get(pmid, "open") != "open":
            continue
        item = make_item(stored, inp.query_labels, previously_sent=True, intervention_labels=inp.intervention_labels,
                         claim_labels=inp.claim_labels, last_updated=inp.article_last_updated)
        if _is_action(item):
            found.append((stored.last_changed, item))
    found.sort(key=lambda x: (x[0], x[1].pmid), reverse=True)
    return tuple(item for _, item in found[:STILL_OPEN_LIMIT])


def digest_counts(
    alerts: Sequence[CitedView], action: Sequence[DigestItem], worth: Sequence[DigestItem],
    awareness: Sequence[DigestItem], trials: Sequence[RegistryEventView] = (),
) -> DigestCounts:
    with_record = sum(a.record is not None for a in alerts)
    trial_updates = sum(t.action for t in trials)
    return DigestCounts(
        action=len(alerts) + len(action) + trial_updates,
        worth=len(worth),
        awareness=len(awareness),
        records=with_record + len(action) + len(worth) + len(awareness),
        cited_without_record=len(alerts) - with_record,
        trial_updates=trial_updates,
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


def _summary(alerts: tuple[CitedView, ...], action: tuple[DigestItem, ...],
             trials: Sequence[RegistryEventView] = ()) -> tuple[SummaryLine, ...]:
    lines = [
        SummaryLine(f"Cited study {a.label}: {a.status_label.lower()}", a.url,
                    _touches(a.record.claims) if a.record else "", a.anchor)
        for a in alerts
    ]
    # a followed trial's results or status: the article's evidence may be about to change
    lines += [SummaryLine(f"Trial registry: {t.line}", t.url, "", t.anchor) for t in trials if t.action]
    for item in action:
        design = DESIGN_LABELS.get(item.design, "record")
        # "New" means new to PubMed's index (or to us), not a new paper: the publication year says how new it is.
        what = "Changed" if item.change == "changed" else "New"
        year = f" ({item.pub_year})" if item.pub_year else ""
        text = f"{what} {design}{year}: {shorten(item.title, SUMMARY_TITLE_LIMIT)}"
        lines.append(SummaryLine(text, item.url, _touches(item.claims), item.anchor, *_stance(item)))
    return tuple(lines)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _touches(claims: tuple[str, ...]) -> str:
    if not claims:
        return ""
    more = len(claims) - 1
    return claims[0] + (f" (+{more} more)" if more else "")


def _stance(item: DigestItem) -> tuple[str, bool]:
    """(text, urgent) of the item's most pressing stance for the action list; ("", False) without one."""
    if not item.for_article:
        return "", False
    first, more = item.for_article[0], len(item.for_article) - 1
    return f"{first.word}: {first.label}" + (f" (+{more} more)" if more else ""), first.urgent


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
    "DigestCounts",
    "DigestInput",
    "DigestItem",
    "Link",
    "QueryHealthRow",
    "RegistryEventView",
    "RunHealth",
    "RunLine",
    "SummaryLine",
    "build_digest",
    "cited_key",
    "conclusion",
    "digest_counts",
    "doi_url",
    "nct_url",
    "period_label",
    "pubmed_url",
    "shorten",
    "split_sentences",
    "subject_line",
]
