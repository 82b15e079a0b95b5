"""pipeline.pubmed.safety: the prolog gate in front of every parser (hostile and foreign bodies)."""

from __future__ import annotations

import pytest

from litwatch.pipeline.errors import ParseError
from litwatch.pipeline.pubmed.safety import PROLOG_LIMIT, Prolog, check_prolog
from tests.conftest import DOMAIN_RECORDS, body_of, eutils_bytes

PUBMED_DOCTYPE = (b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
                  b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')
SET = b"<PubmedArticleSet><PubmedArticle/></PubmedArticleSet>"
PUBMED_2025 = Prolog("PubmedArticleSet", "PubmedArticleSet", "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd")


@pytest.mark.parametrize(("body", "expected"), [
    (DOMAIN_RECORDS.read_bytes(), PUBMED_2025),
    (b'<?xml version="1.0" encoding="UTF-8"?>\n' + PUBMED_DOCTYPE + b"\n" + SET, PUBMED_2025),
    (b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?>" + PUBMED_DOCTYPE + SET, PUBMED_2025),  # UTF-8 BOM
    (b'<?xml version="1.0"?>\n<!-- a comment with <!ENTITY> text -->\n<?xml-stylesheet href="a.xsl"?>\n'
     + PUBMED_DOCTYPE + b"\n<!-- after -->" + SET, PUBMED_2025),
    (eutils_bytes("biopython__pubmed1_dtd2008.xml"),
     Prolog("PubmedArticleSet", "PubmedArticleSet", "http://www.ncbi.nlm.nih.gov/entrez/query/DTD/pubmed_080101.dtd")),
    (b'<!DOCTYPE PubmedArticleSet SYSTEM "pubmed_250101.dtd">' + SET,
     Prolog("PubmedArticleSet", "PubmedArticleSet", "pubmed_250101.dtd")),
    (SET, Prolog("PubmedArticleSet")),
    (eutils_bytes("biopython__pubmed3.html"), Prolog("html")),
    (eutils_bytes("biopython__efetch_pmc.xml", head=400, tail=b"..."), None),  # root named, DTD any .dtd
    (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + SET, Prolog("PubmedArticleSet")),
])
def test_accepted_prologs(body: bytes, expected: Prolog | None) -> None:
    prolog = check_prolog(body_of(body), "efetch batch 1")
    if expected is None:
        assert prolog.root == "pmc-articleset" and prolog.dtd_filename is not None
    else:
        assert prolog == expected
    if prolog.system_id:
        assert prolog.dtd_filename == prolog.system_id.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("body", "message"), [
    # billion laughs
    (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n <!ENTITY lol2 "&lol;&lol;&lol;">\n]>\n'
     b"<lolz>&lol2;</lolz>",
     r"refused a DOCTYPE with an internal DTD subset \(ENTITY declarations: XML bomb or external entity\)"),
    # external entities: a file, a URL, a parameter entity pulling in a remote DTD
    (b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     b"<PubmedArticleSet>&xxe;</PubmedArticleSet>", r"refused a DOCTYPE with an internal DTD subset"),
    (b'<!DOCTYPE PubmedArticleSet PUBLIC "x" "pubmed_250101.dtd" [<!ENTITY x SYSTEM "http://127.0.0.1/x">]>'
     + SET, r"refused a DOCTYPE with an internal DTD subset"),
    (b'<!DOCTYPE PubmedArticleSet [<!ENTITY % remote SYSTEM "http://127.0.0.1/evil.dtd"> %remote;]>' + SET,
     r"refused a DOCTYPE with an internal DTD subset"),
    # declarations outside a DOCTYPE, odd DOCTYPEs
    (b'<?xml version="1.0"?><!ENTITY lol "lol">' + SET,
     r"refused a markup declaration in the prolog \(ENTITY/ELEMENT/ATTLIST\)"),
    (b'<!DOCTYPE PubmedArticleSet SYSTEM "file:///etc/passwd">' + SET,
     r"refused DOCTYPE system id 'file:///etc/passwd' \(not a \.dtd file\)"),
    (b'<!DOCTYPE PubmedArticleSet PUBLIC "only-a-public-id">' + SET,
     r"refused a malformed DOCTYPE declaration"),
    # encodings in which the byte-level check would be blind
    ('<?xml version="1.0" encoding="UTF-16"?>'.encode("utf-16") + SET.decode().encode("utf-16-le"),
     r"refused XML in a UTF-16/UTF-32 encoding"),
    ('<?xml version="1.0"?><PubmedArticleSet/>'.encode("utf-16-be"),
     r"refused XML in a UTF-16/UTF-32 encoding"),
    (b'<?xml version="1.0" encoding="cp037"?>' + SET,
     r"refused XML in encoding 'cp037' \(PubMed sends UTF-8\)"),
    # not XML at all
    (b"", r"empty body \(no XML at all\)"),
    (b"   \n\t ", r"empty body"),
    (b"Search Backend failed: Exception:\n'database is not supported'",
     r"not XML \(expected a root element, found"),
    (b"{\"error\": \"API rate limit exceeded\"}", r"not XML \(expected a root element, found '\{\"error\""),
    (b"<!-- " + b"x" * PROLOG_LIMIT + b" -->" + SET, r"no root element in the first 64 KiB"),
])
def test_refused_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=rf"^efetch batch 2: {message}") as info:
        check_prolog(body, "efetch batch 2")
    assert "\n" not in str(info.value)


def test_only_the_prolog_is_read() -> None:
    # A bomb-sized body after a clean prolog costs one bounded slice: the body is never tokenised here.
    body = memoryview(b'<?xml version="1.0"?>' + PUBMED_DOCTYPE + b"<PubmedArticleSet>"
                      + b"&lol9;" * 5_000_000)
    assert check_prolog(body, "big").root == "PubmedArticleSet"
