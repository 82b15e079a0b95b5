"""PubMed's formats: efetch XML → `Article` records with Biopython (`parse`, field by field in `fields`), the
DTD cache (`dtd`), XML safety checks (`safety`), inline markup (`markup`) and the term syntax (`term`, the one
parser shared by the watch-list validator and the replay server).

The re-exports load on first use: the watch list (and through it `assess`) needs only `term`, and must not pull
in Biopython and the DTD cache by importing this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dtd import DtdUnavailableError, configure_dtd_cache
    from .parse import iter_efetch, parse_efetch
    from .term import validate_term

__all__ = ["DtdUnavailableError", "configure_dtd_cache", "iter_efetch", "parse_efetch", "validate_term"]

_HOME = {"DtdUnavailableError": "dtd", "configure_dtd_cache": "dtd", "iter_efetch": "parse",
         "parse_efetch": "parse", "validate_term": "term"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_HOME[name]}", __name__), name)
