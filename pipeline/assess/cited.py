"""The studies a watched article cites: is this record one of them, a notice about one, or a follow-up of one;
and what PubMed now says about each (retracted, corrected, changed, or not what the article says). Pure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from functools import lru_cache
from typing import Protocol

from litwatch.storage.records import Article, CitedStudyStatus, is_placeholder_pmid

from ..watchlist import CitedStudy, WatchedArticle
from .design import NOTICES
from .text import Text

# PubMed links on a cited study that mean the article's evidence needs a look, and the status each gives.
PROBLEM_LINKS = {"RetractionIn": "retracted", "ExpressionOfConcernIn": "concern", "ErratumIn": "corrected",
                 "UpdateIn": "corrected"}
# Links that make a record a notice *about* another one.
_NOTICE_LINKS = {"RetractionOf", "ErratumFor", "ExpressionOfConcernFor", "UpdateOf"}
_NCT = re.compile(r"\bNCT\d{8}\b")


@lru_cache(maxsize=4096)  # cited studies' titles are normalised again for every record assessed
def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"^\s*\[?(retracted|retraction)\]?:?\s*", "", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def normalise_doi(doi: str) -> str:
    return re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", doi.strip().lower())


def match_cited(article: Article, studies: tuple[CitedStudy, ...]) -> tuple[CitedStudy | None, str]:
    """The cited study this record *is* (PMID, DOI or normalised title), and how it was matched."""
    title = normalise_title(article.title)
    for study in studies:
        if study.pmid and study.pmid == article.pmid:
            return study, f"PMID {article.pmid}"
        if study.doi and article.doi and normalise_doi(study.doi) == normalise_doi(article.doi):
            return study, f"DOI {article.doi}"
        if study.title and title and normalise_title(study.title) == title and not _other_publication(study, article):
            return study, "title"
    return None, ""


def _other_publication(study: CitedStudy, article: Article) -> bool:
    """Same title, but an identifier says it is another publication: a review's protocol or earlier version, a
    conference abstract, a reprint (Cochrane reviews keep their title across protocol and versions)."""
    if study.pmid and article.pmid and study.pmid != article.pmid and not is_placeholder_pmid(article.pmid):
        return True
    return bool(study.doi and article.doi and normalise_doi(study.doi) != normalise_doi(article.doi))


def notice_target(article: Article, design: str, profile: WatchedArticle, text: Text
                  ) -> tuple[CitedStudy, str] | None:
    """A retraction/erratum/concern/update notice pointing at a cited study (`design`: the record's own)."""
    links = [link for link in article.comments_corrections if link.ref_type in _NOTICE_LINKS]
    if design not in NOTICES and not links:
        return None
    body = text.body.lower()
    norm_body = normalise_title(body)
    for study in profile.cited:
        for link in links:
            if study.pmid and link.pmid == study.pmid:
                return study, f"{link.ref_type} PMID {link.pmid}"
            if study.doi and normalise_doi(study.doi) in link.ref_source.lower():
                return study, f"{link.ref_type} {study.doi}"
        if study.doi and normalise_doi(study.doi) in body:
            return study, f"names DOI {study.doi}"
        if study.title and normalise_title(study.title) in norm_body:
            return study, "names its title"
    return None


def related_to_cited(article: Article, profile: WatchedArticle, text: Text) -> tuple[CitedStudy, str] | None:
    """Shared trial registration, trial name, or a citation/link to a cited PMID."""
    body = text.body
    ncts = set(article.nct_ids) | (set(_NCT.findall(body)) if "NCT" in body else set())
    for study in profile.cited:
        shared = ncts & set(study.nct_ids)
        if shared:
            return study, f"same trial registration {sorted(shared)[0]}"
        for name in study.trial_names:
            flags = 0 if name.isupper() else re.IGNORECASE  # acronyms: "DREAM" is a trial, "dream" a word
            if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", body, flags):
                return study, f"trial name {name}"
        if study.pmid and (study.pmid in article.references
                           or any(link.pmid == study.pmid for link in article.comments_corrections)):
            return study, f"cites PMID {study.pmid}"
    return None


def check_cited_study(
    study: CitedStudy, current: Article | None, previous: Article | None
) -> CitedStudyStatus:
    """What PubMed now says about a study the article cites, compared with the last version seen."""
    if current is None:
        where = f"PMID {study.pmid}" if study.pmid else (f"DOI {study.doi}" if study.doi else "no identifier")
        return CitedStudyStatus(study_id=study.id, label=study.label, pmid=study.pmid, status="not-found",
                                notes=(f"no PubMed record found for {where}",))
    notes: list[str] = []
    states: set[str] = set()
    before = {(c.ref_type, c.pmid) for c in previous.comments_corrections} if previous else set()
    for link in current.comments_corrections:
        if link.ref_type in PROBLEM_LINKS:
            states.add(PROBLEM_LINKS[link.ref_type])
            new = "new: " if previous is not None and (link.ref_type, link.pmid) not in before else ""
            notes.append(f"{new}{link.ref_type} PMID {link.pmid or '?'} {link.ref_source}".rstrip())
    types = {pt.name for pt in current.publication_types}
    old_types = {pt.name for pt in previous.publication_types} if previous else set()
    for name, state in (("Retracted Publication", "retracted"), ("Expression of Concern", "concern")):
        if name in types:
            states.add(state)
            new = "new: " if previous is not None and name not in old_types else ""
            notes.append(f"{new}publication type {name}")
    notes.extend(_article_says_mismatches(study, current))
    if any(n.startswith("article says") for n in notes):
        states.add("mismatch")
    if previous is not None and previous.content_hash != current.content_hash:
        states.add("changed")
        notes.append(_what_changed(previous, current))
    for status in ("retracted", "concern", "corrected", "mismatch", "changed"):
        if status in states:
            break
    else:
        status = "unchanged" if previous is not None else "new"
    return CitedStudyStatus(study_id=study.id, label=study.label, pmid=current.pmid, status=status,  # type: ignore
                            notes=tuple(notes))


def _article_says_mismatches(study: CitedStudy, current: Article) -> list[str]:
    notes = []
    year = f" ({current.pub_year})" if current.pub_year else ""
    where = f"{current.journal or current.journal_abbrev}{year}"
    journal = study.article_says.get("journal")
    if isinstance(journal, str) and not (_same_journal(journal, current.journal)
                                         or _same_journal(journal, current.journal_abbrev)):
        notes.append(f"article says '{journal}'; PubMed: {where}")
    year = study.article_says.get("year")
    if isinstance(year, int) and current.pub_year is not None and year != current.pub_year:
        notes.append(f"article says {year}; PubMed: {where}")
    return notes


_STOP = {"and", "of", "the", "in", "for", "on", "&", "journal"}


def _same_journal(said: str, pubmed: str) -> bool:
    """Full name vs full name or ISO abbreviation ("Front. Bioeng. Biotechnol." is "Frontiers in
    Bioengineering and Biotechnology"): every abbreviated word is a prefix of the corresponding full word."""
    if not pubmed:
        return False
    a = [w for w in re.findall(r"[a-z0-9]+", said.lower()) if w not in _STOP]
    b = [w for w in re.findall(r"[a-z0-9]+", pubmed.lower()) if w not in _STOP]
    if a == b:
        return True
    if len(a) != len(b) or not a:
        return False
    return all(x.startswith(y) or y.startswith(x) for x, y in zip(a, b, strict=True))


def _what_changed(previous: Article, current: Article) -> str:
    parts = []
    if previous.version != current.version:
        parts.append(f"version {previous.version} → {current.version}")
    if {p.name for p in previous.publication_types} != {p.name for p in current.publication_types}:
        parts.append("publication types changed")
    if {m.descriptor for m in previous.mesh} != {m.descriptor for m in current.mesh}:
        parts.append("MeSH changed")
    if previous.status != current.status:
        parts.append(f"status {previous.status or '?'} → {current.status or '?'}")
    if previous.title != current.title or previous.abstract != current.abstract:
        parts.append("title/abstract changed")
    return "record changed: " + (", ".join(parts) if parts else "bibliographic details")


# --- Crossref's view of a cited study (the Retraction Watch database and publishers' notices) ----------------

class CrossrefNotice(Protocol):
    """One update of a work as Crossref lists it (`litwatch.pipeline.crossref.CrossrefUpdate` is one)."""

    @property
    def kind(self) -> str: ...  # canonical: retraction, partial_retraction, removal, withdrawal, correction, …
    @property
    def doi(self) -> str: ...
    @property
    def source(self) -> str: ...  # retraction-watch | publisher | "" (records deposited before 2025)
    @property
    def date(self) -> date | None: ...


# Crossref update kinds → the cited-study status they give; other kinds (new_version, addendum…) give none.
CROSSREF_STATUS = {"retraction": "retracted", "partial_retraction": "retracted", "removal": "retracted",
                   "withdrawal": "retracted", "expression_of_concern": "concern", "correction": "corrected",
                   "erratum": "corrected"}
_CROSSREF_WORDS = {"retraction": "retracted", "partial_retraction": "partially retracted", "removal": "removed",
                   "withdrawal": "withdrawn", "expression_of_concern": "expression of concern",
                   "correction": "corrected", "erratum": "erratum"}
_SOURCE_NAMES = {"retraction-watch": "Retraction Watch", "publisher": "publisher"}
_STATUS_WORDS = {"retracted": "retracted", "concern": "expression of concern", "corrected": "corrected"}
_NO_NOTICE = {"retracted": "no retraction notice", "concern": "no expression of concern",
              "corrected": "no correction"}
# Worst first: the order `check_cited_study` picks a status in.
_SEVERITY = ("retracted", "concern", "corrected", "mismatch", "changed", "not-found")


def cross_check_crossref(
    status: CitedStudyStatus, doi: str, notices: Sequence[CrossrefNotice] | None, own_doi: str = ""
) -> CitedStudyStatus:
    """PubMed's `status` of a cited study with what Crossref says of its DOI added: a retraction or expression of
    concern in Crossref makes the status retracted/concern even while PubMed shows nothing, one note per notice
    ("Crossref/Retraction Watch: retracted on 2025-03-02 (notice 10.…)"), and one note saying whether PubMed and
    Crossref agree. `notices`: the updates *of the work* (None: Crossref has no record of the DOI)."""
    if notices is None:
        return replace(status, notes=(*status.notes, f"Crossref: no record of DOI {doi}"))
    own = (own_doi or doi).lower()
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for n in sorted(notices, key=lambda n: (n.date or date.max, n.kind)):
        if n.kind not in CROSSREF_STATUS or (n.kind, n.source) in seen:
            continue
        seen.add((n.kind, n.source))
        where = f"Crossref/{_SOURCE_NAMES.get(n.source, n.source)}" if n.source else "Crossref"
        when = f" on {n.date.isoformat()}" if n.date else ""
        notice = f" (notice {n.doi})" if n.doi and n.doi.lower() != own else " (in place)" if n.doi else ""
        notes.append(f"{where}: {_CROSSREF_WORDS[n.kind]}{when}{notice}")
    crossref = _worst(CROSSREF_STATUS[n.kind] for n in notices if n.kind in CROSSREF_STATUS)
    pubmed = status.status if status.status in _STATUS_WORDS else None
    notes.append(_agreement(pubmed, crossref, notices))
    final = _worst((status.status, crossref or "")) or status.status
    return replace(status, status=final, notes=(*status.notes, *notes))  # type: ignore[arg-type]


def _worst(statuses: Iterable[str]) -> str | None:
    ranked = [s for s in statuses if s in _SEVERITY]
    return min(ranked, key=_SEVERITY.index) if ranked else None


def _agreement(pubmed: str | None, crossref: str | None, notices: Sequence[CrossrefNotice]) -> str:
    """"PubMed and Crossref agree: retracted" or "PubMed: no retraction notice; Crossref: retracted
    (retraction-watch, 2025-03-02)"."""
    if pubmed == crossref:
        said = _STATUS_WORDS[pubmed] if pubmed else "no retraction, concern or correction"
        return f"PubMed and Crossref agree: {said}"
    if crossref is None:
        assert pubmed is not None
        return f"PubMed: {_STATUS_WORDS[pubmed]}; Crossref: {_NO_NOTICE[pubmed]}"
    first = min((n for n in notices if CROSSREF_STATUS.get(n.kind) == crossref), key=lambda n: n.date or date.max)
    detail = ", ".join(x for x in (first.source, first.date.isoformat() if first.date else "") if x)
    said = f"{_STATUS_WORDS[crossref]} ({detail})" if detail else _STATUS_WORDS[crossref]
    return f"PubMed: {_STATUS_WORDS[pubmed] if pubmed else _NO_NOTICE[crossref]}; Crossref: {said}"


__all__ = [
    "CROSSREF_STATUS", "PROBLEM_LINKS", "CrossrefNotice", "check_cited_study", "cross_check_crossref", "match_cited",
    "normalise_doi", "normalise_title", "notice_target", "related_to_cited",
]
