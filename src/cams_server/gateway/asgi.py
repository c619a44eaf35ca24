"""The ASGI application: the RPC endpoint at `/`, and the few paths beside it.

`/` the API (every operation, RPC style); `/_cams/*` the admin API; `/metrics`
Prometheus; `/webhooks/whatsapp` message outcomes; `/docs`, `/explorer` the pages.
Kept as a bare ASGI callable: every layer between the server and the gateway costs
throughput that `bench/` measures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from cams_server.admin import AdminApi
from cams_server.gateway.metrics import ServerMetrics
from cams_server.gateway.pipeline import CallRecord, Gateway
from cams_server.webhooks import WEBHOOK_PATH, WhatsAppWebhook
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error, new_request_id
from cams_server.wire.errors import ServiceError
from cams_server.wire.request import MAX_BODY_BYTES, WireRequest

# Webhook deliveries and admin batches of records may be larger than an API call.
MAX_INGEST_BYTES = 8 * 1024 * 1024

__all__ = ["GatewayApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("cams_server.calls")


class PageRoutes(Protocol):
    def route(self, request: WireRequest, request_id: str) -> EncodedResponse | None:
        """The answer for a path this owns, else None."""
        ...


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body; refused (413) as soon as it is known to be over `limit` bytes."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise errors.request_too_large(limit)  # before a byte of it is read
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # never act on part of a body
            raise errors.incomplete_body()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.request_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class GatewayApp:
    def __init__(
        self,
        gateway: Gateway,
        admin: AdminApi | None = None,
        webhook: WhatsAppWebhook | None = None,
        metrics: ServerMetrics | None = None,
        pages: PageRoutes | None = None,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._gateway = gateway
        self._admin = admin
        self._webhook = webhook
        self._metrics = metrics
        self._pages = pages
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._on_startup:
                        await self._on_startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        record = CallRecord(new_request_id())
        try:
            response = await self._route(scope, receive, record)
        except ServiceError as error:
            record.code, record.status = error.code, error.status
            response = encode_error(error, record.request_id, _host(scope))
        except Exception:
            log.exception("%s: unexpected failure", record.request_id)
            internal = errors.internal_error()
            record.code, record.status = internal.code, internal.status
            response = encode_error(internal, record.request_id, _host(scope))
        status, headers, payload = response
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        self._observe(scope, record, time.perf_counter() - started)

    async def _route(self, scope: Scope, receive: Receive, record: CallRecord) -> EncodedResponse:
        path = scope.get("path", "/")
        if path == "/metrics" and self._metrics is not None:
            record.action = path
            return (
                200,
                [
                    (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                    (b"x-acs-request-id", record.request_id.encode()),
                ],
                self._metrics.render(),
            )
        client = scope.get("client") or ("", 0)
        # The route is chosen before the body is read: a path with no API, a page, or an
        # admin call without its token is answered without reading or parsing a body.
        head = WireRequest.head(
            scope["method"],
            scope.get("raw_path") or b"/",
            scope.get("query_string", b""),
            scope.get("headers", []),
            client[0],
            scope.get("scheme") == "https",
        )
        if path == "/":
            body = await _read_body(scope, receive, MAX_BODY_BYTES)
            return await self._gateway.handle(head.with_body(body, form=True), record)
        if self._admin is not None and self._admin.handles(path):
            record.action = "admin"  # one label for the admin API: paths are caller-chosen
            self._admin.preflight(head)
            body = await _read_body(scope, receive, MAX_INGEST_BYTES)
            return await self._admin.handle(head.with_body(body, form=True), record.request_id)
        if self._webhook is not None and path == WEBHOOK_PATH:
            record.action = path
            body = await _read_body(scope, receive, MAX_INGEST_BYTES)
            return await self._webhook.handle(head.with_body(body, form=False), record.request_id)
        if self._pages is not None:
            page = self._pages.route(head, record.request_id)
            if page is not None:
                record.action = "pages"
                return page
        raise errors.invalid_action(
            "", f"Path {path!r} has no API: every operation is called on / (RPC style)."
        )

    def _observe(self, scope: Scope, record: CallRecord, elapsed: float) -> None:
        if self._metrics is not None:
            self._metrics.observe(record.action or "-", record.code, elapsed)
        if not log.isEnabledFor(logging.INFO):
            return
        client = (scope.get("client") or ("-",))[0]
        method = scope.get("method", "-")
        log.info(
            "%s %s %s %s %s %d %s %.1fms",
            record.request_id,
            client,
            method,
            record.action or "-",
            record.principal or "-",
            record.status,
            record.code,
            elapsed * 1000,
            extra={
                "request_id": record.request_id,
                "client": client,
                "method": method,
                "action": record.action,
                "principal": record.principal,
                "status": record.status,
                "code": record.code,
                "latency_ms": round(elapsed * 1000, 3),
            },
        )


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""
