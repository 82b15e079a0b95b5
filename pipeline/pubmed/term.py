"""PubMed search-term syntax check: balanced parentheses and quotes, known field tags, operators between terms,
truncation rules. A term PubMed would quietly reinterpret must fail before a run, not after a week of misses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import QueryError

# --- PubMed term syntax --------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "op", "term", ":"
    text: str
    pos: int  # 1-based character position in the term
    tag: str | None = None
    quoted: bool = False


def validate_term(term: str) -> None:
    """Raise QueryError("position N: …") if `term` is not valid PubMed syntax; positions are 1-based."""
    tokens = _tokenise(term)
    if not tokens:
        raise QueryError("position 1: empty search term")
    _Parser(tokens, len(term)).parse()


def _tokenise(term: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(term)
    while i < n:
        ch = term[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, i + 1))
            i += 1
        elif ch == ":":
            tokens.append(_Token(":", ch, i + 1))
            i += 1
        elif ch == "]":
            raise QueryError(f"position {i + 1}: ']' without '['")
        elif ch == "[":
            raise QueryError(f"position {i + 1}: field tag without a search term before it")
        elif ch == '"':
            end = term.find('"', i + 1)
            if end < 0:
                raise QueryError(f"position {i + 1}: unbalanced quote")
            phrase = term[i + 1:end]
            if not phrase.strip():
                raise QueryError(f"position {i + 1}: empty quoted phrase")
            tag, j = _read_tag(term, end + 1)
            tokens.append(_Token("term", phrase, i + 1, tag, quoted=True))
            i = j
        else:
            j = i
            while j < n and not term[j].isspace() and term[j] not in '()[]":':
                j += 1
            word = term[i:j]
            if word in _OPERATORS:
                tokens.append(_Token("op", word, i + 1))
                i = j
                continue
            tag, k = _read_tag(term, j)
            tokens.append(_Token("term", word, i + 1, tag))
            i = k
    return tokens


def _read_tag(term: str, i: int) -> tuple[str | None, int]:
    if i >= len(term) or term[i] != "[":
        return None, i
    end = term.find("]", i)
    if end < 0:
        raise QueryError(f"position {i + 1}: unbalanced bracket: '[' without ']'")
    tag = term[i + 1:end].strip().lower()
    base, _, option = tag.partition(":")
    known = tag in FIELD_TAGS or (
        base in FIELD_TAGS and ((option == "noexp" and base in _NOEXP)
                                or (re.fullmatch(r"~\d+", option) is not None and base in _PROXIMITY)))
    if not known:
        raise QueryError(f"position {i + 1}: unknown field tag [{term[i + 1:end]}]")
    return tag, end + 1


class _Parser:
    """expr := unit ((AND|OR|NOT)? unit)* ; unit := '(' expr ')' | term (':' term)? — adjacency means AND."""

    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.length = length

    def parse(self) -> None:
        self._expr(top=True)

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _expr(self, top: bool) -> None:
        self._unit()
        while (tok := self._peek()) is not None:
            if tok.kind == ")":
                if top:
                    raise QueryError(f"position {tok.pos}: unbalanced parenthesis: ')' without '('")
                return
            if tok.kind == "op":
                self.i += 1
                nxt = self._peek()
                if nxt is None or nxt.kind in (")", "op"):
                    where = nxt.pos if nxt else self.length + 1
                    raise QueryError(f"position {where}: {tok.text} without a search term after it")
            self._unit()

    def _unit(self) -> None:
        tok = self._peek()
        if tok is None:
            raise QueryError(f"position {self.length + 1}: search term expected at the end")
        if tok.kind == "(":
            self.i += 1
            nxt = self._peek()
            if nxt is None:
                raise QueryError(f"position {tok.pos}: unbalanced parenthesis: '(' never closed")
            if nxt.kind == ")":
                raise QueryError(f"position {tok.pos}: empty group '()'")
            self._expr(top=False)
            close = self._peek()
            if close is None or close.kind != ")":
                raise QueryError(f"position {tok.pos}: unbalanced parenthesis: '(' never closed")
            self.i += 1
            return
        if tok.kind == "op":
            raise QueryError(f"position {tok.pos}: {tok.text} without a search term before it")
        if tok.kind in (")", ":"):
            raise QueryError(f"position {tok.pos}: unexpected '{tok.text}'")
        self._term(tok)
        self.i += 1
        colon = self._peek()
        if colon is not None and colon.kind == ":":  # a range: "2020/01/01"[crdt] : "…"[crdt]
            self.i += 1
            end = self._peek()
            if end is None or end.kind != "term":
                raise QueryError(f"position {colon.pos}: range ':' without an end term")
            self._term(end)
            self.i += 1

    def _term(self, tok: _Token) -> None:
        if not tok.quoted and tok.text.lower() in {"and", "or", "not"}:
            raise QueryError(f"position {tok.pos}: Boolean operator '{tok.text}' must be upper case")
        for match in re.finditer(r"\S+", tok.text):
            word = match.group()
            star = word.find("*")
            if star < 0:
                continue
            where = tok.pos + (1 if tok.quoted else 0) + match.start() + star
            if star != len(word) - 1:
                raise QueryError(f"position {where}: '*' is only allowed at the end of a word")
            if len(word) - 1 < _MIN_TRUNCATION:
                raise QueryError(f"position {where}: truncation needs at least {_MIN_TRUNCATION} characters "
                                 f"before '*' ('{word}')")
