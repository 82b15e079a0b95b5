"""The text machinery of the assessment: one record's words folded once, patterns written for folded text,
guarded patterns that skip a regex scan when it cannot match, and quoting matches back in the original words.

Topic-free and pure; `signals` and `design` write their rules with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from litwatch.storage.records import Article

# Only the first MAX_ABSTRACT_CHARS of an abstract are read: a study states its design, population, size and
# follow-up long before that (real abstracts are a few thousand characters), and the cap keeps one
# pathological record (a 1 MB "abstract") from costing ~1 s of regex scanning: assessment stays linear and
# bounded per record.
MAX_ABSTRACT_CHARS = 20_000

# Characters IGNORECASE treats as equal to a lower-case letter our patterns use, that str.lower() leaves alone
# (dotless i, long s, the curly beta symbol): folded too, so lowered-text matching equals IGNORECASE matching.
_FOLD_EXTRA = str.maketrans({"\u0131": "i", "\u017f": "s", "\u03d0": "\u03b2"})


def fold(text: str) -> str:
    """`text` lower-cased character by character (same length, same positions), so the patterns below run
    without IGNORECASE: Python's regex engine skips far faster over case-sensitive alternations (~2.5x)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # full case mapping expanded a character (e.g. U+0130): map one by one
        lowered = "".join(ch.lower()[0] for ch in text)
    return lowered if lowered.isascii() else lowered.translate(_FOLD_EXTRA)


def lc_pattern(pattern: str) -> re.Pattern[str]:
    """A pattern for folded text: written in lower case (escapes aside), compiled without IGNORECASE."""
    if re.search(r"[A-Z]", re.sub(r"\\.", "", pattern)):
        raise ValueError(f"pattern for folded text has upper-case letters: {pattern[:60]}")
    return re.compile(pattern)


class Guarded:
    """A pattern plus words of which every match contains at least one: when none is in the text the regex
    scan (~15 us per KB) is skipped for substring tests (~0.2 us). Results are the pattern's own; the
    assessment tests check the guard never hides a match on every fixture record."""

    def __init__(self, pattern: re.Pattern[str], *needles: str) -> None:
        self.pattern = pattern
        self.needles = needles

    def possible(self, text: str) -> bool:
        return any(needle in text for needle in self.needles)

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text) if self.possible(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self.possible(text) else iter(())

    def sub(self, repl: str, text: str) -> str:
        return self.pattern.sub(repl, text) if self.possible(text) else text


_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
@dataclass(frozen=True)
class Text:
    """The words of a record, split by where they appear (the title weighs more than the abstract). The `*_l`
    forms are folded (`fold`) once per record; matches on them give positions into the original strings,
    which are what reasons quote."""

    title: str
    abstract: str
    keywords: str

    @cached_property
    def all(self) -> str:
        return f"{self.title}\n{self.abstract}\n{self.keywords}"

    @cached_property
    def body(self) -> str:
        return f"{self.title}\n{self.abstract}"

    @cached_property
    def title_l(self) -> str:
        return fold(self.title)

    @cached_property
    def abstract_l(self) -> str:
        return fold(self.abstract)

    @cached_property
    def body_l(self) -> str:
        return f"{self.title_l}\n{self.abstract_l}"

    @cached_property
    def all_l(self) -> str:
        return f"{self.body_l}\n{fold(self.keywords)}"

    @classmethod
    def of(cls, article: Article) -> Text:
        return cls(title=article.title, abstract=article.abstract_text[:MAX_ABSTRACT_CHARS],
                   keywords="; ".join(article.keywords))


def quote(original: str, match: re.Match[str], group: int = 0) -> str:
    """The original words of a match found in the folded form of `original`."""
    return original[match.start(group):match.end(group)]


def to_int(token: str) -> int | None:
    token = token.lower().replace(",", "")
    if token.isdigit():
        return int(token)
    if "-" in token:
        tens, _, ones = token.partition("-")
        if tens in _NUMBER_WORDS and ones in _NUMBER_WORDS:
            return _NUMBER_WORDS[tens] + _NUMBER_WORDS[ones]
        return None
    return _NUMBER_WORDS.get(token)


__all__ = ["MAX_ABSTRACT_CHARS", "Guarded", "Text", "fold", "lc_pattern", "quote", "to_int"]
