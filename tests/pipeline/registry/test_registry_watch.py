"""The registry watch end to end against the offline registry server (pipeline.replay.registry) and the
E-utilities replay server: events once and only once across runs, paging, aliases, faults, month-only dates."""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.errors import LitwatchError
from litwatch.pipeline.ncbi import RateLimiter
from litwatch.pipeline.registry import RegistryClient, RegistryDate, SearchSpec
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.replay.registry import RegistryReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from tests.conftest import REPO, third_party

TODAY = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
FOLLOWED = ["NCT01860417", "NCT03737461", "NCT04042844", "NCT06325566"]
FAST = RateLimiter(1000.0)  # tests need no politeness towards the local server
ALIAS = "NCT09999999"  # a merged registration: the registry answers 301 to NCT04042844


def synthetic(when: str, nct_id: str) -> dict[str, Any]:
    path = third_party("ctgov", f"synthetic/{when}/synthetic_{nct_id}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def new_registration() -> dict[str, Any]:
    """SYNTHETIC: a copy of a synthetic record as a trial first posted ten days before TODAY."""
    study = copy.deepcopy(synthetic("after", "NCT06325566"))
    ident = study["protocolSection"]["identificationModule"]
    ident["nctId"], ident["orgStudyIdInfo"]["id"] = "NCT07000001", "SYN-NEW-REGISTRATION"
    status = study["protocolSection"]["statusModule"]
    status["studyFirstPostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    status["lastUpdatePostDateStruct"] = {"date": "2026-11-20", "type": "ACTUAL"}
    return study


def settings_for(tmp_path: Path, pubmed: ReplayServer, registry: RegistryReplayServer) -> Settings:
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries" / "stem-cell-lbp", queries / "stem-cell-lbp")
    follow = ", ".join(f'"{n}"' for n in [*FOLLOWED, ALIAS])
    (queries / "stem-cell-lbp" / "registry.toml").write_text(
        f'follow = [{follow}]\n[[searches]]\nid = "disc-cell-therapy"\n'
        'condition = "intervertebral disc degeneration OR degenerative disc disease"\n', encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{pubmed.base_url}"\nemail = "tests@example.org"\nbackoff_base = 0.001\n'
        f'max_attempts = 2\nmax_in_flight = 1\n[storage]\nurl = "sqlite:///{tmp_path}/db.sqlite"\n'
        f'data_dir = "{tmp_path}"\n[paths]\nqueries = "{queries}"\n'
        f'[registry]\nbase_url = "{registry.base_url}"\nrequests_per_second = 1000.0\nbackoff_base = 0.001\n'
        "max_attempts = 2\n", encoding="utf-8")
    return load_settings(cfg, env={})


def run(settings: Settings, **request: Any) -> None:
    Runner(settings, clock=lambda: TODAY).run(RunRequest(**request))


def events(settings: Settings) -> list[repository.RegistryEventRecord]:
    with session_scope(make_engine(settings.database_url)) as s:
        return repository.registry_events(s, "stem-cell-lbp")


@pytest.fixture
def pubmed(replay_factory: Any) -> ReplayServer:
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


@pytest.fixture
def registry() -> Any:
    with RegistryReplayServer() as server:
        yield server


def test_every_event_kind_once_and_only_once_across_runs(tmp_path: Path, pubmed: ReplayServer,
                                                         registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    for nct in FOLLOWED:
        registry.put(synthetic("before", nct))
    registry.put(new_registration())
    registry.alias(ALIAS, "NCT04042844")
    run(settings)
    first = Counter(e.kind for e in events(settings))
    assert first == {"new-registration": 1, "completion-passed": 1, "moved": 1}

    for nct in FOLLOWED:  # the registry's next versions, one with a retraction of its linked paper
        registry.put(synthetic("after", nct))
    respine = synthetic("after", "NCT03737461")
    respine["protocolSection"]["referencesModule"]["retractions"] = [{"pmid": "39393844", "source": "synthetic"}]
    registry.put(respine)
    run(settings)
    run(settings)  # nothing changed: nothing new
    registry.remove("NCT01860417")
    run(settings)
    run(settings)

    found = events(settings)
    assert Counter(e.kind for e in found) == {
        "new-registration": 1, "completion-passed": 1, "moved": 1, "results-posted": 1, "status-change": 2,
        "linked-publication": 1, "enrollment-final": 1, "retraction": 1, "disappeared": 1,
    }
    by = {(e.nct_id, e.kind): e for e in found}
    assert by[("NCT06325566", "status-change")].before == "RECRUITING"
    assert by[("NCT06325566", "status-change")].after == "ACTIVE_NOT_RECRUITING"
    assert by[("NCT01860417", "results-posted")].verdict == "update"  # a followed trial: act
    assert by[("NCT07000001", "new-registration")].verdict == "review"  # a new trial of the therapy: a look
    assert by[("NCT01860417", "disappeared")].before == "COMPLETED"
    assert by[("NCT04042844", "completion-passed")].key == "2026-06"  # month-only, ESTIMATED, still recruiting
    with session_scope(make_engine(settings.database_url)) as s:
        assert repository.trials_for_pmid(s, "39393844") == ["NCT03737461"]  # the paper → trial direction
        assert len(repository.snapshot_versions(s, "NCT03737461")) == 2


def test_paging_repeats_the_first_page_parameters_and_crosses_an_empty_page(registry: RegistryReplayServer) -> None:
    for nct in FOLLOWED:
        registry.put(synthetic("after", nct))
    registry.put(new_registration())
    registry.empty_page_after = 1
    client = RegistryClient(registry.base_url, page_size=2, backoff_base=0.001, rate_limiter=FAST)
    spec = SearchSpec("disc", cond="intervertebral disc degeneration")
    found = [s["protocolSection"]["identificationModule"]["nctId"] for s in client.search(spec, date(2026, 1, 1))]
    assert sorted(found) == sorted([*FOLLOWED, "NCT07000001"])
    pages = [p for p in registry.stats.params_log if p["path"] == "studies"]
    assert len(pages) == 4  # 2 + empty + 2 + 1
    assert len({tuple(sorted((k, v) for k, v in p.items() if k != "pageToken")) for p in pages}) == 1


def test_a_301_alias_is_followed_and_recorded(registry: RegistryReplayServer) -> None:
    registry.put(synthetic("after", "NCT04042844"))
    registry.alias(ALIAS, "NCT04042844")
    client = RegistryClient(registry.base_url, backoff_base=0.001, rate_limiter=FAST)
    fetched = client.get(ALIAS)
    assert fetched is not None and fetched.redirected and fetched.nct_id == "NCT04042844"
    assert client.get("NCT00000000") is None  # 404: not in the registry


def test_registry_faults_leave_pubmed_ingestion_untouched(tmp_path: Path, pubmed: ReplayServer,
                                                          registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    registry.faults.inject("any", "503", times=None)
    with pytest.raises(LitwatchError, match="503"):
        run(settings)
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        assert repository.get_watermark(s, "registry:stem-cell-lbp") is None
        pubmed_marks = [repository.get_watermark(s, q) for q in ("stem-cells", "exosomes", "gene-therapy")]
    assert pubmed_marks == [TODAY.date()] * 3  # PubMed's part completed and advanced
    registry.faults.clear()
    for nct in FOLLOWED:
        registry.put(synthetic("before", nct))
    run(settings)
    with session_scope(engine) as s:
        assert repository.get_watermark(s, "registry:stem-cell-lbp") == TODAY.date()


def test_source_registry_alone_asks_pubmed_nothing(tmp_path: Path, pubmed: ReplayServer,
                                                   registry: RegistryReplayServer) -> None:
    settings = settings_for(tmp_path, pubmed, registry)
    for nct in FOLLOWED:
        registry.put(synthetic("before", nct))
    run(settings, sources=("registry",), check_cited=False)
    assert sum(pubmed.stats.requests.values()) == 0
    assert registry.stats.total == 1 + len(FOLLOWED) + 1  # one search page, each followed id (the alias: 404 here)


def test_month_only_dates_pass_at_the_end_of_their_month() -> None:
    june = RegistryDate("2026-06", "ESTIMATED")
    assert not june.passed(date(2026, 6, 30))
    assert june.passed(date(2026, 7, 1))
    assert RegistryDate.from_struct({"date": "2015-08"}) == RegistryDate("2015-08", None)  # no type: kept as is


def test_upgrade_is_idempotent_with_registry_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/x.sqlite"
    assert upgrade(url) == upgrade(url)
