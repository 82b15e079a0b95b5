"""What the console's pages and JSON show, read from storage: each watched article's records as the digest's cards
(`reports.items.make_item`) with their triage status, and the decisions export. No Flask here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from litwatch.reports.items import DigestItem, make_item, one_per_pmid
from litwatch.storage import console, repository
from litwatch.storage.console import Decision

from ..watchlist import WatchedArticle

ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)
VERDICTS = ("update", "review", "fyi", "cited", "exclude")


@dataclass(frozen=True)
class ConsoleItem:
    article: str  # the watched article's slug
    card: DigestItem  # the digest's card: title, verdict, finding, reasons…
    status: str  # open / reviewed / article-updated / dismissed
    decision: Decision | None  # the newest decision (who, when, reason, note); None: never decided
    first_seen: datetime

    @property
    def action(self) -> bool:
        """An item the writer has to act on, as the digest's "Action needed" counts them."""
        c = self.card
        return c.change != "deleted" and (c.verdict == "update" or (c.verdict == "cited" and c.change == "changed"))

    def to_dict(self) -> dict[str, Any]:
        c = self.card
        return {
            "article": self.article, "pmid": c.pmid, "title": c.title, "url": c.url, "journal": c.journal,
            "published": c.published, "verdict": c.verdict, "design": c.design, "found": c.found,
            "reasons": list(c.reasons), "claims": list(c.claims), "status": self.status,
            "first_seen": self.first_seen.isoformat(),
            "decision": self.decision.to_dict() if self.decision else None,
        }


@dataclass(frozen=True)
class ItemFilter:
    article: str | None = None
    verdict: str | None = None
    status: str | None = None
    since: date | None = None  # first seen on or after this day

    def keeps(self, item: ConsoleItem) -> bool:
        return ((self.verdict is None or item.card.verdict == self.verdict)
                and (self.status is None or item.status == self.status)
                and (self.since is None or item.first_seen.date() >= self.since))


def article_items(s: Session, article: WatchedArticle, now: datetime) -> list[ConsoleItem]:
    """Every record the article's saved searches found, newest first, as digest cards with their status."""
    labels = {q.id: q.label for q in article.queries}
    stored = one_per_pmid(repository.changed_between(s, ALL_TIME, now + timedelta(days=1), article.slug, labels))
    decisions = console.latest_decisions(s, article.slug)
    items = []
    for record in stored:
        card = make_item(record, labels, previously_sent=False,
                         intervention_labels={i.id: i.label for i in article.topic.interventions},
                         claim_labels={c.id: c.label for c in article.claims},
                         last_updated=article.last_updated or "")
        decision = decisions.get(card.pmid)
        items.append(ConsoleItem(article.slug, card, decision.status if decision else "open", decision,
                                 record.first_seen))
    return sorted(items, key=lambda i: (i.first_seen, i.card.pmid), reverse=True)


def console_items(s: Session, articles: Iterable[WatchedArticle], wanted: ItemFilter, now: datetime
                  ) -> list[ConsoleItem]:
    return [item for a in articles if wanted.article in (None, a.slug)
            for item in article_items(s, a, now) if wanted.keeps(item)]


def export_rows(s: Session, article: str | None = None) -> list[dict[str, Any]]:
    """Every decision (oldest first) with the record's title and its verdict for that article."""
    history = console.decision_history(s, article)
    rows = []
    cache: dict[tuple[str, str], Any] = {}
    for d in history:
        key = (d.article, d.pmid)
        if key not in cache:
            cache[key] = repository.get_article(s, d.pmid, d.article)
        stored = cache[key]
        a = stored.assessment if stored else None
        rows.append({
            "at": d.at.isoformat(), "user": d.user, "article": d.article, "pmid": d.pmid,
            "from": d.from_status, "to": d.status, "reason": d.reason or "", "note": d.note,
            "verdict": a.verdict if a else "", "design": a.design if a else "",
            "ruleset": a.ruleset_version if a else "", "title": stored.article.title if stored else "",
        })
    return rows
