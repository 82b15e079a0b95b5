"""`litwatch searches test` (issue 16) against the replay server: which known papers each saved search finds, the
per-search and union sensitivity, the misses named, batching for 300 known papers, exit codes and --json."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.pipeline.replay import Corpus, ReplayServer
from litwatch.pipeline.replay.matching import compile_term
from litwatch.pipeline.search_test import MAX_IDS_PER_REQUEST, MAX_TERM_CHARS, id_batches, id_term
from litwatch.pipeline.watchlist import load_watchlist
from tests.conftest import REPO
from tests.pipeline.conftest import ReplayFactory
from tests.test_operations import write_config

SLUG = "stem-cell-lbp"
MISSED = "25753429"  # a near miss in the domain corpus: real PMID, found by none of the three searches
GENE_ONLY = "99000024"  # found by gene-therapy alone (a placeholder PMID: fine against the replay corpus)
BOTH = "99000119"  # found by exosomes and stem-cells
CITED = 2  # stem-cell-lbp's article.toml cites two studies by DOI, both in the domain corpus (stem-cells finds them)


def _setup(tmp_path: Path, server: ReplayServer, known: str | None) -> Path:
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries" / SLUG, queries / SLUG)
    (queries / SLUG / "known.toml").unlink(missing_ok=True)
    if known is not None:
        (queries / SLUG / "known.toml").write_text(known, encoding="utf-8")
    return write_config(tmp_path, server.base_url, f"sqlite:///{tmp_path / 'db.sqlite'}", queries)


def _known(*pmids: str) -> str:
    return "".join(f'[[papers]]\npmid = "{p}"\nnote = "paper {p}"\n\n' for p in pmids)


def _run(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = cli.main(["--config", str(config), "searches", "test", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_search_that_misses_a_known_paper_is_named_with_the_paper(
    tmp_path: Path, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    config = _setup(tmp_path, replay_factory(rate_limit=None), _known(BOTH, GENE_ONLY, MISSED))
    code, out, err = _run(config, capsys)
    assert code == 1, err
    rows = {line.split()[1]: line.split()[-4:] for line in out.splitlines() if line.startswith("PMID ")}
    # columns: exosomes gene-therapy stem-cells any search
    assert rows[BOTH] == ["found", "-", "found", "found"]
    assert rows[GENE_ONLY] == ["-", "found", "-", "found"]
    assert rows[MISSED] == ["-", "-", "-", "MISSED"]
    missed = out.split("missed by every search (1):\n", 1)[1].splitlines()
    assert missed == [f"  PMID {MISSED} paper {MISSED} (known.toml)"]
    total = CITED + 3
    sensitivity = next(line for line in out.splitlines() if line.startswith("sensitivity"))
    assert sensitivity.split()[1:] == ["1/5", "20%", "1/5", "20%", f"{CITED + 1}/{total}", "60%", "4/5", "80%"]


def test_json_gives_per_search_and_union_figures(
    tmp_path: Path, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    config = _setup(tmp_path, replay_factory(rate_limit=None), _known(BOTH, GENE_ONLY, MISSED))
    code, out, _err = _run(config, capsys, "--json")
    assert code == 1
    (result,) = [json.loads(line) for line in out.splitlines()]
    assert result["article"] == SLUG and result["ok"] is False
    assert result["per_search"] == {
        "exosomes": {"found": 1, "total": 5, "sensitivity": 0.2},
        "gene-therapy": {"found": 1, "total": 5, "sensitivity": 0.2},
        "stem-cells": {"found": 3, "total": 5, "sensitivity": 0.6},
    }
    assert result["union"] == {"found": 4, "total": 5, "sensitivity": 0.8}
    assert [m["pmid"] for m in result["missed"]] == [MISSED]
    cited = [p for p in result["papers"] if p["source"].startswith("cited: ")]
    assert {p["source"] for p in cited} == {"cited: zhang-2023", "cited: dream-2025"}
    assert all(p["pmid"] and p["found_by"] == ["stem-cells"] for p in cited)  # resolved from their DOIs


def test_every_known_paper_found_exits_0(
    tmp_path: Path, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    config = _setup(tmp_path, replay_factory(rate_limit=None), _known(BOTH, GENE_ONLY))
    code, out, err = _run(config, capsys, "--article", SLUG)
    assert (code, err) == (0, "")
    assert "every known paper is found by at least one search" in out


def test_a_known_paper_not_in_pubmed_is_named_as_such(
    tmp_path: Path, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    known = _known(BOTH) + '[[papers]]\ndoi = "10.9999/not-a-paper"\n'
    code, out, _err = _run(_setup(tmp_path, replay_factory(rate_limit=None), known), capsys)
    assert code == 1
    assert "  doi 10.9999/not-a-paper (known.toml) — not in PubMed: check its PMID/DOI" in out.splitlines()


def test_usage_errors_exit_2_before_any_request(
    tmp_path: Path, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    server = replay_factory(rate_limit=None)
    config = _setup(tmp_path, server, _known(BOTH))
    code, out, err = _run(config, capsys, "--article", "nope")
    assert (code, out) == (2, "")
    assert err == f"litwatch: error: --article nope: no such watched article (watched: {SLUG})\n"
    (tmp_path / "queries" / SLUG / "known.toml").write_text('[[papers]]\npmid = "12a"\n', encoding="utf-8")
    code, out, err = _run(config, capsys)
    assert code == 2
    assert re.fullmatch(r"litwatch: error: \S*queries/stem-cell-lbp/known.toml: papers\[0\]: key 'pmid' must be "
                        r"digits, got '12a'\n", err), err
    assert server.stats.requests["esearch"] == 0
    with pytest.raises(SystemExit) as usage:  # argparse: the sub-action is required
        cli.main(["--config", str(config), "searches"])
    assert usage.value.code == 2


def test_300_known_papers_are_batched_under_pubmeds_limits(
    tmp_path: Path, domain_corpus: Corpus, replay_factory: ReplayFactory, capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = Corpus.replicated(domain_corpus, 330, 50_000_001, date(2026, 9, 1), date(2026, 11, 20))
    server = replay_factory(corpus, rate_limit=None)
    known = [str(50_000_001 + i) for i in range(300)]
    config = _setup(tmp_path, server, _known(*known))
    code, out, _err = _run(config, capsys, "--json")
    (result,) = [json.loads(line) for line in out.splitlines()]
    article = load_watchlist(tmp_path / "queries")[0]
    for query in article.queries:  # what the matcher finds among the known papers, one search at a time
        expected = {str(i) for i in corpus.search_ids(compile_term(query.term), None, None, None)} & set(known)
        assert result["per_search"][query.id] == {"found": len(expected), "total": 300,
                                                  "sensitivity": len(expected) / 300}
    assert result["union"]["total"] == 300  # the cited studies resolve to copies already listed: no double count
    assert code == (0 if result["union"]["found"] == 300 else 1)
    # requests: 2 DOIs resolved + 3 presence checks + 3 batches for each of the 3 searches, all by POST
    searches = [p for p in server.stats.params_log if "term" in p]
    assert server.stats.requests["esearch"] == len(searches) == 2 + 3 + 3 * 3
    assert server.stats.post_count == len(searches)
    clauses = [p["term"].count("[pmid]") for p in searches]
    assert max(clauses) == MAX_IDS_PER_REQUEST and sum(clauses) == 300 + 3 * 300
    assert all(len(p["term"]) <= MAX_TERM_CHARS for p in searches)


def test_batches_respect_the_character_budget_too() -> None:
    long_term = "x" * (MAX_TERM_CHARS - 200)
    batches = list(id_batches([str(10_000_000 + i) for i in range(50)], long_term))
    assert sum(map(len, batches)) == 50 and len(batches) > 1
    assert all(len(id_term(b, long_term)) <= MAX_TERM_CHARS for b in batches)
    assert list(id_batches(["1"], "y" * MAX_TERM_CHARS)) == [["1"]]  # at least one id per request
