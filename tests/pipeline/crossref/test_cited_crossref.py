"""Crossref in the cited-study checks of a real run (replay server for PubMed and Crossref, real SQLite/PostgreSQL):
a Crossref-only retraction or expression of concern becomes an action item in the digest with Crossref's wording;
Crossref's 404s and failures are warnings and PubMed's check still lands; one request per cited study with a DOI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.demo import demo_crossref_dir
from litwatch.pipeline.digest_run import DigestRequest, make_digest
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.records import CitedStudyStatus, RunSummary
from tests.conftest import FIXTURES, lbp_only_queries
from tests.pipeline.conftest import ReplayFactory

SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)
RUN = RunRequest(query_ids=("exosomes",), since=SINCE, until=UNTIL, check_cited=True)
ZHANG_RETRACTED = FIXTURES / "crossref" / "10.3389_fbioe.2023.1155357.json"
DREAM_CONCERN = FIXTURES / "crossref" / "10.1002_jsp2.70086.expression-of-concern.json"
DREAM_PLAIN = demo_crossref_dir() / "10.1002_jsp2.70086.json"  # the demo's synthetic work: no updates


def _settings(tmp_path: Path, server: ReplayServer, db_url: str, crossref: str = "") -> Settings:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{server.base_url}"\nemail = "tests@example.org"\nbatch_size = 50\n'
        f"backoff_base = 0.001\nmax_attempts = 2\nrequests_per_second = 200\n"
        f'[crossref]\nbase_url = "{server.crossref_url}"\nrequests_per_second = 200\n{crossref}'
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{lbp_only_queries()}"\n'
        "[registry]\nenabled = false\n"  # the bundled registry.toml would ask clinicaltrials.gov otherwise
        f'[digest]\nout_dir = "{tmp_path / "digests"}"\n',
        encoding="utf-8",
    )
    return load_settings(cfg, env={})


def _run(settings: Settings) -> tuple[RunSummary, dict[str, CitedStudyStatus]]:
    summary = Runner(settings).run(RUN)
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        checks = {c.study_id: c for c in repository.latest_cited_checks(s, "stem-cell-lbp")}
    engine.dispose()
    return summary, checks


def _digest_md(settings: Settings) -> str:
    outcome = make_digest(settings, DigestRequest(all_time=True, formats=("md",)))
    return outcome.paths["md"].read_text("utf-8")


@pytest.fixture
def server(replay_factory: ReplayFactory) -> ReplayServer:
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


def test_a_retraction_only_crossref_knows_is_an_action_item(
    server: ReplayServer, tmp_path: Path, db_url: str
) -> None:
    server.crossref.add(ZHANG_RETRACTED)
    server.crossref.add(DREAM_PLAIN)
    settings = _settings(tmp_path, server, db_url)
    summary, checks = _run(settings)
    assert checks["dream-2025"].notes[-1] == "PubMed and Crossref agree: no retraction, concern or correction"
    assert summary.status == "success" and not [w for w in summary.warnings if "Crossref" in w]
    zhang = checks["zhang-2023"]
    assert zhang.pmid == "99000026" and zhang.status == "retracted"  # PubMed's record shows no retraction
    assert "Crossref/Retraction Watch: retracted on 2025-03-02 (notice " in zhang.notes[0]
    assert "PubMed: no retraction notice; Crossref: retracted (retraction-watch, 2025-03-02)" in zhang.notes
    md = _digest_md(settings)
    action = md.split("## Action needed", 1)[1].split("\n## ", 1)[0]
    assert "Zhang et al. 2023" in action and "— Retracted" in action
    assert "Crossref/Retraction Watch: retracted on 2025-03-02" in action
    assert server.crossref.stats.requests == 2  # one per cited study with a DOI (zhang-2023, dream-2025)
    assert server.crossref.stats.params[0] == {"mailto": "tests@example.org"}


def test_an_expression_of_concern_in_crossref_is_an_action_item(
    server: ReplayServer, tmp_path: Path, db_url: str
) -> None:
    server.crossref.add(DREAM_CONCERN)
    settings = _settings(tmp_path, server, db_url)
    _summary, checks = _run(settings)
    dream = checks["dream-2025"]
    assert dream.status == "concern"  # worse than PubMed's own finding, the journal mismatch, which stays noted
    assert any(n.startswith("article says 'Pain Medicine'") for n in dream.notes)
    assert "Crossref/publisher: expression of concern on 2025-09-15 (notice " in " ".join(dream.notes)
    assert "PubMed: no expression of concern; Crossref: expression of concern (publisher, 2025-09-15)" in dream.notes
    action = _digest_md(settings).split("## Action needed", 1)[1].split("\n## ", 1)[0]
    assert "— Expression of concern" in action and "Crossref/publisher: expression of concern" in action


def test_crossref_not_knowing_a_doi_is_a_warning_and_pubmed_check_lands(
    server: ReplayServer, tmp_path: Path, db_url: str
) -> None:
    summary, checks = _run(_settings(tmp_path, server, db_url))
    assert summary.status == "success"
    assert sorted(w for w in summary.warnings if "Crossref" in w) == [
        "cited study dream-2025: Crossref has no record of DOI 10.1002/jsp2.70086",
        "cited study zhang-2023: Crossref has no record of DOI 10.3389/fbioe.2023.1155357",
    ]
    assert checks["dream-2025"].status == "mismatch" and checks["zhang-2023"].status == "new"  # PubMed's
    assert "Crossref: no record of DOI 10.1002/jsp2.70086" in checks["dream-2025"].notes


def test_crossref_failing_is_a_warning_and_pubmed_check_lands(
    server: ReplayServer, tmp_path: Path, db_url: str
) -> None:
    server.crossref.add(ZHANG_RETRACTED)
    server.crossref.faults.inject("any", "503", times=None)
    summary, checks = _run(_settings(tmp_path, server, db_url))
    assert summary.status == "success"
    failed = [w for w in summary.warnings if "Crossref check failed" in w]
    assert len(failed) == 2 and all("HTTP 503" in w for w in failed)
    assert checks["dream-2025"].status == "mismatch" and checks["zhang-2023"].status == "new"
    assert "Crossref: check failed this run" in checks["zhang-2023"].notes


def test_crossref_unreachable_is_one_warning_per_run(
    server: ReplayServer, tmp_path: Path, db_url: str
) -> None:
    settings = _settings(tmp_path, server, db_url).with_overrides(crossref={"base_url": "http://127.0.0.1:9/"})
    summary, checks = _run(settings)
    assert summary.status == "success"
    (warning,) = [w for w in summary.warnings if "Crossref" in w]
    assert "cannot reach Crossref at http://127.0.0.1:9/" in warning
    assert checks["dream-2025"].status == "mismatch"


def test_crossref_disabled_asks_nothing(server: ReplayServer, tmp_path: Path, db_url: str) -> None:
    server.crossref.add(ZHANG_RETRACTED)
    summary, checks = _run(_settings(tmp_path, server, db_url, crossref="enabled = false\n"))
    assert server.crossref.stats.requests == 0 and checks["zhang-2023"].status == "new"
    assert not [w for w in summary.warnings if "Crossref" in w]
