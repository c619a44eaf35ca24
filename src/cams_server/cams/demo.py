"""The demo world `cams-server serve` seeds into an empty database.

Secrets are random per installation: the server prints them at start, and
`cams-server world export` shows them again.
"""

from __future__ import annotations

import secrets

from cams_server.cams.ingestion import ingest_records
from cams_server.cams.simulation import Funnel, TemplateMix, simulate
from cams_server.model.world import (
    AccessKeySpec,
    AccountSpec,
    IsvCodeSpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
    World,
)
from cams_server.ram.directory import Directory
from cams_server.store.database import Database
from cams_server.store.enablements import enable_roi_metric
from cams_server.store.reset import remove_accounts
from cams_server.store.world_repo import apply_world, load_world_from

__all__ = ["DEMO_ACCOUNT_ID", "apply_declared_world", "demo_world", "seed_demo", "settle_demo"]

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
                    # Calls CAMS only through the role below, with STS credentials.
                    UserSpec(
                        "carol",
                        policies=("AliyunSTSAssumeRoleAccess",),
                        access_keys=(AccessKeySpec("LTAI5tDemoCarolKey001", secret()),),
                    ),
                ),
                roles=(
                    RoleSpec(
                        "roi-operator",
                        trust=(
                            '{"Version":"1","Statement":[{"Effect":"Allow",'
                            '"Action":"sts:AssumeRole",'
                            f'"Principal":{{"RAM":["acs:ram::{DEMO_ACCOUNT_ID}:root"]}}}}]}}'
                        ),
                        policies=("AliyunCAMSFullAccess",),
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


def seed_demo(database: Database, now: float) -> None:
    """Apply the demo world, enable ROI statistics on its main space eight days ago, and
    fill a week of simulated traffic, so the metric reads answer with data at once."""
    world = demo_world()
    apply_world(database, world, "<demo world>")
    account = world.accounts[0]
    enable_roi_metric(
        database,
        account.id,
        "cams-demo-main",
        int((now - 8 * 86_400) * 1e6),
        f"acs:ram::{account.id}:root",
    )
    directory = Directory(world)
    end_ms = int(now * 1000)
    for messages, events in simulate(
        "cams-demo-main",
        "8613800000000",
        [TemplateMix("welcome", "en", 2.0), TemplateMix("promo", "es")],
        Funnel(),
        5000,
        end_ms - 7 * 86_400_000,
        end_ms,
        seed=1,
        prefix="demo",
    ):
        ingest_records(database, directory, messages, events)


def settle_demo(database: Database, wanted: bool | None, world_given: bool, now: float) -> str:
    """Seed, keep or remove the demo account; says what was done ('' for nothing).

    Its keys are printed at start and offered by the Explorer, so a deployment with a
    world of its own never has it unless asked: `wanted` True seeds it (if absent),
    False removes it, and None (the default) seeds it only into a database with no
    other account when no world file is given, and removes it otherwise.
    """
    stored = load_world_from(database).accounts
    present = any(a.id == DEMO_ACCOUNT_ID for a in stored)
    others = any(a.id != DEMO_ACCOUNT_ID for a in stored)
    keep = wanted if wanted is not None else not (world_given or others)
    if keep and not present:
        seed_demo(database, now)
        return "seeded the demo account"
    if not keep and present:
        remove_accounts(database, [DEMO_ACCOUNT_ID])
        return (
            f"removed the demo account {DEMO_ACCOUNT_ID} and its keys "
            "(this deployment has a world of its own; start with --demo to keep it)"
        )
    return ""


def apply_declared_world(database: Database, world: World, source: str) -> str:
    """`world apply` of a file: its accounts, and the demo account (whose keys are
    printed and offered to anyone by the Explorer) removed, unless the file declares it.
    Says what was done about the demo ('' for nothing)."""
    apply_world(database, world, source)
    if any(a.id == DEMO_ACCOUNT_ID for a in world.accounts):
        return ""
    return settle_demo(database, None, True, 0.0)
