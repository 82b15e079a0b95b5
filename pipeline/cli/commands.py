"""The `litwatch` commands that run, store and report: one `cmd_*` per command, each printing what it did.

Each takes the parsed arguments and the loaded settings and returns an exit code; errors are raised for
`litwatch.pipeline.cli.main` to map. Heavy imports stay inside the commands so `litwatch --help` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import QueryError
from .output import (
    EXIT_FAILED,
    EXIT_OK,
    RUNS_HEADER,
    json_line,
    run_json,
    run_query_lines,
    run_row,
    safe_url,
    stored_record_lines,
    summary_line,
    watermark_json,
    watermark_row,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ..watchlist import WatchedArticle

log = logging.getLogger("litwatch")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from ..progress import progress_for
    from ..runner import Runner, RunRequest

    progress = progress_for(sys.stderr)
    request = RunRequest(
        trigger=trigger(args), kind="backfill" if args.command == "backfill" else "fetch",
        query_ids=tuple(args.query), since=args.since, until=args.until, wait=args.wait,
        check_cited=not args.no_cited, sources=tuple(dict.fromkeys(args.source)),
    )
    runner = Runner(settings, progress=progress, stop=install_stop_handlers(interrupt_at_once=True))
    if getattr(args, "dry_run", False):
        for plan in runner.plan(request):
            print(f"{plan.query.id}: {plan.window.start}..{plan.window.end}: {plan.count} records "
                  f"in {len(plan.slices)} slice(s) (nothing stored)")
        return EXIT_OK
    try:
        summary = runner.run(request)
    finally:
        progress.finish()  # end a bar line left open by an error, before the error line is printed
    print(summary_line(summary))
    return EXIT_OK


def trigger(args: argparse.Namespace) -> str:
    """--trigger, else manual for a person at a terminal and cron for anything without one."""
    return args.trigger or ("manual" if _isatty(sys.stdin) else "cron")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def install_stop_handlers(*, interrupt_at_once: bool = False) -> threading.Event:
    """SIGTERM/SIGINT ask the run to stop after the batch in hand; a second SIGINT aborts at once.
    `interrupt_at_once` (`litwatch run`): SIGINT (Ctrl-C) aborts at once; the runner records the run as stopped."""
    import signal

    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and (interrupt_at_once or stop.is_set()):
            raise KeyboardInterrupt
        log.warning("signal %d: stopping after the current batch", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return stop


def read_only_engine(settings: Settings) -> Engine:
    """The database for a command that only reads: never created, never migrated, never written (it works on a
    read-only, up-to-date database). No database there is a one-line error naming the path (exit 1, like a PMID
    that is not stored: the path may be mistyped, or no run has created it yet; the message says which to check)."""
    from litwatch.storage.engine import open_existing
    from litwatch.storage.migrate import require_current

    engine = open_existing(settings.database_url)
    try:
        require_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import repository
    from litwatch.storage.engine import session_scope

    with session_scope(read_only_engine(settings), readonly=True) as s:
        runs = repository.list_runs(s, limit=args.limit)
    article_of = _article_of_queries(settings)
    if args.json:
        for r in runs:
            print(json_line(run_json(r, article_of)))
        return EXIT_OK
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(RUNS_HEADER)
    for r in runs:
        print(run_row(r))
        for line in run_query_lines(r, article_of):
            print(line)
    return EXIT_OK


def _article_of_queries(settings: Settings) -> dict[str, str]:
    """query id -> the watched article's slug; the history stays readable when the watch list does not load
    (a search since removed is shown under "(not in the watch list)")."""
    from ..watchlist import load_watchlist

    try:
        return {q.id: a.slug for a in load_watchlist(settings.queries_dir) for q in a.queries}
    except QueryError:
        return {}


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import repository
    from litwatch.storage.engine import NoDatabaseError, session_scope

    try:
        engine = read_only_engine(settings)
    except NoDatabaseError as exc:
        print(f"litwatch: error: PMID {args.pmid} is not stored: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with session_scope(engine, readonly=True) as s:
        stored = repository.get_article(s, args.pmid)
    if stored is None:
        print(f"litwatch: error: PMID {args.pmid} is not stored in {safe_url(settings.database_url)}",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json_line(stored, indent=2))
        return EXIT_OK
    print("\n".join(stored_record_lines(stored)))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    """Everything a run will need, in the order a run needs it; exit 2 on the first problem. Reads only."""
    from ..digest_run import validate_mail
    from ..scheduler import validate_schedule
    from ..watchlist import load_watchlist, validate_term

    articles = load_watchlist(settings.queries_dir)
    for article in articles:
        for query in article.queries:
            validate_term(query.term)
        _check_search_hygiene(article)
        print(f"{article.slug}: {len(article.queries)} queries, {len(article.claims)} claims, "
              f"{len(article.cited)} cited studies, {len(article.known)} known papers — ok")
    validate_schedule(settings)  # the very parsing `litwatch schedule` does
    print(f"schedule: fetch '{settings.schedule.fetch}', digest '{settings.schedule.digest}' "
          f"({settings.schedule.timezone}) — ok")
    print(f"database {safe_url(settings.database_url)}: {_check_database(settings)} — ok")
    if settings.mail.enabled:
        validate_mail(settings)
        print(f"mail: {settings.mail.security} to {settings.mail.host}:{settings.mail.port}, "
              f"{len(settings.mail.recipients)} recipient(s) — ok")
    else:
        print("mail: disabled (digests are written as files only)")
    for warning in settings.warnings:
        print(f"warning: {warning}")
    print(f"config {settings.source}: ok")
    return EXIT_OK


def _check_search_hygiene(article: WatchedArticle) -> None:
    """Style findings print as warnings; a term PubMed would silently search otherwise fails check (exit 2)."""
    from ..search_hygiene import ERROR, article_findings

    findings = article_findings(article)
    for finding in findings:
        if finding.severity != ERROR:
            print(f"warning: {finding.message}")
    errors = [f for f in findings if f.severity == ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise QueryError(f"{errors[0].message}{more}")


def _check_database(settings: Settings) -> str:
    """Open the database without creating anything. A SQLite file that does not exist yet passes when the first
    run can create it (its folder exists or can be made, and is writable); a server database must connect."""
    from litwatch.storage import StorageError
    from litwatch.storage.engine import open_existing, sqlite_file
    from litwatch.storage.migrate import schema_state

    from ..errors import ConfigError

    path = sqlite_file(settings.database_url)
    try:
        if path is not None and not path.exists():
            return _creatable(path)
        engine = open_existing(settings.database_url)
        try:
            return schema_state(engine)
        finally:
            engine.dispose()
    except StorageError as exc:
        raise ConfigError(settings.source, "[storage]", str(exc)) from None


def _creatable(path: Path) -> str:
    from litwatch.storage import StorageError

    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise StorageError(f"cannot create database {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(f"cannot create database {path}: {existing} is not writable")
    made = "" if existing == folder else f" and its folder {folder}"
    return f"no database yet at {path}; the first run creates it{made}"


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage.migrate import current, downgrade, upgrade

    if args.action == "upgrade":
        upgrade(settings.database_url)
    elif args.action == "downgrade":
        downgrade(settings.database_url, steps=1)
    print(f"{safe_url(settings.database_url)}: schema revision {current(settings.database_url) or 'none'}")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from ..replay import serve

    print(f"serving {args.corpus} as E-utilities on http://127.0.0.1:{args.port}/entrez/eutils/ (Ctrl-C stops)")
    serve(args.corpus, args.port, rate_limit=args.rate)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ..demo import run_demo

    for line in run_demo(settings, args.out):
        print(line)
    return EXIT_OK


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.reports.render import render_atom, render_html, render_json, render_markdown

    from ..digest_run import DigestRequest, make_digests, to_datetime

    request = DigestRequest(
        since=to_datetime(args.since) if args.since else None,
        until=to_datetime(args.until) if args.until else None,
        formats=tuple(args.format) if args.format else None, out=args.out, send=args.send, dry_run=args.dry_run,
        trigger=trigger(args), article=args.article,
    )
    outcomes = make_digests(settings, request)
    if args.dry_run:
        fmt = (args.format or ["md"])[0]
        renderers = {"md": render_markdown, "html": render_html, "json": render_json,
                     "atom": lambda x: render_atom(x, settings.digest.feed_url)}
        print("\n\n".join(renderers[fmt](o.digest) for o in outcomes))
        return EXIT_OK
    for outcome in outcomes:
        d = outcome.digest
        print(f"digest {d.week} for {outcome.article}: {d.headline}")
        for fmt, path in outcome.paths.items():
            print(f"  {fmt}: {path}")
        if outcome.sent_to:
            print(f"  sent to {', '.join(outcome.sent_to)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from ..status import collect_status, format_status

    st = collect_status(settings, read_only_engine(settings))
    if args.json:
        print(json_line(st, indent=2))
    else:
        print("\n".join(format_status(st)))
    return EXIT_OK if st.healthy else EXIT_FAILED


def cmd_watermark(args: argparse.Namespace, settings: Settings) -> int:
    from ..watermarks import reset_watermark, set_watermark, show_watermarks

    if args.action == "show":
        views = show_watermarks(settings, args.query)
        for v in views:
            print(json_line(watermark_json(v)) if args.json else watermark_row(v))
        return EXIT_OK
    if args.action == "set":
        change = set_watermark(settings, args.query, args.date, trigger=trigger(args))
    else:
        change = reset_watermark(settings, args.query, trigger=trigger(args))
    print(f"{change.note} (recorded as run {change.run_id})")
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from ..scheduler import run_forever, validate_schedule

    validate_schedule(settings)
    print(f"litwatch scheduler: time zone {settings.schedule.timezone}; fetch '{settings.schedule.fetch}', "
          f"digest '{settings.schedule.digest}'{'' if settings.mail.enabled else ' (mail disabled: files only)'}")
    sys.stdout.flush()
    run_forever(settings, install_stop_handlers(), on_start=lambda line: print(line, flush=True),
                run_now=("fetch",) if args.now else ())
    print("litwatch scheduler: stopped")
    return EXIT_OK
