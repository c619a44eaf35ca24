"""The demo world `cams-server serve` seeds into an empty database.

Secrets are random per installation: the server prints them at start, and
`cams-server world export` shows them again.
"""

from __future__ import annotations

import secrets

from cams_server.world.model import (
    AccessKeySpec,
    AccountSpec,
    IsvCodeSpec,
    SpaceSpec,
    UserSpec,
    World,
)

__all__ = ["DEMO_ACCOUNT_ID", "demo_world"]

DEMO_ACCOUNT_ID = "5000000000000001"


def demo_world() -> World:
    def secret() -> str:
        return secrets.token_urlsafe(22)

    return World(
        accounts=(
            AccountSpec(
                id=DEMO_ACCOUNT_ID,
                name="demo",
                cams=True,
                access_keys=(AccessKeySpec("LTAI5tDemoRootKey0001", secret()),),
                users=(
                    UserSpec(
                        "alice",
                        policies=("AliyunCAMSFullAccess",),
                        access_keys=(AccessKeySpec("LTAI5tDemoAliceKey001", secret()),),
                    ),
                    UserSpec(
                        "bob",
                        policies=("AliyunCAMSReadOnlyAccess",),
                        access_keys=(AccessKeySpec("LTAI5tDemoBobKey00001", secret()),),
                    ),
                ),
                spaces=(
                    SpaceSpec("cams-demo-main", waba_id="102290129340398"),
                    SpaceSpec("cams-demo-cust-1", isv_customer="Customer One Ltd"),
                ),
                isv_codes=(
                    IsvCodeSpec("demo-isv-code-0001", user="alice", spaces=("cams-demo-cust-1",)),
                ),
            ),
        )
    )
