"""pipeline/cli/ and its plumbing (logs, progress): help for every command, exit codes of `status`, `runs --json`,
the trigger default, log lines with the run id, and progress as a bar or as log lines."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import pty
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litwatch.pipeline import cli
from litwatch.pipeline.cli import output
from litwatch.pipeline.logs import LIBRARY_LOGGERS, configure_logging, level_from_env, set_run_id
from litwatch.pipeline.progress import BarProgress, LogProgress, progress_for
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.migrate import upgrade
from litwatch.storage.records import (
    Article,
    Assessment,
    ClaimStance,
    Finding,
    Outcome,
    RunCounts,
    StoredArticle,
)
from tests.test_operations import LINE, queries_dir, write_config


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the handlers of `litwatch` and the library loggers: put everything back after."""
    names = ("litwatch", *LIBRARY_LOGGERS)
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            if handler not in handlers:
                handler.close()
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_configure_logging_leaves_the_root_logger_alone(restore_logging: None) -> None:
    """An application that embeds litwatch keeps its own root set-up; litwatch's lines go to litwatch's handlers."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_logging(verbose=1)
    assert (list(root.handlers), root.level) == before
    assert logging.getLogger("litwatch").handlers and not logging.getLogger("litwatch").propagate


# --- help ------------------------------------------------------------------------------------------------------

def _subparsers() -> dict[str, object]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]  # noqa: SLF001 - argparse keeps them here
    return action.choices  # type: ignore[return-value]


def test_every_command_is_wired_and_has_help() -> None:
    assert set(_subparsers()) == set(cli.COMMANDS)


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_command_help_exits_0_and_explains(command: str, capsys: pytest.CaptureFixture[str],
                                           restore_logging: None) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith(f"usage: litwatch {command}")
    description = _subparsers()[command].description  # type: ignore[attr-defined]
    assert description and len(description) > 40, f"`litwatch {command}` needs a description that explains it"
    assert " ".join(description.split())[:40] in out


def test_top_level_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes: 0 ok, 1 run failed, 2 usage/config error, 3 another run holds the lock." in out
    assert all(command in out for command in cli.COMMANDS)
    assert "LITWATCH_LOGLEVEL" in out and "--log-file" in out


# --- trigger default -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("terminal", "given", "expected"),
                         [(True, None, "manual"), (False, None, "cron"), (False, "scheduler", "scheduler"),
                          (True, "cron", "cron")])
def test_trigger_defaults_to_manual_on_a_terminal_and_cron_otherwise(
    terminal: bool, given: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    master, slave = pty.openpty()
    stdin = os.fdopen(slave, "r") if terminal else io.StringIO("")
    try:
        monkeypatch.setattr("sys.stdin", stdin)
        args = cli.build_parser().parse_args(["run", *(["--trigger", given] if given else [])])
        assert cli.trigger(args) == expected
    finally:
        stdin.close()
        os.close(master)
        if not terminal:
            os.close(slave)


# --- runs and status through main() ------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    queries = queries_dir(tmp_path, "exosomes.toml")
    return write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", sqlite_url, queries)


def _record_fetch(db_url: str, started: datetime, found: int, status: str = "success") -> None:
    upgrade(db_url)
    with session_scope(make_engine(db_url)) as s:
        run_id = repository.start_run(s, kind="fetch", trigger="cron", window_start=None, window_end=None,
                                      started_at=started)
        repository.start_query_run(s, run_id, "exosomes", started.date() - timedelta(days=14), started.date())
        repository.finish_query_run(s, run_id, "exosomes", status=status, counts=RunCounts(found=found, new=found),
                                    error=None)
        repository.finish_run(s, run_id, status=status, finished_at=started + timedelta(seconds=42.5), error=None,
                              warnings=["query exosomes: 1 PMID(s) listed by esearch were never returned"])


def test_runs_json_has_what_the_issue_asks(config: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str],
                                          restore_logging: None) -> None:
    started = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    _record_fetch(sqlite_url, started, 8)
    assert cli.main(["--config", str(config), "runs", "--json", "--limit", "5"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    run = json.loads(line)
    assert {"run_id", "kind", "trigger", "status", "started_at", "finished_at", "duration_s", "window_start",
            "window_end", "found", "new", "changed", "unchanged", "deleted", "warnings", "error", "queries"} <= set(run)
    assert (run["kind"], run["trigger"], run["status"], run["found"], run["duration_s"]) == (
        "fetch", "cron", "success", 8, 42.5)
    assert (run["window_start"], run["window_end"]) == ("2026-11-06", "2026-11-20")
    assert run["queries"][0]["query_id"] == "exosomes" and len(run["warnings"]) == 1
    assert cli.main(["--config", str(config), "runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert re.match(r"\s+1 2026-11-20 06:00:00 fetch\s+cron\s+success\s+42\.5s 2026-11-06\.\.2026-11-20\s+8 ",
                    table[1]), table


@pytest.mark.parametrize(("age", "code", "first_line"),
                         [(timedelta(hours=1), 0, "litwatch: healthy"), (timedelta(days=3), 1, "litwatch: UNHEALTHY")])
def test_status_exit_code_tells_monitoring(config: Path, sqlite_url: str, age: timedelta, code: int,
                                           first_line: str, capsys: pytest.CaptureFixture[str],
                                           restore_logging: None) -> None:
    _record_fetch(sqlite_url, datetime.now(UTC) - age, 8)
    assert cli.main(["--config", str(config), "status"]) == code
    assert capsys.readouterr().out.startswith(first_line)
    assert cli.main(["--config", str(config), "status", "--json"]) == code
    st = json.loads(capsys.readouterr().out)
    assert st["healthy"] is (code == 0) and st["queries"][0]["query_id"] == "exosomes"
    assert {"problems", "lock", "last_digest", "last_digest_sent", "pending_items", "last_run"} <= set(st)


# --- logs ------------------------------------------------------------------------------------------------------

def test_every_log_line_carries_the_run_id_also_from_helper_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    log_file = tmp_path / "logs" / "litwatch.log"
    configure_logging(0, log_file)
    log = logging.getLogger("litwatch.pipeline.runner")
    log.info("before any run")
    set_run_id(7)
    log.info("in run")
    client_log = logging.getLogger("litwatch.pipeline.ncbi.client")
    helper = threading.Thread(target=lambda: client_log.warning("from a helper"))
    helper.start()
    helper.join()
    set_run_id(None)
    log.info("after the run")
    for handler in logging.getLogger("litwatch").handlers:
        handler.flush()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert [re.search(r"run=(\S+)", line)[1] for line in lines] == ["-", "7", "7", "-"]  # type: ignore[index]
    err = capsys.readouterr().err.splitlines()  # the console shows WARNING and up by default
    assert len(err) == 1 and " WARNING run=7 litwatch.pipeline.ncbi.client: from a helper" in err[0]


@pytest.mark.parametrize(
    ("env", "verbose", "shown", "hidden"),
    [
        (None, 0, ["WARNING"], ["INFO", "DEBUG"]),
        (None, 1, ["WARNING", "INFO"], ["DEBUG"]),
        (None, 2, ["WARNING", "INFO", "DEBUG"], []),
        ("debug", 0, ["WARNING", "INFO", "DEBUG"], []),
        ("ERROR", 2, [], ["WARNING", "INFO", "DEBUG"]),
        ("20", 0, ["WARNING", "INFO"], ["DEBUG"]),
    ],
)
def test_litwatch_loglevel_and_verbose_set_the_console_level(
    env: str | None, verbose: int, shown: list[str], hidden: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], restore_logging: None,
) -> None:
    if env is None:
        monkeypatch.delenv("LITWATCH_LOGLEVEL", raising=False)
    else:
        monkeypatch.setenv("LITWATCH_LOGLEVEL", env)
    configure_logging(verbose)
    log = logging.getLogger("litwatch.pipeline.runner")
    log.debug("d")
    log.info("i")
    log.warning("w")
    err = capsys.readouterr().err
    assert all(f" {level} run=" in err for level in shown), err
    assert not any(f" {level} run=" in err for level in hidden), err


def test_a_bad_litwatch_loglevel_is_named_and_ignored(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str],
                                                       restore_logging: None) -> None:
    monkeypatch.setenv("LITWATCH_LOGLEVEL", "LOUD")
    configure_logging(0)
    assert "LITWATCH_LOGLEVEL='LOUD' is not a log level" in capsys.readouterr().err
    assert level_from_env("LOUD") is None and level_from_env(" info ") == logging.INFO


def test_secrets_are_redacted_from_log_lines(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "litwatch.log"
    configure_logging(0, log_file, secrets=("hunter2-smtp",))
    logging.getLogger("litwatch.pipeline.ncbi.client").warning("GET https://x/esearch.fcgi?db=pubmed&api_key=abc123def&term=x")
    logging.getLogger("litwatch.reports.delivery").warning("login with %s failed", "hunter2-smtp")
    text = log_file.read_text(encoding="utf-8")
    assert "abc123def" not in text and "hunter2-smtp" not in text
    assert "api_key=***&term=x" in text and "login with *** failed" in text


# --- progress --------------------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bar_progress_redraws_in_place_with_rate_and_eta() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = BarProgress(stream, width=10, clock=clock)
    bar.start("stem-cells", 100)
    clock.now += 2.0
    bar.advance(10)
    clock.now += 2.0
    bar.advance(90)
    bar.finish()
    bar.finish()  # idempotent: the CLI also calls it after an error
    frames = stream.getvalue().split("\r")[1:]
    assert frames[0] == "stem-cells           [----------] 0/100    0.0 rec/s ETA     --"
    assert frames[1] == "stem-cells           [#---------] 10/100    5.0 rec/s ETA    18s"
    assert frames[2] == "stem-cells           [##########] 100/100   25.0 rec/s ETA     0s\n"


def test_bar_eta_in_minutes_for_a_long_backfill() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = BarProgress(stream, width=4, clock=clock)
    bar.start("everything", 12_000)
    clock.now += 10.0
    bar.advance(500)
    assert stream.getvalue().endswith("500/12000   50.0 rec/s ETA  3m50s")


def test_log_progress_writes_plain_lines_with_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = LogProgress(clock=clock)
    with caplog.at_level(logging.INFO, logger="litwatch.progress"):
        progress.start("exosomes", 1000)
        clock.now += 4.0
        progress.advance(500)
        progress.finish()
    assert [r.getMessage() for r in caplog.records] == [
        "exosomes: 1000 records to fetch",
        "exosomes: 500/1000 records stored (125 rec/s, ETA 4s)",
    ]
    assert "\r" not in caplog.text


def test_progress_is_a_bar_only_on_a_terminal() -> None:
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal:
        assert isinstance(progress_for(terminal), BarProgress)
    os.close(master)
    assert isinstance(progress_for(io.StringIO()), LogProgress)


@pytest.mark.parametrize(("key", "value", "message"),
                         [("timezone", "Bad/Zone", r"\[schedule\] timezone: unknown time zone 'Bad/Zone'"),
                          ("digest", "0 7 * * 9", r"\[schedule\] digest: invalid crontab '0 7 \* \* 9'")])
def test_schedule_with_a_bad_schedule_exits_2_before_starting(
    tmp_path: Path, sqlite_url: str, key: str, value: str, message: str, capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", sqlite_url, queries_dir(tmp_path),
                          schedule={key: value})
    assert cli.main(["--config", str(config), "schedule"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.fullmatch(rf"litwatch: error: {re.escape(str(config))}: {message}.*\n", captured.err), captured.err


def _judged() -> Assessment:
    finding = Finding("no-difference", True, (Outcome("VAS", "−1.2", "points", "6 months", "VAS −1.2 points"),),
                      statement="Pain did not differ from sham at 6 months.")
    return Assessment(pmid="1", verdict="update", design="rct", population="human", condition="lbp",
                      reasons=("randomised",), ruleset_version="t", article="stem-cell-lbp", finding=finding,
                      stances=(ClaimStance("dream-rct", "supports", "article: comparable to sham; here too"),
                               ClaimStance("overview", "contradicts", "article: promising; here: no difference")))


def test_show_prints_the_finding_and_the_stance_per_claim() -> None:
    article = Article(pmid="1", title="T")
    when = datetime(2026, 11, 1, tzinfo=UTC)
    lines = output.stored_record_lines(StoredArticle(article, article.content_hash, when, when, when,
                                                     assessments=(_judged(),)))
    tail = lines[lines.index("verdict for stem-cell-lbp: UPDATE (rct, human, lbp)"):]
    assert tail[2:] == [
        "  found: No difference from control at 6 months (VAS −1.2 points)",
        '    VAS: "VAS −1.2 points"',
        '  in its words: "Pain did not differ from sham at 6 months."',
        "  for the article:",
        "    Supports dream-rct: article: comparable to sham; here too",
        "    Contradicts overview: article: promising; here: no difference",
    ]
    unjudged = dataclasses.replace(_judged(), finding=None, stances=())
    assert not any(line.startswith(("  found:", "  for the article")) for line in output.stored_record_lines(
        StoredArticle(article, article.content_hash, when, when, when, assessments=(unjudged,))))


def test_assess_json_lines_carry_the_finding_and_stance_as_the_json_digest_does() -> None:
    data = json.loads(output.assessment_json(_judged()))
    assert data["finding"] == {
        "direction": "no-difference", "controlled": True, "statement": "Pain did not differ from sham at 6 months.",
        "outcomes": [{"measure": "VAS", "value": "−1.2", "unit": "points", "timepoint": "6 months",
                      "quote": "VAS −1.2 points"}],
        "studies": None, "patients": None,
    }
    assert data["stance"] == {
        "dream-rct": {"stance": "supports", "reason": "article: comparable to sham; here too"},
        "overview": {"stance": "contradicts", "reason": "article: promising; here: no difference"},
    }
    bare = json.loads(output.assessment_json(dataclasses.replace(_judged(), finding=None, stances=())))
    assert bare["finding"] is None and bare["stance"] == {}
    assert output.assessment_row(_judged()).split() == ["1", "UPDATE", "rct", "human", "randomised"]
