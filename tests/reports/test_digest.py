"""The view-model, table-driven: sections, order, de-duplication, sent items, wording, links, run health."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from litwatch.reports.digest import (
    Digest,
    DigestInput,
    SummaryLine,
    build_digest,
    conclusion,
    doi_url,
    nct_url,
    shorten,
    split_sentences,
    subject_line,
)
from litwatch.reports.findings import found_line
from litwatch.reports.items import split_reasons
from litwatch.reports.links import record_url
from litwatch.storage.records import (
    DESIGN_LABELS,
    DESIGN_ORDER,
    DESIGN_PHRASES,
    AbstractSection,
    Article,
    Assessment,
    CitedStudyStatus,
    ClaimStance,
    CommentCorrection,
    Finding,
    Outcome,
    QueryRunStats,
    RunCounts,
    RunSummary,
    StoredArticle,
    is_placeholder_pmid,
)
from tests.reports.conftest import PERIOD_START, golden_input, stored
from tests.reports.domain_records import domain_articles

T0 = PERIOD_START + timedelta(days=1)


def _input(items: list[StoredArticle], **kw: object) -> DigestInput:
    fields: dict[str, object] = dict(already_sent=set(), cited=[], runs=[], zero_result_warnings=())
    return dataclasses.replace(golden_input(), items=items, **{**fields, **kw})  # type: ignore[arg-type]


def _row(
    pmid: str,
    verdict: str,
    design: str = "rct",
    *,
    first: datetime = T0,
    changed: datetime = T0,
    queries: tuple[str, ...] = ("stem-cells",),
    cited_study: str | None = None,
    article: Article | None = None,
) -> StoredArticle:
    assessment = Assessment(
        pmid=pmid,
        verdict=verdict,
        design=design,
        population="human",  # type: ignore[arg-type]
        condition="disc-degeneration",
        reasons=(f"{verdict} because",),
        ruleset_version="t",
        cited_study=cited_study,
    )
    if article is None:
        return stored(pmid, assessment, queries, first, changed)
    return StoredArticle(
        article=article,
        content_hash=article.content_hash,
        first_seen=first,
        last_seen=changed,
        last_changed=changed,
        query_ids=queries,
        assessment=assessment,
    )


def test_golden_input_sections(digest: Digest) -> None:
    assert [c.study_id for c in digest.cited_alerts] == [
        "chen-2012",
        "dream-2025",
    ]  # retracted before mismatch
    # each alert carries its study's record, which is then listed nowhere else
    assert [c.record.pmid if c.record else None for c in digest.cited_alerts] == ["99000023", "99000022"]
    assert [i.pmid for i in digest.action_needed] == ["99000118", "99000021"]
    # by stance first: the protocol extends a claim, the two human studies support one
    assert [i.pmid for i in digest.worth_a_look] == ["99000027", "99000012", "99000103"]
    assert len(digest.for_awareness) == 5
    assert "99000002" not in {k[0] for k in digest.item_keys}  # already sent, unchanged
    assert len(digest.item_keys) == 12 + 2  # 12 records, 2 cited-study alerts
    assert digest.headline == "Action needed: 4 — the article's evidence section should be updated"
    assert digest.tally == "12 records: 4 need action, 3 worth a look, 5 for awareness"
    assert digest.summary[0] == SummaryLine(
        "Cited study Chen et al. 2012 (endplate microvessels in diabetic rats): retracted",
        "https://doi.org/10.3892/etm.2012.868",  # a placeholder PMID: its DOI, not a missing PubMed page
        "",
        "cited-chen-2012",
    )
    assert subject_line(digest) == "litwatch digest 2026-W47 — 4 items need action"


def test_one_item_per_pmid_with_every_query(digest: Digest) -> None:
    rct = next(i for i in digest.action_needed if i.pmid == "99000021")
    assert rct.queries == ("Exosomes / extracellular vesicles", "Stem cells for disc degeneration")
    assert [k[0] for k in digest.item_keys].count("99000021") == 1


@pytest.mark.parametrize(
    ("sent", "changed", "expected"),
    [
        (set(), T0, "new"),  # never sent, never changed
        ({("99000023", "old")}, T0, "changed"),  # sent before with another hash
        (set(), T0 + timedelta(hours=5), "changed"),  # changed after first seen
        ("same", T0, None),  # sent with this very hash: skipped
    ],
)
def test_new_changed_or_skipped(sent: object, changed: datetime, expected: str | None) -> None:
    row = _row("99000023", "fyi", "preclinical-animal", changed=changed)
    already = {("99000023", row.content_hash)} if sent == "same" else sent
    d = build_digest(dataclasses.replace(_input([row]), already_sent=already))
    items = d.for_awareness
    assert [i.change for i in items] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("links", "note"),
    [
        (
            (CommentCorrection("RetractionIn", None, "Retraction in: /10.3892/etm.2020.9129"),),
            "changed since last digest: retraction link added",
        ),
        (
            (CommentCorrection("ErratumIn", "123"), CommentCorrection("ExpressionOfConcernIn", "456")),
            "changed since last digest: erratum, expression of concern link added",
        ),
        ((CommentCorrection("CommentIn", "789"),), "updated record"),
        ((), "updated record"),
    ],
)
def test_change_note_names_what_the_record_now_carries(links: tuple, note: str) -> None:
    article = dataclasses.replace(domain_articles()["99000021"], comments_corrections=links)
    row = _row("99000021", "update", article=article, changed=T0 + timedelta(days=1))
    assert build_digest(_input([row])).action_needed[0].change_note == note


def test_order_cited_then_design_then_newest() -> None:
    rows = [
        _row("99000021", "update", "rct"),  # created 2026-10-31
        _row("99000020", "update", "rct"),  # created 2026-10-22
        _row("99000118", "update", "meta-analysis"),
        _row("99000117", "update", "systematic-review"),
        _row("99000025", "update", "systematic-review", cited_study="zhang-2023"),
    ]
    d = build_digest(_input(rows))
    assert [i.pmid for i in d.action_needed] == ["99000025", "99000118", "99000021", "99000020", "99000117"]


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("unchanged", False),
        ("new", False),
        ("changed", True),
        ("corrected", True),
        ("retracted", True),
        ("concern", True),
        ("mismatch", True),
        ("not-found", True),
    ],
)
def test_cited_study_status_drives_action(status: str, action: bool) -> None:
    cited = [CitedStudyStatus("zhang-2023", "Zhang 2023", "99000026", status)]  # type: ignore[arg-type]
    d = build_digest(dataclasses.replace(_input([]), cited=cited))
    assert bool(d.cited_alerts) is action
    assert d.action_count == (1 if action else 0)
    assert d.cited_studies[0].status == status


@pytest.mark.parametrize(
    ("actions", "worth", "days", "headline"),
    [
        (0, 0, 7, "No action needed this week"),
        (0, 2, 7, "No action needed this week — 2 worth a look"),
        (0, 0, 30, "No action needed this period"),
        (1, 0, 7, "Action needed: 1 — the article's evidence section should be updated"),
    ],
)
def test_headline(actions: int, worth: int, days: int, headline: str) -> None:
    rows = [_row(p, "update") for p in ("99000021",)[:actions]]
    rows += [_row(p, "review", "protocol") for p in ("99000027", "99000120")[:worth]]
    inp = dataclasses.replace(_input(rows), period_end=PERIOD_START + timedelta(days=days))
    d = build_digest(inp)
    assert d.headline == headline
    assert subject_line(d).endswith("1 item needs action" if actions else "no action needed")


def test_cited_record_goes_to_action_only_when_it_changed() -> None:
    new = build_digest(_input([_row("99000026", "cited", "meta-analysis", cited_study="zhang-2023")]))
    changed = build_digest(
        _input(
            [
                _row(
                    "99000026",
                    "cited",
                    "meta-analysis",
                    cited_study="zhang-2023",
                    changed=T0 + timedelta(days=1),
                )
            ]
        )
    )
    assert (len(new.action_needed), len(new.for_awareness)) == (0, 1)
    assert (len(changed.action_needed), len(changed.for_awareness)) == (1, 0)


def test_unassessed_record_is_worth_a_look() -> None:
    row = dataclasses.replace(_row("99000021", "update"), assessment=None)
    item = build_digest(_input([row])).worth_a_look[0]
    assert item.reasons == ("Not assessed yet",)


def test_item_fields_from_a_real_record(digest: Digest) -> None:
    item = next(i for i in digest.worth_a_look if i.pmid == "99000103")
    assert item.placeholder and item.pubmed_url is None  # 99000103 is a placeholder: no PubMed page
    assert item.url == "https://doi.org/10.1186/s12967-016-1109-0"
    assert item.doi and item.doi.url == "https://doi.org/10.1186/s12967-016-1109-0"
    assert [(t.text, t.url) for t in item.trials] == [
        ("NCT02097862", "https://clinicaltrials.gov/study/NCT02097862")
    ]
    assert (item.sample_size, item.follow_up) == ("n = 15", "12 months")
    assert item.badges == ("Clinical, non-randomised", "Human", "Stem cells")
    dream = digest.cited_alerts[1].record
    assert dream is not None
    assert dream.title_html.startswith("Intradiscal Mesenchymal Stromal Cell Therapy")
    assert dream.conclusion.endswith("Structural…")  # the source abstract stops there


def test_run_health(digest: Digest) -> None:
    health = digest.run_health
    assert [r.run_id for r in health.runs] == [41, 42, 43]
    assert health.failures[0] == (
        "Run 42 (fetch, cron, 2026-11-16 06:00) failed: step efetch failed: NCBI returned "
        "HTTP 502 three times; a re-run resumes at batch 2 of 3"
    )
    assert (
        health.failures[1]
        == "Query Exosomes / extracellular vesicles failed in run 42: efetch: HTTP 502 Bad Gateway"
    )
    by_label = {q.label: q for q in health.queries}
    stem = by_label["Stem cells for disc degeneration"]
    # never summed over runs (9 + 6 + 8): the last run's hits, and distinct records of the period
    assert (stem.runs, stem.found_last_run, stem.new, stem.changed) == (3, 8, 5, 2)
    assert by_label["Exosomes / extracellular vesicles"].last_status == "success"
    assert health.zero_result_warnings[0].startswith(
        "Gene therapy for disc degeneration: 0 results for 21 days"
    )
    assert not health.ok


def test_no_runs_is_not_healthy() -> None:
    assert build_digest(_input([])).run_health.ok is False


def _article(*sections: tuple[str | None, str | None, str]) -> Article:
    return Article(
        pmid="1",
        abstract=tuple(AbstractSection(text=t, html=t, label=lab, category=cat) for lab, cat, t in sections),
    )


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            [
                ("RESULTS", "RESULTS", "It worked."),
                ("CONCLUSIONS", "CONCLUSIONS", "MSCs are safe. More trials needed."),
            ],
            "MSCs are safe. More trials needed.",
        ),
        (
            [("Conclusion", None, "Unlabelled category but labelled section.")],
            "Unlabelled category but labelled section.",
        ),
        ([("CONCLUSIONS", "CONCLUSIONS", "Safe. Trial registration NCT01234567.")], "Safe."),
        (
            [(None, None, "First. Second sentence, e.g. this one. Third one ends here.")],
            "Second sentence, e.g. this one. Third one ends here.",
        ),
        ([(None, None, "Only one sentence without a stop")], "Only one sentence without a stop…"),
        ([("CONCLUSION", "CONCLUSIONS", "is a favorabl")], "is a favorabl…"),
        ([], ""),
    ],
)
def test_conclusion(sections: list, expected: str) -> None:
    assert conclusion(_article(*sections)) == expected


def test_conclusion_is_never_cut_mid_word_without_ellipsis() -> None:
    text = "Word " * 200 + "end."
    result = conclusion(_article(("CONCLUSIONS", "CONCLUSIONS", text)), limit=60)
    assert result.endswith("…") and len(result) <= 60 and result[:-1].split()[-1] == "Word"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("A b. C d.", ["A b.", "C d."]),
        ("Smith et al. found it. Next.", ["Smith et al. found it.", "Next."]),
        ("P<0.01 vs. control. Done", ["P<0.01 vs. control.", "Done"]),
    ],
)
def test_split_sentences(text: str, parts: list[str]) -> None:
    assert split_sentences(text) == parts


@pytest.mark.parametrize(
    ("fn", "arg", "url"),
    [
        (
            doi_url,
            "10.1002/(SICI)1097-0258(19980815/30)17:15/16<1661::AID-SIM968>3.0.CO;2-2",
            "https://doi.org/10.1002/%28SICI%291097-0258%2819980815/30%2917%3A15/16%3C1661%3A%3AAID-SIM968%3E3.0.CO%3B2-2",
        ),
        (doi_url, "javascript:alert(1)", "https://doi.org/javascript%3Aalert%281%29"),
        (nct_url, "nct01290367", "https://clinicaltrials.gov/study/NCT01290367"),
    ],
)
def test_urls_are_built_and_quoted(fn, arg: str, url: str) -> None:
    assert fn(arg) == url


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("alpha beta gamma", 12) == "alpha beta…"
    assert shorten("short", 12) == "short"


def test_week_is_iso_week_of_period_end() -> None:
    inp = dataclasses.replace(_input([]), period_end=datetime(2027, 1, 1, tzinfo=UTC))
    assert build_digest(inp).week == "2026-W53"


@pytest.mark.parametrize(
    ("reasons", "why", "details"),
    [
        (  # the assessment's shape: summary, verdict reason, then rule signals
            (
                "randomised, humans; cell therapy; discogenic LBP",
                "human randomised trial on a watched intervention",
                "signal: title: randomised",
                "signal: no study population stated",
            ),
            (
                "Randomised, humans; cell therapy; discogenic LBP",
                "human randomised trial on a watched intervention",
            ),
            ("title: randomised", "no study population stated"),
        ),
        (("a", "b", "c"), ("a", "b"), ("c",)),  # a third writer reason goes to the small print
        (("n = 52 humans", "Signal: x"), ("n = 52 humans",), ("x",)),  # "n =" is not capitalised
        (("signal: only a signal",), (), ("only a signal",)),
        ((), (), ()),
    ],
)
def test_reasons_split_into_why_and_details(reasons: tuple, why: tuple, details: tuple) -> None:
    assert split_reasons(reasons) == (why, details)


def test_signals_stay_in_the_item_and_its_json(digest: Digest) -> None:
    rct = next(i for i in digest.action_needed if i.pmid == "99000021")
    assert all(not w.lower().startswith("signal") for w in rct.why) and len(rct.why) == 2
    assert "no study population stated" in rct.details
    assert "signal: no study population stated" in rct.reasons


@pytest.mark.parametrize(
    ("start", "first_record", "label"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), PERIOD_START, "all records stored so far, up to 20 Nov 2026"),
        (PERIOD_START, PERIOD_START, "all records stored so far, up to 20 Nov 2026"),
        (PERIOD_START, PERIOD_START - timedelta(days=30), "13 Nov – 20 Nov 2026"),
        (PERIOD_START, None, "13 Nov – 20 Nov 2026"),
        (datetime(2025, 12, 30, tzinfo=UTC), None, "30 Dec 2025 – 20 Nov 2026"),
    ],
)
def test_period_label(start: datetime, first_record: datetime | None, label: str) -> None:
    inp = dataclasses.replace(_input([]), period_start=start, first_record_at=first_record)
    assert build_digest(inp).period_label == label


def test_action_list_links_and_names_the_paragraph(digest: Digest) -> None:
    by_text = {line.text: line for line in digest.summary}
    line = by_text[
        "New Meta-analysis (2025): Stem Cells Therapy as a Treatment for Discogenic Low Back Pain: A Systematic "
        "Review"
    ]
    # a placeholder PMID without a DOI: a PubMed search for the title finds the real record
    assert line.url == (
        "https://pubmed.ncbi.nlm.nih.gov/?term=%22Stem+Cells+Therapy+as+a+Treatment+for+Discogenic+Low+Back+"
        "Pain%3A+A+Systematic+Review%22%5BTitle%5D"
    )
    assert line.anchor == "pmid-99000118"
    assert line.touches == "Clinical evidence: stem cells reduce pain and improve function (+1 more)"


def test_awareness_note_for_a_study_already_cited() -> None:
    d = build_digest(_input([_row("99000026", "cited", "meta-analysis"), _row("99000019", "fyi", "other")]))
    assert {i.pmid: i.note for i in d.for_awareness} == {
        "99000026": "already cited in the article",
        "99000019": "",
    }


def test_every_design_the_assessment_emits_has_a_label_and_a_rank() -> None:
    # ONE table (storage.records) gives the assessment its phrases (a code without one fails every assessment
    # that emits it) and the digest its labels and ranks
    from litwatch.pipeline.assess.design import HUMAN_EVIDENCE, NOTICES, SYNTHESIS

    assert set(DESIGN_LABELS) == set(DESIGN_ORDER) == set(DESIGN_PHRASES)
    assert HUMAN_EVIDENCE | NOTICES | SYNTHESIS <= set(DESIGN_ORDER)


def test_a_cited_study_alert_is_reported_once_per_status() -> None:
    mismatch = CitedStudyStatus("dream-2025", "DREAM", "99000022", "mismatch", ("journal differs",), T0)
    first = build_digest(_input([], cited=[mismatch]))
    assert [c.study_id for c in first.cited_alerts] == ["dream-2025"]
    assert first.item_keys == (("cited:dream-2025", "mismatch"),)
    again = build_digest(_input([], cited=[mismatch], already_sent=set(first.item_keys)))
    assert again.cited_alerts == () and again.action_count == 0
    assert [c.status for c in again.cited_studies] == ["mismatch"]  # still listed in the table
    worse = dataclasses.replace(mismatch, status="retracted")
    later = build_digest(_input([], cited=[worse], already_sent=set(first.item_keys)))
    assert [c.status for c in later.cited_alerts] == ["retracted"]


# --- counts that add up (issue 15, item 6) ---------------------------------------------------------------------


def test_a_cited_study_and_its_record_are_one_entry_counted_once() -> None:
    # DREAM: the cited study's record is in the digest (verdict "cited") and the study has a citation mismatch.
    # It used to be listed under the alert, again under "For awareness", and counted in both.
    mismatch = CitedStudyStatus("dream-2025", "DREAM", "99000022", "mismatch", ("journal differs",), T0)
    rows = [_row("99000022", "cited", cited_study="dream-2025"), _row("99000021", "update")]
    d = build_digest(_input(rows, cited=[mismatch]))
    assert [c.record.pmid if c.record else None for c in d.cited_alerts] == ["99000022"]
    listed = [i.pmid for i in (*d.action_needed, *d.worth_a_look, *d.for_awareness)]
    assert listed == ["99000021"]
    assert d.action_count == 2 and d.counts.records == 2
    assert d.tally == "2 records: 2 need action, 0 worth a look, 0 for awareness"
    assert [c.url for c in d.cited_studies] == [d.cited_alerts[0].record.url]  # the table links the same record


def test_a_changed_cited_record_with_an_alert_is_one_action() -> None:
    mismatch = CitedStudyStatus("dream-2025", "DREAM", "99000022", "mismatch", (), T0)
    changed = _row("99000022", "cited", cited_study="dream-2025", changed=T0 + timedelta(days=1))
    d = build_digest(_input([changed], cited=[mismatch]))
    assert d.action_needed == () and d.action_count == 1
    assert d.headline.startswith("Action needed: 1 ")
    assert subject_line(d).endswith("1 item needs action")


@pytest.mark.parametrize("cited_pmid", ["99000022", None])
def test_sections_add_up_to_the_records(cited_pmid: str | None) -> None:
    rows = [
        _row("99000021", "update"),
        _row("99000027", "review", "protocol"),
        _row("99000019", "fyi", "other"),
        _row("99000022", "cited", cited_study="dream-2025"),
    ]
    alert = CitedStudyStatus("dream-2025", "DREAM", cited_pmid, "not-found" if cited_pmid is None else "retracted")
    d = build_digest(_input(rows, cited=[alert]))
    c = d.counts
    assert c.action + c.worth + c.awareness == c.records + c.cited_without_record
    assert c.records == 4  # four distinct records, each in one section
    tail = "" if cited_pmid else " and 1 cited study"
    assert d.tally == f"4 records{tail}: {c.action} need action, {c.worth} worth a look, {c.awareness} for awareness"


def test_new_in_the_action_list_carries_the_publication_year() -> None:
    # 99000025 is a 2015 paper new to PubMed's index (placeholder PMID, shifted Entrez date): "New" alone misleads
    d = build_digest(_input([_row("99000021", "update")]))
    assert d.summary[0].text.startswith("New RCT (2025): ")


def test_run_health_counts_distinct_records_not_sums_over_runs() -> None:
    # two runs of one search that each found the same 3 records: 3 records, not 6
    start = PERIOD_START + timedelta(hours=1)
    runs = [
        RunSummary(n, "fetch", "cron", "success", start + timedelta(days=n), start + timedelta(days=n, seconds=9),
                   RunCounts(3, 3 if n == 1 else 0, 0, 0 if n == 1 else 3),
                   queries=(QueryRunStats("stem-cells", None, None, "success",
                                          RunCounts(3, 3 if n == 1 else 0, 0, 0 if n == 1 else 3)),))
        for n in (1, 2)
    ]
    rows = [_row(p, "fyi", "other", first=start + timedelta(days=1)) for p in ("99000019", "99000021", "99000027")]
    row = build_digest(_input(rows, runs=runs)).run_health.queries[0]
    assert (row.runs, row.found_last_run, row.new, row.changed) == (2, 3, 3, 0)


@pytest.mark.parametrize(
    ("pmid", "doi", "url"),
    [
        ("25054402", "10.1/x", "https://pubmed.ncbi.nlm.nih.gov/25054402/"),  # real: PubMed, whatever the DOI
        ("99000021", "10.1016/j.inpm.2025.100611", "https://doi.org/10.1016/j.inpm.2025.100611"),
        ("99000118", None, "https://pubmed.ncbi.nlm.nih.gov/?term=%22A+B%22%5BTitle%5D"),
    ],
)
def test_a_placeholder_pmid_links_by_doi(pmid: str, doi: str | None, url: str) -> None:
    assert record_url(pmid, doi, "A B") == url
    assert is_placeholder_pmid(pmid) is pmid.startswith("99")


def test_the_digest_says_its_pmids_are_placeholders_only_when_they_are(digest: Digest) -> None:
    assert digest.placeholder_note.startswith("Real abstracts; placeholder PMIDs")
    real = build_digest(_input([_row("26552484", "fyi", "other")]))
    assert real.placeholder_note == "" and real.for_awareness[0].url == "https://pubmed.ncbi.nlm.nih.gov/26552484/"


def _with_stances(row: StoredArticle, *stances: tuple[str, str]) -> StoredArticle:
    assert row.assessment is not None
    made = tuple(ClaimStance(claim, stance, f"{stance} because") for claim, stance in stances)
    return dataclasses.replace(row, assessment=dataclasses.replace(row.assessment, stances=made))


def test_action_list_follows_the_stances_then_records_without_one() -> None:
    # the strongest design (a meta-analysis) without a stance goes last; a record's most pressing stance counts
    rows = [
        _row("99000118", "update", "meta-analysis"),
        _with_stances(_row("99000012", "update", "case-series"), ("safety", "supports")),
        _with_stances(_row("99000103", "update", "case-series"), ("safety", "unclear"), ("overview", "contradicts")),
        _with_stances(_row("99000027", "update", "protocol"), ("long-term-follow-up", "extends")),
        _with_stances(_row("99000021", "update", "rct"), ("meta-analysis", "outdates")),
    ]
    d = build_digest(_input(rows))
    order = ["99000103", "99000021", "99000027", "99000012", "99000118"]
    assert [i.pmid for i in d.action_needed] == order
    assert [line.anchor for line in d.summary] == [f"pmid-{p}" for p in order]
    first = d.summary[0]
    # the line names the most pressing stance with the claim's label (from DigestInput.claim_labels)
    assert first.stance == "Contradicts: introduction — MSCs as a promising treatment (+1 more)" and first.urgent
    assert d.summary[2].stance == "Extends: clinical evidence — long-term follow-up outlook" and not d.summary[2].urgent
    assert d.summary[-1].stance == "" and d.summary[-1].touches == ""
    assert [s.stance for s in d.action_needed[0].for_article] == ["contradicts", "unclear"]


def test_within_a_stance_papers_older_than_the_articles_last_update_rank_below_newer_ones() -> None:
    """Issue 12: a paper published before the article was last updated may have been considered already."""
    def published(row: StoredArticle, year: int) -> StoredArticle:
        return dataclasses.replace(row, article=dataclasses.replace(row.article, pub_year=year))

    old_rct = published(_with_stances(_row("99000021", "update", "rct"), ("dream-rct", "supports")), 2016)
    new_series = published(_with_stances(_row("99000012", "update", "case-series"), ("safety", "supports")), 2026)
    rows = [old_rct, new_series]
    assert [i.pmid for i in build_digest(_input(rows)).action_needed] == ["99000021", "99000012"]  # design first
    updated = build_digest(_input(rows, article_last_updated="2025-10")).action_needed
    assert [(i.pmid, i.predates) for i in updated] == [("99000012", False), ("99000021", True)]


def test_a_claim_without_a_label_shows_its_id() -> None:
    row = _with_stances(_row("99000021", "update"), ("no-such-claim", "supports"))
    item = build_digest(_input([row])).action_needed[0]
    assert [(s.label, s.word) for s in item.for_article] == [("no-such-claim", "Supports")]


@pytest.mark.parametrize(
    ("finding", "line"),
    [
        (Finding("no-difference", True, (Outcome("VAS", "−1.2", "points", "6 months", "q"),
                                         Outcome("ODI", "3", "%", "6 months", "q"))),
         "No difference from control at 6 months (VAS −1.2 points; ODI 3 %)"),
        (Finding("favours-treatment", False, (Outcome("VAS", "41.6", "points", "12 months", "q"),
                                              Outcome("ODI", "22", "points", "24 months", "q"))),
         "Improved from baseline, no control group (VAS 41.6 points at 12 months; ODI 22 points at 24 months)"),
        (Finding("mixed", None, (), studies=16, patients=607), "Mixed results (16 studies, 607 patients)"),
        (Finding("safety-only", True, (Outcome("adverse events", "no", quote="q"),)),
         "Safety results only, vs control (no adverse events)"),
        (Finding("not-reported", False), "No results reported yet"),
        (None, ""),
    ],
)
def test_found_line_says_direction_numbers_and_vs_what(finding: Finding | None, line: str) -> None:
    assert found_line(finding) == line


def test_a_long_outcome_list_shows_three_and_counts_the_rest() -> None:
    outcomes = tuple(Outcome(m, "1", "", "6 months", "q") for m in ("VAS", "ODI", "NRS", "SF-36", "MRI grade"))
    assert found_line(Finding("favours-treatment", True, outcomes)) == (
        "Better than control at 6 months (VAS 1; ODI 1; NRS 1; +2 more)")


def test_a_statement_replaces_the_guessed_conclusion_and_says_so() -> None:
    row = _row("99000012", "update")
    assert row.assessment is not None
    statement = "We observed no procedure or stem cell-related adverse events."
    with_finding = dataclasses.replace(
        row, assessment=dataclasses.replace(row.assessment, finding=Finding("safety-only", False, (), statement)))
    item = build_digest(_input([with_finding])).action_needed[0]
    assert (item.conclusion_label, item.conclusion) == ("In its words", statement)
    plain = build_digest(_input([row])).action_needed[0]
    assert plain.conclusion_label == "Conclusion" and plain.conclusion.startswith("Among six patients")
    assert plain.found == "" and plain.finding is None and plain.stance == {}
