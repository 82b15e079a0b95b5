"""The demo serves its synthetic Crossref works: the stem-cell-lbp digest shows Zhang 2023's Crossref-only
retraction as an action item."""

from __future__ import annotations

from pathlib import Path

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.demo import run_demo

REPO = Path(__file__).resolve().parents[3]


def test_the_demo_digest_shows_a_crossref_retraction(tmp_path: Path) -> None:
    lines = list(run_demo(load_settings(REPO / "config.toml", env={}), tmp_path / "demo"))
    assert "synthetic works of cited studies (one retracted)" in lines[0]
    md = next((tmp_path / "demo" / "digests" / "stem-cell-lbp").glob("*.md")).read_text("utf-8")
    action = md.split("## Action needed", 1)[1].split("\n## ", 1)[0]
    assert "Zhang et al. 2023" in action and "— Retracted" in action
    assert "Crossref/Retraction Watch: retracted on 2025-03-02" in action
    assert "PubMed: no retraction notice; Crossref: retracted (retraction-watch, 2025-03-02)" in action
