"""The article's topic, compiled: the writer's word lists (`[topic]` in article.toml) → patterns for folded text.

Word syntax (what a writer types, PubMed-like): plain phrases, case-insensitive, whole words; a hyphen and a space
are interchangeable ("stem-cell" = "stem cell"); a final `s` is optional on the last word ("stem cell" also finds
"stem cells"); `*` ends a word with any letters ("exosom*"); `...` inside a phrase stands for a few words in
between ("derived from ... stem cell"). Pure: compiled once per topic and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..watchlist import Topic
from .text import fold

_GAP = r"[\w\s-]{0,40}?"  # `...`: up to ~40 characters of words (about five words)
_SEPARATOR = "[- ]"


def phrase_regex(phrase: str) -> str:
    """One phrase in the word syntax → regex source for folded text (no word boundaries yet)."""
    tokens = [t for t in re.split(r"[\s-]+", fold(phrase.strip())) if t]
    if not tokens or tokens[0] == "..." or tokens[-1] == "...":
        raise ValueError(f"phrase must start and end with a word: {phrase!r}")
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if token == "...":
            parts.append(_GAP)
            continue
        if i and tokens[i - 1] != "...":
            parts.append(_SEPARATOR)
        if token.endswith("*"):
            parts.append(re.escape(token.rstrip("*")) + r"\w*")
        elif i == len(tokens) - 1:
            parts.append(re.escape(token) + "s?")  # plural: "cell" finds "cells"
        else:
            parts.append(re.escape(token))
    return "".join(parts)


def alternation(phrases: tuple[str, ...]) -> str:
    """Regex source matching any of `phrases` (in order: the first listed wins at one position)."""
    return "|".join(phrase_regex(p) for p in phrases)


def words_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """Whole-word pattern for folded text; None for an empty list (never matches)."""
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + alternation(phrases) + r")(?!\w)")


@dataclass(frozen=True)
class WordSet:
    """Words that count, minus look-alike phrasings blanked out first (same length: positions stay valid)."""

    pattern: re.Pattern[str] | None
    exclude: re.Pattern[str] | None = None

    def blank(self, text: str) -> str:
        if self.exclude is None:
            return text
        return self.exclude.sub(lambda m: " " * len(m.group()), text)

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(self.blank(text)) if self.pattern is not None else None

    def count(self, text: str) -> int:
        return len(self.pattern.findall(self.blank(text))) if self.pattern is not None else 0


@dataclass(frozen=True)
class CompiledIntervention:
    id: str
    phrase: str
    words: WordSet
    case_sensitive: re.Pattern[str] | None  # on the original text, e.g. siRNA names (siSTING)


@dataclass(frozen=True)
class CompiledCondition:
    id: str
    label: str
    words: WordSet
    together: tuple[tuple[WordSet, ...], ...]  # each: one word of every group

    def named(self, text: str) -> bool:
        return bool(self.words.search(text))

    def matches(self, text: str) -> bool:
        return self.named(text) or any(all(g.search(text) for g in groups) for groups in self.together)


@dataclass(frozen=True)
class CompiledTopic:
    interventions: tuple[CompiledIntervention, ...]
    conditions: tuple[CompiledCondition, ...]
    look_alikes: tuple[CompiledCondition, ...]
    other_treatments: WordSet
    labels: dict[str, str]  # condition and look-alike ids → summary words


@lru_cache(maxsize=32)
def compile_topic(topic: Topic) -> CompiledTopic:
    groups = {name: WordSet(words_pattern(words)) for name, words in topic.word_groups}

    def condition(c: object) -> CompiledCondition:
        return CompiledCondition(
            id=c.id, label=c.label, words=WordSet(words_pattern(c.words)),  # type: ignore[attr-defined]
            together=tuple(tuple(groups[g] for g in names) for names in c.together))  # type: ignore[attr-defined]

    conditions = tuple(condition(c) for c in topic.conditions)
    look_alikes = tuple(condition(c) for c in topic.look_alikes)
    return CompiledTopic(
        interventions=tuple(
            CompiledIntervention(id=i.id, phrase=i.phrase,
                                 words=WordSet(words_pattern(i.words), words_pattern(i.not_words)),
                                 case_sensitive=re.compile(r"\b(?:" + "|".join(i.case_sensitive) + r")\b")
                                 if i.case_sensitive else None)
            for i in topic.interventions),
        conditions=conditions, look_alikes=look_alikes,
        other_treatments=WordSet(words_pattern(topic.other_treatments), words_pattern(topic.other_treatments_not)),
        labels={c.id: c.label for c in (*conditions, *look_alikes)},
    )


__all__ = ["CompiledCondition", "CompiledIntervention", "CompiledTopic", "WordSet", "alternation",
           "compile_topic", "phrase_regex", "words_pattern"]
