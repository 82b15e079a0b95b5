"""`litwatch demo` on its bundled corpus: stores every hit, writes the digest, says what it did."""

from __future__ import annotations

import re
from pathlib import Path

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.demo import demo_corpus_dir, run_demo

REPO = Path(__file__).resolve().parents[2]


def test_demo_corpus_is_the_real_fixture() -> None:
    """One folder per bundled article, each the very record set its tests use."""
    for slug, fixture in (("stem-cell-lbp", "domain"), ("knee-oa", "knee-oa")):
        for name in ("records.xml", "labels.jsonl"):
            bundled = (demo_corpus_dir() / slug / name).read_bytes()
            assert bundled == (REPO / "tests" / "fixtures" / fixture / name).read_bytes(), (slug, name)
    assert {p.name for p in demo_corpus_dir().iterdir() if p.is_dir() and p.name not in ("crossref", "registry")} == {
        p.name for p in (REPO / "queries").iterdir() if p.is_dir()}  # a corpus for every bundled article


def test_demo_runs_offline_and_writes_a_digest_per_article(tmp_path: Path) -> None:
    settings = load_settings(REPO / "config.toml", env={})
    lines = list(run_demo(settings, tmp_path / "demo"))
    text = "\n".join(lines)
    assert "run 1 success" in text
    assert "serving 80 real PubMed records" in text and "stored 62 of 80 corpus records" in text
    assert re.search(r"^stem-cell-lbp: assessment vs 55 hand-labelled records \(in-sample\): accuracy 1\.00", text,
                     re.M)
    knee = re.search(r"^knee-oa: assessment vs 25 hand-labelled records \(in-sample\): accuracy ([0-9.]+), update "
                     r"recall ([0-9.]+)", text, re.M)
    assert knee is not None and float(knee[1]) >= 0.85 and float(knee[2]) >= 0.95
    for slug in ("knee-oa", "stem-cell-lbp"):
        assert f"  article {slug}:" in lines  # each saved search under its article
        html = tmp_path / "demo" / "digests" / slug / "2026-W49.html"
        assert f"  html: {html.resolve()}" in lines or any(x.endswith(f"{slug}/{html.name}") for x in lines)
    htmls = [Path(line.split(": ", 1)[1]) for line in lines if line.strip().startswith("html:")]
    assert [h.parent.name for h in htmls] == ["knee-oa", "stem-cell-lbp"]
    for html in htmls:
        assert html.is_file() and "Action needed" in html.read_text("utf-8")
    assert (tmp_path / "demo" / "litwatch-demo.sqlite").is_file()


def test_demo_never_touches_the_configured_database(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    prod = tmp_path / "prod.sqlite"
    cfg.write_text(f'[ncbi]\nemail = "w@example.org"\n[storage]\nurl = "sqlite:///{prod}"\n'
                   f'[paths]\nqueries = "{REPO / "queries"}"\n')
    list(run_demo(load_settings(cfg, env={}), tmp_path / "demo"))
    assert not prod.exists()
