"""Watermarks (issue 15, item 1): a run never sets one past today, and `litwatch watermark show|set|reset`
repairs a stalled saved search, each change recorded in the run history. Against the replay server (the real
E-utilities stand-in) and a real SQLite database."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.errors import QueryError
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from litwatch.storage.runs import put_watermark
from tests.pipeline.conftest import ReplayFactory
from tests.test_operations import queries_dir, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = datetime.now(UTC).date()


@pytest.fixture
def server(replay_factory: ReplayFactory) -> ReplayServer:
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


@pytest.fixture
def config(tmp_path: Path, server: ReplayServer, sqlite_url: str) -> Path:
    return write_config(tmp_path, server.base_url, sqlite_url, queries_dir(tmp_path, "exosomes.toml"))


@pytest.fixture
def settings(config: Path) -> Settings:
    return load_settings(config, env={})


def _watermark(url: str, query_id: str = "exosomes") -> date | None:
    with session_scope(make_engine(url)) as s:
        return repository.get_watermark(s, query_id)


def test_a_run_never_sets_the_watermark_past_today(settings: Settings, sqlite_url: str) -> None:
    """Defence in depth behind the CLI's refusal: a library caller asking for a future window end still leaves
    the watermark at today, so the next run's window does not start years ahead."""
    runner = Runner(settings, clock=lambda: NOW)
    summary = runner.run(RunRequest(query_ids=("exosomes",), since=date(2026, 9, 1), until=date(2030, 1, 1),
                                    check_cited=False))
    assert summary.status == "success" and summary.found > 0
    assert _watermark(sqlite_url) == NOW.date()
    later = Runner(settings, clock=lambda: NOW + timedelta(days=1))
    assert later.run(RunRequest(query_ids=("exosomes",), check_cited=False)).status == "success"


def test_watermark_set_repairs_a_stalled_search_and_is_recorded(
    config: Path, settings: Settings, sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(sqlite_url)
    with session_scope(make_engine(sqlite_url)) as s:  # the stall an old litwatch left behind
        put_watermark(s, "exosomes", date(2030, 1, 1), None, NOW)
    with pytest.raises(QueryError, match="the window starts after it ends"):
        Runner(settings).plan(RunRequest(query_ids=("exosomes",)))

    assert cli.main(["--config", str(config), "watermark", "show", "exosomes"]) == 0
    assert re.match(r"exosomes\s+2030-01-01 ", capsys.readouterr().out)
    repaired = (TODAY - timedelta(days=20)).isoformat()
    assert cli.main(["--config", str(config), "watermark", "set", "exosomes", repaired, "--trigger", "manual"]) == 0
    assert capsys.readouterr().out == f"watermark exosomes: 2030-01-01 -> {repaired} (recorded as run 1)\n"
    assert _watermark(sqlite_url) == date.fromisoformat(repaired)
    (plan,) = Runner(settings).plan(RunRequest(query_ids=("exosomes",)))  # runs again from the repaired date
    assert plan.window.start == date.fromisoformat(repaired) - timedelta(days=settings.ncbi.overlap_days)

    assert cli.main(["--config", str(config), "runs", "--json"]) == 0
    (run,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (run["kind"], run["trigger"], run["status"]) == ("watermark", "manual", "success")
    assert run["warnings"] == [f"watermark exosomes: 2030-01-01 -> {repaired}"]
    assert cli.main(["--config", str(config), "runs"]) == 0
    assert f"watermark exosomes: 2030-01-01 -> {repaired}" in capsys.readouterr().out


def test_watermark_reset_forgets_it_and_is_recorded(
    config: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--config", str(config), "watermark", "set", "exosomes", "2026-11-01"]) == 0
    assert cli.main(["--config", str(config), "watermark", "reset", "exosomes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "watermark exosomes: 2026-11-01 -> none (the next run is a first run) (recorded as run 2)")
    assert _watermark(sqlite_url) is None
    assert cli.main(["--config", str(config), "watermark", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["query_id"], shown["until"]) == ("exosomes", None)
    with session_scope(make_engine(sqlite_url)) as s:
        assert [r.kind for r in repository.list_runs(s)] == ["watermark", "watermark"]


@pytest.mark.parametrize(("args", "pattern"), [
    (["set", "nope", "2026-11-01"], r"unknown query id nope; known: exosomes"),
    (["reset", "nope"], r"unknown query id nope; known: exosomes"),
    (["set", "exosomes", "2030-01-01"], rf"watermark 2030-01-01 is after today \({TODAY}\): .*"),
])
def test_watermark_refuses_unknown_ids_and_future_dates_recording_nothing(
    config: Path, sqlite_url: str, args: list[str], pattern: str, capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(sqlite_url)
    assert cli.main(["--config", str(config), "watermark", *args]) == 2
    assert re.fullmatch(rf"litwatch: error: {pattern}\n", capsys.readouterr().err)
    with session_scope(make_engine(sqlite_url)) as s:
        assert repository.list_runs(s) == []
    assert _watermark(sqlite_url) is None
