"""Runner behaviour not covered end to end elsewhere: backfill resume (completed slices are skipped on a re-run),
an unreachable NCBI failing the run at once, log lines naming the saved search, an interrupt (KeyboardInterrupt)
recorded as a stopped run with no watermark moved."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.errors import EutilsUnreachable, RunStepError
from litwatch.pipeline.ncbi import DateWindow, EutilsClient, SearchResult
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest, make_client
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import free_port
from tests.pipeline.conftest import ReplayFactory

REPO = Path(__file__).resolve().parents[2]
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)
SMALL_CAP = 10  # stands in for PubMed's 9,999 so that 36 hits make several slices


class SmallCapClient(EutilsClient):
    """The real client, with a small esearch cap: slicing without a corpus of tens of thousands of records."""

    def search_windows(
        self, term: str, window: DateWindow, cap: int = SMALL_CAP, *, query_id: str | None = None
    ) -> tuple[int, Iterator[SearchResult]]:
        return super().search_windows(term, window, cap=SMALL_CAP, query_id=query_id)


def settings_for(tmp_path: Path, server: ReplayServer | str, db_url: str, max_attempts: int = 2) -> Settings:
    base_url = server if isinstance(server, str) else server.base_url
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = 7\n'
        # max_in_flight 1: requests in a known order (faults after=k)
        f"backoff_base = 0.001\nmax_attempts = {max_attempts}\nmax_in_flight = 1\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n[paths]\nqueries = "{REPO / "queries"}"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n",  # no network in tests
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


# --- NCBI unreachable -----------------------------------------------------------------------------------------

def test_an_unreachable_ncbi_fails_the_whole_run_at_once_with_one_line(tmp_path: Path, db_url: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/"  # a port just handed out and closed: nothing listens there
    settings = settings_for(tmp_path, url, db_url, max_attempts=6)
    run = Runner(settings)
    with pytest.raises(EutilsUnreachable) as failure:
        run.run(RunRequest(since=SINCE, until=UNTIL))
    assert str(failure.value) == (
        f"cannot reach NCBI at {url}: connection refused — check [ncbi] base_url or the network")
    assert run.client.requests_made == 1  # not 6 attempts per saved search, nor the next saved searches
    with session_scope(make_engine(db_url)) as s:
        (recorded,) = repository.list_runs(s)
    assert recorded.status == "failed" and recorded.error == str(failure.value)
    assert [q.query_id for q in recorded.queries] == [recorded.queries[0].query_id]  # the others never started


def test_log_lines_name_the_saved_search_by_its_id(
    tmp_path: Path, replay_factory: ReplayFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None)
    settings = settings_for(tmp_path, server, db_url, max_attempts=3)
    server.faults.inject("esearch", "503", times=1)
    server.faults.inject("efetch", "503", times=1)
    caplog.set_level(logging.WARNING, logger="litwatch")
    Runner(settings).run(RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False))
    retries = [r.getMessage() for r in caplog.records if "retry 1/2" in r.getMessage()]
    assert len(retries) == 2, caplog.text
    assert retries[0].startswith(f"query=stem-cells esearch count for {SINCE}..{UNTIL}: HTTP 503")
    assert retries[1].startswith("query=stem-cells efetch batch 1 ")
    assert "[tiab]" not in caplog.text  # no term, truncated or not


# --- interrupts (Ctrl-C) ----------------------------------------------------------------------------------------

class InterruptingRunner(Runner):
    """Ctrl-C arriving while the second batch is stored: a KeyboardInterrupt raised in the consumer's own code,
    as Python raises it from SIGINT (the subprocess test in tests/pipeline/test_interrupts.py sends the real one)."""

    stored_batches = 0

    def _store_batch(self, *args: object, **kwargs: object) -> set[str]:
        self.stored_batches += 1
        if self.stored_batches == 2:
            raise KeyboardInterrupt
        return super()._store_batch(*args, **kwargs)  # type: ignore[arg-type]


def test_an_interrupt_records_a_stopped_run_keeps_whole_batches_and_moves_no_watermark(
    tmp_path: Path, replay_factory: ReplayFactory, db_url: str
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None)
    settings = settings_for(tmp_path, server, db_url)
    request = RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False)
    interrupted = InterruptingRunner(settings)
    with pytest.raises(KeyboardInterrupt):
        interrupted.run(request)
    assert interrupted.client.interrupted  # nothing retried after the interrupt, in any thread
    with session_scope(make_engine(db_url)) as s:
        (run,) = repository.list_runs(s)
        watermark = repository.get_watermark(s, "stem-cells")
    assert (run.status, run.error) == ("stopped", "interrupted (Ctrl-C): stopped at once; committed batches are "
                                                  "kept; a re-run resumes the window")
    (query,) = run.queries
    assert query.status == "stopped" and query.found == 7 and "interrupted" in (query.error or "")
    assert watermark is None and len(stored(db_url)) == 7  # batch 1 kept, batch 2 never committed
    Runner(settings).run(request)  # the lock is free and a re-run completes the window
    with session_scope(make_engine(db_url)) as s:
        assert [r.status for r in repository.list_runs(s)] == ["success", "stopped"]
