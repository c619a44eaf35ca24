"""What an operation handler is given: the call, the caller, and the server's services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from cams_server.clock import Clock
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.directory import Directory
from cams_server.ram.sts_tokens import StsTokenCodec
from cams_server.rpc.caller import Caller
from cams_server.rpc.catalog import Operation
from cams_server.store.database import Database
from cams_server.wire.request import WireRequest

__all__ = ["DATABASE_TIMEOUT_SECONDS", "CallContext", "EnablementCache"]

T = TypeVar("T")

# Longest a call waits on a remote database before it is refused (the write may still
# land afterwards; enabling is idempotent, so the caller's retry is safe).
DATABASE_TIMEOUT_SECONDS = 8.0


class EnablementCache(Protocol):
    def known(self, account_id: str, space_id: str | None) -> bool: ...

    def remember(self, account_id: str, space_id: str | None) -> None: ...


@dataclass(slots=True)  # not frozen: built on every call, frozen init is slower
class CallContext:
    request_id: str
    operation: Operation
    params: dict[str, Any]
    caller: Caller
    request: WireRequest
    directory: Directory
    database: Database
    clock: Clock
    diagnostics: DiagnosticCodec
    enablements: EnablementCache
    sts: StsTokenCodec
    upstream_configured: bool = False  # a Graph API is set: enabling also reaches Meta

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store function: inline on SQLite (microseconds, no thread hop), in a
        thread on a remote database, where it is bounded by `DATABASE_TIMEOUT_SECONDS`."""
        if self.database.is_sqlite:
            return fn(*args)
        return await asyncio.wait_for(asyncio.to_thread(fn, *args), DATABASE_TIMEOUT_SECONDS)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)

    def condition_context(self) -> dict[str, str]:
        """The global condition keys' values for this call."""
        principal = self.caller.principal
        return {
            "acs:SourceIp": self.request.client_ip,
            "acs:SecureTransport": "true" if self.request.secure else "false",
            "acs:CurrentTime": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "acs:MFAPresent": "false",
            "acs:UserAgent": self.request.header("user-agent") or "",
            "acs:AccessId": self.caller.access_key_id,
            "acs:PrincipalArn": principal.arn,
        }
