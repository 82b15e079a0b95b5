"""Crossref work JSON → CrossrefWork: the update types' spellings, dates, sources, and which entries are about the
work itself, on synthetic records and on the real third-party works (read in place)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from litwatch.pipeline.crossref import canonical_kind, parse_work
from tests.conftest import FIXTURES, third_party, third_party_files


def _work(path: Path):  # noqa: ANN202 - a CrossrefWork
    return parse_work(json.loads(path.read_bytes()))


def _crossref(name: str):  # noqa: ANN202
    return _work(third_party("crossref", name))


@pytest.mark.parametrize(("raw", "kind"), [
    ("retraction", "retraction"), ("Retraction", "retraction"), ("partial_retraction", "partial_retraction"),
    ("Partial Retraction", "partial_retraction"), ("expression_of_concern", "expression_of_concern"),
    ("expression-of-concern", "expression_of_concern"), ("Expression of Concern", "expression_of_concern"),
    ("withdrawal", "withdrawal"), ("withdrawn", "withdrawal"), ("removal", "removal"), ("Corrigendum", "correction"),
    ("correction", "correction"), ("erratum", "erratum"), ("new_version", "new_version"),
])
def test_publishers_spellings_fold_to_one_kind(raw: str, kind: str) -> None:
    assert canonical_kind(raw) == kind


def test_every_spelling_variant_of_a_work_parses_with_source_and_date() -> None:
    work = _work(FIXTURES / "crossref" / "spelling-variants.json")
    assert [u.kind for u in work.notices] == [
        "retraction", "partial_retraction", "expression_of_concern", "expression_of_concern", "withdrawal", "removal",
        "correction", "erratum",
    ]
    assert {u.source for u in work.notices} == {"publisher", "retraction-watch"}  # "Publisher" folded
    assert work.notices[0].date == date(2025, 1, 1)
    assert work.notices[-1].date == date(2025, 2, 1)  # month-only date-parts


def test_a_retraction_watch_entry_keeps_its_notice_doi_date_and_record_id() -> None:
    work = _work(FIXTURES / "crossref" / "10.3389_fbioe.2023.1155357.json")
    (notice,) = work.notices
    assert (notice.kind, notice.source, notice.date, notice.record_id) == (
        "retraction", "retraction-watch", date(2025, 3, 2), "99001")
    assert notice.doi == "10.5555/litwatch-synthetic.retraction-of-zhang-2023"


def test_the_retracted_surgisphere_paper_is_retracted_by_both_sources() -> None:
    work = _crossref("cyanheads__10.1016_s0140-6736_20_31180-6.trimmed.json")
    assert work.title.startswith("RETRACTED:")
    kinds = {(u.kind, u.source) for u in work.notices}
    assert {("retraction", "retraction-watch"), ("expression_of_concern", "retraction-watch"),
            ("retraction", "publisher"), ("erratum", "publisher")} <= kinds
    # its own update-to entries point at its notices: they are not updates of this paper
    assert all(u.direction == "updated-by" for u in work.notices)


def test_the_retraction_notice_is_not_read_as_retracted_itself() -> None:
    """The notice's publisher `updated-by` names the paper Retraction Watch says the notice retracts."""
    work = _crossref("cyanheads__10.1016_s0140-6736_20_31324-6.json")
    assert any(u.direction == "updated-by" for u in work.updates)
    assert work.notices == ()


def test_rw_retraction_with_a_publisher_erratum_for_the_same_notice() -> None:
    work = _crossref("cyanheads__10.1016_j.apsusc.2007.01.131.trimmed.json")
    assert {(u.kind, u.source) for u in work.notices} == {("retraction", "retraction-watch"), ("erratum", "publisher")}


def test_an_in_place_retraction_counts_once() -> None:
    work = _crossref("cyanheads__10.1109_icetce.2011.5774727.json")
    (notice,) = work.notices
    assert (notice.kind, notice.doi, notice.date) == ("retraction", work.doi, date(2011, 5, 27))


def test_a_correction_is_a_correction_and_pre_2025_records_have_no_source() -> None:
    plos = _crossref("habanero__works_10.1371_journal.pone.0033693.json")
    assert [(u.kind, u.source) for u in plos.notices] == [("correction", "publisher")]
    aps = _crossref("rcrossref__item_10.1103_physrevb.98.104436.json")  # a bare work, update-to its own DOI
    assert [(u.kind, u.source, u.date) for u in aps.notices] == [("correction", "", date(2019, 4, 8))]
    notice = _crossref("rcrossref__item_10.1371_journal.pone.0129989.json")  # a correction notice for another
    assert notice.notices == () and notice.updates[0].direction == "update-to"


WORKS = [p for p in third_party_files("crossref", "*.json") if "_400_" not in str(p)]  # a 400 is not a work


@pytest.mark.parametrize("path", WORKS, ids=lambda p: Path(p).name)
def test_every_real_work_parses(path: Path) -> None:
    data = json.loads(Path(path).read_bytes())
    work = parse_work(data)
    message = data.get("message", data)
    assert work.doi == message["DOI"] and work.title
    assert len(work.updates) == len(message.get("updated-by", [])) + len(message.get("update-to", []))
    assert all(u.kind and u.doi for u in work.updates)
