"""PubMed inline markup (`<i> <b> <u> <sup> <sub>`, MathML) → plain text and a safe HTML subset.

Input is a string as Biopython's Entrez parser returns it with `escape=True`: character data
XML-escaped (`&amp;`, `&lt;`, `&gt;`) and the inline elements re-serialised as tags (MathML without
its `mml:` prefix, with an `xmlns`). So a `<` in the string is markup and `&lt;` is text — the one
form in which "<script>" typed by an author and `<i>` meant by PubMed can be told apart.

Output:
- `text`: the character data only; MathML becomes its text content (token whitespace trimmed, as
  MathML itself does; prescripts as PubMed prints isotopes: "(13)C").
- `html`: the same text, HTML-escaped, with only `<i> <b> <u> <sup> <sub>` kept as bare tags (no
  attributes). Every other element contributes its text only; MathML is rendered as its text.
Both are whitespace-normalised the same way: runs of XML whitespace (space, tab, CR, LF) become one
space, and the ends are stripped. Other Unicode spaces (NBSP, thin space...) and direction marks are
kept as they are. Text is joined exactly as the source joins it ("at the<i>TERT</i>gene" stays
"at theTERTgene"): we do not invent spaces.
"""

from __future__ import annotations

import html
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import unescape

log = logging.getLogger(__name__)

SAFE_TAGS = frozenset({"i", "b", "u", "sup", "sub"})
_XML_WS = re.compile(r"[ \t\r\n]+")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


def normalise_ws(value: str) -> str:
    """Collapse runs of XML whitespace to one space and strip the ends (the only change text undergoes)."""
    return _XML_WS.sub(" ", value).strip()


def plain(value: object) -> str:
    """Plain text of an escaped Biopython string (markup dropped, MathML as text), whitespace-normalised."""
    s = str(value)
    if "<" not in s:  # fast path: no markup, only the three escapes to undo
        return normalise_ws(unescape(s))
    return render(s).text


def render(fragment: object) -> Rendered:
    """Turn one escaped Biopython string into (text, safe html)."""
    s = str(fragment)
    if "<" not in s:
        text = normalise_ws(unescape(s))
        return Rendered(text, html.escape(text, quote=False))
    try:
        root = ET.fromstring(f"<r>{s}</r>")  # no DOCTYPE possible inside <r>: nothing to expand
    except ET.ParseError as exc:
        # Biopython re-serialises MathML attributes unescaped; a quote in one breaks the fragment.
        # Keep the text.
        log.warning("inline markup not re-parseable (%s); keeping its text only", exc)
        text = normalise_ws(unescape(_TAG.sub("", s)))
        return Rendered(text, html.escape(text, quote=False))
    text_parts: list[str] = []
    html_parts: list[str] = []
    _emit_children(root, text_parts, html_parts)
    return Rendered(normalise_ws("".join(text_parts)), normalise_ws("".join(html_parts)))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _add(value: str, text_parts: list[str], html_parts: list[str]) -> None:
    text_parts.append(value)
    html_parts.append(html.escape(value, quote=False))


def _emit_children(element: ET.Element, text_parts: list[str], html_parts: list[str]) -> None:
    if element.text:
        _add(element.text, text_parts, html_parts)
    for child in element:
        tag = _local(child.tag)
        if tag == "math":
            _add(mathml_text(child), text_parts, html_parts)
        elif tag in SAFE_TAGS:
            html_parts.append(f"<{tag}>")
            _emit_children(child, text_parts, html_parts)
            html_parts.append(f"</{tag}>")
        else:  # DispFormula or anything unknown: its text, never its tag
            _emit_children(child, text_parts, html_parts)
        if child.tail:
            _add(child.tail, text_parts, html_parts)


def mathml_text(element: ET.Element) -> str:
    """Text content of a MathML element; `<mmultiscripts>` prescripts printed as PubMed does: "(13)C"."""
    tag = _local(element.tag)
    if tag in ("none", "mprescripts"):
        return ""
    children = list(element)
    if tag == "mmultiscripts" and children:
        base, rest = children[0], children[1:]
        split = next((i for i, c in enumerate(rest) if _local(c.tag) == "mprescripts"), len(rest))
        post = "".join(mathml_text(c) for c in rest[:split])
        pre = "".join(mathml_text(c) for c in rest[split + 1:])
        return (f"({pre})" if pre else "") + mathml_text(base) + post
    parts = [(element.text or "").strip()]
    for child in children:
        parts.append(mathml_text(child))
        parts.append((child.tail or "").strip())
    return "".join(parts)


__all__ = ["SAFE_TAGS", "Rendered", "mathml_text", "normalise_ws", "plain", "render"]
