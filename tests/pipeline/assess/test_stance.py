"""Per-claim stances on real fixture records (issue 12)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from litwatch.pipeline.assess import assess
from litwatch.pipeline.assess.stance import claim_stances
from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.pipeline.watchlist import load_article
from litwatch.storage.records import STANCES, Finding, Outcome
from tests.conftest import DOMAIN_RECORDS, KNEE_RECORDS

QUERIES = Path(__file__).resolve().parents[3] / "queries"
LBP = load_article(QUERIES / "stem-cell-lbp" / "article.toml")
KNEE = load_article(QUERIES / "knee-oa" / "article.toml")
DOMAIN = {a.pmid: a for a in parse_efetch(DOMAIN_RECORDS.read_bytes(), "t").articles}
KNEE_OA = {a.pmid: a for a in parse_efetch(KNEE_RECORDS.read_bytes(), "t").articles}


def _stances(pmid: str) -> dict[str, str]:
    return {s.claim: s.stance for s in assess(DOMAIN[pmid], LBP).stances}


def test_a_null_sham_controlled_finding_supports_dream_and_contradicts_promising() -> None:
    """The BMC sham RCT (99000021) as it would read with a null result: the fixture holds only its title, so its
    own stances stay `extends` (a new trial of the cited kind) and `unclear`."""
    article = DOMAIN["99000021"]
    claims = (LBP.claim("dream-rct"), LBP.claim("overview"), LBP.claim("limitations"))
    null = Finding(direction="no-difference", controlled=True)
    got = {s.claim: s.stance for s in claim_stances(null, claims, LBP, article, design="rct",
                                                    follow_up_months=6.0)}
    assert got == {"dream-rct": "supports", "overview": "contradicts", "limitations": "supports"}
    assert _stances("99000021") == {"overview": "unclear", "dream-rct": "extends", "limitations": "extends"}


def test_reason_quotes_the_claims_numbers_and_the_papers() -> None:
    stances = {s.claim: s for s in assess(DOMAIN["99000118"], LBP).stances}  # 2025 SR: 8 articles, 283 cases
    meta = stances["meta-analysis"]
    assert meta.stance == "outdates"
    assert "VAS -41.6" in meta.reason and "9 studies/245 patients" in meta.reason and "283 patients" in meta.reason
    assert "predates" not in meta.reason


def test_older_papers_say_they_predate_the_last_update() -> None:
    reason = {s.claim: s.reason for s in assess(DOMAIN["99000117"], LBP).stances}["overview"]
    assert "predates the article's last update (2025-10) — was it considered?" in reason


def test_positive_controlled_trial_contradicts_a_placebo_like_claim() -> None:
    assert _stances("99000115")["dream-rct"] == "contradicts"  # allograft better than saline


def test_safety_claim_reads_no_serious_adverse_events() -> None:
    assert _stances("99000012")["safety"] == "supports"  # "no procedure or stem cell-related adverse events"


def test_the_cited_study_supports_its_claims_and_protocols_extend() -> None:
    assert _stances("99000026")["meta-analysis"] == "supports"
    assert _stances("99000027") == {"long-term-follow-up": "extends"}


def test_larger_newer_synthesis_outdates_the_cochrane_numbers() -> None:
    stances = {s.claim: s for s in assess(KNEE_OA["99200025"], KNEE).stances}  # 27 studies, 1,042 patients
    assert stances["cochrane-findings"].stance == "outdates"
    assert "27 studies (article: 25)" in stances["cochrane-findings"].reason


def test_numbers_differing_by_half_outdate() -> None:
    claim = replace(LBP.claim("meta-analysis"), numbers=(("vas", -41.6),))
    article = DOMAIN["99000118"]

    finding = Finding(direction="favours-treatment", outcomes=(Outcome("VAS", "−12.3", "points", "",
                                                                       "VAS −12.3 points"),))
    (stance,) = claim_stances(finding, (claim,), LBP, article, design="meta-analysis", follow_up_months=None)
    assert stance.stance == "outdates" and "VAS −12.3 vs article -41.6" in stance.reason


def test_every_stance_is_known_and_one_per_touched_claim() -> None:
    for records, profile in ((DOMAIN, LBP), (KNEE_OA, KNEE)):
        for article in records.values():
            x = assess(article, profile)
            assert all(s.stance in STANCES and s.reason for s in x.stances)
            assert [s.claim for s in x.stances] == [c.id for c in profile.claims if c.label in x.claims]


def test_claims_carry_what_a_finding_is_compared_with(tmp_path: Path) -> None:
    import shutil

    import pytest

    from litwatch.pipeline.errors import QueryError

    meta = LBP.claim("meta-analysis")
    assert meta.expects == "favours-treatment"
    assert dict(meta.numbers) == {"vas": -41.6, "odi": 22.0, "reoperation": 7.4, "studies": 9.0, "patients": 245.0}
    assert LBP.last_updated == "2025-10" and KNEE.claim("mixed-results").expects == "mixed"
    folder = tmp_path / "queries" / "stem-cell-lbp"
    shutil.copytree(QUERIES / "stem-cell-lbp", folder)
    toml = folder / "article.toml"
    toml.write_text(toml.read_text().replace('expects = "safe"', 'expects = "great"'))
    with pytest.raises(QueryError, match=r"claims\[4\]: key 'expects' must be one of"):
        load_article(toml)


def test_a_cited_study_is_never_asked_whether_it_was_considered() -> None:
    """The article cites it: "predates the article's last update — was it considered?" would be noise there."""
    from litwatch.pipeline.assess import assess
    from tests.pipeline.assess.test_verdict import DOMAIN, PROFILE

    zhang = assess(DOMAIN["99000026"], PROFILE)  # Zhang 2023, cited; published before the article's 2025-10 update
    assert zhang.verdict == "cited" and zhang.stances
    assert not any("predates" in s.reason for s in zhang.stances), zhang.stances
