"""Run-health rules shared by `litwatch status` and the digest's Run health section (one rule, one place)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from litwatch.storage import repository

from .config import Settings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def zero_result_warnings(s: Session, settings: Settings, query_ids: Iterable[str], now: datetime) -> list[str]:
    """A saved search that has found nothing for longer than [schedule] zero_result_days is suspect (PubMed may
    have renamed a MeSH heading, or the term is broken). A search younger than that limit is not flagged."""
    limit = timedelta(days=settings.schedule.zero_result_days)
    overall = repository.query_stats(s, EPOCH)  # `runs` counts every run
    recent = repository.query_stats(s, now - limit)  # `runs` counts runs inside the limit
    warnings: list[str] = []
    for qid in query_ids:
        h = overall.get(qid)
        if h is None or h.last_success is None:
            continue
        ran_before_limit = h.runs > (recent[qid].runs if qid in recent else 0)
        if h.last_nonzero is None and ran_before_limit:
            warnings.append(f"query {qid}: 0 results in every run for more than {limit.days} days — check the query")
        elif h.last_nonzero is not None and now - h.last_nonzero > limit:
            warnings.append(f"query {qid}: 0 results since {h.last_nonzero:%Y-%m-%d} (more than {limit.days} days)"
                            " — check the query")
    return warnings
