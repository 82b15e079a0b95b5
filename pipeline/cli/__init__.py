"""`litwatch` command line: the face that prints, configures logging and chooses exit codes.

Exit codes: 0 ok, 1 run failed, 2 usage/config/query error, 3 another run holds the lock.
`parser` builds argparse, `commands`/`offline` hold one `cmd_*` per command, `output` formats what they print;
this module maps the packages' errors to exit codes and the one `litwatch: error: ...` line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from litwatch.reports import DeliveryError
from litwatch.storage import StorageError

from ..config import Settings, load_settings
from ..errors import ConfigError, LitwatchError, QueryError, RunLockedError, RunStepError, UsageError
from ..logs import configure_logging
from .commands import (
    cmd_check,
    cmd_db,
    cmd_demo,
    cmd_digest,
    cmd_replay,
    cmd_run,
    cmd_runs,
    cmd_schedule,
    cmd_show,
    cmd_status,
    cmd_watermark,
    trigger,
)
from .offline import cmd_assess, cmd_evaluate
from .output import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from .parser import build_parser, usage_problem
from .searches import cmd_searches
from .users import cmd_items, cmd_serve, cmd_user

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_LOCKED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "trigger"]

log = logging.getLogger("litwatch")

COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": cmd_run, "backfill": cmd_run, "runs": cmd_runs, "show": cmd_show, "check": cmd_check, "db": cmd_db,
    "replay": cmd_replay, "demo": cmd_demo, "assess": cmd_assess, "evaluate": cmd_evaluate,
    "digest": cmd_digest, "status": cmd_status, "schedule": cmd_schedule, "watermark": cmd_watermark,
    "searches": cmd_searches, "user": cmd_user, "items": cmd_items, "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.log_file)
    problem = usage_problem(args, today())
    if problem is not None:  # before the config is read: nothing runs, nothing is recorded
        return _fail(args, UsageError(problem), EXIT_USAGE)
    try:
        # the demo reaches only its own server on 127.0.0.1: NCBI's contact address is not needed there
        settings = load_settings(args.config, contact_required=args.command != "demo")
        configure_logging(args.verbose, args.log_file,
                          secrets=tuple(s for s in (settings.ncbi.api_key, settings.mail.password,
                                                    settings.web.secret_key) if s))
        return COMMANDS[args.command](args, settings)
    except (ConfigError, QueryError, UsageError) as exc:
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


def today() -> date:
    """The latest date it is here or in UTC: an editor east of Greenwich may type their own today's date while
    UTC is still on yesterday, and that is not a date in the future."""
    return max(datetime.now(UTC).date(), date.today())


def _fail(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if args.verbose >= 1:
        log.exception("traceback")
    print(f"litwatch: error: {exc}", file=sys.stderr)
    return code
