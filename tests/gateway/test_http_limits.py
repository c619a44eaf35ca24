"""HTTP limits on the wire: head size, head and body deadlines, idle connections, and the
connection cap (gateway/protocol.py). Raw sockets: no SDK sends what these tests send.

The server runs with short deadlines and a small cap so that each test takes a second
or two; the defaults (see `HttpLimits`) are checked separately.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cams_server.cli import cli
from cams_server.gateway.protocol import HttpLimits
from cams_server.serving import ensure_descriptors
from cams_server.testing import CamsServer
from tests.sdk.wire_asserts import assert_still_serving, check_error, parse_response

LIMITS = HttpLimits(
    max_head_bytes=8 * 1024,
    head_timeout=0.6,
    body_timeout=0.6,
    keep_alive_timeout=0.6,
    max_connections=8,
)
# Longest a test waits for the server to act on a deadline of 0.6 s.
PATIENCE = 3.0


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, http_limits=LIMITS) as srv:
        yield srv


def connect(server: CamsServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)
    return sock


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for more than {PATIENCE} s")
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (head and body), without waiting for the connection to close."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    length = int(parse_response(head_part + b"\r\n\r\n").headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head_part + b"\r\n\r\n" + body


def head(server: CamsServer, extra: str = "", length: int | None = None) -> bytes:
    lines = ["POST /?Action=EnableWhatsappROIMetric HTTP/1.1", f"Host: {server.endpoint}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra).encode()


def assert_refused(data: bytes, code: str, status: int) -> None:
    """A JSON error with a RequestId, and the connection closed."""
    response = parse_response(data)
    if status < 500:
        check_error(response.status, response.headers, response.body, code, status)
    else:  # the server's own limit, not the client's mistake
        assert response.status == status, data[:300]
        body = json.loads(response.body)
        assert body["Code"] == code and body["RequestId"] == response.headers["x-acs-request-id"]
    assert response.headers["connection"] == "close"


# -- the size of a request head ------------------------------------------------------------


def test_oversized_header_is_431(server: CamsServer) -> None:
    with connect(server) as sock:
        sock.sendall(head(server, f"X-Big: {'a' * 9000}\r\n\r\n", length=0))
        data, _ = read_until_closed(sock)
    assert_refused(data, "RequestHeaderFieldsTooLarge", 431)
    assert_still_serving(server.endpoint)


def test_unterminated_header_is_refused_before_it_grows(server: CamsServer) -> None:
    """A header that never ends is refused once past the limit: the server does not keep
    reading (the 100 MB the attacker meant to send are never accepted)."""
    sent = 0
    with connect(server) as sock:
        sock.sendall(head(server, "X-Endless: "))
        chunk = b"a" * 65536
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, _ = read_until_closed(sock)
    assert sent < 16 * 1024 * 1024, f"the server accepted {sent} bytes of one header"
    if data:  # the answer may be lost to the reset of a connection still being written
        assert_refused(data, "RequestHeaderFieldsTooLarge", 431)
    assert_still_serving(server.endpoint)


def test_many_small_headers_count_together(server: CamsServer) -> None:
    many = "".join(f"X-H{i}: {'b' * 60}\r\n" for i in range(200))  # about 14 KB
    with connect(server) as sock:
        sock.sendall(head(server, many + "\r\n", length=0))
        data, _ = read_until_closed(sock)
    assert_refused(data, "RequestHeaderFieldsTooLarge", 431)


def test_a_head_below_the_limit_with_a_large_body_is_served(server: CamsServer) -> None:
    """Head and body arriving in one read are not taken for one long head."""
    body = b"CustSpaceId=" + b"x" * 30_000
    request = head(server, "Content-Type: application/x-www-form-urlencoded\r\n", len(body))
    with connect(server) as sock:
        sock.sendall(request + b"Connection: close\r\n\r\n" + body)
        data, _ = read_until_closed(sock)
    response = parse_response(data)
    assert response.status != 431, data[:300]
    assert json.loads(response.body)["Code"] != "RequestHeaderFieldsTooLarge"


# -- deadlines -----------------------------------------------------------------------------


def test_idle_connection_is_closed(server: CamsServer) -> None:
    with connect(server) as sock:
        data, waited = read_until_closed(sock)
    assert data == b""
    assert waited < PATIENCE


def test_kept_alive_connection_is_closed_when_idle(server: CamsServer) -> None:
    with connect(server) as sock:
        sock.sendall(f"GET /_cams/health HTTP/1.1\r\nHost: {server.endpoint}\r\n\r\n".encode())
        data, waited = read_until_closed(sock)
    assert parse_response(data).status == 200
    assert waited < PATIENCE


def test_slow_head_is_408(server: CamsServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        sock.sendall(b"X-Slow: 1\r\n")  # still trickling in, never finished
        data, waited = read_until_closed(sock)
    assert_refused(data, "RequestTimeout", 408)
    assert waited < PATIENCE


def test_trickled_head_is_408_even_while_bytes_keep_coming(server: CamsServer) -> None:
    """A byte every 0.2 s keeps no timer alive: the deadline runs from the first byte."""
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        data = b""
        while time.monotonic() - started < PATIENCE:
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.2)
        sock.settimeout(PATIENCE)
        data, _ = read_until_closed(sock)
    assert time.monotonic() - started < PATIENCE, "the slow head was never refused"
    assert_refused(data, "RequestTimeout", 408)


def test_slow_body_is_408_and_nothing_is_done(server: CamsServer) -> None:
    with connect(server) as sock:
        sock.sendall(head(server, "Content-Type: application/x-www-form-urlencoded\r\n\r\n", 100))
        sock.sendall(b"CustSpaceId=")
        data, waited = read_until_closed(sock)
    assert_refused(data, "RequestTimeout", 408)
    assert waited < PATIENCE
    assert_still_serving(server.endpoint)


# -- the connection cap --------------------------------------------------------------------


def test_connections_beyond_the_cap_get_503_and_open_ones_keep_working(
    rich_world: Path,
) -> None:
    limits = HttpLimits(max_connections=4, keep_alive_timeout=30, head_timeout=30)
    with CamsServer(world=rich_world, http_limits=limits) as srv:
        held = [connect(srv) for _ in range(4)]
        try:
            time.sleep(0.1)  # let the server accept them
            for _ in range(20):
                with connect(srv) as extra:
                    data, _ = read_until_closed(extra)
                assert_refused(data, "ServiceUnavailable", 503)
            # a connection within the cap still answers
            held[0].sendall(f"GET /_cams/health HTTP/1.1\r\nHost: {srv.endpoint}\r\n\r\n".encode())
            assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert_still_serving(srv.endpoint)  # freed slots are reused


def test_defaults_are_documented_values() -> None:
    limits = HttpLimits()
    assert (limits.max_head_bytes, limits.max_connections) == (32 * 1024, 1024)
    assert (limits.head_timeout, limits.body_timeout, limits.keep_alive_timeout) == (
        10.0,
        30.0,
        5.0,
    )


def test_cap_beyond_the_descriptor_limit_is_refused_at_start() -> None:
    problem = ensure_descriptors(HttpLimits(max_connections=10**9))
    assert problem is not None and "--max-connections" in problem
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--max-connections", "1000000000"])
    assert result.exit_code == 2
    assert "--max-connections 1000000000" in result.output


# -- what a second attacker review found (chunked trailers, pipelining, unread answers) ------


def chunked_head(server: CamsServer, path: str = "/nope") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {server.endpoint}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
    ).encode()


def test_chunked_trailers_are_bounded(server: CamsServer) -> None:
    """Trailer lines after the last chunk used to pile up without a limit (20 bytes of
    memory per byte sent, on any path, without a token); now they are a head's worth.

    Sent to `/`, whose route waits for the whole body: a request answered before its body
    ends (an unknown path) has its answer, and its connection is closed without a second
    one, which would make the refusal depend on timing."""
    with connect(server) as sock:
        sock.sendall(chunked_head(server, "/"))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(800):  # up to 8 MB, until the server refuses
                sock.sendall(b"a:b\r\n" * 2000)
        data, _ = read_until_closed(sock)
    assert b"RequestHeaderFieldsTooLarge" in data, data[:300]
    assert_still_serving(server.endpoint)


def test_pipelined_requests_are_bounded(server: CamsServer) -> None:
    """Requests sent ahead of their answers are read at most `max_pipelined` deep; the
    rest of a flood of them is refused, not parsed into memory."""
    one = f"GET /_cams/health HTTP/1.1\r\nHost: {server.endpoint}\r\n\r\n".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(PATIENCE)
        sock.connect(("127.0.0.1", server.port))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(one * 500)
        data, _ = read_until_closed(sock)
    answered = data.count(b"HTTP/1.1 200")
    assert 1 <= answered <= LIMITS.max_pipelined + 2, answered
    assert b"TooManyRequests" in data or answered < 500
    assert_still_serving(server.endpoint)


def test_headers_beyond_their_count_are_431(server: CamsServer) -> None:
    many = "".join(f"X-{i}: 1\r\n" for i in range(LIMITS.max_headers + 1))  # small in bytes
    with connect(server) as sock:
        sock.sendall(head(server, many + "\r\n", length=0))
        data, _ = read_until_closed(sock)
    assert_refused(data, "RequestHeaderFieldsTooLarge", 431)


def test_a_long_head_pipelined_behind_a_short_one_is_not_served(server: CamsServer) -> None:
    """Each head is measured, not only the first of a read: the first request is
    answered, the oversized one behind it is not (the connection closes after the
    answer, which keeps the answers in request order)."""
    short = f"GET /_cams/health HTTP/1.1\r\nHost: {server.endpoint}\r\n\r\n"
    long = f"GET /_cams/health HTTP/1.1\r\nHost: x\r\nUser-Agent: {'a' * 20_000}\r\n\r\n"
    with connect(server) as sock:
        sock.sendall((short + long).encode())
        data, _ = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200")
    assert data.count(b"HTTP/1.1 ") == 1, data


def test_public_admin_routes_read_no_body(server: CamsServer) -> None:
    """`/_cams/health` is answered from its head: an announced 8 MiB body is not awaited."""
    with connect(server) as sock:
        sock.sendall(
            f"POST /_cams/health HTTP/1.1\r\nHost: {server.endpoint}\r\n"
            f"Content-Length: {8 * 1024 * 1024}\r\n\r\n".encode()
        )
        assert read_answer(sock).startswith(b"HTTP/1.1 200"), "no answer without the body"


@pytest.mark.parametrize(
    ("secret", "signature", "code"),
    [(None, "sha256=00", "Webhook.NotConfigured"), ("s", None, "Webhook.InvalidSignature")],
)
def test_an_unacceptable_webhook_delivery_is_refused_before_its_body(
    rich_world: Path, secret: str | None, signature: str | None, code: str
) -> None:
    with CamsServer(world=rich_world, whatsapp_app_secret=secret) as srv, connect(srv) as sock:
        extra = f"X-Hub-Signature-256: {signature}\r\n" if signature else ""
        sock.sendall(
            f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: {srv.endpoint}\r\n{extra}"
            f"Content-Length: {8 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = read_answer(sock)
    assert code.encode() in answer, answer[:300]


# A webhook delivery of 4 MiB: its route reads the body (the signature needs it whole).
_LARGE_DELIVERY = (
    "POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\n"
    f"Content-Length: {4 * 1024 * 1024}\r\n\r\n"
).encode()
_BODY_BUDGET = HttpLimits(max_body_bytes_in_flight=256 * 1024, body_timeout=10)


def _hold_bodies(srv: CamsServer, count: int, size: int) -> bytes:
    """`count` connections each holding `size` bytes of a large body; what they were sent."""
    held, answers = [], b""
    for _ in range(count):
        sock = connect(srv)
        held.append(sock)
        sock.sendall(_LARGE_DELIVERY + b"x" * size)
        time.sleep(0.05)
    for sock in held:
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            answers += sock.recv(65536)
        sock.close()
    return answers


def test_bodies_in_flight_are_bounded_per_process(rich_world: Path) -> None:
    """Large bodies held open by many connections get 503 past the process's budget."""
    with CamsServer(world=rich_world, http_limits=_BODY_BUDGET, whatsapp_app_secret="s") as srv:
        assert b"ServiceUnavailable" in _hold_bodies(srv, 8, 64 * 1024)
        assert_still_serving(srv.endpoint)


def test_bodies_abandoned_mid_read_give_their_budget_back_once(rich_world: Path) -> None:
    """A client that leaves while its body is being read frees what it held, once: freed
    twice, each departure would raise the process's budget for the next flood."""
    with CamsServer(world=rich_world, http_limits=_BODY_BUDGET, whatsapp_app_secret="s") as srv:
        for _ in range(20):  # 20 x 96 KiB read, then the client resets the connection
            sock = connect(srv)
            sock.sendall(_LARGE_DELIVERY + b"x" * (96 * 1024))
            time.sleep(0.05)  # the webhook is waiting for the rest of its body
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        time.sleep(0.2)
        # 8 x 64 KiB: over the 256 KiB budget, as in the test above.
        assert b"ServiceUnavailable" in _hold_bodies(srv, 8, 64 * 1024)
        assert_still_serving(srv.endpoint)


def test_an_answer_left_unread_drops_the_connection() -> None:
    """A client that stops reading cannot hold a connection past `send_timeout`: the
    protocol drops it (a close would wait for the unread bytes forever)."""
    import asyncio

    from uvicorn.server import ServerState

    from cams_server.gateway.protocol import (
        ConnectionDeadlines,
        GatewayHttpProtocol,
        uvicorn_config,
    )

    class Transport:
        aborted = closed = False

        def get_write_buffer_size(self) -> int:
            return 1 << 20

        def is_closing(self) -> bool:
            return self.aborted or self.closed

        def abort(self) -> None:
            self.aborted = True

        def close(self) -> None:
            self.closed = True

        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("127.0.0.1", 1) if name in ("peername", "sockname") else default

        def pause_reading(self) -> None: ...

        def resume_reading(self) -> None: ...

    async def scenario() -> Transport:
        limits = HttpLimits(send_timeout=0.1)
        config = uvicorn_config(None, loop="asyncio", limits=limits)
        config.load()
        protocol = GatewayHttpProtocol(
            config, ServerState(), {}, limits=limits, deadlines=ConnectionDeadlines(tick=0.02)
        )
        transport = Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.pause_writing()  # the kernel buffers are full: the client is not reading
        await asyncio.sleep(0.3)
        return transport

    transport = asyncio.run(scenario())
    assert transport.aborted and not transport.closed
