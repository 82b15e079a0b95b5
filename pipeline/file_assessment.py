"""Assess every record of an efetch XML file without storing anything: parsing (pubmed) meets judgement
(assess) here, outside the pure assess package. Used by `litwatch assess`/`evaluate` and the demo."""

from __future__ import annotations

from litwatch.storage.records import Assessment

from .assess import assess
from .pubmed.parse import parse_efetch
from .watchlist import WatchedArticle


def assess_file(xml_bytes: bytes, profile: WatchedArticle, batch: str = "file") -> list[Assessment]:
    """The verdict on each record of an efetch XML body (PubmedArticleSet), in file order."""
    return [assess(article, profile) for article in parse_efetch(xml_bytes, batch).articles]


__all__ = ["assess_file"]
