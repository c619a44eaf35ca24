"""Run a real cams-server from Python tests.

    from cams_server.testing import CamsServer

    with CamsServer(world="world.toml") as server:
        Config(endpoint=server.endpoint, protocol="http", ...)

In the default thread mode the server runs in a background thread of this process,
so a test can pass `clock=ManualClock()` and move time. `mode="process"` runs
`cams-server serve` as a child process instead (what a durability test kills).
Loaded as a pytest plugin, it also offers the `cams_server` fixture, configured by
overriding the `cams_world` fixture.
"""

from __future__ import annotations

import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pytest

from cams_server.cams.demo import demo_world
from cams_server.cams.upstream import GraphApi
from cams_server.clock import Clock, ManualClock, SystemClock
from cams_server.gateway.nonces import QuotaLimits
from cams_server.gateway.protocol import HttpLimits, uvicorn_config
from cams_server.model.world import World
from cams_server.server import ServerState
from cams_server.serving import bind
from cams_server.settings import ENVIRONMENT, ServerSettings
from cams_server.store.enablements import list_enablements
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.tls import ensure_self_signed
from cams_server.world.toml_file import load_world, parse_world

__all__ = ["CamsServer", "cams_server", "cams_world"]

_STARTUP_SECONDS = 30.0


class CamsServer:
    """A cams-server on a free port of 127.0.0.1, stopped on exit."""

    def __init__(
        self,
        world: str | Path | World | None = None,
        *,
        home: str | Path | None = None,
        database: str | None = None,
        clock: Clock | None = None,
        mode: Literal["thread", "process"] = "thread",
        demo: bool = False,
        tls: bool = False,
        trusted_proxies: tuple[str, ...] = (),
        admin_token: str | None = None,
        whatsapp_app_secret: str | None = None,
        whatsapp_verify_token: str | None = None,
        redis: str | None = None,
        workers: int = 1,
        graph: GraphApi | None = None,
        http_limits: HttpLimits | None = None,
        nonce_quota: QuotaLimits | None = None,
        master_key_file: str | Path | None = None,
        master_key: str | None = None,
    ) -> None:
        if mode == "process" and clock is not None:
            raise ValueError("an injected clock needs mode='thread'")
        if workers > 1 and mode != "process":
            raise ValueError("workers > 1 needs mode='process'")
        self._world = world
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if home is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cams-server-")
            home = self._tmp.name
        self.home = Path(home)
        self.database_url = database
        self.clock = clock or SystemClock()
        self.mode = mode
        self.demo = demo
        self.tls = tls
        self.trusted_proxies = trusted_proxies
        self.admin_token = admin_token
        self.whatsapp_app_secret = whatsapp_app_secret
        self.whatsapp_verify_token = whatsapp_verify_token
        self.redis_url = redis
        self.workers = workers
        self.graph = graph
        self.http_limits = http_limits or HttpLimits()
        if nonce_quota is not None and mode == "process":
            raise ValueError("nonce_quota needs mode='thread'")
        self.nonce_quota = nonce_quota or QuotaLimits()
        # The master key (see store/keyring.py): a file, or the key itself as
        # CAMS_MASTER_KEY would give it; neither: $CAMS_HOME/master.key under `home`.
        self.master_key_file = None if master_key_file is None else Path(master_key_file)
        self.master_key = master_key
        self.ca_file: Path | None = None
        self.port = 0
        self.state: ServerState | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: Any = None
        self._socket: Any = None

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> CamsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def manual_clock(self) -> ManualClock:
        """The server's clock when the test gave it a `ManualClock` (to move time)."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("this CamsServer runs on the system clock: pass clock=ManualClock()")
        return self.clock

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:PORT`, what an SDK's `endpoint` takes."""
        return f"127.0.0.1:{self.port}"

    @property
    def protocol(self) -> str:
        """What an SDK's `protocol` takes: `https` when started with `tls=True`."""
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.endpoint}"

    def _settings(self) -> ServerSettings:
        return ServerSettings(
            database_url=self.database_url,
            home=self.home,
            clock=self.clock,
            admin_token=self.admin_token,
            whatsapp_app_secret=self.whatsapp_app_secret,
            whatsapp_verify_token=self.whatsapp_verify_token,
            redis_url=self.redis_url,
            graph=self.graph,
            nonce_quota=self.nonce_quota,
            http=self.http_limits,
            master_key_file=self.master_key_file,
            master_key=self.master_key,
        )

    def _world_value(self) -> World | None:
        world = self._world
        if world is None:
            return demo_world() if self.demo else None
        if isinstance(world, World):
            return world
        if isinstance(world, str) and "\n" in world:
            return parse_world(world, "<world text>")
        return load_world(world)

    def start(self) -> None:
        try:
            if self.mode == "process":
                self._start_process()
            else:
                self._start_thread()
        except BaseException:
            self.stop()  # nothing of a failed start is left behind (its temporary home)
            raise

    def _start_thread(self) -> None:
        import asyncio

        import uvicorn

        state = ServerState(self._settings())
        world = self._world_value()
        if world is not None:
            apply_world(state.database, world, "<test world>")
            state.world.refresh()
        sock = bind("127.0.0.1", 0)  # as `serve` binds it
        self.port = sock.getsockname()[1]
        tls_files = ensure_self_signed(self.home) if self.tls else None
        self.ca_file = None if tls_files is None else tls_files.ca
        server = uvicorn.Server(
            uvicorn_config(
                state.app(),
                loop="asyncio",
                tls=tls_files,
                trusted_proxies=self.trusted_proxies,
                limits=self.http_limits,
            )
        )
        self.state, self._uvicorn = state, server

        def run() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, name=f"cams-server:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("cams-server did not start")
            time.sleep(0.005)
        self._socket = sock

    def _start_process(self) -> None:
        args = [
            sys.executable,
            "-m",
            "cams_server.cli",
            "serve",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
        ]
        args += ["--demo"] if self.demo else ["--no-demo"]
        if self.tls:
            args += ["--tls", "self-signed"]
            self.ca_file = self.home / "tls" / "ca.pem"
        for proxy in self.trusted_proxies:
            args += ["--trusted-proxy", proxy]
        if self.database_url:
            args += ["--database", self.database_url]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        limits = self.http_limits
        args += [
            "--max-connections",
            str(limits.max_connections),
            "--max-header-bytes",
            str(limits.max_head_bytes),
            "--header-timeout",
            str(limits.head_timeout),
            "--body-timeout",
            str(limits.body_timeout),
            "--keep-alive-timeout",
            str(limits.keep_alive_timeout),
            "--send-timeout",
            str(limits.send_timeout),
        ]
        if self.master_key_file is not None:
            args += ["--master-key-file", str(self.master_key_file)]
        world = self._world
        if isinstance(world, World) or (isinstance(world, str) and "\n" in world):
            raise ValueError("mode='process' takes a world file path")
        if world is not None:
            args += ["--world", str(world)]
        env = {**os.environ, "CAMS_HOME": str(self.home)}
        # Secrets go through the environment: a command line is readable by any local user.
        given = {
            "admin_token": self.admin_token,
            "whatsapp_app_secret": self.whatsapp_app_secret,
            "whatsapp_verify_token": self.whatsapp_verify_token,
        }
        if self.graph is not None:
            given["graph_api_url"] = self.graph.base_url
            given["graph_api_token"] = self.graph.token
            given["graph_api_version"] = self.graph.version
            given["graph_api_lease_seconds"] = str(self.graph.lease_seconds)
            given["graph_api_backoff_seconds"] = str(self.graph.backoff_seconds)
        env.update({ENVIRONMENT[name]: value for name, value in given.items() if value})
        if self.master_key is not None:
            env[ENVIRONMENT["master_key"]] = self.master_key
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # the server tightens an old one
        log = os.fdopen(
            os.open(self.home / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
        )
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env)  # noqa: S603
        log.close()
        assert self._process.stdout is not None
        deadline = time.monotonic() + _STARTUP_SECONDS
        line = b""
        while b"listening on" not in line:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._process.stdout], [], [], max(remaining, 0))
            if not ready or self._process.poll() is not None:
                self.kill()
                log_text = (self.home / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"cams-server did not start:\n{log_text}")
            line = self._process.stdout.readline()
        self.port = int(line.decode().strip().rsplit(":", 1)[1])
        threading.Thread(target=self._process.stdout.read, daemon=True).start()

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._close_process()
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(10)
            self._thread = None
            self._socket.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """SIGKILL the server process (mode='process'): no shutdown, no flush."""
        if self._process is None:
            raise RuntimeError("kill() needs mode='process'")
        self._process.kill()
        self._process.wait()
        self._close_process()

    def _close_process(self) -> None:
        assert self._process is not None
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    # -- state --------------------------------------------------------------------------

    def _database(self) -> Any:
        from cams_server.store.database import Database

        settings = self._settings()
        database = Database(settings.resolved_database_url, settings.key_source)
        database.migrate()
        return database

    def apply_world(self, world: str | Path | World) -> None:
        """Apply a world (file path, TOML text or `World`); running servers pick it up."""
        if isinstance(world, World):
            value = world
        elif isinstance(world, str) and "\n" in world:
            value = parse_world(world, "<world text>")
        else:
            value = load_world(world)
        database = self._database()
        try:
            apply_world(database, value, "<test world>")
        finally:
            database.dispose()
        if self.state is not None:
            self.state.world.refresh()

    def _admin(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        if not self.admin_token:
            raise RuntimeError("the admin API needs CamsServer(admin_token=...)")
        import httpx

        response = httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            verify=ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else True,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        data: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"{data.get('Code')}: {data.get('Message')}")
        return data

    def reset(self, world: bool = False) -> None:
        """Forget enablements, statistics, faults, nonces and flow windows (and, with
        `world`, the accounts): start a test from a clean server."""
        self._admin("POST", "/_cams/reset", {"World": world})

    def inject_fault(
        self,
        action: str,
        code: str | None = None,
        count: int = 1,
        account_id: str | None = None,
        latency_ms: int = 0,
    ) -> None:
        """Make the next `count` calls of `action` fail with `code` and/or wait `latency_ms`."""
        body: dict[str, object] = {"Action": action, "Count": count, "LatencyMs": latency_ms}
        if code is not None:
            body["Code"] = code
        if account_id is not None:
            body["AccountId"] = account_id
        self._admin("POST", "/_cams/faults", body)

    def clear_faults(self) -> None:
        self._admin("POST", "/_cams/faults/clear")

    def access_keys(self) -> dict[str, str]:
        """Every AccessKey the stored world holds, id -> secret (the demo's are random per
        installation: this is how a test signs with them)."""
        database = self._database()
        try:
            world = load_world_from(database)
        finally:
            database.dispose()
        return {
            key.id: key.secret
            for account in world.accounts
            for key in (*account.access_keys, *(k for u in account.users for k in u.access_keys))
        }

    def enablements(self) -> list[dict[str, Any]]:
        """What `cams-server roi list` prints, as dicts."""
        database = self._database()
        try:
            return [e.to_json() for e in list_enablements(database)]
        finally:
            database.dispose()


@pytest.fixture
def cams_world() -> str | Path | World | None:
    """Override to give `cams_server` a world (path, TOML text or `World`); None = empty."""
    return None


@pytest.fixture
def cams_server(cams_world: str | Path | World | None) -> Iterator[CamsServer]:
    """A running cams-server for one test."""
    with CamsServer(world=cams_world) as server:
        yield server
