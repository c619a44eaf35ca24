"""The soak: cams-server held at a steady share of its peak rate for minutes, watched per minute.

    python bench/soak.py                          # 10 minutes at half the peak, SQLite
    python bench/soak.py --minutes 2 --rate 2000  # shorter, at a given rate
    python bench/soak.py pg:1                     # any run.py configuration

Unless --rate is given, the peak is measured first (a 10 s run of run.py's measurement,
same configuration). Then a fresh server gets a world of `--accounts` accounts, a warm-up
(one first-time enablement each), and one minute after another of pre-signed calls (each
minute's calls signed right before it, continuing the same plan: one in ten a first-time
enablement) replayed once each by wrk through bench/paced.lua, whose 64 connections pause
after every answer so that the rate holds at `--rate`. After each minute it reads the
server's resident memory and open file descriptors (its process tree, from /proc), its CPU,
and the live nonces it reports on /metrics, and prints the minute's rate, p50, p99 and
errors (any answer other than 200 OK, a socket error, running out of calls).

Targets (reported, not asserted): 0 errors; p99 flat (no minute's p99 above twice the
median minute's); resident memory growing less than 10% from the first minute to the last
beyond what the nonces it must remember take. Replay protection keeps every admitted
nonce for 15 minutes, so in a soak shorter than that the nonce store grows with every call
by design; the report shows that part apart: the in-memory store's tables as /metrics
reports their slots (8 bytes each, the old table included while a larger one fills),
or, for a store that does not report them, about 18 bytes a live nonce.
The exit status is 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import presign
import run as bench

PACED = bench.BENCH / "paced.lua"
NONCE_GAUGE = re.compile(r'^cams_guard_entries\{store="nonces"[^}]*\}\s+([0-9.e+]+)', re.M)
SLOTS_GAUGE = re.compile(r'^cams_guard_entries\{store="nonce_slots"[^}]*\}\s+([0-9.e+]+)', re.M)


@dataclass
class Minute:
    index: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    rss_mb: float
    fds: int
    cpu_us_per_call: float
    nonces: int
    nonce_slots: int  # the in-memory nonce tables' slots, 8 bytes each (0: not reported)


def rss_and_fds(root: int) -> tuple[float, int]:
    """Resident MB and open file descriptors of a process and its descendants."""
    rss_kb = fds = 0
    for pid in bench.tree_pids(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss_kb += int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
            fds += len(list(Path(f"/proc/{pid}/fd").iterdir()))
        except (OSError, AttributeError):
            continue
    return rss_kb / 1024, fds


def live_nonces(host: str, port: int) -> tuple[int, int]:
    """The nonces the server remembers and its nonce tables' slots, as its /metrics
    reports them (0 where it does not)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0, 0
    nonces = int(sum(float(m) for m in NONCE_GAUGE.findall(text)))
    return nonces, int(sum(float(m) for m in SLOTS_GAUGE.findall(text)))


def paced_minute(
    host: str, port: int, prefix: Path, connections: int, pause_ms: float
) -> dict[str, object]:
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", "60s", "--latency"]
    cmd += ["--timeout", "10s", "-s", str(PACED), f"http://{host}:{port}/"]
    cmd += ["--", str(prefix), "once", f"{pause_ms:.3f}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-400:]}")
    result: dict[str, object] = json.loads(line.removeprefix("BENCH-RESULT "))
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", nargs="?", default="sqlite", help="as in run.py (sqlite)")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.0, help="req/s (default: see --fraction)")
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured peak (0.5)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--database", default=bench.DEFAULT_PG)
    parser.add_argument("--redis", default=bench.DEFAULT_REDIS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args()


def measure_peak(run: bench.Run, config: bench.Config, build: bench.Build) -> float:
    print(f"== peak: {config.label}, 10 s unpaced")
    m = bench.bench_cams(run, config, None, build)
    if not m.valid:
        sys.exit(f"soak: the peak could not be measured: {m.skipped or m.problems}")
    print(f"  peak {m.rps:.0f} req/s")
    return m.rps


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cams-soak-"))
    run_args = argparse.Namespace(
        duration=10,
        connections=args.connections,
        threads=1,
        accounts=args.accounts,
        requests=0,
        max_requests=400_000,
        expected_rps=40_000,  # pre-signs 400,000 calls for the peak's 10 s (the cap)
        log_level="info",
        profile=None,
        py_spy="py-spy",
    )
    run = bench.Run(run_args, tmp, time.strftime("s%H%M%S"))
    build = bench.Build((bench.default_cams_server(),))
    run.build = build
    config = bench.parse_config(args.config, args.database, args.redis)
    rate = args.rate or args.fraction * measure_peak(run, config, build)
    per_minute = int(rate * 60 * 1.1)  # wrk sends at most `rate`; the rest goes unused
    fleet = presign.Fleet(
        args.accounts,
        presign.spaces_needed(args.accounts, per_minute * args.minutes),
        f"soak-{run.run_id}",
        run.run_id,
    )
    print(f"== soak: {config.label}, {args.minutes} min at {rate:.0f} req/s")
    home = tmp / "soak"
    home.mkdir()
    serve_args, cleanup = bench.prepare(run, config, home, fleet, build)
    minutes: list[Minute] = []
    try:
        server, where = bench.start_cams(run, serve_args, home, build)
        if where is None:
            sys.exit(f"soak: serve did not start: {server.tail()}")
        host, port = where
        counts, bad = asyncio.run(
            presign.send_all(host, port, presign.warmup_requests(fleet, f"{host}:{port}"))
        )
        if counts[(200, "OK")] != args.accounts:
            sys.exit(f"soak: warm-up answers {dict(counts)}: {bad[:1]}")
        time.sleep(1.2)
        rss, fds = rss_and_fds(server.proc.pid)
        print(f"  after the warm-up: RSS {rss:.1f} MB, {fds} open files")
        pause_ms = args.connections * 1000 / rate
        print(
            f"\n{'minute':>6}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'errors':>8}"
            f"{'RSS MB':>8}{'fds':>6}{'us CPU/call':>12}{'nonces':>10}"
        )
        for index in range(args.minutes):
            prefix = home / f"minute{index}"
            stats = presign.presign(
                fleet, f"{host}:{port}", per_minute, prefix, 1, start=index * per_minute
            )
            cpu_before = server.cpu_seconds()
            result = paced_minute(host, port, prefix, args.connections, pause_ms)
            cpu = server.cpu_seconds() - cpu_before
            for path in stats.files:
                path.unlink()
            errors_by_kind: dict[str, int] = result["errors"]
            answered = int(result["requests"])
            errors = int(result["bad"]) + int(result["exhausted"])
            errors += sum(v for k, v in errors_by_kind.items() if k != "status")
            latency: dict[str, float] = result["latency_us"]
            rss, fds = rss_and_fds(server.proc.pid)
            minute = Minute(
                index + 1,
                answered / (int(result["duration_us"]) / 1e6),
                latency["p50"] / 1000,
                latency["p99"] / 1000,
                latency["max"] / 1000,
                errors,
                rss,
                fds,
                cpu / max(answered, 1) * 1e6,
                *live_nonces(host, port),
            )
            minutes.append(minute)
            print(
                f"{minute.index:>6}{minute.rps:>8.0f}{minute.p50_ms:>8.2f}{minute.p99_ms:>8.2f}"
                f"{minute.max_ms:>8.1f}{minute.errors:>8}{minute.rss_mb:>8.1f}{minute.fds:>6}"
                f"{minute.cpu_us_per_call:>12.0f}{minute.nonces:>10}",
                flush=True,
            )
        server.stop()
    finally:
        run.stop_all()
        if cleanup:
            cleanup()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return report(minutes)


def report(minutes: list[Minute]) -> int:
    first, last = minutes[0], minutes[-1]
    errors = sum(m.errors for m in minutes)
    median_p99 = statistics.median(m.p99_ms for m in minutes)
    worst = max(minutes, key=lambda m: m.p99_ms)
    growth = (last.rss_mb - first.rss_mb) / first.rss_mb
    if last.nonce_slots:  # the in-memory store's tables, as the server reports them
        nonce_mb = (last.nonce_slots - first.nonce_slots) * 8 / 1e6
        measured = "its tables' slots"
    else:
        nonce_mb = (last.nonces - first.nonces) * 18 / 1e6  # bench/README.md: ~18 B a nonce
        measured = "~18 bytes each"
    beyond = (last.rss_mb - first.rss_mb - nonce_mb) / first.rss_mb

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\nTargets (reported, not asserted):")
    print(f"  errors: {errors} ({verdict(errors == 0)})")
    print(
        f"  p99 flat (every minute <= 2x the median minute's {median_p99:.1f} ms): worst "
        f"{worst.p99_ms:.1f} ms in minute {worst.index} ({verdict(worst.p99_ms <= 2 * median_p99)})"
    )
    more = last.nonces - first.nonces
    print(
        f"  RSS growth < 10%, minute 1 -> {last.index}: {first.rss_mb:.1f} -> "
        f"{last.rss_mb:.1f} MB ({growth:+.1%}); of it {more} more live nonces "
        f"({nonce_mb:.1f} MB by {measured}, kept 15 minutes by design); beyond them "
        f"{beyond:+.1%} "
        f"({verdict(beyond < 0.10)})"
    )
    print(f"  open files, minute 1 -> {last.index}: {first.fds} -> {last.fds}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
