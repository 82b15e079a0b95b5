"""Search hygiene (issue 16): what valid PubMed syntax still gets wrong, and how `litwatch check` reports it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.pipeline.search_hygiene import ERROR, WARNING, Finding, article_findings, term_findings
from litwatch.pipeline.watchlist import load_watchlist
from tests.conftest import REPO
from tests.test_operations import write_config


@pytest.mark.parametrize(("term", "expected"), [
    ('"stem* cell"[tiab] AND disc[tiab]',
     [Finding(ERROR, "\"stem* cell\"[tiab]: '*' inside a phrase ('stem*') is not expanded by PubMed — only the "
                     "last word of a phrase may be truncated")]),
    ('"mesenchymal stem cell*"[tiab]', []),
    ("stem cell*[tiab]", [Finding(WARNING, 'stem cell*[tiab]: put a truncated phrase in quotes ("stem cell*"[tiab]) '
                                           "so PubMed searches it as one phrase")]),
    ('("stem cell*"[tiab] OR "MSC"[tiab] OR "stem-cell*"[Title/Abstract]) AND ("disc"[tiab] OR "msc"[tiab])',
     [Finding(WARNING, '"stem cell*"[tiab] appears 2 times in the same OR-block'),
      Finding(WARNING, '"MSC"[tiab] appears 2 times in OR-blocks 1 and 2')]),
    ('"Exosomes"[mh] OR "exosomes"[tiab]', []),  # another field is another term
    ('("stem cell*"[tiab]) AND ("2026/01/01"[crdt] : "2026/02/01"[crdt])', []),
])
def test_term_findings(term: str, expected: list[Finding]) -> None:
    assert term_findings(term) == expected


def test_short_truncation_is_an_error_even_without_the_validator() -> None:
    (finding,) = term_findings('"cel*"[tiab]')
    assert finding.severity == ERROR and "at least 4 characters before '*' ('cel*')" in finding.message


def test_the_bundled_searches_are_clean() -> None:
    for article in load_watchlist(REPO / "queries"):
        assert article_findings(article) == [], article.slug


def _queries(tmp_path: Path) -> Path:
    target = tmp_path / "queries"
    shutil.copytree(REPO / "queries" / "stem-cell-lbp", target / "stem-cell-lbp")
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_intervention_no_search_names_is_a_warning(tmp_path: Path) -> None:
    queries = _queries(tmp_path)
    (queries / "stem-cell-lbp" / "gene-therapy.toml").unlink()
    (article,) = load_watchlist(queries)
    (finding,) = article_findings(article)
    assert finding == Finding(WARNING, "queries/stem-cell-lbp/article.toml: [topic] intervention 'gene-therapy' "
                                       f"({article.topic.intervention('gene-therapy').label}) is named by no saved "
                                       "search: none of gene therap*, genetic therap*, gene transfer, gene "
                                       "transduction, … appears in a search term")


def _check(tmp_path: Path, queries: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", f"sqlite:///{tmp_path / 'x.sqlite'}",
                          queries)
    code = cli.main(["--config", str(config), "check"])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_warnings_and_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = _queries(tmp_path)
    _edit(queries / "stem-cell-lbp" / "exosomes.toml", 'OR "sEVs"[tiab]', 'OR "sEVs"[tiab] OR "exosom*"[tiab]')
    code, out, err = _check(tmp_path, queries, capsys)
    assert (code, err) == (0, "")
    assert ('warning: queries/stem-cell-lbp/exosomes.toml: "exosom*"[tiab] appears 2 times in the same OR-block'
            in out.splitlines())


def test_check_fails_on_a_term_pubmed_would_search_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    queries = _queries(tmp_path)
    _edit(queries / "stem-cell-lbp" / "exosomes.toml", '"extracellular vesicle*"[tiab]',
          '"extracellular* vesicle"[tiab]')
    code, _out, err = _check(tmp_path, queries, capsys)
    assert code == 2
    assert err == ("litwatch: error: queries/stem-cell-lbp/exosomes.toml: \"extracellular* vesicle\"[tiab]: '*' "
                   "inside a phrase ('extracellular*') is not expanded by PubMed — only the last word of a phrase "
                   "may be truncated\n")
