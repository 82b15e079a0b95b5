"""The assessment's text machinery: folding keeps positions, patterns for folded text (assess/text.py)."""

from __future__ import annotations

import re

import pytest

from litwatch.pipeline.assess import text as txt


@pytest.mark.parametrize(("text", "needle"), [
    ("KELVIN ı ſ İSTANBUL Straße", "istanbul"),
    ("DISC DEGENERATION", "disc degeneration"),
    ("Il-1Β induced", "il-1β induced"),
    ("\u0130\u0130 patients", "ii patients"),
])
def test_fold_keeps_positions_and_matches_like_ignorecase(text: str, needle: str) -> None:
    folded = txt.fold(text)
    assert len(folded) == len(text)
    assert (needle in folded) == bool(re.search(re.escape(needle), text, re.IGNORECASE))


def test_patterns_for_folded_text_must_be_lower_case() -> None:
    with pytest.raises(ValueError, match="upper-case letters: phase II"):
        txt.lc_pattern(r"phase II")
    assert txt.lc_pattern(r"\bphase\s+\d").search("phase 2")
