"""pipeline/scheduler.py: crontab semantics, job options, jobs firing for real into the run history, clean stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from litwatch.pipeline.config import load_settings
from litwatch.pipeline.errors import ConfigError, QueryError, RunLockedError
from litwatch.pipeline.logs import current_run_id, set_run_id
from litwatch.pipeline.replay import ReplayServer
from litwatch.pipeline.scheduler import (
    build_scheduler,
    cron_trigger,
    crontab_weekdays,
    default_jobs,
    guarded,
    run_forever,
)
from litwatch.storage import repository
from litwatch.storage.engine import make_engine, session_scope
from litwatch.storage.locks import RunLock
from litwatch.storage.migrate import upgrade
from tests.test_operations import queries_dir, write_config

WEDNESDAY = datetime(2026, 11, 25, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "next_fire"),
    [
        ("0 6 * * *", datetime(2026, 11, 26, 6, 0, tzinfo=UTC)),
        ("0 7 * * 1", datetime(2026, 11, 30, 7, 0, tzinfo=UTC)),  # Monday, as crontab(5) says (not Tuesday)
        ("0 7 * * 0", datetime(2026, 11, 29, 7, 0, tzinfo=UTC)),  # 0 is Sunday
        ("0 7 * * 7", datetime(2026, 11, 29, 7, 0, tzinfo=UTC)),  # so is 7
        ("30 8 * * mon-fri", datetime(2026, 11, 26, 8, 30, tzinfo=UTC)),
        ("0 9 * * 5-7", datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),  # Friday to Sunday
        ("15 12 1 * *", datetime(2026, 12, 1, 12, 15, tzinfo=UTC)),
        ("*/20 * * * *", datetime(2026, 11, 25, 12, 20, tzinfo=UTC)),
    ],
)
def test_crontab_fires_when_cron_would(expr: str, next_fire: datetime) -> None:
    trigger = cron_trigger(expr, "UTC", "fetch", "config.toml")
    assert trigger.get_next_fire_time(None, WEDNESDAY) == next_fire


@pytest.mark.parametrize(
    ("field", "names"),
    [("*", "*"), ("1", "mon"), ("0,6", "sun,sat"), ("1-5", "mon,tue,wed,thu,fri"), ("*/3", "sun,wed,sat"),
     ("sat-sun", "sun,sat"), ("MON,wed", "mon,wed")],
)
def test_crontab_weekdays_become_apscheduler_day_names(field: str, names: str) -> None:
    assert crontab_weekdays(field) == names


def test_schedule_time_zone_is_honoured() -> None:
    trigger = cron_trigger("0 6 * * *", "Asia/Kuala_Lumpur", "fetch", "config.toml")
    assert trigger.get_next_fire_time(None, WEDNESDAY) == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"fetch": "0 6 * *"}, r"config\.toml: \[schedule\] fetch: invalid crontab '0 6 \* \*': a crontab has 5"),
        ({"digest": "0 7 * * 8"}, r"\[schedule\] digest: invalid crontab .*day of week 8 is out of range"),
        ({"fetch": "61 6 * * *"}, r"\[schedule\] fetch: invalid crontab '61 6 \* \* \*'"),
        ({"digest": "0 7 1 * 1"}, r"\[schedule\] digest: .*day of month and day of week are both set"),
        ({"timezone": "Mars/Olympus"}, r"\[schedule\] timezone: unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_schedule_is_a_config_error_naming_the_key(tmp_path: Path, section: dict[str, str], message: str
                                                       ) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", "sqlite://", tmp_path, schedule=section)
    with pytest.raises(ConfigError, match=message):  # the time zone is checked on load, crontabs when built
        settings = load_settings(config, env={})
        build_scheduler(settings, jobs={"fetch": lambda: None, "digest": lambda: None},
                        scheduler=BackgroundScheduler())


def test_jobs_get_the_crontabs_one_instance_coalescing_and_grace(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", "sqlite://", tmp_path,
                          schedule={"timezone": "Europe/Berlin", "misfire_grace_seconds": 1234})
    settings = load_settings(config, env={})
    sched = build_scheduler(settings, jobs={"fetch": lambda: None, "digest": lambda: None},
                            scheduler=BackgroundScheduler(timezone="Europe/Berlin"))
    sched.start(paused=True)
    try:
        jobs = {job.id: job for job in sched.get_jobs()}
        assert set(jobs) == {"fetch", "digest"}
        for job in jobs.values():
            assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 1234)
            assert isinstance(job.trigger, CronTrigger) and str(job.trigger.timezone) == "Europe/Berlin"
        assert str(jobs["fetch"].trigger) == "cron[month='*', day='*', day_of_week='*', hour='6', minute='0']"
        assert str(jobs["digest"].trigger) == "cron[month='*', day='*', day_of_week='mon', hour='7', minute='0']"
    finally:
        sched.shutdown(wait=False)


# --- jobs firing for real ------------------------------------------------------------------------------------

def test_scheduler_fires_fetch_and_digest_into_the_run_history(
    tmp_path: Path, replay_factory: Callable[..., ReplayServer], db_url: str
) -> None:
    replay = replay_factory(rate_limit=None, api_key_rate_limit=None)
    queries = queries_dir(tmp_path, "exosomes.toml")
    first_run_days = (datetime.now(UTC).date() - date(2026, 9, 1)).days  # reach back over the whole corpus
    config = write_config(tmp_path, replay.base_url, db_url, queries, ncbi={"first_run_days": first_run_days},
                          digest={"out_dir": str(tmp_path / "digests")})
    settings = load_settings(config, env={})
    stop = threading.Event()
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    sched = build_scheduler(
        settings, jobs=default_jobs(settings, stop), scheduler=BackgroundScheduler(timezone="UTC"), stop=stop,
        triggers={"fetch": DateTrigger(run_date=soon), "digest": DateTrigger(run_date=soon + timedelta(seconds=30))},
    )
    engine = make_engine(db_url)
    upgrade(db_url)  # so that the test can read the history before the job has created the schema
    sched.start()
    try:
        fetch = _wait_for_run(engine, "fetch")
        sched.modify_job("digest", next_run_time=datetime.now(UTC))  # fire the digest now that the fetch is done
        digest = _wait_for_run(engine, "digest")
    finally:
        sched.shutdown(wait=True)
    assert (fetch.trigger, fetch.status, fetch.found) == ("scheduler", "success", 8)
    assert [q.query_id for q in fetch.queries] == ["exosomes"]
    assert (digest.trigger, digest.status) == ("scheduler", "success")
    digests = tmp_path / "digests" / "stem-cell-lbp"  # one folder per watched article
    assert sorted(p.suffix for p in digests.iterdir()) == [".atom", ".html", ".json", ".md"]


def _wait_for_run(engine: object, kind: str, deadline_s: float = 60.0):  # noqa: ANN202 - RunSummary
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with session_scope(engine) as s:  # type: ignore[arg-type]
            done = [r for r in repository.list_runs(s) if r.kind == kind and r.status != "running"]
        if done:
            return done[0]
        time.sleep(0.05)
    pytest.fail(f"no finished {kind} run in the history")


def test_an_interval_job_keeps_firing_and_failures_do_not_stop_the_scheduler(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", "sqlite://", tmp_path)
    settings = load_settings(config, env={})
    calls: list[int] = []
    third = threading.Event()

    def flaky() -> None:
        calls.append(1)
        if len(calls) >= 3:
            third.set()
        raise QueryError("queries/x.toml: broken on purpose")

    sched = build_scheduler(settings, jobs={"fetch": flaky}, scheduler=BackgroundScheduler(timezone="UTC"),
                            triggers={"fetch": IntervalTrigger(seconds=1)}, run_now=("fetch",))
    sched.start()
    try:
        assert third.wait(30), "the job stopped firing after it failed"
    finally:
        sched.shutdown(wait=True)


@pytest.mark.parametrize(
    ("raised", "level", "message"),
    [
        (RunLockedError("another run holds the lock: held by h:1:cron"), logging.WARNING,
         "job fetch: skipped, another run holds the lock"),
        (QueryError("queries/a/b.toml: bad term"), logging.ERROR, "job fetch: failed: queries/a/b.toml: bad term"),
        (ZeroDivisionError("a bug"), logging.ERROR, "job fetch: crashed"),
    ],
)
def test_guarded_job_logs_its_failure_and_returns(
    raised: Exception, level: int, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    def job() -> None:
        set_run_id(41)
        raise raised

    with caplog.at_level(logging.INFO, logger="litwatch.pipeline.scheduler"):
        guarded("fetch", job)()
    assert any(r.levelno == level and r.getMessage().startswith(message) for r in caplog.records), caplog.text
    assert current_run_id() == "-"  # the next job on this worker thread starts without the old run id


def test_guarded_job_does_not_start_once_stop_is_requested() -> None:
    stop = threading.Event()
    stop.set()
    ran: list[int] = []
    guarded("fetch", lambda: ran.append(1), stop)()
    assert ran == []


def test_run_forever_returns_only_after_the_job_in_hand_finishes(tmp_path: Path) -> None:
    """SIGTERM sets `stop`: no new job starts, and the scheduler waits for the running one."""
    config = write_config(tmp_path, "http://127.0.0.1:9/entrez/eutils/", "sqlite://", tmp_path)
    settings = load_settings(config, env={})
    stop, started, release = threading.Event(), threading.Event(), threading.Event()
    events: list[str] = []

    def job() -> None:
        started.set()
        release.wait(30)
        events.append("job finished")

    lines: list[str] = []
    forever = threading.Thread(target=lambda: (run_forever(settings, stop, lines.append, run_now=("fetch",),
                                                           jobs={"fetch": job}), events.append("returned")))
    forever.start()
    assert started.wait(30)
    stop.set()
    assert forever.is_alive()  # still waiting for the job
    release.set()
    forever.join(30)
    assert events == ["job finished", "returned"]
    assert len(lines) == 1 and lines[0].startswith("job fetch: cron[") and "next run 20" in lines[0]


def test_a_scheduled_fetch_that_finds_the_lock_held_is_recorded_as_skipped(
    tmp_path: Path, replay_factory: Callable[..., ReplayServer], sqlite_url: str
) -> None:
    replay = replay_factory(rate_limit=None, api_key_rate_limit=None)
    config = write_config(tmp_path, replay.base_url, sqlite_url, queries_dir(tmp_path, "exosomes.toml"))
    settings = load_settings(config, env={})
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    held = RunLock(engine, holder="an-editor:1234:manual", stale_after=600, heartbeat=60)
    held.acquire()
    stop = threading.Event()
    sched = build_scheduler(
        settings, jobs=default_jobs(settings, stop), scheduler=BackgroundScheduler(timezone="UTC"), stop=stop,
        triggers={"fetch": DateTrigger(run_date=datetime.now(UTC) + timedelta(milliseconds=200)),
                  "digest": DateTrigger(run_date=datetime.now(UTC) + timedelta(hours=1))},
    )
    sched.start()
    try:
        skipped = _wait_for_run(engine, "fetch")
    finally:
        sched.shutdown(wait=True)
        held.release()
    assert (skipped.trigger, skipped.status) == ("scheduler", "skipped")
    assert "held by an-editor:1234:manual" in (skipped.error or "")
