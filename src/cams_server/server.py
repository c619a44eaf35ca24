"""One server: its settings, and the object that owns its state.

No module-level state: a `ServerState` owns the database, clock, flow windows,
nonce memory and live world, so two servers can run side by side in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math

from cams_server.admin import AdminApi
from cams_server.cams.ingestion import ingest_records
from cams_server.cams.product import CAMS
from cams_server.cams.upstream import UpstreamWorker
from cams_server.explorer import Explorer, demo_keys_of, demo_spaces_of
from cams_server.gateway.asgi import GatewayApp
from cams_server.gateway.auth import Authenticator
from cams_server.gateway.calls import CallLog, CallObserver
from cams_server.gateway.faults import FaultPlan
from cams_server.gateway.guard import CallGuard, MemoryGuard
from cams_server.gateway.metrics import MetricsRoute, ServerMetrics
from cams_server.gateway.nonces import NonceQuota
from cams_server.gateway.pipeline import Gateway
from cams_server.gateway.redis_guard import RedisGuard
from cams_server.gateway.routes import Route, RpcRoute
from cams_server.gateway.sqlite_guard import SqliteGuard
from cams_server.model.outcomes import OutcomeEvent, SentMessage
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.sts_tokens import StsTokenCodec
from cams_server.rpc.catalog import Catalog
from cams_server.rpc.operations import Operations
from cams_server.settings import ServerSettings
from cams_server.store.database import DIAGNOSTIC_KEY, STS_KEY, Database
from cams_server.store.keyring import SecretsError
from cams_server.store.private_files import private_directory
from cams_server.store.reset import reset_state
from cams_server.store.serve_lock import take_serve_lock
from cams_server.store.statistics import IngestResult
from cams_server.store.world_cache import WorldCache
from cams_server.sts.product import STS
from cams_server.webhooks import WhatsAppWebhook

__all__ = [
    "PRODUCTS",
    "ServerSettings",
    "ServerState",
    "build_app",
    "implemented_catalog",
]

log = logging.getLogger("cams_server")

# The products this server answers, each with its metadata, handlers and checks.
PRODUCTS = (CAMS, STS)


class ServerState:
    """Everything one running server owns."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        private_directory(settings.home)
        self.database = Database(settings.resolved_database_url, settings.key_source)
        try:  # a wrong master key ends here, with SecretsError saying which key to give
            self.database.migrate()
        except BaseException:
            self.database.dispose()
            raise
        self.serve_lock = take_serve_lock(
            self.database, settings.shared_guard, bool(settings.redis_url)
        )
        self.sts = StsTokenCodec(self.database.secret_key(STS_KEY))
        self.world = WorldCache(self.database, self.sts, settings.clock)
        self.operations = Operations(PRODUCTS)
        self.catalog = self.operations.catalog
        self.guard = self._guard()
        self.nonce_quota = NonceQuota(settings.nonce_quota)
        self.faults = FaultPlan()
        self.metrics = ServerMetrics(lambda: self.guard.sizes(), settings.metrics_directory)
        self.call_log = CallLog()
        self.observer = CallObserver(self.metrics, self.call_log)
        self.pages = Explorer(
            self.catalog,
            lambda: demo_keys_of(self.world.directory.world),
            lambda: demo_spaces_of(self.world.directory.world),
        )
        self.diagnostics = DiagnosticCodec(self.database.secret_key(DIAGNOSTIC_KEY))
        self.authenticator = Authenticator(lambda: self.world.credentials, settings.clock)
        self.gateway = Gateway(
            catalog=self.catalog,
            world=self.world,
            database=self.database,
            guard=self.guard,
            authenticator=self.authenticator,
            diagnostics=self.diagnostics,
            clock=settings.clock,
            run=self.operations.run,
            faults=self.faults,
            sts=self.sts,
            upstream_configured=settings.graph is not None,
            quota=self.nonce_quota,
        )
        self.upstream = (
            None
            if settings.graph is None
            else UpstreamWorker(self.database, settings.graph, settings.clock)
        )
        self._upstream_task: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    def _guard(self) -> CallGuard:
        settings = self.settings
        if settings.redis_url:
            # Deployments that share a Redis but not a database must not share windows.
            prefix = "cams:" + hashlib.sha256(self.database.url.encode()).hexdigest()[:12]
            return RedisGuard(settings.redis_url, prefix=prefix)
        if settings.shared_guard:
            path, wal = self.database.sqlite_path, self.database.wal
            if path is None or wal is None:
                raise ValueError(
                    "several processes need shared nonces and flow windows: give --redis "
                    "(or use the embedded SQLite database)"
                )
            return SqliteGuard(path, wal)
        # Whole seconds: signed timestamps have no fraction, and a call signed in the
        # second the server started is taken as signed after it.
        return MemoryGuard(started_at=math.floor(self.settings.clock.now()))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._refresher = loop.create_task(self._refresh_forever())
        if self.upstream is not None:
            self._upstream_task = loop.create_task(self.upstream.run_forever())

    async def stop(self) -> None:
        for task in (self._refresher, self._upstream_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.upstream is not None:
            await self.upstream.close()
        await self.guard.close()
        self.call_log.flush()
        self.database.dispose()
        if self.serve_lock is not None:
            self.serve_lock.release()

    async def _refresh_forever(self) -> None:
        refused = ""  # the last key problem logged, so it is logged once, not twice a second
        while True:
            await asyncio.sleep(self.settings.world_refresh_seconds)
            try:
                if await asyncio.to_thread(self.world.refresh):
                    log.info("world reloaded (version %d)", self.world.version)
                refused = ""
            except SecretsError as exc:
                if str(exc) != refused:
                    log.error("cannot load the changed world, keeping the last one: %s", exc)
                    refused = str(exc)
            except Exception:
                log.exception("could not refresh the world; keeping the last one")

    def app(self) -> GatewayApp:
        admin = AdminApi(
            self.settings.admin_token,
            self.diagnostics,
            self.database,
            self.guard,
            self.ingest,
            self,
        )
        webhook = WhatsAppWebhook(
            self.settings.whatsapp_app_secret,
            self.settings.whatsapp_verify_token,
            lambda events: self.database.run(self.ingest, [], events),
        )
        routes: list[Route] = [
            RpcRoute(self.gateway),
            MetricsRoute(self.metrics),
            admin,
            webhook,
            self.pages,
        ]
        return GatewayApp(routes, self.observer, on_startup=self.start, on_shutdown=self.stop)

    async def reset(self, world: bool = False) -> None:
        """Forget enablements, statistics, outbox, faults, nonces and windows (and, with
        `world`, every account); the way to start each test from a clean server."""
        await self.database.run(reset_state, self.database, world)
        self.faults.clear()
        self.nonce_quota.reset()
        await self.guard.reset()
        self.world.refresh(force=True)

    def ingest(self, messages: list[SentMessage], events: list[OutcomeEvent]) -> IngestResult:
        """Record message outcomes against the live world (see cams/ingestion.py)."""
        return ingest_records(self.database, self.world.directory, messages, events)


def implemented_catalog() -> Catalog:
    """The catalog of every operation this server answers."""
    return Operations(PRODUCTS).catalog


def build_app(settings: ServerSettings | None = None) -> GatewayApp:
    """An ASGI application for `settings` (default: from the environment, as `serve`
    reads it: embedded SQLite under CAMS_HOME unless CAMS_DATABASE_URL says otherwise)."""
    return ServerState(settings or ServerSettings.from_environment()).app()
