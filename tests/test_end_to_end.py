"""The whole pipeline against the real replay server and real databases (SQLite file and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.errors import QueryError, RunStepError
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import DOMAIN_LABELS, DOMAIN_RECORDS, lbp_only_queries

REPO = Path(__file__).resolve().parents[1]
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture
def server(corpus: Corpus) -> ReplayServer:
    """NCBI's real limits (3/s, 10/s with a key): the server counts every request that breaks them."""
    with ReplayServer(corpus) as srv:
        yield srv


def make_settings(tmp_path: Path, base_url: str, db_url: str, batch_size: int = 7, queries: Path | None = None,
                  **ncbi: object) -> Settings:
    """Client at NCBI's with-key pace (10/s) so tests are quick and the server's rate check stays meaningful.
    `queries`: the watch list (default: the bundled low-back-pain article alone)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = {batch_size}\n'
        f"backoff_base = 0.001\nmax_attempts = 3\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{queries or lbp_only_queries()}"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n",  # no network in tests
        encoding="utf-8",
    )
    settings = load_settings(cfg, env={"NCBI_API_KEY": "test-key-0000"})
    return settings.with_overrides(ncbi=ncbi) if ncbi else settings


def stored_rows(db_url: str) -> list[tuple[str, int, str]]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select pmid, version, content_hash from articles order by pmid")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def hit_pmids(corpus: Corpus, settings: Settings) -> set[str]:
    """What the saved searches should find in the corpus, by the replay server's own matcher."""
    from litwatch.pipeline.watchlist import load_watchlist

    found: set[str] = set()
    for article in load_watchlist(settings.queries_dir):
        for query in article.queries:
            found |= set(corpus.search(query.term))
    return found


def must_find() -> set[str]:
    import json

    labels = [json.loads(line) for line in DOMAIN_LABELS.read_text().splitlines() if line.strip()]
    return {x["pmid"] for x in labels if x["verdict"] in ("update", "review", "cited")}


def test_run_stores_every_hit_once_and_rerun_is_idempotent(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    settings = make_settings(tmp_path, server.base_url, db_url)
    expected = hit_pmids(corpus, settings)
    assert must_find() <= expected, "every record a writer must see (update/review/cited) is a hit"

    first = Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert first.status == "success"
    rows = stored_rows(db_url)
    assert {pmid for pmid, _, _ in rows} == expected
    assert first.new == len(expected)
    assert server.stats.rate_violations == 0
    assert server.stats.post_count > 0  # efetch goes by POST

    second = Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert second.new == 0 and second.changed == 0
    assert stored_rows(db_url) == rows
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        for query_id in ("stem-cells", "exosomes", "gene-therapy"):
            assert repository.get_watermark(s, query_id) == UNTIL
        stored = repository.get_articles(s, sorted(expected))
        assert all(x.assessment is not None for x in stored.values())
        assert len(repository.list_runs(s)) == 2


def test_failed_run_keeps_whole_batches_and_rerun_completes(
    tmp_path: Path, server: ReplayServer, corpus: Corpus, db_url: str
) -> None:
    # max_in_flight 1: `after=2` must let exactly batches 1 and 2 through, i.e. requests arrive in batch order
    settings = make_settings(tmp_path, server.base_url, db_url, max_in_flight=1)
    expected = hit_pmids(corpus, settings)
    # Two batches of the first query succeed, then efetch fails more often than the client retries.
    server.faults.inject("efetch", "503", times=50, after=2)
    with pytest.raises(RunStepError, match=r"efetch .*503"):
        Runner(settings).run(RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False))
    partial = stored_rows(db_url)
    assert len(partial) == 2 * 7  # exactly two whole batches, nothing half-written
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        assert repository.get_watermark(s, "stem-cells") is None  # the window did not complete
        failed = repository.list_runs(s, limit=1)[0]
        assert failed.status == "failed" and "503" in (failed.error or "")

    server.faults.clear()
    Runner(settings).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False))
    assert {pmid for pmid, _, _ in stored_rows(db_url)} == expected
    with session_scope(engine) as s:
        assert repository.get_watermark(s, "stem-cells") == UNTIL


def test_phrase_not_found_stops_the_query_with_its_name(tmp_path: Path, server: ReplayServer, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, server.base_url, sqlite_url)
    server.faults.inject("esearch", "phrase_not_found:intradiskal", times=100)
    with pytest.raises(RunStepError, match=r"stem-cells.toml.*intradiskal.*PhraseNotFound") as info:
        Runner(settings).run(RunRequest(query_ids=("stem-cells",), since=SINCE, until=UNTIL, check_cited=False))
    assert isinstance(info.value.cause, QueryError)


def test_cli_run_then_runs_and_show(tmp_path: Path, server: ReplayServer, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, server.base_url, sqlite_url)
    cli = [sys.executable, "-m", "litwatch.pipeline.cli", "--config", settings.source]
    done = subprocess.run([*cli, "run", "--since", "2026-09-01", "--until", "2026-11-24", "--no-cited"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("run 1 success") and "found" in done.stdout
    runs = subprocess.run([*cli, "runs"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert runs.returncode == 0 and " success " in runs.stdout and " cron " in runs.stdout
    show = subprocess.run([*cli, "show", "25054402"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert show.returncode == 0, show.stderr
    assert "Human umbilical cord mesenchymal stem cell" in show.stdout
    assert "verdict for stem-cell-lbp: " in show.stdout  # a verdict names the article it is for


@pytest.mark.parametrize(
    ("config", "args", "code", "message"),
    [
        ('[ncbi]\nbatch_sise = 3\n', ["check"], 2, r"\[ncbi\] batch_sise: unknown key"),
        ('[ncbi]\nemail = "a@b.org"\n', ["run", "--since", "2026-13-01"], 2, r"expected a date YYYY-MM-DD"),
        ('[ncbi]\nemail = "a@b.org"\n', ["run", "--query", "nope"], 2, r"unknown query id\(s\) nope"),
        ('[ncbi]\nemail = "a@b.org"\n', ["show", "1"], 1, r"PMID 1 is not stored"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code(
    tmp_path: Path, config: str, args: list[str], code: int, message: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(config + f'[storage]\ndata_dir = "{tmp_path}"\n[paths]\nqueries = "{lbp_only_queries()}"\n')
    done = subprocess.run([sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(cfg), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == code, done.stderr
    import re

    assert re.search(message, done.stderr), done.stderr
    assert "Traceback" not in done.stderr
