"""Delivery for real: files in a temp archive, mail through an aiosmtpd server on loopback."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from litwatch.reports import DeliveryError
from litwatch.reports.delivery import MailSettings, build_message, send_digest, write_digest_files
from litwatch.reports.digest import Digest
from litwatch.reports.render import render_html
from tests.conftest import SmtpInbox, free_port, serve_smtp


class _Boom:
    def __str__(self) -> str:
        raise RuntimeError("template value exploded")


def test_write_all_formats_into_a_dated_archive(digest: Digest, tmp_path: Path) -> None:
    out = tmp_path / "digests"
    paths = write_digest_files(digest, out)
    assert {p.name for p in paths.values()} == {
        "2026-W47.html",
        "2026-W47.md",
        "2026-W47.json",
        "2026-W47.atom",
    }
    assert paths["html"].read_text(encoding="utf-8") == render_html(digest)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["week"] == "2026-W47"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temp files left
    assert oct(paths["md"].stat().st_mode & 0o777) == "0o644"


def test_stem_and_format_subset(digest: Digest, tmp_path: Path) -> None:
    paths = write_digest_files(digest, tmp_path, formats=("md",), stem="latest")
    assert paths == {"md": tmp_path / "latest.md"}


def test_unknown_format_is_refused(digest: Digest, tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"unknown digest format 'pdf' \(expected one of html, md, json, atom\)"
    ):
        write_digest_files(digest, tmp_path, formats=("html", "pdf"))
    assert list(tmp_path.iterdir()) == []


def test_render_failure_keeps_the_previous_files(digest: Digest, tmp_path: Path) -> None:
    first = write_digest_files(digest, tmp_path)
    before = {p: p.read_bytes() for p in first.values()}
    broken = dataclasses.replace(digest, headline=_Boom())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="template value exploded"):
        write_digest_files(broken, tmp_path)
    assert {p: p.read_bytes() for p in first.values()} == before
    assert sorted(tmp_path.iterdir()) == sorted(first.values())


def test_write_failure_keeps_the_previous_file_and_names_it(digest: Digest, tmp_path: Path) -> None:
    target = tmp_path / "2026-W47.html"
    target.write_text("previous digest", encoding="utf-8")
    blocker = tmp_path / "2026-W47.md"
    blocker.mkdir()  # os.replace of a file onto a directory fails after the temp file was fully written
    (blocker / "keep").write_text("x")
    with pytest.raises(DeliveryError, match=r"^cannot write digest .*2026-W47\.md: Is a directory$"):
        write_digest_files(digest, tmp_path, formats=("md",))
    assert target.read_text(encoding="utf-8") == "previous digest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-W47.html", "2026-W47.md"]  # temp file removed


def test_unwritable_directory_is_one_line(digest: Digest, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(DeliveryError, match=r"^cannot create digest directory .*file/digests: "):
        write_digest_files(digest, not_a_dir / "digests")


# --- SMTP ---------------------------------------------------------------------------------------------------


def _check_login(server, session, envelope, mechanism, auth_data):  # aiosmtpd authenticator
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right-password"
    return AuthResult(success=ok, handled=False)  # handled=False: let the server send 535 itself


@pytest.fixture
def auth_server() -> Iterator[tuple[SmtpInbox, int]]:
    # PLAIN only: smtplib falls back from PLAIN to LOGIN, whose initial-response form aiosmtpd 1.4 mishandles
    yield from serve_smtp(
        SmtpInbox(), authenticator=_check_login, auth_require_tls=False, auth_exclude_mechanism=["LOGIN"]
    )


@pytest.fixture
def refusing_server() -> Iterator[tuple[SmtpInbox, int]]:
    yield from serve_smtp(SmtpInbox(refuse_rcpt="550 mailbox unavailable"))


def _settings(port: int, **kw: object) -> MailSettings:
    base = dict(
        host="127.0.0.1",
        port=port,
        security="none",
        username=None,
        password=None,
        sender="litwatch@example.org",
        recipients=("writer@example.org", "editor@example.org"),
        timeout=5.0,
    )
    base.update(kw)
    return MailSettings(**base)  # type: ignore[arg-type]


def test_message_is_multipart_alternative(digest: Digest) -> None:
    msg = build_message(digest, _settings(25))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "litwatch digest 2026-W47 — 4 items need action"


def test_send_for_real_and_read_it_back(digest: Digest, smtp_server: tuple[SmtpInbox, int]) -> None:
    handler, port = smtp_server
    send_digest(digest, _settings(port))
    assert len(handler.received) == 1
    mail_from, rcpt_tos, raw = handler.received[0]
    assert mail_from == "litwatch@example.org"
    assert rcpt_tos == ["writer@example.org", "editor@example.org"]
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert received["Subject"] == "litwatch digest 2026-W47 — 4 items need action"
    assert received["To"] == "writer@example.org, editor@example.org"
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert plain.startswith("# litwatch digest 2026-W47") and "Action needed: 4" in plain
    assert html.startswith("<!DOCTYPE html>") and "Vadalà" in html  # UTF-8 survives the trip


def test_refused_recipients_raise_one_line(digest: Digest, refusing_server: tuple[SmtpInbox, int]) -> None:
    handler, port = refusing_server
    with pytest.raises(DeliveryError) as info:
        send_digest(digest, _settings(port))
    line = str(info.value)
    assert line == (
        f"SMTP 127.0.0.1:{port}: all recipients refused: editor@example.org: 550 mailbox unavailable; "
        "writer@example.org: 550 mailbox unavailable"
    )
    assert handler.received == []


def test_closed_port_raises_one_line(digest: Digest) -> None:
    port = free_port()  # nothing listens there any more
    with pytest.raises(DeliveryError, match=rf"^SMTP 127\.0\.0\.1:{port}: Connection refused$"):
        send_digest(digest, _settings(port))


def test_login_then_send(digest: Digest, auth_server: tuple[SmtpInbox, int]) -> None:
    handler, port = auth_server
    send_digest(digest, _settings(port, username="writer", password="right-password"))
    assert len(handler.received) == 1


def test_login_failure_never_shows_the_password(digest: Digest, auth_server: tuple[SmtpInbox, int]) -> None:
    handler, port = auth_server
    with pytest.raises(DeliveryError, match=rf"^SMTP 127\.0\.0\.1:{port}: 535 .*[Aa]uthentication") as info:
        send_digest(digest, _settings(port, username="writer", password="hunter2-secret"))
    assert "hunter2-secret" not in str(info.value) and "\n" not in str(info.value)
    assert "hunter2-secret" not in repr(_settings(port, password="hunter2-secret"))
    assert handler.received == []  # nothing sent, so nothing may be marked sent


def test_starttls_unsupported_is_one_line(digest: Digest, smtp_server: tuple[SmtpInbox, int]) -> None:
    _, port = smtp_server
    with pytest.raises(DeliveryError, match=rf"^SMTP 127\.0\.0\.1:{port}: STARTTLS extension not supported"):
        send_digest(digest, _settings(port, security="starttls"))


def test_no_recipients_is_refused_before_connecting(digest: Digest) -> None:
    with pytest.raises(DeliveryError, match=r"^SMTP mail\.example\.org:587: no recipients configured"):
        send_digest(digest, _settings(587, host="mail.example.org", recipients=()))
