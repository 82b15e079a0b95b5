"""`litwatch schedule`: APScheduler 3.x wiring for the jobs in [schedule] of config.toml.

The scheduler adds nothing to what a run is: each job calls the same code as `litwatch run` / `litwatch digest
--send`, so its outcome lands in the run history like a manual or cron run, and the database lock keeps it from
overlapping with either. `max_instances=1` + `coalesce=True` stop a slow job from piling up behind itself; a misfire
grace time lets a job that was due while the machine slept still run once.

Crontab day-of-week numbers are translated: APScheduler 3.x counts 0 = Monday, crontab 0 (or 7) = Sunday, so
`0 7 * * 1` handed to APScheduler as is would fire on Tuesdays.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from litwatch.storage import StorageError

from .config import Settings
from .errors import ConfigError, LitwatchError, RunLockedError
from .logs import set_run_id

log = logging.getLogger(__name__)

Job = Callable[[], Any]
JOB_NAMES = ("fetch", "digest")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|[a-z]{3}|\d)(?:-([a-z]{3}|\d))?(?:/(\d+))?$")


def timezone_of(settings: Settings) -> ZoneInfo:
    name = settings.schedule.timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(settings.source, "[schedule] timezone",
                          f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from None


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday, names, ranges, steps, lists) as APScheduler day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        m = _DOW_ITEM.match(item)
        if m is None:
            raise ValueError(f"day of week {item!r} is not crontab syntax")
        first, last, step = m[1], m[2], int(m[3] or 1)
        lo, hi = (0, 6) if first == "*" else (_day(first), _day(last) if last else _day(first))
        if first != "*" and last is None and m[3]:
            hi = 6  # "1/2": from Monday on, every second day (cron's reading)
        if hi == 0 and last is not None:
            hi = 7  # "5-7"/"fri-sun": up to Sunday
        if lo > hi or step < 1:
            raise ValueError(f"day of week range {item!r} runs backwards")
        days |= {d % 7 for d in range(lo, hi + 1, step)}
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(token: str) -> int:
    if token.isdigit():
        n = int(token)
        if n > 7:
            raise ValueError(f"day of week {n} is out of range 0-7")
        return n
    if token not in _DAYS:
        raise ValueError(f"unknown day name {token!r}")
    return _DAYS.index(token)


def cron_trigger(expr: str, timezone: str, key: str, source: str) -> CronTrigger:
    """`minute hour day month day-of-week`, read the way crontab(5) reads it."""
    fields = expr.split()
    try:
        if len(fields) != 5:
            raise ValueError(f"a crontab has 5 fields (minute hour day month day-of-week), got {len(fields)}")
        minute, hour, day, month, dow = fields
        if day != "*" and dow != "*":
            raise ValueError("day of month and day of week are both set (crontab fires on either, APScheduler "
                             "only on both); set one of them to *")
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(dow),
                           timezone=timezone)
    except (ValueError, LookupError) as exc:
        raise ConfigError(source, f"[schedule] {key}", f"invalid crontab {expr!r}: {exc}") from None


def validate_schedule(settings: Settings) -> None:
    """ConfigError for a bad [schedule] time zone or crontab, before anything starts."""
    timezone_of(settings)
    for name in JOB_NAMES:
        cron_trigger(getattr(settings.schedule, name), settings.schedule.timezone, name, settings.source)


def default_jobs(settings: Settings, stop: threading.Event) -> dict[str, Job]:
    """fetch = `litwatch run --trigger scheduler`; digest = `litwatch digest --send` (when mail is enabled)."""
    from .digest_run import DigestRequest, make_digest
    from .runner import Runner, RunRequest

    def fetch() -> None:
        try:
            summary = Runner(settings, stop=stop).run(RunRequest(trigger="scheduler"))
        except RunLockedError as exc:
            record_skipped(settings, "fetch", exc)
            raise
        log.info("job fetch: run %d %s, found %d, new %d, changed %d", summary.run_id, summary.status,
                 summary.found, summary.new, summary.changed)

    def digest() -> None:
        try:
            make_digest(settings, DigestRequest(send=settings.mail.enabled, trigger="scheduler"))
        except RunLockedError as exc:
            record_skipped(settings, "digest", exc)
            raise

    return {"fetch": fetch, "digest": digest}


def record_skipped(settings: Settings, kind: str, reason: Exception) -> None:
    """A scheduled job that found another run holding the lock is an outcome too: it goes into the history as a
    run with status "skipped", so `litwatch runs` and the digest's run health show that the slot was missed."""
    from litwatch.storage import repository
    from litwatch.storage.engine import make_engine, session_scope

    now = datetime.now(UTC)
    with session_scope(make_engine(settings.database_url)) as s:
        run_id = repository.start_run(s, kind=kind, trigger="scheduler", window_start=None, window_end=None,
                                      started_at=now)
        repository.finish_run(s, run_id, status="skipped", finished_at=now, error=f"skipped: {reason}",
                              warnings=[])


def guarded(name: str, job: Job, stop: threading.Event | None = None) -> Job:
    """A job never kills the scheduler: failures are logged (the run itself already recorded them in the history).
    A job due after a stop request is skipped rather than started and stopped at once."""

    def run_job() -> None:
        set_run_id(None)  # worker threads are reused: never show the previous job's run id
        if stop is not None and stop.is_set():
            log.info("job %s: not started, the scheduler is stopping", name)
            return
        log.info("job %s: starting", name)
        try:
            job()
            log.info("job %s: done", name)
        except RunLockedError as exc:
            log.warning("job %s: skipped, %s", name, exc)
        except (LitwatchError, StorageError) as exc:
            log.error("job %s: failed: %s", name, exc)
        except Exception:  # noqa: BLE001 - the scheduler must survive a bug in one job; the traceback is logged
            log.exception("job %s: crashed", name)
        finally:
            set_run_id(None)

    return run_job


def build_scheduler(
    settings: Settings,
    *,
    jobs: Mapping[str, Job],
    scheduler: BaseScheduler | None = None,
    triggers: Mapping[str, BaseTrigger] | None = None,
    stop: threading.Event | None = None,
    run_now: tuple[str, ...] = (),
) -> BaseScheduler:
    """Add each job with its trigger (default: the crontab in [schedule]); tests pass short triggers.
    `run_now` names jobs that also fire once at start (`litwatch schedule --now`), then follow their schedule."""
    tz = timezone_of(settings)
    sched = scheduler or BackgroundScheduler(timezone=tz)
    crontabs = {"fetch": settings.schedule.fetch, "digest": settings.schedule.digest}
    for name, job in jobs.items():
        trigger = (triggers or {}).get(name) or cron_trigger(crontabs[name], settings.schedule.timezone, name,
                                                              settings.source)
        extra = {"next_run_time": datetime.now(UTC)} if name in run_now else {}
        sched.add_job(
            guarded(name, job, stop), trigger=trigger, id=name, name=name,
            max_instances=1, coalesce=True, misfire_grace_time=settings.schedule.misfire_grace_seconds,
            replace_existing=True, **extra,
        )
    return sched


def run_forever(
    settings: Settings,
    stop: threading.Event,
    on_start: Callable[[str], None] = lambda _: None,
    *,
    run_now: tuple[str, ...] = (),
    jobs: Mapping[str, Job] | None = None,
    triggers: Mapping[str, BaseTrigger] | None = None,
) -> None:
    """Foreground until `stop` is set (SIGTERM/SIGINT): then no new job starts, the job in hand finishes the
    batch it is storing (its runner watches the same event), and this returns."""
    sched = BackgroundScheduler(timezone=timezone_of(settings))
    build_scheduler(settings, jobs=jobs if jobs is not None else default_jobs(settings, stop), scheduler=sched,
                    triggers=triggers, stop=stop, run_now=run_now)
    sched.start()
    try:
        for job in sched.get_jobs():
            when = f"{job.next_run_time:%Y-%m-%d %H:%M:%S %Z}" if job.next_run_time else "paused"
            on_start(f"job {job.id}: {job.trigger}; next run {when}")
        while not stop.wait(0.5):  # a timeout keeps the main thread responsive to signals everywhere
            pass
        log.warning("stop requested: finishing the job in hand, then exiting")
    finally:
        sched.shutdown(wait=True)
