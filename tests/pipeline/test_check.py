"""`litwatch check` checks what a run will need, and the commands that only read never create or migrate a
database (issue 15, item 3). In process through `litwatch.pipeline.cli.main` with a tmp_path config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.storage.migrate import HEAD_REVISION, current, downgrade, upgrade
from tests.test_operations import queries_dir, write_config

BASE_URL = "http://127.0.0.1:9/entrez/eutils/"


def _config(tmp_path: Path, db_url: str, **sections: dict[str, object]) -> Path:
    return write_config(tmp_path, BASE_URL, db_url, queries_dir(tmp_path, "exosomes.toml"), **sections)


def _check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["--config", str(config), "check"])
    out, err = capsys.readouterr()
    return code, out, err


# --- check ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "message"), [
    ("fetch", "every day at six", r"\[schedule\] fetch: invalid crontab 'every day at six'"),
    ("digest", "0 7 * * 9", r"\[schedule\] digest: invalid crontab '0 7 \* \* 9'"),
])
def test_check_parses_the_crontabs_as_the_scheduler_does(
    tmp_path: Path, sqlite_url: str, key: str, value: str, message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    code, _out, err = _check(_config(tmp_path, sqlite_url, schedule={key: value}), capsys)
    assert code == 2
    assert re.fullmatch(rf"litwatch: error: \S+config\.toml: {message}.*\n", err), err


def test_check_passes_a_fresh_install_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "data" / "litwatch.sqlite"
    code, out, err = _check(_config(tmp_path, f"sqlite:///{target}"), capsys)
    assert (code, err) == (0, ""), err
    assert f"no database yet at {target}; the first run creates it and its folder {target.parent} — ok" in out
    assert "schedule: fetch '0 6 * * *', digest '0 7 * * 1' (UTC) — ok" in out
    assert not (tmp_path / "data").exists()


def test_check_reports_the_schema_of_an_existing_database(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(sqlite_url)
    code, out, _err = _check(_config(tmp_path, sqlite_url), capsys)
    assert code == 0 and f"schema {HEAD_REVISION}, up to date — ok" in out


@pytest.mark.parametrize("make", ["a file where the folder should be", "garbage instead of a database"])
def test_check_refuses_a_database_that_cannot_open(
    tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str],
) -> None:
    if make.startswith("a file"):
        (tmp_path / "blocker").write_text("x")
        url, message = f"sqlite:///{tmp_path / 'blocker' / 'db.sqlite'}", r"cannot create database .*is not a folder"
    else:
        (tmp_path / "db.sqlite").write_text("not a database" * 100)
        url, message = f"sqlite:///{tmp_path / 'db.sqlite'}", r".*file is not a database"
    code, _out, err = _check(_config(tmp_path, url), capsys)
    assert code == 2
    assert re.fullmatch(rf"litwatch: error: \S+config\.toml: \[storage\]: {message}\n", err), err


def test_check_refuses_an_unreachable_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _check(_config(tmp_path, "postgresql+psycopg://u:pw@127.0.0.1:1/litwatch"), capsys)
    assert code == 2 and "[storage]: cannot connect to database postgresql+psycopg://u:***@127.0.0.1:1" in err


@pytest.mark.parametrize(("mail", "message"), [
    ({"username": "editor"}, r"\[mail\] username: a username is set but no password: set LITWATCH_MAIL__PASSWORD"),
    ({"sender": "litwatch"}, r"\[mail\] sender: must be an e-mail address, got 'litwatch'"),
    ({"recipients": ["writer"]}, r"\[mail\] recipients: not an e-mail address: 'writer'"),
    ({"host": " "}, r"\[mail\] host: mail is enabled but no SMTP host is set"),
])
def test_check_refuses_incomplete_mail_settings_when_mail_is_enabled(
    tmp_path: Path, sqlite_url: str, mail: dict[str, object], message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    settings = {"enabled": True, "recipients": ["writer@example.org"], **mail}
    code, _out, err = _check(_config(tmp_path, sqlite_url, mail=settings), capsys)
    assert code == 2
    assert re.fullmatch(rf"litwatch: error: \S+config\.toml: {message}.*\n", err), err
    disabled = _config(tmp_path, sqlite_url, mail={**settings, "enabled": False})
    assert _check(disabled, capsys)[0] == 0  # the same keys are no problem while mail is off


# --- commands that only read -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["runs"], "no database at {path} "),
    (["status"], "no database at {path} "),
    (["show", "25054402"], "PMID 25054402 is not stored: no database at {path} "),
])
def test_read_only_commands_on_a_mistyped_path_say_so_and_create_nothing(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "dtaa" / "litwatch.sqlite"  # the typo
    assert cli.main(["--config", str(_config(tmp_path, f"sqlite:///{path}")), *args]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("litwatch: error: " + message.format(path=path)), err
    assert "no runs yet" not in out and not (tmp_path / "dtaa").exists()


def test_read_only_commands_work_on_a_read_only_database(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
) -> None:
    """Tests run as root, so file modes cannot make a database read-only; SQLite's mode=ro refuses any write."""
    path = tmp_path / "litwatch.sqlite"
    upgrade(sqlite_url)
    config = _config(tmp_path, f"sqlite:///file:{path}?mode=ro&uri=true")
    assert cli.main(["--config", str(config), "runs"]) == 0
    assert capsys.readouterr().out == "no runs yet\n"
    assert cli.main(["--config", str(config), "status", "--json"]) == 1  # unhealthy: nothing has run
    assert cli.main(["--config", str(config), "show", "25054402"]) == 1
    assert "PMID 25054402 is not stored in sqlite:///file:" in capsys.readouterr().err
    assert cli.main(["--config", str(config), "watermark", "show"]) == 0


def test_read_only_commands_never_migrate(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    upgrade(sqlite_url)
    older = downgrade(sqlite_url, steps=1)
    config = _config(tmp_path, sqlite_url)
    for args in (["runs"], ["status"], ["show", "1"]):
        assert cli.main(["--config", str(config), *args]) == 1
        assert f"is at schema revision {older}, this litwatch needs {HEAD_REVISION}: run `litwatch db upgrade`" in (
            capsys.readouterr().err)
    assert current(sqlite_url) == older
