"""The digest run (`litwatch digest`): stored records → reports' Digest → files (and mail), with the bookkeeping
that stops repeats. Reads the database through `storage.repository` only.

The period defaults to "since the last digest that was *sent*": a digest whose send failed is kept on disk and its
items are not marked as sent, so the next digest covers them again and its send is the retry. Nothing is marked as
sent until the SMTP server accepted the message. Each digest is a run in the history (kind "digest").
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from litwatch.reports import DeliveryError
from litwatch.reports.delivery import MailSettings, send_digest, write_digest_files
from litwatch.reports.digest import Digest, DigestInput, build_digest
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import LockHeld, RunLock
from litwatch.storage.migrate import upgrade

from .config import Settings
from .errors import RunLockedError
from .health import zero_result_warnings
from .logs import set_run_id
from .watchlist import WatchedArticle, load_watchlist

log = logging.getLogger(__name__)

DIGEST_LOCK = "litwatch-digest"
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DigestRequest:
    since: datetime | None = None
    until: datetime | None = None
    formats: tuple[str, ...] | None = None  # default: [digest] formats
    out: Path | None = None  # a folder, or a file path when one format is asked for
    send: bool = False
    dry_run: bool = False  # build and return the digest; write, record and send nothing
    trigger: str = "manual"
    all_time: bool = False  # the demo: everything stored, whatever the dates


@dataclass(frozen=True)
class DigestOutcome:
    digest: Digest
    paths: dict[str, Path] = field(default_factory=dict)
    digest_id: int | None = None
    sent_to: tuple[str, ...] = ()


def mail_settings(settings: Settings) -> MailSettings:
    m = settings.mail
    return MailSettings(
        host=m.host, port=m.port, security=m.security,  # type: ignore[arg-type]  # validated in config
        username=m.username or None, password=m.password, sender=m.sender, recipients=m.recipients,
        timeout=m.timeout,
    )


def to_datetime(day: date) -> datetime:
    """A --since/--until date as the start of that day in UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def make_digest(
    settings: Settings,
    request: DigestRequest,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DigestOutcome:
    engine = engine or make_engine(settings.database_url)
    upgrade(engine)
    profile = _profile(settings)
    if request.dry_run:
        with session_scope(engine) as s:
            return DigestOutcome(_build(s, settings, profile, request, clock()))
    lock = RunLock(engine, DIGEST_LOCK, holder=f"{socket.gethostname()}:{os.getpid()}:{request.trigger}",
                   stale_after=settings.run.lock_stale_seconds, heartbeat=settings.run.heartbeat_seconds)
    try:
        lock.acquire()
    except LockHeld as exc:
        raise RunLockedError(f"another digest is being made: {exc}") from None
    try:
        return _make_locked(settings, request, engine, profile, clock)
    finally:
        lock.release()


def _make_locked(
    settings: Settings, request: DigestRequest, engine: Engine, profile: WatchedArticle | None,
    clock: Callable[[], datetime],
) -> DigestOutcome:
    now = clock()
    with session_scope(engine) as s:
        run_id = repository.start_run(s, kind="digest", trigger=request.trigger, window_start=None,
                                      window_end=None, started_at=now)
    set_run_id(run_id)
    error: str | None = None
    try:
        with session_scope(engine) as s:
            digest = _build(s, settings, profile, request, now)
        paths = _write(settings, request, digest)
        with session_scope(engine) as s:
            digest_id = repository.record_digest(
                s, period_start=digest.period_start, period_end=digest.period_end, created_at=now,
                paths={k: str(v) for k, v in paths.items()}, item_keys=list(digest.item_keys),
            )
        sent_to: tuple[str, ...] = ()
        if request.send:
            sent_to = _send(settings, engine, digest, digest_id, clock, kept=next(iter(paths.values()), None))
        return DigestOutcome(digest, paths, digest_id, sent_to)
    except DeliveryError as exc:
        error = str(exc)
        raise
    finally:
        with session_scope(engine) as s:
            repository.finish_run(s, run_id, status="failed" if error else "success", finished_at=clock(),
                                  error=error, warnings=[])


def _build(
    s: Session, settings: Settings, profile: WatchedArticle | None, request: DigestRequest, now: datetime
) -> Digest:
    until = request.until or now
    if request.all_time:
        since = ALL_TIME
    elif request.since is not None:
        since = request.since
    else:
        last_sent = repository.last_digest(s, sent_only=True)
        since = last_sent.period_end if last_sent else until - timedelta(days=settings.digest.default_days)
    runs = [r for r in repository.list_runs(s, limit=500) if since <= r.started_at < until and r.kind != "digest"]
    labels = {q.id: q.label for q in profile.queries} if profile else {}
    inp = DigestInput(
        period_start=since, period_end=until, generated_at=now,
        article_title=profile.title if profile else "", article_url=profile.url if profile else "",
        items=repository.changed_between(s, since, until),
        already_sent=repository.sent_item_keys(s),
        cited=repository.latest_cited_checks(s),
        runs=runs, query_labels=labels,
        zero_result_warnings=zero_result_warnings(s, settings, labels, now),
        first_record_at=repository.first_seen_at(s),
    )
    return build_digest(inp)


def _write(settings: Settings, request: DigestRequest, digest: Digest) -> dict[str, Path]:
    formats = request.formats or settings.digest.formats
    out = request.out or settings.digest_dir
    if out.suffix and len(formats) == 1:  # --out report.html --format html: that exact file
        return write_digest_files(digest, out.parent, formats, stem=out.stem, feed_url=settings.digest.feed_url)
    return write_digest_files(digest, out, formats, feed_url=settings.digest.feed_url)


def _send(
    settings: Settings, engine: Engine, digest: Digest, digest_id: int, clock: Callable[[], datetime],
    kept: Path | None = None,
) -> tuple[str, ...]:
    mail = mail_settings(settings)
    try:
        send_digest(digest, mail)
    except DeliveryError as exc:
        with session_scope(engine) as s:
            repository.mark_digest_failed(s, digest_id, str(exc))
        where = f" ({kept})" if kept else ""
        raise DeliveryError(
            f"{exc}; the digest is kept{where} and its items go into the next digest's send"
        ) from None
    with session_scope(engine) as s:
        repository.mark_digest_sent(s, digest_id, clock(), mail.recipients)
    log.info("digest %s sent to %s", digest.week, ", ".join(mail.recipients))
    return mail.recipients


def _profile(settings: Settings) -> WatchedArticle | None:
    articles = load_watchlist(settings.queries_dir)
    return articles[0] if articles else None
