"""Shared by the ncbi tests: a replay server without a server-side limit and a fast test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from litwatch.pipeline.ncbi import DateWindow, EutilsClient, RateLimiter
from litwatch.pipeline.replay import ReplayServer
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
            email="dev@example.org", tool="litwatch-test", max_attempts=3, backoff_base=0.001,
            rate_limiter=RateLimiter(1000), sleep=Sleeps(),
        )  # fmt: skip
        options.update(kwargs)
        return EutilsClient(options.pop("base_url", server.base_url), **options)

    return make


def body_pmids(body: bytes) -> list[str]:
    return [m.decode() for m in PMID_IN_BODY.findall(body)]
