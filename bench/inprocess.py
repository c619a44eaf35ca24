"""CPU per call of the gateway in one process, without sockets: pre-signed calls fed to the
server's HTTP protocol through an in-memory transport.

No wrk and no kernel: what is measured is the server's own work per call (the protocol's
parsing, V3, the guard, the operation, the answer, the log line, the metrics) and the
event loop's scheduling, with the bench's load (`presign.py`: 10,000 accounts, one
first-time write in ten) kept by CONNECTIONS simulated clients that each send their next
call when their answer is written. A shared machine moves `run.py`'s CPU per call by
10% and more from one run to the next; this moves by about 2%, so it tells changes of a
few microseconds apart. To compare two trees, run it alternately on each:

    PYTHONPATH=/path/to/other/tree/src python bench/inprocess.py

    python bench/inprocess.py [--count 40000] [--connections 64] [--redis URL] [--profile]

`--redis` uses the Redis call guard (as `serve --redis`), `--profile` adds cProfile's
functions per call (its overhead inflates every figure about 2.5 times), and
`--sign-in-child` signs the measured calls in a child process, so that a tool counting
this process's work (`instructions.py`) counts the server's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import multiprocessing
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import presign  # bench/, beside this script
import uvloop
from uvicorn.server import ServerState as UvicornState

from cams_server.gateway.protocol import uvicorn_config
from cams_server.logs import configure_logging
from cams_server.server import ServerState
from cams_server.settings import ServerSettings

__all__ = ["measure"]


class _Transport:
    """What the protocol writes to: each written answer goes to `on_write`."""

    def __init__(self, on_write: Any) -> None:
        self._on_write = on_write
        self._closing = False

    def write(self, data: bytes) -> None:
        self._on_write(data)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _lifespan(app: Any, kind: str) -> None:
    """Send the app one lifespan event (startup or shutdown), as uvicorn does."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if sent:
            await asyncio.Event().wait()  # the app waits for the next event: none comes
        return {"type": f"lifespan.{kind}"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    while not sent:
        await asyncio.sleep(0.01)
    task.cancel()
    if not sent[0]["type"].endswith(".complete"):
        raise RuntimeError(f"lifespan {kind} failed: {sent[0]}")


async def _replay(factory: Any, config: Any, requests: list[bytes], connections: int) -> int:
    """Send every request once over `connections` simulated keep-alive clients; the
    answers that were not 200 OK."""
    loop = asyncio.get_running_loop()
    pending: Iterator[bytes] = iter(requests)
    remaining = len(requests)
    finished: asyncio.Future[None] = loop.create_future()
    bad = 0
    state = UvicornState()

    def client() -> None:
        protocol = factory(config, state, {}, loop)

        def answered(data: bytes) -> None:
            nonlocal remaining, bad
            if not data.startswith(b"HTTP/1.1 200 ") or b'"Code": "OK"' not in data:
                bad += 1
            remaining -= 1
            if remaining == 0:
                finished.set_result(None)
            following = next(pending, None)
            if following is not None:
                loop.call_soon(protocol.data_received, following)

        protocol.connection_made(_Transport(answered))
        first = next(pending, None)
        if first is not None:
            loop.call_soon(protocol.data_received, first)

    for _ in range(min(connections, len(requests))):
        client()
    await finished
    return bad


def _sign(fleet: presign.Fleet, host: str, prefix: str, date: str, count: int) -> list[bytes]:
    """The measured calls, each signed with its own nonce (see presign.py)."""
    return [
        presign.sign_request(
            host, fleet.key_id(a), fleet.secret(a), fleet.space_id(a, k), f"{prefix}{i}", date
        )
        for i, (a, k, _) in enumerate(presign.plan(fleet, count))
    ]


async def measure(args: argparse.Namespace, home: Path) -> None:
    fleet = presign.Fleet(args.accounts, 8, f"in{os.urandom(3).hex()}", os.urandom(8).hex())
    presign.write_world(fleet, home / "world.toml")
    environ = {**os.environ, "CAMS_HOME": str(home)}
    cli = Path(sys.executable).parent / "cams-server"
    subprocess.run(
        [str(cli), "world", "apply", str(home / "world.toml")],
        env=environ,
        check=True,
        capture_output=True,
    )
    if args.redis:
        environ["CAMS_REDIS_URL"] = args.redis
    configure_logging("info", "text")
    handler = logging.getLogger().handlers[0]
    log_file = (home / "calls.log").open("w")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(log_file)
    app = ServerState(ServerSettings.from_environment(environ)).app()
    await _lifespan(app, "startup")
    config = uvicorn_config(app)
    host = "127.0.0.1:8080"
    bad = await _replay(config.http, config, presign.warmup_requests(fleet, host), args.connections)
    await asyncio.sleep(1.2)  # every account's flow window empty again
    date, prefix = presign.iso_now(), os.urandom(6).hex()
    if args.sign_in_child:  # a fresh interpreter: a profiler of this one does not count it
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as child:
            requests = child.submit(_sign, fleet, host, prefix, date, args.count).result()
    else:
        requests = _sign(fleet, host, prefix, date, args.count)
    gc.collect()
    gc.freeze()  # as `serve` settles its collector
    gc.set_threshold(10_000, 20, 20)
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    bad += await _replay(config.http, config, requests, args.connections)
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await _lifespan(app, "shutdown")
    log_file.close()
    n = len(requests)
    print(
        f"{n} calls over {args.connections} connections"
        f"{' (Redis guard)' if args.redis else ''}: {cpu / n * 1e6:.1f} us CPU per call, "
        f"{wall / n * 1e6:.1f} us wall; answers not 200 OK: {bad}"
    )
    if profile is not None:
        stats = pstats.Stats(profile)
        rows = sorted(
            ((v[1] / n, v[2] / n * 1e6, k) for k, v in stats.stats.items()),  # type: ignore[attr-defined]
            key=lambda row: -row[1],
        )
        print("calls/call  own us/call  function")
        for calls, own, (file, line, name) in rows[:40]:
            print(f"{calls:10.2f} {own:12.2f}  {name} ({Path(file).name}:{line})")
    if bad:
        sys.exit(1)


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--count", type=int, default=40_000, help="measured calls")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--redis", help="a Redis URL: the Redis call guard")
    parser.add_argument("--profile", action="store_true", help="cProfile's functions per call")
    parser.add_argument(
        "--sign-in-child",
        action="store_true",
        help="sign the measured calls in a child process (instructions.py counts this one)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cams-inprocess-") as home:
        uvloop.run(measure(args, Path(home)))


if __name__ == "__main__":
    _main()
