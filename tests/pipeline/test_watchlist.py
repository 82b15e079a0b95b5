"""The watch list: the real queries/ folder loads, every broken file is a one-line QueryError naming it,
PubMed term syntax is validated, and the saved searches find the domain records a writer cares about."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from litwatch.pipeline.errors import QueryError
from litwatch.pipeline.pubmed import parse_efetch
from litwatch.pipeline.watchlist import WatchedArticle, load_article, load_watchlist, validate_term
from tests.conftest import DOMAIN_LABELS, DOMAIN_RECORDS

QUERIES = Path(__file__).resolve().parents[2] / "queries"
KNEE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "knee-oa"


def _article(slug: str) -> WatchedArticle:
    return next(a for a in load_watchlist(QUERIES) if a.slug == slug)


# --- the real watch list ------------------------------------------------------------------------------------

def test_real_watchlist_loads() -> None:
    articles = load_watchlist(QUERIES)
    assert [a.slug for a in articles] == ["knee-oa", "stem-cell-lbp"]
    article = articles[1]
    assert {q.id for q in article.queries} == {"stem-cells", "exosomes", "gene-therapy"}
    claims = {c.id: c for c in article.claims}
    assert claims["meta-analysis"].label == "clinical evidence — meta-analysis paragraph"
    assert "245 patients" in claims["meta-analysis"].text
    cited = {s.id: s for s in article.cited}
    assert cited["dream-2025"].doi == "10.1002/jsp2.70086"
    assert cited["dream-2025"].trial_names == ("DREAM",)
    assert cited["dream-2025"].article_says == {"journal": "Pain Medicine", "year": 2025}
    assert cited["zhang-2023"].doi == "10.3389/fbioe.2023.1155357"
    for query in article.queries:
        assert query.claims and set(query.claims) <= set(claims)
        assert "\n" not in query.term
    assert load_article(QUERIES / "stem-cell-lbp" / "article.toml") == article


@pytest.mark.parametrize("name", ["stem-cells", "exosomes", "gene-therapy"])
def test_real_terms_are_valid_pubmed(name: str) -> None:
    article = _article("stem-cell-lbp")
    term = next(q.term for q in article.queries if q.id == name)
    validate_term(term)
    validate_term(f'({term}) AND ("2026/09/01"[CRDT] : "2026/11/20"[CRDT])')  # what the runner sends


# --- term syntax --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("term", [
    "stem cells",
    '"stem cell*"[tiab] AND disc',
    '("Intervertebral Disc Degeneration"[mh] OR discogenic[tiab]) NOT "Animals"[mh:noexp]',
    '"2020/01/01"[CRDT] : "2020/12/31"[CRDT]',
    '"disc degeneration exosomes"[tiab:~3]',
    'Vadalà G[au] AND 10.1002/jsp2.70086[doi]',
    '"Chondrocytes/transplantation"[MeSH Terms] OR review[Publication Type]',
    "((a OR b) AND (c OR d))",
])
def test_valid_terms(term: str) -> None:
    validate_term(term)


@pytest.mark.parametrize(("term", "message"), [
    ('("stem cells"[tiab] OR msc', r"position 1: unbalanced parenthesis: '\(' never closed"),
    ('"stem cells"[tiab])', r"position 19: unbalanced parenthesis: '\)' without '\('"),
    ('"stem cells[tiab] OR disc', r"position 1: unbalanced quote"),
    ('"stem cells"[tiabx]', r"position 13: unknown field tag \[tiabx\]"),
    ("disc AND ()", r"position 10: empty group '\(\)'"),
    ("AND disc", r"position 1: AND without a search term before it"),
    ("disc OR", r"position 8: OR without a search term after it"),
    ("disc OR OR msc", r"position 9: OR without a search term after it"),
    ('"MSC*"[tiab]', r"position 5: truncation needs at least 4 characters before '\*'"),
    ("ste*m", r"position 4: '\*' is only allowed at the end of a word"),
    ("disc and msc", r"position 6: Boolean operator 'and' must be upper case"),
    ("[tiab]", r"position 1: field tag without a search term before it"),
    ('disc[tiab', r"position 5: unbalanced bracket"),
    ("", r"position 1: empty search term"),
    ('"2020/01/01"[CRDT] :', r"position 20: range ':' without an end term"),
])
def test_invalid_terms(term: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        validate_term(term)


# --- broken files -------------------------------------------------------------------------------------------

def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "queries"
    shutil.copytree(QUERIES, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


EXO = "stem-cell-lbp/exosomes.toml"
ART = "stem-cell-lbp/article.toml"


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    (EXO, "term = '''", "termx = '''", r"^queries/stem-cell-lbp/exosomes.toml: unknown key 'termx'"),
    (EXO, "term = '''", "# term = '''\nx = '''", r"unknown key 'x'"),
    (EXO, 'claims = ["future-therapies"]', 'claims = "future-therapies"',
     r"^queries/stem-cell-lbp/exosomes.toml: key 'claims' must be a list of strings$"),
    (EXO, 'claims = ["future-therapies"]', 'claims = ["nope"]',
     r"^queries/stem-cell-lbp/exosomes.toml: key 'claims' names unknown claim 'nope'$"),
    (EXO, 'claims = ["future-therapies"]', "claims = []", r"key 'claims' must name at least one claim"),
    (EXO, 'id = "exosomes"', 'id = "stem-cells"',
     r"^queries/stem-cell-lbp/stem-cells.toml: duplicate query id 'stem-cells' "
     r"\(also in queries/stem-cell-lbp/exosomes.toml\)$"),
    (EXO, 'id = "exosomes"', 'id = "Exo somes"', r"key 'id' must be lowercase letters"),
    (EXO, "(\n  \"Exosomes\"[mh]", "((\n  \"Exosomes\"[mh]",
     r"^queries/stem-cell-lbp/exosomes.toml:6:1: unbalanced parenthesis: '\(' never closed$"),
    # issue 15: the place in the file (line:column), not an offset in the whitespace-collapsed term
    (EXO, 'OR "nanovesicle*"[tiab]', 'OR "nanovesicle*"[tiabx]',
     r"^queries/stem-cell-lbp/exosomes.toml:9:20: unknown field tag \[tiabx\]$"),
    (EXO, 'OR "conditioned media"[tiab]', 'OR "conditioned media"[tiab] or',
     r"^queries/stem-cell-lbp/exosomes.toml:10:62: Boolean operator 'or' must be upper case$"),
    # the topic (issue 11): unknown keys, empty word lists, duplicate ids, undeclared groups, bad phrases
    (ART, 'outcome_scales = ', 'outcome_scale = ',
     r"^queries/stem-cell-lbp/article.toml: topic: unknown key 'outcome_scale'"),
    (ART, 'phrase = "gene therapy"', 'phrases = "gene therapy"',
     r"^queries/stem-cell-lbp/article.toml: topic: interventions\[2\]: unknown key 'phrases'"),
    (ART, 'animal_models = ["tail disc"]', 'animal_models = []',
     r"^queries/stem-cell-lbp/article.toml: topic: key 'animal_models' is an empty list"),
    (ART, 'chronic = ["chronic", "clbp", "dlbp"]', 'chronic = []',
     r"^queries/stem-cell-lbp/article.toml: topic.word_groups: key 'chronic' is an empty list"),
    (ART, 'id = "gene-therapy"\nlabel', 'id = "exosomes"\nlabel',
     r"^queries/stem-cell-lbp/article.toml: topic: duplicate intervention id 'exosomes'$"),
    (ART, 'id = "disc-degeneration"', 'id = "discogenic-lbp"',
     r"^queries/stem-cell-lbp/article.toml: topic: duplicate condition id 'discogenic-lbp'$"),
    (ART, 'together = [["disc"]]', 'together = [["disk"]]',
     r"topic: conditions\[1\]: key 'together' names word group 'disk', which \[topic.word_groups\] does not "
     r"declare \(declared: back-pain, disc, chronic\)$"),
    (ART, 'animal_models = ["tail disc"]', 'animal_models = ["tail disc ..."]',
     r"topic: key 'animal_models': bad phrase 'tail disc \.\.\.'"),
    (ART, "case_sensitive = ['si[A-Z]", "case_sensitive = ['(si[A-Z]",
     r"topic: interventions\[2\]: key 'case_sensitive': bad regular expression"),
    (ART, 'id = "disc-degeneration"', 'id = "off-topic"', r"topic: condition id 'off-topic' is reserved"),
    (ART, 'last_updated = "2025-10"', 'last_updated = "2025-10"\nevidence_current_to = "Sept 2023"',
     r"key 'evidence_current_to' must be a date YYYY-MM-DD, got 'Sept 2023'"),
    (EXO, 'label = "', 'label = 3 # "',
     r"^queries/stem-cell-lbp/exosomes.toml: key 'label' must be a non-empty"),
    (EXO, 'id = "exosomes"', 'id = "exosomes"\nenabled = "yes"', r"key 'enabled' must be true or false"),
    (EXO, 'id = "exosomes"', 'id = "exosomes',
     r"^queries/stem-cell-lbp/exosomes.toml: invalid TOML: .*\(at line 2, column 15\)$"),
    (ART, 'slug = "stem-cell-lbp"', 'slug = "other"',
     r"slug 'other' does not match its folder 'stem-cell-lbp'"),
    (ART, 'interventions = ["exosomes", "gene-therapy"]', 'interventions = ["exosome"]',
     r"^queries/stem-cell-lbp/article.toml: claims\[7\]: key 'interventions' names 'exosome', "
     r"which \[topic\] does not declare \(declared: stem-cells, exosomes, gene-therapy\)"),
    (ART, 'cites = ["zhang-2023"]', 'cites = ["zhang-2024"]',
     r"^queries/stem-cell-lbp/article.toml: claims\[1\]: key 'cites' names unknown study 'zhang-2024'$"),
    (ART, 'watch_for = ["regulatory"]', 'watch_for = ["rumours"]', r"unknown evidence kind 'rumours'"),
    (ART, 'doi = "10.1002/jsp2.70086"', 'doi = "10.1002/jsp2.70086"\npmid = "PMC123"',
     r"studies\[1\]: key 'pmid' must be digits, got 'PMC123'"),
    (ART, 'year = 2025\n', 'year = "2025"\n', r"studies\[1\]: key 'year' must be an integer"),
    (ART, 'id = "zhang-2023"\nlabel', 'id = "dream-2025"\nlabel', r"duplicate study id 'dream-2025'"),
    (ART, 'title = "Stem Cell', 'titel = "Stem Cell',
     r"^queries/stem-cell-lbp/article.toml: unknown key 'titel'"),
])
def test_broken_files(tmp_path: Path, file: str, old: str, new: str, message: str) -> None:
    queries = _copy(tmp_path)
    _edit(queries / file, old, new)
    with pytest.raises(QueryError, match=message):
        load_watchlist(queries)


def test_missing_key_term(tmp_path: Path) -> None:
    queries = _copy(tmp_path)
    path = queries / EXO
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("term = '''")], encoding="utf-8")
    with pytest.raises(QueryError, match=r"^queries/stem-cell-lbp/exosomes.toml: missing key 'term'$"):
        load_watchlist(queries)


def test_missing_article_and_empty_folders(tmp_path: Path) -> None:
    queries = _copy(tmp_path)
    (queries / ART).unlink()
    with pytest.raises(QueryError, match=r"^queries/stem-cell-lbp: missing article.toml$"):
        load_watchlist(queries)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(QueryError, match="no article folders"):
        load_watchlist(empty)
    with pytest.raises(QueryError, match="not a directory"):
        load_watchlist(tmp_path / "nowhere")


def test_folder_without_searches(tmp_path: Path) -> None:
    queries = _copy(tmp_path)
    for name in ("stem-cells", "exosomes", "gene-therapy"):
        (queries / "stem-cell-lbp" / f"{name}.toml").unlink()
    with pytest.raises(QueryError, match=r"^queries/stem-cell-lbp: no saved searches"):
        load_watchlist(queries)


def test_duplicate_query_id_across_articles(tmp_path: Path) -> None:
    queries = _copy(tmp_path)
    shutil.copytree(queries / "stem-cell-lbp", queries / "second")
    _edit(queries / "second" / "article.toml", 'slug = "stem-cell-lbp"', 'slug = "second"')
    expected = (r"^queries/stem-cell-lbp/exosomes.toml: duplicate query id 'exosomes' "
                r"\(also in queries/second/exosomes.toml\)$")
    with pytest.raises(QueryError, match=expected):
        load_watchlist(queries)


# --- coverage: do the saved searches find what a writer cares about? ----------------------------------------
# A small matcher of our own, close to PubMed for what our terms use: [tiab] phrases (with end truncation)
# over title + abstract, [mh] over MeSH descriptors, AND/OR/NOT and parentheses. The replay server has its
# own, simpler matcher; the end-to-end tests cover what it returns.

_TOKEN = re.compile(r'"([^"]+)"\[([^\]]+)\]|\(|\)|\bAND\b|\bOR\b|\bNOT\b')


def _phrase(phrase: str) -> re.Pattern[str]:
    words = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w)
             for w in re.split(r"[\s-]+", phrase)]
    return re.compile(r"(?<!\w)" + r"[\s-]+".join(words) + r"(?!\w)", re.IGNORECASE)


def _matches(term: str, text: str, mesh: set[str]) -> bool:
    parts = []
    for match in _TOKEN.finditer(term):
        token = match.group(0)
        if match.group(1):
            phrase, tag = match.group(1), match.group(2).lower()
            if tag.startswith("mh"):
                hit = phrase.split("/")[0].lower() in mesh
            else:
                hit = bool(_phrase(phrase).search(text))
            parts.append(str(hit))
        else:
            parts.append({"AND": "and", "OR": "or", "NOT": "and not"}.get(token, token))
    return bool(eval(" ".join(parts)))  # noqa: S307 - built only from True/False/and/or/not/parentheses


def test_searches_find_every_record_a_writer_cares_about() -> None:
    article = _article("stem-cell-lbp")
    records = parse_efetch(DOMAIN_RECORDS.read_bytes(), "domain").articles
    labels = {row["pmid"]: row for row in map(json.loads, DOMAIN_LABELS.read_text().splitlines())}
    found_by: dict[str, set[str]] = {}
    for record in records:
        text = f"{record.title}\n{record.abstract_text}"
        mesh = {m.descriptor.lower() for m in record.mesh}
        found_by[record.pmid] = {q.id for q in article.queries if _matches(q.term, text, mesh)}
    wanted = [pmid for pmid, row in labels.items() if row["verdict"] in ("update", "review", "cited")]
    missed = [f"{pmid} {labels[pmid]['title'][:60]}" for pmid in wanted if not found_by.get(pmid)]
    assert not missed
    for query in article.queries:  # each search earns its place
        assert any(query.id in ids for ids in found_by.values()), query.id
    assert found_by["99000022"] >= {"stem-cells"}  # DREAM
    assert "exosomes" in found_by["99000119"] and "gene-therapy" in found_by["99000017"]


def test_knee_oa_searches_find_every_record_a_writer_cares_about() -> None:
    article = _article("knee-oa")
    for query in article.queries:
        validate_term(f'({query.term}) AND ("2026/09/01"[CRDT] : "2026/11/20"[CRDT])')
    records = parse_efetch((KNEE_FIXTURES / "records.xml").read_bytes(), "knee").articles
    labels = {row["pmid"]: row for row in map(json.loads, (KNEE_FIXTURES / "labels.jsonl").read_text().splitlines())}
    found_by = {r.pmid: {q.id for q in article.queries
                         if _matches(q.term, f"{r.title}\n{r.abstract_text}", {m.descriptor.lower() for m in r.mesh})}
                for r in records}
    wanted = [pmid for pmid, row in labels.items() if row["verdict"] in ("update", "review", "cited")]
    assert not [pmid for pmid in wanted if not found_by.get(pmid)]
    for query in article.queries:  # each search earns its place
        assert any(query.id in ids for ids in found_by.values()), query.id
    assert "knee-oa-orthobiologics" in found_by["34833411"]  # BMAC vs PRP vs HA: no "stem cell" in its title


def test_matcher_is_not_vacuous() -> None:
    term = '("stem cell*"[tiab]) AND ("disc degeneration"[tiab])'
    assert _matches(term, "Stem-cells for disc degeneration", set())
    assert not _matches(term, "Stem cells for asthma", set())
    assert _matches('"Exosomes"[mh] NOT "rats"[tiab]', "x", {"exosomes"})


# --- known.toml (issue 16): the papers the searches must find -----------------------------------------------

def test_known_toml_loads_and_is_not_a_saved_search(tmp_path: Path) -> None:
    queries = _copy(tmp_path)
    (queries / "stem-cell-lbp" / "known.toml").write_text(
        '[[papers]]\npmid = 25054402\nnote = "Pang 2014"\n\n[[papers]]\ndoi = "10.14444/7033"\n', encoding="utf-8")
    article = next(a for a in load_watchlist(queries) if a.slug == "stem-cell-lbp")
    assert [q.id for q in article.queries] == ["exosomes", "gene-therapy", "stem-cells"]
    assert [(p.pmid, p.doi, p.note) for p in article.known] == [("25054402", None, "Pang 2014"),
                                                               (None, "10.14444/7033", "")]
    (queries / "stem-cell-lbp" / "known.toml").unlink()
    assert next(a for a in load_watchlist(queries) if a.slug == "stem-cell-lbp").known == ()


def test_the_bundled_articles_list_known_papers() -> None:
    assert all(article.known for article in load_watchlist(QUERIES))


@pytest.mark.parametrize(("text", "message"), [
    ('[[papers]]\nnote = "x"\n', r"known.toml: papers\[0\]: needs 'pmid' or 'doi'"),
    ('[[papers]]\npmid = "PMID 1"\n', r"known.toml: papers\[0\]: key 'pmid' must be digits, got 'PMID 1'$"),
    ('[[papers]]\ndoi = "doi:10.1/x"\n', r"known.toml: papers\[0\]: key 'doi' must look like 10.xxxx/yyyy"),
    ('[[papers]]\npmid = "1"\nurl = "x"\n', r"known.toml: papers\[0\]: unknown key 'url'"),
    ('[[papers]]\npmid = "1"\n[[papers]]\npmid = "1"\n',
     r"known.toml: papers\[1\]: pmid 1 is already listed in papers\[0\]$"),
    ('[[papers]]\ndoi = "10.1/X"\n[[papers]]\ndoi = "10.1/x"\n',
     r"known.toml: papers\[1\]: doi 10.1/x is already listed in papers\[0\]$"),
    ("papers = 3\n", r"known.toml: key 'papers' must be an array of tables"),
    ("", r"known.toml: missing key 'papers'"),
    ("[[papers]\n", r"known.toml: invalid TOML"),
])
def test_known_toml_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    queries = _copy(tmp_path)
    (queries / "stem-cell-lbp" / "known.toml").write_text(text, encoding="utf-8")
    with pytest.raises(QueryError, match=r"^queries/stem-cell-lbp/" + message):
        load_watchlist(queries)
