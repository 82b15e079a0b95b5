"""The article's cited studies: matching a record to one, and what PubMed now says about each (assess/cited.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from litwatch.pipeline.assess import check_cited_study, match_cited
from litwatch.storage.records import CommentCorrection, MeshHeading, PublicationType
from tests.pipeline.assess.test_verdict import DOMAIN, PROFILE, art


def test_match_cited_by_title_and_pmid() -> None:
    zhang = next(s for s in PROFILE.cited if s.id == "zhang-2023")
    assert match_cited(art(zhang.title.upper() + "."), PROFILE.cited)[0] == zhang
    with_pmid = replace(PROFILE, cited=(replace(zhang, pmid="123"),))
    assert match_cited(art("Something else", pmid="123"), with_pmid.cited) == (with_pmid.cited[0], "PMID 123")
    assert match_cited(art("Something else"), PROFILE.cited) == (None, "")


def test_the_same_title_under_another_identifier_is_another_publication() -> None:
    """A Cochrane review keeps its title across protocol and versions: the protocol (another DOI) and a record
    with another real PMID are not the cited review; a placeholder PMID says nothing either way."""
    by_doi = next(s for s in PROFILE.cited if s.id == "zhang-2023")  # the article gives its DOI, no PMID
    same_title = by_doi.title or ""
    assert match_cited(art(same_title, doi="10.9999/protocol"), (by_doi,)) == (None, "")
    assert match_cited(art(same_title, doi=None), (by_doi,)) == (by_doi, "title")
    zhang = replace(by_doi, pmid="37000001", doi=None)
    assert match_cited(art(same_title, pmid="36999999", doi=None), (zhang,)) == (None, "")
    assert match_cited(art(same_title, pmid="99000001", doi=None), (zhang,)) == (zhang, "title")
    assert match_cited(art(same_title, pmid="37000001"), (zhang,))[0] == zhang


# --- watching the cited studies ---------------------------------------------------------------------------

DREAM = next(s for s in PROFILE.cited if s.id == "dream-2025")
ZHANG = next(s for s in PROFILE.cited if s.id == "zhang-2023")


def test_citation_check_flags_the_journal_the_article_gets_wrong() -> None:
    status = check_cited_study(DREAM, DOMAIN["99000022"], None)
    assert status.status == "mismatch"
    assert "article says 'Pain Medicine'; PubMed: JOR Spine (2025)" in status.notes


def test_citation_check_accepts_journal_abbreviations() -> None:
    status = check_cited_study(ZHANG, DOMAIN["99000026"], None)  # "Front. Bioeng. Biotechnol."
    assert (status.status, status.notes) == ("new", ())
    again = check_cited_study(ZHANG, DOMAIN["99000026"], DOMAIN["99000026"])
    assert again.status == "unchanged"
    wrong_year = replace(ZHANG, article_says={"year": 2021})
    assert check_cited_study(wrong_year, DOMAIN["99000026"], None).notes == (
        "article says 2021; PubMed: Front. Bioeng. Biotechnol. (2023)",)


@pytest.mark.parametrize(("change", "status", "note"), [
    ({"comments_corrections": (CommentCorrection("RetractionIn", "41"),)}, "retracted",
     "new: RetractionIn PMID 41"),
    ({"comments_corrections": (CommentCorrection("ExpressionOfConcernIn", "42"),)}, "concern",
     "new: ExpressionOfConcernIn PMID 42"),
    ({"comments_corrections": (CommentCorrection("ErratumIn", "43"),)}, "corrected",
     "new: ErratumIn PMID 43"),
    ({"publication_types": (PublicationType("D016441", "Retracted Publication"),)}, "retracted",
     "new: publication type Retracted Publication"),
    ({"version": 2, "mesh": (MeshHeading("D0", "Humans"),)}, "changed",
     "record changed: version 1 → 2, MeSH changed"),
])
def test_citation_check_sees_what_changed(change: dict, status: str, note: str) -> None:
    before = DOMAIN["99000026"]
    after = replace(before, **change)
    result = check_cited_study(ZHANG, after, before)
    assert result.status == status and note in result.notes
    if status != "changed":  # once seen, the link is no longer "new" but the status stays
        again = check_cited_study(ZHANG, after, after)
        assert again.status == status and not any(n.startswith("new:") for n in again.notes)


def test_citation_check_not_found() -> None:
    status = check_cited_study(DREAM, None, None)
    assert status.status == "not-found"
    assert status.notes == ("no PubMed record found for DOI 10.1002/jsp2.70086",)
