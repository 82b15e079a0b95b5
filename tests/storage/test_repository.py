"""storage.repository on both backends: upserts and history, deletions, runs, watermarks, assessments,
cited-study checks, digests and run health."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from litwatch.storage.engine import session_scope
from litwatch.storage.records import Assessment, CitedStudyStatus, CommentCorrection, RunCounts
from litwatch.storage.repository import (
    article_history,
    articles_needing_assessment,
    assessment_history,
    changed_between,
    finish_query_run,
    finish_run,
    get_article,
    get_articles,
    get_run,
    get_watermark,
    last_digest,
    latest_assessment,
    latest_assessments,
    latest_cited_checks,
    list_runs,
    mark_deleted,
    mark_digest_failed,
    mark_digest_sent,
    query_stats,
    record_digest,
    record_hits,
    save_assessment,
    save_cited_check,
    sent_item_keys,
    set_watermark,
    start_query_run,
    start_run,
    unsent_digests,
    upsert_articles,
)
from tests.storage.conftest import article, at


@pytest.fixture
def s(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


LBP = "stem-cell-lbp"
LBP_QUERIES = ("stem-cells", "exosomes", "gene-therapy")


def _run(s: Session, hours: float = 0) -> int:
    return start_run(
        s, kind="fetch", trigger="manual", window_start=None, window_end=None, started_at=at(hours)
    )


def _assessment(
    pmid: str, verdict: str = "review", ruleset: str = "r1", content_hash: str = ""
) -> Assessment:
    return Assessment(
        pmid=pmid,
        verdict=verdict,
        design="rct",
        population="human",
        condition="discogenic-lbp",  # type: ignore[arg-type]
        reasons=("randomized controlled trial in humans",),
        ruleset_version=ruleset,
        content_hash=content_hash,
        interventions=("stem-cells",),
        claims=("safety",),
        sample_size=60,
        follow_up_months=24.0,
        article="stem-cell-lbp",
    )


# --- upserts ------------------------------------------------------------------------------------------------


def test_same_batch_twice_is_idempotent(engine: Engine) -> None:
    batch = [article(str(p)) for p in range(1, 6)]
    with session_scope(engine) as s:
        first = upsert_articles(s, batch, at(0))
    with session_scope(engine) as s:
        second = upsert_articles(s, batch, at(1))
    assert (first.new, first.changed, first.unchanged) == (5, 0, 0)
    assert first.new_pmids == ("1", "2", "3", "4", "5")
    assert (second.new, second.changed, second.unchanged) == (0, 0, 5)
    assert second.new_pmids == second.changed_pmids == ()
    with session_scope(engine) as s:
        assert s.execute(sa.text("select count(*) from articles")).scalar_one() == 5
        assert s.execute(sa.text("select count(*) from article_versions")).scalar_one() == 5
        stored = get_article(s, "3")
    assert stored is not None
    assert stored.article == batch[2]
    assert stored.content_hash == batch[2].content_hash
    assert (stored.first_seen, stored.last_seen, stored.last_changed) == (at(0), at(1), at(0))


def test_changed_content_counts_records_history_and_moves_last_changed(s: Session) -> None:
    upsert_articles(s, [article("1"), article("2")], at(0))
    revised = article(
        "1", title="Revised title", comments_corrections=(CommentCorrection("ErratumIn", "42"),)
    )
    counts = upsert_articles(s, [revised, article("2")], at(5))
    assert (counts.new, counts.changed, counts.unchanged, counts.changed_pmids) == (0, 1, 1, ("1",))
    stored = get_article(s, "1")
    assert stored is not None and stored.article == revised
    assert (stored.first_seen, stored.last_changed) == (at(0), at(5))
    assert article_history(s, "1") == [
        (at(0), article("1").content_hash, 1),
        (at(5), revised.content_hash, 1),
    ]
    assert get_article(s, "2").last_changed == at(0)  # type: ignore[union-attr]


def test_lower_version_never_overwrites(s: Session) -> None:
    v2 = article("7", version=2, title="Second version")
    upsert_articles(s, [v2], at(0))
    late_v1 = article("7", version=1)
    counts = upsert_articles(s, [late_v1], at(1))
    assert (counts.changed, counts.unchanged) == (0, 1)
    assert get_article(s, "7").article == v2  # type: ignore[union-attr]
    # the late lower version is still history: every distinct content is kept
    assert [h[1:] for h in article_history(s, "7")] == [(v2.content_hash, 2), (late_v1.content_hash, 1)]


def test_duplicates_within_one_batch_converge(s: Session) -> None:
    a, b, c = article("9", 1), article("9", 3, title="three"), article("9", 2, title="two")
    counts = upsert_articles(s, [a, b, c], at(0))
    assert (counts.new, counts.new_pmids) == (1, ("9",))
    assert get_article(s, "9").article == b  # type: ignore[union-attr]
    assert len(article_history(s, "9")) == 3


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations([1, 2, 3, 4]), split=st.integers(min_value=1, max_value=4))
def test_any_order_of_versions_converges_to_the_latest(engine: Engine, order: list[int], split: int) -> None:
    pmid = str(next(_PMIDS))  # a fresh record per example: the database outlives one example
    versions = [article(pmid, v, title=f"version {v}") for v in order]
    with session_scope(engine) as s:  # some versions in one batch, the rest one run at a time
        upsert_articles(s, versions[:split], at(0))
    for i, v in enumerate(versions[split:], start=1):
        with session_scope(engine) as s:
            upsert_articles(s, [v], at(i))
    with session_scope(engine) as s:
        stored = get_article(s, pmid)
        assert stored is not None and stored.article.version == 4 and stored.article.title == "version 4"
        assert sorted(h[2] for h in article_history(s, pmid)) == [1, 2, 3, 4]


_PMIDS = itertools.count(1_000_000)


def test_same_version_newer_content_wins(s: Session) -> None:
    upsert_articles(s, [article("5", 1, title="old")], at(0))
    counts = upsert_articles(s, [article("5", 1, title="new")], at(1))
    assert counts.changed_pmids == ("5",)
    assert get_article(s, "5").article.title == "new"  # type: ignore[union-attr]


def test_big_batch_in_constant_statements(engine: Engine) -> None:
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    batch = [article(str(p)) for p in range(10_000, 11_200)]  # more than two chunks of 500
    with session_scope(engine) as s:
        counts = upsert_articles(s, batch, at(0))
    assert counts.new == 1200
    # SELECT x3 chunks + INSERT x3 + history INSERT x3; executemany is one call per chunk, never one per row
    assert len([q for q in statements if not q.startswith(("BEGIN", "COMMIT"))]) <= 12


def test_mark_deleted(s: Session) -> None:
    upsert_articles(s, [article("1"), article("2")], at(0))
    assert mark_deleted(s, ["1", "404"], at(1)) == 1
    assert mark_deleted(s, ["1"], at(2)) == 0  # already flagged
    assert get_article(s, "1").deleted and not get_article(s, "2").deleted  # type: ignore[union-attr]
    record_hits(s, _run(s), "stem-cells", ["1", "2"])
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", LBP, LBP_QUERIES)] == ["2"]
    upsert_articles(s, [article("1")], at(3))  # PubMed serves it again: alive
    assert not get_article(s, "1").deleted  # type: ignore[union-attr]


def test_hits_are_idempotent_and_fill_query_ids(s: Session) -> None:
    upsert_articles(s, [article("1"), article("2")], at(0))
    run = _run(s)
    record_hits(s, run, "stem-cells", ["1", "2", "1"])
    record_hits(s, run, "stem-cells", ["1"])
    record_hits(s, run, "exosomes", ["1", "3"])  # 3 is not stored (yet): still recorded
    assert s.execute(sa.text("select count(*) from query_hits")).scalar_one() == 4
    found = get_articles(s, ["1", "2", "3"])
    assert set(found) == {"1", "2"}
    assert found["1"].query_ids == ("exosomes", "stem-cells")
    assert found["2"].query_ids == ("stem-cells",)


# --- runs and watermarks ------------------------------------------------------------------------------------


def test_run_bookkeeping_sums_query_runs(s: Session) -> None:
    run = start_run(
        s,
        kind="fetch",
        trigger="cron",
        window_start=date(2026, 10, 1),
        window_end=date(2026, 11, 1),
        started_at=at(0),
    )
    start_query_run(s, run, "stem-cells", date(2026, 10, 1), date(2026, 11, 1))
    start_query_run(s, run, "exosomes", date(2026, 10, 1), date(2026, 11, 1))
    finish_query_run(
        s, run, "stem-cells", status="success", counts=RunCounts(found=10, new=4, changed=1, unchanged=5),
        error=None,
    )
    finish_query_run(
        s,
        run,
        "exosomes",
        status="failed",
        counts=RunCounts(found=3, new=2, deleted=1),
        error="efetch batch 2: HTTP 502",
    )
    assert get_run(s, run).status == "running"  # type: ignore[union-attr]
    finish_run(s, run, status="failed", finished_at=at(0.5), error="1 of 2 queries failed", warnings=["slow"])
    summary = get_run(s, run)
    assert summary is not None
    assert (summary.found, summary.new, summary.changed, summary.unchanged, summary.deleted) == (
        13,
        6,
        1,
        5,
        1,
    )
    assert (summary.status, summary.trigger, summary.error, summary.warnings) == (
        "failed",
        "cron",
        "1 of 2 queries failed",
        ("slow",),
    )
    assert summary.duration_s == 1800
    assert [(q.query_id, q.status, q.error) for q in summary.queries] == [
        ("exosomes", "failed", "efetch batch 2: HTTP 502"),
        ("stem-cells", "success", None),
    ]
    assert get_run(s, 999) is None


def test_list_runs_newest_first(s: Session) -> None:
    ids = [_run(s, h) for h in (0, 24, 48)]
    assert [r.run_id for r in list_runs(s)] == ids[::-1]
    assert [r.run_id for r in list_runs(s, limit=2)] == ids[:0:-1]


def test_finish_unknown_query_run_is_an_error(s: Session) -> None:
    run = _run(s)
    with pytest.raises(KeyError, match="has no query run 'nope'"):
        finish_query_run(
            s, run, "nope", status="success", counts=RunCounts(), error=None
        )


def test_watermark_never_moves_backwards(s: Session) -> None:
    run = _run(s)
    assert get_watermark(s, "exosomes") is None
    set_watermark(s, "exosomes", date(2026, 11, 1), run)
    set_watermark(s, "exosomes", date(2026, 10, 1), run)
    assert get_watermark(s, "exosomes") == date(2026, 11, 1)
    set_watermark(s, "exosomes", date(2026, 11, 8), run)
    assert get_watermark(s, "exosomes") == date(2026, 11, 8)
    assert get_watermark(s, "stem-cells") is None


def test_query_stats(s: Session) -> None:
    for hours, status, found in [(0, "success", 5), (24, "success", 0), (48, "failed", 0)]:
        run = _run(s, hours)
        start_query_run(s, run, "gene-therapy", None, None)
        finish_query_run(
            s,
            run,
            "gene-therapy",
            status=status,
            counts=RunCounts(found=found),
            error="HTTP 500" if status == "failed" else None,
        )
    stats = query_stats(s, since=at(12))
    h = stats["gene-therapy"]
    assert (h.runs, h.failures, h.last_status) == (2, 1, "failed")
    assert (h.last_success, h.last_nonzero, h.last_run_at, h.last_error) == (
        at(24),
        at(0),
        at(48),
        "HTTP 500",
    )


# --- assessments --------------------------------------------------------------------------------------------


def test_assessments_kept_per_content_and_ruleset(s: Session) -> None:
    upsert_articles(s, [article("1"), article("2")], at(0))
    record_hits(s, _run(s), "stem-cells", ["1", "2"])
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", LBP, LBP_QUERIES)] == ["1", "2"]
    assert save_assessment(s, _assessment("1"), at(1)) is True
    assert save_assessment(s, _assessment("1", verdict="update"), at(2)) is False  # same pmid, hash, ruleset
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", LBP, LBP_QUERIES)] == ["2"]
    assert [a.article.pmid for a in articles_needing_assessment(s, "r2", LBP, LBP_QUERIES, limit=1)] == ["1"]

    upsert_articles(s, [article("1", title="changed")], at(3))  # new content: needs assessing again
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", LBP, LBP_QUERIES)] == ["2", "1"]
    assert save_assessment(s, _assessment("1", verdict="update"), at(4)) is True
    latest = latest_assessment(s, "1", LBP)
    assert latest is not None
    assert (latest.verdict, latest.content_hash) == ("update", article("1", title="changed").content_hash)
    assert latest == _assessment("1", verdict="update", content_hash=latest.content_hash)
    assert [a.verdict for a in assessment_history(s, "1")] == ["review", "update"]
    assert get_article(s, "1").assessment == latest  # type: ignore[union-attr]
    assert latest_assessment(s, "2", LBP) is None


def test_verdicts_are_kept_per_article(s: Session) -> None:
    """One record, two watched articles: two verdicts, neither hiding the other; a record only one article's
    searches found needs assessing for that article alone; an article added later gets the stored records its
    searches found."""
    upsert_articles(s, [article("1"), article("2")], at(0))
    run = _run(s)
    record_hits(s, run, "stem-cells", ["1", "2"])
    record_hits(s, run, "knee-msc", ["1"])
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", "knee-oa", ["knee-msc"])] == ["1"]
    save_assessment(s, _assessment("1", verdict="update"), at(1))
    assert [a.article.pmid for a in articles_needing_assessment(s, "r1", "knee-oa", ["knee-msc"])] == ["1"]
    save_assessment(s, replace(_assessment("1", verdict="fyi"), article="knee-oa"), at(2))
    assert articles_needing_assessment(s, "r1", "knee-oa", ["knee-msc"]) == []
    assert {k: a.verdict for k, a in latest_assessments(s, "1").items()} == {"knee-oa": "fyi", LBP: "update"}
    assert latest_assessment(s, "1", LBP).verdict == "update"  # type: ignore[union-attr]
    both = get_article(s, "1")
    assert both is not None and both.assessment is None  # two articles judged it: no single verdict to show
    assert [a.article for a in both.assessments] == ["knee-oa", LBP]
    assert get_article(s, "1", "knee-oa").assessment.verdict == "fyi"  # type: ignore[union-attr]
    assert [a.article.pmid for a in changed_between(s, at(-1), at(3), "knee-oa", ["knee-msc"])] == ["1"]
    with pytest.raises(ValueError, match="names no watched article"):
        save_assessment(s, replace(_assessment("2"), article=""), at(3))


def test_changed_between_window_and_hydration(s: Session) -> None:
    upsert_articles(s, [article("1"), article("2")], at(0))
    upsert_articles(s, [article("3")], at(10))
    upsert_articles(s, [article("1", title="changed")], at(20))
    run = _run(s)
    record_hits(s, run, "exosomes", ["1"])
    save_assessment(s, _assessment("1"), at(21))
    got = changed_between(s, at(5), at(24))
    assert [a.article.pmid for a in got] == ["3", "1"]
    assert got[1].query_ids == ("exosomes",) and got[1].assessment is not None
    # first seen in the window counts even though "1" changed again later; "3" (at the end) is excluded
    assert [a.article.pmid for a in changed_between(s, at(0), at(10))] == ["2", "1"]


# --- cited studies and digests ------------------------------------------------------------------------------


def test_cited_checks_latest_per_study(s: Session) -> None:
    upsert_articles(s, [article("100")], at(0))
    run = _run(s)
    save_cited_check(s, CitedStudyStatus("dream-2025", "DREAM", "100", "unchanged", (), at(1), LBP), run)
    save_cited_check(
        s, CitedStudyStatus("zhang-2023", "Zhang 2023", None, "not-found", ("no PMID",), at(1), LBP), None
    )
    later = CitedStudyStatus("dream-2025", "DREAM", "100", "retracted", ("RetractionIn PMID 123",), at(2), LBP)
    save_cited_check(s, later, run)
    save_cited_check(s, CitedStudyStatus("whittle-2025", "Cochrane", None, "unchanged", (), at(3), "knee-oa"), run)
    assert latest_cited_checks(s, LBP) == [
        later,
        CitedStudyStatus("zhang-2023", "Zhang 2023", None, "not-found", ("no PMID",), at(1), LBP),
    ]
    assert [c.study_id for c in latest_cited_checks(s, "knee-oa")] == ["whittle-2025"]
    hashes = s.execute(sa.text("select content_hash from cited_checks where pmid = '100'")).scalars().all()
    assert hashes == [article("100").content_hash] * 2


def test_digest_bookkeeping(s: Session) -> None:
    assert last_digest(s) is None and unsent_digests(s) == [] and sent_item_keys(s, LBP) == set()
    d1 = record_digest(
        s,
        article=LBP,
        period_start=at(0),
        period_end=at(168),
        created_at=at(169),
        paths={"md": "/out/d1.md", "html": "/out/d1.html"},
        item_keys=[("1", "h1"), ("2", "h2")],
    )
    d2 = record_digest(
        s,
        article=LBP,
        period_start=at(168),
        period_end=at(336),
        created_at=at(337),
        paths={"md": "/out/d2.md"},
        item_keys=[("3", "h3")],
    )
    mark_digest_failed(s, d1, "smtp 127.0.0.1:25: connection refused")
    assert [d.id for d in unsent_digests(s)] == [d1, d2]
    assert unsent_digests(s)[0].error == "smtp 127.0.0.1:25: connection refused"
    assert sent_item_keys(s, LBP) == set()
    mark_digest_sent(s, d1, at(340), ["editor@example.org"])
    assert [d.id for d in unsent_digests(s)] == [d2]
    assert sent_item_keys(s, LBP) == {("1", "h1"), ("2", "h2")}
    assert sent_item_keys(s, "knee-oa") == set()  # another article's digest still carries those records
    assert last_digest(s, article="knee-oa") is None and unsent_digests(s, "knee-oa") == []
    sent = last_digest(s, sent_only=True)
    assert sent is not None
    assert (sent.id, sent.sent_at, sent.recipients, sent.error) == (
        d1,
        at(340),
        ("editor@example.org",),
        None,
    )
    assert sent.paths == {"md": "/out/d1.md", "html": "/out/d1.html"}
    assert last_digest(s).id == d2  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="no digest 999"):
        mark_digest_sent(s, 999, at(1), [])


# --- counts that add up: distinct records per run -------------------------------------------------------------


def _search(s: Session, run: int, query_id: str, arts: list, hours: float) -> RunCounts:
    start_query_run(s, run, query_id, None, None)
    stored = upsert_articles(s, arts, at(hours), run_id=run)
    record_hits(s, run, query_id, [a.pmid for a in arts])
    finish_query_run(s, run, query_id, status="success", counts=stored.counts, error=None)
    return stored.counts


def test_a_record_two_searches_find_in_one_run_is_new_once_never_unchanged(s: Session) -> None:
    run = _run(s)
    first = _search(s, run, "exosomes", [article("1"), article("2")], 0.1)
    second = _search(s, run, "stem-cells", [article("1"), article("2"), article("3")], 0.2)
    assert (first.found, first.new, first.unchanged) == (2, 2, 0)
    # found by both, and new to the run for both: never "unchanged" because the first search just stored it
    assert (second.found, second.new, second.unchanged) == (3, 3, 0)
    finish_run(s, run, status="success", finished_at=at(0.5), error=None, warnings=[])
    summary = get_run(s, run)
    assert summary is not None
    assert summary.counts == RunCounts(found=3, new=3)  # distinct records: each counted once
    later = _run(s, 24)
    again = _search(s, later, "exosomes", [article("1")], 24.1)
    assert (again.new, again.unchanged) == (0, 1)  # first stored by an earlier run: unchanged now


def test_upsert_reports_only_its_own_inserts_as_new_pmids(s: Session) -> None:
    run = _run(s)
    upsert_articles(s, [article("1")], at(0.1), run_id=run)
    result = upsert_articles(s, [article("1"), article("2")], at(0.2), run_id=run)
    assert result.new_pmids == ("2",)  # what this batch inserted: the runner assesses these
    assert result.counts.new == 2


def test_a_finding_and_its_stances_are_stored_with_the_verdict(s: Session) -> None:
    from litwatch.storage.records import ClaimStance, Finding, Outcome

    upsert_articles(s, [article("1")], at(0))
    finding = Finding("no-difference", True, (Outcome("VAS", "1.2", "points", "6 months", "VAS 1.2 at 6 months"),),
                      "No difference from sham at 6 months.")
    stances = (ClaimStance("dream-rct", "supports", "article: like sham at 6 months; this RCT: no difference"),)
    save_assessment(s, replace(_assessment("1"), finding=finding, stances=stances), at(1))
    stored = latest_assessment(s, "1", LBP)
    assert stored is not None and stored.finding == finding and stored.stances == stances
    save_assessment(s, _assessment("1", ruleset="r2"), at(2))  # a record nothing was read from: none, not {}
    newest = latest_assessment(s, "1", LBP)
    assert newest is not None and newest.finding is None and newest.stances == ()
