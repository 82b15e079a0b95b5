"""The fixed digest input the golden files are built from: real records, hand-written assessments and runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from litwatch.reports.digest import Digest, DigestInput, build_digest
from litwatch.storage.records import (
    Assessment,
    CitedStudyStatus,
    ClaimStance,
    Finding,
    Outcome,
    QueryRunStats,
    RunCounts,
    RunSummary,
    StoredArticle,
)
from tests.reports.domain_records import domain_articles

PERIOD_START = datetime(2026, 11, 13, 6, 0, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
GENERATED_AT = datetime(2026, 11, 20, 6, 5, tzinfo=UTC)
ARTICLE_TITLE = "Stem Cell Therapy for Chronic Low Back Pain Caused by Intervertebral Disc Degeneration"
ARTICLE_URL = "https://example.org/articles/stem-cell-therapy-disc-degeneration"
# the low-back-pain article's [topic] names for its interventions (queries/stem-cell-lbp/article.toml)
INTERVENTION_LABELS = {"stem-cells": "Stem cells", "exosomes": "Exosomes/EVs", "gene-therapy": "Gene therapy"}
QUERY_LABELS = {
    "stem-cells": "Stem cells for disc degeneration",
    "exosomes": "Exosomes / extracellular vesicles",
    "gene-therapy": "Gene therapy for disc degeneration",
    "cited-trials": "Cited studies (follow-ups)",
}
CLINICAL = "Clinical evidence: stem cells reduce pain and improve function"
SAFETY = "Safety: no serious adverse events linked to injections"
TIMELINE = "DREAM study: early results resemble placebo"
FUTURE = "Future: exosomes and gene-enhanced cells"
# the article's claim labels by id (queries/stem-cell-lbp/article.toml), as pipeline.digest_run passes them
CLAIM_LABELS = {
    "overview": "introduction — MSCs as a promising treatment",
    "meta-analysis": "clinical evidence — meta-analysis paragraph",
    "dream-rct": "clinical evidence — DREAM RCT paragraph",
    "long-term-follow-up": "clinical evidence — long-term follow-up outlook",
    "safety": "benefits and FAQ — safety claims",
}
# Hand-made findings (issue 12), every quote copied verbatim from the record's abstract (tests check that).
SYSTEMATIC_REVIEW_FINDING = Finding(
    "favours-treatment",
    controlled=False,
    outcomes=(
        Outcome("VAS and ODI", "P < 0.00001", quote="showed significant improvement ODI and VAS (P < 0.00001)"),
        Outcome("Pfirrmann grade", "P = 0.005",
                quote="Improvement also showed in Pfirrmann grade before and after treatment with stem cells "
                      "(P = 0.005)"),
    ),
    statement="Functional outcomes in patients treated with stem cell therapy showed significant improvement ODI "
              "and VAS (P < 0.00001).",
    studies=8,
    patients=283,
)
PHASE_ONE_FINDING = Finding(
    "safety-only",
    controlled=False,
    outcomes=(
        Outcome("serious adverse events", "no", timepoint="1 year",
                quote="We observed no procedure or stem cell-related adverse events or serious adverse events "
                      "during the 1-year follow-up period"),
    ),
    statement="We observed no procedure or stem cell-related adverse events or serious adverse events during the "
              "1-year follow-up period.",
)
PROTOCOL_FINDING = Finding("not-reported", controlled=True)
SVF_FINDING = Finding(
    "favours-treatment",
    controlled=False,
    outcomes=(
        Outcome("severe adverse events", "No", timepoint="12 months",
                quote="No severe adverse events (SAEs) were reported during a 12 month follow up period"),
    ),
    statement="No severe adverse events (SAEs) were reported during a 12 month follow up period with no incidences "
              "of infection.",
)


def _assess(
    pmid: str, verdict: str, design: str, population: str, reasons: tuple[str, ...], **kw: object
) -> Assessment:
    return Assessment(
        pmid=pmid,
        verdict=verdict,
        design=design,
        population=population,  # type: ignore[arg-type]
        condition=kw.pop("condition", "disc-degeneration"),
        reasons=reasons,  # type: ignore[arg-type]
        ruleset_version="test-1",
        **kw,
    )  # type: ignore[arg-type]


# pmid → (assessment, query ids, first seen, last changed); last_changed > first_seen marks a changed record.
_ROWS: dict[str, tuple[Assessment, tuple[str, ...], datetime, datetime]] = {
    "99000021": (
        _assess(
            "99000021",
            "update",
            "rct",
            "human",
            (
                "Randomised sham-controlled trial in humans (text: double-blind randomized sham-controlled)",
                "Intervention watched: bone marrow concentrate (stem cells)",
                "Condition: discogenic low back pain",
                "signal: title: randomised",
                "signal: no study population stated",
                "signal: clinical design implies human subjects",
            ),
            interventions=("stem-cells",),
            claims=(CLINICAL,),
            sample_size=None,
            follow_up_months=None,
            condition="discogenic-lbp",
            stances=(
                ClaimStance("dream-rct", "extends",
                            "a second sham-controlled trial of the kind the DREAM paragraph describes; the record "
                            "gives no results (title only)"),
            ),
        ),
        ("stem-cells",),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
    ),
    "99000022": (
        _assess(
            "99000022",
            "cited",
            "rct",
            "human",
            (
                "Record of a study the article cites (DREAM, doi 10.1002/jsp2.70086)",
                "PubMed record changed since the last digest",
            ),
            interventions=("stem-cells",),
            claims=(TIMELINE,),
            sample_size=52,
            follow_up_months=6,
            cited_study="dream-2025",
            stances=(
                ClaimStance("dream-rct", "unclear",
                            "the record stops before its results; article: comparable pain relief at six months"),
            ),
        ),
        ("cited-trials", "stem-cells"),
        datetime(2026, 11, 8, 6, 1, tzinfo=UTC),
        datetime(2026, 11, 18, 6, 1, tzinfo=UTC),
    ),
    "99000118": (
        _assess(
            "99000118",
            "update",
            "meta-analysis",
            "human",
            (
                "Systematic review of human studies on stem cells for discogenic low back pain",
                "Newer than the cited Zhang et al. 2023 meta-analysis",
            ),
            interventions=("stem-cells",),
            claims=(CLINICAL, SAFETY),
            condition="discogenic-lbp",
            finding=SYSTEMATIC_REVIEW_FINDING,
            stances=(
                ClaimStance("safety", "unclear", "the abstract gives no adverse-event numbers"),
                ClaimStance("meta-analysis", "outdates",
                            "article: 9 studies/245 patients (Zhang 2023); this review: 8 articles/283 cases, "
                            "searched to 13 September 2023"),
            ),
        ),
        ("stem-cells",),
        datetime(2026, 11, 17, 6, 3, tzinfo=UTC),
        datetime(2026, 11, 17, 6, 3, tzinfo=UTC),
    ),
    "99000012": (
        _assess(
            "99000012",
            "review",
            "clinical-trial",
            "human",
            ("Phase I study in humans (non-randomised)", "Adipose-derived MSCs with hyaluronic acid"),
            interventions=("stem-cells",),
            claims=(SAFETY,),
            sample_size=10,
            follow_up_months=12,
            finding=PHASE_ONE_FINDING,
            stances=(
                ClaimStance("safety", "supports",
                            "article: no serious adverse events; this study: none in 10 patients over 1 year"),
            ),
        ),
        ("stem-cells",),
        datetime(2026, 11, 17, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 17, 6, 2, tzinfo=UTC),
    ),
    "99000027": (
        _assess(
            "99000027",
            "review",
            "protocol",
            "human",
            ("Protocol of a phase II randomised trial: results not yet available",),
            interventions=("stem-cells",),
            claims=(CLINICAL,),
            finding=PROTOCOL_FINDING,
            stances=(
                ClaimStance("long-term-follow-up", "extends",
                            "a new placebo-controlled trial with follow-up to 24 months; no results yet"),
            ),
        ),
        ("stem-cells",),
        datetime(2026, 11, 15, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 15, 6, 2, tzinfo=UTC),
    ),
    "99000103": (
        _assess(
            "99000103",
            "review",
            "clinical-trial",
            "human",
            ("Open-label human study: stromal vascular fraction plus PRP", "Registered trial NCT02097862"),
            interventions=("stem-cells",),
            claims=(SAFETY,),
            sample_size=15,
            follow_up_months=12,
            finding=SVF_FINDING,
            stances=(
                ClaimStance("safety", "supports",
                            "article: no serious adverse events; this study: no SAEs in 15 patients over 12 months "
                            "(2017: predates the article's last update — was it considered?)"),
            ),
        ),
        ("stem-cells",),
        datetime(2026, 11, 16, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 16, 6, 2, tzinfo=UTC),
    ),
    "99000023": (
        _assess(
            "99000023",
            "fyi",
            "preclinical-animal",
            "animal",
            ("Animal study (rats)", "Retraction in: /10.3892/etm.2020.9129"),
            condition="disc-degeneration",
        ),
        ("stem-cells",),
        datetime(2026, 11, 5, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 19, 6, 2, tzinfo=UTC),
    ),
    "99000113": (
        _assess(
            "99000113",
            "fyi",
            "preclinical-animal",
            "animal",
            ("Animal study (rats)", "Small extracellular vesicles from iPSC-derived MSCs"),
            interventions=("exosomes",),
            claims=(FUTURE,),
        ),
        ("exosomes",),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
    ),
    "99000016": (
        _assess(
            "99000016",
            "fyi",
            "preclinical-animal",
            "animal",
            ("Animal study (mice)",),
            interventions=("gene-therapy",),
            claims=(FUTURE,),
        ),
        ("gene-therapy",),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
    ),
    "99000004": (
        _assess(
            "99000004",
            "fyi",
            "narrative-review",
            "unknown",
            ("Narrative review: no new primary data",),
            interventions=("exosomes",),
            claims=(FUTURE,),
        ),
        ("exosomes",),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 14, 6, 2, tzinfo=UTC),
    ),
    "99000006": (
        _assess(
            "99000006",
            "fyi",
            "narrative-review",
            "unknown",
            ("Narrative review: no new primary data",),
            interventions=("gene-therapy",),
            claims=(FUTURE,),
        ),
        ("gene-therapy",),
        datetime(2026, 11, 15, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 15, 6, 2, tzinfo=UTC),
    ),
    "26552484": (
        _assess(
            "26552484",
            "fyi",
            "preclinical-in-vitro",
            "in-vitro",
            ("In vitro study on human nucleus pulposus cells",),
            interventions=("gene-therapy",),
        ),
        ("gene-therapy",),
        datetime(2026, 11, 16, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 16, 6, 2, tzinfo=UTC),
    ),
    # Sent last week, unchanged since: must not appear again.
    "99000002": (
        _assess("99000002", "fyi", "narrative-review", "unknown", ("Narrative review",)),
        ("stem-cells",),
        datetime(2026, 11, 10, 6, 2, tzinfo=UTC),
        datetime(2026, 11, 10, 6, 2, tzinfo=UTC),
    ),
}


def stored(
    pmid: str, assessment: Assessment | None, queries: tuple[str, ...], first: datetime, changed: datetime
) -> StoredArticle:
    article = domain_articles()[pmid]
    return StoredArticle(
        article=article,
        content_hash=article.content_hash,
        first_seen=first,
        last_seen=changed,
        last_changed=changed,
        query_ids=queries,
        assessment=assessment,
    )


def golden_input() -> DigestInput:
    articles = domain_articles()
    items = [stored(pmid, *row) for pmid, row in _ROWS.items()]
    # The RCT was also found by the exosome search: a second row for the same PMID must fold into one item.
    items.append(stored("99000021", _ROWS["99000021"][0], ("exosomes",), *_ROWS["99000021"][2:]))
    already_sent = {
        ("99000002", articles["99000002"].content_hash),
        ("99000022", "0" * 64),
        ("99000023", "1" * 64),
    }
    checked = datetime(2026, 11, 20, 6, 1, tzinfo=UTC)
    cited = [
        CitedStudyStatus(
            "dream-2025",
            "DREAM study (Vadalà et al. 2025)",
            "99000022",
            "mismatch",
            (
                "The article says Pain Medicine; PubMed says JOR Spine (doi 10.1002/jsp2.70086)",
                "Preliminary 6-month report; the article's wording on follow-up may need checking",
            ),
            checked,
        ),
        CitedStudyStatus(
            "zhang-2023", "Zhang et al. 2023 meta-analysis", "99000026", "unchanged", (), checked
        ),
        CitedStudyStatus(
            "chen-2012",
            "Chen et al. 2012 (endplate microvessels in diabetic rats)",
            "99000023",
            "retracted",
            ("RetractionIn: Retraction in: /10.3892/etm.2020.9129",),
            checked,
        ),
    ]
    return DigestInput(
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        generated_at=GENERATED_AT,
        article_title=ARTICLE_TITLE,
        article_url=ARTICLE_URL,
        items=items,
        already_sent=already_sent,
        cited=cited,
        runs=_runs(),
        query_labels=QUERY_LABELS,
        intervention_labels=INTERVENTION_LABELS,
        claim_labels=CLAIM_LABELS,
        zero_result_warnings=(
            "Gene therapy for disc degeneration: 0 results for 21 days (usual interval 7 days)",
        ),
    )


def _runs() -> list[RunSummary]:
    def q(
        qid: str, found: int, new: int, changed: int = 0, status: str = "success", error: str | None = None
    ) -> QueryRunStats:
        return QueryRunStats(
            qid,
            date(2026, 10, 30),
            date(2026, 11, 20),
            status,  # type: ignore[arg-type]
            RunCounts(found, new, changed, found - new - changed, 0),
            error,
        )

    start = datetime(2026, 11, 14, 6, 0, tzinfo=UTC)
    return [
        RunSummary(
            41,
            "fetch",
            "cron",
            "success",
            start,
            start + timedelta(seconds=38),
            RunCounts(14, 5, 0, 9),
            queries=(q("stem-cells", 9, 2), q("exosomes", 4, 3), q("gene-therapy", 1, 0)),
        ),
        RunSummary(
            42,
            "fetch",
            "cron",
            "failed",
            start + timedelta(days=2),
            start + timedelta(days=2, seconds=95),
            RunCounts(6, 2, 0, 4),
            error="step efetch failed: NCBI returned HTTP 502 three times; a re-run resumes at "
            "batch 2 of 3\nTraceback (most recent call last): ...",
            queries=(
                q("stem-cells", 6, 2),
                q("exosomes", 0, 0, status="failed", error="efetch: HTTP 502 Bad Gateway"),
            ),
        ),
        RunSummary(
            43,
            "fetch",
            "cron",
            "success",
            start + timedelta(days=4),
            start + timedelta(days=4, seconds=41),
            RunCounts(12, 3, 2, 7),
            warnings=("esearch warning for 'exosomes': PhraseNotFound 'nucleus pulposus exosome'",),
            queries=(q("stem-cells", 8, 2, 1), q("exosomes", 3, 1), q("cited-trials", 1, 0, 1)),
        ),
    ]


@pytest.fixture
def digest() -> Digest:
    return build_digest(golden_input())
