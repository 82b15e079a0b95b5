"""Text hygiene for all a digest shows: inline-markup allowlist, inert control characters, Markdown escapes.

Titles and abstracts come from publishers via PubMed and may hold markup, entities or bidi overrides. The
digest must show them as text, except the five inline tags PubMed itself uses (<i>, <b>, <u>, <sup>, <sub>),
which we re-emit ourselves, attribute-free and balanced, whatever the input claimed to be.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset({"i", "b", "u", "sup", "sub"})
_DROP_CONTENT = frozenset({"script", "style", "template", "iframe", "object", "noscript", "title"})

# Bidi embeddings/overrides/isolates and marks reorder surrounding text (the "Trojan Source" trick);
# zero-width and C0/C1 controls other than tab/newline hide or break text. None carry meaning in a title.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Plain text safe to place anywhere: invisible/bidi controls removed, whitespace collapsed."""
    if not text:
        return ""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


class _InlineAllowlist(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.dropping += 1
        elif tag in ALLOWED_TAGS and not self.dropping:
            self.out.append(f"<{tag}>")  # attributes are never copied
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <br/>, <img/>...: nothing to keep in a one-line title

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.dropping = max(0, self.dropping - 1)
        elif tag in ALLOWED_TAGS and tag in self.open and not self.dropping:
            while self.open:  # close anything left open inside it, so the output stays balanced
                inner = self.open.pop()
                self.out.append(f"</{inner}>")
                if inner == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(clean_inline(data), quote=True))

    def result(self) -> str:
        self.close()
        tail = "".join(f"</{tag}>" for tag in reversed(self.open))
        return "".join(self.out) + tail


def clean_inline(text: str) -> str:
    """Like `clean_text` but keeps edge spaces, which separate words around inline tags."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text))


def sanitize_inline_html(fragment: str | None) -> str:
    """Reduce an HTML fragment to escaped text plus bare <i>/<b>/<u>/<sup>/<sub>. Idempotent."""
    if not fragment:
        return ""
    parser = _InlineAllowlist()
    parser.feed(fragment)
    return parser.result().strip()


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~!])")
_MD_SCHEME = re.compile(r"(?i)\b(javascript|vbscript|data|file|https?|ftp|mailto)(:)|\b(www)(\.)")


def escape_markdown(text: str | None) -> str:
    """Backslash-escape the Markdown/HTML metacharacters that matter inside a line (CommonMark allows it on
    any ASCII punctuation), keeping ordinary punctuation readable in the plain-text mail part.

    `&` is escaped so entities stay literal text, `<`/`>` so no raw HTML or autolinks, `[`/`]` so no link
    can be formed, and the `:` after a URL scheme (or the `.` after `www`) so no text turns into a link.
    """
    escaped = _MD_SPECIAL.sub(r"\\\1", clean_text(text))
    return _MD_SCHEME.sub(lambda m: f"{m.group(1) or m.group(3)}\\{m.group(2) or m.group(4)}", escaped)


__all__ = ["ALLOWED_TAGS", "clean_text", "escape_markdown", "sanitize_inline_html"]
