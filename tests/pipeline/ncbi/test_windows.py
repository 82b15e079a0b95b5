"""Create-date windows and their slicing under the esearch cap, against the real replay server (no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from litwatch.pipeline.errors import QueryError
from litwatch.pipeline.ncbi import DateWindow, EutilsClient
from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.pipeline.conftest import ReplayFactory
from tests.pipeline.ncbi.conftest import TOPIC, WINDOW


# ---- windows -----------------------------------------------------------------------------------------------
def test_crdt_clause_is_pubmed_range_syntax() -> None:
    window = DateWindow(date(2026, 10, 1), date(2026, 11, 20))
    assert window.crdt_clause() == '("2026/10/01"[CRDT] : "2026/11/20"[CRDT])'


def test_windows_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="starts after it ends"):
        DateWindow(date(2026, 1, 2), date(2026, 1, 1))


def test_search_sends_the_crdt_window_and_returns_exactly_its_records(
    server: ReplayServer, make_client: Callable[..., EutilsClient], domain_corpus: Corpus
) -> None:
    window = DateWindow(date(2026, 10, 1), date(2026, 10, 31))
    result = make_client().search("disc*", window)
    sent = server.last_params["term"]
    assert sent == '(disc*) AND ("2026/10/01"[CRDT] : "2026/10/31"[CRDT])' == result.full_term
    in_window = {
        p for p in domain_corpus.search("disc*") if window.start <= domain_corpus.created(p) <= window.end
    }
    assert set(result.ids) == in_window and len(result.ids) == result.count > 0
    assert result.webenv and result.query_key == "1"
    outside = set(domain_corpus.search("disc*")) - in_window
    assert outside, "the window must exclude something for this test to mean anything"


def test_plan_windows_splits_a_window_over_the_cap_into_disjoint_slices(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient]
) -> None:
    big = Corpus.replicated(domain_corpus, 25_000, 40_000_000, date(2025, 1, 1), date(2025, 12, 31))
    server = replay_factory(big, rate_limit=None)
    client = make_client(base_url=server.base_url)
    window = DateWindow(date(2025, 1, 1), date(2025, 12, 31))
    slices = client.plan_windows("disc* OR stem", window)
    total = client.count("disc* OR stem", window)
    assert total > 9999 and len(slices) >= 3
    assert all(n < 9999 for _, n in slices)
    assert slices[0][0].start == window.start and slices[-1][0].end == window.end
    for (before, _), (after, _) in zip(slices, slices[1:], strict=False):
        assert (after.start - before.end).days == 1  # contiguous, no overlap
    assert sum(n for _, n in slices) == total
    ids = [i for w, _ in slices for i in client.search("disc* OR stem", w).ids]
    assert len(ids) == len(set(ids)) == total


@pytest.mark.parametrize(("days", "k"), [(2, 2), (2, 5), (31, 3), (366, 6), (730, 7), (5, 1)])
def test_parts_tile_the_window_in_nearly_equal_ranges(days: int, k: int) -> None:
    window = DateWindow(date(2024, 1, 1), date.fromordinal(date(2024, 1, 1).toordinal() + days - 1))
    parts = window.parts(k)
    assert len(parts) == min(max(k, 2), days)
    assert parts[0].start == window.start and parts[-1].end == window.end
    assert all((b.start - a.end).days == 1 for a, b in zip(parts, parts[1:], strict=False))
    assert max(p.days for p in parts) - min(p.days for p in parts) <= 1


@pytest.mark.parametrize(("n", "spread_end", "slices"), [
    (25_000, date(2025, 12, 31), 3),  # an even flow: ceil(n / (0.9 x 9,999)) equal slices, none cut again
    (12_000, date(2025, 1, 31), None),  # everything in January of a year's window: cut again where it is dense
])
def test_search_windows_searches_each_slice_once_and_counts_only_the_window(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient], n: int,
    spread_end: date, slices: int | None,
) -> None:
    """One count for the window, then each slice's search is also its count: no slice is counted and searched."""
    big = Corpus.replicated(domain_corpus, n, 40_000_000, date(2025, 1, 1), spread_end)
    server = replay_factory(big, rate_limit=None)
    client = make_client(base_url=server.base_url)
    window = DateWindow(date(2025, 1, 1), date(2025, 12, 31))
    expected = set(big.search(f"(disc* OR stem) AND {window.crdt_clause()}"))
    total, searches = client.search_windows("disc* OR stem", window)
    assert total == len(expected) > 9999
    assert server.stats.requests["esearch"] == 1  # lazily: nothing searched before it is needed
    results = list(searches)
    ids = [i for r in results for i in r.ids]
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert all(r.count < 9999 and r.count == len(r.ids) for r in results)
    windows = [r.window for r in results]
    assert windows[0].start == window.start and windows[-1].end == window.end  # type: ignore[union-attr]
    if slices is not None:
        assert len(results) == slices and server.stats.requests["esearch"] == 1 + slices
    else:  # a probe over the cap is the only search that is not a slice
        assert server.stats.requests["esearch"] <= 1 + 2 * len(results)


def test_search_windows_of_a_small_window_is_one_count_and_one_search(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    client = make_client()
    total, searches = client.search_windows(TOPIC, WINDOW)
    (result,) = list(searches)
    assert total == result.count == len(result.ids) == 55
    assert server.stats.requests["esearch"] == 2
    empty_total, empty = client.search_windows(TOPIC, DateWindow(date(2001, 1, 1), date(2001, 1, 31)))
    assert (empty_total, list(empty), server.stats.requests["esearch"]) == (0, [], 3)


ONE_DAY_OVER = r"records were created on 2025-05-05 alone .* cannot be split"
CROWDED_WINDOW = DateWindow(date(2025, 5, 1), date(2025, 5, 9))


@pytest.fixture
def crowded(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient]
) -> tuple[EutilsClient, int]:
    """A client on a corpus with 12,000 records created on 2025-05-05, and how many of them TOPIC matches."""
    corpus = Corpus.replicated(domain_corpus, 12_000, 40_000_000, date(2025, 5, 5), date(2025, 5, 5))
    client = make_client(base_url=replay_factory(corpus, rate_limit=None).base_url)
    return client, len(corpus.search(TOPIC))


def test_search_windows_fails_clearly_when_one_day_is_over_the_cap(crowded: tuple[EutilsClient, int]) -> None:
    client, n = crowded
    total, searches = client.search_windows(TOPIC, CROWDED_WINDOW)
    assert total == n
    with pytest.raises(QueryError, match=rf"^{n} {ONE_DAY_OVER}"):
        list(searches)


def test_plan_windows_fails_clearly_when_one_day_is_over_the_cap(crowded: tuple[EutilsClient, int]) -> None:
    client, n = crowded
    assert n > 9999
    with pytest.raises(QueryError, match=rf"^{n} {ONE_DAY_OVER}"):
        client.plan_windows(TOPIC, CROWDED_WINDOW)
    with pytest.raises(QueryError, match=rf"{n} records match but PubMed returns at most 9999 ids; split"):
        client.search(TOPIC)
