"""The HTTP protocol: HTTP/1.1 read with httptools, answered by the gateway, bounded.

Each connection is one `GatewayHttpProtocol`. It parses requests with httptools (the C
parser uvicorn uses), hands each one to `GatewayApp.answer` and writes the answer in one
write. It plugs into `uvicorn.Server` as its protocol class, so start-up, signals,
graceful shutdown, TLS and the lifespan stay uvicorn's; what it replaces is uvicorn's
per-request cycle (an ASGI scope, a cycle object, an event, two sends and two writes per
call), which cost more than the gateway's own checks (bench/README.md has the numbers).

uvicorn bounds neither the size of a request head nor the time a client may take to
send one, nor the number of open connections. This protocol keeps every connection
within `HttpLimits`:

- a request head (request line and headers) of at most `max_head_bytes` and
  `max_headers` lines, else 431;
- a head completed within `head_timeout` of its first byte, a body within
  `body_timeout` of the head's end, else 408, and the connection closed;
- a connection with no request in progress closed after `keep_alive_timeout`;
- at most `max_connections` open connections per process: one more is answered 503
  and closed at once, so the connections already open keep working;
- at most `max_pipelined` requests read ahead of the one being answered (429), and
  request bodies of all connections within `max_body_bytes_in_flight` (503);
- an answer the client does not read within `send_timeout`: the connection dropped.

A request it cannot parse, or refuses, is answered the way every other error is: a
JSON body with a `RequestId`, and one log line.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote

import httptools
import uvicorn
from uvicorn.config import Config
from uvicorn.server import ServerState

from cams_server.gateway.asgi import GatewayApp, HttpHead
from cams_server.tls import TlsFiles
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error, new_request_id
from cams_server.wire.errors import ServiceError

__all__ = [
    "AnswerOutbox",
    "ConnectionDeadlines",
    "GatewayHttpProtocol",
    "HttpLimits",
    "TrustedProxies",
    "uvicorn_config",
]

log = logging.getLogger("cams_server.calls")

# Body bytes read ahead of a route that has not asked for them yet: beyond this the
# connection stops reading until it does (as uvicorn's flow control does).
_READ_AHEAD = 64 * 1024


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


class TrustedProxies:
    """The proxies whose X-Forwarded-For / -Proto are believed (`--trusted-proxy`).

    Only from these: otherwise any client could choose its own `acs:SourceIp` and
    `acs:SecureTransport`. The client is the right-most X-Forwarded-For address that is
    not itself a trusted proxy (the one the first trusted proxy saw), as uvicorn's
    proxy-headers middleware takes it.
    """

    def __init__(self, proxies: tuple[str, ...]) -> None:
        self._networks = tuple(ipaddress.ip_network(p, strict=False) for p in proxies)
        self._trusted: dict[str, bool] = {}  # address -> trusted, for the addresses seen

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, host: str) -> bool:
        known = self._trusted.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host)
                known = any(address in network for network in self._networks)
            except ValueError:
                known = False
            if len(self._trusted) < 4096:  # addresses seen: bounded, whoever connects
                self._trusted[host] = known
        return known

    def apply(
        self, client: str, secure: bool, headers: list[tuple[bytes, bytes]]
    ) -> tuple[str, bool]:
        """(client address, secure) as the trusted proxy in front of `client` reports them."""
        if client not in self:
            return client, secure
        forwarded: list[str] = []
        for name, value in headers:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1").strip()
                if proto in ("http", "https"):
                    secure = proto == "https"
            elif name == b"x-forwarded-for":
                forwarded += value.decode("latin-1").split(",")
        hops = [hop.strip() for hop in forwarded if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop, secure
        return (hops[0] if hops else client), secure


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


class AnswerOutbox:
    """Answers of one event-loop turn, written together at its end.

    Written one by one, each answer's write wakes the client that waits for it, while
    the server goes on computing the next: a wake-up (and a context switch) per call.
    Gathered for the turn, the writes come back to back, and a client reading several
    connections (a load generator, a connection pool) wakes once for all of them.
    An answer waits at most for the rest of the turn it was computed in.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[GatewayHttpProtocol, bytes, bool]] = []

    def put(self, protocol: GatewayHttpProtocol, answer: bytes, close: bool) -> None:
        if not self._pending:
            protocol.loop.call_soon(self.flush)
        self._pending.append((protocol, answer, close))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for protocol, answer, close in pending:
            transport = protocol.transport
            if transport.is_closing():
                continue
            transport.write(answer)
            if close:
                protocol.close_now()


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
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _StopParsing(Exception):
    """Raised in a parser callback to abort the read; `refusal` says why."""

    def __init__(self, refusal: ServiceError) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


class _Exchange:
    """One request on a connection: its head, its body as it arrives, and whether it has
    been answered."""

    __slots__ = (
        "answered",
        "body",
        "body_size",
        "complete",
        "continue_sent",
        "counted",
        "expects_continue",
        "head",
        "keep_alive",
        "lost",
        "waiter",
    )

    def __init__(self, head: HttpHead, keep_alive: bool, expects_continue: bool) -> None:
        self.head = head
        self.keep_alive = keep_alive
        self.expects_continue = expects_continue
        self.continue_sent = False
        self.body: list[bytes] = []
        self.body_size = 0
        self.counted = 0  # of its bytes, those counted in `ConnectionDeadlines.body_bytes`
        self.complete = False  # the whole body has arrived
        self.lost = False  # the connection closed first
        self.answered = False
        self.waiter: asyncio.Future[None] | None = None  # a route waiting for body bytes

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class GatewayHttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection (see the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
        deadlines: ConnectionDeadlines,
        outbox: AnswerOutbox | None = None,
        app: GatewayApp | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        # uvicorn's server shuts down every protocol in this set (its type names its own).
        self.connections = cast(set[Any], server_state.connections)
        self.tasks = server_state.tasks
        self._app = app
        self._proxies = proxies
        self._limits = limits
        self._deadlines = deadlines
        self._outbox = outbox or AnswerOutbox()
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self._client = ""
        self._secure = False
        self.due = _NEVER  # when the current phase must end (loop time)
        self._expired: Callable[[], None] = self._idle_expired  # what then happens
        self._paused_due: tuple[float, Callable[[], None]] | None = None  # while writes stall
        # The request being parsed: its URL and headers, then (from the head's end) its
        # exchange, which gets the body.
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0  # the head's header lines, as `max_head_bytes` counts them
        self._expects_continue = False
        self._head_bytes = 0  # bytes received since the current head began
        self._reading_head = False  # a request head has begun and is not complete
        self._parsing: _Exchange | None = None  # head complete, body not yet
        self._trailer_lines = 0
        # Bytes of the body phase that were not body (chunk sizes, trailers), and chunks:
        # bounded like a head, so that a trailer or chunk extension cannot grow without end.
        self._framing_bytes = 0
        self._chunks = 0
        self._body_delivered = 0  # body bytes handed to exchanges (all requests)
        # Requests in answer order: the first is being answered, the rest wait for it.
        self._queue: deque[_Exchange] = deque()
        self._reading_paused = False
        self._closing_after_answers = False

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._secure = transport.get_extra_info("sslcontext") is not None
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
        self.connections.discard(self)
        self._deadlines.discard(self)
        if self._parsing is not None:
            self._release_body_bytes(self._parsing)
        for exchange in self._queue:
            exchange.lost = True
            exchange.wake()

    def data_received(self, data: bytes) -> None:
        if self._parsing is None:
            if not self._reading_head:
                self._reading_head = True
                self._head_bytes = 0
                if not self._queue:
                    self._arm(self._limits.head_timeout, self._head_expired)
            self._head_bytes += len(data)
        in_body, delivered = self._parsing, self._body_delivered
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade (WebSocket, h2c) is not offered: the request is answered as a
            # plain one, and the connection closes after it (what follows is not HTTP/1.1).
            self._close_after_answers()
            return
        except httptools.HttpParserError as exc:
            stop = exc.__context__  # what a callback raised
            if isinstance(stop, _StopParsing):
                self._refuse(stop.refusal)
                return
            if stop is not None:  # a bug in a callback: not the client's fault, but logged
                log.error("an HTTP parser callback failed", exc_info=stop)
            self._refuse(
                ServiceError(
                    "MalformedRequest",
                    400,
                    f"The HTTP request could not be parsed ({exc}): send a well-formed "
                    "HTTP/1.1 request, as the official SDKs do.",
                )
            )
            return
        # A head still incomplete past the limit (an endless header) is refused with at
        # most one read beyond it held in memory. Checked after parsing, so that a head
        # and its body arriving in one read are not taken for one long head; a complete
        # head is measured exactly in `on_headers_complete`.
        if self._reading_head and self._head_bytes > self._limits.max_head_bytes:
            self._refuse(self._head_too_large())
            return
        if in_body is not None and in_body is self._parsing:  # still in that body
            self._framing_bytes += len(data) - (self._body_delivered - delivered)
            if self._framing_bytes > self._limits.max_head_bytes + 64 * self._chunks:
                self._refuse(self._head_too_large())

    # -- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._expects_continue = False
        self._trailer_lines = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._parsing is not None:  # a trailer of a chunked body: counted, not kept
            self._trailer_lines += 1
            if self._trailer_lines > self._limits.max_headers:
                raise _StopParsing(self._head_too_large())
            return
        name = name.lower()
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        if name == b"expect" and value.lower() == b"100-continue":
            self._expects_continue = True

    def on_headers_complete(self) -> None:
        headers = self._headers
        size = len(self._url) + self._header_bytes
        if len(headers) > self._limits.max_headers or size > self._limits.max_head_bytes:
            raise _StopParsing(self._head_too_large())
        if len(self._queue) > self._limits.max_pipelined:
            raise _StopParsing(_TOO_MANY_PIPELINED)
        parser = self._parser
        try:
            # Any: httptools' stub types a missing path or query as bytes, and it is None
            # (a compiled build checks the stub's types at run time: setup.py).
            url: Any = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _StopParsing(
                errors.invalid_parameter(
                    "Path", "The request target is not a valid URL path: send /?<query>."
                )
            ) from None
        raw_path: bytes = url.path or b"/"
        query: bytes = url.query or b""
        client, secure = self._client, self._secure
        if self._proxies:
            client, secure = self._proxies.apply(client, secure, headers)
        head = HttpHead(
            parser.get_method().decode("ascii"),
            raw_path,
            unquote(path) if "%" in (path := raw_path.decode("latin-1")) else path,
            query,
            headers,
            client,
            secure,
        )
        exchange = _Exchange(head, parser.should_keep_alive(), self._expects_continue)
        self._framing_bytes = self._chunks = 0
        self._reading_head = False
        self._parsing = exchange
        self._queue.append(exchange)
        if len(self._queue) == 1:
            self._arm(self._limits.body_timeout, self._body_expired)
            self._start(exchange)
        else:
            self._pause_reading()  # until the answers before it are written

    def on_body(self, body: bytes) -> None:
        exchange = self._parsing
        assert exchange is not None
        self._body_delivered += len(body)
        if exchange.answered:
            return  # answered before its body ended (a refusal): the rest is not kept
        # Body bytes count against the process's budget until their request is complete:
        # a flood of large bodies gets 503, not the process's memory.
        exchange.body_size += len(body)
        exchange.counted += len(body)
        exchange.body.append(body)
        self._deadlines.body_bytes += len(body)
        if self._deadlines.body_bytes > self._limits.max_body_bytes_in_flight:
            raise _StopParsing(_BODIES_IN_FLIGHT)
        if exchange.waiter is not None:
            exchange.wake()
        elif exchange.body_size > _READ_AHEAD:
            self._pause_reading()  # until its route reads the body (or answers without)

    def on_message_complete(self) -> None:
        exchange = self._parsing
        assert exchange is not None
        self._parsing = None
        self._reading_head = False
        exchange.complete = True
        self._release_body_bytes(exchange)
        exchange.wake()
        if self._closing_after_answers:
            self._pause_reading()  # its body was the last thing to read
        if exchange.answered:  # answered before its body ended
            if not self._queue:
                self._arm(self._limits.keep_alive_timeout, self._idle_expired)
        elif self._queue and exchange is self._queue[0]:
            self.due = _NEVER  # the application has the request: not the client's turn

    def _release_body_bytes(self, exchange: _Exchange) -> None:
        """Its bytes no longer count against the budget (once, whichever way it ends:
        complete, answered, refused or its connection lost)."""
        self._deadlines.body_bytes -= exchange.counted
        exchange.counted = 0

    # -- answering -----------------------------------------------------------------------

    def _start(self, exchange: _Exchange) -> None:
        task = self.loop.create_task(self._answer(exchange))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _answer(self, exchange: _Exchange) -> None:
        assert self._app is not None, "the protocol answers through a GatewayApp"
        try:
            response = await self._app.answer(
                exchange.head, functools.partial(self._read_body, exchange)
            )
        except Exception:  # `answer` answers every error itself: this would be a bug
            log.exception("the answer to a request failed")
            response = encode_error(errors.internal_error(), new_request_id(), "")
        self._answered(exchange, response)

    def _answered(self, exchange: _Exchange, response: EncodedResponse) -> None:
        self._release_body_bytes(exchange)  # its body is no longer kept
        exchange.answered = True
        exchange.body = []
        if self.transport.is_closing() or exchange.lost:
            return
        keep_alive = exchange.keep_alive and not (
            (self._closing_after_answers and len(self._queue) == 1)
            # Refused before the client sent the body it was waiting to be asked for:
            # whether it sends it anyway is unknown, so no next request can be told apart.
            or (exchange.expects_continue and not exchange.continue_sent and not exchange.complete)
        )
        head_only = exchange.head.method == "HEAD"
        answer = _http_answer(response, close=not keep_alive, head_only=head_only)
        self._outbox.put(self, answer, not keep_alive)
        if self._queue and self._queue[0] is exchange:
            self._queue.popleft()
        self.server_state.total_requests += 1
        if not keep_alive:
            self._pause_reading()  # closed once the answer is written
            self.due = _NEVER
            return
        if self._queue:
            following = self._queue[0]
            if self._parsing is following:
                self._arm(self._limits.body_timeout, self._body_expired)
            else:
                self.due = _NEVER
            self._start(following)
            if len(self._queue) == 1 and not self._closing_after_answers:
                self._resume_reading()
            return
        if not self._closing_after_answers:
            self._resume_reading()
        if self._parsing is exchange:  # answered before its body ended
            self._arm(self._limits.body_timeout, self._body_expired)
        elif self._reading_head:
            self._arm(self._limits.head_timeout, self._head_expired)
        else:
            self._arm(self._limits.keep_alive_timeout, self._idle_expired)

    async def _read_body(self, exchange: _Exchange, limit: int) -> bytes:
        """The request's body (a route's `BodyReader`); refused (413) as soon as it is
        known to be over `limit` bytes, and never part of one (the connection closed)."""
        if exchange.complete:
            if exchange.body_size > limit:
                raise errors.request_too_large(limit)
            return b"".join(exchange.body)
        for name, value in exchange.head.headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise errors.request_too_large(limit)  # before a byte of it is read
        if exchange.expects_continue and not exchange.continue_sent:
            exchange.continue_sent = True
            self._outbox.flush()  # the answers before it first
            self.transport.write(_CONTINUE)
        self._resume_reading()
        while not exchange.complete:
            if exchange.lost or self.transport.is_closing():
                raise errors.incomplete_body()
            if exchange.body_size > limit:
                raise errors.request_too_large(limit)
            exchange.waiter = self.loop.create_future()
            await exchange.waiter
        if exchange.body_size > limit:
            raise errors.request_too_large(limit)
        return b"".join(exchange.body)

    # -- reading -------------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        # Closing, only the body of a request already read is still read; while the
        # client does not read its answers, nothing more (`pause_writing`).
        if (
            self._reading_paused
            and self._paused_due is None
            and (not self._closing_after_answers or self._parsing is not None)
        ):
            self._reading_paused = False
            self.transport.resume_reading()

    # -- writes the client does not read -------------------------------------------------

    def pause_writing(self) -> None:
        """The client stopped reading: it has `send_timeout` to start again (whatever
        deadline a phase sets meanwhile waits until then: see `_arm`)."""
        self._paused_due = (self.due, self._expired)
        self.due = self.loop.time() + self._limits.send_timeout
        self._expired = self._send_stalled
        self._pause_reading()  # no new requests while their answers would pile up

    def resume_writing(self) -> None:
        paused, self._paused_due = self._paused_due, None
        if paused is not None and self._expired == self._send_stalled:
            self.due, self._expired = paused  # the deadline of the phase it is in
        if len(self._queue) <= 1:  # else the answers before the next one come first
            self._resume_reading()

    def _send_stalled(self) -> None:
        log.info("%s - - - - closed: the answer was not read", self._client or "-")
        self.transport.abort()  # closing would wait for the unread answer forever

    # -- deadlines -----------------------------------------------------------------------

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        due = self.loop.time() + seconds
        if self._paused_due is not None:  # the send deadline stands; this one follows it
            self._paused_due = (due, expired)
            return
        self.due, self._expired = due, expired

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
        if self._parsing is not None and self._parsing.answered:
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
        whose body is being read is refused at once (its route, waiting for the body,
        sees a disconnect).
        """
        self.due = _NEVER
        if self.transport.is_closing():
            return
        if self._parsing is not None and self._parsing.answered:
            self._close()  # its request has its answer: a second one would desync
            return
        request_id = new_request_id()
        log.info("%s %s - - - %d %s", request_id, self._client or "-", error.status, error.code)
        waiting = [e for e in self._queue if e is not self._parsing]
        if waiting:
            self._close_after_answers()
            return
        if self._parsing is not None:
            self._parsing.lost = True
            self._parsing.wake()
        self._outbox.flush()  # answers already given go out before the refusal
        self.transport.write(_http_answer(encode_error(error, request_id, ""), close=True))
        self._close()

    def _close_after_answers(self) -> None:
        """Read no more; close once the requests already read are answered."""
        if self._parsing is not None and self._parsing in self._queue:
            self._queue.remove(self._parsing)  # its body will not arrive: not answered
            self._release_body_bytes(self._parsing)
            self._parsing.lost = True
            self._parsing = None
        if not self._queue:
            self._close()
            return
        self._closing_after_answers = True
        self._pause_reading()
        # The application is answering the first of them: no client deadline runs while
        # it does (its own timeouts bound it), and the last answer's write closes the
        # connection with `send_timeout` for the client to read it (`_close`). A send
        # deadline already running (writes paused) stands.
        self._arm(_NEVER, self._idle_expired)

    def close_now(self) -> None:
        """Close (the outbox wrote this connection's last answer)."""
        self._close()

    def _close(self) -> None:
        """Close once what is written has been sent: the client has `send_timeout` to
        read it, then the connection is dropped (a close alone would wait for ever)."""
        if self.transport.is_closing():
            return
        self._outbox.flush()  # an answer still waiting in it goes out first
        if self.transport.get_write_buffer_size() > 0:
            self._paused_due = None  # no phase follows: the send deadline is the last
            self.due = self.loop.time() + self._limits.send_timeout
            self._expired = self._send_stalled
        self.transport.close()

    def _head_too_large(self) -> ServiceError:
        return ServiceError(
            "RequestHeaderFieldsTooLarge",
            431,
            f"The request line and headers exceed {self._limits.max_head_bytes} bytes: "
            "send a request head (URL and headers) below that size.",
        )

    def shutdown(self) -> None:
        """Called by uvicorn's server to shut down: idle connections close at once (TLS
        ones aborted: an idle TLS connection's `close()` waits for the client's
        close_notify, which a pooled SDK connection never sends), a busy one after the
        answer in progress."""
        if self.transport.is_closing():
            return
        self._outbox.flush()  # answers given, not yet written
        if not self._queue:
            tls = self.transport.get_extra_info("sslcontext") is not None
            if tls and self.transport.get_write_buffer_size() == 0:
                self.transport.abort()
            else:
                self._close()
            return
        self._closing_after_answers = True
        if self._parsing is None:
            self._pause_reading()  # else once the body being read has arrived


_REASONS = {
    200: b"OK",
    302: b"Found",
    304: b"Not Modified",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    413: b"Content Too Large",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_STATUS_LINES = {
    status: b"HTTP/1.1 %d %s\r\n" % (status, reason) for status, reason in _REASONS.items()
}


def _status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status


def _http_answer(response: EncodedResponse, close: bool, head_only: bool = False) -> bytes:
    """The bytes of one HTTP/1.1 answer, head and body, written in one write."""
    status, headers, payload = response
    parts = [_status_line(status)]
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
    """The uvicorn configuration every cams-server process uses: uvicorn's server (start,
    signals, shutdown, TLS, lifespan) with this module's protocol.

    X-Forwarded-For / -Proto are honoured only from `trusted_proxies` (`TrustedProxies`).
    """
    limits = limits or HttpLimits()
    protocol = functools.partial(
        GatewayHttpProtocol,
        limits=limits,
        deadlines=ConnectionDeadlines(),
        outbox=AnswerOutbox(),
        app=app if isinstance(app, GatewayApp) else None,
        proxies=TrustedProxies(trusted_proxies),
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
        proxy_headers=False,  # the protocol applies them, from trusted proxies only
        ssl_certfile=None if tls is None else str(tls.cert),
        ssl_keyfile=None if tls is None else str(tls.key),
    )
