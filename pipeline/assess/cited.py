"""The studies a watched article cites: is this record one of them, a notice about one, or a follow-up of one;
and what PubMed now says about each (retracted, corrected, changed, or not what the article says). Pure.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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


__all__ = [
    "PROBLEM_LINKS", "check_cited_study", "match_cited", "normalise_doi", "normalise_title", "notice_target",
    "related_to_cited",
]
