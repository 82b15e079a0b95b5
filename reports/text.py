"""Short text for a busy reader: the abstract's conclusion, sentence splitting, word-boundary shortening. Pure."""

from __future__ import annotations

import re

from litwatch.storage.records import Article

from .sanitize import clean_text

CONCLUSION_LIMIT = 420  # characters: two sentences of a typical abstract, enough to judge without clicking

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# Registration numbers and evidence levels sometimes trail the conclusion; the digest links trials separately.
_TRAILERS = re.compile(r"(?i)\s*\b(?:clinical )?trial registration\b.*$|\s*\blevel of evidence\b.*$")
_ABBREVIATIONS = re.compile(r"(?:\b(?:e\.g|i\.e|vs|et al|Fig|approx|ca|No)\.|\b[A-Z]\.)$")


def conclusion(article: Article, limit: int = CONCLUSION_LIMIT) -> str:
    """The CONCLUSION(S) section when labelled, else the abstract's last one or two sentences; never cut
    mid-word without an ellipsis (source abstracts are sometimes truncated mid-word, and get one too)."""
    labelled = [
        s.text
        for s in article.abstract
        if (s.category or "").upper() == "CONCLUSIONS" or re.match(r"(?i)conclusions?\b", s.label or "")
    ]
    if labelled:
        text = clean_text(" ".join(labelled))
    else:
        sentences = split_sentences(clean_text(" ".join(s.text for s in article.abstract)))
        text = " ".join(sentences[-2:]) if sentences else ""
        if len(text) > limit and len(sentences) >= 2:
            text = sentences[-1]
    text = _TRAILERS.sub("", text).strip()
    if not text:
        return ""
    if len(text) > limit:
        return shorten(text, limit)
    if not re.search(r"[.!?…][\"')\]]*$", text):
        return text + "…"  # the source itself stops mid-sentence (or mid-word)
    return text


def split_sentences(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        if _ABBREVIATIONS.search(candidate.rstrip("\"')]")):
            continue
        parts.append(candidate.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary and say so with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def sentence_case(text: str) -> str:
    """Capitalise a reason's first word ("human randomised trial" → "Human …"), but not "n = 52" or "pH"."""
    if len(text) >= 2 and text[0].islower() and text[1].islower():
        return text[0].upper() + text[1:]
    return text


def months(value: float | None) -> str | None:
    if not value:
        return None
    if value >= 24 and value % 12 == 0:
        return f"{int(value // 12)} years"
    return f"{value:g} month" + ("" if value == 1 else "s")


def first_line(text: str | None) -> str:
    return clean_text((text or "").strip().splitlines()[0]) if (text or "").strip() else ""


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


__all__ = [
    "CONCLUSION_LIMIT",
    "conclusion",
    "escape_html",
    "first_line",
    "months",
    "sentence_case",
    "shorten",
    "split_sentences",
]
