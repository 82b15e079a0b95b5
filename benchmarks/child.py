"""One backfill in its own process, so that its peak RSS is its own: `python -m benchmarks.child CONFIG RATE
SINCE UNTIL` prints one JSON line (wall seconds, requests, counts, ru_maxrss). `--profile FILE` writes cProfile
stats of the run (for finding what keeps the pipeline off the network's pace)."""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

from benchmarks.corpus import key_env
from litwatch.pipeline.config import load_settings
from litwatch.pipeline.runner import Runner, RunRequest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("config", type=Path)
    parser.add_argument("rate", type=float)
    parser.add_argument("since", type=date.fromisoformat)
    parser.add_argument("until", type=date.fromisoformat)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings(args.config, env=key_env(args.rate))
    runner = Runner(settings)
    request = RunRequest(trigger="manual", kind="backfill", since=args.since, until=args.until, check_cited=False)
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    summary = runner.run(request)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "requests": runner.client.requests_made,
        "status": summary.status,
        "found": summary.found,
        "new": summary.new,
        "maxrss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
