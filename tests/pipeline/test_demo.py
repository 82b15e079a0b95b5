"""`litwatch demo` on its bundled corpus: stores every hit, writes the digest, says what it did."""

from __future__ import annotations

from pathlib import Path

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.demo import demo_corpus_dir, run_demo

REPO = Path(__file__).resolve().parents[2]


def test_demo_corpus_is_the_real_fixture() -> None:
    bundled = (demo_corpus_dir() / "records.xml").read_bytes()
    assert bundled == (REPO / "tests" / "fixtures" / "domain" / "records.xml").read_bytes()


def test_demo_runs_offline_and_writes_a_digest(tmp_path: Path) -> None:
    settings = load_settings(REPO / "config.toml", env={})
    lines = list(run_demo(settings, tmp_path / "demo"))
    text = "\n".join(lines)
    assert "run 1 success" in text
    assert "stored 44 of 55 corpus records" in text
    assert "accuracy 1.00" in text or "accuracy 0.9" in text
    html = next(Path(line.split(": ", 1)[1]) for line in lines if line.strip().startswith("html:"))
    assert html.is_file() and html.parent == tmp_path / "demo" / "digests"
    assert "Action needed" in html.read_text("utf-8")
    assert (tmp_path / "demo" / "litwatch-demo.sqlite").is_file()


def test_demo_never_touches_the_configured_database(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    prod = tmp_path / "prod.sqlite"
    cfg.write_text(f'[ncbi]\nemail = "w@example.org"\n[storage]\nurl = "sqlite:///{prod}"\n'
                   f'[paths]\nqueries = "{REPO / "queries"}"\n')
    list(run_demo(load_settings(cfg, env={}), tmp_path / "demo"))
    assert not prod.exists()
