"""`litwatch` command line. The only module that prints, configures logging and chooses exit codes.

Exit codes: 0 ok, 1 run failed, 2 usage/config/query error, 3 another run holds the lock.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from litwatch.reports import DeliveryError
from litwatch.storage import StorageError
from litwatch.storage.records import to_jsonable

from . import __version__
from .config import Settings, load_settings
from .errors import ConfigError, LitwatchError, QueryError, RunLockedError, RunStepError
from .logs import configure_logging

log = logging.getLogger("litwatch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_HELP = "Exit codes: 0 ok, 1 run failed, 2 usage/config error, 3 another run holds the lock."
TRIGGERS = ("manual", "cron", "scheduler")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litwatch",
        description=(
            "Watch PubMed for new evidence on a medical article (stem cells, exosomes and gene therapy for disc "
            "degeneration), store every record, and tell the medical writer what needs updating."
        ),
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"litwatch {__version__}")
    parser.add_argument("--config", type=Path, help="config file (default: $LITWATCH_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output: -v INFO and tracebacks, -vv DEBUG, -vvv libraries' DEBUG too "
                             "(LITWATCH_LOGLEVEL=DEBUG|INFO|WARNING|ERROR overrides)")
    parser.add_argument("--log-file", type=Path,
                        help="also append log lines (INFO and up, each tagged run=<id>) to this file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="fetch new PubMed records for the saved searches and assess them",
                         description="Fetch, store and assess new records. Default window per query: from its "
                                     "watermark minus the overlap (first run: [ncbi] first_run_days back) to today. "
                                     "Cron-safe: no prompts; plain log lines unless stderr is a terminal. "
                                     "SIGTERM/SIGINT stop it after the batch in hand (exit 1; a re-run resumes).",
                         epilog=EXIT_HELP)
    _add_run_args(run)
    run.add_argument("--dry-run", action="store_true", help="only show each query's window and hit count")

    backfill = sub.add_parser("backfill", help="fetch a large historical window (split under PubMed's 9,999 cap)",
                              description="Backfill a long window, split into date slices of fewer than 9,999 "
                                          "records each. Progress bar with ETA on a terminal, log lines otherwise. "
                                          "Resumable: stored batches are kept; a re-run stores nothing twice.",
                              epilog=EXIT_HELP)
    _add_run_args(backfill, since_required=True)

    runs = sub.add_parser("runs", help="run history, newest first",
                          description="Every fetch, backfill and digest run: trigger, status, window, counts, "
                                      "duration, warnings and error.")
    runs.add_argument("--json", action="store_true", help="one JSON object per line (JSON lines)")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")

    show = sub.add_parser("show", help="one stored record with its latest assessment",
                          description="Print a stored record: bibliographic data, the saved searches that found "
                                      "it, and its verdict with the reasons.")
    show.add_argument("pmid", help="PubMed id")
    show.add_argument("--json", action="store_true", help="the stored record as JSON")

    sub.add_parser("check", help="validate config.toml and the queries/ watch list, then exit",
                   description="Load config.toml (with LITWATCH_* overrides) and every saved search; exit 2 with "
                               "the file and key on the first error.")

    db = sub.add_parser("db", help="database schema management (Alembic)",
                        description="Apply or inspect schema migrations ('run' upgrades automatically).")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"],
                    help="upgrade to the latest schema, downgrade one step, or print the current revision")

    replay = sub.add_parser("replay", help="serve a folder of PubMed XML as a local E-utilities server",
                            description="A local esearch/efetch server over PubMed XML files, for offline "
                                        "trials: point [ncbi] base_url at it.")
    replay.add_argument("--corpus", type=Path, required=True, help="folder of PubmedArticleSet XML files")
    replay.add_argument("--port", type=int, default=8765)
    replay.add_argument("--rate", type=float, default=3.0, help="requests/s allowed without api_key (default 3)")

    demo = sub.add_parser("demo", help="the whole pipeline offline: replay server over bundled real records",
                          description="Run every saved search against a local server holding 55 real PubMed "
                                      "records, store them in a demo database and write a digest.")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="where the demo database goes")

    assess = sub.add_parser("assess", help="assess the records of an efetch XML file without storing them",
                            description="Print the verdict (update/review/fyi) and reasons for each record.")
    assess.add_argument("file", type=Path, help="efetch XML (PubmedArticleSet)")
    assess.add_argument("--article", type=Path, help="article.toml (default: the first one under queries/)")
    assess.add_argument("--json", action="store_true", help="JSON lines")

    digest = sub.add_parser("digest", help="write the weekly digest (HTML, Markdown, JSON, Atom); optionally mail it",
                            description="Build the digest of new and changed records. Default period: since the "
                                        "last digest that was sent (first digest: [digest] default_days back).")
    digest.add_argument("--since", type=_date, help="period start YYYY-MM-DD (UTC)")
    digest.add_argument("--until", type=_date, help="period end YYYY-MM-DD, exclusive (default now)")
    digest.add_argument("--format", choices=["html", "md", "json", "atom"], action="append",
                        help="only this format (repeatable; default: [digest] formats)")
    digest.add_argument("--out", type=Path,
                        help="output folder (default [digest] out_dir), or a file path with one --format")
    digest.add_argument("--send", action="store_true", help="also e-mail it to [mail] recipients")
    digest.add_argument("--dry-run", action="store_true",
                        help="print the digest (Markdown, or the first --format) to stdout; "
                             "write, record and send nothing")
    digest.add_argument("--trigger", choices=TRIGGERS,
                        help="who started it (default: manual on a terminal, cron otherwise)")

    status = sub.add_parser("status", help="health for people and monitoring: exit 1 when unhealthy",
                            description="Last success and watermark per saved search, the newest run, lock "
                                        "holder, last digest and items pending. Exit 1 when unhealthy: no success "
                                        "within 2x [schedule] fetch_interval_days, a search finding nothing for "
                                        "longer than zero_result_days, or a failed digest send.")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    schedule = sub.add_parser(
        "schedule", help="run the [schedule] jobs in the foreground (APScheduler); SIGTERM stops it",
        description="Fetch and digest on the crontab schedules in config.toml ([schedule] fetch, digest, "
                    "timezone). One instance of each job at a time, missed runs coalesced; every job is a run in "
                    "the history with trigger 'scheduler'. SIGTERM/SIGINT: no new job starts, the job in hand "
                    "finishes the batch it is storing, then exit 0.")
    schedule.add_argument("--now", action="store_true", help="also run the fetch job once right away")

    evaluate = sub.add_parser("evaluate", help="precision/recall of the assessment against labelled records",
                              description="Compare the assessment with labelled records and print precision and "
                                          "recall per verdict.")
    evaluate.add_argument("labels", type=Path, help="JSON lines with pmid, verdict, accept")
    evaluate.add_argument("file", type=Path, help="efetch XML holding the labelled records")
    evaluate.add_argument("--article", type=Path, help="article.toml (default: the first one under queries/)")
    return parser


def _add_run_args(p: argparse.ArgumentParser, *, since_required: bool = False) -> None:
    p.add_argument("--query", action="append", default=[], metavar="ID", help="only this saved search (repeatable)")
    p.add_argument("--since", type=_date, required=since_required, help="window start YYYY-MM-DD (Create date)")
    p.add_argument("--until", type=_date, help="window end YYYY-MM-DD (default today)")
    p.add_argument("--trigger", choices=TRIGGERS,
                   help="who started this run (default: manual on a terminal, cron otherwise)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run to finish instead of exiting 3")
    p.add_argument("--no-cited", action="store_true", help="skip re-checking the article's cited studies")


# --- commands ------------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from .progress import progress_for
    from .runner import Runner, RunRequest

    progress = progress_for(sys.stderr)
    request = RunRequest(
        trigger=_trigger(args), kind="backfill" if args.command == "backfill" else "fetch",
        query_ids=tuple(args.query), since=args.since, until=args.until, wait=args.wait,
        check_cited=not args.no_cited,
    )
    runner = Runner(settings, progress=progress, stop=_install_stop_handlers())
    if getattr(args, "dry_run", False):
        for plan in runner.plan(request):
            print(f"{plan.query.id}: {plan.window.start}..{plan.window.end}: {plan.count} records "
                  f"in {len(plan.slices)} slice(s) (nothing stored)")
        return EXIT_OK
    try:
        summary = runner.run(request)
    finally:
        progress.finish()  # end a bar line left open by an error, before the error line is printed
    print(_summary_line(summary))
    return EXIT_OK


def _trigger(args: argparse.Namespace) -> str:
    """--trigger, else manual for a person at a terminal and cron for anything without one."""
    return args.trigger or ("manual" if _isatty(sys.stdin) else "cron")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def _summary_line(summary: Any) -> str:
    took = f" in {summary.duration_s:.1f}s" if summary.duration_s is not None else ""
    warn = f", {len(summary.warnings)} warning(s)" if summary.warnings else ""
    return (f"run {summary.run_id} {summary.status}{took}: found {summary.found}, new {summary.new}, "
            f"changed {summary.changed}, unchanged {summary.unchanged}, deleted {summary.deleted}{warn}")


def _install_stop_handlers() -> Any:
    """SIGTERM/SIGINT ask the run to stop after the batch in hand; a second SIGINT aborts at once."""
    import signal
    import threading

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
            print(json.dumps(_run_json(r), ensure_ascii=False, sort_keys=True))
        return EXIT_OK
    if not runs:
        print("no runs yet")
        return EXIT_OK
    print(f"{'id':>5} {'started (UTC)':<19} {'kind':<8} {'trigger':<9} {'status':<8} {'took':>7} "
          f"{'window':<21} {'found':>6} {'new':>5} {'chg':>5} {'del':>4} {'warn':>4}  error")
    for r in runs:
        took = f"{r.duration_s:.1f}s" if r.duration_s is not None else "-"
        start, end = _window(r)
        window = f"{start}..{end}" if start else "-"
        print(f"{r.run_id:>5} {r.started_at:%Y-%m-%d %H:%M:%S} {r.kind:<8} {r.trigger:<9} {r.status:<8} {took:>7} "
              f"{window:<21} {r.found:>6} {r.new:>5} {r.changed:>5} {r.deleted:>4} {len(r.warnings):>4}  "
              f"{r.error or ''}")
    return EXIT_OK


def _window(r: Any) -> tuple[str | None, str | None]:
    """The span of the run's query windows (each query has its own, from its watermark)."""
    starts = [q.window_start for q in r.queries if q.window_start]
    ends = [q.window_end for q in r.queries if q.window_end]
    return (min(starts).isoformat() if starts else None, max(ends).isoformat() if ends else None)


def _run_json(r: Any) -> dict[str, Any]:
    out = to_jsonable(r)
    start, end = _window(r)
    out["duration_s"] = r.duration_s
    out["window_start"], out["window_end"] = start, end
    return out


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import repository
    from litwatch.storage.engine import make_engine, session_scope
    from litwatch.storage.migrate import upgrade

    upgrade(settings.database_url)
    with session_scope(make_engine(settings.database_url)) as s:
        stored = repository.get_article(s, args.pmid)
    if stored is None:
        print(f"litwatch: error: PMID {args.pmid} is not stored in {_safe_url(settings.database_url)}",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(to_jsonable(stored), ensure_ascii=False, sort_keys=True, indent=2))
        return EXIT_OK
    a = stored.article
    print(f"PMID {a.pmid} v{a.version}  {a.pubmed_url}")
    print(f"{a.title}")
    print(f"{a.journal} {a.pub_date}  status {a.status or '-'}  created {a.created or '-'}  doi {a.doi or '-'}")
    print(f"types: {', '.join(p.name for p in a.publication_types) or '-'}")
    print(f"found by: {', '.join(stored.query_ids) or '-'}; first seen {stored.first_seen:%Y-%m-%d}, "
          f"last changed {stored.last_changed:%Y-%m-%d}{'  DELETED' if stored.deleted else ''}")
    if stored.assessment:
        x = stored.assessment
        print(f"verdict: {x.verdict.upper()} ({x.design}, {x.population}, {x.condition})")
        for reason in x.reasons:
            print(f"  - {reason}")
        if x.claims:
            print(f"affects: {'; '.join(x.claims)}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from .watchlist import load_watchlist, validate_term

    articles = load_watchlist(settings.queries_dir)
    for article in articles:
        for query in article.queries:
            validate_term(query.term)
        print(f"{article.slug}: {len(article.queries)} queries, {len(article.claims)} claims, "
              f"{len(article.cited)} cited studies — ok")
    for warning in settings.warnings:
        print(f"warning: {warning}")
    print(f"config {settings.source}: ok; database {_safe_url(settings.database_url)}")
    return EXIT_OK


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage.migrate import current, downgrade, upgrade

    if args.action == "upgrade":
        upgrade(settings.database_url)
    elif args.action == "downgrade":
        downgrade(settings.database_url, steps=1)
    print(f"{_safe_url(settings.database_url)}: schema revision {current(settings.database_url) or 'none'}")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from .replay.server import serve

    print(f"serving {args.corpus} as E-utilities on http://127.0.0.1:{args.port}/entrez/eutils/ (Ctrl-C stops)")
    serve(args.corpus, args.port, rate_limit=args.rate)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    for line in run_demo(settings, args.out):
        print(line)
    return EXIT_OK


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.reports.render import render_atom, render_html, render_json, render_markdown

    from .digest_run import DigestRequest, make_digest, to_datetime

    request = DigestRequest(
        since=to_datetime(args.since) if args.since else None,
        until=to_datetime(args.until) if args.until else None,
        formats=tuple(args.format) if args.format else None, out=args.out, send=args.send, dry_run=args.dry_run,
        trigger=_trigger(args),
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

    from .status import collect_status, format_status

    upgrade(settings.database_url)
    st = collect_status(settings, make_engine(settings.database_url))
    if args.json:
        print(json.dumps(to_jsonable(st), ensure_ascii=False, sort_keys=True, indent=2))
    else:
        print("\n".join(format_status(st)))
    return EXIT_OK if st.healthy else EXIT_FAILED


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    from .scheduler import run_forever, validate_schedule

    validate_schedule(settings)
    print(f"litwatch scheduler: time zone {settings.schedule.timezone}; fetch '{settings.schedule.fetch}', "
          f"digest '{settings.schedule.digest}'{'' if settings.mail.enabled else ' (mail disabled: files only)'}")
    sys.stdout.flush()
    run_forever(settings, _install_stop_handlers(), on_start=lambda line: print(line, flush=True),
                run_now=("fetch",) if args.now else ())
    print("litwatch scheduler: stopped")
    return EXIT_OK


def _profile(settings: Settings, article_path: Path | None) -> Any:
    from .watchlist import load_article, load_watchlist

    if article_path is not None:
        return load_article(article_path)
    articles = load_watchlist(settings.queries_dir)
    if not articles:
        raise QueryError(f"{settings.queries_dir}: no watched article found")
    return articles[0]


def cmd_assess(args: argparse.Namespace, settings: Settings) -> int:
    from .assess.evaluate import assess_file

    assessments = assess_file(_read(args.file), _profile(settings, args.article))
    for x in assessments:
        if args.json:
            print(json.dumps({
                "pmid": x.pmid, "design": x.design, "population": x.population,
                "interventions": list(x.interventions), "condition": x.condition, "verdict": x.verdict,
                "claims": list(x.claims), "reasons": list(x.reasons), "sample_size": x.sample_size,
                "follow_up_months": x.follow_up_months,
            }, ensure_ascii=False))
        else:
            print(f"{x.pmid:>9} {x.verdict.upper():<7} {x.design:<20} {x.population:<8} {'; '.join(x.reasons)}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from .assess.evaluate import assess_file, evaluate, format_report

    labels = []
    for n, line in enumerate(_read(args.labels).decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                labels.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise QueryError(f"{args.labels}:{n}: invalid JSON: {exc.msg}") from None
    assessments = {x.pmid: x for x in assess_file(_read(args.file), _profile(settings, args.article))}
    print(format_report(evaluate(labels, assessments)))
    return EXIT_OK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise QueryError(f"{path}: cannot read: {exc.strerror}") from None


# --- plumbing ------------------------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": cmd_run, "backfill": cmd_run, "runs": cmd_runs, "show": cmd_show, "check": cmd_check, "db": cmd_db,
    "replay": cmd_replay, "demo": cmd_demo, "assess": cmd_assess, "evaluate": cmd_evaluate,
    "digest": cmd_digest, "status": cmd_status, "schedule": cmd_schedule,
}


def _safe_url(url: str) -> str:
    """A database URL without its password, fit for output."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given minus anything after '@'
        return url.split("@")[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.log_file)
    try:
        settings = load_settings(args.config)
        configure_logging(args.verbose, args.log_file,
                          secrets=tuple(s for s in (settings.ncbi.api_key, settings.mail.password) if s))
        return COMMANDS[args.command](args, settings)
    except (ConfigError, QueryError) as exc:
        return _fail(args, exc, EXIT_USAGE)
    except RunStepError as exc:
        return _fail(args, exc, EXIT_USAGE if isinstance(exc.cause, ConfigError | QueryError) else EXIT_FAILED)
    except RunLockedError as exc:
        return _fail(args, exc, EXIT_LOCKED)
    except (LitwatchError, StorageError, DeliveryError) as exc:
        return _fail(args, exc, EXIT_FAILED)
    except KeyboardInterrupt:
        print("litwatch: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `litwatch assess f.xml | head`: the reader left; not an error of ours
        sys.stderr.close()
        return EXIT_OK


def _fail(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if args.verbose >= 1:
        log.exception("traceback")
    print(f"litwatch: error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
