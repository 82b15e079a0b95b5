"""Search hygiene for `litwatch check`: what valid PubMed syntax still gets wrong, found on `pubmed.term`'s tree.

Two severities, because they cost different things:
- error: PubMed would silently search something else than what is written (a `*` inside a phrase but not on its
  last word is not expanded as written; a truncated word shorter than PubMed allows). `check` fails (exit 2):
  a run with such a term misses papers without telling anyone.
- warning: style that costs nothing in PubMed but hides the searcher's intent or a gap — a term repeated in the
  same search, an intervention the article watches that no saved search names. `check` prints and passes.

Pure: a term or a loaded article in, findings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .pubmed.term import Bool, Leaf, Node, parse_term
from .watchlist import SavedQuery, WatchedArticle

ERROR, WARNING = "error", "warning"
_MIN_TRUNCATION = 4  # PubMed: at least four characters before the truncation symbol
# Field tags PubMed treats as the same field, so `"x"[tiab]` and `"x"[Title/Abstract]` are one term twice.
_SAME_TAG = {"title/abstract": "tiab", "mesh": "mh", "mesh terms": "mh", "mesh:noexp": "mh:noexp",
             "mesh major topic": "majr", "title": "ti", "abstract": "ab", "text word": "tw",
             "all fields": "all", "publication type": "pt", "other term": "ot"}


@dataclass(frozen=True)
class Finding:
    severity: str  # ERROR | WARNING
    message: str  # one line; article_findings prefixes the file


# ---- one term ----------------------------------------------------------------------------------------------
def term_findings(term: str) -> list[Finding]:
    """The findings of one (syntactically valid) PubMed term, in the order of the term."""
    tree = parse_term(term)
    blocks = list(_and_blocks(tree))
    findings = [f for block in blocks for leaf in _leaves(block) for f in _truncation(leaf)]
    findings += _duplicates(blocks)
    return findings


def _and_blocks(node: Node) -> Iterator[Node]:
    """The operands of the top-level AND chain: `(A OR B) AND (C OR D)` → the two OR-blocks."""
    if isinstance(node, Bool) and node.op == "AND":
        yield from _and_blocks(node.left)
        yield from _and_blocks(node.right)
    else:
        yield node


def _leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, Bool):
        yield from _leaves(node.left)
        yield from _leaves(node.right)
    elif isinstance(node, Leaf):
        yield node
    # a Range is a date span: nothing to check


def _shown(leaf: Leaf) -> str:
    text = f'"{leaf.text}"' if leaf.quoted else leaf.text
    return f"{text}[{leaf.tag.text}]" if leaf.tag else text


def _truncation(leaf: Leaf) -> list[Finding]:
    words = leaf.text.split()
    inner = [w for w in words[:-1] if "*" in w]
    if inner:  # PubMed expands a wildcard in a phrase only on its last word
        return [Finding(ERROR, f"{_shown(leaf)}: '*' inside a phrase ('{inner[0]}') is not expanded by PubMed — "
                               f"only the last word of a phrase may be truncated")]
    last = words[-1] if words else ""
    if last.endswith("*") and len(last.rstrip("*")) < _MIN_TRUNCATION:
        return [Finding(ERROR, f"{_shown(leaf)}: PubMed needs at least {_MIN_TRUNCATION} characters before '*' "
                               f"('{last}')")]
    if last.endswith("*") and len(words) > 1 and not leaf.quoted:
        return [Finding(WARNING, f"{_shown(leaf)}: put a truncated phrase in quotes "
                                 f"(\"{leaf.text}\"[{leaf.tag.text if leaf.tag else 'tiab'}]) so PubMed searches "
                                 f"it as one phrase")]
    return []


def _key(leaf: Leaf) -> tuple[str, str]:
    text = " ".join(leaf.text.lower().replace("-", " ").split())
    tag = leaf.tag.name if leaf.tag else ""
    return text, _SAME_TAG.get(tag, tag)


def _duplicates(blocks: list[Node]) -> list[Finding]:
    where: dict[tuple[str, str], list[int]] = {}
    first: dict[tuple[str, str], Leaf] = {}
    for index, block in enumerate(blocks, 1):
        for leaf in _leaves(block):
            where.setdefault(_key(leaf), []).append(index)
            first.setdefault(_key(leaf), leaf)
    findings = []
    for key, places in where.items():
        if len(places) < 2:
            continue
        if len(set(places)) == 1:
            place = "in the same OR-block" if len(blocks) > 1 else "in the term"
        else:
            place = "in OR-blocks " + " and ".join(str(p) for p in sorted(set(places)))
        findings.append(Finding(WARNING, f"{_shown(first[key])} appears {len(places)} times {place}"))
    return findings


# ---- one article -------------------------------------------------------------------------------------------
def article_findings(article: WatchedArticle) -> list[Finding]:
    """Each saved search's findings, prefixed with its file, then the topic's interventions no enabled search
    names (compared case-insensitively, hyphens as spaces, `*` as a prefix)."""
    root = article.path.parent.parent.parent
    findings = [Finding(f.severity, f"{_file(query.path, root)}: {f.message}")
                for query in article.queries for f in term_findings(query.term)]
    searched = [query for query in article.queries if query.enabled]
    for intervention in article.topic.interventions:
        if not any(_mentions(query, word) for query in searched for word in intervention.words):
            findings.append(Finding(WARNING, (
                f"{_file(article.path, root)}: [topic] intervention '{intervention.id}' ({intervention.label}) is "
                f"named by no saved search: none of {', '.join(intervention.words[:4])}"
                f"{', …' if len(intervention.words) > 4 else ''} appears in a search term")))
    return findings


def _mentions(query: SavedQuery, word: str) -> bool:
    text = _plain(query.term)
    parts = [p for p in _plain(word).split("...") if p.strip()]
    if not parts:
        return False
    # every part of a "from ... cell" phrase must appear; `*` (a word's end) makes the part a prefix
    return all(re.search(r"(?<!\w)" + re.escape(p.strip().rstrip("*")) + (r"" if p.strip().endswith("*")
                                                                           else r"(?!\w)"), text)
               for p in parts)


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def _file(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
