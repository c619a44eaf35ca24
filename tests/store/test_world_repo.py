"""The world repository (store/world_repo.py) at sizes beyond one statement's bound
values: PostgreSQL refuses more than 65,535 in one statement, SQLite more than its build
allows (32,766 by default; Debian's builds allow 250,000)."""

from __future__ import annotations

from cams_server.store.database import IN_BATCH, Database
from cams_server.store.reset import remove_accounts
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.world.toml_file import parse_world

ACCOUNTS = 1_400
SPACES = 50  # 70,000 spaces: more than either database binds in one statement


def _world_text(accounts: int, spaces: int) -> str:
    parts = ['region = "ap-southeast-1"']
    for a in range(accounts):
        parts.append(
            f'[[accounts]]\nid = "{9_300_000_000_000_000 + a}"\nname = "big{a}"\ncams = true\n'
            f'  [[accounts.access_keys]]\n  id = "LTAI5tBig{a:07d}"\n  secret = "s-{a}"'
        )
        parts += [f'  [[accounts.spaces]]\n  id = "big-{a}-{k}"' for k in range(spaces)]
    return "\n".join(parts) + "\n"


def test_a_world_of_more_ids_than_one_statement_binds_applies_and_reapplies(
    database: Database,
) -> None:
    assert ACCOUNTS * SPACES > 65_535 > IN_BATCH
    world = parse_world(_world_text(ACCOUNTS, SPACES))
    apply_world(database, world, "<big>")
    apply_world(database, world, "<big>")  # every id now has an owner to look up
    loaded = load_world_from(database)
    assert sum(len(a.spaces) for a in loaded.accounts) == ACCOUNTS * SPACES
    remove_accounts(database, [a.id for a in world.accounts])
    assert load_world_from(database).accounts == ()
