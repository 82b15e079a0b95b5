"""Links built from identifiers (PMID, DOI, NCT id), never copied from a record. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from litwatch.storage.records import is_placeholder_pmid

NCT_ID = re.compile(r"NCT\d{8}")


@dataclass(frozen=True)
class Link:
    text: str
    url: str


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{quote(pmid, safe='')}/"


def record_url(pmid: str, doi: str | None, title: str) -> str:
    """Where a record links: its PubMed page; for a placeholder PMID (`is_placeholder_pmid`: no such page) its
    DOI, or else a PubMed search for its title, which finds the real record."""
    if not is_placeholder_pmid(pmid):
        return pubmed_url(pmid)
    if doi:
        return doi_url(doi)
    return "https://pubmed.ncbi.nlm.nih.gov/?term=" + quote_plus(f'"{title}"[Title]')


def pubmed_url_or_none(pmid: str | None) -> str | None:
    """A PubMed link for a real PMID; None for none or a placeholder."""
    return pubmed_url(pmid) if pmid and not is_placeholder_pmid(pmid) else None


def doi_url(doi: str) -> str:
    # DOIs may hold ; ( ) < > # ?; quoting everything but "/" keeps the link one opaque https path.
    return "https://doi.org/" + quote(doi.strip(), safe="/")


def nct_url(nct: str) -> str:
    return f"https://clinicaltrials.gov/study/{quote(nct.upper(), safe='')}"


__all__ = ["NCT_ID", "Link", "doi_url", "nct_url", "pubmed_url", "pubmed_url_or_none", "record_url"]
