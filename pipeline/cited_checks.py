"""The cited-study checks of a run: re-fetch every study each watched article cites, each run.

Retractions, errata and expressions of concern arrive months after publication, so a cited study is fetched again
every run (by PMID, or by DOI resolved to a PMID through esearch), stored, assessed, and compared with what was
stored before (`assess.check_cited_study`). A failing check is a warning of the run, never its failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Engine

from litwatch.storage import StorageError, repository
from litwatch.storage.engine import session_scope
from litwatch.storage.records import Article, ParsedBatch

from .assess import assess, check_cited_study
from .errors import LitwatchError
from .ncbi import EutilsClient
from .watchlist import CitedStudy, WatchedArticle

log = logging.getLogger(__name__)


class CitedStudyChecks:
    """Checks one watched article's cited studies against PubMed and records what each check saw."""

    def __init__(
        self,
        client: EutilsClient,
        engine: Engine,
        parse: Callable[[bytes, str], ParsedBatch],
        clock: Callable[[], datetime],
        batch_size: int,
    ) -> None:
        self._client, self._engine, self._parse, self._clock = client, engine, parse, clock
        self._batch_size = batch_size

    def check(self, run_id: int, article: WatchedArticle) -> list[str]:
        """Check every cited study of `article`; returns a warning per check that failed."""
        warnings: list[str] = []
        for study in article.cited:
            try:
                self._check_one(run_id, article, study)
            except (LitwatchError, StorageError) as exc:
                warnings.append(f"cited study {study.id}: check failed: {exc}")
                log.warning("cited study %s: check failed: %s", study.id, exc)
        return warnings

    def _check_one(self, run_id: int, article: WatchedArticle, study: CitedStudy) -> None:
        pmids = self._pmids(study)
        current: Article | None = None
        previous: Article | None = None
        now = self._clock()
        if pmids:
            with session_scope(self._engine) as s:
                stored = repository.get_article(s, pmids[0])
            previous = stored.article if stored else None
            for batch in self._client.fetch_ids(pmids[:1], self._batch_size):
                parsed = self._parse(batch.body, f"cited study {study.id} efetch")
                if parsed.articles:
                    current = parsed.articles[0]
        with session_scope(self._engine) as s:
            if current is not None:
                repository.upsert_articles(s, [current], now)
                repository.save_assessment(s, assess(current, article), now)
            status = replace(check_cited_study(study, current, previous), article=article.slug)
            repository.save_cited_check(s, status, run_id)

    def _pmids(self, study: CitedStudy) -> list[str]:
        """The study's PMID as the article gives it, else the PMIDs PubMed files its DOI under (maybe none)."""
        if study.pmid:
            return [study.pmid]
        return self._client.pmids_for_doi(study.doi) if study.doi else []


__all__ = ["CitedStudyChecks"]
