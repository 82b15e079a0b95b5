"""`litwatch demo`: the whole pipeline offline, against real PubMed records bundled with the package.

Starts the replay server on 127.0.0.1 over `pipeline/replay/demo_corpus/<slug>/records.xml` (real records gathered
for each bundled article: 55 on stem cells for low back pain, 25 on stem cells for knee osteoarthritis), points the
E-utilities client at it, runs every saved search of both articles into a demo database, scores each article's
verdicts against its hand labels and writes one digest per article. The window is computed from the corpus itself,
so the demo works whatever today's date is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

from litwatch.storage import repository
from litwatch.storage.engine import session_scope
from litwatch.storage.records import is_placeholder_pmid

from .assess import evaluate
from .config import Settings
from .digest_run import DigestRequest, make_digests
from .file_assessment import assess_file
from .replay import Corpus, ReplayServer
from .replay.crossref import CrossrefWorks
from .replay.registry import RegistryReplayServer
from .runner import Runner, RunRequest
from .watchlist import WatchedArticle, bundled_queries_dir, load_watchlist


def demo_corpus_dir() -> Path:
    """The bundled demo corpus: one folder per bundled article, `<slug>/records.xml` and `<slug>/labels.jsonl`."""
    return Path(str(resources.files("litwatch.pipeline.replay") / "demo_corpus"))


def demo_record_files() -> list[Path]:
    return sorted(demo_corpus_dir().glob("*/records.xml"))


def demo_crossref_dir() -> Path:
    """Crossref works for the bundled cited studies (synthetic: see its SOURCES.md), served by the replay server."""
    return demo_corpus_dir() / "crossref"


def demo_registry_dir() -> Path:
    """Synthetic ClinicalTrials.gov records of the bundled articles' trials (see its SOURCES.md): `earlier/` is the
    registry as it was (the first registry run's baseline), `current/` as it is now (the changes the digest shows)."""
    return demo_corpus_dir() / "registry"


def demo_settings(settings: Settings, out_dir: Path, base_url: str, crossref_url: str | None = None,
                  registry_url: str | None = None) -> Settings:
    """The user's settings, pointed at the replay server and a demo database (never the production one)."""
    out_dir = out_dir.resolve()
    return settings.with_overrides(
        # never the real registry; the local one answers at once, and its records go back years
        registry={"base_url": registry_url or base_url, "enabled": registry_url is not None,
                  "requests_per_second": 50.0, "backoff_base": 0.2, "first_run_days": 36500},
        crossref={"base_url": crossref_url or base_url, "enabled": crossref_url is not None},
        ncbi={"base_url": base_url, "api_key": None, "backoff_base": 0.2,
              "email": settings.ncbi.email or "demo@example.org"},
        storage={"url": f"sqlite:///{out_dir / 'litwatch-demo.sqlite'}", "data_dir": str(out_dir)},
        digest={"out_dir": str(out_dir / "digests")},
        mail={"enabled": False},
        paths={"queries": str(bundled_queries_dir())},  # the articles the demo corpus was gathered for
    )


def run_demo(settings: Settings, out_dir: Path) -> Iterator[str]:
    corpus = Corpus.from_files(demo_record_files())
    dates = sorted(corpus.created(pmid) for pmid in corpus.pmids)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ReplayServer(corpus, crossref=CrossrefWorks.from_dir(demo_crossref_dir())) as server, \
            RegistryReplayServer(demo_registry_dir() / "earlier") as registry:
        yield (f"replay server: {server.base_url} serving {len(corpus)} real PubMed records; Crossref at "
               f"{server.crossref_url}: {len(server.crossref)} synthetic works of cited studies (one retracted)")
        demo = demo_settings(settings, out_dir, server.base_url, server.crossref_url, registry.base_url)
        runner = Runner(demo)
        request = RunRequest(trigger="demo", since=dates[0] - timedelta(days=1), until=dates[-1] + timedelta(days=1),
                             sources=("pubmed", "crossref"))  # the registry's two runs follow
        summary = runner.run(request)
        yield f"run {summary.run_id} {summary.status}: {summary.counts.describe()}"
        articles = load_watchlist(demo.queries_dir)
        by_id = {q.query_id: q for q in summary.queries}
        for article in articles:  # each saved search under the article it watches for
            yield f"  article {article.slug}:"
            for q in (by_id[x.id] for x in article.queries if x.id in by_id):
                yield f"    query {q.query_id}: {q.found} records ({q.window_start}..{q.window_end})"
        yield from _registry_runs(runner, registry)
        with session_scope(runner.engine) as s:
            stored = repository.get_articles(s, list(corpus.pmids))
        misses = len(corpus) - len(stored)
        yield (f"stored {len(stored)} of {len(corpus)} corpus records in {demo.database_url}"
               + (f" (the other {misses} match none of the saved searches)" if misses else ""))
        placeholders = sum(is_placeholder_pmid(p) for p in corpus.pmids)
        yield (f"real abstracts; placeholder PMIDs: {placeholders} of the {len(corpus)} records carry a local PMID "
               f"(99000001 and up) where the real one was not at hand, so the digest links them by DOI")
        for article in articles:
            yield _evaluation_line(article)
        browse: list[str] = []
        for outcome in make_digests(demo, DigestRequest(trigger="demo", all_time=True), engine=runner.engine):
            yield f"digest {outcome.digest.week} for {outcome.article}: {outcome.digest.headline}"
            yield f"  {outcome.digest.tally}"  # the digest's own counts line: the same numbers, the same words
            for fmt, path in outcome.paths.items():
                yield f"  {fmt}: {path}"
            if "html" in outcome.paths:
                browse.append(outcome.paths["html"].resolve().as_uri())
        for uri in browse:
            yield f"open the digest in a browser: {uri}"


def _registry_runs(runner: Runner, registry: RegistryReplayServer) -> Iterator[str]:
    """Two registry-only runs: the registry as it was (a baseline: a first sight is never a change), then as it is
    now, so the digests show what changed — results posted, status changes, enrolment closed."""
    yield (f"trial registry: {registry.base_url} serving {len(registry.studies)} synthetic ClinicalTrials.gov "
           f"records of the trials the bundled records register (see {demo_registry_dir() / 'SOURCES.md'})")
    for when, folder in (("as it was", "earlier"), ("now", "current")):
        registry.load(sorted((demo_registry_dir() / folder).glob("*.json")))
        before = registry.stats.total
        summary = runner.run(RunRequest(trigger="demo", sources=("registry",)))
        with session_scope(runner.engine) as s:
            events = sum(1 for a in load_watchlist(runner.settings.queries_dir)
                         for e in repository.registry_events(s, a.slug) if e.run_id == summary.run_id)
        yield (f"run {summary.run_id} {summary.status} (trial registry {when}): {summary.counts.found} trial "
               f"records, {events} new event(s), {registry.stats.total - before} request(s)")


def _evaluation_line(article: WatchedArticle) -> str:
    """The article's verdicts against the hand labels of the records gathered for it (all of them, hits or not).
    In-sample: the article's topic was written with these records in view."""
    folder = demo_corpus_dir() / article.slug
    labels_file, records_file = folder / "labels.jsonl", folder / "records.xml"
    if not labels_file.is_file():
        return f"{article.slug}: no hand-labelled records bundled"
    labels = [json.loads(line) for line in labels_file.read_text("utf-8").splitlines() if line.strip()]
    report = evaluate(labels, {x.pmid: x for x in assess_file(records_file.read_bytes(), article)})
    update = report.score("update")
    return (f"{article.slug}: assessment vs {report.total} hand-labelled records (in-sample): accuracy "
            f"{report.accuracy:.2f}, update recall {update.recall or 0:.2f}, precision {update.precision or 0:.2f} "
            f"(details: litwatch evaluate {labels_file} {records_file} --article {article.slug})")
