"""Real records for the digest tests: the domain corpus (tests/fixtures/domain/records.xml) parsed by the real
parser. The reports package never imports pipeline; its tests may, to build fixtures only."""

from __future__ import annotations

from functools import cache

from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.storage.records import Article
from tests.conftest import DOMAIN_RECORDS


@cache
def domain_articles() -> dict[str, Article]:
    return {a.pmid: a for a in parse_efetch(DOMAIN_RECORDS.read_bytes(), "domain").articles}
