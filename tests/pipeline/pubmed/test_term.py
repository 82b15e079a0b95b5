"""The one PubMed term parser: the tree it builds (PubMed's semantics), and how the validator's extra rules sit on
it. The validator's messages are asserted in tests/pipeline/test_watchlist.py, the replay matcher's in
tests/pipeline/replay/test_server.py."""

from __future__ import annotations

import pytest

from litwatch.pipeline.errors import QueryError
from litwatch.pipeline.pubmed import validate_term
from litwatch.pipeline.pubmed.term import Bool, Leaf, Node, Range, Tag, TermSyntaxError, parse_term


def show(node: Node) -> str:
    """A compact, fully parenthesised form of the tree."""
    if isinstance(node, Bool):
        return f"({show(node.left)} {node.op} {show(node.right)})"
    if isinstance(node, Range):
        return f"{show(node.start)}:{show(node.end)}"
    text = f'"{node.text}"' if node.quoted else node.text.replace(" ", "_")
    return f"{text}[{node.tag.name}]" if node.tag else text


@pytest.mark.parametrize(("term", "tree"), [
    ("disc OR spinal AND mice", "((disc OR spinal) AND mice)"),  # left to right, no precedence
    ("disc OR (spinal AND mice)", "(disc OR (spinal AND mice))"),
    ("low back pain", "((low AND back) AND pain)"),  # side by side: AND
    ("stem cell[tiab]", "stem_cell[tiab]"),  # a tagged run is one phrase
    ("stem   cell*[tiab] disc", "(stem___cell*[tiab] AND disc)"),  # the phrase as written
    ("x OR stem cell NOT rat", "((x OR (stem AND cell)) NOT rat)"),  # an untagged run is one group
    ('"stem cell"[Title/Abstract]', '"stem cell"[title/abstract]'),
    ('("2020/01/01"[CRDT] : "2020/12/31"[CRDT])', '"2020/01/01"[crdt]:"2020/12/31"[crdt]'),
    ("2026/10/01:2026/10/14[crdt]", "2026/10/01:2026/10/14[crdt]"),
    ("disc 2026/10:2026/11[crdt]", "(disc AND 2026/10:2026/11[crdt])"),  # a range binds its nearest word
    ("disc [tiab]", "disc[tiab]"),  # the parser attaches a detached tag; the validator refuses it
])
def test_tree(term: str, tree: str) -> None:
    assert show(parse_term(term)) == tree


def test_leaf_details() -> None:
    tree = parse_term('disc AND "exosom*"[ TIAB ]')
    assert tree == Bool("AND", Leaf("disc", 1), Leaf("exosom*", 10, quoted=True, tag=Tag("tiab", " TIAB ", 19)))
    assert isinstance(tree, Bool) and isinstance(tree.right, Leaf) and tree.right.truncated
    span = parse_term('"a"[crdt] : "b"')
    assert isinstance(span, Range) and span.tag == Tag("crdt", "crdt", 4)


@pytest.mark.parametrize(("term", "message", "kind"), [
    ("", "position 1: empty search term", "empty"),
    ("(disc", "position 1: unbalanced parenthesis: '(' never closed", "parens"),
    ("disc)", "position 5: unbalanced parenthesis: ')' without '('", "parens"),
    ("disc AND", "position 9: AND without a search term after it", "end"),
    ("disc :", "position 6: range ':' without an end term", "end"),
    ("disc OR OR msc", "position 9: OR without a search term after it", "syntax"),
    ('"disc', "position 1: unbalanced quote", "syntax"),
])
def test_syntax_errors_are_query_errors_with_a_position(term: str, message: str, kind: str) -> None:
    with pytest.raises(TermSyntaxError) as caught:
        parse_term(term)
    assert isinstance(caught.value, QueryError) and str(caught.value) == message and caught.value.kind == kind


@pytest.mark.parametrize(("term", "message"), [
    ("disc [tiab]", "position 6: field tag without a search term before it"),
    ("disc[xyz]", r"position 5: unknown field tag \[xyz\]"),
    ("stem cel*[tiab]", r"position 9: truncation needs at least 4"),  # positions inside a phrase
    ("disc and msc[tiab]", "position 6: Boolean operator 'and' must be upper case"),
])
def test_the_validator_is_stricter_than_the_parser(term: str, message: str) -> None:
    parse_term(term)
    with pytest.raises(QueryError, match=message):
        validate_term(term)
