"""Usage errors are found before anything runs or is recorded (issue 15, items 1, 2 and 7): one line, exit 2,
no database created, no run in the history. In process through `litwatch.pipeline.cli.main`; nothing here needs
a server, because nothing may get that far."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from tests.test_operations import queries_dir, write_config

TODAY = datetime.now(UTC).date()


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    return write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", sqlite_url,
                        queries_dir(tmp_path, "exosomes.toml"))


def _one_error_line(err: str, pattern: str) -> None:
    assert re.fullmatch(rf"litwatch: error: {pattern}\n", err), err


@pytest.mark.parametrize(("args", "pattern"), [
    (["run", "--since", "2025-06-30", "--until", "2025-01-01"],
     r"--since 2025-06-30 is after --until 2025-01-01: the window would run backwards"),
    (["backfill", "--since", "2025-06-30", "--until", "2025-01-01"], r"--since 2025-06-30 is after --until .*"),
    (["run", "--dry-run", "--since", "2025-06-30", "--until", "2025-01-01"], r"--since 2025-06-30 is after .*"),
    (["run", "--query", "exosomes", "--since", "2026-09-01", "--until", "2030-01-01"],
     rf"--until 2030-01-01 is after today \({TODAY}\): PubMed has nothing dated in the future; .*"),
    (["backfill", "--since", "2000-01-01", "--until", "2030-01-01"], r"--until 2030-01-01 is after today .*"),
    (["run", "--since", "2030-01-01"], rf"--since 2030-01-01 is after today \({TODAY}\): .*"),
    (["digest", "--since", "2026-12-01", "--until", "2026-11-01", "--dry-run"],
     r"--since 2026-12-01 is not before --until 2026-11-01: the period would be empty or run backwards .*"),
    (["digest", "--since", "2030-01-01"], r"--since 2030-01-01 is after today .*"),
])
def test_impossible_dates_exit_2_with_one_line_and_create_nothing(
    config: Path, tmp_path: Path, args: list[str], pattern: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--config", str(config), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    _one_error_line(err, pattern)
    assert not (tmp_path / "litwatch.sqlite").exists()  # not even a database, let alone a run in it


def test_reversed_dates_record_no_run_in_an_existing_history(
    config: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(sqlite_url)
    for args in (["run", "--since", "2025-06-30", "--until", "2025-01-01"],
                 ["digest", "--since", "2026-12-01", "--until", "2026-11-01"]):
        assert cli.main(["--config", str(config), *args]) == 2
    with session_scope(make_engine(sqlite_url)) as s:
        assert repository.list_runs(s) == []
    assert cli.main(["--config", str(config), "runs"]) == 0
    assert capsys.readouterr().out.endswith("no runs yet\n")


def test_todays_date_is_not_the_future(config: Path) -> None:
    """Only a date after today is refused: --until today is the default's own value (the check must not stop
    a run; with no server here the run fails later, with exit 1, not 2)."""
    args = ["run", "--since", (TODAY - timedelta(days=3)).isoformat(), "--until", TODAY.isoformat()]
    assert cli.usage_problem(cli.build_parser().parse_args(args), TODAY) is None


@pytest.mark.parametrize(("given", "stored"), [
    ("25054402", "25054402"), ("PMID25054402", "25054402"), ("pmid:25054402", "25054402"),
    ("PMID: 25054402", "25054402"),
])
def test_show_accepts_pmid_as_people_paste_it(given: str, stored: str) -> None:
    assert cli.build_parser().parse_args(["show", given]).pmid == stored


@pytest.mark.parametrize("args", [["show", "abc"], ["show", "PMID"], ["show", "12ab"], ["runs", "--limit", "-1"],
                                  ["runs", "--limit", "0"], ["runs", "--limit", "ten"]])
def test_malformed_pmid_and_limit_are_usage_errors(
    config: Path, tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--config", str(config), *args])
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err
    assert not (tmp_path / "litwatch.sqlite").exists()


@pytest.mark.parametrize(("args", "pattern"), [
    (["--out", "z.md", "--format", "html"], r"--out z\.md: the extension \.md disagrees with --format html"),
    (["--out", "y.html", "--format", "html", "--format", "md"],
     r"--out y\.html names one file but 2 formats are asked for \(html, md\): give --format html, or a folder"),
    (["--out", "y.html"], r"--out y\.html names one file but 4 formats are asked for .*"),
    (["--out", "notes.txt", "--format", "md"], r"--out notes\.txt: \.txt is not a digest extension .*"),
])
def test_digest_out_that_disagrees_with_the_formats_is_refused_before_anything(
    config: Path, tmp_path: Path, args: list[str], pattern: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--config", str(config), "digest", *args]) == 2
    _one_error_line(capsys.readouterr().err, pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "queries"]  # no file, folder or database


@pytest.mark.parametrize(("command", "default"), [("replay", "(default 8765)"), ("demo", "(default demo-output)")])
def test_help_states_the_defaults(command: str, default: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert default in " ".join(capsys.readouterr().out.split())
