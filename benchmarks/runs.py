"""One benchmarked backfill: a replay server at NCBI's pace in this process, the runner in a child process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from benchmarks.corpus import REPO, WINDOW, bench_settings, replicated
from benchmarks.link import SharedLinkServer
from litwatch.pipeline.ncbi import ESEARCH_CAP
from litwatch.pipeline.replay import Corpus

PG_ADMIN_URL = os.environ.get("LITWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class RunResult:
    backend: str
    n: int
    rate: float
    latency: float
    in_flight: int  # [ncbi] max_in_flight
    max_concurrent: int  # the most requests the server saw at once
    requests: int
    esearch: int
    efetch: int
    min_requests: int
    bytes: int
    wall: float
    floor: float  # the floor: minimum requests / rate + bytes / bandwidth
    serial_floor: float  # one request at a time: max(requests / rate, requests x latency + bytes / bandwidth)
    stored: int
    rss_mb: float
    cpu: float
    violations: int
    db_url: str
    config: Path

    @property
    def ratio(self) -> float:
        return self.wall / self.floor if self.floor else math.nan

    @property
    def serial_ratio(self) -> float:
        return self.wall / self.serial_floor if self.serial_floor else math.nan

    @property
    def records_per_s(self) -> float:
        return self.stored / self.wall if self.wall else math.nan


def minimum_requests(n: int, batch: int) -> int:
    """ceil(N / batch) efetch requests, and one esearch per slice of the fewest slices under PubMed's cap."""
    return math.ceil(n / batch) + max(1, math.ceil(n / ESEARCH_CAP))


@contextmanager
def database(backend: str, folder: Path) -> Iterator[tuple[str, str | None]]:
    """(url, PostgreSQL schema to drop later or None). SQLite: a file in `folder`."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'litwatch.sqlite'}", None
        return
    schema = f"lwbench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    admin.dispose()
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
    admin.dispose()


def run_backfill(
    base: Corpus, n: int, rate: float, backend: str, *, latency: float, bandwidth: float | None, batch: int,
    workdir: Path, schemas: list[str], profile: Path | None = None, in_flight: int = 2,
) -> RunResult:
    corpus = replicated(base, n)
    folder = Path(tempfile.mkdtemp(prefix=f"{backend}-{n}-{rate:g}-", dir=workdir))
    with database(backend, folder) as (db_url, schema):
        if schema:
            schemas.append(schema)
        # one link shared by concurrent responses: several requests in flight must not multiply the bandwidth
        server = SharedLinkServer(corpus, rate_limit=3.0, api_key_rate_limit=max(rate, 3.0), latency=latency,
                                  bandwidth_bps=bandwidth or None)
        with server:
            settings = bench_settings(folder, server.base_url, db_url, rate, batch, in_flight)
            cmd = [sys.executable, "-m", "benchmarks.child", str(settings.source), str(rate),
                   WINDOW[0].isoformat(), WINDOW[1].isoformat()]
            if profile:
                cmd += ["--profile", str(profile)]
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"backfill {backend} n={n} rate={rate:g} failed: {done.stderr.strip()[-2000:]}")
            out = json.loads(done.stdout.strip().splitlines()[-1])
            stats = server.stats
    minimum = minimum_requests(n, batch)
    transfer = stats.bytes_sent / bandwidth if bandwidth else 0.0
    return RunResult(
        backend=backend, n=n, rate=rate, latency=latency, in_flight=in_flight, max_concurrent=stats.max_concurrent,
        requests=sum(stats.requests.values()),
        esearch=stats.requests["esearch"], efetch=stats.requests["efetch"], min_requests=minimum,
        bytes=stats.bytes_sent, wall=out["wall"] if out["wall"] <= elapsed else elapsed,
        floor=minimum / rate + transfer, serial_floor=max(minimum / rate, minimum * latency + transfer),
        stored=out["new"], rss_mb=out["maxrss_mb"], cpu=out["cpu"], violations=stats.rate_violations,
        db_url=db_url, config=Path(settings.source),
    )
