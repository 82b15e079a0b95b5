"""ClinicalTrials.gov API v2: the HTTP client (`client`), the study summary a snapshot keeps (`study`) and the
pure diff of two snapshots into registry events (`events`). A source: it never judges, stores or reports."""

from .client import REGISTRY_BASE_URL, FetchedStudy, RegistryClient, SearchSpec
from .events import RegistryEvent, diff_snapshots
from .study import RegistryDate, summarize

__all__ = [
    "REGISTRY_BASE_URL", "FetchedStudy", "RegistryClient", "RegistryDate", "RegistryEvent", "SearchSpec",
    "diff_snapshots", "summarize",
]
