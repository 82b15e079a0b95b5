"""Property: `EutilsClient.plan_windows` over a real replay server tiles the window exactly, in slices under the cap.

Corpora are `Corpus.replicated` with random sizes and date spreads (lazy: nothing is materialised per record), and
the cap is small so that splitting happens at test sizes; one example uses PubMed's real 9,999.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litwatch.pipeline.errors import QueryError
from litwatch.pipeline.ncbi import ESEARCH_CAP, DateWindow, EutilsClient, RateLimiter, full_term
from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.conftest import DOMAIN_RECORDS

TERM = '"intervertebral disc*"[tiab] OR "disc degeneration"[tiab] OR "Intervertebral Disc Degeneration"[mh]'
EPOCH = date(2020, 1, 1)


@pytest.fixture(scope="module")
def base() -> Corpus:
    return Corpus.from_files([DOMAIN_RECORDS])


@pytest.fixture(scope="module")
def server(base: Corpus) -> Iterator[ReplayServer]:
    with ReplayServer(base, rate_limit=None, api_key_rate_limit=None) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ReplayServer) -> EutilsClient:
    return EutilsClient(server.base_url, email="tests@example.org", tool="litwatch-tests",
                        rate_limiter=RateLimiter(10_000), max_attempts=1)


def check_tiling(client: EutilsClient, corpus: Corpus, window: DateWindow, cap: int) -> None:
    slices = client.plan_windows(TERM, window, cap=cap)
    # contiguous, in order, no gap, no overlap: the union is exactly the window
    assert slices[0][0].start == window.start and slices[-1][0].end == window.end
    for (left, _), (right, _) in zip(slices, slices[1:], strict=False):
        assert right.start == left.end + timedelta(days=1)
    for piece, count in slices:
        assert count < cap
        assert count == len(corpus.search(full_term(TERM, piece)))  # the count is the slice's own
    assert sum(c for _, c in slices) == len(corpus.search(full_term(TERM, window)))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 1500),
    spread=st.integers(0, 2000),
    offset=st.integers(-200, 200),
    length=st.integers(0, 2500),
    cap=st.integers(40, 400),
)
def test_slices_tile_the_window_each_under_the_cap(
    server: ReplayServer, base: Corpus, client: EutilsClient, n: int, spread: int, offset: int, length: int, cap: int
) -> None:
    corpus = Corpus.replicated(base, n, 40_000_000, EPOCH, EPOCH + timedelta(days=spread))
    server.corpus = corpus
    window = DateWindow(EPOCH + timedelta(days=offset), EPOCH + timedelta(days=offset + length))
    try:
        check_tiling(client, corpus, window, cap)
    except QueryError as exc:
        # the only allowed refusal: one day alone holds `cap` or more records (cannot be split)
        assert "one day cannot be split further" in str(exc)
        day = date.fromisoformat(str(exc).split(" created on ")[1][:10])
        assert len(corpus.search(full_term(TERM, DateWindow(day, day)))) >= cap


def test_real_cap_splits_a_large_window(server: ReplayServer, base: Corpus, client: EutilsClient) -> None:
    corpus = Corpus.replicated(base, 25_000, 41_000_000, date(2021, 1, 1), date(2024, 12, 31))
    server.corpus = corpus
    window = DateWindow(date(2021, 1, 1), date(2024, 12, 31))
    assert len(corpus.search(full_term(TERM, window))) >= ESEARCH_CAP  # the split is really needed
    check_tiling(client, corpus, window, ESEARCH_CAP)
