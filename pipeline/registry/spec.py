"""What an article watches in the trial registry: `queries/<slug>/registry.toml` (optional) plus the NCT ids of
the studies its article.toml cites.

```toml
follow = ["NCT04042844"]              # trials followed by id besides the cited studies' nct_ids
[[searches]]                          # ClinicalTrials.gov searches (Essie syntax), one table each
id = "lbp-cell-therapy"               # unique across articles: the registry watermark and run lines are per article
condition = "degenerative disc disease OR intervertebral disc degeneration"   # query.cond
intervention = "mesenchymal OR stem cell"                                     # query.intr
term = "…"                                                                    # query.term (optional)
```
Errors name the file and the key, in one line, like every watch-list error.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import QueryError
from .client import SearchSpec

REGISTRY_FILE = "registry.toml"
NCT_RE = re.compile(r"^NCT\d{8}$")


@dataclass(frozen=True)
class RegistryWatch:
    """One article's registry watch: its searches and every NCT id it follows (cited or listed), sorted."""

    article: str
    searches: tuple[SearchSpec, ...]
    follow: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.searches and not self.follow

    @property
    def source_id(self) -> str:
        """The id of this article's registry part in run history and watermarks."""
        return f"registry:{self.article}"


def load_registry_watch(slug: str, folder: Path, cited_nct_ids: Iterable[str]) -> RegistryWatch:
    path = folder / REGISTRY_FILE
    follow = {n.strip().upper() for n in cited_nct_ids if n.strip()}
    searches: list[SearchSpec] = []
    if path.is_file():
        where = f"{folder.name}/{REGISTRY_FILE}"
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise QueryError(f"{where}: invalid TOML: {exc}") from None
        unknown = set(raw) - {"follow", "searches"}
        if unknown:
            raise QueryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: follow, searches)")
        listed = raw.get("follow", [])
        if not isinstance(listed, list) or not all(isinstance(n, str) and NCT_RE.match(n.upper()) for n in listed):
            raise QueryError(f"{where}: key 'follow' must be a list of NCT ids like \"NCT01234567\"")
        follow |= {n.upper() for n in listed}
        searches = [_search(t, f"{where}: searches[{i}]") for i, t in enumerate(raw.get("searches", []))]
        ids = [s.id for s in searches]
        if len(ids) != len(set(ids)):
            raise QueryError(f"{where}: duplicate search id")
    bad = sorted(n for n in follow if not NCT_RE.match(n))
    if bad:
        raise QueryError(f"{folder.name}: not an NCT id: {', '.join(bad)}")
    return RegistryWatch(slug, tuple(searches), tuple(sorted(follow)))


def _search(table: object, where: str) -> SearchSpec:
    if not isinstance(table, dict):
        raise QueryError(f"{where}: must be a table ([[searches]])")
    unknown = set(table) - {"id", "label", "condition", "intervention", "term"}
    if unknown:
        raise QueryError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {k: table.get(k) for k in ("id", "condition", "intervention", "term")}
    for key, value in values.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise QueryError(f"{where}: key '{key}' must be a non-empty string")
    if not values["id"]:
        raise QueryError(f"{where}: missing key 'id'")
    if not (values["condition"] or values["intervention"] or values["term"]):
        raise QueryError(f"{where}: needs at least one of 'condition', 'intervention', 'term'")
    return SearchSpec(str(values["id"]), values["condition"], values["intervention"], values["term"])
