"""`litwatch`'s argparse parser: every command, option and help text (what `litwatch COMMAND --help` shows)."""

from __future__ import annotations

import argparse
import re
from datetime import date
from pathlib import Path

from .. import __version__
from .output import EXIT_HELP

TRIGGERS = ("manual", "cron", "scheduler")
SOURCES = ("pubmed", "registry", "crossref")  # what `litwatch run --source` may limit a run to


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


_PMID = re.compile(r"(?:pmid\s*:?\s*)?(\d{1,9})", re.IGNORECASE)


def _pmid(text: str) -> str:
    """A PubMed id as people paste it: 25054402, PMID25054402, PMID: 25054402, pmid:25054402 → "25054402"."""
    m = _PMID.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a PubMed id such as 25054402 or PMID:25054402, got {text!r}")
    return str(int(m[1]))  # PubMed ids carry no leading zeros


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def usage_problem(args: argparse.Namespace, today: date) -> str | None:
    """What argparse cannot see alone: dates against each other and against today. Checked before the config is
    read and before anything runs or is recorded, so a mistyped date costs nothing and leaves no trace."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if args.command in ("run", "backfill"):
        # Refused rather than capped at today: cron never passes --until, so a future one was typed by a person
        # who meant something else; capping would run a window they did not ask for and advance the watermark.
        if until is not None and until > today:
            return (f"--until {until} is after today ({today}): PubMed has nothing dated in the future; "
                    "leave --until out to search up to today")
        end = until or today
        if since is not None and since > end:
            other = f"--until {until}" if until else f"today ({today})"
            return f"--since {since} is after {other}: the window would run backwards"
    if args.command == "digest" and since is not None:
        if until is not None and since >= until:
            return (f"--since {since} is not before --until {until}: the period would be empty or run backwards "
                    "(--until is exclusive)")
        if until is None and since > today:
            return f"--since {since} is after today ({today}): the period would run backwards"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litwatch",
        description=(
            "Watch PubMed, the ClinicalTrials.gov registry and Crossref for new evidence on the medical articles in "
            "queries/ (one folder per article: its claims, topic and saved searches), store every record, and tell "
            "each article's writer what each new paper found and what needs updating."
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
    # the order here is the order `litwatch --help` lists the commands in
    _add_fetch_commands(sub)
    _add_history_commands(sub)
    _add_offline_commands(sub)
    _add_digest_and_service_commands(sub)
    _add_evaluate_command(sub)
    _add_console_commands(sub)
    return parser


def _add_fetch_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run",
                         help="fetch new records (PubMed, trial registry, Crossref) for every article and assess them",
                         description="Fetch, store and assess new records. Default window per query: from its "
                                     "watermark minus the overlap (first run: [ncbi] first_run_days back) to today. "
                                     "Cron-safe: no prompts; plain log lines unless stderr is a terminal. "
                                     "SIGTERM stops it after the batch in hand, Ctrl-C (SIGINT) at once, "
                                     "recorded as 'stopped' (exit 1; a re-run resumes).",
                         epilog=EXIT_HELP)
    _add_run_args(run)
    run.add_argument("--dry-run", action="store_true", help="only show each query's window and hit count")

    backfill = sub.add_parser("backfill", help="fetch a large historical window (split under PubMed's 9,999 cap)",
                              description="Backfill a long window, split into date slices of fewer than 9,999 "
                                          "records each. Progress bar with ETA on a terminal, log lines otherwise. "
                                          "Resumable: stored batches are kept; a re-run stores nothing twice.",
                              epilog=EXIT_HELP)
    _add_run_args(backfill, since_required=True)


def _add_history_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = sub.add_parser("runs", help="run history, newest first",
                          description="Every fetch, backfill and digest run (and watermark repair): trigger, "
                                      "status, window, counts, duration, warnings and error. Like `status` and "
                                      "`show` it only reads: it never creates or migrates the database (none at "
                                      "the configured path: exit 1, naming the path).")
    runs.add_argument("--json", action="store_true", help="one JSON object per line (JSON lines)")
    runs.add_argument("--limit", type=_positive, default=20, help="how many runs (default %(default)s)")

    show = sub.add_parser("show", help="one stored record: what it found and its verdict for each watched article",
                          description="Print a stored record: bibliographic data, the saved searches that found "
                                      "it, and its verdict with the reasons.")
    show.add_argument("pmid", type=_pmid, help="PubMed id (25054402, PMID25054402 or pmid:25054402)")
    show.add_argument("--json", action="store_true", help="the stored record as JSON")

    sub.add_parser("check", help="validate config.toml, the queries/ watch list, schedules, database and mail",
                   description="Load config.toml (with LITWATCH_* overrides) and every saved search, parse the "
                               "[schedule] crontabs as `litwatch schedule` does, open the database without "
                               "creating anything (a SQLite file that does not exist yet passes when its folder "
                               "can be created; a server database is connected to) and, when [mail] is enabled, "
                               "check the mail settings are complete. Exit 2 with the file and key on the first "
                               "error.")

    _add_watermark_command(sub)
    _add_searches_command(sub)

    db = sub.add_parser("db", help="database schema management (Alembic)",
                        description="Apply or inspect schema migrations ('run' upgrades automatically).")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"],
                    help="upgrade to the latest schema, downgrade one step, or print the current revision")


def _add_watermark_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wm = sub.add_parser("watermark", help="show, set or reset a saved search's watermark (repair)",
                        description="A saved search's watermark is the Create date its searches are complete "
                                    "up to; the next run starts there (minus the overlap). `set` moves it to a "
                                    "date (never after today), `reset` forgets it (the next run is a first run). "
                                    "Each set/reset is recorded in the run history (kind 'watermark').",
                        epilog=EXIT_HELP)
    actions = wm.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="every saved search's watermark, or one's",
                              description="Print each saved search's watermark, when and by which run it was set.")
    show.add_argument("query", nargs="?", metavar="QUERY", help="only this saved search id")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    set_ = actions.add_parser("set", help="set QUERY's watermark to a date (not after today)",
                              description="Set the watermark; the next run searches from DATE minus the overlap.")
    set_.add_argument("query", metavar="QUERY", help="saved search id")
    set_.add_argument("date", type=_date, metavar="YYYY-MM-DD", help="the new watermark")
    reset = actions.add_parser("reset", help="forget QUERY's watermark: the next run is a first run",
                               description="Delete the watermark; the next run searches [ncbi] first_run_days back.")
    reset.add_argument("query", metavar="QUERY", help="saved search id")
    for p in (set_, reset):
        p.add_argument("--trigger", choices=TRIGGERS, help="who made the change (default: manual on a terminal)")


def _add_searches_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    searches = sub.add_parser("searches", help="test the saved searches against papers known to be relevant",
                              description="Saved-search tools. `test`: for each saved search, which of the papers "
                                          "the article must find (queries/<slug>/known.toml and the cited studies) "
                                          "it finds in PubMed, with no date window.",
                              epilog=EXIT_HELP)
    actions = searches.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="which known papers each saved search finds; exit 1 if any is missed",
                              description="Print a table of known papers x saved searches (and any search), the "
                                          "sensitivity of each search and of their union, and every known paper "
                                          "no search finds. Exit 0 when every known paper is found, 1 when one is "
                                          "missed, 2 on a usage or watch-list error. Asks [ncbi] base_url (NCBI "
                                          "or a replay server): one esearch per search per 100 known papers.",
                              epilog=EXIT_HELP)
    test.add_argument("--article", metavar="SLUG", help="only this watched article (default: every one)")
    test.add_argument("--json", action="store_true", help="one JSON object per article")


def _add_offline_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="serve a folder of PubMed XML as a local E-utilities server",
                            description="A local esearch/efetch server over PubMed XML files, for offline "
                                        "trials: point [ncbi] base_url at it.")
    replay.add_argument("--corpus", type=Path, required=True, help="folder of PubmedArticleSet XML files")
    replay.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default %(default)s)")
    replay.add_argument("--rate", type=float, default=3.0, help="requests/s allowed without api_key (default 3)")

    demo = sub.add_parser("demo", help="the whole pipeline offline: replay server over bundled real records",
                          description="Run every saved search against a local server holding 55 real PubMed "
                                      "records, store them in a demo database and write a digest.")
    demo.add_argument("--out", type=Path, default=Path("demo-output"),
                      help="folder for the demo database and digest (default %(default)s)")

    assess = sub.add_parser("assess", help="assess the records of an efetch XML file without storing them",
                            description="Print the verdict (update/review/fyi) and reasons for each record.")
    assess.add_argument("file", type=Path, help="efetch XML (PubmedArticleSet)")
    _add_judged_article(assess)
    assess.add_argument("--json", action="store_true", help="JSON lines")


def _add_judged_article(p: argparse.ArgumentParser) -> None:
    """--article for the commands that judge records: a verdict means something for one watched article only."""
    p.add_argument("--article", metavar="SLUG",
                   help="judge against this watched article (its slug, or an article.toml path); "
                        "default: the only watched article")


def _add_digest_and_service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    digest = sub.add_parser("digest", help="write the weekly digest (HTML, Markdown, JSON, Atom); optionally mail it",
                            description="Build the digest of new and changed records. Default period: since the "
                                        "last digest that was sent (first digest: [digest] default_days back).")
    digest.add_argument("--since", type=_date, help="period start YYYY-MM-DD (UTC)")
    digest.add_argument("--until", type=_date, help="period end YYYY-MM-DD, exclusive (default now)")
    digest.add_argument("--format", choices=["html", "md", "json", "atom"], action="append",
                        help="only this format (repeatable; default: [digest] formats)")
    # a string, not a Path: Path("digests/") drops the slash that says "a folder"
    digest.add_argument("--out",
                        help="output folder (default [digest] out_dir; a path ending in / or without an "
                             "extension), or one file whose extension is its one --format (weekly.md)")
    digest.add_argument("--article", metavar="SLUG",
                        help="only this watched article's digest (default: one digest per watched article, "
                             "each in <out>/<slug>/)")
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


def _add_evaluate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = sub.add_parser("evaluate", help="precision/recall of the assessment against labelled records",
                              description="Compare the assessment with labelled records and print precision and "
                                          "recall per verdict.")
    evaluate.add_argument("labels", type=Path, help="JSON lines with pmid, verdict, accept")
    evaluate.add_argument("file", type=Path, help="efetch XML holding the labelled records")
    _add_judged_article(evaluate)


def _add_run_args(p: argparse.ArgumentParser, *, since_required: bool = False) -> None:
    p.add_argument("--query", action="append", default=[], metavar="ID", help="only this saved search (repeatable)")
    p.add_argument("--since", type=_date, required=since_required, help="window start YYYY-MM-DD (Create date)")
    p.add_argument("--until", type=_date, help="window end YYYY-MM-DD (default today)")
    p.add_argument("--trigger", choices=TRIGGERS,
                   help="who started this run (default: manual on a terminal, cron otherwise)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run to finish instead of exiting 3")
    p.add_argument("--no-cited", action="store_true", help="skip re-checking the article's cited studies")
    p.add_argument("--source", action="append", choices=SOURCES, default=[], metavar="SOURCE",
                   help="only this source (repeatable): pubmed (the saved searches and the cited studies' PubMed "
                        "records), registry (ClinicalTrials.gov: each article's registry.toml searches and followed "
                        "trials), crossref (the cited studies' Crossref/Retraction Watch records); default: every "
                        "source enabled in config.toml")


def _add_console_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="the editor console: a signed-in web page to run, triage and check health",
                           description="Serve the editor console with waitress. Binds 127.0.0.1 unless told "
                                       "otherwise; put a TLS reverse proxy in front of it for other machines "
                                       "(docs/console.md). Users: `litwatch user add`.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s: this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")

    user = sub.add_parser("user", help="console users: add, list, remove, passwd, role, token",
                          description="Manage the editor console's users. A password is read from stdin when it "
                                      "is not a terminal, else prompted (never an argument). Roles: writer "
                                      "(triage), editor (also runs), admin (also manages users).")
    actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user (password from stdin or a prompt)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=["admin", "editor", "writer"], required=True)
    actions.add_parser("list", help="every user, their role and whether they have an API token")
    for name, text in (("remove", "remove a user (their decisions stay in the audit trail)"),
                       ("passwd", "set a user's password (from stdin or a prompt)"),
                       ("token", "print a new API token for NAME (replaces the old one; shown once)")):
        actions.add_parser(name, help=text).add_argument("name", metavar="NAME")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", choices=["admin", "editor", "writer"])

    items = sub.add_parser("items", help="triage decisions: export them with their verdicts",
                           description="Export the console's decisions (the audit trail: who, when, from -> to, "
                                       "reason, note) with each record's verdict and title.")
    item_actions = items.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = item_actions.add_parser("export", help="every decision as CSV or JSON lines on stdout")
    export.add_argument("--format", choices=["csv", "json"], default="csv", help="default %(default)s")
    export.add_argument("--article", metavar="SLUG", help="only this watched article's decisions")
