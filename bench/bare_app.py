"""The ceiling: a bare ASGI app answering a fixed 150-byte JSON body, on bare uvicorn.

It runs under plain uvicorn (uvloop, httptools, no access log: the fastest uvicorn
there is; `--loop asyncio` mimics a process that starts uvicorn under plain
`asyncio.run`), on a socket bound the way `cams-server serve` binds it, with N forked
worker processes sharing that socket. cams-server itself no longer runs uvicorn's
per-request cycle (gateway/protocol.py is its own HTTP protocol), so this is the
"bare uvicorn" ceiling the issue's ratios are defined against, not cams-server's stack.
Whatever cams-server does beyond this (parsing, signature, RAM, flow control, the
database, its log line) is what the benchmark's ratios measure.

    python bench/bare_app.py [--host 127.0.0.1] [--port 0] [--workers 1]

prints `bare-app listening on http://H:P` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

__all__ = ["BODY", "app"]

Message = MutableMapping[str, Any]


def _body() -> bytes:
    head = b'{"RequestId": "00000000-0000-0000-0000-000000000000", "Code": "OK", "Message": "None"'
    tail = b', "AccessDeniedDetail": "NONE"}'
    pad = 150 - len(head) - len(tail) - len(b', "Pad": ""')
    return head + b', "Pad": "' + b"x" * pad + b'"' + tail


BODY = _body()
assert len(BODY) == 150, len(BODY)
HEADERS = [
    (b"content-type", b"application/json;charset=utf-8"),
    (b"x-acs-request-id", b"00000000-0000-0000-0000-000000000000"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the (empty) body, as any real handler must
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def _serve(sock: socket.socket, loop: str, announce: str | None) -> None:
    config = uvicorn.Config(
        app,
        loop="uvloop" if loop == "config" else loop,
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
    )
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve_async(config, sock, announce))


async def _serve_async(config: uvicorn.Config, sock: socket.socket, announce: str | None) -> None:
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if announce and server.started:
        print(announce, flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket exactly as `cams-server serve` makes it, when it can be reused."""
    try:
        from cams_server.serving import bind
    except ImportError:  # a build without that module: the same options by hand
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        return sock
    return bind(host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--loop",
        choices=["config", "asyncio", "uvloop"],
        default="config",
        help="event loop: the one uvicorn_config names (default), or force one",
    )
    args = parser.parse_args()
    sock = _bind(args.host, args.port)
    url = f"http://{args.host}:{sock.getsockname()[1]}"
    if args.workers == 1:
        _serve(sock, args.loop, f"bare-app listening on {url}")
        return
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            _serve(sock, args.loop, None)
            os._exit(0)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # The socket already listens: connections queue until a worker accepts them.
    print(f"bare-app listening on {url}", flush=True)
    for child in children:
        os.waitpid(child, 0)
    sys.exit(0)


if __name__ == "__main__":
    main()
