"""The digest run (`litwatch digest`): stored records → reports' Digest → files (and mail), with the bookkeeping
that stops repeats. Reads the database through `storage.repository` only.

The period defaults to "since the last digest that was *sent*": a digest whose send failed is kept on disk and its
items are not marked as sent, so the next digest covers them again and its send is the retry. Nothing is marked as
sent until the SMTP server accepted the message. Each digest is a run in the history (kind "digest").

One digest per watched article (`<out_dir>/<slug>/<week>.*`): a verdict means something for one article only, and
each article has its own writer, period, "already sent" items and (optionally) its own recipients.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from litwatch.reports import DeliveryError
from litwatch.reports.delivery import EXTENSIONS, MailSettings, send_digest, write_digest_files
from litwatch.reports.digest import Digest, DigestInput, build_digest
from litwatch.storage import repository
from litwatch.storage.console import decision_statuses
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import LockHeld
from litwatch.storage.migrate import upgrade
from litwatch.storage.registry import get_snapshot

from .config import Settings
from .errors import ConfigError, RunLockedError, UsageError
from .health import zero_result_warnings
from .logs import set_run_id
from .run_lock import configured_lock
from .watchlist import WatchedArticle, load_watchlist, pick_article

log = logging.getLogger(__name__)

DIGEST_LOCK = "litwatch-digest"
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DigestRequest:
    since: datetime | None = None
    until: datetime | None = None
    formats: tuple[str, ...] | None = None  # default: [digest] formats
    # A folder (ends in "/" or has no extension), or one file whose extension is the one format asked for.
    # The CLI passes the string as typed: Path("digests/") would drop the slash that says "a folder".
    out: Path | str | None = None
    send: bool = False
    dry_run: bool = False  # build and return the digest; write, record and send nothing
    trigger: str = "manual"
    all_time: bool = False  # the demo: everything stored, whatever the dates
    article: str | None = None  # one watched article's digest (slug); None: every article's


@dataclass(frozen=True)
class DigestOutcome:
    article: str  # the watched article's slug
    digest: Digest
    paths: dict[str, Path] = field(default_factory=dict)
    digest_id: int | None = None
    sent_to: tuple[str, ...] = ()


def mail_settings(settings: Settings, article: WatchedArticle | None = None) -> MailSettings:
    """[mail] as the sender needs it; an article that names its own recipients (article.toml `recipients`) gets
    its digest sent to them instead of [mail] recipients."""
    m = settings.mail
    recipients = article.recipients if article is not None and article.recipients else m.recipients
    return MailSettings(
        host=m.host, port=m.port, security=m.security,  # type: ignore[arg-type]  # validated in config
        username=m.username or None, password=m.password, sender=m.sender, recipients=tuple(recipients),
        timeout=m.timeout,
    )


def validate_mail(settings: Settings) -> None:
    """ConfigError when [mail] is enabled but a send could not work: found by `litwatch check` and before a
    `digest --send` records anything, not by the SMTP server at the weekly send."""
    m, src = settings.mail, settings.source
    if not m.host.strip():
        raise ConfigError(src, "[mail] host", "mail is enabled but no SMTP host is set")
    if not 0 < m.port < 65536:
        raise ConfigError(src, "[mail] port", f"must be between 1 and 65535, got {m.port}")
    if "@" not in m.sender:
        raise ConfigError(src, "[mail] sender", f"must be an e-mail address, got {m.sender!r}")
    if not m.recipients:
        raise ConfigError(src, "[mail] recipients", "mail is enabled but no recipients are set")
    bad = [r for r in m.recipients if "@" not in r]
    if bad:
        raise ConfigError(src, "[mail] recipients", f"not an e-mail address: {bad[0]!r}")
    if m.username and not m.password:
        raise ConfigError(src, "[mail] username", "a username is set but no password: set LITWATCH_MAIL__PASSWORD "
                                                  "(or SMTP_PASSWORD) in the environment")
    if m.timeout <= 0:
        raise ConfigError(src, "[mail] timeout", f"must be positive, got {m.timeout:g}")


def digest_target(out: Path | str | None, formats: tuple[str, ...], default_dir: Path) -> tuple[Path, str | None]:
    """(folder, file stem or None for the ISO week) for --out. A name with a digest extension is one file and
    must agree with the one format asked for; anything else is refused rather than guessed (a file `y.html`
    turned into a folder, or Markdown written into `z.html`, is a surprise found only later)."""
    if out is None:
        return default_dir, None
    text = str(out)
    path = Path(text)
    if text.endswith(("/", os.sep)) or not path.suffix or path.is_dir():
        return path, None
    ext = path.suffix[1:].lower()
    format_of = {e: f for f, e in EXTENSIONS.items()}
    if ext not in format_of:
        raise UsageError(f"--out {text}: .{ext} is not a digest extension ({', '.join(format_of)}); for a folder "
                         "end the path with /")
    if len(formats) != 1:
        raise UsageError(f"--out {text} names one file but {len(formats)} formats are asked for "
                         f"({', '.join(formats)}): give --format {format_of[ext]}, or a folder")
    if formats[0] != format_of[ext]:
        raise UsageError(f"--out {text}: the extension .{ext} disagrees with --format {formats[0]}")
    return path.parent, path.stem


def to_datetime(day: date) -> datetime:
    """A --since/--until date as the start of that day in UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def make_digests(
    settings: Settings,
    request: DigestRequest,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[DigestOutcome]:
    """One digest per watched article (or the one `request.article` names), in slug order, under one lock."""
    profiles = select_articles(load_watchlist(settings.queries_dir), request.article)
    _check_request(settings, request, clock(), profiles)
    engine = engine or make_engine(settings.database_url)
    upgrade(engine)
    if request.dry_run:
        with session_scope(engine) as s:
            return [DigestOutcome(p.slug, _build(s, settings, p, request, clock())) for p in profiles]
    lock = configured_lock(engine, settings, request.trigger, DIGEST_LOCK)
    try:
        lock.acquire()
    except LockHeld as exc:
        raise RunLockedError(f"another digest is being made: {exc}") from None
    try:
        return [_make_locked(settings, request, engine, p, clock) for p in profiles]
    finally:
        lock.release()


def make_digest(
    settings: Settings,
    request: DigestRequest,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DigestOutcome:
    """The digest of one article: `request.article`, or the only article watched (a usage error naming the slugs
    when there are several)."""
    if request.article is None:
        request = replace(request, article=_only_article(settings))
    (outcome,) = make_digests(settings, request, engine=engine, clock=clock)
    return outcome


def select_articles(articles: list[WatchedArticle], slug: str | None) -> list[WatchedArticle]:
    """Every watched article, or the one `slug` names (a usage error listing the slugs otherwise)."""
    return articles if slug is None else [pick_article(articles, slug)]


def _only_article(settings: Settings) -> str:
    return pick_article(load_watchlist(settings.queries_dir), None).slug


def _check_request(settings: Settings, request: DigestRequest, now: datetime,
                   profiles: list[WatchedArticle]) -> None:
    """Usage errors before anything is written or recorded (the CLI checks dates earlier still)."""
    until = request.until or now
    if request.since is not None and not request.all_time and request.since >= until:
        raise UsageError(f"the digest period starts at or after its end: {request.since:%Y-%m-%d} >= "
                         f"{until:%Y-%m-%d}")
    if not request.dry_run:
        _, stem = digest_target(request.out, request.formats or settings.digest.formats, settings.digest_dir)
        if stem is not None and len(profiles) > 1:
            raise UsageError(f"--out {request.out} names one file but {len(profiles)} articles are watched: "
                             "give --article SLUG, or a folder")
    if request.send:
        validate_mail(settings)


def _make_locked(
    settings: Settings, request: DigestRequest, engine: Engine, profile: WatchedArticle,
    clock: Callable[[], datetime],
) -> DigestOutcome:
    now = clock()
    with session_scope(engine) as s:
        run_id = repository.start_run(s, kind="digest", trigger=request.trigger, window_start=None,
                                      window_end=None, started_at=now)
    set_run_id(run_id)
    log.info("digest for article %s", profile.slug)
    error: str | None = None
    try:
        with session_scope(engine) as s:
            digest = _build(s, settings, profile, request, now)
        paths = _write(settings, request, digest, profile.slug)
        with session_scope(engine) as s:
            digest_id = repository.record_digest(
                s, article=profile.slug, period_start=digest.period_start, period_end=digest.period_end, created_at=now,
                paths={k: str(v) for k, v in paths.items()}, item_keys=list(digest.item_keys),
            )
        sent_to: tuple[str, ...] = ()
        if request.send:
            sent_to = _send(settings, engine, digest, digest_id, clock, profile,
                            kept=next(iter(paths.values()), None))
        return DigestOutcome(profile.slug, digest, paths, digest_id, sent_to)
    except DeliveryError as exc:
        error = str(exc)
        raise
    finally:
        with session_scope(engine) as s:
            repository.finish_run(s, run_id, status="failed" if error else "success", finished_at=clock(),
                                  error=error, warnings=[])
        set_run_id(None)  # later log lines (the next article's digest, the caller's) are not this run's


def _build(
    s: Session, settings: Settings, profile: WatchedArticle, request: DigestRequest, now: datetime
) -> Digest:
    until = request.until or now
    if request.all_time:
        since = ALL_TIME
    elif request.since is not None:
        since = request.since
    else:
        last_sent = repository.last_digest(s, sent_only=True, article=profile.slug)
        since = last_sent.period_end if last_sent else until - timedelta(days=settings.digest.default_days)
    runs = [r for r in repository.list_runs(s, limit=500)
            if since <= r.started_at < until and r.kind not in ("digest", "watermark")]
    labels = {q.id: q.label for q in profile.queries}
    inp = DigestInput(
        period_start=since, period_end=until, generated_at=now,
        article_title=profile.title, article_url=profile.url,
        intervention_labels={i.id: i.label for i in profile.topic.interventions},
        claim_labels={c.id: c.label for c in profile.claims},
        article_last_updated=profile.last_updated or "",
        items=repository.changed_between(s, since, until, profile.slug, labels),
        already_sent=repository.sent_item_keys(s, profile.slug),
        cited=repository.latest_cited_checks(s, profile.slug),
        runs=runs, query_labels=labels,
        zero_result_warnings=zero_result_warnings(s, settings, labels, now),
        # "all records stored so far" is for a period nobody chose (the demo, a first digest); dates an editor
        # gave are the period, and the label says them
        first_record_at=None if request.since is not None and not request.all_time else repository.first_seen_at(s),
        registry_events=_registry_events(s, profile.slug, since, until),
        decisions=decision_statuses(s, profile.slug),
        earlier=repository.changed_between(s, ALL_TIME, since, profile.slug, labels) if since > ALL_TIME else [],
    )
    return build_digest(inp)


def _registry_events(s: Session, slug: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The article's registry events of the period, each with its trial's title from the newest snapshot."""
    events = []
    for record in repository.registry_events(s, slug, since, until):
        snapshot = get_snapshot(s, record.nct_id) or {}
        events.append({**record.to_dict(), "title": snapshot.get("title") or record.detail.get("title")})
    return events


def _write(settings: Settings, request: DigestRequest, digest: Digest, slug: str) -> dict[str, Path]:
    formats = request.formats or settings.digest.formats
    folder, stem = digest_target(request.out, formats, settings.digest_dir)
    if stem is None:  # a folder: each article's digests in their own sub-folder, <out_dir>/<slug>/<week>.*
        folder = folder / slug
    return write_digest_files(digest, folder, formats, stem=stem, feed_url=settings.digest.feed_url)


def _send(
    settings: Settings, engine: Engine, digest: Digest, digest_id: int, clock: Callable[[], datetime],
    profile: WatchedArticle, kept: Path | None = None,
) -> tuple[str, ...]:
    mail = mail_settings(settings, profile)
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
    log.info("digest %s of %s sent to %s", digest.week, profile.slug, ", ".join(mail.recipients))
    return mail.recipients
