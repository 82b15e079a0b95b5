"""Rendering: golden files for each format, a valid Atom feed, and hostile input rendered inert everywhere."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from litwatch.reports.digest import Digest, build_digest
from litwatch.reports.render import render_atom, render_html, render_json, render_markdown
from litwatch.storage.records import AbstractSection, Accession, Article, Assessment, StoredArticle
from tests.reports.conftest import golden_input

GOLDEN = Path(__file__).parent / "golden"
IN_PAGE = re.compile(r"#(pmid|cited)-[0-9A-Za-z_-]+")  # the action list's jumps to the cards below
REGEN = os.environ.get("LITWATCH_REGEN_GOLDEN") == "1"
ATOM = "{http://www.w3.org/2005/Atom}"


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), (
        f"{path} missing: run with LITWATCH_REGEN_GOLDEN=1 to create it, then review the diff"
    )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), f"golden/{name}", "rendered", n=2
            )
        )
        pytest.fail(f"{name} differs from its golden file (LITWATCH_REGEN_GOLDEN=1 regenerates it):\n{diff}")


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("digest.html", render_html),
        ("digest.md", render_markdown),
        ("digest.json", render_json),
        ("digest.atom", lambda d: render_atom(d, "https://example.org/litwatch/feed.atom")),
    ],
)
def test_golden(digest: Digest, name: str, render) -> None:
    _check_golden(name, render(digest))


def test_rendering_is_deterministic() -> None:
    assert render_html(build_digest(golden_input())) == render_html(build_digest(golden_input()))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.styles: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        self.styles.extend((tag, v or "") for k, v in attrs if k == "style")
        self.hrefs.extend(v or "" for k, v in attrs if k == "href")


def test_html_is_a_complete_email_safe_page(digest: Digest) -> None:
    page = render_html(digest)
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta name="color-scheme" content="light dark">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "max-width:640px" in page
    assert page.rstrip().endswith("</html>")
    collected = _Collector()
    collected.feed(page)
    assert "script" not in collected.tags and "img" not in collected.tags
    assert all(h.startswith("https://") or IN_PAGE.fullmatch(h) for h in collected.hrefs), collected.hrefs
    # dark-mode safety: every block (body, td) that sets a text colour sets its background too, and vice versa
    blocks = [style for tag, style in collected.styles if tag in ("body", "td", "table")]
    coloured = [s for s in blocks if re.search(r"(^|;)color:", s) or "background-color:" in s]
    assert coloured and all(re.search(r"(^|;)color:", s) and "background-color:" in s for s in coloured), [
        s for s in coloured if not (re.search(r"(^|;)color:", s) and "background-color:" in s)
    ]
    assert str(escape(digest.headline)) in page


def test_json_is_stable_and_complete(digest: Digest) -> None:
    data = json.loads(render_json(digest))
    assert data["format"] == "litwatch-digest/1"
    assert data["week"] == "2026-W47" and data["period_end"] == "2026-11-20T06:00:00+00:00"
    assert data["action_count"] == 4 and data["run_health_ok"] is False
    assert data["tally"] == "12 records: 4 need action, 3 worth a look, 5 for awareness"
    assert [i["pmid"] for i in data["action_needed"]] == ["99000118", "99000021"]
    assert [c["record"]["pmid"] for c in data["cited_alerts"]] == ["99000023", "99000022"]
    assert render_json(digest) == json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def test_atom_feed_has_one_entry_per_action_and_review_item(digest: Digest) -> None:
    root = ET.fromstring(render_atom(digest, "https://example.org/feed.atom"))
    entries = root.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(entries) == len(digest.cited_alerts) + len(digest.action_needed) + len(digest.worth_a_look)
    assert len(set(ids)) == len(ids)
    item = digest.action_needed[0]
    assert f"tag:litwatch,2026:{item.pmid}/{item.content_hash}" in ids
    assert root.findtext(f"{ATOM}updated") == "2026-11-20T06:05:00Z"
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e.findtext(f"{ATOM}updated")) for e in entries
    )


HOSTILE_TITLE = (
    "Exosomes <script>alert(1)</script> in IL-1<i>β</i> discs<sup>2+</sup> "
    "[click](javascript:alert(2)) &amp; &lt;b&gt; \u202egnp.exe\u202c"
)
HOSTILE_HTML = (
    "Exosomes &lt;script&gt;alert(1)&lt;/script&gt; <script>alert(3)</script> in IL-1"
    '<i onclick="alert(4)" style="x">β</i> discs<sup>2+</sup> <a href="javascript:alert(5)">click</a> '
    "<img src=x onerror=alert(6)> &amp;amp; \u202egnp.exe\u202c"
)


def _hostile_digest() -> Digest:
    article = Article(
        pmid="12345678",
        title=HOSTILE_TITLE,
        title_html=HOSTILE_HTML,
        journal="J <b>Bad</b> & Co",
        doi='10.1000/x"><script>alert(7)</script>',
        pub_date="2026 Nov",
        abstract=(
            AbstractSection(
                text="CONCLUSIONS: <script>alert(8)</script> javascript:alert(9) works.",
                html="",
                label="CONCLUSIONS",
                category="CONCLUSIONS",
            ),
        ),
        accessions=(
            Accession("ClinicalTrials.gov", "NCT01234567"),
            Accession("ClinicalTrials.gov", "NCT1 javascript:alert(10)"),
        ),
    )
    assessment = Assessment(
        pmid="12345678",
        verdict="update",
        design="rct",
        population="human",
        condition="disc-degeneration",
        reasons=("<b>bold</b> reason [x](javascript:y)",),
        ruleset_version="t",
        claims=("Claim <script>z</script>",),
    )
    base = golden_input()
    when = base.period_start
    row = StoredArticle(
        article=article,
        content_hash=article.content_hash,
        first_seen=when,
        last_seen=when,
        last_changed=when,
        query_ids=("<q>",),
        assessment=assessment,
    )
    return build_digest(dataclasses.replace(base, items=[row], query_labels={"<q>": "label <u>x</u>"}))


def test_hostile_title_is_inert_in_html() -> None:
    page = render_html(_hostile_digest())
    assert (
        "<script" not in page.lower()
        and "<img" not in page
        and "onclick" not in page
        and "onerror=" not in page
    )
    assert 'href="javascript' not in page and "javascript:alert(5)" not in page
    assert "IL-1<i>β</i> discs<sup>2+</sup>" in page  # the allowed inline markup survives, bare
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # an escaped tag stays visible text
    assert "&amp;amp;" in page  # an entity in the source stays literal
    assert "\u202e" not in page and "gnp.exe" in page
    assert "https://doi.org/10.1000/x%22%3E%3Cscript%3Ealert%287%29%3C/script%3E" in page
    assert "https://clinicaltrials.gov/study/NCT01234567" in page and "NCT1 javascript" not in page
    collected = _Collector()
    collected.feed(page)
    assert all(h.startswith("https://") or IN_PAGE.fullmatch(h) for h in collected.hrefs)
    assert set(collected.tags) <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "table",
        "tr",
        "td",
        "div",
        "span",
        "a",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "br",
        "i",
        "b",
        "u",
        "sup",
        "sub",
    }


def test_hostile_title_is_inert_in_atom() -> None:
    feed = render_atom(_hostile_digest(), "https://example.org/feed.atom")
    root = ET.fromstring(feed)  # still well-formed XML
    entry = next(e for e in root.findall(f"{ATOM}entry") if "12345678" in e.findtext(f"{ATOM}id"))
    assert entry.find(f"{ATOM}title").get("type") == "text"
    assert "<script>alert(1)</script>" in entry.findtext(f"{ATOM}title")  # as text, not markup
    assert "<script" not in feed and "\u202e" not in feed
    hrefs = [link.get("href") for link in root.iter(f"{ATOM}link")]
    assert all(h.startswith("https://") for h in hrefs)


def test_hostile_title_is_inert_in_markdown() -> None:
    text = render_markdown(_hostile_digest())
    assert "<script>" not in text and "<b>" not in text and "<u>" not in text
    assert r"\<script\>alert(1)\</script\>" in text
    assert r"\[click\](javascript\:alert(2))" in text
    assert not re.search(r"(?<!\\)\]\((?!https://)", text)  # every real link target is https
    assert "javascript:" not in text
    assert r"\&amp; \&lt;b\&gt;" in text
    assert "\u202e" not in text
    links = re.findall(r"(?<!\\)\]\(([^)\s]*)\)", text)
    assert links and all(u.startswith("https://") for u in links), links


def test_markdown_shows_writer_reasons_only(digest: Digest) -> None:
    page = render_markdown(digest)
    assert "signal:" not in page and "no study population stated" not in page
    assert "Journal not given" not in page
    assert "- **Why:** Randomised sham-controlled trial in humans" in page


def test_html_folds_signals_into_small_print(digest: Digest) -> None:
    page = render_html(digest)
    assert "signal:" not in page
    assert "How it was judged: Condition: discogenic low back pain; title: randomised; no study population" in page
    assert "<strong>Why:</strong> Randomised sham-controlled trial in humans" in page


def test_html_action_list_jumps_to_the_cards_which_say_when_pubmed_added_them(digest: Digest) -> None:
    page = render_html(digest)
    collected = _Collector()
    collected.feed(page)
    jumps = [h[1:] for h in collected.hrefs if h.startswith("#")]
    ids = {v for k, v in collected.attrs if k == "id"}
    assert len(jumps) == len(digest.summary) and set(jumps) <= ids  # every action line lands on its card
    assert "added to PubMed 2026-10-31" in page  # the Entrez date, as the Markdown shows it
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/26552484/"' in page  # a real PMID links to PubMed


@pytest.mark.parametrize("render", [render_html, render_markdown, render_json,
                                    lambda d: render_atom(d, "https://example.org/feed.atom")])
def test_placeholder_pmids_link_by_doi_never_to_a_missing_pubmed_page(digest: Digest, render) -> None:
    text = render(digest)
    assert "pubmed.ncbi.nlm.nih.gov/99" not in text  # 99000001+ are placeholders: no such PubMed page
    assert "https://doi.org/10.1016/j.inpm.2025.100611" in text
