"""Performance by shape, not by clock: statements per batch are constant, the canonical JSON is computed once and
equals the model's, and the read paths of the digest and the commands use indexes (SQLite's query plans)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import (
    Accession,
    Assessment,
    CommentCorrection,
    MeshHeading,
    canonical_hash,
    to_jsonable,
)
from tests.conftest import DOMAIN_RECORDS, ThirdPartyBytes, eutils_bytes
from tests.storage.conftest import T0, article, at

REAL = [DOMAIN_RECORDS, eutils_bytes("fatcat__pubmedsample_2019.xml"),
        eutils_bytes("Eutils-JSON__efetch.pubmedbook.xml")]


def assessment(pmid: str, content_hash: str | None = "h", verdict: str = "fyi") -> Assessment:
    return Assessment(pmid=pmid, verdict=verdict, design="narrative review", population="human",  # type: ignore[arg-type]
                      condition="disc degeneration", reasons=("a reason",), ruleset_version="r1", record_version=1,
                      content_hash=content_hash, interventions=("stem-cells",), claims=("overview",),
                      article="stem-cell-lbp")


def counting(engine: Engine) -> list[str]:
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    return statements


def real_statements(statements: list[str]) -> list[str]:
    return [q for q in statements if not q.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))]


# --- one serialisation per record, equal to the model's ---------------------------------------------------------

@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_fast_canonical_form_equals_the_models_on_real_records(path: Path | ThirdPartyBytes) -> None:
    body = path.read_bytes() if isinstance(path, Path) else path.read()
    articles = parse_efetch(body, path.name).articles
    assert articles
    for art in articles:
        record = to_jsonable(art)
        assert record == art.to_dict()
        assert canonical_hash(record) == art.content_hash


def test_fast_canonical_form_covers_every_nested_kind() -> None:
    art = article(
        "7", mesh=(MeshHeading(ui="D1", descriptor="Intervertebral Disc Degeneration", major=True,
                               qualifiers=("therapy",)),),
        accessions=(Accession(databank="ClinicalTrials.gov", accession="NCT01234567"),),
        comments_corrections=(CommentCorrection(ref_type="RetractionIn", pmid="9", ref_source="x"),),
        references=("1", "2"), keywords=("disc",),
    )
    assert to_jsonable(art) == art.to_dict()
    assert canonical_hash(to_jsonable(art)) == art.content_hash


def test_upsert_serialises_each_record_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = repository.to_jsonable
    monkeypatch.setattr(repository, "to_jsonable", lambda a: calls.append(a.pmid) or real(a))
    with session_scope(engine) as s:
        repository.upsert_articles(s, [article(str(p)) for p in range(1, 41)], at(0))
    assert sorted(calls, key=int) == [str(p) for p in range(1, 41)]


# --- constant statements per batch ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [10, 450])
def test_upsert_and_hits_statements_do_not_grow_with_the_batch(engine: Engine, n: int) -> None:
    with session_scope(engine) as s:
        repository.start_run(s, kind="fetch", trigger="manual", window_start=None, window_end=None, started_at=at(0))
    statements = counting(engine)
    batch = [article(str(p)) for p in range(1000, 1000 + n)]
    with session_scope(engine) as s:
        repository.upsert_articles(s, batch, at(1))
        repository.record_hits(s, 1, "q", [a.pmid for a in batch])
        repository.save_assessments(s, [assessment(a.pmid, None) for a in batch], at(1))
    # SELECT existing, INSERT articles, INSERT versions, INSERT hits, SELECT hashes, SELECT done, INSERT assessments
    assert len(real_statements(statements)) == 7


@pytest.mark.parametrize("n", [3, 1200])
def test_save_assessments_in_constant_statements_and_idempotent(engine: Engine, n: int) -> None:
    pmids = [str(p) for p in range(1, n + 1)]
    with session_scope(engine) as s:
        repository.upsert_articles(s, [article(p) for p in pmids], at(0))
    statements = counting(engine)
    with session_scope(engine) as s:
        assert repository.save_assessments(s, [assessment(p) for p in pmids], at(1)) == n
    chunks = -(-n // 500)
    assert len(real_statements(statements)) == 2 * chunks  # one SELECT and one executemany INSERT per 500
    with session_scope(engine) as s:
        assert repository.save_assessments(s, [assessment(p) for p in pmids], at(2)) == 0
        assert repository.save_assessments(s, [assessment(pmids[0], verdict="update"), assessment(pmids[0], "h2")],
                                           at(3)) == 1
        history = repository.assessment_history(s, pmids[0])
    assert [(a.content_hash, a.verdict) for a in history] == [("h", "fyi"), ("h2", "fyi")]


def test_save_assessments_takes_missing_hashes_from_the_stored_content(engine: Engine) -> None:
    art = article("42")
    with session_scope(engine) as s:
        repository.upsert_articles(s, [art], at(0))
        assert repository.save_assessments(s, [assessment("42", None)], at(1)) == 1
        assert repository.save_assessment(s, assessment("42", art.content_hash), at(2)) is False
        stored = repository.get_article(s, "42")
    assert stored is not None and stored.assessment is not None
    assert stored.assessment.content_hash == art.content_hash


# --- read paths use indexes (SQLite query plans) ----------------------------------------------------------------

@pytest.fixture
def filled(sqlite_url: str) -> Iterator[Engine]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        run_id = repository.start_run(s, kind="fetch", trigger="cron", window_start=None, window_end=None,
                                      started_at=T0)
        repository.start_query_run(s, run_id, "q", None, None)
        batch = [article(str(p)) for p in range(1, 301)]
        for i in range(0, 300, 100):
            repository.upsert_articles(s, batch[i : i + 100], at(i))
        repository.record_hits(s, run_id, "q", [a.pmid for a in batch])
        repository.save_assessments(s, [assessment(a.pmid, None) for a in batch], at(1))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    yield engine
    engine.dispose()


# A scan that reads the table (plain, or walking an index and fetching rows). An index-only scan of a covering
# index is allowed: on 300 rows SQLite prefers it to 300 lookups, and it never touches the table.
_FULL_SCAN = re.compile(r"^SCAN (articles|article_versions|assessments|query_hits|query_runs)\b(?! USING COVERING)")


def plans(engine: Engine, read: object) -> list[str]:
    """The SQLite query plan lines of every SELECT that `read(session)` issues."""
    captured: list[tuple[str, object]] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: captured.append((a[2], a[3])))
    with session_scope(engine) as s:
        read(s)  # type: ignore[operator]
    lines: list[str] = []
    with engine.connect() as conn:
        for sql, params in captured:
            if sql.lstrip().upper().startswith("SELECT"):
                lines += [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]  # type: ignore[arg-type]
    assert lines, "no SELECT was captured"
    return lines


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("changed_between", lambda s: repository.changed_between(s, at(99), at(101))),
        ("get_article", lambda s: repository.get_article(s, "7")),
        ("get_articles", lambda s: repository.get_articles(s, ["7", "8", "9"])),
        ("latest_assessment", lambda s: repository.latest_assessment(s, "7", "stem-cell-lbp")),
        ("list_runs", lambda s: repository.list_runs(s, limit=20)),
        ("article_history", lambda s: repository.article_history(s, "7")),
    ],
)
def test_read_paths_use_indexes(filled: Engine, name: str, read: object) -> None:
    lines = plans(filled, read)
    scans = [line for line in lines if _FULL_SCAN.match(line)]
    assert not scans, f"{name}: full table scan in {lines}"


def test_changed_between_searches_both_time_indexes(filled: Engine) -> None:
    lines = " | ".join(plans(filled, lambda s: repository.changed_between(s, at(99), at(101) + timedelta(0))))
    assert "ix_articles_first_seen" in lines and "ix_articles_last_changed" in lines


@pytest.mark.parametrize("n", [12, 300])
def test_a_runner_batch_is_stored_in_constant_statements(tmp_path: Path, sqlite_url: str, n: int) -> None:
    """The runner's transaction per efetch batch (records, hits, assessments) does not grow with the batch:
    assessments go in with one bulk save_assessments, not one statement per record."""
    from benchmarks.corpus import efetch_chunks
    from litwatch.pipeline.ncbi import FetchedBatch
    from litwatch.pipeline.replay import Corpus
    from litwatch.pipeline.runner import Runner, _QueryTally
    from litwatch.pipeline.watchlist import load_watchlist
    from tests.test_end_to_end import make_settings

    corpus = Corpus.replicated(Corpus.from_files([DOMAIN_RECORDS]), n, 40_000_000, T0.date(), T0.date())
    body = next(efetch_chunks(corpus, n))
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    runner = Runner(make_settings(tmp_path, "http://127.0.0.1:9/", sqlite_url), engine=engine)
    watched = next(a for a in load_watchlist(runner.settings.queries_dir) if a.slug == "stem-cell-lbp")
    with session_scope(engine) as s:
        run_id = repository.start_run(s, kind="fetch", trigger="manual", window_start=None, window_end=None,
                                      started_at=T0)
    statements = counting(engine)
    tally = _QueryTally()
    runner._store_batch(run_id, watched, watched.queries[0], FetchedBatch(1, 0, tuple(corpus.pmids), body), tally)
    assert tally.counts.new == n
    # SELECT the run's start (what "new in this run" means), SELECT existing, INSERT versions, INSERT hits,
    # SELECT done, INSERT assessments (the articles INSERT is storage's: its ORM bulk path splits real records by
    # which columns are None, see benchmarks/README.md)
    shown = [q for q in real_statements(statements) if not q.startswith("INSERT INTO articles ")]
    assert len(shown) == 6, shown
    assert sum(q.startswith("INSERT INTO assessments") for q in shown) == 1
    with session_scope(engine) as s:
        assert len(repository.assessment_history(s, corpus.pmids[-1])) == 1
    engine.dispose()
