"""The digest job for real: a run over the replay server into SQLite/PostgreSQL, then digests written, mailed to an
aiosmtpd server on loopback, failed sends retried by the next digest, and the `litwatch digest` command."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from litwatch.pipeline.config import Settings, load_settings
from litwatch.pipeline.digest_run import DigestRequest, digest_target, make_digest
from litwatch.pipeline.errors import UsageError
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.runner import Runner, RunRequest
from litwatch.reports import DeliveryError
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from tests.conftest import SmtpInbox, free_port, lbp_only_queries
from tests.pipeline.conftest import ReplayFactory

Smtp = tuple[SmtpInbox, int]  # (the loopback SMTP server's handler, its port)

REPO = Path(__file__).resolve().parents[2]
SINCE, UNTIL = date(2026, 9, 1), date(2026, 11, 24)


@pytest.fixture
def replay(replay_factory: ReplayFactory) -> ReplayServer:
    return replay_factory(rate_limit=None, api_key_rate_limit=None)


def _settings(tmp_path: Path, base_url: str, db_url: str, smtp_port: int) -> Settings:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[ncbi]\nbase_url = "{base_url}"\nemail = "tests@example.org"\nbatch_size = 50\n'
        f"backoff_base = 0.001\nmax_attempts = 2\nrequests_per_second = 200\n"
        f'[storage]\nurl = "{db_url}"\ndata_dir = "{tmp_path}"\n'
        f'[paths]\nqueries = "{lbp_only_queries()}"\n'
        "[registry]\nenabled = false\n[crossref]\nenabled = false\n"  # tests never reach clinicaltrials.gov or Crossref
        f'[digest]\nout_dir = "{tmp_path / "digests"}"\n'
        f'[mail]\nenabled = true\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        f'sender = "litwatch@example.org"\nrecipients = ["writer@example.org"]\ntimeout = 5\n',
        encoding="utf-8",
    )
    return load_settings(cfg, env={})


@pytest.fixture
def settings(tmp_path: Path, replay: ReplayServer, db_url: str, smtp_server: Smtp) -> Settings:
    """The demo corpus stored by one real run; mail goes to the loopback inbox."""
    s = _settings(tmp_path, replay.base_url, db_url, smtp_server[1])
    summary = Runner(s).run(RunRequest(since=SINCE, until=UNTIL, check_cited=True))
    assert summary.status == "success" and summary.new > 0
    return s


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def _digest_state(settings: Settings) -> tuple[set[tuple[str, str]], list[str], int]:
    """(sent item keys, statuses of the digest runs oldest first, number of digests recorded)."""
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        sent = repository.sent_item_keys(s, "stem-cell-lbp")
        runs = [r.status for r in reversed(repository.list_runs(s, limit=100)) if r.kind == "digest"]
        last = repository.last_digest(s)
    engine.dispose()
    return sent, runs, last.id if last else 0


def test_send_delivers_multipart_naming_the_action_items_and_marks_them_sent(
    settings: Settings, smtp_server: Smtp
) -> None:
    outcome = make_digest(settings, DigestRequest(send=True))
    d = outcome.digest
    assert d.action_count > 0 and outcome.sent_to == ("writer@example.org",)
    (msg,) = smtp_server[0].messages
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == f"litwatch digest {d.week} — {d.action_count} items need action"
    html = _html(msg)
    for item in d.action_needed:
        assert item.url in html  # PubMed, or a placeholder PMID's DOI
    assert "Action needed" in msg.get_body(preferencelist=("plain",)).get_content()
    sent, runs, _ = _digest_state(settings)
    assert sent == set(d.item_keys) and runs == ["success"]
    assert {p.suffix for p in outcome.paths.values()} == {".html", ".md", ".json", ".atom"}
    assert all(p.is_file() for p in outcome.paths.values())


def test_a_second_digest_right_after_repeats_nothing(settings: Settings, smtp_server: Smtp) -> None:
    first = make_digest(settings, DigestRequest(send=True))
    assert first.digest.item_keys
    second = make_digest(settings, DigestRequest(send=True))
    d = second.digest
    assert d.item_keys == () and not (d.action_needed or d.worth_a_look or d.for_awareness)
    assert d.headline.startswith("No action needed")
    assert len(smtp_server[0].messages) == 2


@pytest.mark.parametrize("failure", ["550", "closed-port"])
def test_failed_send_keeps_the_digest_and_the_next_one_retries_it(
    settings: Settings, smtp_server: Smtp, tmp_path: Path, failure: str
) -> None:
    handler, port = smtp_server
    broken = settings
    if failure == "550":
        handler.refuse_data = "550 5.7.1 relaying denied"
        expected = rf"^SMTP 127\.0\.0\.1:{port}: 550 5\.7\.1 relaying denied; the digest is kept"
    else:
        closed = free_port()
        broken = settings.with_overrides(mail={"port": closed})
        expected = (rf"^SMTP 127\.0\.0\.1:{closed}: .*; the digest is kept \(\S+\d{{4}}-W\d{{2}}\.html\) "
                    "and its items go into the next digest")
    with pytest.raises(DeliveryError, match=expected) as info:
        make_digest(broken, DigestRequest(send=True))
    assert "\n" not in str(info.value)
    kept = sorted(p.name for p in (tmp_path / "digests" / "stem-cell-lbp").iterdir())  # <out_dir>/<slug>/
    assert [n.rsplit(".", 1)[1] for n in kept] == ["atom", "html", "json", "md"]
    sent, runs, digests = _digest_state(settings)
    assert sent == set() and runs == ["failed"] and digests == 1
    assert handler.messages == []

    handler.refuse_data = None  # the server is fixed: the next digest carries the unsent items and is the retry
    retry = make_digest(settings, DigestRequest(send=True))
    assert retry.digest.action_count > 0 and len(handler.messages) == 1
    html = _html(handler.messages[0])
    assert all(i.url in html for i in retry.digest.action_needed)
    sent, runs, digests = _digest_state(settings)
    assert sent == set(retry.digest.item_keys) and runs == ["failed", "success"] and digests == 2


def test_dry_run_writes_records_and_sends_nothing(settings: Settings, smtp_server: Smtp, tmp_path: Path) -> None:
    outcome = make_digest(settings, DigestRequest(send=True, dry_run=True))
    assert outcome.digest.action_count > 0 and outcome.paths == {} and outcome.digest_id is None
    assert not (tmp_path / "digests").exists()
    assert smtp_server[0].messages == []
    assert _digest_state(settings) == (set(), [], 0)


def test_digest_is_a_run_of_kind_digest_and_not_in_its_own_run_health(settings: Settings) -> None:
    first = make_digest(settings, DigestRequest(trigger="cron"))
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        newest = repository.list_runs(s, limit=1)[0]
    engine.dispose()
    assert (newest.kind, newest.trigger, newest.status) == ("digest", "cron", "success")
    assert [r.kind for r in first.digest.run_health.runs] == ["fetch"]
    second = make_digest(settings, DigestRequest(since=datetime(2026, 1, 1, tzinfo=UTC)))
    assert all(r.kind != "digest" for r in second.digest.run_health.runs)


def test_period_before_the_first_record_says_so(settings: Settings) -> None:
    d = make_digest(settings, DigestRequest(dry_run=True, all_time=True)).digest
    assert d.period_label.startswith("all records stored so far, up to ")
    assert "1970" not in d.period_label


# --- the command ----------------------------------------------------------------------------------------------


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litwatch.pipeline.cli", "--config", settings.source, "digest", *args],
        capture_output=True, text=True, cwd=REPO, timeout=120, stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path, replay: ReplayServer, sqlite_url: str, smtp_server: Smtp) -> Settings:
    s = _settings(tmp_path, replay.base_url, sqlite_url, smtp_server[1])
    assert Runner(s).run(RunRequest(since=SINCE, until=UNTIL, check_cited=False)).status == "success"
    return s


def test_cli_send_exit_codes(sqlite_settings: Settings, smtp_server: Smtp) -> None:
    handler, port = smtp_server
    handler.refuse_data = "550 mailbox unavailable"
    failed = _cli(sqlite_settings, "--send")
    assert failed.returncode == 1, failed.stderr
    assert re.fullmatch(rf"litwatch: error: SMTP 127\.0\.0\.1:{port}: 550 mailbox unavailable; .*\n", failed.stderr)
    handler.refuse_data = None
    done = _cli(sqlite_settings, "--send")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digest ") and "sent to writer@example.org" in done.stdout
    assert len(handler.messages) == 1


def test_cli_one_format_into_one_file(sqlite_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "weekly.md"
    done = _cli(sqlite_settings, "--format", "md", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"md: {out}" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# litwatch digest ") and "**Action needed: " in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["weekly.md"]


def test_a_period_given_by_the_editor_is_the_label(settings: Settings) -> None:
    """--since/--until are what the period is, even when they reach back before the first stored record."""
    request = DigestRequest(dry_run=True, since=datetime(2026, 9, 1, tzinfo=UTC),
                            until=datetime(2026, 11, 25, tzinfo=UTC))
    label = make_digest(settings, request).digest.period_label
    assert label.endswith("1 Sep – 25 Nov 2026") and "all records" not in label, label


@pytest.mark.parametrize(("out", "formats", "folder", "stem"), [
    ("weekly.md", ("md",), ".", "weekly"),
    ("archive/2026/weekly.HTML", ("html",), "archive/2026", "weekly"),
    ("somefolder/", ("md",), "somefolder", None),
    ("somefolder/", ("html", "md"), "somefolder", None),
    ("digests", ("html", "md", "json", "atom"), "digests", None),
    ("y.html/", ("html", "md"), "y.html", None),  # the slash says folder, whatever the name looks like
    (None, ("md",), "default", None),
])
def test_digest_out_is_a_file_only_when_its_name_says_its_one_format(
    out: str | None, formats: tuple[str, ...], folder: str, stem: str | None,
) -> None:
    assert digest_target(out, formats, Path("default")) == (Path(folder), stem)


@pytest.mark.parametrize(("out", "formats", "message"), [
    ("z.md", ("html",), r"--out z\.md: the extension \.md disagrees with --format html"),
    ("y.html", ("html", "md"), r"--out y\.html names one file but 2 formats are asked for"),
    ("notes.txt", ("md",), r"\.txt is not a digest extension"),
])
def test_digest_out_that_disagrees_is_a_usage_error(out: str, formats: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        digest_target(out, formats, Path("default"))
