"""The ASGI application: a list of routes (gateway/routes.py), one log line per call.

The server assembles the routes (`/` the API, `/metrics`, `/_cams/*` the admin API,
`/webhooks/whatsapp`, `/docs` and `/explorer`). Kept as a bare ASGI callable: every
layer between the server and the gateway costs throughput that `bench/` measures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import quote

from cams_server.gateway.calls import CallObserver, error_answer
from cams_server.gateway.pipeline import CallRecord
from cams_server.gateway.routes import BodyReader, Route
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, new_request_id
from cams_server.wire.request import WireRequest

__all__ = ["GatewayApp", "HttpHead", "read_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("cams_server.calls")


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
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
    """The ASGI application: the first route that owns a path answers it."""

    def __init__(
        self,
        routes: Sequence[Route],
        observer: CallObserver | None = None,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._routes = tuple(routes)
        self._observer = observer
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
        status, headers, payload = await self.respond(scope, receive)
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def respond(self, scope: Scope, receive: Receive) -> EncodedResponse:
        """The answer to one ASGI HTTP request (see `answer`).

        The scope is taken as the ASGI spec allows it to be, not as our own protocol makes
        it: headers as any iterable of pairs of bytes-like values, `raw_path` possibly
        absent or None, bytes-like strings. The head gets exact types (the release build
        checks them: ARCHITECTURE.md, "Two builds")."""
        client = scope.get("client") or ("", 0)
        path = str(scope.get("path") or "/")
        raw_path = scope.get("raw_path")
        return await self.answer(
            HttpHead(
                str(scope["method"]),
                bytes(raw_path) if raw_path else quote(path).encode("ascii"),
                path,
                bytes(scope.get("query_string") or b""),
                [(bytes(name), bytes(value)) for name, value in scope.get("headers") or ()],
                str(client[0] or ""),
                scope.get("scheme") == "https",
            ),
            partial(read_body, scope, receive),
        )

    async def answer(self, head: HttpHead, body: BodyReader) -> EncodedResponse:
        """The answer to one HTTP request, its call observed (log line, metrics). The
        ASGI path sends it; the HTTP protocol (gateway/protocol.py) calls this directly
        and writes the answer itself."""
        started = time.perf_counter()
        record = CallRecord(new_request_id())
        try:
            response = await self._route(head, body, record)
        except Exception as error:  # every call gets a JSON answer
            response = error_answer(record, _host(head.headers), error, secure=head.secure)
        if self._observer is not None:
            elapsed = time.perf_counter() - started
            self._observer.observe(record, head.client or "-", head.method, time.time(), elapsed)
        return response

    async def _route(self, head: HttpHead, body: BodyReader, record: CallRecord) -> EncodedResponse:
        # The route is chosen from the request line; the body is read by the route, if
        # it wants it, so a refusal never reads or parses what was sent with it.
        request = WireRequest.head(
            head.method, head.raw_path, head.query, head.headers, head.client, head.secure
        )
        for route in self._routes:
            if route.owns(head.path):
                record.action = route.label
                return await route.respond(request, body, record)
        raise errors.invalid_action(
            f"Path {head.path!r} has no API: every operation is called on / (RPC style)."
        )


class HttpHead(NamedTuple):
    """A request's line and headers as the server read them (header names lower-case)."""

    method: str
    raw_path: bytes
    path: str  # percent-decoded: what routes match
    query: bytes
    headers: list[tuple[bytes, bytes]]
    client: str  # the client's address ("" if unknown)
    secure: bool


def _host(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""
