"""A running cams-server whose /docs and /explorer pages answer, for the explorer tests.

When the server already serves the Explorer (`ServerState.pages`), it is used as is.
Otherwise the Explorer is set as the pages of the server's state and a second
application of that same state (same world, database, flow windows) is served on
another port: pages and API on one origin, routed by the real `GatewayApp`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cams_server.explorer import Explorer, demo_keys_of
from cams_server.testing import CamsServer


@dataclass(frozen=True)
class Site:
    url: str  # http://127.0.0.1:PORT, pages and API alike
    server: CamsServer

    @property
    def endpoint(self) -> str:
        return self.url.split("://", 1)[1]


def _wired(server: CamsServer) -> bool:
    return httpx.get(f"{server.url}/explorer", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def site(rich_world: Path) -> Iterator[Site]:
    import uvicorn

    with CamsServer(world=rich_world) as server:
        if _wired(server):
            yield Site(server.url, server)
            return
        state = server.state
        assert state is not None
        state.pages = Explorer(state.catalog, lambda: demo_keys_of(state.world.directory.world))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        front = uvicorn.Server(
            uvicorn.Config(
                state.app(),
                loop="asyncio",
                lifespan="off",
                log_config=None,
                access_log=False,
            )
        )
        thread = threading.Thread(
            target=lambda: asyncio.run(front.serve(sockets=[sock])), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not front.started:
            assert time.monotonic() < deadline, "the explorer front did not start"
            time.sleep(0.01)
        try:
            yield Site(f"http://127.0.0.1:{port}", server)
        finally:
            front.should_exit = True
            thread.join(10)
            sock.close()
