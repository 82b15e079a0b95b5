"""CrossrefClient against the replay server's Crossref endpoint: the polite pool's identity, 404 as an answer,
retries on 5xx/429, failures after the last attempt, an unreachable server, and the real works served and read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litwatch.pipeline.crossref import CrossrefClient, CrossrefUnreachable
from litwatch.pipeline.crossref.client import CrossrefTransientError
from litwatch.pipeline.ncbi import RateLimiter
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.replay.crossref import CrossrefWorks
from tests.conftest import FIXTURES, free_port, third_party
from tests.pipeline.conftest import ReplayFactory

ZHANG = "10.3389/fbioe.2023.1155357"
SURGISPHERE = "10.1016/s0140-6736(20)31180-6"


@pytest.fixture
def server(replay_factory: ReplayFactory) -> ReplayServer:
    works = CrossrefWorks.from_dir(FIXTURES / "crossref")
    works.add(third_party("crossref", "cyanheads__10.1016_s0140-6736_20_31180-6.trimmed.json"))
    return replay_factory(crossref=works)


def client(server: ReplayServer | str, delays: list[float] | None = None, attempts: int = 3) -> CrossrefClient:
    url = server.crossref_url if isinstance(server, ReplayServer) else server
    return CrossrefClient(url, mailto="writer@example.org", max_attempts=attempts, backoff_base=0.001,
                          rate_limiter=RateLimiter(1000.0), sleep=(delays.append if delays is not None else None))


def test_the_request_carries_mailto_and_a_user_agent_naming_litwatch(server: ReplayServer) -> None:
    work = client(server).work(ZHANG)
    assert work is not None and work.doi == ZHANG
    stats = server.crossref.stats
    assert stats.params == [{"mailto": "writer@example.org"}] and stats.dois == [ZHANG]
    assert stats.user_agents[0].startswith("litwatch/") and "mailto:writer@example.org" in stats.user_agents[0]


def test_an_unknown_doi_is_none_not_an_error(server: ReplayServer) -> None:
    c = client(server)
    assert c.work("10.5555/not-a-real-doi") is None and c.requests_made == 1


def test_a_doi_with_parentheses_round_trips(server: ReplayServer) -> None:
    work = client(server).work(SURGISPHERE)
    assert work is not None and work.title.startswith("RETRACTED:")


@pytest.mark.parametrize("kind", ["503", "500", "429", "empty", "html", "truncate", "reset"])
def test_a_transient_failure_is_retried(server: ReplayServer, kind: str) -> None:
    server.crossref.faults.inject("any", kind, times=1)
    delays: list[float] = []
    c = client(server, delays)
    work = c.work(ZHANG)
    assert work is not None and work.notices[0].kind == "retraction"
    assert c.requests_made == 2 and len(delays) == 1


def test_retry_after_is_honoured(server: ReplayServer) -> None:
    server.crossref.faults.inject("any", "429:2", times=1)
    delays: list[float] = []
    assert client(server, delays).work(ZHANG) is not None
    assert delays == [2.0]


def test_a_server_error_on_every_attempt_fails_after_the_last(server: ReplayServer) -> None:
    server.crossref.faults.inject("any", "503", times=None)
    c = client(server, [], attempts=3)
    with pytest.raises(CrossrefTransientError, match=r"failed after 3 attempts: HTTP 503"):
        c.work(ZHANG)
    assert c.requests_made == 3


def test_a_server_never_reached_fails_at_once() -> None:
    c = client(f"http://127.0.0.1:{free_port()}/crossref/", [])
    with pytest.raises(CrossrefUnreachable, match=r"cannot reach Crossref .*connection refused"):
        c.work(ZHANG)
    assert c.requests_made == 1


@pytest.mark.parametrize("name", [
    "cyanheads__10.1016_s0140-6736_20_31180-6.trimmed.json", "cyanheads__10.1016_s0140-6736_20_31324-6.json",
    "cyanheads__10.1109_icetce.2011.5774727.json", "habanero__works_10.1371_journal.pone.0033693.json",
    "habanero__works_10.1002_jor.1100150407.json", "rcrossref__item_10.1103_physrevb.98.104436.json",
])
def test_real_works_served_and_read(replay_factory: ReplayFactory, name: str) -> None:
    path = third_party("crossref", name)
    server = replay_factory(crossref=CrossrefWorks.from_files([path]))
    data = json.loads(Path(path).read_bytes())
    doi = data.get("message", data)["DOI"]
    work = client(server).work(doi)
    assert work is not None and work.doi == doi
    assert len(work.updates) == len(data.get("message", data).get("updated-by") or []) + len(
        data.get("message", data).get("update-to") or [])
