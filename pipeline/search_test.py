"""`litwatch searches test`: which of the papers a writer knows must be found does each saved search find?

Systematic reviewers check a search strategy against known relevant records before trusting it. Here the known
papers of an article are its `known.toml` and its cited studies (`[[studies]]` with a PMID or DOI). For each saved
search one esearch per batch of known papers asks PubMed (or the replay server) for `(<term>) AND (<id clauses>)`,
with no date window: the answer is the known papers the search finds. Requests go through the one E-utilities
client (POST, identity, rate limit, retries).

Requests, for n known papers of which d have only a DOI, and s saved searches:
- d esearches resolve DOIs to PMIDs (the answer to an OR of DOIs cannot say which DOI each PMID is);
- ceil(n / MAX_IDS_PER_REQUEST) esearches check which PMIDs PubMed has at all, so that a paper missing from
  PubMed (a typo, or not indexed) is named as such, not as a search's miss, and so that no later batch is all
  ids PubMed does not know (it would then drop the whole id group and answer the saved term alone);
- s × ceil(present / MAX_IDS_PER_REQUEST) esearches, one per search and batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .config import Settings
from .errors import UsageError
from .ncbi.client import EutilsClient
from .runner import make_client
from .watchlist import KnownPaper, WatchedArticle, load_watchlist

# PubMed's limits for one esearch. The term is POSTed, so the ~2,000-character URL limit of a GET does not apply;
# NCBI documents no maximum for a POSTed term, but PubMed answers very long terms slowly or with a server error,
# and its web search refuses terms much past a few thousand characters. 100 `[pmid]` clauses (~1,600
# characters) beside a saved term of up to ~2,500 stays well inside what PubMed's own search box takes, keeps
# each answer far under the 9,999-id cap, and costs 3 requests per search for 300 known papers.
MAX_IDS_PER_REQUEST = 100
MAX_TERM_CHARS = 6000  # the whole term sent: the saved term, its parentheses and the id clauses


@dataclass(frozen=True)
class KnownResult:
    """One known paper: where it comes from, its PMID (resolved from the DOI when only that was given), and the
    saved searches that find it. `in_pubmed` False: PubMed has no record with this PMID/DOI."""

    paper: KnownPaper
    source: str  # "known.toml" or "cited: <study id>"
    pmid: str | None
    in_pubmed: bool
    found_by: tuple[str, ...]

    @property
    def missed(self) -> bool:
        return not self.found_by


@dataclass(frozen=True)
class Figure:
    """How many of the known papers a search (or the union of an article's searches) finds."""

    name: str  # a query id, or "any search"
    found: int
    total: int

    @property
    def sensitivity(self) -> float | None:
        return self.found / self.total if self.total else None


@dataclass(frozen=True)
class ArticleSearchTest:
    slug: str
    searches: tuple[str, ...]  # the enabled saved searches tested, in the watch list's order
    papers: tuple[KnownResult, ...]
    per_search: tuple[Figure, ...]
    union: Figure

    @property
    def missed(self) -> tuple[KnownResult, ...]:
        return tuple(p for p in self.papers if p.missed)


# ---- the known papers --------------------------------------------------------------------------------------
def known_papers(article: WatchedArticle) -> list[tuple[KnownPaper, str]]:
    """The cited studies that carry a PMID or DOI, then known.toml's papers; one entry per paper (a known.toml
    line that repeats a cited study is the same paper)."""
    out: list[tuple[KnownPaper, str]] = []
    seen: set[str] = set()
    cited = [(KnownPaper(s.pmid, s.doi, s.label), f"cited: {s.id}") for s in article.cited if s.pmid or s.doi]
    for paper, source in [*cited, *((p, "known.toml") for p in article.known)]:
        keys = {k for k in (f"pmid:{paper.pmid}" if paper.pmid else "",
                            f"doi:{paper.doi.lower()}" if paper.doi else "") if k}
        if keys & seen:
            continue
        seen |= keys
        out.append((paper, source))
    return out


# ---- batching ----------------------------------------------------------------------------------------------
def id_batches(pmids: Sequence[str], term: str = "") -> Iterator[list[str]]:
    """`pmids` in order, cut so that each request's term (the saved term ANDed with the batch's `[pmid]` clauses
    ORed) has at most MAX_IDS_PER_REQUEST clauses and MAX_TERM_CHARS characters (at least one id per batch)."""
    budget = MAX_TERM_CHARS - (len(term) + len("() AND ()") if term else 0)
    batch: list[str] = []
    size = 0
    for pmid in pmids:
        clause = len(_clause(pmid)) + len(" OR ")
        if batch and (len(batch) == MAX_IDS_PER_REQUEST or size + clause > budget):
            yield batch
            batch, size = [], 0
        batch.append(pmid)
        size += clause
    if batch:
        yield batch


def _clause(pmid: str) -> str:
    return f"{pmid}[pmid]"


def id_term(pmids: Sequence[str], term: str = "") -> str:
    ids = " OR ".join(_clause(p) for p in pmids)
    return f"({term}) AND ({ids})" if term else ids


# ---- the test ----------------------------------------------------------------------------------------------
def run_search_test(settings: Settings, slug: str | None = None) -> list[ArticleSearchTest]:
    """Every watched article's searches (or `slug`'s) against its known papers; UsageError for an unknown slug."""
    articles = load_watchlist(settings.queries_dir)
    if slug is not None:
        articles = [a for a in articles if a.slug == slug]
        if not articles:
            watched = ", ".join(a.slug for a in load_watchlist(settings.queries_dir))
            raise UsageError(f"--article {slug}: no such watched article (watched: {watched})")
    client = make_client(settings)
    try:
        return [check_article(client, article) for article in articles]
    finally:
        client.session.close()


def check_article(client: EutilsClient, article: WatchedArticle) -> ArticleSearchTest:
    listed = known_papers(article)
    papers, pmid_of = _unique(listed, _resolve(client, listed))
    present = _present(client, sorted({p for p in pmid_of.values() if p}, key=int))
    searches = tuple(q for q in article.queries if q.enabled)
    found: dict[str, set[str]] = {q.id: set() for q in searches}  # query id -> known PMIDs it finds
    wanted = sorted(present, key=int)
    for query in searches:
        for batch in id_batches(wanted, query.term):
            hits = client.search_ids(id_term(batch, query.term))
            found[query.id] |= set(hits) & set(batch)  # only the batch's ids count, whatever PubMed answers
    results = []
    for index, (paper, source) in enumerate(papers):
        pmid = pmid_of[index]
        by = tuple(q.id for q in searches if pmid is not None and pmid in found[q.id])
        results.append(KnownResult(paper, source, pmid, pmid in present if pmid else False, by))
    total = len(results)
    per_search = tuple(Figure(q.id, sum(1 for r in results if q.id in r.found_by), total) for q in searches)
    union = Figure("any search", sum(1 for r in results if not r.missed), total)
    return ArticleSearchTest(article.slug, tuple(q.id for q in searches), tuple(results), per_search, union)


def _resolve(client: EutilsClient, papers: list[tuple[KnownPaper, str]]) -> dict[int, str | None]:
    """Each paper's PMID: as given, else the one its DOI finds (None when PubMed has no record with that DOI).
    One esearch per DOI-only paper: an OR of DOIs answers PMIDs without saying which DOI each belongs to."""
    out: dict[int, str | None] = {}
    for index, (paper, _source) in enumerate(papers):
        if paper.pmid:
            out[index] = paper.pmid
            continue
        hits = client.search_ids(f'"{paper.doi}"[doi]', ids_may_be_missing=True)
        out[index] = min(hits, key=int) if hits else None  # a DOI on two records (erratum): the first one
    return out


def _unique(papers: list[tuple[KnownPaper, str]], pmid_of: dict[int, str | None],
            ) -> tuple[list[tuple[KnownPaper, str]], dict[int, str | None]]:
    """One entry per PMID: a cited study given by DOI and listed again in known.toml by PMID is one paper."""
    kept: list[tuple[KnownPaper, str]] = []
    kept_pmids: dict[int, str | None] = {}
    seen: set[str] = set()
    for index, paper in enumerate(papers):
        pmid = pmid_of[index]
        if pmid is not None and pmid in seen:
            continue
        if pmid is not None:
            seen.add(pmid)
        kept_pmids[len(kept)] = pmid
        kept.append(paper)
    return kept, kept_pmids


def _present(client: EutilsClient, pmids: list[str]) -> set[str]:
    """Which of `pmids` PubMed holds (the others are named as not in PubMed, and kept out of the search batches)."""
    present: set[str] = set()
    for batch in id_batches(pmids):
        present |= set(client.search_ids(id_term(batch), ids_may_be_missing=True)) & set(batch)
    return present
