"""One stored record → one digest item, worded for a writer; and the order items are read in. Pure.

The assessment's reasons come in two kinds: writer language ("human randomised trial on a watched
intervention") and the rule signals behind it ("signal: no study population stated"). A writer reads the first
one or two of the former (`why`); the rest is kept for the curious (`details`) and, whole, in `reasons`.
Before them the card says what the paper found (`found`) and what it means for each claim (`for_article`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from litwatch.storage.records import (
    DESIGN_LABELS,
    DESIGN_ORDER,
    POPULATION_LABELS,
    Article,
    Finding,
    StoredArticle,
    is_placeholder_pmid,
)

from .findings import StanceLine, clean_finding, found_line, item_stance_rank, stance_lines
from .links import NCT_ID, Link, doi_url, nct_url, pubmed_url_or_none, record_url
from .sanitize import clean_text, sanitize_inline_html
from .text import CONCLUSION_LIMIT, conclusion, escape_html, months, sentence_case, shorten

# A badge already saying "Animal study" needs no "Animal" next to it.
_IMPLIED_POPULATION: Mapping[str, str] = {"preclinical-animal": "animal", "preclinical-in-vitro": "in-vitro"}
NOTICE_WORDS: Mapping[str, str] = {
    "RetractionIn": "retraction",
    "RetractionOf": "retraction notice",
    "ExpressionOfConcernIn": "expression of concern",
    "ErratumIn": "erratum",
    "UpdateIn": "update",
    "RepublishedIn": "republication",
}
SIGNAL_PREFIX = "signal:"  # how the assessment marks an internal rule signal among its reasons
WHY_LIMIT = 2  # writer reasons shown per item; the rest go to `details`
JOURNAL_LIMIT = 90  # some "journals" are whole conference citations
CONCLUSION_LABEL, STATEMENT_LABEL = "Conclusion", "In its words"  # the quote block: guessed, or the assessor's


@dataclass(frozen=True)
class DigestItem:
    pmid: str
    content_hash: str
    title: str  # plain text
    title_html: str  # escaped text + bare <i>/<b>/<u>/<sup>/<sub> only
    url: str  # where the title links: PubMed, or for a placeholder PMID the DOI (`links.record_url`)
    pubmed_url: str | None  # None for a placeholder PMID: that PubMed page does not exist
    placeholder: bool  # the PMID is a local placeholder (storage.records.is_placeholder_pmid)
    anchor: str  # the card's id in the digest: the action list links here
    journal: str  # "" when PubMed gives none: templates then leave it out
    published: str  # as printed by the journal: "2025 Mar 12"
    pub_year: int | None  # beside "New" in the action list: a record new to PubMed may be an old paper
    added: str  # PubMed create date, ISO
    verdict: str
    design: str  # assessment design code: "rct", "meta-analysis"...
    found: str  # the card's first line: "No difference from control at 6 months (VAS …)"; "" without a finding
    for_article: tuple[StanceLine, ...]  # one line per claim, most pressing first
    finding: Finding | None  # the JSON's `finding` {direction, controlled, outcomes[…], statement, …}
    stance: dict[str, dict[str, str]]  # the JSON's `stance` {claim id: {stance, reason}}
    quotes: tuple[str, ...]  # where each number of `found` comes from: 'VAS: "…"' (the folded trace)
    badges: tuple[str, ...]
    reasons: tuple[str, ...]  # every reason of the assessment, as stored (the JSON export keeps them all)
    why: tuple[str, ...]  # the first writer-language reasons (first one sentence-cased): what a writer reads
    details: tuple[str, ...]  # the other reasons and the rule signals (without "signal:"): small print
    note: str  # a few words for the collapsed "For awareness" list, e.g. "already cited in the article"
    claims: tuple[str, ...]
    sample_size: str | None  # "n = 52"
    follow_up: str | None  # "6 months"
    conclusion: str  # the assessor's statement when it has one, else the abstract's conclusion
    conclusion_label: str  # "In its words" (the statement) or "Conclusion" (guessed from the abstract)
    doi: Link | None
    trials: tuple[Link, ...]
    notices: tuple[str, ...]  # "Retraction: …", from the record's CommentsCorrections
    change: str  # "new", "changed" or "deleted"
    change_note: str | None
    queries: tuple[str, ...]  # labels of the saved searches that found it
    cited_study: str | None
    last_changed: datetime
    # published in a year before the article's last update: it may have been considered already, so it ranks below
    # the new ones of its stance (issue 12; the stance reason says "predates the article's last update")
    predates: bool = False


def one_per_pmid(stored: Sequence[StoredArticle]) -> list[StoredArticle]:
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


def make_item(stored: StoredArticle, labels: Mapping[str, str], previously_sent: bool,
              intervention_labels: Mapping[str, str] | None = None,
              claim_labels: Mapping[str, str] | None = None, last_updated: str = "") -> DigestItem:
    """One record's card. `intervention_labels`: the watched article's names for its intervention ids (its
    [topic]); `claim_labels`: its claims' labels by id. An id without one is shown as it is."""
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
    why, details = split_reasons(reasons)
    title = clean_text(article.title) or "(no title)"
    finding = clean_finding(assessment.finding if assessment else None)
    stances = assessment.stances if assessment else ()
    lines = stance_lines(stances, claim_labels or {})
    statement = shorten(finding.statement, CONCLUSION_LIMIT) if finding and finding.statement else ""
    return DigestItem(
        pmid=article.pmid,
        content_hash=stored.content_hash,
        title=title,
        title_html=sanitize_inline_html(article.title_html) or escape_html(title),
        url=record_url(article.pmid, article.doi, title),
        pubmed_url=pubmed_url_or_none(article.pmid),
        placeholder=is_placeholder_pmid(article.pmid),
        anchor=item_anchor(article.pmid),
        journal=shorten(clean_text(article.journal or article.journal_abbrev), JOURNAL_LIMIT),
        published=clean_text(article.pub_date) or (str(article.pub_year) if article.pub_year else ""),
        pub_year=article.pub_year,
        added=article.created.isoformat() if article.created else "",
        verdict=verdict,
        design=design,
        found=found_line(finding),
        for_article=lines,
        finding=finding,
        stance={s.claim: {"stance": s.stance, "reason": s.reason} for s in lines},
        quotes=tuple(f'{o.measure}: "{o.quote}"' for o in (finding.outcomes if finding else ()) if o.quote),
        badges=_badges(design, population, interventions, notices, intervention_labels or {}),
        reasons=reasons,
        why=why,
        details=details,
        note="already cited in the article" if verdict == "cited" else "",
        claims=claims,
        sample_size=f"n = {sample}" if sample else None,
        follow_up=months(follow_up),
        conclusion=statement or conclusion(article),
        conclusion_label=STATEMENT_LABEL if statement else CONCLUSION_LABEL,
        doi=Link(article.doi, doi_url(article.doi)) if article.doi else None,
        trials=tuple(Link(n.upper(), nct_url(n)) for n in article.nct_ids if NCT_ID.fullmatch(n.upper())),
        notices=notices,
        change=change,
        change_note=change_note,
        queries=tuple(sorted({clean_text(labels.get(q, q)) for q in stored.query_ids})),
        cited_study=cited_study,
        last_changed=stored.last_changed,
        predates=predates_update(article.pub_year, last_updated),
    )


def predates_update(pub_year: int | None, last_updated: str) -> bool:
    """Published in a year before the article's `last_updated` ("2025-10"); the same year is not known to predate."""
    if pub_year is None or not last_updated[:4].isdigit():
        return False
    return pub_year < int(last_updated[:4])


def item_anchor(pmid: str) -> str:
    """The card's HTML id / Markdown anchor: "pmid-<digits>" (anything else in a PMID is dropped)."""
    return "pmid-" + re.sub(r"[^0-9A-Za-z]", "", pmid)


def split_reasons(reasons: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(why, details): the first WHY_LIMIT writer reasons; then the other writer reasons and the signals."""
    human = [r for r in reasons if r and not r.lower().startswith(SIGNAL_PREFIX)]
    signals = [r[len(SIGNAL_PREFIX) :].strip() for r in reasons if r.lower().startswith(SIGNAL_PREFIX)]
    # Only the first is sentence-cased: templates join them as one sentence ("A — b").
    why = tuple(sentence_case(r) if n == 0 else r for n, r in enumerate(human[:WHY_LIMIT]))
    return why, tuple(r for r in (*human[WHY_LIMIT:], *signals) if r)


def sort_items(items: list[DigestItem]) -> tuple[DigestItem, ...]:
    """By the most pressing stance (contradicts, outdates, extends, supports, unclear, then none); within one,
    papers newer than the article's last update before older ones, then follow-ups/notices of cited studies, then
    strongest design, then newest, then PMID."""

    def design_rank(item: DigestItem) -> int:
        return DESIGN_ORDER.index(item.design) if item.design in DESIGN_ORDER else len(DESIGN_ORDER)

    by_pmid = sorted(items, key=lambda i: i.pmid)
    by_date = sorted(by_pmid, key=lambda i: i.added, reverse=True)
    return tuple(sorted(by_date, key=lambda i: (stance_order(i), i.predates, i.cited_study is None,
                                                   design_rank(i))))


def stance_order(item: DigestItem) -> int:
    """The item's most pressing stance, as a rank (`findings.item_stance_rank`)."""
    return item_stance_rank(s.stance for s in item.for_article)


def _change(stored: StoredArticle, previously_sent: bool, notices: tuple[str, ...]) -> tuple[str, str | None]:
    if stored.deleted:
        return "deleted", "deleted from PubMed"
    if not previously_sent and stored.last_changed <= stored.first_seen:
        return "new", None
    # Only the latest version is at hand, so name a notice it now carries, not a diff we cannot see.
    kinds = [NOTICE_WORDS[c.ref_type] for c in stored.article.comments_corrections if c.ref_type in NOTICE_WORDS]
    if kinds:
        return "changed", f"changed since last digest: {', '.join(dict.fromkeys(kinds))} link added"
    return "changed", "updated record"


def _notices(article: Article) -> tuple[str, ...]:
    lines = []
    for link in article.comments_corrections:
        word = NOTICE_WORDS.get(link.ref_type)
        if word is None:
            continue
        where = clean_text(link.ref_source) or (f"PMID {link.pmid}" if link.pmid else "")
        lines.append(f"{word.capitalize()}: {where}" if where else word.capitalize())
    return tuple(lines)


def _badges(
    design: str, population: str, interventions: tuple[str, ...], notices: tuple[str, ...],
    intervention_labels: Mapping[str, str],
) -> tuple[str, ...]:
    badges = []
    if any(n.startswith("Retraction:") for n in notices):
        badges.append("Retracted")
    if design:
        badges.append(DESIGN_LABELS.get(design, design.replace("-", " ").capitalize()))
    if population in POPULATION_LABELS and population != _IMPLIED_POPULATION.get(design):
        badges.append(POPULATION_LABELS[population])
    badges.extend(intervention_labels.get(i, i) for i in interventions)
    return tuple(badges)


__all__ = [
    "DigestItem",
    "item_anchor",
    "make_item",
    "one_per_pmid",
    "sort_items",
    "split_reasons",
]
