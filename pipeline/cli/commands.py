"""The `litwatch` commands that run, store and report: one `cmd_*` per command, each printing what it did.

Each takes the parsed arguments and the loaded settings and returns an exit code; errors are raised for
`litwatch.pipeline.cli.main` to map. Heavy imports stay inside the commands so `litwatch --help` starts fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any

from ..config import Settings
from .output import (
    EXIT_FAILED,
    EXIT_OK,
    RUNS_HEADER,
    json_line,
    run_json,
    run_row,
    safe_url,
    stored_record_lines,
    summary_line,
)

log = logging.getLogger("litwatch")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from ..progress import progress_for
    from ..runner import Runner, RunRequest

    progress = progress_for(sys.stderr)
    request = RunRequest(
        trigger=trigger(args), kind="backfill" if args.command == "backfill" else "fetch",
        query_ids=tuple(args.query), since=args.since, until=args.until, wait=args.wait,
        check_cited=not args.no_cited,
    )
    runner = Runner(settings, progress=progress, stop=install_stop_handlers())
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


def install_stop_handlers() -> threading.Event:
    """SIGTERM/SIGINT ask the run to stop after the batch in hand; a second SIGINT aborts at once."""
    import signal

    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("signal %d: stopping after the current batch", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return stop


def cmd_runs(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import repository
    from litwatch.storage.engine import make_engine, session_scope
    from litwatch.storage.migrate import upgrade

    upgrade(settings.database_url)
    with session_scope(make_engine(settings.database_url)) as s:
        runs = repository.list_runs(s, limit=args.limit)
    if args.json:
        for r in runs:
            print(json_line(run_json(r)))
        return EXIT_OK
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(RUNS_HEADER)
    for r in runs:
        print(run_row(r))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import repository
    from litwatch.storage.engine import make_engine, session_scope
    from litwatch.storage.migrate import upgrade

    upgrade(settings.database_url)
    with session_scope(make_engine(settings.database_url)) as s:
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
    from ..watchlist import load_watchlist, validate_term

    articles = load_watchlist(settings.queries_dir)
    for article in articles:
        for query in article.queries:
            validate_term(query.term)
        print(f"{article.slug}: {len(article.queries)} queries, {len(article.claims)} claims, "
              f"{len(article.cited)} cited studies — ok")
    for warning in settings.warnings:
        print(f"warning: {warning}")
    print(f"config {settings.source}: ok; database {safe_url(settings.database_url)}")
    return EXIT_OK


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

    from ..digest_run import DigestRequest, make_digest, to_datetime

    request = DigestRequest(
        since=to_datetime(args.since) if args.since else None,
        until=to_datetime(args.until) if args.until else None,
        formats=tuple(args.format) if args.format else None, out=args.out, send=args.send, dry_run=args.dry_run,
        trigger=trigger(args),
    )
    outcome = make_digest(settings, request)
    d = outcome.digest
    if args.dry_run:
        fmt = (args.format or ["md"])[0]
        renderers = {"md": render_markdown, "html": render_html, "json": render_json,
                     "atom": lambda x: render_atom(x, settings.digest.feed_url)}
        print(renderers[fmt](d))
        return EXIT_OK
    print(f"digest {d.week}: {d.headline}")
    for fmt, path in outcome.paths.items():
        print(f"  {fmt}: {path}")
    if outcome.sent_to:
        print(f"  sent to {', '.join(outcome.sent_to)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage.engine import make_engine
    from litwatch.storage.migrate import upgrade

    from ..status import collect_status, format_status

    upgrade(settings.database_url)
    st = collect_status(settings, make_engine(settings.database_url))
    if args.json:
        print(json_line(st, indent=2))
    else:
        print("\n".join(format_status(st)))
    return EXIT_OK if st.healthy else EXIT_FAILED


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
