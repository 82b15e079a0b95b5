"""`litwatch demo`: the whole pipeline offline, against real PubMed records bundled with the package.

Starts the replay server on 127.0.0.1 over `pipeline/demo_corpus/records.xml` (55 real records), points the E-utilities
client at it, runs every saved search into a demo database and reports what was stored. The window is computed from
the corpus itself, so the demo works whatever today's date is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

from litwatch.storage import repository
from litwatch.storage.engine import session_scope

from .assess import evaluate
from .config import Settings
from .digest_run import DigestRequest, make_digest
from .file_assessment import assess_file
from .replay import Corpus, ReplayServer
from .runner import Runner, RunRequest
from .watchlist import bundled_queries_dir, load_watchlist


def demo_corpus_dir() -> Path:
    return Path(str(resources.files("litwatch.pipeline.replay") / "demo_corpus"))


def demo_settings(settings: Settings, out_dir: Path, base_url: str) -> Settings:
    """The user's settings, pointed at the replay server and a demo database (never the production one)."""
    out_dir = out_dir.resolve()
    return settings.with_overrides(
        ncbi={"base_url": base_url, "api_key": None, "backoff_base": 0.2,
              "email": settings.ncbi.email or "demo@example.org"},
        storage={"url": f"sqlite:///{out_dir / 'litwatch-demo.sqlite'}", "data_dir": str(out_dir)},
        digest={"out_dir": str(out_dir / "digests")},
        mail={"enabled": False},
        paths={"queries": str(bundled_queries_dir())},  # the articles the demo corpus was gathered for
    )


def run_demo(settings: Settings, out_dir: Path) -> Iterator[str]:
    corpus = Corpus.from_dir(demo_corpus_dir())
    dates = sorted(corpus.created(pmid) for pmid in corpus.pmids)
    out_dir.mkdir(parents=True, exist_ok=True)
    with ReplayServer(corpus) as server:
        yield f"replay server: {server.base_url} serving {len(corpus)} real PubMed records"
        demo = demo_settings(settings, out_dir, server.base_url)
        runner = Runner(demo)
        request = RunRequest(trigger="demo", since=dates[0] - timedelta(days=1), until=dates[-1] + timedelta(days=1))
        summary = runner.run(request)
        yield f"run {summary.run_id} {summary.status}: {summary.counts.describe()}"
        for q in summary.queries:
            yield f"  query {q.query_id}: {q.found} records ({q.window_start}..{q.window_end})"
        with session_scope(runner.engine) as s:
            stored = repository.get_articles(s, list(corpus.pmids))
        verdicts = Counter(x.assessment.verdict for x in stored.values() if x.assessment)
        misses = len(corpus) - len(stored)
        yield (f"stored {len(stored)} of {len(corpus)} corpus records in {demo.database_url}"
               + (f" (the other {misses} match none of the saved searches)" if misses else "")
               + "; verdicts: "
               + ", ".join(f"{k} {verdicts[k]}" for k in ("update", "review", "fyi", "cited") if verdicts[k]))
        yield _evaluation_line(runner, corpus)
        outcome = make_digest(demo, DigestRequest(trigger="demo", all_time=True), engine=runner.engine)
        yield f"digest {outcome.digest.week}: {outcome.digest.headline}"
        for fmt, path in outcome.paths.items():
            yield f"  {fmt}: {path}"


def _evaluation_line(runner: Runner, corpus: Corpus) -> str:
    """The stored verdicts against the hand labels bundled with the corpus (all 55, hits or not)."""
    labels = [json.loads(line) for line in (demo_corpus_dir() / "labels.jsonl").read_text("utf-8").splitlines()
              if line.strip()]
    profile = load_watchlist(runner.settings.queries_dir)[0]
    body = (demo_corpus_dir() / "records.xml").read_bytes()
    report = evaluate(labels, {x.pmid: x for x in assess_file(body, profile)})
    update = report.score("update")
    return (f"assessment vs {report.total} hand-labelled records: accuracy {report.accuracy:.2f}, "
            f"update recall {update.recall or 0:.2f}, precision {update.precision or 0:.2f} "
            f"(details: litwatch evaluate {demo_corpus_dir() / 'labels.jsonl'} {demo_corpus_dir() / 'records.xml'})")
