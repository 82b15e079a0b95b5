"""Refuse hostile or foreign XML before any parser expands it.

An efetch body is checked in its prolog (everything before the root element's start tag), where the
dangerous parts of XML live: internal DTD subsets declare the entities of "billion laughs" bombs and
of external entities (`SYSTEM "file:///etc/passwd"`). PubMed's own prolog is an XML declaration plus
a DOCTYPE naming an external DTD, never an internal subset, so we accept exactly that shape (plus
comments and processing instructions) and refuse the rest. The check reads bytes; to make that
sound we also refuse encodings in which `<!ENTITY` would not be ASCII bytes (UTF-16/32, EBCDIC...).
Nothing here expands or even tokenises the document body, so a bomb costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

PROLOG_LIMIT = 64 * 1024  # a real prolog is ~250 bytes; anything longer than this is not PubMed
_ASCII_COMPATIBLE = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}

_WS = re.compile(rb"[ \t\r\n]*")
_XML_DECL = re.compile(rb"<\?xml(?P<attrs>[^?>]*)\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PI = re.compile(rb"<\?(?!xml[ \t\r\n?])[^?]*(?:\?(?!>)[^?]*)*\?>", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_QUOTED = rb"""(?:"[^"]*"|'[^']*')"""
_DOCTYPE = re.compile(
    rb"<!DOCTYPE[ \t\r\n]+(?P<name>[^\s>\[]+)"
    rb"(?:[ \t\r\n]+PUBLIC[ \t\r\n]+(?P<public>" + _QUOTED + rb")[ \t\r\n]+(?P<system1>" + _QUOTED + rb")"
    rb"|[ \t\r\n]+SYSTEM[ \t\r\n]+(?P<system2>" + _QUOTED + rb"))?"
    rb"[ \t\r\n]*>"
)
_ROOT = re.compile(rb"<(?P<name>[A-Za-z_][A-Za-z0-9_.:-]*)")
_DTD_NAME = re.compile(r"[A-Za-z0-9_.-]+\.dtd")


@dataclass(frozen=True)
class Prolog:
    """What the prolog says: the root element's name and the DTD its DOCTYPE names (if any)."""

    root: str
    doctype_name: str | None = None
    system_id: str | None = None

    @property
    def dtd_filename(self) -> str | None:
        if not self.system_id:
            return None
        return self.system_id.rstrip("/").rsplit("/", 1)[-1]


def check_prolog(head: bytes | memoryview, batch: str) -> Prolog:
    """Validate the start of a body (at least its first PROLOG_LIMIT bytes, or all of it) and describe it.

    Raises a one-line `ParseError` naming `batch` for: an empty body, a non-ASCII-compatible
    encoding, an internal DTD subset or ENTITY declaration, a DOCTYPE whose DTD is not a plain
    `*.dtd` file name, or no root element.
    """
    view = memoryview(head)[:PROLOG_LIMIT].tobytes()  # bounded copy: the prolog only
    if not view.strip():
        raise ParseError(f"{batch}: empty body (no XML at all)")
    if view.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00")) or view[:4] == b"\x3c\x00\x00\x00":
        raise ParseError(f"{batch}: refused XML in a UTF-16/UTF-32 encoding (PubMed sends UTF-8)")
    pos = 3 if view.startswith(b"\xef\xbb\xbf") else 0
    decl = _XML_DECL.match(view, pos)
    if decl is not None:
        encoding = _ENCODING.search(decl.group("attrs"))
        if encoding is not None and encoding.group(1).decode("ascii").lower() not in _ASCII_COMPATIBLE:
            raise ParseError(f"{batch}: refused XML in encoding {encoding.group(1).decode('ascii')!r} "
                             "(PubMed sends UTF-8)")
        pos = decl.end()
    doctype: re.Match[bytes] | None = None
    while True:
        pos = _WS.match(view, pos).end()
        if view.startswith(b"<!--", pos):
            comment = _COMMENT.match(view, pos)
            if comment is None:
                break
            pos = comment.end()
        elif view.startswith(b"<?", pos):
            pi = _PI.match(view, pos)
            if pi is None:
                break
            pos = pi.end()
        elif view.startswith(b"<!DOCTYPE", pos):
            doctype = _DOCTYPE.match(view, pos)
            if doctype is None:
                end = view.find(b">", pos)
                if b"[" in view[pos:end if end >= 0 else len(view)]:
                    raise ParseError(f"{batch}: refused a DOCTYPE with an internal DTD subset "
                                     "(ENTITY declarations: XML bomb or external entity)")
                raise ParseError(f"{batch}: refused a malformed DOCTYPE declaration")
            pos = doctype.end()
        else:
            break
    if len(view) >= PROLOG_LIMIT and _ROOT.match(view, pos) is None:
        raise ParseError(f"{batch}: no root element in the first {PROLOG_LIMIT // 1024} KiB")
    if view.startswith(b"<!", pos):
        raise ParseError(f"{batch}: refused a markup declaration in the prolog (ENTITY/ELEMENT/ATTLIST)")
    root = _ROOT.match(view, pos)
    if root is None:
        snippet = view[pos:pos + 40].decode("utf-8", "replace").split("\n", 1)[0]
        raise ParseError(f"{batch}: not XML (expected a root element, found {snippet!r})")
    return _describe(root.group("name").decode("utf-8", "replace"), doctype, batch)


def _describe(root: str, doctype: re.Match[bytes] | None, batch: str) -> Prolog:
    if doctype is None:
        return Prolog(root=root)
    quoted = doctype.group("system1") or doctype.group("system2")
    system_id = quoted[1:-1].decode("utf-8", "replace").strip() if quoted else None
    name = doctype.group("name").decode("utf-8", "replace")
    prolog = Prolog(root=root, doctype_name=name, system_id=system_id)
    filename = prolog.dtd_filename
    if filename is not None and not _DTD_NAME.fullmatch(filename):
        raise ParseError(f"{batch}: refused DOCTYPE system id {system_id!r} (not a .dtd file)")
    return prolog


__all__ = ["PROLOG_LIMIT", "Prolog", "check_prolog"]
