"""`python -m benchmarks.backfill`: does litwatch run at the network's speed limit?

For each N x rate x backend: a replicated corpus of N real records behind the replay server at NCBI's pace
(per-request latency, a bandwidth cap, 3 or 10 requests/s), a backfill by `pipeline.runner.Runner` in a child
process; then the parser alone next to pubmed_parser and lxml; then digest and `runs`/`status`/`show` timings on
the largest database of each backend. Prints tables; the numbers are the result (no pass/fail).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.corpus import base_corpus
from benchmarks.runs import RunResult, drop_schema, run_backfill

# Seconds the server takes per request before its first byte, by network profile (bandwidth: --bandwidth).
# stress: 0.05 s, a fast server, so that any slowness of ours shows. ncbi: 1.0 s, an ASSUMPTION for an efetch of
# 500 PubMed records (NCBI publishes no response times; the only measurement we found, a third-party load test,
# reports a 0.2 s median for small E-utilities answers, and assembling 500 full records takes longer). At 1 s a
# request outlasts the rate limit's spacing (0.1-0.33 s), so one connection, not the rate, sets the pace.
LATENCY = {"stress": 0.05, "ncbi": 1.0}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10000, 50000], help="corpus sizes")
    p.add_argument("--rate", type=float, nargs="+", default=[3.0, 10.0], help="requests per second (>3: API key)")
    p.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    p.add_argument("--net", nargs="+", default=["stress", "ncbi"], choices=sorted(LATENCY),
                   help="network profiles: stress (0.05 s per request), ncbi (1.0 s, assumed; see LATENCY)")
    p.add_argument("--latency", type=float, help="override the stress profile's 0.05 s per request")
    p.add_argument("--ncbi-n", type=int, nargs="+", default=[10000],
                   help="corpus sizes for the ncbi profile (default 10,000: its runs are slow by design)")
    p.add_argument("--bandwidth", type=float, default=5e6,
                   help="bytes/s of the one link all responses share, 0 = unlimited (5e6)")
    p.add_argument("--in-flight", type=int, nargs="+", default=[2],
                   help="[ncbi] max_in_flight values to run (default 2, as config.toml)")
    p.add_argument("--batch", type=int, default=500, help="efetch batch size (default 500, as config.toml)")
    p.add_argument("--big-rate-only", type=float, default=10.0,
                   help="run N >= 50,000 only at this rate, to keep the benchmark under ~10 minutes (0: all)")
    p.add_argument("--big-backend", default="sqlite",
                   help="run N >= 50,000 only on this backend (default sqlite; 'all': every backend)")
    p.add_argument("--parse-n", type=int, default=5000, help="records for the parser comparison (0: skip)")
    p.add_argument("--skip-db", action="store_true", help="skip the digest/runs/status/show timings")
    p.add_argument("--profile", type=Path, help="cProfile each backfill child into DIR/<backend>-<n>-<rate>.prof")
    p.add_argument("--keep", action="store_true", help="keep the work folder and PostgreSQL schemas")
    return p


def say(line: str = "") -> None:
    print(line, flush=True)


def backfill_table(results: list[RunResult]) -> list[str]:
    head = ("| latency s | backend | N | req/s | in flight (seen) | requests (min) | MB | wall s | floor s "
            "| wall/floor | serial floor s | wall/serial | records/s | peak RSS MB | 429s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        lines.append(
            f"| {r.latency:g} | {r.backend} | {r.n:,} | {r.rate:g} | {r.in_flight} ({r.max_concurrent}) "
            f"| {r.requests} ({r.min_requests}) "
            f"| {r.bytes / 1e6:.1f} "
            f"| {r.wall:.1f} | {r.floor:.1f} | {r.ratio:.2f} | {r.serial_floor:.1f} | {r.serial_ratio:.2f} "
            f"| {r.records_per_s:,.0f} | {r.rss_mb:.0f} | {r.violations} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="litwatch-bench-"))
    schemas: list[str] = []
    started = time.perf_counter()
    base = base_corpus()
    if args.latency is not None:
        LATENCY["stress"] = args.latency
    say(f"litwatch backfill benchmark: base corpus {len(base)} real records; latency "
        f"{', '.join(f'{net} {LATENCY[net]:g} s' for net in args.net)}; one link of {args.bandwidth / 1e6:g} MB/s, "
        f"efetch batch {args.batch}")
    results: list[RunResult] = []
    plan = [(net, n) for net in args.net for n in sorted(args.n if net == "stress" else args.ncbi_n)]
    try:
        for net, n in plan:
            for rate in args.rate:
                if n >= 50_000 and args.big_rate_only and rate != args.big_rate_only:
                    continue
                for backend, k in [(b, k) for b in args.backend for k in args.in_flight]:
                    if n >= 50_000 and args.big_backend not in ("all", backend):
                        continue
                    profile = None
                    if args.profile:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = args.profile / f"{net}-{backend}-{n}-{rate:g}-k{k}.prof"
                    result = run_backfill(base, n, rate, backend, latency=LATENCY[net], bandwidth=args.bandwidth,
                                          batch=args.batch, workdir=workdir, schemas=schemas, profile=profile,
                                          in_flight=k)
                    results.append(result)
                    say(backfill_table([result])[-1])
        say()
        say("## Backfill")
        for line in backfill_table(results):
            say(line)
        if args.parse_n:
            from benchmarks.parsers import parser_table

            say()
            say(f"## Parse + store, {args.parse_n:,} records")
            for line in parser_table(base, args.parse_n, args.backend, workdir):
                say(line)
        if not args.skip_db and results:
            from benchmarks.dbtimings import timing_table

            say()
            say("## Digest and commands on the largest database of each backend")
            for line in timing_table(results):
                say(line)
    finally:
        if not args.keep:
            for schema in schemas:
                drop_schema(schema)
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"kept {workdir} and PostgreSQL schemas {', '.join(schemas) or '-'}")
    say(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
