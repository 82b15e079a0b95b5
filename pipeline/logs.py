"""Logging set-up for the CLI: grep-able lines with the run id on every line, secrets redacted."""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from pathlib import Path

_RUN_ID: ContextVar[str] = ContextVar("litwatch_run_id", default="-")
_SECRET_PARAM = re.compile(r"(api_key=|password=)[^&\s'\"]+", re.IGNORECASE)


def set_run_id(run_id: int | None) -> None:
    _RUN_ID.set(str(run_id) if run_id is not None else "-")


class _ContextFilter(logging.Filter):
    """Adds run_id to every record and strips secrets a library may have put in a message (e.g. URLs)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = _RUN_ID.get()
        message = record.getMessage()
        cleaned = _SECRET_PARAM.sub(r"\1***", message)
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


FORMAT = "%(asctime)s %(levelname)s run=%(run_id)s %(name)s: %(message)s"


def configure_logging(verbose: int = 0, log_file: Path | None = None, secrets: tuple[str, ...] = ()) -> None:
    """-v: INFO, -vv: DEBUG; LITWATCH_LOGLEVEL overrides. Default WARNING so cron mail stays quiet."""
    level_name = os.environ.get("LITWATCH_LOGLEVEL")
    if level_name:
        level = logging.getLevelName(level_name.upper())
        if not isinstance(level, int):
            level = logging.WARNING
    else:
        level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        handlers.append(file_handler)
        level = min(level, logging.INFO)
    flt = _ContextFilter(secrets)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(flt)
        root.addHandler(handler)
    root.setLevel(level)
    handlers[0].setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)] if not level_name else level)
    for noisy in ("urllib3", "sqlalchemy", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
