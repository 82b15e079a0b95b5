"""EutilsClient against the real replay server on 127.0.0.1 (no mocks): windows, batching, retries, limits."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from litwatch.pipeline.errors import EutilsRequestError, EutilsTransientError, QueryError
from litwatch.pipeline.ncbi.client import (
    DateWindow,
    EutilsClient,
    FetchedBatch,
    RateLimiter,
    SearchResult,
    shared_rate_limiter,
)
from litwatch.pipeline.replay.server import Corpus, ReplayServer

from tests.pipeline.conftest import ReplayFactory

WINDOW = DateWindow(date(2026, 9, 23), date(2026, 11, 20))  # the 8 weeks the domain corpus was created in
TOPIC = "disc* OR disk* OR spin* OR back pain OR nucleus pulposus OR lumbar"  # all 55 domain records
KEY = "k3y-SECRET-0123456789"
PMID_IN_BODY = re.compile(rb"<PMID Version=\"\d+\">(\d+)</PMID>\s*<(?:Article|Book)\b")


class Sleeps(list[float]):
    """The client's sleep hook: records backoff delays instead of waiting them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server(replay_factory: ReplayFactory) -> ReplayServer:
    """No server-side limit: these tests use a test-only fast client limiter so they take milliseconds."""
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


@pytest.fixture
def make_client(server: ReplayServer) -> Callable[..., EutilsClient]:
    def make(**kwargs: Any) -> EutilsClient:
        options: dict[str, Any] = dict(
            email="dev@example.org", tool="litwatch-test", max_retries=3, backoff_base=0.001,
            rate_limiter=RateLimiter(1000), sleep=Sleeps(),
        )  # fmt: skip
        options.update(kwargs)
        return EutilsClient(options.pop("base_url", server.base_url), **options)

    return make


def body_pmids(body: bytes) -> list[str]:
    return [m.decode() for m in PMID_IN_BODY.findall(body)]


# ---- windows -----------------------------------------------------------------------------------------------
def test_crdt_clause_is_pubmed_range_syntax() -> None:
    window = DateWindow(date(2026, 10, 1), date(2026, 11, 20))
    assert window.crdt_clause() == '("2026/10/01"[CRDT] : "2026/11/20"[CRDT])'


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 1, 1), date(2026, 1, 2)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2024, 2, 28), date(2025, 3, 1)),
    ],
)
def test_halves_cover_the_window_without_overlap(start: date, end: date) -> None:
    first, second = DateWindow(start, end).halves()
    assert (first.start, second.end) == (start, end)
    assert (second.start - first.end).days == 1
    assert abs(first.days - second.days) <= 1


def test_a_single_day_cannot_be_split_and_windows_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="one-day window 2026-01-01 cannot be split"):
        DateWindow(date(2026, 1, 1), date(2026, 1, 1)).halves()
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


def test_search_windows_fails_clearly_when_one_day_is_over_the_cap(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient]
) -> None:
    crowded = Corpus.replicated(domain_corpus, 12_000, 40_000_000, date(2025, 5, 5), date(2025, 5, 5))
    client = make_client(base_url=replay_factory(crowded, rate_limit=None).base_url)
    n = len(crowded.search(TOPIC))
    total, searches = client.search_windows(TOPIC, DateWindow(date(2025, 5, 1), date(2025, 5, 9)))
    assert total == n
    with pytest.raises(QueryError, match=rf"^{n} records were created on 2025-05-05 alone .* cannot be split"):
        list(searches)


def test_plan_windows_fails_clearly_when_one_day_is_over_the_cap(
    replay_factory: ReplayFactory, domain_corpus: Corpus, make_client: Callable[..., EutilsClient]
) -> None:
    crowded = Corpus.replicated(domain_corpus, 12_000, 40_000_000, date(2025, 5, 5), date(2025, 5, 5))
    client = make_client(base_url=replay_factory(crowded, rate_limit=None).base_url)
    n = len(crowded.search(TOPIC))
    assert n > 9999
    with pytest.raises(
        QueryError, match=rf"^{n} records were created on 2025-05-05 alone .* cannot be split"
    ):
        client.plan_windows(TOPIC, DateWindow(date(2025, 5, 1), date(2025, 5, 9)))
    with pytest.raises(QueryError, match=rf"{n} records match but PubMed returns at most 9999 ids; split"):
        client.search(TOPIC)


# ---- batches -----------------------------------------------------------------------------------------------
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


def test_pmids_for_doi(make_client: Callable[..., EutilsClient]) -> None:
    client = make_client()
    assert client.pmids_for_doi("10.3389/FBIOE.2022.1077028") == ["99000005"]
    assert client.pmids_for_doi("10.9999/not-there") == []


# ---- identity ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_key", [None, KEY])
def test_tool_email_and_key_go_on_every_request(
    server: ReplayServer, make_client: Callable[..., EutilsClient], api_key: str | None
) -> None:
    client = make_client(api_key=api_key)
    result = client.search(TOPIC, WINDOW)
    list(client.fetch_batches(result, 20))
    client.pmids_for_doi("10.3389/fbioe.2022.1077028")
    assert len(server.stats.params_log) == client.requests_made == 5
    for params in server.stats.params_log:
        assert params["tool"] == "litwatch-test" and params["email"] == "dev@example.org"
        assert params.get("api_key") == api_key
    assert KEY not in repr(client)


def test_default_limiter_is_the_process_wide_one_for_the_rate(server: ReplayServer) -> None:
    keyed = EutilsClient(server.base_url, email="a@b.org", tool="t", api_key=KEY)
    anonymous = EutilsClient(server.base_url, email="a@b.org", tool="t")
    assert (
        keyed.rate_limiter
        is shared_rate_limiter(10.0)
        is EutilsClient(server.base_url, email="c@d.org", tool="u", api_key="other").rate_limiter
    )
    assert anonymous.rate_limiter is shared_rate_limiter(3.0) is not keyed.rate_limiter


# ---- retries -----------------------------------------------------------------------------------------------
def _search(client: EutilsClient) -> object:
    return client.search(TOPIC, WINDOW)


def _fetch(client: EutilsClient) -> object:
    result = SearchResult("t", "t", None, 3, None, None, ("99000001", "99000002", "99000003"))
    return list(client.fetch_batches(result, 500))


TRANSIENT = ["429", "500", "502", "503", "reset", "error200", "empty", "html", "truncate"]


@pytest.mark.parametrize("kind", TRANSIENT)
@pytest.mark.parametrize(("endpoint", "call"), [("esearch", _search), ("efetch", _fetch)])
def test_transient_errors_are_retried_until_success(
    server: ReplayServer, make_client: Callable[..., EutilsClient], kind: str, endpoint: str, call: Callable
) -> None:
    client = make_client(max_retries=3)
    server.faults.inject(endpoint, kind, times=2)
    call(client)
    assert client.requests_made == 3
    assert len(client._sleep) == 2  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("429", r"HTTP 429 from http://127\.0\.0\.1:\d+/entrez/eutils/efetch\.fcgi"),
        ("503", r"HTTP 503 from http://127\.0\.0\.1:\d+/entrez/eutils/efetch\.fcgi"),
        ("reset", r"connection error talking to http://127\.0\.0\.1:\d+/entrez/eutils/efetch\.fcgi"),
        ("error200", r"<ERROR>Search Backend failed: .*</ERROR> from http://.*efetch\.fcgi \(HTTP 200\)"),
        ("empty", r"empty body from http://.*efetch\.fcgi \(HTTP 200\)"),
        ("html", r"HTML page instead of data from http://.*efetch\.fcgi \(HTTP 200\)"),
        (
            "truncate",
            r"truncated XML \(\d+ bytes, no closing </PubmedArticleSet>\) from http://.*efetch\.fcgi "
            r"\(HTTP 200\)",
        ),
    ],
)
def test_exhausted_retries_name_the_batch_and_the_last_cause(
    server: ReplayServer, make_client: Callable[..., EutilsClient], kind: str, cause: str
) -> None:
    client = make_client(max_retries=3)
    result = client.search(TOPIC, WINDOW)
    server.faults.inject("efetch", kind, times=None, after=2)  # batches 1 and 2 pass, batch 3 never does
    batches = client.fetch_batches(result, 7)
    next(batches), next(batches)
    with pytest.raises(
        EutilsTransientError,
        match=rf"^efetch batch 3 \(retstart 14, 7 ids\) failed after 3 attempts: {cause}$",
    ):
        next(batches)
    assert client.requests_made == 1 + 2 + 3


def test_esearch_error_bodies_fail_clearly_too(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    server.faults.inject("esearch", "error200", times=None)
    with pytest.raises(
        EutilsTransientError,
        match=r"^esearch for \(disc\*\) AND .* failed after 3 attempts: ERROR Search Backend failed: .* "
        r"\(HTTP 200\)$",
    ):
        make_client().search("disc*", WINDOW)


def test_retry_after_is_honoured(server: ReplayServer, make_client: Callable[..., EutilsClient]) -> None:
    client = make_client()
    server.faults.inject("esearch", "429:2", times=2)
    client.count("disc*")
    assert client._sleep == [2.0, 2.0]  # type: ignore[comparison-overlap]


def test_backoff_is_exponential_jittered_and_capped(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    client = make_client(max_retries=6, backoff_base=1.0, backoff_max=5.0)
    server.faults.inject("esearch", "503", times=5)
    client.count("disc*")
    sleeps = client._sleep  # type: ignore[attr-defined]
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(sleeps) == 5
    assert all(c / 2 <= s <= c for s, c in zip(sleeps, ceilings, strict=True)), sleeps


def test_read_timeouts_are_retried(server: ReplayServer, make_client: Callable[..., EutilsClient]) -> None:
    client = make_client(timeout=(2.0, 0.6))
    server.faults.inject("esearch", "slow:1.5", times=1)
    assert client.count("disc*") > 0
    server.faults.inject("esearch", "slow:1.5", times=None)
    with pytest.raises(
        EutilsTransientError, match=r"failed after 3 attempts: read timeout talking to http://"
    ):
        client.count("disc*")


def test_connection_refused_is_transient(make_client: Callable[..., EutilsClient]) -> None:
    stopped = ReplayServer(Corpus({}), rate_limit=None).start()
    url = stopped.base_url
    stopped.stop()
    with pytest.raises(
        EutilsTransientError, match=r"esearch count for .* failed after 3 attempts: connection error"
    ):
        make_client(base_url=url).count("disc*")


def test_other_4xx_fail_at_once(server: ReplayServer, make_client: Callable[..., EutilsClient]) -> None:
    client = make_client(base_url=server.base_url + "nope/")
    with pytest.raises(
        EutilsRequestError, match=r"^HTTP 404 from http://127\.0\.0\.1:\d+/entrez/eutils/nope/esearch\.fcgi"
    ):
        client.count("disc*")
    assert client.requests_made == 1 and client._sleep == []  # type: ignore[attr-defined]


def test_retries_log_one_warning_line_each_and_never_the_key(
    server: ReplayServer, make_client: Callable[..., EutilsClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(api_key=KEY, max_retries=3)
    server.faults.inject("any", "503", times=None)
    caplog.set_level(logging.DEBUG, logger="litwatch.pipeline.ncbi.client")
    with pytest.raises(EutilsTransientError) as failure:
        client.count("disc*")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.getMessage().count("\n") for w in warnings] == [0, 0]
    assert "retry 1/2" in warnings[0].getMessage() and "HTTP 503" in warnings[0].getMessage()
    assert sum(r.levelno == logging.DEBUG and "POST" in r.getMessage() for r in caplog.records) == 3
    assert KEY not in caplog.text and KEY not in str(failure.value)


# ---- queries PubMed would silently change ------------------------------------------------------------------
def test_phrase_not_found_is_a_query_error(
    server: ReplayServer, make_client: Callable[..., EutilsClient]
) -> None:
    server.faults.inject("esearch", "phrase_not_found:abcXYZ", times=None)
    client = make_client()
    message = r"^PubMed did not find the phrase 'abcXYZ' \(PhraseNotFound\); the query would silently drop it"
    with pytest.raises(QueryError, match=message):
        client.search("disc* OR abcXYZ", WINDOW)
    with pytest.raises(QueryError, match=message):
        client.count("disc* OR abcXYZ")
    assert client.requests_made == 2  # not retried


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("quoted_phrase_not_found", r"did not find the quoted phrase 'disc stuff' \(QuotedPhraseNotFound\)"),
        (
            "phrase_ignored",
            r"ignored the phrase 'disc stuff' \(PhraseIgnored\); the query would silently drop it",
        ),
    ],
)
def test_warnings_that_change_the_query_are_query_errors(
    server: ReplayServer, make_client: Callable[..., EutilsClient], fault: str, message: str
) -> None:
    server.faults.inject("esearch", f"{fault}:disc stuff")
    with pytest.raises(QueryError, match=message):
        make_client().search('"disc stuff" OR disc*', WINDOW)


def test_unknown_field_is_a_query_error(make_client: Callable[..., EutilsClient]) -> None:
    with pytest.raises(QueryError, match=r"does not know the field 'xyz' \(FieldNotFound\)"):
        make_client().search("disc[xyz]")


def test_no_items_found_alone_is_not_an_error(make_client: Callable[..., EutilsClient]) -> None:
    result = make_client().search("zebrafish[ti]", WINDOW)
    assert (result.count, result.ids) == (0, ())


def test_the_replay_server_rejects_fields_it_cannot_match(make_client: Callable[..., EutilsClient]) -> None:
    with pytest.raises(
        EutilsRequestError,
        match=r"HTTP 400 from .*: replay: the replay server does not implement the field tag \[au\]",
    ):
        make_client().count("smith j[au]")


# ---- rate limit --------------------------------------------------------------------------------------------
def _burst(clients: list[EutilsClient], calls_each: int) -> None:
    def work(client: EutilsClient) -> None:
        for _ in range(calls_each):
            client.count("disc*")

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize(("api_key", "rate", "calls_each"), [(KEY, 10.0, 10), (None, 3.0, 3)])
def test_two_clients_sharing_the_process_limiter_never_exceed_ncbi_limits(
    replay: ReplayServer, api_key: str | None, rate: float, calls_each: int
) -> None:
    clients = [
        EutilsClient(replay.base_url, email=f"dev{i}@example.org", tool="litwatch-test", api_key=api_key)
        for i in range(2)
    ]
    assert clients[0].rate_limiter is clients[1].rate_limiter is shared_rate_limiter(rate)
    _burst(clients, calls_each)
    assert replay.stats.requests["esearch"] == 2 * calls_each
    assert replay.stats.rate_violations == 0


def test_without_spacing_the_server_does_see_violations(replay: ReplayServer) -> None:
    """The check above can fail: the same burst with a test-only fast limiter trips NCBI's limit."""
    clients = [
        EutilsClient(replay.base_url, email="dev@example.org", tool="t", api_key=KEY,
                     rate_limiter=RateLimiter(1000), max_retries=50, backoff_base=0.01)
        for _ in range(2)
    ]  # fmt: skip
    _burst(clients, 10)
    assert replay.stats.rate_violations > 0


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
