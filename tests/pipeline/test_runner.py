"""Runner behaviour not covered end to end elsewhere: backfill resume (completed slices are skipped on a re-run)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.errors import RunStepError
from litwatch.pipeline.ncbi import DateWindow, EutilsClient, SearchResult
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest, make_client
from litwatch.storage.engine import make_engine
from tests.pipeline.conftest import ReplayFactory

REPO = Path(__file__).resolve().parents[2]
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)
SMALL_CAP = 10  # stands in for PubMed's 9,999 so that 36 hits make several slices


class SmallCapClient(EutilsClient):
    """The real client, with a small esearch cap: slicing without a corpus of tens of thousands of records."""

    def search_windows(
        self, term: str, window: DateWindow, cap: int = SMALL_CAP
    ) -> tuple[int, Iterator[SearchResult]]:
        return super().search_windows(term, window, cap=SMALL_CAP)


def settings_for(tmp_path: Path, server: ReplayServer, db_url: str) -> Settings:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{server.base_url}"\nemail = "tests@example.org"\nbatch_size = 7\n'
        "backoff_base = 0.001\nmax_attempts = 2\nmax_in_flight = 1\n"  # requests in a known order (faults after=k)
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n[paths]\nqueries = "{REPO / "queries"}"\n',
        encoding="utf-8",
    )
    return load_settings(cfg, env={"NCBI_API_KEY": "test-key-0000"})


def runner(settings: Settings) -> Runner:
    base = make_client(settings)
    client = SmallCapClient(settings.ncbi.base_url, email=settings.ncbi.email, tool=settings.ncbi.tool,
                            api_key=settings.ncbi.api_key, max_attempts=settings.ncbi.max_attempts,
                            backoff_base=settings.ncbi.backoff_base, rate_limiter=base.rate_limiter)
    return Runner(settings, client=client)


def slices_done(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from backfill_slices")).scalar_one()
    engine.dispose()
    return int(n)


def stored(db_url: str) -> set[str]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        pmids = {r[0] for r in conn.execute(sa.text("select pmid from articles"))}
    engine.dispose()
    return pmids


def test_a_failed_backfill_resumes_from_the_slices_it_completed(
    tmp_path: Path, replay_factory: ReplayFactory, db_url: str
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None)
    settings = settings_for(tmp_path, server, db_url)
    request = RunRequest(kind="backfill", query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False)

    server.faults.inject("efetch", "503", times=100, after=3)  # three batches go through, then efetch is down
    with pytest.raises(RunStepError, match=r"efetch batch 4 .*503"):
        runner(settings).run(request)
    done_first = slices_done(db_url)
    assert done_first >= 1, "the slices fully stored before the failure are recorded"
    partial = stored(db_url)

    server.faults.clear()
    before = server.stats.requests["efetch"]
    summary = runner(settings).run(request)
    resumed_efetches = server.stats.requests["efetch"] - before
    assert summary.status == "success"
    assert partial < stored(db_url)
    full = runner(settings).run(RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL,
                                           check_cited=False))
    # A regular run never skips (its window is re-queried on purpose); the resumed backfill fetched less than that.
    full_efetches = server.stats.requests["efetch"] - before - resumed_efetches
    assert resumed_efetches < full_efetches
    assert full.new == 0 and full.changed == 0  # the resumed backfill had stored everything
    assert slices_done(db_url) > done_first


def test_a_completed_backfill_rerun_fetches_nothing_again(
    tmp_path: Path, replay_factory: ReplayFactory, sqlite_url: str
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None)
    settings = settings_for(tmp_path, server, sqlite_url)
    request = RunRequest(kind="backfill", query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False)
    first = runner(settings).run(request)
    assert first.new > 0
    before = server.stats.requests["efetch"]
    again = runner(settings).run(request)
    assert again.status == "success" and again.found == 0
    assert server.stats.requests["efetch"] == before  # every slice was skipped: only esearch requests


def test_slice_results_know_their_window() -> None:
    """The resume key is the slice's date window; SearchResult must carry it."""
    result = SearchResult(term="t", full_term="t", window=DateWindow(SINCE, UNTIL), count=0, webenv=None,
                          query_key=None, ids=())
    assert result.window == DateWindow(SINCE, UNTIL)
