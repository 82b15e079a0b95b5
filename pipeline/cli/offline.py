"""`litwatch assess` and `litwatch evaluate`: judge the records of an efetch XML file without storing anything."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import QueryError
from .output import EXIT_OK, assessment_json, assessment_row

if TYPE_CHECKING:  # imported when a command runs, so `litwatch --help` stays fast
    from ..watchlist import WatchedArticle


def cmd_assess(args: argparse.Namespace, settings: Settings) -> int:
    from ..file_assessment import assess_file

    for x in assess_file(read_bytes(args.file), _profile(settings, args.article)):
        print(assessment_json(x) if args.json else assessment_row(x))
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from ..assess import evaluate, format_report

    labels = []
    for n, line in enumerate(read_bytes(args.labels).decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                labels.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise QueryError(f"{args.labels}:{n}: invalid JSON: {exc.msg}") from None
    from ..assess import assess
    from ..pubmed.parse import parse_efetch

    profile = _profile(settings, args.article)
    records = parse_efetch(read_bytes(args.file), "file").articles  # the quote check reads the records' text
    assessments = {x.pmid: x for x in (assess(article, profile) for article in records)}
    print(format_report(evaluate(labels, assessments, records)))
    return EXIT_OK


def _profile(settings: Settings, article: str | None) -> WatchedArticle:
    """--article: a watched article's slug (or the path of an article.toml); without it, the only watched article
    (a usage error naming the slugs when there are several: a verdict means something for one article only)."""
    from ..watchlist import load_article, load_watchlist, pick_article

    if article is not None and (article.endswith(".toml") or Path(article).is_file()):
        return load_article(Path(article))
    return pick_article(load_watchlist(settings.queries_dir), article)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise QueryError(f"{path}: cannot read: {exc.strerror}") from None
