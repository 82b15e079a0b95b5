"""Links built from identifiers (PMID, DOI, NCT id), never copied from a record. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

NCT_ID = re.compile(r"NCT\d{8}")


@dataclass(frozen=True)
class Link:
    text: str
    url: str


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{quote(pmid, safe='')}/"


def doi_url(doi: str) -> str:
    # DOIs may hold ; ( ) < > # ?; quoting everything but "/" keeps the link one opaque https path.
    return "https://doi.org/" + quote(doi.strip(), safe="/")


def nct_url(nct: str) -> str:
    return f"https://clinicaltrials.gov/study/{quote(nct.upper(), safe='')}"


__all__ = ["NCT_ID", "Link", "doi_url", "nct_url", "pubmed_url"]
