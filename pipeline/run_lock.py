"""The database lock as the settings configure it: one way to name its holder (`host:pid:trigger`, so `status`
says who runs) and to set its staleness and heartbeat, for runs, digests and watermark repairs alike."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from litwatch.storage.locks import DEFAULT_NAME, RunLock, default_holder

from .config import Settings


def configured_lock(engine: Engine, settings: Settings, trigger: str, name: str = DEFAULT_NAME) -> RunLock:
    return RunLock(engine, name, holder=f"{default_holder()}:{trigger}",
                   stale_after=settings.run.lock_stale_seconds, heartbeat=settings.run.heartbeat_seconds)


__all__ = ["configured_lock"]
