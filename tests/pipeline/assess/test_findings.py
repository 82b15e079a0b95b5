"""Findings read from real fixture records (issue 12): direction, control, outcomes copied verbatim, statement."""

from __future__ import annotations

from pathlib import Path

import pytest

from litwatch.pipeline.assess import assess
from litwatch.pipeline.assess.findings import quote_in_record, read_finding, unverified_outcomes
from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.pipeline.watchlist import load_article
from litwatch.storage.records import DIRECTIONS, AbstractSection, Article, Outcome
from tests.conftest import DOMAIN_RECORDS, FIXTURES

QUERIES = Path(__file__).resolve().parents[3] / "queries"
LBP = load_article(QUERIES / "stem-cell-lbp" / "article.toml")
KNEE = load_article(QUERIES / "knee-oa" / "article.toml")
KNEE_RECORDS = FIXTURES / "knee-oa" / "records.xml"


def _records(path: Path) -> dict[str, Article]:
    return {a.pmid: a for a in parse_efetch(path.read_bytes(), "t").articles}


DOMAIN = _records(DOMAIN_RECORDS)
KNEE_OA = _records(KNEE_RECORDS)


def test_sham_controlled_bmc_rct_is_controlled_and_invents_no_result() -> None:
    """PMID 99000021 holds only its title in the fixture: controlled (sham), and no result it does not state."""
    finding = assess(DOMAIN["99000021"], LBP).finding
    assert finding is not None
    assert finding.controlled is True
    assert finding.direction == "not-reported" and finding.outcomes == () and finding.statement == ""


def test_null_sham_controlled_trial_reads_no_difference() -> None:
    finding = assess(KNEE_OA["99200010"], KNEE).finding  # bipolar RFA vs sham: "no significant differences"
    assert finding is not None and finding.direction == "no-difference" and finding.controlled is True
    assert finding.statement.startswith("No significant changes were observed between groups")


def test_meta_analysis_pooled_numbers_come_with_their_quotes() -> None:
    article = DOMAIN["33642874"]  # intradiscal PRP meta-analysis: SMDs for VAS and ODI
    finding = assess(article, LBP).finding
    assert finding is not None and finding.direction == "favours-treatment" and finding.studies == 3
    values = [(o.value, o.unit, o.timepoint) for o in finding.outcomes]
    assert ("−0.837", "SMD", "two months") in values and ("−0.964", "SMD", "six months") in values
    assert all(quote_in_record(o, article) for o in finding.outcomes)
    assert not any(o.value.startswith("95") for o in finding.outcomes)  # "95% CI" is no result


def test_synthesis_counts_studies_and_patients() -> None:
    finding = assess(DOMAIN["99000117"], LBP).finding  # 16 studies, 607 participants, improvement vs baseline
    assert finding is not None
    assert (finding.studies, finding.patients, finding.controlled) == (16, 607, False)
    johnston = assess(KNEE_OA["99200027"], KNEE).finding  # "8 trials (544 participants)"
    assert johnston is not None and johnston.patients == 544


def test_protocol_is_not_reported() -> None:
    finding = assess(DOMAIN["99000027"], LBP).finding
    assert finding is not None and finding.direction == "not-reported" and finding.outcomes == ()


def test_statement_is_the_conclusion_never_a_methods_sentence() -> None:
    finding = assess(DOMAIN["99000001"], LBP).finding
    assert finding is not None
    assert finding.statement == ("Intradiscal cBMA injections may be effective to reduce pain and improve function.")
    for article, profile in [*((a, LBP) for a in DOMAIN.values()), *((a, KNEE) for a in KNEE_OA.values())]:
        statement = assess(article, profile).finding
        if statement is not None and statement.statement:
            assert not any(w in statement.statement for w in ("were randomized", "we searched", "were included"))


def test_inline_headed_abstract_reads_its_results_part() -> None:
    finding = assess(DOMAIN["99000115"], LBP).finding  # "…Results At 6 and 12 months, the VAS improved from…"
    assert finding is not None and finding.direction == "favours-treatment"
    assert ("VAS", "54.81") in [(o.measure, o.value) for o in finding.outcomes]


def test_cut_safety_sentence_is_safety_only() -> None:
    finding = assess(DOMAIN["99000022"], LBP).finding  # DREAM: results cut after the safety sentence
    assert finding is not None and finding.direction == "safety-only"


def test_preclinical_and_narrative_records_have_no_finding() -> None:
    for pmid in ("99000002",):  # narrative review
        assert assess(DOMAIN[pmid], LBP).finding is None


@pytest.mark.parametrize("records,profile", [(DOMAIN, LBP), (KNEE_OA, KNEE)], ids=["domain", "knee-oa"])
def test_every_number_is_verbatim_in_its_quote_and_record(records: dict[str, Article], profile: object) -> None:
    """Over every record of both fixture sets (many abstracts cut mid-word): nothing invented."""
    seen = 0
    for article in records.values():
        finding = assess(article, profile).finding  # type: ignore[arg-type]
        if finding is None:
            continue
        assert finding.direction in DIRECTIONS
        assert unverified_outcomes(finding, article) == [], article.pmid
        seen += len(finding.outcomes)
    assert seen > 0


def test_checker_catches_a_number_not_in_the_record() -> None:
    article = Article(pmid="1", title="T", abstract=(AbstractSection(text="VAS fell by 3.2 points.", html=""),))
    assert quote_in_record(Outcome("VAS", "3.2", quote="VAS fell by 3.2 points."), article)
    assert not quote_in_record(Outcome("VAS", "3.5", quote="VAS fell by 3.2 points."), article)
    assert not quote_in_record(Outcome("VAS", "3.2", quote="VAS fell by 3.2 points"), Article(pmid="2"))


def test_only_human_clinical_designs_get_a_finding() -> None:
    article = DOMAIN["99000001"]
    assert read_finding(article, "preclinical-animal", "animal", LBP.topic) is None
    assert read_finding(article, "case-series", "human", LBP.topic) is not None
