"""PubMed search-term syntax: ONE tokenizer and parser, used by the watch-list validator and the replay server.

`parse_term` turns a term into a small syntax tree with PubMed's semantics: Boolean operators are upper case
and evaluated left to right without precedence; terms side by side are ANDed; an unquoted run of words
followed by a field tag is one phrase (`stem cell[tiab]` is the phrase "stem cell" in [tiab]), an untagged
run is its words ANDed as one group (PubMed maps the run as a unit); `"a"[crdt] : "b"[crdt]` is a range.

`validate_term` adds the checks PubMed would otherwise answer with a quietly different search: known field
tags written straight after their term, upper-case operators, truncation after at least four characters.
A term PubMed would reinterpret must fail before a run, not after a week of misses. Errors say
"position N: …" (1-based).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce

from ..errors import QueryError

__all__ = [
    "FIELD_TAGS", "Bool", "Leaf", "Node", "Range", "Tag", "TermSyntaxError", "parse_term", "tokenize",
    "validate_term",
]

# Search field tags from PubMed's "Search Field Descriptions and Tags" (short and long forms), lower-cased.
FIELD_TAGS: frozenset[str] = frozenset({
    "ad", "affiliation", "all", "all fields", "au", "author", "auid", "author identifier", "book", "cois",
    "conflict of interest statements", "cn", "corporate author", "crdt", "date - create", "dcom",
    "date - completion", "ec", "ed", "editor", "edat", "date - entry", "filter", "sb", "subset", "1au",
    "author - first", "fau", "full author name", "fir", "full investigator name", "gr", "grant number", "ir",
    "investigator", "isbn", "ip", "issue", "ta", "journal", "jour", "jid", "la", "language", "lastau",
    "author - last", "lid", "location id", "mhda", "date - mesh", "majr", "mesh major topic", "sh",
    "mesh subheading", "subheading", "mh", "mesh", "mesh terms", "nm", "supplementary concept", "ot",
    "other term", "pg", "pagination", "ps", "personal name as subject", "pa", "pharmacological action", "pt",
    "publication type", "pubn", "publisher", "dp", "pdat", "date - publication", "rn", "ec/rn number", "si",
    "secondary source id", "tt", "transliterated title", "ti", "title", "tiab", "title/abstract", "tw",
    "text word", "vi", "volume", "pmid", "uid", "aid", "doi", "lr", "date - modification", "mesh:noexp",
    "mh:noexp", "majr:noexp", "sh:noexp", "pmcid",
})
_NOEXP = {"mh", "mesh", "majr", "sh", "mesh terms", "mesh major topic", "mesh subheading"}
_PROXIMITY = {"ti", "tiab", "ad", "title", "title/abstract", "affiliation"}
_OPERATORS = {"AND", "OR", "NOT"}
_MIN_TRUNCATION = 4  # PubMed: "at least four characters" before the truncation symbol


class TermSyntaxError(QueryError):
    """A term that is not PubMed syntax: "position N: problem". `kind` ("empty", "parens": unbalanced, "end": the
    term stops where more was needed, "syntax": anything else) lets the replay server keep its own wording."""

    def __init__(self, position: int, problem: str, kind: str = "syntax") -> None:
        self.position = position
        self.problem = problem
        self.kind = kind
        super().__init__(f"position {position}: {problem}")


# ---- the syntax tree ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tag:
    name: str  # stripped, lower case: "tiab", "mesh:noexp", "tiab:~3"
    text: str  # as written between the brackets
    pos: int  # of the '['


@dataclass(frozen=True)
class Leaf:
    """A word, an unquoted phrase (a tagged run of words, as written) or a quoted phrase (without quotes)."""

    text: str
    pos: int  # of its first character (the opening quote when quoted)
    quoted: bool = False
    tag: Tag | None = None

    @property
    def truncated(self) -> bool:
        return self.text.rstrip().endswith("*")


@dataclass(frozen=True)
class Range:
    """`start : end`, e.g. `"2020/01/01"[crdt] : "2020/12/31"[crdt]`; either end may carry the tag."""

    start: Leaf
    end: Leaf

    @property
    def tag(self) -> Tag | None:
        return self.start.tag or self.end.tag


@dataclass(frozen=True)
class Bool:
    op: str  # AND | OR | NOT
    left: Node
    right: Node


Node = Leaf | Range | Bool


# ---- tokens ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", ":", "op", "word", "quoted", "tag"
    text: str  # quoted: the phrase without quotes; tag: what is between the brackets
    pos: int  # 1-based position of the first character
    end: int  # 0-based index just past the token
    attached: bool = False  # tag: written straight after a word or closing quote


def tokenize(term: str) -> Iterator[Token]:
    """Tokens left to right; a quote or bracket without its partner is a TermSyntaxError when reached."""
    i, n = 0, len(term)
    last: Token | None = None
    while i < n:
        ch = term[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "():":
            token = Token(ch, ch, i + 1, i + 1)
        elif ch == "]":
            raise TermSyntaxError(i + 1, "']' without '['")
        elif ch == "[":
            attached = last is not None and last.kind in ("word", "quoted") and last.end == i
            close = term.find("]", i)
            if close < 0:
                detached = "field tag without a search term before it"
                raise TermSyntaxError(i + 1, "unbalanced bracket: '[' without ']'" if attached else detached)
            token = Token("tag", term[i + 1:close], i + 1, close + 1, attached)
        elif ch == '"':
            close = term.find('"', i + 1)
            if close < 0:
                raise TermSyntaxError(i + 1, "unbalanced quote")
            if not term[i + 1:close].strip():
                raise TermSyntaxError(i + 1, "empty quoted phrase")
            token = Token("quoted", term[i + 1:close], i + 1, close + 1)
        else:
            j = i
            while j < n and not term[j].isspace() and term[j] not in '()[]":':
                j += 1
            token = Token("op" if term[i:j] in _OPERATORS else "word", term[i:j], i + 1, j)
        yield token
        last = token
        i = token.end


# ---- the parser --------------------------------------------------------------------------------------------
def parse_term(term: str) -> Node:
    """The syntax tree of `term`; TermSyntaxError("position N: …") if it has none."""
    return _Parser(term, list(tokenize(term))).parse()


class _Parser:
    """expr := unit ((AND|OR|NOT)? unit)* ; unit := '(' expr ')' | terms (':' term)? — left to right.

    `check` sees every leaf as it is read, so a validator's complaints come in the order of the term.
    """

    def __init__(self, term: str, tokens: list[Token], check: Callable[[Leaf], None] | None = None) -> None:
        self.term = term
        self.tokens = tokens
        self.i = 0
        self.check = check or (lambda leaf: None)

    def parse(self) -> Node:
        if not self.tokens:
            raise TermSyntaxError(1, "empty search term", "empty")
        return self._expr(top=True)

    def _peek(self, kinds: tuple[str, ...] | None = None) -> Token | None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        return token if token is not None and (kinds is None or token.kind in kinds) else None

    def _expr(self, top: bool) -> Node:
        node = self._unit()
        while (token := self._peek()) is not None:
            if token.kind == ")":
                if top:
                    raise TermSyntaxError(token.pos, "unbalanced parenthesis: ')' without '('", "parens")
                return node
            op = "AND"  # side by side
            if token.kind == "op":
                self.i += 1
                following = self._peek()
                if following is None or following.kind in (")", "op"):
                    where = following.pos if following else len(self.term) + 1
                    raise TermSyntaxError(where, f"{token.text} without a search term after it",
                                          "syntax" if following else "end")
                op = token.text
            node = Bool(op, node, self._unit())
        return node

    def _unit(self) -> Node:
        token = self.tokens[self.i]  # callers made sure there is one
        if token.kind == "(":
            self.i += 1
            following = self._peek()
            if following is None:
                raise TermSyntaxError(token.pos, "unbalanced parenthesis: '(' never closed", "parens")
            if following.kind == ")":
                raise TermSyntaxError(token.pos, "empty group '()'")
            inner = self._expr(top=False)
            if self._peek((")",)) is None:
                raise TermSyntaxError(token.pos, "unbalanced parenthesis: '(' never closed", "parens")
            self.i += 1
            return inner
        if token.kind == "op":
            raise TermSyntaxError(token.pos, f"{token.text} without a search term before it")
        if token.kind == "tag":
            raise TermSyntaxError(token.pos, "field tag without a search term before it")
        if token.kind in (")", ":"):
            raise TermSyntaxError(token.pos, f"unexpected '{token.text}'")
        return self._terms()

    def _terms(self) -> Node:
        """A quoted phrase, or a run of words: with a tag one phrase, without one its words ANDed."""
        first = self.tokens[self.i]
        self.i += 1
        if first.kind == "quoted":
            return self._range(self._leaf(first, first.text))
        run = [first]
        while (word := self._peek(("word",))) is not None:
            run.append(word)
            self.i += 1
        if self._peek(("tag",)) is not None:
            return self._range(self._leaf(first, self.term[first.pos - 1:run[-1].end]))
        leaves = [self._leaf(word, word.text) for word in run]
        nodes: list[Node] = [*leaves[:-1], self._range(leaves[-1])]  # a range binds its nearest word
        return reduce(lambda left, right: Bool("AND", left, right), nodes)

    def _leaf(self, token: Token, text: str) -> Leaf:
        """`text`: the phrase as written in the term; a tag written after it is its tag."""
        tag_token = self._peek(("tag",))
        tag = None
        if tag_token is not None:
            self.i += 1
            tag = Tag(tag_token.text.strip().lower(), tag_token.text, tag_token.pos)
        leaf = Leaf(text, token.pos, token.kind == "quoted", tag)
        self.check(leaf)
        return leaf

    def _range(self, start: Leaf) -> Node:
        colon = self._peek((":",))
        if colon is None:
            return start
        self.i += 1
        end = self._peek(("word", "quoted"))
        if end is None:
            raise TermSyntaxError(colon.pos, "range ':' without an end term",
                                  "end" if self._peek() is None else "syntax")
        self.i += 1
        return Range(start, self._leaf(end, end.text))


# ---- the validator -----------------------------------------------------------------------------------------
def validate_term(term: str) -> None:
    """Raise QueryError("position N: …") if `term` is not valid PubMed syntax; positions are 1-based."""
    tokens: list[Token] = []
    for token in tokenize(term):  # tags are checked as they are read, before the structure
        if token.kind == "tag":
            _check_tag(token)
        tokens.append(token)
    _Parser(term, tokens, _check_leaf).parse()


def _check_tag(token: Token) -> None:
    if not token.attached:  # the parser takes "disc [tiab]" too; the validator keeps PubMed's documented form
        raise TermSyntaxError(token.pos, "field tag without a search term before it")
    tag = token.text.strip().lower()
    base, _, option = tag.partition(":")
    known = tag in FIELD_TAGS or (
        base in FIELD_TAGS and ((option == "noexp" and base in _NOEXP)
                                or (re.fullmatch(r"~\d+", option) is not None and base in _PROXIMITY)))
    if not known:
        raise TermSyntaxError(token.pos, f"unknown field tag [{token.text}]")


def _check_leaf(leaf: Leaf) -> None:
    offset = leaf.pos + (1 if leaf.quoted else 0)  # where leaf.text starts in the term
    for match in re.finditer(r"\S+", leaf.text):
        word = match.group()
        if not leaf.quoted and word.lower() in {"and", "or", "not"}:
            raise TermSyntaxError(offset + match.start(), f"Boolean operator '{word}' must be upper case")
        star = word.find("*")
        if star < 0:
            continue
        where = offset + match.start() + star
        if star != len(word) - 1:
            raise TermSyntaxError(where, "'*' is only allowed at the end of a word")
        if len(word) - 1 < _MIN_TRUNCATION:
            raise TermSyntaxError(where, f"truncation needs at least {_MIN_TRUNCATION} characters "
                                         f"before '*' ('{word}')")
