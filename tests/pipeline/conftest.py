"""Replay-server fixtures: a real E-utilities server on 127.0.0.1 over real PubMed XML.

- `domain_corpus`: the 55 domain records (tests/fixtures/domain), loaded once per session.
- `replay`: a started server over that corpus with NCBI's real limits (3 requests/s, 10/s with api_key).
- `replay_factory(corpus=None, **kwargs)`: more servers, any corpus/limits (e.g. `rate_limit=None` for speed);
  every server it makes is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.conftest import DOMAIN_RECORDS

ReplayFactory = Callable[..., ReplayServer]


@pytest.fixture(scope="session")
def domain_corpus() -> Corpus:
    return Corpus.from_dir(DOMAIN_RECORDS.parent)


@pytest.fixture
def replay_factory(domain_corpus: Corpus) -> Iterator[ReplayFactory]:
    servers: list[ReplayServer] = []

    def make(corpus: Corpus | None = None, **kwargs: Any) -> ReplayServer:
        server = ReplayServer(corpus if corpus is not None else domain_corpus, **kwargs)
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def replay(replay_factory: ReplayFactory) -> ReplayServer:
    return replay_factory()
