"""The digest view-model: stored rows for one period → what a writer reads, already sorted and worded. Pure.

Everything a template shows is decided here (sections, order, wording, links), so the four renderers stay dumb
and agree with each other. Links are built from identifiers (PMID, DOI, NCT id), never copied from a record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import quote

from reports.sanitize import clean_text, sanitize_inline_html
from storage.records import Article, CitedStudyStatus, RunSummary, StoredArticle

# Strongest evidence first; a design not listed sorts after all listed ones.
DESIGN_ORDER: tuple[str, ...] = (
    "meta-analysis",
    "rct",
    "systematic-review",
    "clinical-nonrandomized",
    "cohort",
    "case-series",
    "case-report",
    "protocol",
    "trial-registration",
    "guideline",
    "narrative-review",
    "preclinical-animal",
    "preclinical-invitro",
    "commentary",
    "retraction-notice",
    "other",
)
DESIGN_LABELS: Mapping[str, str] = {
    "meta-analysis": "Meta-analysis",
    "rct": "RCT",
    "systematic-review": "Systematic review",
    "clinical-nonrandomized": "Clinical, non-randomised",
    "cohort": "Cohort",
    "case-series": "Case series",
    "case-report": "Case report",
    "protocol": "Trial protocol",
    "trial-registration": "Trial registration",
    "guideline": "Guideline",
    "narrative-review": "Narrative review",
    "preclinical-animal": "Animal study",
    "preclinical-invitro": "In vitro",
    "commentary": "Commentary",
    "retraction-notice": "Retraction notice",
    "other": "Other",
}
POPULATION_LABELS: Mapping[str, str] = {"human": "Human", "animal": "Animal", "in-vitro": "In vitro"}
INTERVENTION_LABELS: Mapping[str, str] = {
    "stem-cells": "Stem cells",
    "exosomes": "Exosomes/EVs",
    "gene-therapy": "Gene therapy",
}
CITED_STATUS_LABELS: Mapping[str, str] = {
    "unchanged": "Unchanged",
    "changed": "Record changed",
    "corrected": "Corrected (erratum)",
    "retracted": "Retracted",
    "concern": "Expression of concern",
    "mismatch": "Citation mismatch",
    "not-found": "Not found in PubMed",
    "new": "Newly tracked",
}
# Worst first. "new" only means we started tracking the study: nothing for a writer to do.
_CITED_SEVERITY: tuple[str, ...] = ("retracted", "concern", "corrected", "mismatch", "changed", "not-found")
_NOTICE_WORDS: Mapping[str, str] = {
    "RetractionIn": "retraction",
    "RetractionOf": "retraction notice",
    "ExpressionOfConcernIn": "expression of concern",
    "ErratumIn": "erratum",
    "UpdateIn": "update",
    "RepublishedIn": "republication",
}
CONCLUSION_LIMIT = 420  # characters: two sentences of a typical abstract, enough to judge without clicking


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class DigestItem:
    pmid: str
    content_hash: str
    title: str  # plain text
    title_html: str  # escaped text + bare <i>/<b>/<u>/<sup>/<sub> only
    pubmed_url: str
    journal: str
    published: str  # as printed by the journal: "2025 Mar 12"
    added: str  # PubMed create date, ISO
    verdict: str
    design: str  # assessment design code: "rct", "meta-analysis"...
    badges: tuple[str, ...]
    reasons: tuple[str, ...]
    claims: tuple[str, ...]
    sample_size: str | None  # "n = 52"
    follow_up: str | None  # "6 months"
    conclusion: str
    doi: Link | None
    trials: tuple[Link, ...]
    notices: tuple[str, ...]  # "Retraction in: …", from the record's CommentsCorrections
    change: str  # "new", "changed" or "deleted"
    change_note: str | None
    queries: tuple[str, ...]  # labels of the saved searches that found it
    cited_study: str | None
    last_changed: datetime


@dataclass(frozen=True)
class CitedView:
    study_id: str
    label: str
    pmid: str | None
    pubmed_url: str | None
    status: str
    status_label: str
    notes: tuple[str, ...]
    checked_at: datetime | None
    needs_action: bool


@dataclass(frozen=True)
class QueryHealth:
    query_id: str
    label: str
    runs: int
    found: int
    new: int
    changed: int
    last_status: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class RunLine:
    run_id: int
    kind: str
    trigger: str
    status: str
    started_at: datetime
    duration_s: float | None
    found: int
    new: int
    changed: int
    error: str | None


@dataclass(frozen=True)
class RunHealth:
    runs: tuple[RunLine, ...]
    failures: tuple[str, ...]
    queries: tuple[QueryHealth, ...]
    warnings: tuple[str, ...]
    zero_result_warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not (self.failures or self.zero_result_warnings)


@dataclass(frozen=True)
class Digest:
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    week: str  # ISO week of period_end: "2026-W47"
    article_title: str
    article_url: str
    headline: str
    summary: tuple[str, ...]  # one line per action, the first things a writer reads
    cited_alerts: tuple[CitedView, ...]  # cited studies that changed: shown first under "Action needed"
    action_needed: tuple[DigestItem, ...]
    worth_a_look: tuple[DigestItem, ...]
    for_awareness: tuple[DigestItem, ...]
    cited_studies: tuple[CitedView, ...]
    run_health: RunHealth
    item_keys: tuple[tuple[str, str], ...] = field(
        default=()
    )  # (pmid, content_hash) to mark sent once delivered

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


# --- building -----------------------------------------------------------------------------------------------


def build_digest(inp: DigestInput) -> Digest:
    sent_pmids = {pmid for pmid, _ in inp.already_sent}
    items = [
        _item(stored, inp.query_labels, previously_sent=stored.article.pmid in sent_pmids)
        for stored in _one_per_pmid(inp.items)
        if (stored.article.pmid, stored.content_hash) not in inp.already_sent
    ]
    cited = tuple(_cited_view(c) for c in sorted(inp.cited, key=lambda c: c.study_id))
    alerts = tuple(
        sorted((c for c in cited if c.needs_action), key=lambda c: _CITED_SEVERITY.index(c.status))
    )
    # A cited study's own record changing is "any change to a cited study": action, like an `update` verdict.
    action = _sorted(
        [
            i
            for i in items
            if i.change != "deleted"
            and (i.verdict == "update" or (i.verdict == "cited" and i.change == "changed"))
        ]
    )
    worth = _sorted([i for i in items if i.verdict == "review" and i.change != "deleted"])
    chosen = {i.pmid for i in (*action, *worth)}
    awareness = _sorted([i for i in items if i.pmid not in chosen])
    week = _iso_week(inp.period_end)
    return Digest(
        period_start=inp.period_start,
        period_end=inp.period_end,
        generated_at=inp.generated_at,
        week=week,
        article_title=clean_text(inp.article_title),
        article_url=inp.article_url,
        headline=_headline(len(alerts) + len(action), len(worth), inp.period_end - inp.period_start),
        summary=_summary(alerts, action),
        cited_alerts=alerts,
        action_needed=action,
        worth_a_look=worth,
        for_awareness=awareness,
        cited_studies=cited,
        run_health=_run_health(inp.runs, inp.query_labels, inp.zero_result_warnings),
        item_keys=tuple(sorted((i.pmid, i.content_hash) for i in items)),
    )


def _one_per_pmid(stored: Sequence[StoredArticle]) -> list[StoredArticle]:
    """Several queries (rows) may carry one PMID: keep its latest version, with every query that found it."""
    by_pmid: dict[str, StoredArticle] = {}
    for row in stored:
        pmid = row.article.pmid
        seen = by_pmid.get(pmid)
        if seen is None:
            by_pmid[pmid] = row
            continue
        newest, other = (row, seen) if row.last_changed >= seen.last_changed else (seen, row)
        queries = tuple(dict.fromkeys((*newest.query_ids, *other.query_ids)))
        by_pmid[pmid] = replace(newest, query_ids=queries)
    return list(by_pmid.values())


def _item(stored: StoredArticle, labels: Mapping[str, str], previously_sent: bool) -> DigestItem:
    article, assessment = stored.article, stored.assessment
    notices = _notices(article)
    change, change_note = _change(stored, previously_sent, notices)
    if assessment is None:  # storage assesses every record; if one slipped through, a human must look
        verdict, design, population, reasons, claims = "review", "", "unknown", ("Not assessed yet",), ()
        interventions: tuple[str, ...] = ()
        sample, follow_up, cited_study = None, None, None
    else:
        verdict, design, population = assessment.verdict, assessment.design, assessment.population
        reasons = tuple(clean_text(r) for r in assessment.reasons)
        claims = tuple(clean_text(c) for c in assessment.claims)
        interventions = assessment.interventions
        sample, follow_up, cited_study = (
            assessment.sample_size,
            assessment.follow_up_months,
            assessment.cited_study,
        )
    return DigestItem(
        pmid=article.pmid,
        content_hash=stored.content_hash,
        title=clean_text(article.title) or "(no title)",
        title_html=sanitize_inline_html(article.title_html)
        or _escape(clean_text(article.title) or "(no title)"),
        pubmed_url=pubmed_url(article.pmid),
        journal=clean_text(article.journal or article.journal_abbrev),
        published=clean_text(article.pub_date) or (str(article.pub_year) if article.pub_year else ""),
        added=article.created.isoformat() if article.created else "",
        verdict=verdict,
        design=design,
        badges=_badges(design, population, interventions, notices),
        reasons=reasons,
        claims=claims,
        sample_size=f"n = {sample}" if sample else None,
        follow_up=_months(follow_up),
        conclusion=conclusion(article),
        doi=Link(article.doi, doi_url(article.doi)) if article.doi else None,
        trials=tuple(Link(n.upper(), nct_url(n)) for n in article.nct_ids if _NCT.fullmatch(n.upper())),
        notices=notices,
        change=change,
        change_note=change_note,
        queries=tuple(sorted({clean_text(labels.get(q, q)) for q in stored.query_ids})),
        cited_study=cited_study,
        last_changed=stored.last_changed,
    )


def _change(stored: StoredArticle, previously_sent: bool, notices: tuple[str, ...]) -> tuple[str, str | None]:
    if stored.deleted:
        return "deleted", "deleted from PubMed"
    if not previously_sent and stored.last_changed <= stored.first_seen:
        return "new", None
    # Only the latest version is at hand, so name a notice it now carries, not a diff we cannot see.
    kinds = [
        _NOTICE_WORDS[c.ref_type] for c in stored.article.comments_corrections if c.ref_type in _NOTICE_WORDS
    ]
    if kinds:
        return "changed", f"changed since last digest: {', '.join(dict.fromkeys(kinds))} link added"
    return "changed", "updated record"


def _notices(article: Article) -> tuple[str, ...]:
    lines = []
    for link in article.comments_corrections:
        word = _NOTICE_WORDS.get(link.ref_type)
        if word is None:
            continue
        where = clean_text(link.ref_source) or (f"PMID {link.pmid}" if link.pmid else "")
        lines.append(f"{word.capitalize()}: {where}" if where else word.capitalize())
    return tuple(lines)


def _badges(
    design: str, population: str, interventions: tuple[str, ...], notices: tuple[str, ...]
) -> tuple[str, ...]:
    badges = []
    if any(n.startswith("Retraction:") for n in notices):
        badges.append("Retracted")
    if design:
        badges.append(DESIGN_LABELS.get(design, design.replace("-", " ").capitalize()))
    implied = {"preclinical-animal": "animal", "preclinical-invitro": "in-vitro"}.get(design)
    if population in POPULATION_LABELS and population != implied:
        badges.append(POPULATION_LABELS[population])
    badges.extend(INTERVENTION_LABELS.get(i, i) for i in interventions)
    return tuple(badges)


def _sorted(items: list[DigestItem]) -> tuple[DigestItem, ...]:
    """Follow-ups/notices of cited studies first, then strongest design, then newest, then PMID."""

    def design_rank(item: DigestItem) -> int:
        return DESIGN_ORDER.index(item.design) if item.design in DESIGN_ORDER else len(DESIGN_ORDER)

    by_pmid = sorted(items, key=lambda i: i.pmid)
    by_date = sorted(by_pmid, key=lambda i: i.added, reverse=True)
    return tuple(sorted(by_date, key=lambda i: (i.cited_study is None, design_rank(i))))


def _cited_view(c: CitedStudyStatus) -> CitedView:
    return CitedView(
        study_id=c.study_id,
        label=clean_text(c.label),
        pmid=c.pmid,
        pubmed_url=pubmed_url(c.pmid) if c.pmid else None,
        status=c.status,
        status_label=CITED_STATUS_LABELS.get(c.status, c.status),
        notes=tuple(clean_text(n) for n in c.notes),
        checked_at=c.checked_at,
        needs_action=c.status in _CITED_SEVERITY,
    )


def _headline(actions: int, worth: int, span: timedelta) -> str:
    when = "this week" if span.days <= 8 else "this period"
    if actions:
        return f"Action needed: {actions} — the article's evidence section should be updated"
    if worth:
        return f"No action needed {when} — {worth} worth a look"
    return f"No action needed {when}"


def _summary(alerts: tuple[CitedView, ...], action: tuple[DigestItem, ...]) -> tuple[str, ...]:
    lines = [f"Cited study {a.label}: {a.status_label.lower()}" for a in alerts]
    for item in action:
        design = DESIGN_LABELS.get(item.design, "record")
        what = "Changed" if item.change == "changed" else "New"
        lines.append(f"{what} {design}: {shorten(item.title, 90)}")
    return tuple(lines)


def _run_health(runs: Sequence[RunSummary], labels: Mapping[str, str], zero: Sequence[str]) -> RunHealth:
    ordered = sorted(runs, key=lambda r: (r.started_at, r.run_id))
    lines = tuple(
        RunLine(
            r.run_id,
            r.kind,
            r.trigger,
            r.status,
            r.started_at,
            r.duration_s,
            r.found,
            r.new,
            r.changed,
            clean_text(r.error) or None,
        )
        for r in ordered
    )
    failures = [
        f"Run {r.run_id} ({r.kind}, {r.trigger}, {r.started_at:%Y-%m-%d %H:%M}) failed: "
        f"{_first_line(r.error) or 'no error recorded'}"
        for r in ordered
        if r.status == "failed"
    ]
    stats: dict[str, list] = {}
    for run in ordered:
        for q in run.queries:
            stats.setdefault(q.query_id, []).append(q)
            if q.status == "failed":
                failures.append(
                    f"Query {labels.get(q.query_id, q.query_id)} failed in run {run.run_id}: "
                    f"{_first_line(q.error) or 'no error recorded'}"
                )
    queries = tuple(
        QueryHealth(
            query_id=qid,
            label=clean_text(labels.get(qid, qid)),
            runs=len(qs),
            found=sum(q.found for q in qs),
            new=sum(q.new for q in qs),
            changed=sum(q.changed for q in qs),
            last_status=qs[-1].status,
            errors=tuple(dict.fromkeys(_first_line(q.error) for q in qs if q.error)),
        )
        for qid, qs in sorted(stats.items(), key=lambda kv: labels.get(kv[0], kv[0]).lower())
    )
    warnings = tuple(dict.fromkeys(clean_text(w) for r in ordered for w in r.warnings))
    return RunHealth(lines, tuple(failures), queries, warnings, tuple(clean_text(z) for z in zero))


# --- small helpers, public where renderers or callers share them --------------------------------------------

_NCT = re.compile(r"NCT\d{8}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# Registration numbers and evidence levels sometimes trail the conclusion; the digest links trials separately.
_TRAILERS = re.compile(r"(?i)\s*\b(?:clinical )?trial registration\b.*$|\s*\blevel of evidence\b.*$")
_ABBREVIATIONS = re.compile(r"(?:\b(?:e\.g|i\.e|vs|et al|Fig|approx|ca|No)\.|\b[A-Z]\.)$")


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{quote(pmid, safe='')}/"


def doi_url(doi: str) -> str:
    # DOIs may hold ; ( ) < > # ?; quoting everything but "/" keeps the link one opaque https path.
    return "https://doi.org/" + quote(doi.strip(), safe="/")


def nct_url(nct: str) -> str:
    return f"https://clinicaltrials.gov/study/{quote(nct.upper(), safe='')}"


def conclusion(article: Article, limit: int = CONCLUSION_LIMIT) -> str:
    """The CONCLUSION(S) section when labelled, else the abstract's last one or two sentences; never cut
    mid-word without an ellipsis (source abstracts are sometimes truncated mid-word, and get one too)."""
    labelled = [
        s.text
        for s in article.abstract
        if (s.category or "").upper() == "CONCLUSIONS" or re.match(r"(?i)conclusions?\b", s.label or "")
    ]
    if labelled:
        text = clean_text(" ".join(labelled))
    else:
        sentences = split_sentences(clean_text(" ".join(s.text for s in article.abstract)))
        text = " ".join(sentences[-2:]) if sentences else ""
        if len(text) > limit and len(sentences) >= 2:
            text = sentences[-1]
    text = _TRAILERS.sub("", text).strip()
    if not text:
        return ""
    if len(text) > limit:
        return shorten(text, limit)
    if not re.search(r"[.!?…][\"')\]]*$", text):
        return text + "…"  # the source itself stops mid-sentence (or mid-word)
    return text


def split_sentences(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        if _ABBREVIATIONS.search(candidate.rstrip("\"')]")):
            continue
        parts.append(candidate.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and say so with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def _months(value: float | None) -> str | None:
    if not value:
        return None
    if value >= 24 and value % 12 == 0:
        return f"{int(value // 12)} years"
    return f"{value:g} month" + ("" if value == 1 else "s")


def _first_line(text: str | None) -> str:
    return clean_text((text or "").strip().splitlines()[0]) if (text or "").strip() else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


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
    "QueryHealth",
    "RunHealth",
    "RunLine",
    "build_digest",
    "conclusion",
    "doi_url",
    "nct_url",
    "pubmed_url",
    "shorten",
    "split_sentences",
    "subject_line",
]
