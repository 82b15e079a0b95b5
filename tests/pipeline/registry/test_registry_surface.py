"""What a user sees of the registry watch: `run --source`, `status`, the digest's "Trial registry" section (HTML,
Markdown, JSON, Atom) and the bundled registry fixtures — against the offline registry server, never the real one."""

from __future__ import annotations

import copy
import filecmp
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from litwatch.pipeline.cli import main
from litwatch.pipeline.cli.output import json_line
from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.demo import demo_registry_dir
from litwatch.pipeline.digest_run import DigestRequest, make_digests
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.replay.registry import RegistryReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.pipeline.status import collect_status, format_status
from litwatch.storage.engine import make_engine
from tests.conftest import FIXTURES, REPO

TODAY = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
REGISTRY = FIXTURES / "registry"
HOSTILE_TITLE = '<script>alert("t")</script> **bold** [x](javascript:alert(1)) <img src=x onerror=alert(2)>'
HOSTILE_WHY = "<b>sponsor</b> & <a href='javascript:x'>withdrew</a>"


def study(when: str, nct_id: str) -> dict[str, Any]:
    return json.loads((REGISTRY / when / f"{nct_id}.json").read_text(encoding="utf-8"))


def settings_for(tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer) -> Settings:
    """The bundled low-back-pain article with its bundled registry.toml, pointed at both offline servers."""
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries" / "stem-cell-lbp", queries / "stem-cell-lbp")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{pubmed.base_url}"\nemail = "tests@example.org"\nbackoff_base = 0.001\n'
        f'max_attempts = 2\nmax_in_flight = 1\n[storage]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n'
        f'data_dir = "{tmp_path}"\n[paths]\nqueries = "{queries}"\n[digest]\nout_dir = "{tmp_path / "digests"}"\n'
        f'[crossref]\nenabled = false\n[schedule]\nfetch_interval_days = 1.0\n'
        f'[registry]\nbase_url = "{registry.base_url}"\nrequests_per_second = 1000.0\nbackoff_base = 0.001\n'
        "max_attempts = 2\nfirst_run_days = 36500\n", encoding="utf-8")
    return load_settings(cfg, env={})


def run(settings: Settings, **request: Any) -> None:
    Runner(settings, clock=lambda: TODAY).run(RunRequest(**request))


@pytest.fixture
def pubmed(replay_factory: Any) -> ReplayServer:
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


@pytest.fixture
def registry() -> Any:
    with RegistryReplayServer(REGISTRY / "earlier") as server:
        yield server


# ---- run --source ----------------------------------------------------------------------------------------------

def test_a_pubmed_only_run_asks_the_registry_nothing(tmp_path: Path, pubmed: ReplayServer,
                                                    registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    run(settings, sources=("pubmed",), check_cited=False)
    assert registry.stats.total == 0
    assert sum(pubmed.stats.requests.values()) > 0


def test_a_registry_only_run_asks_pubmed_nothing_and_counts_its_requests(
        tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    run(settings, sources=("registry",))
    assert sum(pubmed.stats.requests.values()) == 0
    # one search page (it finds NCT02097862: stromal vascular fraction) + a GET of NCT03709901 it did not find
    assert registry.stats.requests == {"studies": 1, "study": 1}


def test_cli_source_is_passed_to_the_run_and_an_unknown_source_is_a_usage_error(
        tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    config = ["--config", str(settings.source)]
    assert main([*config, "run", "--source", "registry", "--source", "registry", "--trigger", "cron"]) == 0
    assert sum(pubmed.stats.requests.values()) == 0 and registry.stats.total == 2
    with pytest.raises(SystemExit) as exc:
        main([*config, "run", "--source", "scopus"])
    assert exc.value.code == 2
    assert "invalid choice: 'scopus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--source SOURCE" in (out := capsys.readouterr().out) and "crossref" in out and "registry" in out


# ---- status ----------------------------------------------------------------------------------------------------

def test_status_shows_each_articles_registry_part_and_a_missing_success_is_a_problem(
        tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    engine = make_engine(settings.database_url)
    run(settings, sources=("pubmed",), check_cited=False)
    before = collect_status(settings, engine, clock=lambda: TODAY)
    assert "trial registry (stem-cell-lbp): no successful run yet" in before.problems
    run(settings, sources=("registry",))
    after = collect_status(settings, engine, clock=lambda: TODAY)
    assert not any(p.startswith("trial registry") for p in after.problems)
    (row,) = after.registry
    assert (row.source_id, row.follows, row.searches, row.watermark) == (
        "registry:stem-cell-lbp", 2, 1, TODAY.date())
    assert ("  trial registry stem-cell-lbp: 2 trial(s) followed, 1 search(es); last success 2026-12-01 06:00 UTC, "
            "watermark 2026-12-01") in format_status(after)
    as_json = json.loads(json_line(after))
    assert as_json["registry"][0]["last_success"] == "2026-12-01T06:00:00+00:00"
    stale = collect_status(settings, engine, clock=lambda: TODAY.replace(day=4))
    assert any(p.startswith("trial registry (stem-cell-lbp): last success 2026-12-01 06:00 UTC is older than 2 days")
               for p in stale.problems)
    off = collect_status(settings.with_overrides(registry={"enabled": False}), engine, clock=lambda: TODAY)
    assert off.registry == ()  # nothing expected of a registry switched off


# ---- the digest ------------------------------------------------------------------------------------------------

def test_the_digest_lists_registry_events_in_every_format_and_escapes_registry_text(
        tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    run(settings, sources=("registry",))  # the baseline
    registry.load(sorted((REGISTRY / "current").glob("*.json")))
    hostile = copy.deepcopy(study("current", "NCT03709901"))
    status = hostile["protocolSection"]["statusModule"]
    status["overallStatus"], status["whyStopped"] = "WITHDRAWN", HOSTILE_WHY
    hostile["protocolSection"]["identificationModule"]["briefTitle"] = HOSTILE_TITLE
    registry.put(hostile)
    run(settings, sources=("registry",))
    (outcome,) = make_digests(settings, DigestRequest(trigger="manual", all_time=True),
                               clock=lambda: TODAY.replace(hour=7))
    digest = outcome.digest
    events = {(e.nct_id, e.event): e for e in digest.registry_events}
    assert events[("NCT02097862", "results-posted")].change == "results first posted 2018-03-02"
    assert events[("NCT02097862", "status-change")].change == "active, not recruiting → completed"
    assert events[("NCT03709901", "status-change")].change == "recruiting → withdrawn"
    assert digest.counts.trial_updates == 3 and "and 3 trial registry updates" in digest.tally

    html = outcome.paths["html"].read_text("utf-8")
    assert "Trial registry (" in html and 'href="https://clinicaltrials.gov/study/NCT02097862"' in html
    assert "<script>" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;sponsor&lt;/b&gt; &amp; " in html
    markdown = outcome.paths["md"].read_text("utf-8")
    section = markdown.split("## Trial registry (")[1]
    assert ("- **Results posted** — [NCT02097862](https://clinicaltrials.gov/study/NCT02097862) Stromal Vascular "
            "Fraction Plus Platelet Rich Plasma for Degenerative Disc Disease: results first posted 2018-03-02 "
            "(action)") in section
    assert "<script>" not in markdown and "](javascript:" not in markdown and "\\*\\*bold\\*\\*" in markdown
    data = json.loads(outcome.paths["json"].read_text("utf-8"))
    posted = next(e for e in data["registry_events"] if e["event"] == "results-posted")
    assert {k: posted[k] for k in ("nct_id", "event", "from", "to", "verdict")} == {
        "nct_id": "NCT02097862", "event": "results-posted", "from": None, "to": "2018-03-02", "verdict": "update"}
    stopped = next(e for e in data["registry_events"] if e["nct_id"] == "NCT03709901" and e["event"] == "status-change")
    assert stopped["title"] == HOSTILE_TITLE and HOSTILE_WHY in stopped["note"]  # JSON keeps the data as data
    atom = outcome.paths["atom"].read_text("utf-8")
    assert "Trial registry: Results posted — NCT02097862" in atom and "<script>" not in atom


# ---- the bundled fixtures --------------------------------------------------------------------------------------

def test_the_demo_registry_records_are_the_test_fixtures() -> None:
    for when in ("earlier", "current"):
        names = sorted(p.name for p in (REGISTRY / when).glob("*.json"))
        assert names == sorted(p.name for p in (demo_registry_dir() / when).glob("*.json")) and len(names) == 5
        match, mismatch, errors = filecmp.cmpfiles(REGISTRY / when, demo_registry_dir() / when, names, shallow=False)
        assert (mismatch, errors) == ([], [])
    assert filecmp.cmp(REGISTRY / "SOURCES.md", demo_registry_dir() / "SOURCES.md", shallow=False)
    assert "SYNTHETIC" in (REGISTRY / "SOURCES.md").read_text("utf-8")
