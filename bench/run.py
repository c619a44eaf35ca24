"""`make bench`: cams-server's throughput and latency against a bare app on the same stack.

For each configuration (default: `sqlite pg:1 pg:2 pg:2@128`; `@N`: at N connections) it:
1. writes a world of ACCOUNTS accounts (one root AccessKey and a few spaces each, the
   space ids new to this run) and applies it with `cams-server world apply`;
2. starts `cams-server serve --port 0 --no-demo ARGS` and reads its listening line (a
   configuration the server refuses is skipped, with the server's own message);
3. warms up: one call per account enabling its space 0, then waits for the flow-control
   windows to empty;
4. pre-signs the measured calls (distinct nonces, the current time; one in ten a
   first-time enablement, the rest repeats; see presign.py) and replays each exactly once
   with wrk (64 keep-alive connections, bench/replay.lua), which checks every answer.

Before them, for every worker count in use, the bare ASGI app (bare_app.py, same uvicorn
configuration, a fixed 150-byte JSON answer) is measured the same way: the ceiling every
ratio refers to. Then the nonce store's memory (nonce_memory.py) and the flow-control
flood across processes (flood.py) are measured.

Configurations: `sqlite` or `sqlite:N` (embedded database, N workers), `pg:N` (--database
PG --redis REDIS --workers N), or `NAME=ARGS` (any `serve` arguments). A PostgreSQL
--database is never written to: a fresh database is created next to it for the run and
dropped after.

Targets are printed next to the numbers, not asserted. A run with any answer other than
200 OK, a socket error, or running out of pre-signed calls is an ERROR: it is printed as
such and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import presign
import spy_report

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
LISTENING = re.compile(r"listening on (https?)://(\S+):(\d+)\s*$")
DEFAULT_PG = "postgresql://127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
LIMIT_PER_SECOND = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_SQLITE_RATIO = 0.40
TARGET_P99_MS = 20.0
TARGET_PG_VS_SQLITE = 0.6
TARGET_US_PER_CALL = 60.0
TARGET_WORKERS = 1.6


def default_cams_server() -> str:
    beside = Path(PYTHON).parent / "cams-server"
    found = str(beside) if beside.exists() else shutil.which("cams-server")
    if not found:
        sys.exit("bench: cams-server is not installed (run `make` first or activate the venv)")
    return found


# -- configurations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    args: tuple[str, ...]
    workers: int
    postgres: bool  # a fresh PostgreSQL database is made for it
    connections: int | None = None  # wrk's, if not --connections (`SPEC@N`)

    @property
    def label(self) -> str:
        return f"cams-server {self.name}"


def parse_config(spec: str, pg: str, redis: str) -> Config:
    if "=" not in spec and "@" in spec:  # `pg:2@128`: this configuration at 128 connections
        spec, _, connections = spec.partition("@")
        config = parse_config(spec, pg, redis)
        return replace(config, name=f"{config.name}@{connections}", connections=int(connections))
    if "=" in spec:
        name, _, rest = spec.partition("=")
        args = tuple(shlex.split(rest))
        workers = 1
        if "--workers" in args:
            workers = int(args[args.index("--workers") + 1])
        database = args[args.index("--database") + 1] if "--database" in args else ""
        return Config(name, args, workers, database.startswith("postgresql"))
    kind, _, count = spec.partition(":")
    workers = int(count or "1")
    if kind == "sqlite":
        return Config(f"sqlite-{workers}w", ("--workers", str(workers)), workers, False)
    if kind == "pg":
        args = ("--database", pg, "--redis", redis, "--workers", str(workers))
        return Config(f"pg-redis-{workers}w", args, workers, True)
    raise SystemExit(f"bench: unknown configuration {spec!r} (sqlite[:N], pg:N or NAME=ARGS)")


@dataclass(frozen=True)
class Build:
    """Which cams-server runs: the installed one, or a baseline checked out beside it."""

    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    suffix: str = ""  # appended to the configuration's label ("" for this build)

    def environ(self, home: Path) -> dict[str, str]:
        return {**os.environ, **dict(self.env), "CAMS_HOME": str(home)}


# -- processes -----------------------------------------------------------------------------


class Server:
    """A server process (and its workers) whose stdout is read for the listening line."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.cmd = cmd
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_listening(self, timeout: float) -> tuple[str, int] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                return None
            match = LISTENING.search(line)
            if match:
                host = match.group(2).strip("[]")
                return host, int(match.group(3))
        return None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the group this process leads
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(f"    | {line}" for line in text[-lines:])

    def last_line(self) -> str:
        return self.tail(1).strip().removeprefix("|").strip()

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)


def _processes() -> Iterator[tuple[int, str, int, float]]:
    """(pid, name, parent pid, CPU seconds) of every process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        yield int(entry.name), name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def services_cpu_seconds() -> dict[str, float]:
    """User + system CPU of the PostgreSQL and Redis processes on this machine: with them,
    what a call costs the machine, not only the server."""
    seconds = {"postgres": 0.0, "redis": 0.0}
    for _, name, _, cpu in _processes():
        kind = "postgres" if name.startswith("postgres") else "redis" if "redis" in name else ""
        if kind:
            seconds[kind] += cpu
    return seconds


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and its live descendants (from /proc)."""
    processes = list(_processes())
    tree = tree_pids(root, {pid: parent for pid, _, parent, _ in processes})
    return sum(seconds for pid, _, _, seconds in processes if pid in tree)


def tree_pids(root: int, parents: dict[int, int] | None = None) -> set[int]:
    """A process and its live descendants (workers are children or grandchildren)."""
    if parents is None:
        parents = {pid: parent for pid, _, parent, _ in _processes()}
    tree = {root}
    for _ in range(8):
        tree |= {pid for pid, parent in parents.items() if parent in tree}
    return tree


# -- results -------------------------------------------------------------------------------


@dataclass
class Measurement:
    label: str
    workers: int
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    latency_us: dict[str, float] = field(default_factory=dict)  # wrk's p50 .. max, mean
    ok: int = 0
    responses: int = 0
    signed: int = 0
    first_time: int = 0
    wrk_cpu: float = 0.0  # fraction of one core
    server_cpu: float = 0.0  # cores
    server_cpu_seconds: float = 0.0
    services_cpu_seconds: dict[str, float] = field(default_factory=dict)  # postgres, redis
    problems: list[str] = field(default_factory=list)
    skipped: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_us_per_call(self) -> float:
        return self.server_cpu_seconds / self.responses * 1e6 if self.responses else 0.0

    @property
    def machine_us_per_call(self) -> float:
        """CPU per call of the server, PostgreSQL and Redis together."""
        total = self.server_cpu_seconds + sum(self.services_cpu_seconds.values())
        return total / self.responses * 1e6 if self.responses else 0.0

    @property
    def machine_cores(self) -> float:
        """Cores the run kept busy: the server, PostgreSQL, Redis and wrk."""
        seconds = self.server_cpu_seconds / self.server_cpu if self.server_cpu else 1.0
        return self.server_cpu + sum(self.services_cpu_seconds.values()) / seconds + self.wrk_cpu

    @property
    def valid(self) -> bool:
        return not self.skipped and not self.problems and self.responses > 0


@dataclass
class Run:
    args: argparse.Namespace
    tmp: Path
    run_id: str
    build: Build = Build(())
    servers: list[Server] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> Server:
        server = Server(cmd, env, log)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()


def run_wrk(
    run: Run,
    host: str,
    port: int,
    prefix: Path,
    mode: str,
    measurement: Measurement,
    profile: Path | None = None,
    connections: int | None = None,
) -> None:
    args = run.args
    cmd = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(connections or args.connections),
        "-d",
        f"{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "replay.lua"),
        f"http://{host}:{port}/",
        "--",
        str(prefix),
        mode,
    ]
    server = run.servers[-1]
    spy = None
    if profile is not None:
        record = [args.py_spy, "record", "--pid", str(server.proc.pid), "--subprocesses"]
        record += ["--duration", str(args.duration), "--rate", "100", "--format", "raw"]
        spy = subprocess.Popen(
            [*record, "-o", str(profile)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached before the load starts
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    services_before = services_cpu_seconds()
    server_before = server.cpu_seconds()
    started = time.monotonic()
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=args.duration + 120, check=False
    )
    wall = time.monotonic() - started
    server_after = server.cpu_seconds()
    services_after = services_cpu_seconds()
    measurement.services_cpu_seconds = {
        name: services_after[name] - services_before[name] for name in services_after
    }
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if spy is not None:
        try:
            spy.wait(args.duration + 30)
        except subprocess.TimeoutExpired:
            spy.terminate()
            spy.wait(10)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    measurement.wrk_cpu = wrk_cpu / max(wall, 1e-9)
    measurement.server_cpu_seconds = server_after - server_before
    measurement.server_cpu = measurement.server_cpu_seconds / args.duration
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-RESULT ")), None)
    if done.returncode != 0 or line is None:
        measurement.problems.append(
            f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
            f"{done.stdout.strip()[-500:]}"
        )
        return
    result = json.loads(line.removeprefix("BENCH-RESULT "))
    measurement.raw = result
    measurement.responses = result["requests"]
    measurement.ok = result["ok"]
    measurement.rps = result["requests"] / (result["duration_us"] / 1e6)
    measurement.p50_ms = result["latency_us"]["p50"] / 1000
    measurement.p99_ms = result["latency_us"]["p99"] / 1000
    measurement.latency_us = result["latency_us"]
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if result["bad"] or non_ok:
        statuses = ", ".join(f"{n} x {s}" for s, n in sorted(result["bad_statuses"].items()))
        measurement.problems.append(
            f"{result['bad']} of {result['requests']} answers were not 200 OK ({statuses}; "
            f"wrk counted {non_ok.group(1) if non_ok else 0} non-2xx); first: "
            f"{result['first_bad'][:300]}"
        )
    socket_errors = {k: v for k, v in result["errors"].items() if k != "status" and v}
    if socket_errors:
        measurement.problems.append(f"socket errors: {socket_errors}")
    if result["exhausted"]:
        measurement.problems.append(
            f"ran out of pre-signed calls ({result['loaded']} loaded): the rate beat the "
            "estimate; pass a larger --requests"
        )
    if not server.alive():
        measurement.problems.append(f"the server exited during the run:\n{server.tail()}")


# -- the bare app ----------------------------------------------------------------------------


def bench_bare(run: Run, workers: int) -> Measurement:
    m = Measurement(f"bare app ({workers}w)", workers)
    home = run.tmp / f"bare-{workers}w"
    home.mkdir()
    cmd = [PYTHON, str(BENCH / "bare_app.py"), "--port", "0", "--workers", str(workers)]
    cmd += ["--loop", run.args.bare_loop]
    server = run.start(cmd, dict(os.environ), home / "server.log")
    where = server.wait_listening(30)
    if where is None:
        m.skipped = f"the bare app did not start:\n{server.tail()}"
        server.stop()
        return m
    host, port = where
    pool = min(50_000, run.args.accounts * 5)  # replayed round and round: it checks nothing
    spaces = presign.spaces_needed(run.args.accounts, pool)
    fleet = presign.Fleet(run.args.accounts, spaces, f"bare{run.run_id}", run.run_id)
    stats = presign.presign(fleet, f"{host}:{port}", pool, home / "requests", run.args.threads)
    m.signed = stats.count
    run_wrk(run, host, port, home / "requests", "wrap", m)
    server.stop()
    run.servers.remove(server)
    return m


# -- cams-server ---------------------------------------------------------------------------


def fresh_postgres(admin_url: str, name: str) -> tuple[str, Any]:
    """A new empty database next to `admin_url`'s, and a function that drops it."""
    import sqlalchemy as sa

    engine_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = sa.create_engine(engine_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{admin_url.rsplit('/', 1)[0]}/{name}", drop


def prepare(
    run: Run, config: Config, home: Path, fleet: presign.Fleet, build: Build
) -> tuple[list[str], Any]:
    """The serve arguments (a fresh database for pg) and a cleanup; applies the world."""
    args = list(config.args)
    cleanup: Any = None
    if config.postgres:
        index = args.index("--database") + 1
        name = f"cams_bench_{run.run_id}_{re.sub(r'[^a-z0-9]', '_', config.name.lower())}"
        try:
            args[index], cleanup = fresh_postgres(args[index], name)
        except Exception as exc:
            # Never fill the given database itself with 10,000 benchmark accounts.
            raise RuntimeError(
                f"cannot create a fresh database next to {args[index]}: {exc}"
            ) from exc
    world = home / "world.toml"
    presign.write_world(fleet, world)
    apply = [*build.command, "world", "apply", str(world)]
    if "--database" in args:
        apply += ["--database", args[args.index("--database") + 1]]
    env = build.environ(home)
    started = time.monotonic()
    done = subprocess.run(apply, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if cleanup:
            cleanup()
        raise RuntimeError(f"world apply failed: {(done.stderr or done.stdout).strip()[-600:]}")
    print(
        f"  world: {fleet.accounts} accounts x {fleet.spaces} spaces applied in "
        f"{time.monotonic() - started:.1f}s"
    )
    return args, cleanup


def start_cams(
    run: Run, args: list[str], home: Path, build: Build
) -> tuple[Server, tuple[str, int] | None]:
    env = build.environ(home)
    cmd = [*build.command, "serve", "--host", "127.0.0.1", "--port", "0", "--no-demo"]
    cmd += ["--log-level", run.args.log_level, *args]
    server = run.start(cmd, env, home / "server.log")
    return server, server.wait_listening(180)


def bench_cams(run: Run, config: Config, ceiling: Measurement | None, build: Build) -> Measurement:
    args = run.args
    m = Measurement(config.label + build.suffix, config.workers)
    home = run.tmp / re.sub(r"[^A-Za-z0-9-]", "-", config.name + build.suffix)
    home.mkdir()
    expected = ceiling.rps if ceiling and ceiling.valid else args.expected_rps
    count = args.requests or min(math.ceil(expected * args.duration * 1.25), args.max_requests)
    spaces = presign.spaces_needed(args.accounts, count)
    tag = re.sub(r"[^A-Za-z0-9-]", "-", f"{config.name}{build.suffix}-{run.run_id}")
    fleet = presign.Fleet(args.accounts, spaces, tag, run.run_id)
    cleanup = None
    try:
        try:
            serve_args, cleanup = prepare(run, config, home, fleet, build)
        except RuntimeError as exc:
            m.skipped = str(exc)
            return m
        server, where = start_cams(run, serve_args, home, build)
        if where is None:
            code = server.stop()
            m.skipped = f"serve (exit {code}): {server.last_line()}\n{server.tail()}"
            return m
        host, port = where
        endpoint = f"{host}:{port}"
        started = time.monotonic()
        warmup = presign.warmup_requests(fleet, endpoint)
        try:
            counts, bad = asyncio.run(
                presign.send_all(host, port, warmup, config.connections or args.connections)
            )
        except (OSError, asyncio.IncompleteReadError) as exc:
            m.problems.append(f"warm-up failed: {exc!r}\n{server.tail()}")
            return m
        print(
            f"  warm-up: {len(warmup)} first-time enablements in "
            f"{time.monotonic() - started:.1f}s: {dict(counts)}"
        )
        if counts[(200, "OK")] != len(warmup):
            m.problems.append(f"warm-up answers {dict(counts)}; first bad: {bad[:1]}")
            return m
        time.sleep(1.2)  # every account's flow-control window is empty again
        stats = presign.presign(fleet, endpoint, count, home / "requests", args.threads)
        m.signed, m.first_time = stats.count, stats.first_time
        print(
            f"  signed {stats.count} calls ({stats.first_time} first-time) in {stats.seconds:.1f}s"
        )
        profile = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile = args.profile / f"{home.name}.txt"
        run_wrk(run, host, port, home / "requests", "once", m, profile, config.connections)
        if profile is not None and profile.exists():
            print(spy_report.report(profile, m.cpu_us_per_call))
        per_account = math.floor(m.rps / args.accounts) + 1
        if per_account > LIMIT_PER_SECOND:
            m.problems.append(
                f"at {m.rps:.0f} req/s an account gets up to {per_account} calls a second: "
                "use more --accounts"
            )
        code = server.stop()
        run.servers.remove(server)
        if code not in (0, -signal.SIGTERM):
            m.problems.append(f"the server exited with {code} on SIGTERM:\n{server.tail()}")
        for path in stats.files:
            path.unlink()
        return m
    finally:
        run.stop_all()
        if cleanup:
            cleanup()


# -- nonce memory and the flood ------------------------------------------------------------


def bench_nonce_memory(run: Run) -> dict[str, Any] | None:
    done = subprocess.run(
        [PYTHON, str(BENCH / "nonce_memory.py"), "--count", str(run.args.nonces)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print("  " + "\n  ".join(done.stdout.strip().splitlines()[:-1]))
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("NONCE-RESULT ")), None)
    if done.returncode != 0 or line is None:
        run.errors.append(f"nonce memory: failed: {done.stderr.strip()[-500:]}")
        return None
    result: dict[str, Any] = json.loads(line.removeprefix("NONCE-RESULT "))
    return result


def bench_flood(run: Run) -> dict[str, Any] | str:
    """The flood's result, or why it was skipped."""
    args = run.args
    flood_args = tuple(shlex.split(args.flood_serve.format(pg=args.database, redis=args.redis)))
    database = flood_args[flood_args.index("--database") + 1] if "--database" in flood_args else ""
    config = Config("flood", flood_args, 0, database.startswith("postgresql"))
    fleet = presign.Fleet(1, 1, f"flood-{run.run_id}", run.run_id, kind="Flood")
    home = run.tmp / "flood"
    home.mkdir()
    cleanup = None
    try:
        try:
            serve_args, cleanup = prepare(run, config, home, fleet, run.build)
        except RuntimeError as exc:
            return str(exc)
        endpoints = []
        for i in range(args.flood_instances):
            server, where = start_cams(run, serve_args, home, run.build)
            if where is None:
                code = server.stop()
                return (
                    f"serve {shlex.join(serve_args)} (exit {code}): {server.last_line()}\n"
                    f"{server.tail()}"
                )
            endpoints.append(f"{where[0]}:{where[1]}")
            print(f"  instance {i + 1}: {endpoints[-1]}")
        cmd = [PYTHON, str(BENCH / "flood.py")]
        for endpoint in endpoints:
            cmd += ["--endpoint", endpoint]
        cmd += ["--key-id", fleet.key_id(0), "--secret", fleet.secret(0)]
        cmd += ["--space", fleet.space_id(0, 0), "--rate", str(args.flood_rate)]
        cmd += ["--duration", str(args.flood_duration)]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.flood_duration + 120, check=False
        )
        print("  " + "\n  ".join(done.stdout.strip().splitlines()[:-1]))
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("FLOOD-RESULT ")), "")
        if not line:
            run.errors.append(f"flood: failed: {done.stderr.strip()[-500:]}")
            return "failed"
        result: dict[str, Any] = json.loads(line.removeprefix("FLOOD-RESULT "))
        if result["errors"]:
            run.errors.append(f"flood: {result['errors']} calls got an unexpected answer")
        return result
    finally:
        run.stop_all()
        if cleanup:
            cleanup()


# -- the report ----------------------------------------------------------------------------


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def print_table(measurements: list[Measurement], bare: dict[int, Measurement]) -> None:
    if not measurements:
        return
    print()
    head = (
        f"{'configuration':<36}{'req/s':>9}{'x bare':>8}{'p50 ms':>9}{'x bare':>8}"
        f"{'p99 ms':>9}{'x bare':>8}{'ok/answers':>17}{'server CPU':>11}{'us CPU/call':>12}"
        f"{'wrk CPU':>9}"
    )
    print(head)
    print("-" * len(head))
    for m in measurements:
        if m.skipped:
            print(f"{m.label:<36}SKIPPED: {m.skipped.splitlines()[0]}")
            continue
        base = bare.get(m.workers)
        b = base if base and base.valid and base is not m else None
        print(
            f"{m.label:<36}{m.rps:>9.0f}{ratio(m.rps, b.rps) if b else '':>8}"
            f"{m.p50_ms:>9.2f}{ratio(m.p50_ms, b.p50_ms) if b else '':>8}"
            f"{m.p99_ms:>9.2f}{ratio(m.p99_ms, b.p99_ms) if b else '':>8}"
            f"{f'{m.ok}/{m.responses}':>17}{m.server_cpu:>10.2f}c{m.cpu_us_per_call:>12.0f}"
            f"{m.wrk_cpu:>8.2f}c" + ("   ERROR" if m.problems else "")
        )
    print_machine(measurements)


def print_machine(measurements: list[Measurement]) -> None:
    """Where the machine's CPU went in each run: the server, PostgreSQL, Redis and wrk
    (cores, averaged over the run), and the CPU a call costs the server and the services
    together, which is how worker counts compare on a machine they saturate."""
    rows = [m for m in measurements if m.valid and m.label.startswith("cams-server")]
    if not rows:
        return
    print(f"\nmachine CPU during each run (cores of {os.cpu_count()}):")
    head = (
        f"{'configuration':<36}{'server':>8}{'postgres':>10}{'redis':>8}{'wrk':>8}{'total':>8}"
        f"{'us/call server':>16}{'+ services':>12}"
    )
    print(head)
    print("-" * len(head))
    for m in rows:
        seconds = m.server_cpu_seconds / m.server_cpu if m.server_cpu else 1.0
        pg = m.services_cpu_seconds.get("postgres", 0.0) / seconds
        redis = m.services_cpu_seconds.get("redis", 0.0) / seconds
        print(
            f"{m.label:<36}{m.server_cpu:>7.2f}c{pg:>9.2f}c{redis:>7.2f}c{m.wrk_cpu:>7.2f}c"
            f"{m.machine_cores:>7.2f}c{m.cpu_us_per_call:>16.0f}{m.machine_us_per_call:>12.0f}"
        )


def print_targets(
    connections: int,
    measurements: list[Measurement],
    bare: dict[int, Measurement],
    nonce: dict[str, Any] | None,
    flood: dict[str, Any] | str | None,
) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print("\nTargets (reported, not asserted):")
    sqlite = next((m for m in measurements if m.label.endswith("sqlite-1w") and m.valid), None)
    base = bare.get(1)
    if sqlite and base and base.valid:
        r = sqlite.rps / base.rps
        print(
            f"  SQLite 1 worker >= {TARGET_SQLITE_RATIO:.2f}x bare rps: {r:.2f}x "
            f"({verdict(r >= TARGET_SQLITE_RATIO)})"
        )
        print(
            f"  SQLite 1 worker p99 <= {TARGET_P99_MS:g} ms at {connections} "
            f"connections: {sqlite.p99_ms:.1f} ms ({verdict(sqlite.p99_ms <= TARGET_P99_MS)})"
        )
        us = sqlite.cpu_us_per_call
        print(
            f"  SQLite 1 worker CPU per call <= {TARGET_US_PER_CALL:g} us: {us:.0f} us "
            f"({verdict(us <= TARGET_US_PER_CALL)})"
        )
    else:
        print("  SQLite 1 worker: not measured")
    pg = next((m for m in measurements if m.label.endswith("pg-redis-1w") and m.valid), None)
    if pg and sqlite:
        r = pg.rps / sqlite.rps
        print(
            f"  PG+Redis 1 worker >= {TARGET_PG_VS_SQLITE:.1f}x SQLite rps: {r:.2f}x "
            f"({verdict(r >= TARGET_PG_VS_SQLITE)})"
        )
    else:
        print("  PG+Redis 1 worker vs SQLite: not measured")
    pg2 = next((m for m in measurements if m.label.endswith("pg-redis-2w") and m.valid), None)
    if pg and pg2:
        r = pg2.rps / pg.rps
        by_cpu = pg.machine_us_per_call / pg2.machine_us_per_call
        print(
            f"  PG+Redis 2 workers >= {TARGET_WORKERS:.1f}x 1 worker rps: {r:.2f}x "
            f"({verdict(r >= TARGET_WORKERS)}); by CPU per call of server, PostgreSQL and "
            f"Redis together {by_cpu:.2f}x (1 worker {pg.machine_us_per_call:.0f} us, "
            f"2 workers {pg2.machine_us_per_call:.0f} us)"
        )
        # The same work per call, 1.6 times as often, needs 1.6 times the cores the
        # 1-worker run kept busy (wrk's share included, since it too sends 1.6 times as many).
        needed = TARGET_WORKERS * pg.machine_cores
        cores = os.cpu_count() or 1
        if needed > cores:
            print(
                f"    the machine: {TARGET_WORKERS:.1f}x needs {needed:.2f} cores at the 1-worker "
                f"run's cost per call, and it has {cores} (the 1-worker run kept "
                f"{pg.machine_cores:.2f} busy, the 2-worker run {pg2.machine_cores:.2f}); so "
                "scaling is read by CPU per call"
            )
        each = 2 * connections
        pg2e = next(
            (m for m in measurements if m.label.endswith(f"pg-redis-2w@{each}") and m.valid), None
        )
        if pg2e is not None:
            by_cpu = pg.machine_us_per_call / pg2e.machine_us_per_call
            # Two workers' worth of work for 1.6 workers' CPU: each call at most 2/1.6 the cost.
            floor = TARGET_WORKERS / 2
            print(
                f"  PG+Redis 2 workers by CPU per call at {each} connections ({connections} "
                f"each, as the 1 worker had) >= {floor:.2f}x: {by_cpu:.2f}x "
                f"({verdict(by_cpu >= floor)}; 1 worker {pg.machine_us_per_call:.0f} us, "
                f"2 workers {pg2e.machine_us_per_call:.0f} us; {pg2e.rps / pg.rps:.2f}x the "
                f"calls with {pg2e.machine_cores:.2f} cores busy)"
            )
    if nonce:
        per = nonce["live_bytes_per_nonce"]
        print(
            f"  nonce store <= 64 bytes/nonce: {per:.1f} live, "
            f"{nonce['rss_bytes_per_nonce']:.1f} RSS ({verdict(per <= 64)})"
        )
    if isinstance(flood, dict):
        print(
            f"  flood: max admitted in 1 s <= 5: {flood['max_window_proven']} proven, "
            f"{flood['max_window_possible']} possible, {flood['max_window_midpoint']} by "
            f"midpoint ({verdict(flood['max_window_proven'] <= LIMIT_PER_SECOND)}); admitted "
            f"{flood['admitted']} >= {flood['possible'] - 2} of {flood['possible']} "
            f"({verdict(flood['admitted'] >= flood['possible'] - 2)})"
        )
    elif flood:
        print(f"  flood: SKIPPED: {flood.splitlines()[0]}")


def print_baseline(measurements: list[Measurement], baseline: Build | None) -> None:
    """CPU per call of this build against the baseline, configuration by configuration."""
    if baseline is None:
        return
    print(f"\nCPU per call against the baseline{baseline.suffix} (same run):")
    by_label = {m.label: m for m in measurements}
    for m in measurements:
        before = by_label.get(m.label + baseline.suffix)
        if before is None:
            continue
        if not (m.valid and before.valid):
            print(f"  {m.label}: not measured")
            continue
        change = m.cpu_us_per_call / before.cpu_us_per_call
        print(
            f"  {m.label}: {before.cpu_us_per_call:.0f} us -> {m.cpu_us_per_call:.0f} us "
            f"({change:.3f}x; req/s {before.rps:.0f} -> {m.rps:.0f})"
        )


def checkout_baseline(ref: str, tmp: Path) -> Build:
    """REF checked out (no install) under `tmp`: run with this venv, its source first."""
    where = tmp / "baseline"
    repo = BENCH.parent
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(where), ref],
        check=True,
    )
    return Build(
        (PYTHON, "-m", "cams_server.cli"), (("PYTHONPATH", str(where / "src")),), f" @{ref}"
    )


def remove_baseline(tmp: Path) -> None:
    where = tmp / "baseline"
    if where.exists():
        subprocess.run(
            ["git", "-C", str(BENCH.parent), "worktree", "remove", "--force", str(where)],
            check=False,
        )


# -- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="See bench/README.md for what each number means.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "configs",
        nargs="*",
        help="default: sqlite pg:1 pg:2 pg:2@2C (C: --connections); `none` runs only the "
        "nonce and flood measurements",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument(
        "--requests", type=int, default=0, help="calls to pre-sign (default: 1.25 x bare rate)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=400_000,
        help="cap of the default --requests (400000: 40k req/s for 10 s)",
    )
    parser.add_argument(
        "--expected-rps", type=float, default=20_000, help="when the bare app was not measured"
    )
    parser.add_argument("--database", default=DEFAULT_PG, help=f"for pg:N ({DEFAULT_PG})")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help=f"for pg:N ({DEFAULT_REDIS})")
    parser.add_argument(
        "--log-level", default="info", help="serve --log-level (info: one line per call)"
    )
    parser.add_argument("--bare-loop", default="config", choices=["config", "asyncio", "uvloop"])
    parser.add_argument("--nonces", type=int, default=1_000_000)
    parser.add_argument("--skip-nonces", action="store_true")
    parser.add_argument("--skip-flood", action="store_true")
    parser.add_argument(
        "--flood-serve",
        default="--database {pg} --redis {redis} --workers 4",
        help="serve arguments of the flood's server(s); {pg} and {redis} are filled in",
    )
    parser.add_argument("--flood-instances", type=int, default=1, help="servers to start (1)")
    parser.add_argument("--flood-rate", type=float, default=500.0)
    parser.add_argument("--flood-duration", type=float, default=10.0)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record each cams-server run with py-spy into DIR and print where the time goes "
        "(sampling costs the server a few percent)",
    )
    parser.add_argument("--py-spy", default="py-spy", metavar="PATH", help="the py-spy to use")
    parser.add_argument(
        "--cams-server",
        default=None,
        metavar="CMD",
        help="command to run instead of the venv's cams-server (e.g. to A/B a patched build)",
    )
    parser.add_argument(
        "--release",
        type=Path,
        default=None,
        metavar="DIR",
        help="measure the release build installed in DIR (`make release`: the request path "
        "compiled), and the source build beside it as the baseline",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REF",
        help="also measure git REF (checked out beside this tree) for every configuration, "
        "and print CPU per call against it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    if args.profile and not shutil.which(args.py_spy):
        sys.exit(f"bench: {args.py_spy} not found (pip install py-spy, or pass --py-spy PATH)")
    # The 2-worker run again at twice the connections: each worker then holds as many as
    # the 1-worker run's one, which is how CPU per call compares them (README, targets).
    default = ["sqlite", "pg:1", "pg:2", f"pg:2@{2 * args.connections}"]
    specs = [] if args.configs == ["none"] else args.configs or default
    configs = [parse_config(spec, args.database, args.redis) for spec in specs]
    tmp = Path(tempfile.mkdtemp(prefix="cams-bench-"))
    command = shlex.split(args.cams_server) if args.cams_server else [default_cams_server()]
    if args.release and args.baseline:
        sys.exit("bench: --release measures the source build as its baseline; not with --baseline")
    if args.release:  # the compiled build first on the path; the source build beside it
        build = Build(tuple(command), (("PYTHONPATH", str(args.release.resolve())),))
        baseline: Build | None = Build(tuple(command), (), " (source)")
    else:
        build = Build(tuple(command))
        baseline = checkout_baseline(args.baseline, tmp) if args.baseline else None
    run = Run(args, tmp, os.urandom(3).hex(), build)
    measurements: list[Measurement] = []
    bare: dict[int, Measurement] = {}
    nonce: dict[str, Any] | None = None
    flood: dict[str, Any] | str | None = None
    print(
        f"cams-server benchmark: {args.duration}s per run, {args.connections} connections, "
        f"wrk -t{args.threads}, {args.accounts} accounts, {os.cpu_count()} CPUs; in {tmp}"
    )
    if args.release:
        print(f"the release build in {args.release} (targets), the source build beside it")
    try:
        for workers in sorted({c.workers for c in configs}):
            print(f"\n== bare app, {workers} worker(s)")
            bare[workers] = bench_bare(run, workers)
            measurements.append(bare[workers])
        for config in configs:
            builds = (baseline, run.build) if config.connections is None else (run.build,)
            for build in [b for b in builds if b is not None]:
                print(f"\n== {config.label}{build.suffix}: serve {shlex.join(config.args)}")
                measurements.append(bench_cams(run, config, bare.get(config.workers), build))
                if measurements[-1].skipped:
                    print(f"  SKIPPED: {measurements[-1].skipped}")
        if not args.skip_nonces:
            print("\n== nonce store memory")
            nonce = bench_nonce_memory(run)
        if not args.skip_flood:
            print(f"\n== flood: one account, {args.flood_rate:g}/s for {args.flood_duration:g}s")
            flood = bench_flood(run)
            if isinstance(flood, str):
                print(f"  SKIPPED (multi-process serving unavailable?): {flood}")
    finally:
        run.stop_all()
        remove_baseline(tmp)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(measurements, bare)
    print_baseline(measurements, baseline)
    print_targets(args.connections, measurements, bare, nonce, flood)
    for m in measurements:
        for problem in m.problems:
            run.errors.append(f"{m.label}: {problem}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "runs": [{**m.__dict__, "valid": m.valid} for m in measurements],
                    "nonce_memory": nonce,
                    "flood": flood,
                    "errors": run.errors,
                },
                indent=2,
                default=str,
            )
        )
    if run.errors:
        print("\n" + "!" * 78)
        print(f"ERROR: {len(run.errors)} problem(s); these numbers are not valid:")
        for error in run.errors:
            print(f"  - {error}")
        print("!" * 78)
        sys.exit(1)


if __name__ == "__main__":
    main()
