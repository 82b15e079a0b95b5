"""`litwatch schedule`: APScheduler 3.x wiring for the jobs in [schedule] of config.toml.

The scheduler adds nothing to what a run is: each job calls the same code as `litwatch run` / `litwatch digest
--send`, so its outcome lands in the run history like a manual or cron run, and the database lock keeps it from
overlapping with either. `max_instances=1` + `coalesce=True` stop a slow job from piling up behind itself; a misfire
grace time lets a job that was due while the machine slept still run once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from pipeline.config import Settings
from pipeline.errors import ConfigError, LitwatchError, RunLockedError
from storage import StorageError

log = logging.getLogger(__name__)

Job = Callable[[], Any]


def cron_trigger(expr: str, timezone: str, key: str, source: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expr, timezone=timezone)
    except (ValueError, LookupError) as exc:
        raise ConfigError(source, f"[schedule] {key}", f"invalid crontab {expr!r} or time zone: {exc}") from None


def default_jobs(settings: Settings, stop: threading.Event) -> dict[str, Job]:
    """fetch = `litwatch run --trigger scheduler`; digest = `litwatch digest --send` (when mail is enabled)."""
    from pipeline.digest_job import DigestRequest, make_digest
    from pipeline.runner import Runner, RunRequest

    def fetch() -> None:
        Runner(settings, stop=stop).run(RunRequest(trigger="scheduler"))

    def digest() -> None:
        make_digest(settings, DigestRequest(send=settings.mail.enabled, trigger="scheduler"))

    return {"fetch": fetch, "digest": digest}


def guarded(name: str, job: Job) -> Job:
    """A job never kills the scheduler: failures are logged (and already recorded in run history by the run)."""

    def run_job() -> None:
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

    return run_job


def build_scheduler(
    settings: Settings,
    *,
    jobs: Mapping[str, Job],
    scheduler: BaseScheduler | None = None,
    triggers: Mapping[str, BaseTrigger] | None = None,
) -> BaseScheduler:
    """Add each job with its trigger (default: the crontab in [schedule]); tests pass short triggers."""
    sched = scheduler or BlockingScheduler(timezone=settings.schedule.timezone)
    crontabs = {"fetch": settings.schedule.fetch, "digest": settings.schedule.digest}
    for name, job in jobs.items():
        trigger = (triggers or {}).get(name) or cron_trigger(
            crontabs[name], settings.schedule.timezone, name, settings.source
        )
        sched.add_job(
            guarded(name, job), trigger=trigger, id=name, name=name,
            max_instances=1, coalesce=True, misfire_grace_time=settings.schedule.misfire_grace_seconds,
            replace_existing=True,
        )
    return sched


def run_forever(settings: Settings, stop: threading.Event, on_start: Callable[[str], None] = lambda _: None) -> None:
    """Foreground scheduler; `stop` (set by SIGTERM/SIGINT) lets the job in hand finish its batch, then exits."""
    sched = BlockingScheduler(timezone=settings.schedule.timezone)
    build_scheduler(settings, jobs=default_jobs(settings, stop), scheduler=sched)

    def watch_stop() -> None:
        stop.wait()
        log.warning("stop requested: finishing the job in hand, then exiting")
        sched.shutdown(wait=True)

    threading.Thread(target=watch_stop, name="litwatch-stop", daemon=True).start()
    for job in sched.get_jobs():
        on_start(f"job {job.id}: {job.trigger}")
    sched.start()
