"""Deliver a digest: atomic files in a dated archive, and mail over SMTP. Raises one-line `DeliveryError`s.

Files: everything is rendered before anything is written, and each file goes through a temp file in the same
directory + `os.replace`, so a reader (or a crash) never sees half a digest; a failure keeps the previous one.
Mail: nothing here records "sent"; the caller marks `Digest.item_keys` sent only after `send_digest` returns.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal

from . import DeliveryError
from .digest import Digest, subject_line
from .render import render_atom, render_html, render_json, render_markdown

log = logging.getLogger(__name__)

EXTENSIONS: dict[str, str] = {"html": "html", "md": "md", "json": "json", "atom": "atom"}


def write_digest_files(
    d: Digest,
    out_dir: Path,
    formats: Sequence[str] = ("html", "md", "json", "atom"),
    stem: str | None = None,
    feed_url: str | None = None,
) -> dict[str, Path]:
    """Write the digest as `<out_dir>/<stem>.<ext>` (stem defaults to the ISO week, e.g. "2026-W47").

    `feed_url` is the Atom feed's own address (its id and rel="self"); by default the file's `file:` URI.
    """
    unknown = [f for f in formats if f not in EXTENSIONS]
    if unknown:
        raise ValueError(f"unknown digest format {unknown[0]!r} (expected one of {', '.join(EXTENSIONS)})")
    stem = stem or d.week
    targets = {fmt: out_dir / f"{stem}.{EXTENSIONS[fmt]}" for fmt in dict.fromkeys(formats)}
    renderers: dict[str, Callable[[], str]] = {
        "html": lambda: render_html(d),
        "md": lambda: render_markdown(d),
        "json": lambda: render_json(d),
        "atom": lambda: render_atom(d, feed_url or targets["atom"].resolve().as_uri()),
    }
    bodies = {fmt: renderers[fmt]() for fmt in targets}  # render all first: a template error writes nothing
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeliveryError(f"cannot create digest directory {out_dir}: {exc.strerror or exc}") from exc
    for fmt, path in targets.items():
        _write_atomically(path, bodies[fmt])
        log.info("wrote %s digest %s", fmt, path)
    return targets


def _write_atomically(path: Path, text: str) -> None:
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w",
            encoding="utf-8",
            newline="\n",
            dir=path.parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
        ) as tmp:
            tmp_name = tmp.name
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a digest archive is meant to be read
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise DeliveryError(f"cannot write digest {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: Literal["none", "starttls", "ssl"]
    username: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]
    timeout: float = 30.0

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return (
            f"MailSettings(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"sender={self.sender!r}, recipients={self.recipients!r}, timeout={self.timeout})"
        )


def build_message(d: Digest, settings: MailSettings) -> EmailMessage:
    """multipart/alternative: the Markdown as text/plain (readable as is), the HTML page as text/html."""
    msg = EmailMessage()
    msg["Subject"] = subject_line(d)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = format_datetime(d.generated_at)
    msg["Message-ID"] = make_msgid(idstring=f"digest-{d.week}", domain="litwatch.local")
    msg.set_content(render_markdown(d), subtype="plain", charset="utf-8")
    msg.add_alternative(render_html(d), subtype="html", charset="utf-8")
    return msg


def send_digest(d: Digest, settings: MailSettings) -> None:
    """Send to every recipient; returns only once the server accepted the message for at least one of them."""
    where = f"SMTP {settings.host}:{settings.port}"
    if not settings.recipients:
        raise DeliveryError(f"{where}: no recipients configured ([mail] recipients)")
    msg = build_message(d, settings)
    try:
        with _connect(settings) as smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=list(settings.recipients))
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            _scrub(f"{where}: all recipients refused: {_refusals(exc.recipients)}", settings)
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(_scrub(f"{where}: {exc.smtp_code} {_decode(exc.smtp_error)}", settings)) from None
    except (smtplib.SMTPException, OSError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise DeliveryError(_scrub(f"{where}: {detail}", settings)) from None
    if refused:
        log.warning("%s refused some recipients: %s", where, _refusals(refused))
    log.info(
        "sent digest %s to %d recipient(s) via %s", d.week, len(settings.recipients) - len(refused), where
    )


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _decode(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {code} {_decode(text)}" for addr, (code, text) in sorted(refused.items()))


def _scrub(line: str, settings: MailSettings) -> str:
    """One line, and never the password, whatever a server chose to echo back."""
    line = " ".join(line.split())
    if settings.password:
        line = line.replace(settings.password, "***")
    return line


__all__ = ["EXTENSIONS", "MailSettings", "build_message", "send_digest", "write_digest_files"]
