"""efetch batches against the real replay server: history server or id lists, across slice boundaries, and
several requests in flight (max_in_flight)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from litwatch.pipeline.errors import EutilsTransientError
from litwatch.pipeline.ncbi import DateWindow, EutilsClient, FetchedBatch, RateLimiter
from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.pipeline.conftest import ReplayFactory
from tests.pipeline.ncbi.conftest import KEY, TOPIC, WINDOW, body_pmids


# ---- batches -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [70, 500, 7])
def test_fetch_slices_batches_across_slice_boundaries(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient], batch_size: int
) -> None:
    """A window cut into slices costs ceil(total / batch) efetch requests, as one unsplit search would: the ids
    left at a slice's end go out with the next slice's first ids."""
    corpus = Corpus.replicated(domain_corpus, 1_500, 40_000_000, date(2025, 1, 1), date(2025, 12, 31))
    server = replay_factory(corpus, rate_limit=None)
    client = make_client(base_url=server.base_url)
    window = DateWindow(date(2025, 1, 1), date(2025, 12, 31))
    total, searches = client.search_windows("disc* OR stem", window, cap=300)
    results = list(searches)
    assert len(results) >= 5 and any(len(r.ids) % batch_size for r in results)  # slices end mid-batch
    listed = [i for r in results for i in r.ids]
    before = server.stats.requests["efetch"]
    batches = list(client.fetch_slices(iter(results), batch_size))
    assert server.stats.requests["efetch"] - before == len(batches) == -(-total // batch_size)
    assert [b.index for b in batches] == list(range(1, len(batches) + 1))
    assert [b.retstart for b in batches] == list(range(0, total, batch_size))
    assert [i for b in batches for i in b.ids] == listed
    assert sorted(p for b in batches for p in body_pmids(b.body)) == sorted(listed)


@pytest.mark.parametrize("batch_size", [7, 500])
def test_fetch_batches_posts_from_history_and_returns_every_id_once(
    server: ReplayServer, make_client: Callable[..., EutilsClient], batch_size: int
) -> None:
    client = make_client()
    result = client.search(TOPIC, WINDOW)
    batches = list(client.fetch_batches(result, batch_size))
    fetched = [p for b in batches for p in body_pmids(b.body)]
    assert len(result.ids) == 55
    assert sorted(fetched) == sorted(result.ids)  # every id, exactly once
    assert [b.index for b in batches] == list(range(1, len(batches) + 1))
    assert [b.retstart for b in batches] == list(range(0, 55, batch_size))
    assert all(set(body_pmids(b.body)) == set(b.ids) for b in batches)
    efetches = [p for p in server.stats.params_log if "retmode" in p and p["retmode"] == "xml"]
    assert len(efetches) == len(batches) and all("WebEnv" in p and "id" not in p for p in efetches)
    assert server.stats.post_count == client.requests_made == 1 + len(batches)


def test_fetch_ids_posts_id_lists_and_pubmed_leaves_unknown_ids_out(
    server: ReplayServer, make_client: Callable[..., EutilsClient], domain_corpus: Corpus
) -> None:
    wanted = [*domain_corpus.pmids[:5], "1"]
    batches = list(make_client().fetch_ids(wanted, batch_size=4))
    assert [b.ids for b in batches] == [tuple(wanted[:4]), tuple(wanted[4:])]
    assert [p for b in batches for p in body_pmids(b.body)] == wanted[:5]
    assert server.last_params["id"] == f"{wanted[4]},1"


def test_expired_webenv_falls_back_to_id_lists(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    client = make_client()
    result = client.search(TOPIC, WINDOW)
    server.faults.inject("efetch", "webenv_expired", after=2)
    fetched = [p for b in client.fetch_batches(result, 10) for p in body_pmids(b.body)]
    assert sorted(fetched) == sorted(result.ids)
    efetches = [p for p in server.stats.params_log if p.get("retmode") == "xml"]
    assert ["WebEnv" in p for p in efetches] == [True, True, True, False, False, False, False]


def test_a_history_server_that_forgot_everything_is_survived(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    client = make_client()
    result = client.search(TOPIC, WINDOW)
    server.expire_history()
    fetched = [p for b in client.fetch_batches(result, 20) for p in body_pmids(b.body)]
    assert sorted(fetched) == sorted(result.ids)


def test_a_dropped_record_is_absent_from_the_body_but_listed_in_the_batch(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    client = make_client()
    result = client.search(TOPIC, WINDOW)
    gone = result.ids[3]
    server.faults.inject("efetch", f"drop:{gone}", times=None)
    batch = next(client.fetch_batches(result, 10))
    assert gone in batch.ids and gone not in body_pmids(batch.body)
    assert len(body_pmids(batch.body)) == 9


# ---- several efetch requests in flight (max_in_flight) --------------------------------------------------------
class ScriptedEfetch(ReplayServer):
    """The replay server, with efetch answers delayed (or failed) per batch: `delays` and `fail` are keyed by
    the batch's first PMID, so the script holds whatever order concurrent requests arrive in."""

    def __init__(self, corpus: Corpus, delays: dict[str, float], fail: frozenset[str] = frozenset(), **kw: Any):
        super().__init__(corpus, **kw)
        self.delays, self.fail = delays, fail

    def efetch(self, params: dict[str, str], fired: list[str]) -> Any:
        first = self._first_pmid(params)
        time.sleep(self.delays.get(first, 0.0))
        if first in self.fail:
            return type(super().efetch(params, fired))(500, "text/plain", b"scripted failure\n")
        return super().efetch(params, fired)

    def _first_pmid(self, params: dict[str, str]) -> str:
        if "id" in params:
            return params["id"].split(",", 1)[0]
        stored = self._recall(params.get("WebEnv", ""), params.get("query_key", "")) or ()
        start = int(params.get("retstart", "0"))
        return str(stored[start]) if start < len(stored) else ""


@pytest.fixture
def scripted(domain_corpus: Corpus) -> Iterator[Callable[..., ScriptedEfetch]]:
    servers: list[ScriptedEfetch] = []

    def make(delays: dict[str, float], **kw: Any) -> ScriptedEfetch:
        servers.append(ScriptedEfetch(domain_corpus, delays, rate_limit=None, api_key_rate_limit=None, **kw))
        return servers[-1].start()

    yield make
    for server in servers:
        server.stop()


def efetch_requests(server: ReplayServer) -> list[dict[str, str]]:
    return [p for p in server.stats.params_log if p.get("retmode") == "xml"]


def request_key(params: dict[str, str]) -> tuple[str, ...]:
    return (params.get("WebEnv", ""), params.get("retstart", ""), params.get("retmax", ""), params.get("id", ""))


@pytest.mark.parametrize(("k", "seed"), [(2, 1), (3, 2), (3, 3), (5, 4)])
def test_batches_in_flight_together_are_planned_as_before_and_yielded_in_order(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient], k: int,
    seed: int,
) -> None:
    """Slices ending mid-batch (history and id-list batches mixed), random answer times: the same batches (index,
    retstart, ids, body) and the same requests as one at a time, in index order."""
    corpus = Corpus.replicated(domain_corpus, 600, 40_000_000, date(2025, 1, 1), date(2025, 12, 31))
    rng = random.Random(seed)
    delays = {pmid: rng.uniform(0, 0.03) for pmid in corpus.pmids}
    server = ScriptedEfetch(corpus, delays, rate_limit=None, api_key_rate_limit=None).start()
    try:
        window = DateWindow(date(2025, 1, 1), date(2025, 12, 31))
        _, searches = make_client(base_url=server.base_url).search_windows("disc* OR stem", window, cap=150)
        results = list(searches)
        assert len(results) >= 4 and any(len(r.ids) % 40 for r in results)

        def fetch(in_flight: int) -> tuple[list[FetchedBatch], list[tuple[str, ...]]]:
            before = len(efetch_requests(server))
            client = make_client(base_url=server.base_url, max_in_flight=in_flight)
            batches = list(client.fetch_slices(iter(results), 40))
            return batches, sorted(request_key(p) for p in efetch_requests(server)[before:])

        one_by_one, sent_one_by_one = fetch(1)
        server.stats.max_concurrent = 0
        together, sent_together = fetch(k)
    finally:
        server.stop()
    assert together == one_by_one
    assert [b.index for b in together] == list(range(1, len(together) + 1))
    assert sent_together == sent_one_by_one  # same history/id-list choice, same retstart, same ids
    assert 2 <= server.stats.max_concurrent <= k


@pytest.mark.parametrize("k", [1, 3])
def test_k_requests_really_overlap_and_never_more(
    replay_factory: ReplayFactory, make_client: Callable[..., EutilsClient], k: int
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None, latency=0.15)
    client = make_client(base_url=server.base_url, max_in_flight=k)
    result = client.search(TOPIC, WINDOW)
    batches = list(client.fetch_batches(result, 8))
    assert len(batches) == 7
    assert server.stats.max_concurrent == k


@pytest.mark.parametrize(("api_key", "rate", "batch_size", "latency"), [(None, 3.0, 14, 1.0), (KEY, 10.0, 3, 0.3)])
def test_requests_in_flight_together_stay_within_ncbi_limits(
    replay: ReplayServer, api_key: str | None, rate: float, batch_size: int, latency: float
) -> None:
    """NCBI's real limits on the server (3/s, 10/s with a key), answers slower than the spacing so requests
    overlap: the shared limiter still spaces their starts."""
    replay.latency = latency
    client = EutilsClient(replay.base_url, email="dev@example.org", tool="litwatch-test", api_key=api_key,
                          rate_limiter=RateLimiter(rate), max_in_flight=3)  # fmt: skip
    result = client.search(TOPIC, WINDOW)
    fetched = [p for b in client.fetch_batches(result, batch_size) for p in body_pmids(b.body)]
    assert sorted(fetched) == sorted(result.ids)
    assert replay.stats.rate_violations == 0
    assert replay.stats.max_concurrent >= 2


def test_expired_webenv_with_batches_in_flight_switches_the_rest_to_id_lists(
    replay_factory: ReplayFactory, make_client: Callable[..., EutilsClient]
) -> None:
    """Only the batches already started when the history server forgot the search try it once more."""
    k = 3
    server = replay_factory(rate_limit=None, api_key_rate_limit=None, latency=0.05)
    client = make_client(base_url=server.base_url, max_in_flight=k)
    result = client.search(TOPIC, WINDOW)
    server.faults.inject("efetch", "webenv_expired", times=None, after=2)
    batches = list(client.fetch_batches(result, 5))
    assert [b.index for b in batches] == list(range(1, 12))
    assert [i for b in batches for i in b.ids] == list(result.ids)
    assert all(body_pmids(b.body) == list(b.ids) for b in batches)
    efetches = efetch_requests(server)
    history = [p for p in efetches if "WebEnv" in p]
    lost = len(history) - 2  # the first two history requests were answered
    assert 1 <= lost <= k  # the one that found out, and at most the others already in flight
    assert len(efetches) == 11 + lost  # each lost batch went once more, by id list
    assert all("id" in p for p in efetches[len(history) + k :])


@pytest.mark.parametrize("k", [1, 3])
def test_a_failing_batch_is_raised_at_its_place_after_the_batches_before_it(
    scripted: Callable[..., ScriptedEfetch], make_client: Callable[..., EutilsClient], domain_corpus: Corpus,
    k: int,
) -> None:
    """Batch 2 fails slowly while batch 3 answers at once: batch 1 is yielded, then batch 2's one-line error;
    batch 3 never is."""
    probe = make_client(base_url=scripted({}).base_url).search(TOPIC, WINDOW)
    second, third = probe.ids[10], probe.ids[20]
    server = scripted({second: 0.2}, fail=frozenset({second}))
    client = make_client(base_url=server.base_url, max_in_flight=k)
    result = client.search(TOPIC, WINDOW)
    assert (result.ids[10], result.ids[20]) == (second, third)
    got: list[int] = []
    with pytest.raises(EutilsTransientError, match=r"^efetch batch 2 \(retstart 10, 10 ids\) failed after 3 "
                                                   r"attempts: HTTP 500 from \S+efetch\.fcgi$"):  # fmt: skip
        for batch in client.fetch_batches(result, 10):
            got.append(batch.index)
    assert got == [1]


def test_closing_early_leaves_no_fetch_thread_behind(
    replay_factory: ReplayFactory, make_client: Callable[..., EutilsClient]
) -> None:
    server = replay_factory(rate_limit=None, api_key_rate_limit=None, latency=0.05)
    client = make_client(base_url=server.base_url, max_in_flight=3)
    result = client.search(TOPIC, WINDOW)
    ours = lambda: {t for t in threading.enumerate() if "process_request" not in t.name}  # noqa: E731 - not the server's
    before = ours()
    batches = client.fetch_batches(result, 5)
    assert next(batches).index == 1
    assert any(t.name.startswith("litwatch-efetch") for t in ours())
    batches.close()
    assert ours() == before
    sent = len(efetch_requests(server))
    assert sent <= 1 + 3  # batch 1 and at most the three planned behind it: the rest were never started


def test_max_in_flight_must_be_positive(server: ReplayServer) -> None:
    with pytest.raises(ValueError, match="max_in_flight must be at least 1, got 0"):
        EutilsClient(server.base_url, email="a@b.org", tool="t", max_in_flight=0)
