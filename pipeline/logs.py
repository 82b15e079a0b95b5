"""Logging set-up for the CLI: grep-able lines with the run id on every line, secrets redacted.

Every line reads `<time> <LEVEL> run=<id> <logger>: <message>`, so `grep 'run=42 '` gives one run's story.
The run id lives in a ContextVar (each scheduler job thread has its own) with a process-wide fallback: helper
threads a run starts (efetch prefetch, lock heartbeat) begin with an empty context in Python 3.11 and would
otherwise log `run=-`. One process runs one fetch at a time (the run lock), so the fallback is the right id.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from pathlib import Path

NO_RUN = "-"
_RUN_ID: ContextVar[str | None] = ContextVar("litwatch_run_id", default=None)
_process_run_id = NO_RUN
_SECRET_PARAM = re.compile(r"(api_key=|password=)[^&\s'\"]+", re.IGNORECASE)
_VERBOSITY = (logging.WARNING, logging.INFO, logging.DEBUG)

LIBRARY_LOGGERS = ("urllib3", "sqlalchemy", "alembic", "apscheduler")

FORMAT = "%(asctime)s %(levelname)s run=%(run_id)s %(name)s: %(message)s"


def set_run_id(run_id: int | None) -> None:
    """Tag this thread's log lines (and helper threads' lines) with `run_id`; None clears it."""
    global _process_run_id
    value = str(run_id) if run_id is not None else NO_RUN
    _RUN_ID.set(value)
    _process_run_id = value


def current_run_id() -> str:
    value = _RUN_ID.get()
    return value if value is not None else _process_run_id


class _ContextFilter(logging.Filter):
    """Adds run_id to every record and strips secrets a library may have put in a message (e.g. URLs)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = current_run_id()
        message = record.getMessage()
        cleaned = _SECRET_PARAM.sub(r"\1***", message)
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def level_from_env(value: str | None) -> int | None:
    """LITWATCH_LOGLEVEL: a level name (debug, INFO, warning…) or number; None when unset or not a level."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    return level if isinstance(level, int) else None


def configure_logging(verbose: int = 0, log_file: Path | None = None, secrets: tuple[str, ...] = ()) -> None:
    """Console: WARNING by default (cron mail stays quiet), -v INFO, -vv DEBUG; LITWATCH_LOGLEVEL overrides.
    The log file gets at least INFO, so a cron job's file tells what every run did."""
    raw = os.environ.get("LITWATCH_LOGLEVEL")
    env_level = level_from_env(raw)
    console_level = env_level if env_level is not None else _VERBOSITY[min(verbose, 2)]
    flt = _ContextFilter(secrets)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(min(console_level, logging.INFO))
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(flt)
    # Our loggers (`litwatch.*`) and the libraries whose words reach an operator get our handlers; the root logger
    # is left alone, so an application embedding litwatch keeps its own logging set-up.
    quiet = logging.DEBUG if console_level <= logging.DEBUG and verbose >= 3 else logging.WARNING
    for name, level in (("litwatch", min(h.level for h in handlers)), *((n, quiet) for n in LIBRARY_LOGGERS)):
        logger = logging.getLogger(name)
        for old_handler in list(logger.handlers):
            logger.removeHandler(old_handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    if raw and env_level is None:
        logging.getLogger(__name__).warning(
            "LITWATCH_LOGLEVEL=%r is not a log level (use DEBUG, INFO, WARNING, ERROR); ignored", raw
        )
