"""The replay server speaks NCBI's E-utilities for real: raw HTTP against it, no client of ours."""

from __future__ import annotations

import io
import json
import re
import threading
import tracemalloc
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from Bio import Entrez

from litwatch.pipeline.replay import Corpus, Faults, QuerySyntaxError, ReplayServer, serve
from tests.conftest import DOMAIN_RECORDS, eutils
from tests.pipeline.conftest import ReplayFactory

REAL_DOCTYPE = (
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)
ID = {"tool": "litwatch-test", "email": "dev@example.org"}


def _history(status: str, day: str) -> str:
    y, m, d = day.split("/")
    inner = f"<Year>{y}</Year><Month>{m}</Month><Day>{d}</Day>"
    return f'<PubMedPubDate PubStatus="{status}">{inner}</PubMedPubDate>'


def _article(pmid: int, title: str, abstract: str, *, mesh=(), major=(), pts=("Journal Article",),
             keywords=(), doi=None, created="2026/10/01", entered=None) -> str:  # fmt: skip
    heads = "".join(
        f'<MeshHeading><DescriptorName MajorTopicYN="{"Y" if m in major else "N"}">{m}</DescriptorName>'
        "</MeshHeading>"
        for m in mesh
    )
    pt = "".join(f"<PublicationType>{p}</PublicationType>" for p in pts)
    kw = "".join(f'<Keyword MajorTopicYN="N">{k}</Keyword>' for k in keywords)
    ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId>' + (
        f'<ArticleId IdType="doi">{doi}</ArticleId>' if doi else ""
    )
    cited = (
        '<ReferenceList><Reference><ArticleIdList><ArticleId IdType="doi">10.1000/cited</ArticleId>'
        "</ArticleIdList></Reference></ReferenceList>"
    )
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        f'<Article PubModel="Print"><ArticleTitle>{title}</ArticleTitle><Abstract><AbstractText>{abstract}'
        f"</AbstractText></Abstract><PublicationTypeList>{pt}</PublicationTypeList></Article>"
        f"<MeshHeadingList>{heads}</MeshHeadingList><KeywordList>{kw}</KeywordList></MedlineCitation>"
        f"<PubmedData><History>{_history('entrez', created)}{_history('pubmed', entered or created)}"
        "</History>"
        f"<ArticleIdList>{ids}</ArticleIdList>{cited}</PubmedData></PubmedArticle>"
    )


BOOK = (
    '<PubmedBookArticle><BookDocument><PMID Version="1">104</PMID>'
    "<Book><BookTitle>Back pain handbook</BookTitle>"
    "</Book><Abstract><AbstractText>Chronic low back pain overview.</AbstractText></Abstract></BookDocument>"
    f"<PubmedBookData><History>{_history('pubmed', '2025/12/31')}</History><ArticleIdList>"
    '<ArticleId IdType="doi">10.1000/book</ArticleId></ArticleIdList></PubmedBookData></PubmedBookArticle>'
)
SMALL = [
    _article(101, "Mesenchymal stem cells for intervertebral disc degeneration",
             "A randomized trial in humans. Low back pain improved.",
             mesh=("Intervertebral Disc Degeneration", "Mesenchymal Stem Cell Transplantation"),
             major=("Intervertebral Disc Degeneration",),
             pts=("Journal Article", "Randomized Controlled Trial"),
             keywords=("cell therapy",), doi="10.1000/A", created="2026/10/01", entered="2026/10/03"),
    _article(102, "Exosomes from nucleus pulposus cells",
             "Extracellular vesicles in a rat model of disc injury.",
             mesh=("Exosomes",), keywords=("stem-cell niche",), doi="10.1000/b", created="2026/10/15"),
    _article(103, "Gene therapy for spinal cord injury", "AAV vectors in mice.", pts=("Review",),
             created="2026/11/01"),
]  # fmt: skip


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    folder = tmp_path_factory.mktemp("small")
    body = "\n".join(SMALL + [BOOK, '<DeleteCitation><PMID Version="1">999</PMID></DeleteCitation>'])
    (folder / "a.xml").write_text(
        f'<?xml version="1.0" ?>\n{REAL_DOCTYPE.decode()}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n'
    )
    (folder / "notes.txt").write_text("not a corpus file")
    return Corpus.from_dir(folder)


# ---- the matcher -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("stem cell*", {101, 102}),
        ("stem cell*[ti]", {101}),
        ('"stem cell"[tiab]', {102}),  # keywords count as [tiab]; "stem-cell" is the phrase "stem cell"
        ('exosom*[tiab] OR "extracellular vesicle*"[tiab]', {102}),
        ("MESENCHYMAL[TIAB]", {101}),
        ("disc AND rat", {102}),
        ("disc OR spinal AND mice", {103}),  # PubMed: left to right, no precedence
        ("disc OR (spinal AND mice)", {101, 102, 103}),
        ("low back pain", {101, 104}),  # untagged words are ANDed
        ("low back pain NOT handbook", {101}),
        ("low back pain[tiab]", {101, 104}),  # tagged run = phrase
        ("back low pain[tiab]", set()),
        ("injury[ab]", {102}),
        ("injury[ti]", {103}),
        ('"Intervertebral Disc Degeneration"[mh]', {101}),
        ('"intervertebral disc"[MeSH Terms]', set()),  # whole descriptor names only
        ('"intervertebral disc*"[Mesh:NoExp]', {101}),
        ('"Intervertebral Disc Degeneration"[majr]', {101}),
        ('"Mesenchymal Stem Cell Transplantation"[majr]', set()),
        ('"Randomized Controlled Trial"[pt]', {101}),
        ("review[Publication Type]", {103}),
        ("randomized[all]", {101}),
        ('"cell therapy"[ot]', {101}),
        ('"10.1000/b"[doi]', {102}),
        ('"10.1000/a"[doi]', {101}),
        ("10.1000/book[aid]", {104}),
        ('"10.1000/cited"[doi]', set()),  # a reference's DOI is not the record's
        ("103[pmid]", {103}),
        ("103[uid] OR 101[uid]", {101, 103}),
        ('("2026/10/01"[CRDT] : "2026/10/15"[CRDT])', {101, 102}),
        ("2026/10/01:2026/10/14[crdt]", {101}),
        ("2026/10[crdt]", {101, 102}),
        ("2026[Create Date]", {101, 102, 103}),
        ('"2026/10/03"[edat]', {101}),
        ("2025/12/31[crdt]", {104}),  # a book with only a pubmed date
        ('cell* AND ("2026/10/02"[CRDT] : "2026/12"[CRDT])', {102}),
        ("rat 2026/10/10:2026/10/20[crdt]", {102}),  # a range binds its nearest word, the rest is ANDed
    ],
)
def test_matcher(small_corpus: Corpus, term: str, expected: set[int]) -> None:
    found = small_corpus.search(term)
    assert {int(p) for p in found} == expected
    assert found == sorted(found, key=int, reverse=True)  # newest PMID first


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("(disc AND rat", "unbalanced parentheses"),
        ("disc AND rat)", "unbalanced parentheses"),
        ("disc AND", "ends too early"),
        ("smith j[au]", r"does not implement the field tag \[au\]"),
        ('"2026"[tiab] : "2027"[tiab]', r"a range needs a \[crdt\] or \[edat\] tag"),
        ("2026/13/01[crdt]", "not a date"),
        ("", "empty term"),
        ("disc OR OR rat", r"cannot read the term 'disc OR OR rat' at position 9: OR without a search term after it"),
    ],
)
def test_matcher_refuses_what_it_cannot_answer_honestly(
    small_corpus: Corpus, term: str, message: str
) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        small_corpus.search(term)


def test_corpus_loading(small_corpus: Corpus, domain_corpus: Corpus) -> None:
    assert list(small_corpus.pmids) == ["101", "102", "103", "104"]  # DeleteCitation is not a record
    assert small_corpus.created("104") == date(2025, 12, 31) and small_corpus.entered(101) == date(
        2026, 10, 3
    )
    assert "999" not in small_corpus and "101" in small_corpus
    source = DOMAIN_RECORDS.read_bytes()
    assert len(domain_corpus) == 55 and domain_corpus.doctype == REAL_DOCTYPE
    assert all(domain_corpus.record_xml(p) in source for p in domain_corpus.pmids)  # byte for byte
    created = [domain_corpus.created(p) for p in domain_corpus.pmids]
    assert min(created) >= date(2026, 9, 25) and max(created) <= date(2026, 11, 20)
    with pytest.raises(KeyError, match="PMID 1 is not in the corpus"):
        domain_corpus.record_xml("1")


def test_mindate_maxdate(small_corpus: Corpus) -> None:
    assert small_corpus.search("cell*", datetype="crdt", mindate="2026/10/02", maxdate="2026/12") == ["102"]
    assert small_corpus.search("pain", datetype="edat", mindate="2026/10/03", maxdate="2026/10/03") == ["101"]
    with pytest.raises(QuerySyntaxError, match="datetype 'pdat' is not implemented"):
        small_corpus.search("pain", datetype="pdat", mindate="2026")


# ---- esearch over HTTP -------------------------------------------------------------------------------------
def test_esearch_json_is_shaped_like_ncbi(replay_factory: ReplayFactory, small_corpus: Corpus) -> None:
    server = replay_factory(small_corpus, rate_limit=None)
    params = {"db": "pubmed", "term": "cell*", "retmode": "json", "usehistory": "y", "retmax": "1", **ID}
    answer = requests.get(server.base_url + "esearch.fcgi", params=params, timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    data = answer.json()
    assert data["header"] == {"type": "esearch", "version": "0.3"}
    result = data["esearchresult"]
    assert list(result) == [
        "count", "retmax", "retstart", "webenv", "querykey", "idlist", "translationset", "querytranslation"
    ]  # fmt: skip
    assert (result["count"], result["retmax"], result["retstart"], result["idlist"]) == (
        "2",
        "1",
        "0",
        ["102"],
    )
    assert result["webenv"].startswith("MCID_") and result["querykey"] == "1"


def test_esearch_xml_parses_with_biopython_and_matches_ncbis_phrase_not_found(
    replay_factory: ReplayFactory, small_corpus: Corpus
) -> None:
    server = replay_factory(small_corpus, rate_limit=None)
    server.faults.inject("esearch", "phrase_not_found:abcXYZ")
    answer = requests.post(
        server.base_url + "esearch.fcgi", data={"db": "pubmed", "term": "abcXYZ", **ID}, timeout=5
    )
    ours = ElementTree.fromstring(answer.content)
    real = ElementTree.fromstring(eutils("biopython__esearch8.xml").read_bytes())
    for path in ("Count", "ErrorList/PhraseNotFound", "WarningList/OutputMessage"):
        assert ours.findtext(path) == real.findtext(path), path
    record = Entrez.read(io.BytesIO(answer.content))  # validates against the DTD in the DOCTYPE
    assert record["ErrorList"]["PhraseNotFound"] == ["abcXYZ"]


def test_esearch_unknown_field_and_errors(replay_factory: ReplayFactory, small_corpus: Corpus) -> None:
    server = replay_factory(small_corpus, rate_limit=None)
    url = server.base_url + "esearch.fcgi"

    def esearch(**params: str) -> requests.Response:
        return requests.post(url, data={"db": "pubmed", "retmode": "json", **ID, **params}, timeout=5)

    data = esearch(term="disc[xyz]").json()["esearchresult"]
    assert data["errorlist"] == {"phrasesnotfound": [], "fieldsnotfound": ["xyz"]} and data["count"] == "2"
    assert esearch(term="zebrafish").json()["esearchresult"]["warninglist"]["outputmessages"] == [
        "No items found."
    ]
    assert esearch(term="x", db="fleegle").json() == {
        "header": {"type": "esearch", "version": "0.3"},
        "esearchresult": {"ERROR": "Invalid db name specified: fleegle"},
    }
    assert esearch(term="").json()["esearchresult"]["ERROR"] == "Empty term and query_key - nothing todo"
    bad = esearch(term="smith j[au]")
    assert bad.status_code == 400 and "does not implement the field tag [au]" in bad.text


def test_esearch_respects_pubmeds_9999_cap(replay_factory: ReplayFactory, small_corpus: Corpus) -> None:
    big = Corpus.replicated(small_corpus, 12_000, 50_000_000, date(2024, 1, 1), date(2024, 12, 31))
    server = replay_factory(big, rate_limit=None)

    def esearch(retstart: int, retmax: int) -> dict:
        params = {"db": "pubmed", "term": "2024[crdt]", "retmode": "json", "retstart": str(retstart),
                  "retmax": str(retmax), **ID}  # fmt: skip
        return requests.post(server.base_url + "esearch.fcgi", data=params, timeout=10).json()[
            "esearchresult"
        ]

    assert (esearch(0, 100_000)["count"], len(esearch(0, 100_000)["idlist"])) == ("12000", 9999)
    assert len(esearch(9990, 100)["idlist"]) == 9
    assert "'retstart' cannot be larger than 9998" in esearch(9999, 10)["ERROR"]


# ---- efetch over HTTP --------------------------------------------------------------------------------------
def test_efetch_serves_source_bytes_under_the_real_doctype_by_get_and_post(
    replay_factory: ReplayFactory, domain_corpus: Corpus
) -> None:
    server = replay_factory(rate_limit=None)
    wanted = [*domain_corpus.pmids[:3], "1", domain_corpus.pmids[-1]]  # "1" is not in the corpus
    params = {"db": "pubmed", "id": ",".join(wanted), "retmode": "xml", **ID}
    got = requests.get(server.base_url + "efetch.fcgi", params=params, timeout=5)
    posted = requests.post(server.base_url + "efetch.fcgi", data=params, timeout=5)
    assert got.content == posted.content
    body = got.content
    assert body.split(b"\n")[1] == REAL_DOCTYPE and body.rstrip().endswith(b"</PubmedArticleSet>")
    known = [p for p in wanted if p != "1"]
    assert all(domain_corpus.record_xml(p) in body for p in known)
    records = Entrez.read(io.BytesIO(body))  # Biopython's validating parser, DTD from the DOCTYPE
    assert [str(a["MedlineCitation"]["PMID"]) for a in records["PubmedArticle"]] == known
    assert server.stats.post_count == 1 and server.stats.requests["efetch"] == 2
    assert server.stats.bytes_sent == 2 * len(body)


def test_efetch_by_history_pages_through_the_search(
    replay_factory: ReplayFactory, domain_corpus: Corpus
) -> None:
    server = replay_factory(rate_limit=None)
    found = requests.post(
        server.base_url + "esearch.fcgi",
        data={
            "db": "pubmed",
            "term": "stem cell*",
            "usehistory": "y",
            "retmode": "json",
            "retmax": "0",
            **ID,
        },
        timeout=5,
    ).json()["esearchresult"]
    pmids: list[str] = []
    for retstart in range(0, int(found["count"]), 10):
        page = requests.post(
            server.base_url + "efetch.fcgi",
            data={"db": "pubmed", "WebEnv": found["webenv"], "query_key": found["querykey"],
                  "retstart": str(retstart), "retmax": "10", "retmode": "xml", **ID},
            timeout=5,
        ).content  # fmt: skip
        pmids += [m.decode() for m in re.findall(rb"<PMID Version=\"1\">(\d+)</PMID>\s*<Article\b", page)]
    assert pmids == domain_corpus.search("stem cell*")
    unknown = requests.post(
        server.base_url + "efetch.fcgi",
        data={"db": "pubmed", "WebEnv": "MCID_nope", "query_key": "1", **ID},
        timeout=5,
    )
    assert b"<ERROR>Unable to obtain query #1</ERROR>" in unknown.content


def test_unknown_paths_are_404(replay: ReplayServer) -> None:
    assert requests.get(replay.base_url + "esummary.fcgi", timeout=5).status_code == 404
    assert requests.get(replay.base_url.replace("/entrez/eutils/", "/"), timeout=5).status_code == 404


# ---- rate limit and faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("api_key", "limit"), [(None, 3), ("some-key", 10)])
def test_requests_over_ncbis_rate_get_429_with_ncbis_body(
    replay: ReplayServer, api_key: str | None, limit: int
) -> None:
    params = {
        "db": "pubmed",
        "term": "disc",
        "retmode": "json",
        **ID,
        **({"api_key": api_key} if api_key else {}),
    }
    answers = [
        requests.post(replay.base_url + "esearch.fcgi", data=params, timeout=5) for _ in range(limit + 2)
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[:limit] == [200] * limit  # a burst this short fits in one second on any machine
    assert 429 in statuses[limit:] and replay.stats.rate_violations == statuses.count(429)
    body = next(a for a in answers if a.status_code == 429).json()
    assert body["error"] == "API rate limit exceeded" and body["limit"] == str(limit)
    assert body["api-key"] == (api_key or "127.0.0.1") and int(body["count"]) > limit


def test_fault_script_after_and_times() -> None:
    faults = Faults()
    faults.inject("efetch", "503", times=2, after=1)
    faults.inject("any", "drop:5", times=None)
    faults.inject("esearch", "phrase_not_found:x")
    faults.inject("efetch", "webenv_expired")
    assert faults.take("esearch") == ["phrase_not_found:x"]
    assert faults.take("efetch") == ["drop:5"]  # let through once
    assert faults.take("efetch") == ["503", "drop:5"]
    assert faults.take("efetch", history=True) == ["503", "drop:5"]  # one disruptive fault per request
    assert faults.take("efetch", history=True) == ["drop:5", "webenv_expired"]
    assert faults.take("efetch", history=True) == ["drop:5"]
    assert faults.take("esearch") == []
    faults.clear()
    assert faults.take("efetch") == []


@pytest.mark.parametrize(
    ("endpoint", "kind", "message"),
    [
        ("efetch", "teapot", "unknown fault kind"),
        ("esummary", "503", "unknown endpoint"),
        ("any", "slow:x", "float"),
    ],
)
def test_fault_kinds_are_checked_when_injected(endpoint: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults().inject(endpoint, kind)


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        ("503", 503, lambda body: b"503" in body),
        ("429:7", 429, lambda body: json.loads(body)["error"] == "API rate limit exceeded"),
        ("error200", 200, lambda body: b"<ERROR>Search Backend failed" in body),
        ("empty", 200, lambda body: body == b""),
        ("html", 200, lambda body: body.startswith(b"<!DOCTYPE html>")),
        ("truncate", 200, lambda body: body.startswith(b"<?xml") and b"</PubmedArticleSet>" not in body),
        ("drop:99000001", 200, lambda body: b"99000002" in body and b">99000001<" not in body),
    ],
)
def test_faults_as_seen_on_the_wire(replay_factory: ReplayFactory, kind: str, status: int, check) -> None:
    server = replay_factory(rate_limit=None)
    server.faults.inject("efetch", kind)
    answer = requests.post(
        server.base_url + "efetch.fcgi", data={"db": "pubmed", "id": "99000001,99000002", **ID}, timeout=5
    )
    assert answer.status_code == status and check(answer.content)
    if kind == "429:7":
        assert answer.headers["Retry-After"] == "7"


def test_reset_closes_the_connection_without_an_answer(replay_factory: ReplayFactory) -> None:
    server = replay_factory(rate_limit=None)
    server.faults.inject("esearch", "reset")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            server.base_url + "esearch.fcgi", data={"db": "pubmed", "term": "disc", **ID}, timeout=5
        )
    assert (
        requests.post(server.base_url + "esearch.fcgi", data={"term": "disc"}, timeout=5).status_code == 200
    )


# ---- replicated corpora ------------------------------------------------------------------------------------
def test_replicated_corpus_is_lazy_and_consistent(domain_corpus: Corpus) -> None:
    tracemalloc.start()
    big = Corpus.replicated(domain_corpus, 50_000, 60_000_000, date(2025, 1, 1), date(2025, 12, 31))
    in_march = big.search('("2025/03/01"[CRDT] : "2025/03/31"[CRDT])')
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(big) == 50_000 and big.pmids[0] == "60000000" and big.pmids[-1] == "60049999"
    assert 3000 < len(in_march) < 5000 and peak < 8_000_000  # ids of one month, never 50,000 records
    assert all(date(2025, 3, 1) <= big.created(p) <= date(2025, 3, 31) for p in in_march[::97])
    record = big.record_xml(60_012_345)
    base = domain_corpus.record_xml(domain_corpus.pmids[12_345 % 55])
    assert (
        b'<PMID Version="1">60012345</PMID>' in record and b'<ArticleId IdType="pubmed">60012345<' in record
    )
    created = big.created(60_012_345)
    stamp = f"<Year>{created.year}</Year><Month>{created.month}</Month><Day>{created.day}</Day>".encode()
    assert f'<PubMedPubDate PubStatus="entrez">{stamp.decode()}'.encode() in record
    assert len(record) - len(base) < 40  # same record otherwise
    assert big.search("60012345[pmid]") == ["60012345"]


# ---- serve -------------------------------------------------------------------------------------------------
def test_serve_runs_in_the_foreground_until_stopped(tmp_path: Path) -> None:
    (tmp_path / "records.xml").write_bytes(DOMAIN_RECORDS.read_bytes())
    started: list[ReplayServer] = []
    ready = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(tmp_path, 0),
        kwargs={"ready": lambda s: (started.append(s), ready.set())},
        daemon=True,
    )
    thread.start()
    assert ready.wait(10)
    server = started[0]
    answer = requests.post(
        server.base_url + "esearch.fcgi", data={"term": "disc", "retmode": "json", **ID}, timeout=5
    )
    assert int(answer.json()["esearchresult"]["count"]) > 0
    server.stop()
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(FileNotFoundError, match="no \\*.xml files"):
        serve(tmp_path / "missing", 0)
