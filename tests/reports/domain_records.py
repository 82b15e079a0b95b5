"""Real records for the digest tests: the domain corpus (tests/fixtures/domain/records.xml) as `Article`s.

`pipeline.pubmed_xml.parse_efetch` had not landed when these tests were written, so a small ElementTree reader
takes the fields a digest shows. The records are the real ones (titles, abstracts, DOIs, trial ids, notices).
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from datetime import date
from functools import cache

from storage.records import AbstractSection, Accession, Article, Author, CommentCorrection, PublicationType
from tests.conftest import DOMAIN_RECORDS


@cache
def domain_articles() -> dict[str, Article]:
    return {a.pmid: a for a in _read_with_elementtree(DOMAIN_RECORDS.read_bytes())}


def _inner_html(el: ET.Element) -> str:
    parts = [html.escape(el.text or "", quote=False)]
    for child in el:
        parts.append(f"<{child.tag}>{_inner_html(child)}</{child.tag}>")
        parts.append(html.escape(child.tail or "", quote=False))
    return "".join(parts)


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _history(root: ET.Element, status: str) -> date | None:
    node = root.find(f"PubmedData/History/PubMedPubDate[@PubStatus='{status}']")
    if node is None:
        return None
    return date(int(_text(node.find("Year"))), int(_text(node.find("Month"))), int(_text(node.find("Day"))))


def _read_with_elementtree(body: bytes) -> list[Article]:
    out = []
    for rec in ET.fromstring(body).findall("PubmedArticle"):
        mc = rec.find("MedlineCitation")
        art = mc.find("Article")
        pmid_el = mc.find("PMID")
        doi = art.find("ELocationID[@EIdType='doi']")
        year = _text(art.find("Journal/JournalIssue/PubDate/Year"))
        out.append(Article(
            pmid=_text(pmid_el),
            version=int(pmid_el.get("Version", "1")),
            status=mc.get("Status", ""),
            indexing_method=mc.get("IndexingMethod"),
            title=_text(art.find("ArticleTitle")),
            title_html=_inner_html(art.find("ArticleTitle")).strip(),
            abstract=tuple(
                AbstractSection(text=_text(s), html=_inner_html(s).strip(), label=s.get("Label"),
                                category=s.get("NlmCategory"))
                for s in art.findall("Abstract/AbstractText")
            ),
            journal=_text(art.find("Journal/Title")),
            journal_abbrev=_text(mc.find("MedlineJournalInfo/MedlineTA")),
            pub_year=int(year) if year else None,
            pub_date=year,
            created=_history(rec, "entrez"),
            pubmed_date=_history(rec, "pubmed"),
            doi=_text(doi) or None,
            authors=tuple(
                Author(name=f"{_text(a.find('LastName'))} {_text(a.find('ForeName'))}".strip(),
                       last_name=_text(a.find("LastName")) or None, fore_name=_text(a.find("ForeName")) or None)
                for a in art.findall("AuthorList/Author")
            ),
            languages=tuple(_text(x) for x in art.findall("Language")),
            publication_types=tuple(
                PublicationType(ui=p.get("UI", ""), name=_text(p)) for p in art.findall("PublicationTypeList/*")
            ),
            keywords=tuple(_text(k) for k in mc.findall("KeywordList/Keyword")),
            accessions=tuple(
                Accession(databank=_text(db.find("DataBankName")), accession=_text(acc))
                for db in art.findall("DataBankList/DataBank")
                for acc in db.findall("AccessionNumberList/AccessionNumber")
            ),
            comments_corrections=tuple(
                CommentCorrection(ref_type=c.get("RefType", ""), pmid=_text(c.find("PMID")) or None,
                                  ref_source=_text(c.find("RefSource")))
                for c in mc.findall("CommentsCorrectionsList/CommentsCorrections")
            ),
        ))
    return out
