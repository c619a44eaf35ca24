"""What an operation handler is given: the call, the caller, and the server's services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cams_server.clock import Clock
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.directory import Directory
from cams_server.ram.sts_tokens import StsTokenCodec
from cams_server.rpc.caller import Caller
from cams_server.rpc.catalog import Operation
from cams_server.store.database import Database
from cams_server.store.enablements import EnablementWriter
from cams_server.wire.request import WireRequest

__all__ = ["MAX_USER_AGENT", "CallContext", "EnablementCache"]

# The characters of User-Agent that acs:UserAgent holds: a condition's cost grows with
# the value it matches, and the value is the client's choice (SECURITY.md).
MAX_USER_AGENT = 1024


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
    enablements: EnablementCache  # what is known enabled (no write needed)
    enablement_writer: EnablementWriter  # first-time enablements, group-committed
    sts: StsTokenCodec
    upstream_configured: bool = False  # a Graph API is set: enabling also reaches Meta

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
            "acs:UserAgent": (self.request.header("user-agent") or "")[:MAX_USER_AGENT],
            "acs:AccessId": self.caller.access_key_id,
            "acs:PrincipalArn": principal.arn,
        }
