"""`litwatch demo`'s counts add up (issue 15, item 6): what it prints is what the digest says, every record is
listed once, and the demo says its PMIDs are placeholders and which file to open."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.demo import run_demo

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_digests_counts_and_every_record_is_listed_once(tmp_path: Path) -> None:
    lines = list(run_demo(load_settings(REPO / "config.toml", env={}), tmp_path / "demo"))
    # a first run: records two searches found are new once, never "unchanged"; counts are distinct records
    run = re.fullmatch(r"run 1 success: found (\d+), new (\d+), changed 0, unchanged 0, deleted 0", lines[1])
    assert run is not None and run[1] == run[2], lines[1]  # 44 at the time of writing, not 52
    stored = int(re.search(r"stored (\d+) of", "\n".join(lines))[1])  # type: ignore[index]
    assert int(run[1]) == stored
    markdowns = [Path(x.split(": ", 1)[1]) for x in lines if x.strip().startswith("md:")]
    assert [m.parent.name for m in markdowns] == ["knee-oa", "stem-cell-lbp"]  # one digest per article
    total = 0
    for path in markdowns:
        markdown = path.read_text("utf-8")
        tally = markdown.split("\n\n")[2]  # the digest's second paragraph, under the headline
        assert f"  {tally}" in lines  # the demo prints the digest's own line: the same numbers, the same words
        numbers = re.fullmatch(r"(\d+) records(?: and (\d+) trial registry updates?)?: (\d+) needs? action, "
                               r"(\d+) worth a look, (\d+) for awareness", tally)
        assert numbers is not None, tally  # "44 records and 3 trial registry updates: 11 need action, 12 worth…"
        records, trials, action, worth, awareness = (int(n or 0) for n in numbers.groups())
        assert trials >= 1  # the bundled registry records changed between the demo's two registry runs
        assert action + worth + awareness == records + trials  # each record in one section, each trial update too
        registry = markdown.split("## Trial registry (")[1].split("\n\n## ")[0]
        assert registry.count("(action)") == trials  # the updates the tally counts are the registry's actions
        total += records
        headline = next(x for x in lines if x.startswith(f"digest 2026-W49 for {path.parent.name}: "))
        assert headline.endswith(f"Action needed: {action} — the article's evidence section should be updated")
        sections = markdown.split("## Cited studies")[0]
        counted = {m: int(n) for m, n in re.findall(r"^## (Action needed|Worth a look|For awareness) \((\d+)\)$",
                                                      sections, re.M)}
        assert counted == {"Action needed": action, "Worth a look": worth, "For awareness": awareness}
        assert "pubmed.ncbi.nlm.nih.gov/99" not in markdown  # placeholder PMIDs never linked to PubMed
        if path.parent.name == "stem-cell-lbp":
            # the sections hold each record once: DREAM's record goes with its cited-study alert, not also below
            assert sections.count("(DREAM Study)") == 1
    assert total == stored  # no record of the bundled corpora is found by both articles' searches
    assert any(x.startswith("real abstracts; placeholder PMIDs: ") for x in lines)
    # the last line says which file to open
    opened = Path(unquote(urlparse(lines[-1].split(": ", 1)[1]).path))
    assert lines[-1].startswith("open the digest in a browser: file://") and opened.suffix == ".html"
    assert opened.is_file()
