"""Biopython's parsed PubMed records → `Article` field by field: journal articles and books, authors,
abstract sections, ids, History and publication dates, MeSH, keywords, data banks, comments/corrections and
references. Pure functions over Biopython's `DictionaryElement`/`ListElement`/`StringElement` values; the
shapes of DTDs from 2008 to today are handled where they differ (see `_items`, `_history`, `_author_lists`).
Text goes through `markup` (plain text, and safe HTML for titles and abstracts).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from litwatch.storage.records import (
    AbstractSection,
    Accession,
    Article,
    Author,
    CommentCorrection,
    MeshHeading,
    PublicationType,
)

from .markup import plain, render

__all__ = ["MissingPmid", "is_book", "record_pmid", "to_article"]

# "stemcellres.biomedcentral.com", "journals.lww.com": a record assembled from a publisher's page (the demo corpus
# has several) may carry the web site where the journal's title belongs. NLM titles always have a word break.
_HOST_NAME = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_article(record: Any) -> Article:
    """One `PubmedArticle` or `PubmedBookArticle` as an `Article`; MissingPmid, or KeyError/ValueError/TypeError/
    AttributeError when the record's structure is not what the DTD promises."""
    return _book(record) if is_book(record) else _journal_article(record)


def is_book(record: Any) -> bool:
    return "BookDocument" in record


class MissingPmid(Exception):
    """The record has no (or an empty) PMID."""


def _pmid(element: Any) -> tuple[str, int]:
    if element is None or not str(element).strip():
        raise MissingPmid
    version = getattr(element, "attributes", {}).get("Version", "1")
    return str(element).strip(), int(version) if str(version).isdigit() else 1


def record_pmid(record: Any) -> str:
    """The PMID for an error message ("?" when there is none to read)."""
    try:
        container = record.get("MedlineCitation") or record.get("BookDocument") or {}
        return str(container.get("PMID", "?"))
    except AttributeError:
        return "?"


def _journal_name(value: Any) -> str:
    """The journal element's text, or "" when it is a host name rather than a journal's title."""
    text = plain(value)
    return "" if _HOST_NAME.fullmatch(text) else text


def _journal_article(record: Any) -> Article:
    citation = record["MedlineCitation"]
    data = record.get("PubmedData") or {}
    article = citation["Article"]
    pmid, version = _pmid(citation.get("PMID"))
    journal = article.get("Journal") or {}
    title = render(article.get("ArticleTitle", ""))
    if not title.text and article.get("VernacularTitle"):
        title = render(article["VernacularTitle"])
    ids = _ids(data.get("ArticleIdList"))
    created, pubmed_date = _history(data.get("History"))
    pub_year, pub_date = _pub_date((journal.get("JournalIssue") or {}).get("PubDate"))
    return Article(
        pmid=pmid,
        version=version,
        kind="article",
        status=str(citation.attributes.get("Status", "")),
        indexing_method=citation.attributes.get("IndexingMethod"),
        title=title.text,
        title_html=title.html,
        abstract=_abstract(article.get("Abstract")),
        journal=_journal_name(journal.get("Title", "")),
        journal_abbrev=_journal_name(journal.get("ISOAbbreviation", "")),
        pub_year=pub_year,
        pub_date=pub_date,
        created=created,
        pubmed_date=pubmed_date,
        doi=ids.get("doi") or _elocation_doi(article.get("ELocationID")),
        pmc=ids.get("pmc"),
        authors=_authors(article.get("AuthorList")),
        languages=tuple(plain(x) for x in _items(article.get("Language"))),
        publication_types=_publication_types(article.get("PublicationTypeList")),
        mesh=_mesh(citation.get("MeshHeadingList")),
        keywords=_keywords(citation.get("KeywordList")),
        accessions=_accessions(article.get("DataBankList")),
        comments_corrections=_comments(citation.get("CommentsCorrectionsList")),
        references=_references(data.get("ReferenceList")),
    )


def _book(record: Any) -> Article:
    document = record["BookDocument"]
    data = record.get("PubmedBookData") or {}
    book = document.get("Book") or {}
    pmid, version = _pmid(document.get("PMID"))
    title = render(document.get("ArticleTitle") or book.get("BookTitle", ""))
    ids = {**_ids(document.get("ArticleIdList")), **_ids(data.get("ArticleIdList"))}
    created, pubmed_date = _history(data.get("History"))
    pub_year, pub_date = _pub_date(book.get("PubDate"))
    authors = _authors(document.get("AuthorList")) or _authors(book.get("AuthorList"))
    return Article(
        pmid=pmid,
        version=version,
        kind="book",
        status="",  # BookDocument has no MedlineCitation Status
        indexing_method=None,
        title=title.text,
        title_html=title.html,
        abstract=_abstract(document.get("Abstract")),
        journal=plain(book.get("BookTitle", "")),
        journal_abbrev="",
        pub_year=pub_year,
        pub_date=pub_date,
        created=created,
        pubmed_date=pubmed_date,
        doi=ids.get("doi") or _elocation_doi(book.get("ELocationID")),
        pmc=ids.get("pmc"),
        authors=authors,
        languages=tuple(plain(x) for x in _items(document.get("Language"))),
        publication_types=_publication_types(document.get("PublicationType")),
        keywords=_keywords(document.get("KeywordList")),
        references=_references(document.get("ReferenceList")),
    )


def _items(value: Any) -> list[Any]:
    """Elements that may repeat: pre-2010 DTDs make e.g. AbstractText one string, later ones a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return list(value)


def _abstract(abstract: Any) -> tuple[AbstractSection, ...]:
    sections = []
    for part in _items((abstract or {}).get("AbstractText")):
        rendered = render(part)
        if not rendered.text:
            continue
        attrs = getattr(part, "attributes", {})
        label, category = attrs.get("Label") or None, attrs.get("NlmCategory") or None
        sections.append(AbstractSection(rendered.text, rendered.html, label=label, category=category))
    return tuple(sections)


def _ids(id_list: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    for item in id_list or ():
        id_type = getattr(item, "attributes", {}).get("IdType", "")
        if id_type and id_type not in ids and str(item).strip():
            ids[id_type] = plain(item)
    return ids


def _elocation_doi(elocations: Any) -> str | None:
    for item in _items(elocations):
        attrs = getattr(item, "attributes", {})
        if attrs.get("EIdType") == "doi" and attrs.get("ValidYN", "Y") == "Y" and str(item).strip():
            return plain(item)
    return None


def _history(history: Any) -> tuple[date | None, date | None]:
    dates: dict[str, date] = {}
    entries = list(history or ())
    if entries and isinstance(entries[0], list):  # 2008-era DTDs: History parses as a list of lists
        entries = [entry for inner in entries for entry in inner]
    for entry in entries:
        status = getattr(entry, "attributes", {}).get("PubStatus", "")
        parsed = _date(entry)
        if status and parsed is not None and status not in dates:
            dates[status] = parsed
    return dates.get("entrez") or dates.get("pubmed"), dates.get("pubmed")


def _date(entry: Any) -> date | None:
    try:
        return date(int(entry["Year"]), _month_number(str(entry.get("Month", "1"))), int(entry.get("Day", 1)))
    except (KeyError, ValueError, TypeError):
        return None


def _month_number(month: str) -> int:
    month = month.strip()
    if month.isdigit():
        return int(month)
    return _MONTHS.index(month[:3].title()) + 1


def _pub_date(pub_date: Any) -> tuple[int | None, str]:
    """(year, printable date): "2025 Mar 12", "2014 Spring", or MedlineDate as given ("2016 Jul-Sep")."""
    if not pub_date:
        return None, ""
    if pub_date.get("MedlineDate"):
        text = plain(pub_date["MedlineDate"])
        digits = next((text[i:i + 4] for i in range(len(text) - 3) if text[i:i + 4].isdigit()), None)
        return (int(digits) if digits else None), text
    year = plain(pub_date.get("Year", ""))
    parts = [year]
    if pub_date.get("Season"):
        parts.append(plain(pub_date["Season"]))
    elif pub_date.get("Month"):
        month = plain(pub_date["Month"])
        parts.append(_MONTHS[int(month) - 1] if month.isdigit() and 1 <= int(month) <= 12 else month)
        day = plain(pub_date.get("Day", ""))
        if day:
            parts.append(str(int(day)) if day.isdigit() else day)
    return (int(year) if year.isdigit() else None), " ".join(p for p in parts if p)


def _author_lists(author_list: Any) -> list[Any]:
    """Journal articles have one AuthorList; books several (authors, editors): keep the authors'."""
    if not author_list:
        return []
    if isinstance(author_list[0], list):
        return [al for al in author_list if getattr(al, "attributes", {}).get("Type", "authors") == "authors"]
    return [author_list]


def _authors(author_list: Any) -> tuple[Author, ...]:
    authors = []
    for current in _author_lists(author_list):
        for person in current:
            if getattr(person, "attributes", {}).get("ValidYN", "Y") == "N":
                continue  # PubMed keeps corrected-away names with ValidYN="N"
            affiliations = tuple(plain(a["Affiliation"]) for a in person.get("AffiliationInfo") or ()
                                 if a.get("Affiliation"))
            if person.get("CollectiveName"):
                authors.append(Author(name=plain(person["CollectiveName"]), collective=True,
                                      affiliations=affiliations))
                continue
            last = plain(person.get("LastName", "")) or None
            fore = plain(person.get("ForeName", "")) or None
            initials = plain(person.get("Initials", "")) or None
            suffix = plain(person.get("Suffix", ""))
            name = " ".join(p for p in (last, initials, suffix) if p)
            if name:
                authors.append(Author(name=name, last_name=last, fore_name=fore, initials=initials,
                                      affiliations=affiliations))
    return tuple(authors)


def _publication_types(types: Any) -> tuple[PublicationType, ...]:
    return tuple(PublicationType(ui=str(getattr(t, "attributes", {}).get("UI", "")), name=plain(t))
                 for t in _items(types) if str(t).strip())


def _mesh(headings: Any) -> tuple[MeshHeading, ...]:
    result = []
    for heading in headings or ():
        descriptor = heading["DescriptorName"]
        attrs = getattr(descriptor, "attributes", {})
        qualifiers = _items(heading.get("QualifierName"))
        # PubMed's "*": major if the descriptor or any of its qualifiers is a major topic
        major = attrs.get("MajorTopicYN") == "Y" or any(
            getattr(q, "attributes", {}).get("MajorTopicYN") == "Y" for q in qualifiers)
        result.append(MeshHeading(ui=str(attrs.get("UI", "")), descriptor=plain(descriptor), major=major,
                                  qualifiers=tuple(plain(q) for q in qualifiers)))
    return tuple(result)


def _keywords(keyword_lists: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for keyword_list in _items(keyword_lists):
        for keyword in _items(keyword_list):
            text = plain(keyword)
            if text:
                seen.setdefault(text, None)
    return tuple(seen)


def _accessions(databanks: Any) -> tuple[Accession, ...]:
    return tuple(Accession(databank=plain(bank.get("DataBankName", "")), accession=plain(number))
                 for bank in _items(databanks) for number in _items(bank.get("AccessionNumberList"))
                 if str(number).strip())


def _comments(comments: Any) -> tuple[CommentCorrection, ...]:
    result = []
    for item in comments or ():
        pmid = plain(item["PMID"]) if item.get("PMID") else None
        result.append(CommentCorrection(ref_type=str(item.attributes.get("RefType", "")), pmid=pmid or None,
                                        ref_source=plain(item.get("RefSource", ""))))
    return tuple(result)


def _references(reference_lists: Any) -> tuple[str, ...]:
    """PMIDs of the ReferenceList (nested lists included), in order, without duplicates."""
    seen: dict[str, None] = {}
    stack = list(reversed(list(reference_lists or ())))
    while stack:
        current = stack.pop()
        for reference in current.get("Reference") or ():
            for item in reference.get("ArticleIdList") or ():
                if getattr(item, "attributes", {}).get("IdType") == "pubmed" and str(item).strip():
                    seen.setdefault(plain(item), None)
        stack.extend(reversed(list(current.get("ReferenceList") or ())))
    return tuple(seen)
