"""HTTP/1.1 as the gateway's own protocol reads and answers it (gateway/protocol.py):
pipelined answers in order, Expect: 100-continue, HEAD, HTTP/1.0, Upgrade, bodies that
arrive in pieces, and X-Forwarded-For from trusted proxies only. Raw sockets, since these
are bytes no SDK sends; a signed call through the official SDK is in every other test.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cams_server.gateway import protocol
from cams_server.gateway.protocol import HttpLimits, TrustedProxies
from cams_server.testing import CamsServer
from tests.builds import source_only
from tests.gateway.test_http_limits import connect, read_answer, read_until_closed
from tests.sdk.clients import KEYS
from tests.sdk.raw import v3_headers
from tests.sdk.wire_asserts import assert_still_serving, parse_response


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world) as srv:
        yield srv


def _request(server: CamsServer, path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: {server.endpoint}\r\n{extra}\r\n".encode()


def _form_post(server: CamsServer, extra: str) -> bytes:
    """The head of a form POST to the API with these extra header lines."""
    return _request(
        server, "/", "POST", f"Content-Type: application/x-www-form-urlencoded\r\n{extra}"
    )


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` answers off one connection, split by their Content-Length."""
    data, answers = b"", []
    while len(answers) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(parse_response(head + sep).headers.get("content-length", "0"))
            if len(rest) >= length:
                answers.append(head + sep + rest[:length])
                data = rest[length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, (answers, data)
        data += chunk
    return answers


def _body(answer: bytes) -> dict[str, object]:
    return dict(json.loads(parse_response(answer).body))


def test_pipelined_requests_are_answered_in_order(server: CamsServer) -> None:
    sock = connect(server)
    paths = [f"/nowhere-{i}" for i in range(5)]
    sock.sendall(b"".join(_request(server, path) for path in paths))
    for path, answer in zip(paths, _answers(sock, len(paths)), strict=True):
        assert path in str(_body(answer)["Message"]), answer
    sock.close()


def test_expect_continue_gets_100_then_the_answer(server: CamsServer) -> None:
    """curl sends `Expect: 100-continue` before a body over 1 KB and waits for it."""
    sock = connect(server)
    body = b"Action=EnableWhatsappROIMetric&Version=2020-06-06&CustSpaceId=" + b"x" * 2000
    sock.sendall(_form_post(server, f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"))
    interim = sock.recv(65536)
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
    sock.sendall(body)
    rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
    answer = rest if b"\r\n\r\n" in rest else read_answer(sock)
    # Read whole, then refused for what it lacks (a signature), not for how it came.
    assert _body(answer)["Code"] == "IncompleteSignature", answer
    sock.close()


def test_head_is_answered_without_a_body(server: CamsServer) -> None:
    sock = connect(server)
    sock.sendall(_request(server, "/headed", "HEAD") + _request(server, "/nowhere"))
    data = b""
    while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    first, _, second = data.partition(b"\r\n\r\n")
    # The length of the body a GET would get, and no body: the next answer follows.
    assert int(parse_response(first + b"\r\n\r\n").headers["content-length"]) > 0
    assert second.startswith(b"HTTP/1.1 ") and b"/nowhere" in second, second
    assert b"/headed" not in data
    sock.close()


def test_http_1_0_closes_after_its_answer(server: CamsServer) -> None:
    sock = connect(server)
    sock.sendall(b"GET /nowhere HTTP/1.0\r\n\r\n")
    data, _ = read_until_closed(sock)
    sock.close()
    assert data.startswith(b"HTTP/1.1 ") and b"connection: close" in data.lower(), data


def test_an_upgrade_is_answered_plainly_and_the_connection_closed(server: CamsServer) -> None:
    sock = connect(server)
    sock.sendall(
        _request(server, "/nowhere", extra="Connection: Upgrade\r\nUpgrade: websocket\r\n")
        + b"\x81\x85not http at all"
    )
    data, _ = read_until_closed(sock)
    sock.close()
    assert data.count(b"HTTP/1.1 ") == 1 and b"/nowhere" in data, data
    assert_still_serving(server.endpoint)


def test_a_body_in_pieces_is_read_whole(server: CamsServer) -> None:
    """A chunked form body sent in several writes is one request, read to its end."""
    sock = connect(server)
    sock.sendall(_form_post(server, "Transfer-Encoding: chunked\r\n"))
    for piece in (b"Action=EnableWhatsappROIMetric", b"&Version=2020-06-06", b"&CustSpaceId=x"):
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.sendall(b"0\r\n\r\n")
    answer = read_answer(sock)
    assert _body(answer)["Code"] == "IncompleteSignature", answer
    sock.sendall(_request(server, "/nowhere"))  # the connection is still good
    assert b"/nowhere" in read_answer(sock)
    sock.close()


def test_a_body_over_the_limit_is_413_before_it_is_read(server: CamsServer) -> None:
    sock = connect(server)
    sock.sendall(_form_post(server, "Content-Length: 10000000\r\n"))
    answer = read_answer(sock)  # not a byte of the body was sent
    assert parse_response(answer).status == 413, answer
    sock.close()


def test_a_peer_that_leaves_mid_body_costs_nothing(server: CamsServer) -> None:
    for _ in range(20):
        sock = connect(server)
        sock.sendall(_form_post(server, "Content-Length: 5000\r\n") + b"Action=" * 100)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset, mid-body
    assert_still_serving(server.endpoint)


def test_forwarded_addresses_are_believed_from_trusted_proxies_only() -> None:
    proxies = TrustedProxies(("10.0.0.0/8", "192.0.2.7"))
    forwarded = [(b"x-forwarded-for", b"203.0.113.5, 10.1.2.3"), (b"x-forwarded-proto", b"https")]
    # From a trusted proxy: the right-most address that is not a trusted proxy.
    assert proxies.apply("10.9.9.9", False, forwarded) == ("203.0.113.5", True)
    assert proxies.apply("192.0.2.7", False, forwarded) == ("203.0.113.5", True)
    # From anyone else: the peer as it is, whatever it claims.
    assert proxies.apply("198.51.100.1", False, forwarded) == ("198.51.100.1", False)
    # A forged left-most hop behind a trusted chain is not taken over the real one.
    chain = [(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"203.0.113.9, 10.0.0.2")]
    assert proxies.apply("10.0.0.1", False, chain) == ("203.0.113.9", False)
    # A scheme other than http/https is ignored; no X-Forwarded-For keeps the peer.
    odd = [(b"x-forwarded-proto", b"gopher")]
    assert proxies.apply("10.0.0.1", True, odd) == ("10.0.0.1", True)
    assert not TrustedProxies(())


@source_only(protocol)  # stand-in connections
def test_answers_of_one_loop_turn_are_written_together_in_order() -> None:
    """The outbox writes nothing while the turn computes answers, then every answer in
    the order given, closing the connections whose last answer it was."""
    import asyncio

    from cams_server.gateway.protocol import AnswerOutbox

    class Transport:
        def __init__(self, log: list[tuple[str, bytes]], name: str) -> None:
            self.log, self.name, self.closing = log, name, False

        def is_closing(self) -> bool:
            return self.closing

        def write(self, data: bytes) -> None:
            self.log.append((self.name, data))

    class Connection:
        def __init__(self, transport: Transport, loop: asyncio.AbstractEventLoop) -> None:
            self.transport, self.loop, self.closed = transport, loop, False

        def close_now(self) -> None:
            self.closed = True
            self.transport.closing = True

    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], bool, bool]:
        loop = asyncio.get_running_loop()
        written: list[tuple[str, bytes]] = []
        a, b = (Connection(Transport(written, name), loop) for name in "ab")
        outbox = AnswerOutbox()
        outbox.put(a, b"a1", False)  # type: ignore[arg-type]
        outbox.put(b, b"b1", True)  # type: ignore[arg-type]
        outbox.put(a, b"a2", False)  # type: ignore[arg-type]
        during = list(written)
        await asyncio.sleep(0)  # the end of the turn
        return during, written, a.closed, b.closed

    during, written, a_closed, b_closed = asyncio.run(scenario())
    assert during == []
    assert written == [("a", b"a1"), ("b", b"b1"), ("a", b"a2")]
    assert b_closed and not a_closed


# -- found by an attacker's review of this protocol (each failed before its fix) ---------


def test_an_answer_before_the_body_ends_leaves_the_connection_usable(server: CamsServer) -> None:
    """A route may answer before the body has arrived (413 from Content-Length); the
    body that follows is skipped and the next request is answered, once."""
    sock = connect(server)
    sock.sendall(_form_post(server, "Content-Length: 70000\r\n"))
    first = _answers(sock, 1)[0]
    assert parse_response(first).status == 413, first
    sock.sendall(b"a" * 70000 + _request(server, "/next"))
    second = _answers(sock, 1)[0]
    assert b"/next" in second, second
    sock.close()


def test_a_refusal_before_an_expected_continue_closes_the_connection(server: CamsServer) -> None:
    """Refused before it sent the body it waited to be asked for, the client may send it
    anyway or not: no next request could be told apart from it, so the connection ends."""
    sock = connect(server)
    sock.sendall(_form_post(server, "Content-Length: 100000\r\nExpect: 100-continue\r\n"))
    data, _ = read_until_closed(sock)
    sock.close()
    assert data.startswith(b"HTTP/1.1 413 ") and b"connection: close" in data.lower(), data


def test_an_answered_request_whose_body_stalls_gets_no_second_answer(rich_world: Path) -> None:
    with CamsServer(world=rich_world, http_limits=HttpLimits(body_timeout=0.5)) as srv:
        sock = connect(srv)
        sock.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        data, _ = read_until_closed(sock)
        sock.close()
    assert data.count(b"HTTP/1.1 ") == 1 and b"/nope" in data, data


def test_an_endless_trailer_is_431(server: CamsServer) -> None:
    """Trailers count like a head: one that never ends is refused, not buffered."""
    sock = connect(server)
    sock.sendall(_form_post(server, "Transfer-Encoding: chunked\r\n") + b"0\r\nX-Trailer: ")
    with contextlib.suppress(OSError):  # the server closes while this still sends
        for _ in range(64):
            sock.sendall(b"a" * 65536)
    data, _ = read_until_closed(sock)
    sock.close()
    assert data.startswith(b"HTTP/1.1 431 "), data[:200]


def test_an_upload_in_progress_at_shutdown_is_read_and_answered(rich_world: Path) -> None:
    srv = CamsServer(world=rich_world)
    srv.start()
    sock = connect(srv)
    sock.sendall(_form_post(srv, "Content-Length: 1000\r\n") + b"a" * 500)
    time.sleep(0.1)
    stopping = threading.Thread(target=srv.stop)
    stopping.start()
    time.sleep(0.15)
    sock.sendall(b"a" * 500)  # the rest of the body, promptly
    data, _ = read_until_closed(sock)
    sock.close()
    stopping.join(15)
    status = parse_response(data).status
    assert status not in (408, 503) and b"IncompleteBody" not in data, data[:300]


def test_shutdown_does_not_wait_for_a_client_that_does_not_read(rich_world: Path) -> None:
    """Answers left unread hold a stopping server for `send_timeout`, not for ever."""
    srv = CamsServer(world=rich_world, http_limits=HttpLimits(send_timeout=1.0))
    srv.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", srv.port))
    for _ in range(4):  # more than fits in the kernel's buffers and the pipeline
        sock.sendall(b"GET /explorer/static/chart.umd.min.js HTTP/1.1\r\nHost: x\r\n\r\n" * 8)
        time.sleep(0.1)
    started = time.monotonic()
    srv.stop()
    took = time.monotonic() - started
    sock.close()
    assert took < 6, f"stop took {took:.1f} s"


def test_an_answer_slower_than_the_send_timeout_is_sent_before_closing(rich_world: Path) -> None:
    """A connection that closes after its answers (here: an Upgrade) used to start the
    send_timeout clock while the application was still computing the answer, and a call
    slower than it was dropped unanswered. The clock is for a client that does not read."""
    limits = HttpLimits(send_timeout=0.5)
    with CamsServer(world=rich_world, http_limits=limits, admin_token="t" * 32) as srv:
        srv.inject_fault("EnableWhatsappROIMetric", latency_ms=1200)
        key_id, secret = KEYS["acme-root"]
        head = "".join(
            f"{k}: {v}\r\n" for k, v in v3_headers(srv.endpoint, key_id, secret, {}).items()
        )
        sock = connect(srv)
        sock.sendall(
            f"POST / HTTP/1.1\r\n{head}Content-Length: 0\r\n"
            "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n".encode()
        )
        data, _ = read_until_closed(sock)
        sock.close()
    assert data.startswith(b"HTTP/1.1 200 "), data[:300]
    assert data.count(b"HTTP/1.1 ") == 1 and b'"Code": "OK"' in data, data
