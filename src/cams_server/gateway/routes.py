"""Routes: the parts of the server beside each other on one port, each owning its paths.

The ASGI app (`gateway/asgi.py`) holds a list of routes, in the way Starlette's router
does, and the server assembles the list: the RPC endpoint at `/`, `/metrics`, the admin
API, the WhatsApp webhook, the reference pages and the Explorer. A route is given the
request's line and headers first and reads the body itself (through `BodyReader`, up
to a limit of its choosing), so that it can refuse a request without reading what was
sent with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cams_server.gateway.pipeline import CallRecord, Gateway
from cams_server.wire.encoding import EncodedResponse, encode_redirect
from cams_server.wire.request import MAX_BODY_BYTES, WireRequest

__all__ = ["BodyReader", "Route", "RpcRoute"]

# Reads the request body, refusing it (413) beyond the given number of bytes.
BodyReader = Callable[[int], Awaitable[bytes]]


class Route(Protocol):
    @property
    def label(self) -> str:
        """The action its calls are counted and logged under (a fixed set: never a path
        a caller chose)."""
        ...

    def owns(self, path: str) -> bool:
        """Whether requests for `path` are this route's."""
        ...

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        """The answer; `request` has its line and headers, `body` reads the rest."""
        ...


@dataclass(frozen=True)
class RpcRoute:
    """`/`: every API operation, RPC style (the gateway names the action it ran).

    A browser opening `/` (a GET asking for HTML, with no parameters and no signature,
    which no SDK sends) is sent to the reference pages instead of an API error."""

    gateway: Gateway
    label: str = "-"
    browser_home: str = "/docs/"

    def owns(self, path: str) -> bool:
        return path == "/"

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        if _from_a_browser(request):
            return encode_redirect(record.request_id, self.browser_home)
        form = request.with_body(await body(MAX_BODY_BYTES), form=True)
        return await self.gateway.handle(form, record)


def _from_a_browser(request: WireRequest) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and not request.query
        and request.header("authorization") is None
        and "text/html" in (request.header("accept") or "")
    )
