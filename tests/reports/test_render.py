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
from litwatch.storage.records import (
    AbstractSection,
    Accession,
    Article,
    Assessment,
    ClaimStance,
    Finding,
    Outcome,
    StoredArticle,
)
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
    assert data["format"] == "litwatch-digest/2"
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


HOSTILE_QUOTE = 'VAS fell <script>alert(11)</script> "by" [2](javascript:alert(13)) &amp; <svg/onload=alert(14)>'


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
        finding=Finding(
            "favours-treatment",
            True,
            (Outcome("VAS <b>x</b>", "1.5 [y](javascript:q)", "<i>pts</i>", "6\u202e months", HOSTILE_QUOTE),),
            statement=HOSTILE_QUOTE,
        ),
        stances=(ClaimStance("<claim>", "contradicts", "article says <script>alert(12)</script> [z](javascript:w)"),),
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
    return build_digest(dataclasses.replace(base, items=[row], query_labels={"<q>": "label <u>x</u>"},
                                            claim_labels={"<claim>": "para <em>graph</em>"}))


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
        "details",
        "summary",
        "i",
        "b",
        "u",
        "sup",
        "sub",
    }


def test_a_hostile_quote_statement_and_stance_are_text_in_html() -> None:
    page = render_html(_hostile_digest())
    assert "&lt;script&gt;alert(11)&lt;/script&gt;" in page and "&lt;script&gt;alert(12)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # the measure is text too
    assert "<em>graph</em>" not in page and "para &lt;em&gt;graph&lt;/em&gt;" in page  # and the claim's label
    assert "&lt;svg/onload=alert(14)&gt;" in page and "<svg" not in page
    assert "\u202e" not in page and "6 months" in page
    assert "<strong>Found:</strong> Better than control at 6 months" in page


def test_a_hostile_quote_statement_and_stance_are_text_in_markdown_and_atom() -> None:
    text = render_markdown(_hostile_digest())
    assert "<svg/onload=alert(14)>" not in text and "javascript:" not in text
    assert r"VAS fell \<script\>alert(11)\</script\>" in text  # the statement
    assert r"article says \<script\>alert(12)\</script\>" in text  # the stance's reason
    links = re.findall(r"(?<!\\)\]\(([^)\s]*)\)", text)
    assert links and all(u.startswith("https://") for u in links), links
    feed = render_atom(_hostile_digest(), "https://example.org/feed.atom")
    root = ET.fromstring(feed)
    summary = next(e for e in root.findall(f"{ATOM}entry") if "12345678" in e.findtext(f"{ATOM}id")).findtext(
        f"{ATOM}summary")
    assert "Contradicts para <em>graph</em>: article says <script>alert(12)</script>" in summary  # text, not markup
    assert "<script" not in feed


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
    card = _card(page, "pmid-99000021")
    folded = card[card.index("<details"):card.index("</details>")]  # the trace is folded, whole
    assert "<summary" in folded and "How it was judged</summary>" in folded
    assert "Condition: discogenic low back pain; title: randomised; no study population" in folded
    assert "Found by: Exosomes / extracellular vesicles" in folded
    assert "<strong>Why:</strong> Randomised sham-controlled trial in humans" in card
    assert card.index("<strong>Why:</strong>") < card.index("<details")


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


def _card(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    return page[start:page.index("</td></tr>", start)]


def test_html_card_leads_with_what_it_found_and_what_it_means_for_the_article(digest: Digest) -> None:
    card = _card(render_html(digest), "pmid-99000118")
    order = ["<strong>Found:</strong> Improved from baseline, no control group (VAS and ODI P &lt; 0.00001",
             "<strong>For the article:</strong>",
             '<strong class="lw-bad" style="color:#b91c1c;">Outdates</strong> '
             "<em>clinical evidence — meta-analysis paragraph</em>: <span dir=\"auto\">article: 9 studies/245",
             "<strong>Unclear for</strong> <em>benefits and FAQ — safety claims</em>",
             "<strong>Why:</strong>", "<details", "How it was judged</summary>",
             'VAS and ODI: &#34;showed significant improvement ODI and VAS (P &lt; 0.00001)&#34;', "</details>"]
    positions = [card.index(part) for part in order]
    assert positions == sorted(positions)


def test_a_card_without_a_finding_has_no_found_line(digest: Digest) -> None:
    """The title-only RCT has stances but no finding: no "Found:" line (and never "None"), in every format."""
    html_card = _card(render_html(digest), "pmid-99000021")
    md = render_markdown(digest)
    md_card = md[md.index("### [Bone marrow concentrate"):]
    md_card = md_card[:md_card.index("\n### ")]
    feed = ET.fromstring(render_atom(digest, "https://example.org/feed.atom"))
    atom_card = next(e.findtext(f"{ATOM}summary") for e in feed.findall(f"{ATOM}entry")
                     if e.findtext(f"{ATOM}title").startswith("Bone marrow concentrate"))
    for card in (html_card, md_card, atom_card):
        assert "Found:" not in card and "None" not in card
        assert "For the article:" in card and "Extends" in card


def test_json_items_carry_the_finding_and_the_stance_per_claim(digest: Digest) -> None:
    data = json.loads(render_json(digest))
    review, rct = data["action_needed"]
    finding = review["finding"]
    assert {"direction", "controlled", "outcomes", "statement"} <= set(finding)
    assert (finding["direction"], finding["controlled"]) == ("favours-treatment", False)
    assert finding["outcomes"][0] == {
        "measure": "VAS and ODI", "value": "P < 0.00001", "unit": "", "timepoint": "",
        "quote": "showed significant improvement ODI and VAS (P < 0.00001)"}
    assert review["stance"]["meta-analysis"]["stance"] == "outdates"
    assert review["stance"]["meta-analysis"]["reason"].startswith("article: 9 studies/245 patients")
    assert review["stance"]["safety"] == {"stance": "unclear", "reason": "the abstract gives no adverse-event numbers"}
    assert rct["finding"] is None and rct["stance"] == {"dream-rct": {"stance": "extends", "reason": rct["stance"][
        "dream-rct"]["reason"]}}


def test_every_golden_quote_is_in_its_record() -> None:
    """The hand-made findings obey the rule the assessor must: a number's quote is verbatim record text."""
    for row in golden_input().items:
        finding = row.assessment.finding if row.assessment else None
        text = row.article.title + " " + " ".join(s.text for s in row.article.abstract)
        for quote in [o.quote for o in (finding.outcomes if finding else ())] + [finding.statement if finding else ""]:
            assert quote in text, (row.article.pmid, quote)
