"""The cited-study checks of a run: re-fetch every study each watched article cites, each run.

Retractions, errata and expressions of concern arrive months after publication, so a cited study is fetched again
every run (by PMID, or by DOI resolved to a PMID through esearch), stored, assessed, and compared with what was
stored before (`assess.check_cited_study`). Then Crossref is asked about the study's DOI (`crossref`): its
`updated-by` carries publishers' notices and the Retraction Watch database, often months before PubMed, and
`assess.cited.cross_check_crossref` adds what it says. A failing check is a warning of the run, never its failure;
a failing Crossref check never loses PubMed's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.engine import Engine

from litwatch.storage import StorageError, repository
from litwatch.storage.engine import session_scope
from litwatch.storage.records import Article, CitedStudyStatus, ParsedBatch

from .assess import assess, check_cited_study
from .assess.cited import cross_check_crossref
from .config import Settings
from .crossref import CrossrefClient, CrossrefError, CrossrefUnreachable
from .crossref.client import crossref_rate_limiter
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
        crossref: CrossrefClient | None = None,
    ) -> None:
        self._client, self._engine, self._parse, self._clock = client, engine, parse, clock
        self._batch_size = batch_size
        self.crossref = crossref  # None: Crossref disabled
        self._crossref_down: tuple[int, str] | None = None  # (run id, why): unreachable for the rest of that run

    def check(self, run_id: int, article: WatchedArticle) -> list[str]:
        """Check every cited study of `article`; returns a warning per check that failed."""
        warnings: list[str] = []
        for study in article.cited:
            try:
                warnings += self._check_one(run_id, article, study)
            except (LitwatchError, StorageError) as exc:
                warnings.append(f"cited study {study.id}: check failed: {exc}")
                log.warning("cited study %s: check failed: %s", study.id, exc)
        return warnings

    def _check_one(self, run_id: int, article: WatchedArticle, study: CitedStudy) -> list[str]:
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
        status = replace(check_cited_study(study, current, previous), article=article.slug)
        status, warnings = self._with_crossref(run_id, study, current, status)  # before the session: no HTTP in it
        with session_scope(self._engine) as s:
            if current is not None:
                repository.upsert_articles(s, [current], now)
                repository.save_assessment(s, assess(current, article), now)
            repository.save_cited_check(s, status, run_id)
        return warnings

    def _with_crossref(
        self, run_id: int, study: CitedStudy, current: Article | None, status: CitedStudyStatus
    ) -> tuple[CitedStudyStatus, list[str]]:
        """PubMed's status with Crossref's notices added, and the warnings of asking (none when all went well)."""
        doi = study.doi or (current.doi if current is not None else None)
        if self.crossref is None or not doi:
            return status, []
        if self._crossref_down is not None and self._crossref_down[0] == run_id:
            return replace(status, notes=(*status.notes, "Crossref: not checked (unreachable this run)")), []
        try:
            work = self.crossref.work(doi)
        except CrossrefError as exc:
            if isinstance(exc, CrossrefUnreachable):  # one warning per run, not one per study
                self._crossref_down = (run_id, str(exc))
            log.warning("cited study %s: Crossref check failed: %s", study.id, exc)
            return (replace(status, notes=(*status.notes, "Crossref: check failed this run")),
                    [f"cited study {study.id}: Crossref check failed: {exc}"])
        if work is None:
            log.warning("cited study %s: Crossref has no record of DOI %s", study.id, doi)
            return (cross_check_crossref(status, doi, None),
                    [f"cited study {study.id}: Crossref has no record of DOI {doi}"])
        return cross_check_crossref(status, doi, work.notices, work.doi), []

    def _pmids(self, study: CitedStudy) -> list[str]:
        """The study's PMID as the article gives it, else the PMIDs PubMed files its DOI under (maybe none)."""
        if study.pmid:
            return [study.pmid]
        return self._client.pmids_for_doi(study.doi) if study.doi else []


def make_crossref(settings: Settings) -> CrossrefClient | None:
    """The run's Crossref client ([crossref]; identified by the NCBI contact address), None when disabled."""
    c, n = settings.crossref, settings.ncbi
    if not c.enabled:
        return None
    return CrossrefClient(c.base_url, mailto=n.email, timeout=(n.connect_timeout, min(n.read_timeout, 60.0)),
                          max_attempts=min(n.max_attempts, 4), backoff_base=n.backoff_base,
                          rate_limiter=crossref_rate_limiter(c.requests_per_second))


__all__ = ["CitedStudyChecks", "make_crossref"]
