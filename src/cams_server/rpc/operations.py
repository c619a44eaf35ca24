"""The table of operations: each product registers its handlers, the gateway runs them.

A product declares where Alibaba's metadata of its API lives, a handler for each
operation it implements, and the checks every one of its calls passes first (CAMS:
subscription, then RAM). The server assembles the table from its products; the
catalog is built from the same declaration, so an operation without a handler does
not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cams_server.rpc.catalog import Catalog, load_catalog
from cams_server.rpc.context import CallContext
from cams_server.wire.encoding import Ok

__all__ = ["Answer", "Check", "Handler", "Operations", "Product"]

Answer = Mapping[str, Any] | Ok  # the response fields, or the bare OK of an action
Handler = Callable[[CallContext], Awaitable[Answer]]
Check = Callable[[CallContext], None]  # raises the operation's error, or returns


@dataclass(frozen=True)
class Product:
    package: str  # its metadata is <package>/metadata/<metadata>
    metadata: str  # Alibaba's API metadata document of the product
    handlers: Mapping[str, Handler]  # operation name -> what it does
    checks: tuple[Check, ...] = ()  # run in order before each of its handlers


class Operations:
    """The operations of the given products: their catalog, and how to run one."""

    def __init__(self, products: Iterable[Product]) -> None:
        products = tuple(products)
        self.catalog: Catalog = load_catalog(
            {(p.package, p.metadata): list(p.handlers) for p in products}
        )
        self._entries: dict[str, tuple[tuple[Check, ...], Handler]] = {
            name: (p.checks, handler) for p in products for name, handler in p.handlers.items()
        }

    async def run(self, ctx: CallContext) -> Answer:
        checks, handler = self._entries[ctx.operation.name]
        for check in checks:
            check(ctx)
        return await handler(ctx)
