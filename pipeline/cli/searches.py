"""`litwatch searches test`: the table of known papers × saved searches, the sensitivities, the misses."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .output import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from ..search_test import ArticleSearchTest, Figure, KnownResult

ANY = "any search"


def cmd_searches(args: argparse.Namespace, settings: Settings) -> int:
    from ..search_test import run_search_test

    tests = run_search_test(settings, args.article)  # action "test": the only one so far
    for n, test in enumerate(tests):
        if args.json:
            print(json.dumps(search_test_json(test), ensure_ascii=False, sort_keys=True))
            continue
        if n:
            print()
        print("\n".join(search_test_lines(test)))
    return EXIT_FAILED if any(test.missed for test in tests) else EXIT_OK


def search_test_lines(test: ArticleSearchTest) -> list[str]:
    """The table (a row per known paper, a column per saved search and one for any search), the sensitivity row,
    then every paper no search finds."""
    if not test.papers:
        return [f"{test.slug}: no known papers (list them in queries/{test.slug}/known.toml; cited studies with a "
                f"PMID or DOI count too)"]
    columns = [*test.searches, ANY]
    widths = [max(len(c), 9) for c in columns]
    label_width = min(max(len(_label(r)) for r in test.papers), 60)
    lines = [f"{test.slug}: {len(test.papers)} known papers, {len(test.searches)} saved searches",
             "  ".join([f"{'paper':<{label_width}}", *(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))])]
    for r in test.papers:
        marks = ["found" if q in r.found_by else "-" for q in test.searches] + ["found" if r.found_by else "MISSED"]
        lines.append("  ".join([f"{_label(r)[:label_width]:<{label_width}}",
                                *(f"{m:>{w}}" for m, w in zip(marks, widths, strict=True))]))
    figures = [*test.per_search, test.union]
    lines.append("  ".join([f"{'sensitivity':<{label_width}}",
                            *(f"{_figure(f):>{w}}" for f, w in zip(figures, widths, strict=True))]))
    if test.missed:
        lines.append(f"missed by every search ({len(test.missed)}):")
        lines.extend(f"  {_label(r)} ({r.source})"
                     + ("" if r.in_pubmed else " — not in PubMed: check its PMID/DOI") for r in test.missed)
    else:
        lines.append("every known paper is found by at least one search")
    return lines


def _label(r: KnownResult) -> str:
    name = r.paper.name if r.paper.pmid or not r.pmid else f"{r.paper.name} (PMID {r.pmid})"
    return f"{name} {r.paper.note}".strip() if r.paper.note else name


def _figure(f: Figure) -> str:
    share = f.sensitivity
    return f"{f.found}/{f.total} {share:.0%}" if share is not None else f"{f.found}/{f.total}"


def search_test_json(test: ArticleSearchTest) -> dict[str, Any]:
    def figure(f: Figure) -> dict[str, Any]:
        return {"found": f.found, "total": f.total, "sensitivity": f.sensitivity}

    return {
        "article": test.slug,
        "searches": list(test.searches),
        "papers": [{"pmid": r.pmid, "doi": r.paper.doi, "note": r.paper.note, "source": r.source,
                    "in_pubmed": r.in_pubmed, "found_by": list(r.found_by)} for r in test.papers],
        "per_search": {f.name: figure(f) for f in test.per_search},
        "union": figure(test.union),
        "missed": [{"pmid": r.pmid, "doi": r.paper.doi, "note": r.paper.note, "source": r.source,
                    "in_pubmed": r.in_pubmed} for r in test.missed],
        "ok": not test.missed,
    }
