"""Assessing a whole efetch XML file without storing it (pipeline/file_assessment.py)."""

from __future__ import annotations

from litwatch.pipeline.file_assessment import assess_file
from tests.conftest import DOMAIN_RECORDS
from tests.pipeline.assess.test_verdict import DOMAIN, PROFILE


def test_assess_file_on_the_domain_corpus() -> None:
    results = assess_file(DOMAIN_RECORDS.read_bytes(), PROFILE)
    assert len(results) == 55
    assert all(r.content_hash == DOMAIN[r.pmid].content_hash for r in results)
