"""The HTTP protocol: uvicorn's httptools protocol with bounds, answering refusals in JSON.

uvicorn bounds neither the size of a request head nor the time a client may take to
send one, nor the number of open connections: an 8 MB header is parsed, an
unterminated one grows without end, and idle or slow connections are kept until file
descriptors run out. This protocol keeps every connection within `HttpLimits`:

- a request head (request line and headers) of at most `max_head_bytes`, else 431;
- a head completed within `head_timeout` of its first byte, a body within
  `body_timeout` of the head's end, else 408, and the connection closed;
- a connection with no request in progress closed after `keep_alive_timeout`;
- at most `max_connections` open connections per process: one more is answered 503
  and closed at once, so the connections already open keep working.

A request it cannot parse, or refuses, is answered the way every other error is: a
JSON body with a `RequestId`, and one log line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from cams_server.gateway.asgi import GatewayApp
from cams_server.tls import TlsFiles
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error, new_request_id
from cams_server.wire.errors import ServiceError

__all__ = ["ConnectionDeadlines", "GatewayHttpProtocol", "HttpLimits", "uvicorn_config"]

log = logging.getLogger("cams_server.calls")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How much one connection may hold and for how long; the defaults are documented in
    the README and SECURITY.md, and `serve` takes an option for each."""

    max_head_bytes: int = 32 * 1024
    max_headers: int = 100  # header lines of one request head, and trailer lines
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0  # an answer the client does not read: the connection goes
    keep_alive_timeout: float = 5.0
    max_connections: int = 1024
    max_pipelined: int = 8  # requests read ahead of the one being answered
    # Body bytes of all connections read but not yet complete: a flood of large bodies
    # gets 503 beyond it instead of the process's memory.
    max_body_bytes_in_flight: int = 64 * 1024 * 1024


class _StopParsing(Exception):
    """Raised in a parser callback to abort the read (see `on_headers_complete`)."""


class ConnectionDeadlines:
    """The deadlines of one server's connections, checked by one timer each `tick`, and
    the body bytes they hold between them.

    A timer per connection and request phase would cost a timer handle three times per
    call; instead each connection records when its current phase must end (a float),
    and one check, scheduled while connections are open, acts on those past due. A
    deadline is acted on within `tick` seconds of passing.
    """

    def __init__(self, tick: float = 0.25) -> None:
        self._tick = tick
        self._open: set[GatewayHttpProtocol] = set()
        self._check_handle: asyncio.TimerHandle | None = None
        self.body_bytes = 0  # body bytes of every connection read, request not complete

    def add(self, protocol: GatewayHttpProtocol) -> None:
        self._open.add(protocol)
        if self._check_handle is None:
            self._check_handle = protocol.loop.call_later(self._tick, self._check, protocol.loop)

    def discard(self, protocol: GatewayHttpProtocol) -> None:
        self._open.discard(protocol)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for protocol in [p for p in self._open if p.due <= now]:  # a copy: expiry closes
            protocol.deadline_passed()
        self._check_handle = loop.call_later(self._tick, self._check, loop) if self._open else None


_NEVER = float("inf")
_BODIES_IN_FLIGHT = ServiceError(
    "ServiceUnavailable",
    503,
    "The request has failed due to a temporary failure of the server. The server holds "
    "its maximum of request bodies in flight; retry shortly.",
)
_TOO_MANY_PIPELINED = ServiceError(
    "TooManyRequests",
    429,
    "Too many requests were sent ahead of their answers on one connection: wait for "
    "each answer, or open more connections.",
)


class _Trailers(list[tuple[bytes, bytes]]):
    """Where the trailers of a chunked body go: at most `max_headers` lines and
    `max_head_bytes` bytes, then parsing stops (431)."""

    def __init__(self, limits: HttpLimits) -> None:
        super().__init__()
        self._limits = limits
        self._size = 0

    full = False

    def append(self, item: tuple[bytes, bytes]) -> None:
        self._size += len(item[0]) + len(item[1]) + 4
        if len(self) >= self._limits.max_headers or self._size > self._limits.max_head_bytes:
            self.full = True
            raise _StopParsing
        super().append(item)


class GatewayHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
        deadlines: ConnectionDeadlines,
        direct: GatewayApp | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        self._deadlines = deadlines
        self._direct = direct
        self.due = _NEVER  # when the current phase must end (loop time)
        self._expired: Callable[[], None] = self._idle_expired  # what then happens
        self._reading_head = False  # a request head has begun and is not complete
        self._in_body = False  # a request's head is complete, its body is not
        self._head_bytes = 0  # bytes received since the current head began
        self._body_bytes = 0  # bytes received since the current head ended
        self._refusal: ServiceError | None = None  # why parsing was stopped
        self._paused_due: tuple[float, Callable[[], None]] | None = None  # while writes stall

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            self._refuse(
                errors.service_unavailable(
                    f"The server holds its maximum of {self._limits.max_connections} "
                    "connections; retry shortly, or reuse a kept-alive connection."
                )
            )
            return
        self._deadlines.add(self)
        self._arm(self._limits.keep_alive_timeout, self._idle_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadlines.discard(self)
        self._release_body_bytes()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            if not self._reading_head:
                self._reading_head = True
                self._head_bytes = 0
                if self.cycle is None or self.cycle.response_complete:
                    self._arm(self._limits.head_timeout, self._head_expired)
            self._head_bytes += len(data)
        super().data_received(data)
        # A head still incomplete past the limit (an endless header) is refused with at
        # most one read beyond it held in memory. Checked after parsing, so that a head
        # and its body arriving in one read are not taken for one long head; a complete
        # head is measured exactly in `on_headers_complete`.
        if self._reading_head and self._head_bytes > self._limits.max_head_bytes:
            self._refuse(self._head_too_large())

    # -- parser callbacks ----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        if (
            len(self.headers) > self._limits.max_headers
            or self._head_size() > self._limits.max_head_bytes
        ):
            # The one way to stop httptools mid-read is an error from a callback; uvicorn
            # answers it through `send_400_response`, which sends this refusal instead.
            self._refusal = self._head_too_large()
            raise _StopParsing
        if self.pipeline and len(self.pipeline) >= self._limits.max_pipelined:
            self._refusal = _TOO_MANY_PIPELINED
            raise _StopParsing
        self._reading_head, self._in_body = False, True
        self._body_bytes = 0
        if self.cycle is None or self.cycle.response_complete:
            self._arm(self._limits.body_timeout, self._body_expired)
        super().on_headers_complete()
        # Trailers of a chunked body arrive through `on_header` after this: they go to a
        # bounded list of their own, not into the scope's headers.
        self.headers = _Trailers(self._limits)

    def on_body(self, body: bytes) -> None:
        # Body bytes count against the process's budget until their request is complete:
        # a flood of large bodies gets 503, not the process's memory.
        self._body_bytes += len(body)
        self._deadlines.body_bytes += len(body)
        if self._deadlines.body_bytes > self._limits.max_body_bytes_in_flight:
            self._refusal = _BODIES_IN_FLIGHT
            raise _StopParsing
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading_head = self._in_body = False
        self._release_body_bytes()
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body ended (a refusal): now simply idle.
            self._arm(self._limits.keep_alive_timeout, self._idle_expired)
        else:
            self.due = _NEVER  # the application has the request: not the client's turn

    def on_response_complete(self) -> None:
        # uvicorn's own, but for its keep-alive timer (a timer handle per call): the idle
        # deadline below replaces it, as one mechanism for every connection deadline.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        if self._reading_head:
            self._arm(self._limits.head_timeout, self._head_expired)
        elif self._in_body:
            self._arm(self._limits.body_timeout, self._body_expired)
        else:
            self._arm(self._limits.keep_alive_timeout, self._idle_expired)

    def _release_body_bytes(self) -> None:
        self._deadlines.body_bytes -= self._body_bytes
        self._body_bytes = 0

    # -- answering without an ASGI send -------------------------------------------------

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """With `direct`, the request is answered by `GatewayApp.respond` and the answer
        written here in one write: the same answer, without the ASGI messages and
        uvicorn's two writes per call (bench/README.md has the numbers)."""
        if self._direct is None or app is not self.app:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(self._answer_directly(cycle, self._direct))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _answer_directly(self, cycle: RequestResponseCycle, direct: GatewayApp) -> None:
        try:
            # uvicorn's typed scope and events are the plain mappings the app reads.
            scope = cast(MutableMapping[str, Any], cycle.scope)
            receive = cast(Callable[[], Awaitable[MutableMapping[str, Any]]], cycle.receive)
            response = await direct.respond(scope, receive)
        except Exception:  # `respond` answers every error itself: this would be a bug
            log.exception("the answer to a request failed")
            response = encode_error(errors.internal_error(), new_request_id(), "")
        if cycle.disconnected or self.transport.is_closing():
            return
        head_only = cycle.scope["method"] == "HEAD"
        self.transport.write(
            _http_answer(response, close=not cycle.keep_alive, head_only=head_only)
        )
        # What uvicorn's `RequestResponseCycle.send` does once a response is complete.
        cycle.response_started = cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    # -- writes the client does not read -------------------------------------------------

    def pause_writing(self) -> None:
        """The client stopped reading: it has `send_timeout` to start again."""
        super().pause_writing()
        self._paused_due = (self.due, self._expired)
        self._arm(self._limits.send_timeout, self._send_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        paused, self._paused_due = self._paused_due, None
        if paused is not None and self._expired == self._send_stalled:
            self.due, self._expired = paused  # unless a phase began meanwhile

    def _send_stalled(self) -> None:
        log.info("%s - - - - closed: the answer was not read", self._client_ip())
        self.transport.abort()  # closing would wait for the unread answer forever

    def _head_size(self) -> int:
        """The request line and headers as parsed (the line's method and version aside)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # -- deadlines -----------------------------------------------------------------------

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self.due = self.loop.time() + seconds
        self._expired = expired

    def deadline_passed(self) -> None:
        """Called by `ConnectionDeadlines` once `due` has passed."""
        self.due = _NEVER
        self._expired()

    def _idle_expired(self) -> None:
        self._close()

    def _head_expired(self) -> None:
        self._refuse(
            ServiceError(
                "RequestTimeout",
                408,
                f"The request head did not arrive within {self._limits.head_timeout:g} s: "
                "send the request line and headers without pausing.",
            )
        )

    def _body_expired(self) -> None:
        if self.cycle is not None and self.cycle.response_started:
            self._close()  # already answered: the rest of the body is not awaited
            return
        self._refuse(
            ServiceError(
                "RequestTimeout",
                408,
                f"The request body did not arrive within {self._limits.body_timeout:g} s of "
                "its headers: send the whole body without pausing.",
            )
        )

    # -- refusals ------------------------------------------------------------------------

    def _refuse(self, error: ServiceError) -> None:
        """Answer `error` and close, without involving the application.

        Answers go out in request order: while an earlier request on this connection is
        still being answered, the connection instead stops reading and closes after its
        last answer (a refusal written now would answer the wrong request). A request
        whose body is being read is refused at once (its handler, waiting for the body,
        sees a disconnect), unless its own answer has begun: then the connection drops.
        """
        self.due = _NEVER
        if self.transport.is_closing():
            return
        request_id = new_request_id()
        log.info("%s %s - - - %d %s", request_id, self._client_ip(), error.status, error.code)
        cycle = self.cycle
        if self.pipeline or (
            cycle is not None and not self._in_body and not (cycle.response_complete)
        ):
            self._close_after_answers()
            return
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.abort()
            return
        self.transport.write(_http_answer(encode_error(error, request_id, ""), close=True))
        self._close()

    def _close_after_answers(self) -> None:
        """Read no more; close once the requests already read are answered."""
        last = self.pipeline[0][0] if self.pipeline else self.cycle
        if last is not None:
            last.keep_alive = False
        self.flow.pause_reading()
        # Bounded even so: the answers must be sent (and read) within `send_timeout`.
        self._arm(self._limits.send_timeout, self._send_stalled)

    def _close(self) -> None:
        """Close; at once when the client left an answer unread (a close would wait)."""
        if self.transport.is_closing():
            return
        if self.transport.get_write_buffer_size() > 0:
            self.transport.abort()
        else:
            self.transport.close()

    def _client_ip(self) -> str:
        return self.client[0] if self.client else "-"

    def _head_too_large(self) -> ServiceError:
        return ServiceError(
            "RequestHeaderFieldsTooLarge",
            431,
            f"The request line and headers exceed {self._limits.max_head_bytes} bytes: "
            "send a request head (URL and headers) below that size.",
        )

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None and isinstance(self.headers, _Trailers) and self.headers.full:
            refusal = self._head_too_large()
        self._refuse(
            refusal
            or ServiceError(
                "MalformedRequest",
                400,
                f"The HTTP request could not be parsed ({msg}): send a well-formed "
                "HTTP/1.1 request, as the official SDKs do.",
            )
        )

    def shutdown(self) -> None:
        """Close idle connections at once, TLS ones included.

        An idle TLS connection's `close()` waits for the client's close_notify, which
        a pooled SDK connection never sends; shutdown would stall for half a minute.
        """
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle and self.transport.get_extra_info("sslcontext") is not None:
            self.transport.abort()


def _http_answer(response: EncodedResponse, close: bool, head_only: bool = False) -> bytes:
    """The bytes of one HTTP/1.1 answer, head and body, written in one write."""
    status, headers, payload = response
    parts = [STATUS_LINE[status]]
    parts += [name + b": " + value + b"\r\n" for name, value in headers]
    parts.append(b"content-length: %d\r\n" % len(payload))
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(payload)
    return b"".join(parts)


def uvicorn_config(
    app: Any,
    loop: str = "uvloop",
    tls: TlsFiles | None = None,
    trusted_proxies: tuple[str, ...] = (),
    limits: HttpLimits | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration every cams-server process uses.

    X-Forwarded-For / -Proto are honoured only from `trusted_proxies`: otherwise any
    client could choose its own `acs:SourceIp` and `acs:SecureTransport`.
    """
    limits = limits or HttpLimits()
    # The answers are written by the protocol itself, unless uvicorn's proxy-headers
    # middleware must rewrite the client's address first (trusted proxies).
    direct = app if isinstance(app, GatewayApp) and not trusted_proxies else None
    protocol = functools.partial(
        GatewayHttpProtocol, limits=limits, deadlines=ConnectionDeadlines(), direct=direct
    )
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop=loop,
        http=cast(Any, protocol),  # uvicorn instantiates it like a protocol class
        server_header=False,
        date_header=False,
        timeout_keep_alive=max(1, int(limits.keep_alive_timeout)),
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        ssl_certfile=None if tls is None else str(tls.cert),
        ssl_keyfile=None if tls is None else str(tls.key),
    )
