"""assess.cited.cross_check_crossref: PubMed's status of a cited study with Crossref's notices added. Pure."""

from __future__ import annotations

from datetime import date

from litwatch.pipeline.assess.cited import cross_check_crossref
from litwatch.pipeline.crossref import CrossrefUpdate
from litwatch.storage.records import CitedStudyStatus

DOI = "10.3389/fbioe.2023.1155357"


def status(s: str = "unchanged", notes: tuple[str, ...] = ()) -> CitedStudyStatus:
    return CitedStudyStatus(study_id="zhang-2023", label="Zhang 2023", pmid="1", status=s, notes=notes)  # type: ignore[arg-type]


def notice(kind: str, source: str = "retraction-watch", when: date | None = date(2025, 3, 2),
           doi: str = "10.5555/n") -> CrossrefUpdate:
    return CrossrefUpdate(kind=kind, doi=doi, source=source, date=when, label=kind)


def test_both_retracted_agree() -> None:
    out = cross_check_crossref(status("retracted", ("RetractionIn PMID 2",)), DOI, [notice("retraction")])
    assert out.status == "retracted"
    assert out.notes == ("RetractionIn PMID 2", "Crossref/Retraction Watch: retracted on 2025-03-02 (notice 10.5555/n)",
                         "PubMed and Crossref agree: retracted")


def test_pubmed_retracted_crossref_silent_disagree_and_status_stays() -> None:
    out = cross_check_crossref(status("retracted"), DOI, [])
    assert out.status == "retracted" and out.notes == ("PubMed: retracted; Crossref: no retraction notice",)


def test_worst_notice_wins_and_each_kind_and_source_is_noted_once() -> None:
    notices = [notice("correction", "publisher", date(2024, 1, 5)), notice("retraction", "publisher", None),
               notice("retraction", "publisher", date(2025, 1, 1)), notice("new_version", "publisher")]
    out = cross_check_crossref(status("mismatch"), DOI, notices)
    assert out.status == "retracted"
    assert out.notes == ("Crossref/publisher: corrected on 2024-01-05 (notice 10.5555/n)",
                         "Crossref/publisher: retracted on 2025-01-01 (notice 10.5555/n)",
                         "PubMed: no retraction notice; Crossref: retracted (publisher, 2025-01-01)")


def test_a_correction_only_crossref_knows_marks_the_study_corrected() -> None:
    out = cross_check_crossref(status("new"), DOI, [notice("erratum", "", date(2019, 4, 8), DOI)])
    assert out.status == "corrected"
    assert out.notes == ("Crossref: erratum on 2019-04-08 (in place)",
                         "PubMed: no correction; Crossref: corrected (2019-04-08)")


def test_no_record_is_a_note_and_changes_nothing_else() -> None:
    out = cross_check_crossref(status("changed", ("record changed",)), DOI, None)
    assert out.status == "changed" and out.notes == ("record changed", f"Crossref: no record of DOI {DOI}")
