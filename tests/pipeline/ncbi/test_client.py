"""EutilsClient against the real replay server on 127.0.0.1 (no mocks): identity, retries, HTTP-200 error
bodies, queries PubMed would change, rate limits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from litwatch.pipeline.errors import (
    EutilsError,
    EutilsInterrupted,
    EutilsRequestError,
    EutilsTransientError,
    EutilsUnreachable,
    QueryError,
)
from litwatch.pipeline.ncbi import EutilsClient, RateLimiter, SearchResult, shared_rate_limiter
from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.conftest import free_port
from tests.pipeline.ncbi.conftest import KEY, TOPIC, WINDOW


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


def test_pmids_for_doi(make_client: Callable[..., EutilsClient]) -> None:
    client = make_client()
    assert client.pmids_for_doi("10.3389/FBIOE.2022.1077028") == ["99000005"]
    assert client.pmids_for_doi("10.9999/not-there") == []


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
    client = make_client(max_attempts=3)
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
    client = make_client(max_attempts=3)
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
    client = make_client(max_attempts=6, backoff_base=1.0, backoff_max=5.0)
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


def _closed_port_url() -> str:
    """An E-utilities URL on 127.0.0.1 where nothing listens: a port just handed out and closed again."""
    return f"http://127.0.0.1:{free_port()}/entrez/eutils/"


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        (None, "connection refused"),
        ("http://litwatch-nonexistent.invalid/entrez/eutils/",
         "host name litwatch-nonexistent.invalid does not resolve"),
    ],
)
def test_unreachable_before_any_answer_fails_at_once_with_one_line(
    make_client: Callable[..., EutilsClient], base_url: str | None, reason: str
) -> None:
    url = base_url or _closed_port_url()
    client = make_client(base_url=url, max_attempts=6)
    with pytest.raises(EutilsUnreachable) as failure:
        client.count("disc*", WINDOW, query_id="exosomes")
    assert str(failure.value) == f"cannot reach NCBI at {url}: {reason} — check [ncbi] base_url or the network"
    assert client.requests_made == 1 and client._sleep == []  # type: ignore[attr-defined]


def test_connection_refused_after_an_answer_is_transient(server: ReplayServer) -> None:
    corpus_server = ReplayServer(Corpus({}), rate_limit=None).start()
    client = EutilsClient(corpus_server.base_url, email="dev@example.org", tool="t", max_attempts=3,
                          backoff_base=0.001, rate_limiter=RateLimiter(1000), sleep=lambda _s: None)
    assert client.count("disc*") == 0  # NCBI answered once: from now on a refusal is a blip, retried
    corpus_server.stop()
    with pytest.raises(
        EutilsTransientError, match=r"esearch count for .* failed after 3 attempts: connection error"
    ):
        client.count("disc*")
    assert client.requests_made == 4


def test_retry_warnings_name_the_saved_search_not_its_term(
    server: ReplayServer, make_client: Callable[..., EutilsClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_attempts=3, max_in_flight=2)
    caplog.set_level(logging.WARNING, logger="litwatch.pipeline.ncbi.client")
    server.faults.inject("esearch", "503", times=1)
    result = client.search(TOPIC, WINDOW, query_id="exosomes")
    server.faults.inject("efetch", "503", times=1)
    list(client.fetch_batches(result, 20, query_id="exosomes"))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith(f"query=exosomes esearch for {WINDOW}: HTTP 503"), messages
    assert messages[1].startswith("query=exosomes efetch batch "), messages
    assert not any("disc*" in m for m in messages)


# ---- interrupts (Ctrl-C) ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_in_flight", [1, 2])
def test_interrupt_ends_a_backoff_at_once_and_nothing_is_retried_after_it(
    server: ReplayServer, max_in_flight: int
) -> None:
    # The default wait (no sleep hook) and a backoff of minutes: only the interrupt can end the wait in time.
    client = EutilsClient(server.base_url, email="dev@example.org", tool="t", max_attempts=6, backoff_base=300,
                          backoff_max=300, rate_limiter=RateLimiter(1000), max_in_flight=max_in_flight)
    result = client.search(TOPIC, WINDOW)
    server.faults.inject("efetch", "503", times=None)
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            list(client.fetch_batches(result, 20))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)  # daemon: a failing test must not hang the session
    worker.start()
    polls = 0
    while server.stats.requests.get("efetch", 0) < max_in_flight:  # each efetch in flight failed once: backing off
        polls += 1
        assert polls < 6000, "the efetch requests never reached the server"  # a generous bound (~60 s)
        threading.Event().wait(0.01)
    made = client.requests_made
    client.interrupt()
    worker.join(timeout=60)  # generous: without the interrupt the backoff alone is 150-300 s
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], EutilsError), outcome
    assert client.requests_made == made  # no attempt after the interrupt
    with pytest.raises(EutilsInterrupted):
        client.count("disc*")


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
    client = make_client(api_key=KEY, max_attempts=3)
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
                     rate_limiter=RateLimiter(1000), max_attempts=50, backoff_base=0.01)
        for _ in range(2)
    ]  # fmt: skip
    _burst(clients, 10)
    assert replay.stats.rate_violations > 0
