"""The call context: what conditions see of the request."""

from __future__ import annotations

from typing import Any

from cams_server.clock import ManualClock
from cams_server.ram.principals import Principal, PrincipalKind
from cams_server.rpc import context
from cams_server.rpc.caller import Caller, NonceClaim
from cams_server.rpc.context import MAX_USER_AGENT, CallContext
from cams_server.wire.request import WireRequest
from tests.builds import source_only


def context_for(user_agent: str) -> CallContext:
    request = WireRequest.build(
        "POST", b"/", b"", [(b"user-agent", user_agent.encode())], b"", "10.0.0.1", False
    )
    caller = Caller(
        Principal("1", PrincipalKind.USER, "alice"), "LTAI5tK", "V3", NonceClaim("k", "n", 0)
    )
    unused: Any = None
    return CallContext(
        "RID",
        unused,
        {},
        caller,
        request,
        unused,
        unused,
        ManualClock(0),
        unused,
        unused,
        unused,
        unused,
    )


@source_only(context)  # None stands in for what conditions do not read
def test_user_agent_seen_by_conditions_is_bounded() -> None:
    """A `StringLike` over acs:UserAgent costs pattern x value: the client chooses the
    value, so conditions see its first MAX_USER_AGENT characters."""
    context = context_for("a" * 30_000).condition_context()
    assert context["acs:UserAgent"] == "a" * MAX_USER_AGENT
    assert context_for("aliyun-sdk/1.0").condition_context()["acs:UserAgent"] == "aliyun-sdk/1.0"
