"""Scale-out: several `cams-server serve` processes as one deployment, and failing closed.

Servers here are real processes (`CamsServer(mode="process")`) on the real clock, sharing
PostgreSQL (`postgres_url`, a fresh database per test) and Redis (`redis_url`), or forked
by `--workers`. The flow window lives in Redis TIME (or the SQLite guard's clock), so the
floods take real seconds; they are kept to a couple of seconds each.

How a flood is judged (`check_flood`): every call is timed from the client (sent,
received). Whatever instant the server admitted a call at lies inside that call's
[sent, received] interval. Six admissions inside one second are therefore *proven* only
when six admitted calls' intervals all fit in a span under one second. That check needs
no slack for network jitter (only CLOCK_TOLERANCE for clock rates), whereas counting
bare response times per 1-second window would: a response delayed by a few milliseconds
bunches with the next second's admissions, and since a saturated window admits in
bursts of five, jitter could show up to ten responses in a 1-second window of response
times without any over-admission. The admitted total over the flood's T seconds is also
held to at most 5*ceil(T)+5 and at least 5*floor(T), and every refused call must be
`System.LimitControl` with a usable `x-acs-retry-after`.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import make_url

from cams_server.store.database import Database
from cams_server.store.enablements import Enablement, list_enablements
from cams_server.store.keyring import MasterKey
from cams_server.testing import CamsServer
from tests.sdk.clients import KEYS, enable, v3_client
from tests.sdk.raw import v3_headers
from tests.sdk.wire_asserts import assert_error, check_error_body

ACME = "1000000000000001"
GLOBEX = "2000000000000002"
LIMIT = 5
FLOOD_SECONDS = 2.5
FLOOD_THREADS = 4
CALL_TIMEOUT = 20.0  # far above every bound asserted: a hang shows up as a slow answer
UNAVAILABLE_WITHIN = 3.0  # seconds a call may take to be refused while Redis is down
DATABASE_UNAVAILABLE_WITHIN = 10.0  # the same while PostgreSQL is unreachable
RECOVERY_WITHIN = 10.0  # seconds for service to resume after the dependency returns
# The windows run on the server's wall clock (Redis TIME, or time.time() in the SQLite
# guard); the client times calls on its monotonic clock. The two may run at slightly
# different rates (NTP slewing), hence a few milliseconds of tolerance, far below what
# any over-admission shows (a per-process window admits its extra calls at once).
CLOCK_TOLERANCE = 0.01
# Processes of one deployment on one PostgreSQL database share its master key (here as
# CAMS_MASTER_KEY; each has a home, and so a default key file, of its own).
MASTER_KEY = MasterKey.generate().text().strip()


def _process(world: Path | None = None, **kwargs: Any) -> CamsServer:
    return CamsServer(world=world, mode="process", **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _need_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, and CI must run every test")
        pytest.skip(f"{name} is not installed")
    return path


# -- calls ---------------------------------------------------------------------------------------


def signed_call(
    endpoint: str,
    who: str,
    space: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = CALL_TIMEOUT,
) -> httpx.Response:
    """One V3-signed EnableWhatsappROIMetric POST (`headers` to replay a prepared one)."""
    key_id, secret = KEYS[who]
    query = {} if space is None else {"CustSpaceId": space}
    headers = headers or v3_headers(endpoint, key_id, secret, query)
    url = f"http://{endpoint}/" + (f"?{urlencode(query)}" if query else "")
    return httpx.post(url, headers=headers, timeout=timeout)


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """ServiceUnavailable (503), in the gateway's error shape, with a RequestId."""
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    check_error_body(body, "ServiceUnavailable", host=response.request.headers.get("host"))
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    return body


def ready(server: CamsServer) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{server.url}/_cams/ready", timeout=CALL_TIMEOUT)
    return response.status_code, response.json()


def poll(
    attempt: Callable[[], bool], within: float, interval: float = 0.25, what: str = ""
) -> float:
    """Call `attempt` until it returns True; the seconds it took. Fails after `within`."""
    started = time.monotonic()
    while True:
        if attempt():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            pytest.fail(f"not within {within} s: {what}")
        time.sleep(interval)


def _served(response: httpx.Response) -> bool:
    """While polling for recovery: True once OK; False while refused as unavailable (or
    throttled: a call refused by the database was admitted, and used a flow slot)."""
    if response.status_code == 503:
        assert_unavailable(response)
        return False
    if response.status_code == 400 and response.json().get("Code") == "System.LimitControl":
        return False
    assert response.status_code == 200, response.text
    return True


def stored(database_url: str) -> list[Enablement]:
    """The enablements as stored, read straight from the database (no server involved)."""
    database = Database(database_url)
    try:
        return list_enablements(database)
    finally:
        database.dispose()


# -- floods --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    endpoint: str
    sent: float
    received: float
    status: int
    code: str | None
    retry_after: str | None


def flood(
    endpoints: list[str],
    who: str,
    *,
    seconds: float = FLOOD_SECONDS,
    threads: int = FLOOD_THREADS,
    keep_alive: bool = True,
) -> list[Call]:
    """`threads` threads calling as `who` for `seconds`, spreading calls over `endpoints`
    (with `keep_alive=False` every call opens a new connection, so forked workers sharing
    one socket all get some)."""
    key_id, secret = KEYS[who]
    start: list[float] = []
    barrier = threading.Barrier(threads, action=lambda: start.append(time.monotonic()))
    calls: list[Call] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
        mine: list[Call] = []
        try:
            with httpx.Client(timeout=CALL_TIMEOUT, limits=limits) as client:
                barrier.wait(10)
                deadline = start[0] + seconds
                n = index
                while time.monotonic() < deadline:
                    endpoint = endpoints[n % len(endpoints)]
                    n += 1
                    headers = v3_headers(endpoint, key_id, secret, {})
                    sent = time.monotonic()
                    response = client.post(f"http://{endpoint}/", headers=headers)
                    received = time.monotonic()
                    code = None if response.status_code == 200 else response.json().get("Code")
                    mine.append(
                        Call(
                            endpoint,
                            sent,
                            received,
                            response.status_code,
                            code,
                            response.headers.get("x-acs-retry-after"),
                        )
                    )
        except BaseException as exc:
            with lock:
                errors.append(exc)
        with lock:
            calls.extend(mine)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 2 * CALL_TIMEOUT)
    assert errors == []
    return calls


def check_flood(calls: list[Call]) -> dict[str, float]:
    """The flow-control promise held over a flood (see the module docstring)."""
    assert calls
    span = max(c.received for c in calls) - min(c.sent for c in calls)
    admitted = sorted((c for c in calls if c.status == 200), key=lambda c: c.sent)
    refused = [c for c in calls if c.status != 200]
    for call in refused:
        assert (call.status, call.code) == (400, "System.LimitControl"), call
        assert call.retry_after is not None and 1 <= int(call.retry_after) <= 1000, call
    assert refused, "the flood never reached the limit: it proves nothing"
    ceiling = LIMIT * math.ceil(span) + LIMIT
    # A window is freed every second and the flood never lets up, so every started second
    # admits some; a full LIMIT per whole second is the floor (15 are typical in 2.5 s).
    floor = LIMIT * math.floor(span)
    assert floor <= len(admitted) <= ceiling, (len(admitted), span)
    for i, first in enumerate(admitted):
        ends = sorted(c.received for c in admitted[i:])
        if len(ends) > LIMIT:
            # Six calls, all sent no earlier than `first.sent` and answered by ends[LIMIT]:
            # if that is under a second, six admissions fell inside one second.
            assert ends[LIMIT] - first.sent >= 1.0 - CLOCK_TOLERANCE, (
                f"{LIMIT + 1} admissions within {ends[LIMIT] - first.sent:.3f} s"
            )
    return {"span": span, "admitted": len(admitted), "calls": len(calls)}


# -- a private Redis, and a TCP proxy that can cut PostgreSQL off ---------------------------------


class PrivateRedis:
    """A redis-server of this test's own on a free port: stopped, paused or restarted at will."""

    def __init__(self) -> None:
        self.binary = _need_binary("redis-server")
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            assert self._process.poll() is None, "redis-server exited"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> PrivateRedis:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()


class TcpProxy:
    """127.0.0.1:<free port> -> target, in threads. `cut("reset")` closes every connection
    and refuses new ones (a dead server); `cut("blackhole")` forwards nothing and answers
    nothing (a network partition); `restore()` closes what was held and forwards again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._mode = "up"
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            mode = self._mode
            if mode == "reset":
                client.close()
                continue
            with self._lock:
                self._sockets.append(client)
            if mode == "blackhole":
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a partition: hold what was read, forward nothing
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self, mode: str) -> None:
        assert mode in ("reset", "blackhole")
        self._mode = mode
        if mode == "reset":
            self._close_all()
        else:
            self._flowing.clear()

    def restore(self) -> None:
        self._close_all()
        self._mode = "up"
        self._flowing.set()

    def close(self) -> None:
        self._listener.close()
        self._flowing.set()
        self._close_all()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- one deployment across processes --------------------------------------------------------------


def test_two_servers_are_one_deployment(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    shared = {"database": postgres_url, "redis": redis_url, "master_key": MASTER_KEY}
    # B gets no world file: everything it knows comes from the shared database.
    with _process(rich_world, **shared) as a, _process(None, **shared) as b:
        assert a.port != b.port
        before = time.time()
        assert enable(v3_client(a.endpoint, "alice"), "cams-acme-main")["Code"] == "OK"
        after = time.time()
        (entry,) = b.enablements()
        assert entry["account_id"] == ACME
        assert entry["space_id"] == "cams-acme-main"
        assert entry["enabled_by"] == f"acs:ram::{ACME}:user/alice"
        # A repeat through B (which has never seen it) is OK and keeps A's first time.
        assert enable(v3_client(b.endpoint, "olga"), "cams-acme-main")["Code"] == "OK"
        assert b.enablements() == [entry]
        (row,) = stored(postgres_url)
        assert before - 0.001 <= row.enabled_at_us / 1e6 <= after + 0.001

        # A request replayed on the other server is refused there, in both directions.
        key_id, secret = KEYS["acme-root"]
        for first, second in ((a, b), (b, a)):
            headers = v3_headers(first.endpoint, key_id, secret, {})
            assert signed_call(first.endpoint, "acme-root", headers=headers).status_code == 200
            replayed = signed_call(second.endpoint, "acme-root", headers=headers)
            assert_error(replayed, "SignatureNonceUsed", 400)
            again = signed_call(first.endpoint, "acme-root", headers=headers)
            assert_error(again, "SignatureNonceUsed", 400)

        # A first-time enablement of one space raced through both servers: one row, all OK.
        barrier = threading.Barrier(4)
        answers: list[int] = []

        def race(server: CamsServer) -> None:
            barrier.wait(10)
            answers.append(
                signed_call(server.endpoint, "globex-root", "cams-globex-main").status_code
            )

        threads = [threading.Thread(target=race, args=(s,)) for s in (a, b, a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CALL_TIMEOUT)
        assert answers == [200] * 4
        globex = [e for e in stored(postgres_url) if e.account_id == GLOBEX]
        assert [(e.space_id, e.enabled_by) for e in globex] == [
            ("cams-globex-main", f"acs:ram::{GLOBEX}:root")
        ]

        # One account flooding both servers gets one window between them.
        calls = flood([a.endpoint, b.endpoint], "acme-root")
    check_flood(calls)
    # Both servers admitted some: the window held across both, not on one server alone.
    assert {c.endpoint for c in calls if c.status == 200} == {a.endpoint, b.endpoint}


def test_world_change_reaches_another_server_within_a_second(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    text = rich_world.read_text()
    # alice loses her only policy; gus's AccessKey is disabled.
    changed = text.replace('name = "alice"\n  policies = ["RoiOnly"]\n', 'name = "alice"\n')
    changed = changed.replace(
        'secret = "gus-secret"\n', 'secret = "gus-secret"\n    status = "Inactive"\n'
    )
    assert changed.count('status = "Inactive"') == text.count('status = "Inactive"') + 1
    assert changed.count('policies = ["RoiOnly"]') == text.count('policies = ["RoiOnly"]') - 1

    shared = {"database": postgres_url, "redis": redis_url, "master_key": MASTER_KEY}
    with _process(rich_world, **shared) as a, _process(None, **shared) as b:
        assert signed_call(b.endpoint, "alice", "cams-acme-main").status_code == 200
        assert signed_call(b.endpoint, "gus", "cams-globex-main").status_code == 200
        a.apply_world(changed)  # returns once committed
        applied = time.monotonic()
        pending = {"alice": ("cams-acme-main", "Ram.PermissionDeny", 400)}
        pending["gus"] = ("cams-globex-main", "InvalidAccessKeyId.Inactive", 400)
        last_stale: dict[str, float] = {}
        while pending:
            # At most 4 calls in any second per account: never throttled.
            for who, (space, code, status) in list(pending.items()):
                sent = time.monotonic() - applied
                response = signed_call(b.endpoint, who, space)
                if response.status_code == status and response.json()["Code"] == code:
                    assert_error(response, code, status)
                    del pending[who]
                else:
                    assert response.status_code == 200, response.text
                    last_stale[who] = sent
            assert time.monotonic() - applied < 1.5, f"still stale on B: {sorted(pending)}"
            time.sleep(0.3)
    # The promise: no stale permission or key outlives the change by more than a second,
    # so no call sent a second or more after the commit may still be allowed.
    assert all(sent < 1.0 for sent in last_stale.values()), last_stale


# -- several workers on one port ------------------------------------------------------------------


def _worker_pids(server: CamsServer) -> list[int]:
    parent = server._process.pid  # type: ignore[union-attr]
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    command = Path(f"/proc/{parent}/cmdline").read_bytes()
    return [int(p) for p in children if Path(f"/proc/{p}/cmdline").read_bytes() == command]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _flood_workers(server: CamsServer) -> None:
    """Flood one account over new connections; both workers must have served part of it."""
    pids = _worker_pids(server)
    assert len(pids) == 2, pids
    before = {pid: _cpu_seconds(pid) for pid in pids}
    calls = flood([server.endpoint], "acme-root", keep_alive=False)
    used = {pid: _cpu_seconds(pid) - before[pid] for pid in pids}
    check_flood(calls)
    # An idle worker uses next to nothing; each of these served a share of the flood
    # (about 0.6 s of CPU each over 2.5 s here, against 0.1 s required).
    assert all(seconds >= 0.1 for seconds in used.values()), used


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker pids from /proc")
def test_workers_on_postgres_and_redis_share_one_window(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    with _process(rich_world, database=postgres_url, redis=redis_url, workers=2) as server:
        _flood_workers(server)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker pids from /proc")
def test_workers_on_sqlite_without_redis_share_one_window(rich_world: Path) -> None:
    with _process(rich_world, workers=2) as server:
        _flood_workers(server)
        # The nonce is shared through the file too: a replay on a fresh connection (whichever
        # worker takes it) is refused.
        key_id, secret = KEYS["globex-root"]
        headers = v3_headers(server.endpoint, key_id, secret, {})
        assert signed_call(server.endpoint, "globex-root", headers=headers).status_code == 200
        for _ in range(4):
            replay = signed_call(server.endpoint, "globex-root", headers=headers)
            assert_error(replay, "SignatureNonceUsed", 400)


def test_workers_on_postgres_without_redis_refuse_to_start(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CAMS_REDIS_URL", "CAMS_DATABASE_URL")}
    env["CAMS_HOME"] = str(tmp_path)
    serve = [sys.executable, "-m", "cams_server.cli", "serve", "--port", "0", "--no-demo"]
    for args, extra in (
        (["--workers", "2", "--database", postgres_url], {}),
        (["--workers", "2"], {"CAMS_DATABASE_URL": postgres_url}),
    ):
        result = subprocess.run(
            serve + args,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert "listening" not in result.stdout
        assert "--redis" in result.stderr, result.stderr
        assert "per-process" in result.stderr, result.stderr


def test_a_second_serve_process_on_one_sqlite_file_refuses_to_start(
    rich_world: Path, tmp_path: Path
) -> None:
    """Issue point 3: without Redis, processes of one host share nonces and windows
    through the embedded database, or refuse to start: never a silent per-process limit.
    Two plain `serve` processes on one CAMS_HOME would be two such processes."""
    with _process(rich_world, home=tmp_path) as first:
        second = _process(None, home=tmp_path)
        with pytest.raises(RuntimeError) as info:
            second.start()
        assert "--workers" in str(info.value)
        assert "--redis" in str(info.value)
        assert signed_call(first.endpoint, "acme-root").status_code == 200


# -- failing closed, and recovering ---------------------------------------------------------------


def test_redis_down_gives_503_then_service_resumes(rich_world: Path) -> None:
    with PrivateRedis() as redis, _process(rich_world, redis=redis.url) as server:
        redis.start()
        assert signed_call(server.endpoint, "acme-root").status_code == 200
        assert ready(server)[0] == 200

        redis.kill()
        for _ in range(3):
            response, elapsed = timed(lambda: signed_call(server.endpoint, "acme-root"))
            assert_unavailable(response)
            assert elapsed < UNAVAILABLE_WITHIN, elapsed
        status, body = ready(server)
        assert status == 503
        assert body["Ready"] is False
        assert body["Database"] == "ok"
        assert body["CallGuard"].startswith("unreachable"), body

        redis.start()  # the same port; the server is not restarted

        def recovered() -> bool:
            return _served(signed_call(server.endpoint, "acme-root"))

        poll(recovered, RECOVERY_WITHIN, what="calls succeed after Redis returns")
        status, body = ready(server)
        assert (status, body["Ready"], body["CallGuard"]) == (200, True, "ok"), body


def test_redis_unreachable_from_the_start_then_appearing(rich_world: Path) -> None:
    redis = PrivateRedis()  # a free port with nothing listening yet
    with redis, _process(rich_world, redis=redis.url) as server:
        response, elapsed = timed(lambda: signed_call(server.endpoint, "acme-root"))
        assert_unavailable(response)
        assert elapsed < UNAVAILABLE_WITHIN, elapsed
        assert ready(server)[0] == 503
        redis.start()
        poll(
            lambda: _served(signed_call(server.endpoint, "acme-root")),
            RECOVERY_WITHIN,
            what="calls succeed once Redis is up",
        )
        assert ready(server)[0] == 200


def test_redis_hanging_gives_503_within_bounds_then_service_resumes(rich_world: Path) -> None:
    """A Redis that accepts but never answers (SIGSTOPped): bounded refusals, no hang."""
    with PrivateRedis() as redis, _process(rich_world, redis=redis.url) as server:
        redis.start()
        assert signed_call(server.endpoint, "acme-root").status_code == 200
        redis.pause()
        try:
            for _ in range(2):
                response, elapsed = timed(lambda: signed_call(server.endpoint, "acme-root"))
                assert_unavailable(response)
                assert elapsed < UNAVAILABLE_WITHIN, elapsed
            started = time.monotonic()
            status, body = ready(server)
            assert time.monotonic() - started < UNAVAILABLE_WITHIN
            assert status == 503
            assert body["CallGuard"] != "ok", body
        finally:
            redis.resume()
        poll(
            lambda: _served(signed_call(server.endpoint, "acme-root")),
            RECOVERY_WITHIN,
            what="calls succeed after Redis answers again",
        )
        assert ready(server)[0] == 200


def _postgres_cut_and_restore(
    postgres_url: str, redis_url: str, rich_world: Path, mode: str
) -> None:
    direct = make_url(postgres_url)
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        via_proxy = direct.set(port=proxy.port).render_as_string(hide_password=False)
        with _process(rich_world, database=via_proxy, redis=redis_url) as server:
            # The path through the proxy works (an account-wide enablement is written).
            assert signed_call(server.endpoint, "acme-root").status_code == 200
            assert ready(server)[0] == 200

            proxy.cut(mode)
            cut_at = time.time()
            try:
                # A space never enabled: the server must write, and cannot.
                response, elapsed = timed(
                    lambda: signed_call(
                        server.endpoint,
                        "acme-root",
                        "cams-acme-main",
                        timeout=DATABASE_UNAVAILABLE_WITHIN,
                    )
                )
            except httpx.TimeoutException:
                proxy.restore()  # lets the server's stuck thread go, so it can stop
                pytest.fail(f"no answer within {DATABASE_UNAVAILABLE_WITHIN} s")
            assert_unavailable(response)
            assert elapsed < DATABASE_UNAVAILABLE_WITHIN, elapsed
            assert [e.space_id for e in stored(postgres_url)] == [None]  # nothing written

            started = time.monotonic()
            status, body = ready(server)
            assert time.monotonic() - started < DATABASE_UNAVAILABLE_WITHIN
            assert status == 503
            assert body["Ready"] is False
            assert body["Database"] != "ok", body
            assert body["CallGuard"] == "ok", body

            proxy.restore()
            restored_at = time.time()

            def recovered() -> bool:
                return _served(signed_call(server.endpoint, "acme-root", "cams-acme-main"))

            poll(
                recovered, RECOVERY_WITHIN, what="the enablement succeeds after PostgreSQL returns"
            )
            assert ready(server)[0] == 200
    rows = {e.space_id: e for e in stored(postgres_url)}
    assert set(rows) == {None, "cams-acme-main"}
    enabled_at = rows["cams-acme-main"].enabled_at_us / 1e6
    if mode == "reset":
        # Every connection was closed: the row can only be the successful call's.
        assert enabled_at >= restored_at - 0.001 > cut_at
    else:
        # Behind a partition a write already sent may land once it heals (whole, not half).
        assert enabled_at >= cut_at - 0.001


def test_postgres_down_gives_503_then_service_resumes(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    _postgres_cut_and_restore(postgres_url, redis_url, rich_world, "reset")


def test_postgres_partitioned_gives_503_within_bounds_then_service_resumes(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    """PostgreSQL behind a partition (packets vanish): the call must still be bounded."""
    _postgres_cut_and_restore(postgres_url, redis_url, rich_world, "blackhole")


def test_a_second_in_memory_server_on_one_postgres_database_refuses_to_start(
    rich_world: Path, postgres_url: str
) -> None:
    """Without Redis, a process keeps nonces and windows in memory; a second such process
    on the same PostgreSQL database would silently split the limit, so it refuses."""
    shared = {"database": postgres_url, "master_key": MASTER_KEY}
    with CamsServer(mode="process", world=str(rich_world), **shared) as first:
        second = CamsServer(mode="process", **shared)
        with pytest.raises(RuntimeError) as info:
            second.start()
        assert "--redis" in str(info.value)
        assert signed_call(first.endpoint, "acme-root").status_code == 200


def test_an_in_memory_server_cannot_join_a_deployment_on_redis(
    rich_world: Path, postgres_url: str, redis_url: str
) -> None:
    """Processes on Redis share one limit; a process without --redis on their database
    would keep a limit of its own, so it refuses to start, and the other way round."""
    shared = {"database": postgres_url, "master_key": MASTER_KEY}
    with CamsServer(mode="process", world=str(rich_world), redis=redis_url, **shared) as on_redis:
        alone = CamsServer(mode="process", **shared)
        with pytest.raises(RuntimeError) as info:
            alone.start()
        assert "--redis" in str(info.value)
        assert signed_call(on_redis.endpoint, "acme-root").status_code == 200
    with CamsServer(mode="process", **shared) as in_memory:
        joining = CamsServer(mode="process", redis=redis_url, **shared)
        with pytest.raises(RuntimeError) as info:
            joining.start()
        assert "in memory" in str(info.value)
        assert signed_call(in_memory.endpoint, "acme-root").status_code == 200


def _calls_total(text: str) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.labels["action"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cams_calls_total"
    }


def test_metrics_of_workers_are_the_whole_server(
    postgres_url: str, redis_url: str, rich_world: Path
) -> None:
    """Whichever worker answers a scrape, it counts every worker's calls: exact totals,
    never going backwards."""
    who = ["acme-root", "globex-root"]  # two accounts, three calls each: under 5 a second
    with _process(rich_world, database=postgres_url, redis=redis_url, workers=2) as server:
        for round_ in range(3):  # each call on a connection of its own: both workers serve
            for name in who:
                assert signed_call(server.endpoint, name).status_code == 200, (round_, name)
        scrapes = []
        for _ in range(8):
            answer = httpx.get(f"http://{server.endpoint}/metrics", timeout=10)
            assert answer.status_code == 200
            scrapes.append(_calls_total(answer.text))
        # A worker killed and restarted: what it counted still counts.
        first, _ = _worker_pids(server)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while first in _worker_pids(server) or len(_worker_pids(server)) < 2:
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.1)
        time.sleep(1.0)  # the new worker accepts connections
        for _ in range(4):
            after = _calls_total(httpx.get(f"http://{server.endpoint}/metrics", timeout=10).text)
            assert after[("EnableWhatsappROIMetric", "OK")] == 3 * len(who), after
    for totals in scrapes:
        assert totals[("EnableWhatsappROIMetric", "OK")] == 3 * len(who), totals
    seen = [totals.get(("/metrics", "OK"), 0.0) for totals in scrapes]
    assert seen == sorted(seen) and seen[-1] == 7, seen  # the scrapes before the last one
