"""Pure judgement: one PubMed record + one watched article → a verdict with the reasons that produced it.

`text` (folded text, patterns), `signals` (population, interventions, condition, size, follow-up), `design`
(study design), `verdict` (classification and verdict), `cited` (the article's cited studies), `evaluate`
(precision/recall against labelled records). Imports only `litwatch.storage.records` and the watch list's
value types: no HTTP, no parsing, no database, no reports (tests/test_layers.py holds it).
"""

from .cited import check_cited_study, match_cited, normalise_doi, normalise_title
from .evaluate import EvalReport, Miss, VerdictScore, evaluate, format_report
from .verdict import RULESET_VERSION, Classification, assess, classify, summary

__all__ = [
    "RULESET_VERSION", "Classification", "EvalReport", "Miss", "VerdictScore", "assess", "check_cited_study",
    "classify", "evaluate", "format_report", "match_cited", "normalise_doi", "normalise_title", "summary",
]
