"""Secrets never leak: the NCBI API key and the SMTP password appear in no log line, no output, no database
column and no digest — also when requests are retried, NCBI's own 429 body echoes the key, and SMTP login fails."""

from __future__ import annotations

import base64
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from litwatch.pipeline.replay import Corpus, ReplayServer
from tests.conftest import DOMAIN_RECORDS, lbp_only_queries

REPO = Path(__file__).resolve().parents[1]
API_KEY, PASSWORD = "SECRET-KEY-123", "SECRET-PW-456"


def _variants(secret: str) -> list[bytes]:
    """The secret as text, URL-encoded and in the base64 an SMTP AUTH PLAIN exchange carries."""
    raw = secret.encode()
    return [raw, raw.replace(b"-", b"%2D"), base64.b64encode(b"\0writer\0" + raw)]


class _Sink:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd hook
        self.data.append(envelope.content)
        return "250 OK"


def _reject_login(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN201 - aiosmtpd hook
    assert isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()  # it was really sent
    return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(_Sink(), hostname="127.0.0.1", port=port, authenticator=_reject_login,
                            auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    yield port
    controller.stop()


def test_secrets_never_appear_in_logs_outputs_database_or_digests(tmp_path: Path, smtp_port: int) -> None:
    corpus = Corpus.from_files([DOMAIN_RECORDS])
    # The server allows 8 requests/s per key while the client paces at NCBI's 10/s: real 429s whose JSON body
    # names the key (as NCBI's does), retried. Plus 503s and a truncated body on efetch.
    with ReplayServer(corpus, api_key_rate_limit=8.0) as server:
        server.faults.inject("efetch", "503", times=2, after=1)
        server.faults.inject("efetch", "truncate", times=1, after=4)
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            f'[ncbi]\nbase_url = "{server.base_url}"\nemail = "tests@example.org"\nbatch_size = 7\n'
            "backoff_base = 0.001\nmax_attempts = 8\n"
            f'[storage]\ndata_dir = "{tmp_path}"\n[paths]\nqueries = "{lbp_only_queries()}"\n'
            "[registry]\nenabled = false\n[crossref]\nenabled = false\n"  # no network in tests
            f'[digest]\nout_dir = "{tmp_path / "digests"}"\n'
            f'[mail]\nenabled = true\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
            'username = "writer"\nrecipients = ["writer@example.org"]\ntimeout = 5.0\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LITWATCH_", "NCBI_", "SMTP_"))}
        env |= {"NCBI_API_KEY": API_KEY, "LITWATCH_MAIL__PASSWORD": PASSWORD}
        log = tmp_path / "litwatch.log"
        cli = [sys.executable, "-m", "litwatch.pipeline.cli", "--config", str(cfg), "-vv", "--log-file", str(log)]
        outputs: list[str] = []

        def litwatch(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([*cli, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
            outputs.extend([done.stdout, done.stderr])
            return done

        fetched = litwatch("run", "--since", "2026-09-01", "--until", "2026-11-24")
        assert fetched.returncode == 0, fetched.stderr[-2000:]
        assert server.stats.rate_violations > 0  # the key-echoing 429s really happened
        assert server.stats.params_log[-1]["api_key"] == API_KEY  # and the key was really sent
        mailed = litwatch("digest", "--since", "2000-01-01", "--send")
        assert mailed.returncode == 1 and "535" in mailed.stderr, mailed.stderr[-2000:]
        for args in (["runs", "--json"], ["show", "25054402", "--json"]):
            litwatch(*args)

    assert "retry 1/7" in log.read_text(encoding="utf-8")  # the retries were logged, at debug detail
    database = tmp_path / "litwatch.sqlite"
    with sqlite3.connect(database) as conn:
        dump = "\n".join(conn.iterdump())
    digests = sorted(p for p in (tmp_path / "digests").rglob("*") if p.is_file())
    assert {p.suffix for p in digests} == {".html", ".md", ".json", ".atom"}
    haystacks = {"stdout/stderr": "\n".join(outputs).encode(), "log file": log.read_bytes(),
                 "database dump": dump.encode(), "database file": database.read_bytes(),
                 **{f"digest {p.name}": p.read_bytes() for p in digests}}
    for where, data in haystacks.items():
        for secret in (API_KEY, PASSWORD):
            for form in _variants(secret):
                assert form not in data, f"{secret} ({form!r}) found in {where}"
