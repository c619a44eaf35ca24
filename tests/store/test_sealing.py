"""Secrets at rest: what the database files hold, the master key, its rotation, and the
sealing of a database an older version wrote in clear."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alibabacloud_cams20200606.client import Client as CamsClient
from alibabacloud_cams20200606.models import EnableWhatsappROIMetricRequest
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_sts20150401.models import AssumeRoleRequest
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config

from cams_server.model.world import World
from cams_server.store.database import DIAGNOSTIC_KEY, STS_KEY, Database
from cams_server.store.keyring import KeySource, MasterKey, MasterKeyError, key_source
from cams_server.store.schema import WORLD_TABLES, meta, world_accounts
from cams_server.store.sealing import rotate_master_key
from cams_server.store.world_repo import apply_world, load_world_from
from cams_server.testing import CamsServer
from cams_server.world.toml_file import load_world
from tests.sdk.clients import KEYS, enable, v3_client

CLI = [sys.executable, "-m", "cams_server.cli"]
WORLDS = Path(__file__).parent.parent / "worlds"
ACME = "1000000000000001"


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CAMS_MASTER_KEY"}
    return subprocess.run(
        [*CLI, *args],
        env={**environ, "CAMS_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command ends with (exit code 1, no traceback; `serve` logs
    its start-up lines before it)."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("cams-server:")] == lines[-1:]
    return lines[-1]


def secrets_of(world: World) -> list[str]:
    keys = [k for a in world.accounts for k in a.access_keys]
    keys += [k for a in world.accounts for u in a.users for k in u.access_keys]
    assert keys
    return [k.secret for k in keys]


def encodings(key: bytes) -> list[bytes]:
    """Every way a key could be written down in a row: raw, base64, URL-safe base64."""
    return [
        key,
        base64.b64encode(key),
        base64.urlsafe_b64encode(key),
        base64.urlsafe_b64encode(key).rstrip(b"="),
    ]


def on_disk(home: Path) -> bytes:
    """The raw bytes of the SQLite database and its WAL, as another local user would read
    them."""
    files = [home / "cams.db", home / "cams.db-wal"]
    return b"".join(f.read_bytes() for f in files if f.exists())


def assert_holds_none(raw: bytes, secrets: list[str], keys: list[bytes]) -> None:
    found = [s for s in secrets if s.encode() in raw]
    found += [f"key {k[:4]!r}..." for key in keys for k in encodings(key) if k in raw]
    assert found == [], f"in clear on disk: {found}"


def master_key_in(home: Path) -> bytes:
    return MasterKey.parse((home / "master.key").read_text(), "master.key").material


def stored_keys(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The AccessKeys of an account's stored document, as it stores them (the root's
    and its users'): editing one edits the document."""
    return [*document["access_keys"], *(k for u in document["users"] for k in u["access_keys"])]


def edit_secrets(conn: sa.Connection, secret: Callable[[str, str], str]) -> None:
    """Replace each AccessKey's stored secret by `secret(key id, stored secret)`, in
    place in the documents (what someone with write access to the database could do)."""
    for account_id, document in conn.execute(
        sa.select(world_accounts.c.account_id, world_accounts.c.document)
    ).all():
        for key in stored_keys(document):
            key["secret"] = secret(key["id"], key["secret"])
        conn.execute(
            world_accounts.update()
            .where(world_accounts.c.account_id == account_id)
            .values(document=document)
        )


# -- the raw database holds no secret -----------------------------------------------------------


def test_sqlite_files_hold_no_secret_after_world_apply_and_assume_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world_file = WORLDS / "sts.toml"
    world = load_world(world_file)
    home = tmp_path / "home"
    applied = cli(home, "world", "apply", str(world_file))
    assert applied.returncode == 0, applied.stderr
    with CamsServer(home=home, tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        sts = StsClient(
            Config(
                access_key_id="LTAI5tAcmeIvan000001",
                access_key_secret="ivan-secret",
                endpoint=server.endpoint,
                protocol="https",
            )
        )
        request = AssumeRoleRequest(
            role_arn=f"acs:ram::{ACME}:role/roi-operator", role_session_name="s1"
        )
        creds = sts.assume_role(request).body.credentials
        client = CamsClient(
            Config(
                access_key_id=creds.access_key_id,
                access_key_secret=creds.access_key_secret,
                security_token=creds.security_token,
                endpoint=server.endpoint,
                protocol="https",
            )
        )
        assert client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code == "OK"
        server.apply_world(world_file)  # a second apply while serving, through the server's key
        assert server.state is not None
        database = server.state.database
        keys = [database.secret_key(STS_KEY), database.secret_key(DIAGNOSTIC_KEY)]
        secrets = [*secrets_of(world), creds.access_key_secret]
        assert (home / "cams.db-wal").stat().st_size > 0  # the WAL is read while it has frames
        assert_holds_none(on_disk(home), secrets, keys)
        keys.append(master_key_in(home))  # nor the key that opens the rest
        assert_holds_none(on_disk(home), secrets, keys)
    assert_holds_none(on_disk(home), secrets, keys)


def test_postgres_columns_hold_no_secret(
    postgres_url: str, tmp_path: Path, rich_world: Path
) -> None:
    world = load_world(rich_world)
    database = Database(postgres_url, key_source(tmp_path, environ={}))
    try:
        database.migrate()
        apply_world(database, world, str(rich_world))
        assert load_world_from(database) == world  # what is sealed opens again
        keys = [database.secret_key(STS_KEY), database.secret_key(DIAGNOSTIC_KEY)]
        with database.transaction() as conn:
            as_stored = sa.select(sa.cast(world_accounts.c.document, sa.Text))  # not parsed
            documents = [str(d) for d in conn.execute(as_stored).scalars()]
            values = [str(v) for v in conn.execute(sa.select(meta.c.value)).scalars()]
    finally:
        database.dispose()
    stored = [k["secret"] for d in documents for k in stored_keys(json.loads(d))]
    assert len(stored) == len(secrets_of(world))
    assert all(value.startswith("s1:") for value in stored)
    raw = "\n".join(documents + values).encode()
    assert_holds_none(raw, secrets_of(world), [*keys, master_key_in(tmp_path)])
    seal = json.loads(next(v for v in values if v.startswith('{"v"')))
    assert seal["key_id"] == MasterKey(master_key_in(tmp_path)).key_id


def test_a_sealed_value_moved_to_another_row_or_replaced_in_clear_does_not_open(
    tmp_path: Path, rich_world: Path
) -> None:
    home = tmp_path / "home"
    assert cli(home, "world", "apply", str(rich_world)).returncode == 0
    alice, olga = KEYS["alice"][0], KEYS["olga"][0]
    engine = sa.create_engine(f"sqlite:///{home / 'cams.db'}")
    try:
        with engine.begin() as conn:
            documents = conn.execute(sa.select(world_accounts.c.document)).scalars()
            sealed = {k["id"]: k["secret"] for d in documents for k in stored_keys(d)}
            # olga's sealed secret copied into alice's key
            edit_secrets(conn, lambda i, s: sealed[olga] if i == alice else s)
        assert refusal(cli(home, "world", "export")) == (
            f"cams-server: the stored secret of AccessKey {alice} does not open under this "
            "database's data key (it was altered, or copied from another row or database); "
            "apply the world file that declares it again to store it afresh"
        )
        with engine.begin() as conn:  # the database is sealed: a cleartext value is no secret
            edit_secrets(conn, lambda i, s: "alice-secret" if i == alice else s)
        result = cli(home, "world", "export")
        assert f"AccessKey {alice} does not open" in refusal(result)
        assert result.stdout == ""
    finally:
        engine.dispose()
    assert cli(home, "world", "apply", str(rich_world)).returncode == 0
    assert cli(home, "world", "export").returncode == 0


# -- a wrong or missing master key ---------------------------------------------------------------


def test_a_wrong_or_missing_master_key_is_refused_with_what_to_give(
    tmp_path: Path, rich_world: Path
) -> None:
    home = tmp_path / "home"
    assert cli(home, "world", "apply", str(rich_world)).returncode == 0
    other = tmp_path / "other.key"
    other.write_text(MasterKey.generate().text())
    served = refusal(
        cli(home, "serve", "--port", "0", "--no-demo", "--master-key-file", str(other))
    )
    key_id = MasterKey(master_key_in(home)).key_id
    sealed_with = f"(it was sealed with key id {key_id[:12]}…; this key's id is "
    assert served.startswith(
        f"cams-server: the master key in {other} does not open this database {sealed_with}"
    )
    assert served.endswith("); give the right --master-key-file or CAMS_MASTER_KEY")

    wrong = MasterKey.generate().text().strip()
    for args in (["world", "export"], ["roi", "list"], ["ram", "decode-diagnostic", "x"]):
        result = cli(home, *args, CAMS_MASTER_KEY=wrong)
        assert result.stderr.count("\n") == 1, args
        assert refusal(result).startswith(
            f"cams-server: the master key in CAMS_MASTER_KEY does not open this database "
            f"{sealed_with}"
        )

    malformed = refusal(cli(home, "world", "export", CAMS_MASTER_KEY="not-a-key"))
    assert malformed.startswith(
        "cams-server: CAMS_MASTER_KEY does not hold a master key: it is not base64"
    )

    with pytest.raises(MasterKeyError) as info:
        CamsServer(home=home, master_key_file=other).start()
    assert str(info.value).startswith(f"the master key in {other} does not open this database")

    (home / "master.key").rename(tmp_path / "master.key.saved")
    missing = refusal(cli(home, "serve", "--port", "0", "--no-demo"))
    assert missing == (
        f"cams-server: no master key: {home / 'master.key'} does not exist, and this database "
        f"was sealed with key id {key_id[:12]}…; restore that file from your backup, or give "
        "the right --master-key-file or CAMS_MASTER_KEY"
    )
    assert not (home / "master.key").exists()  # a sealed database never gets a new key
    given = cli(home, "world", "export", "--master-key-file", str(tmp_path / "master.key.saved"))
    assert given.returncode == 0, given.stderr


# -- a database written in clear by an older version --------------------------------------------


def legacy_home(tmp_path: Path, world_file: Path) -> tuple[Path, dict[str, bytes]]:
    """A home as the previous version left it: the schema at head, every secret in clear
    (AccessKey secrets; the server keys as base64 in cams_meta), the directory 0755 and
    the database 0644. The world is written, deleted and written again, as successive
    `world apply` runs would, so freed pages hold cleartext too."""
    world = load_world(world_file)
    scratch_home = tmp_path / "scratch"
    scratch = Database(
        f"sqlite:///{scratch_home / 'cams.db'}", key_source(scratch_home, environ={})
    )
    scratch.migrate()
    apply_world(scratch, world, str(world_file))
    with scratch.transaction() as conn:
        rows = {
            t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()] for t in WORLD_TABLES
        }
    scratch.dispose()
    clear = {k.id: k.secret for a in world.accounts for k in a.access_keys}
    clear |= {k.id: k.secret for a in world.accounts for u in a.users for k in u.access_keys}
    for row in rows[world_accounts.name]:
        for key in stored_keys(row["document"]):
            key["secret"] = clear[key["id"]]
    server_keys = {STS_KEY: os.urandom(32), DIAGNOSTIC_KEY: os.urandom(32)}

    home = tmp_path / "home"
    legacy = Database(f"sqlite:///{home / 'cams.db'}")  # no master key: the schema only
    legacy.migrate()
    with legacy.transaction() as conn:
        for name, key in server_keys.items():
            conn.execute(meta.delete().where(meta.c.key == name))
            conn.execute(meta.insert().values(key=name, value=base64.b64encode(key).decode()))
        conn.execute(meta.insert().values(key="region", value=world.region))
    for _ in range(2):
        with legacy.transaction() as conn:
            for table in reversed(WORLD_TABLES):
                conn.execute(table.delete())
            for table in WORLD_TABLES:
                conn.execute(table.insert(), rows[table.name])
            Database.bump_world_version(conn)
    legacy.dispose()
    home.chmod(0o755)
    (home / "cams.db").chmod(0o644)
    return home, server_keys


def test_a_database_written_in_clear_is_sealed_at_first_start(
    tmp_path: Path, rich_world: Path
) -> None:
    home, server_keys = legacy_home(tmp_path, rich_world)
    secrets = secrets_of(load_world(rich_world))
    assert all(s.encode() in on_disk(home) for s in secrets)  # the old way: all in clear

    with CamsServer(mode="process", home=home) as server:
        for who, space in (("acme-root", None), ("alice", "cams-acme-main"), ("gus", None)):
            assert enable(v3_client(server.endpoint, who), space)["Code"] == "OK", who
        assert_holds_none(on_disk(home), secrets, list(server_keys.values()))
    assert_holds_none(on_disk(home), secrets, list(server_keys.values()))

    log = (home / "server.log").read_text()
    assert f"sealed {len(secrets) + 2} secret(s) this database held in clear" in log
    assert f"tightened the permissions of {home} from 0o755 to 0o700" in log
    assert f"tightened the permissions of {home / 'cams.db'} from 0o644 to 0o600" in log
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "cams.db").stat().st_mode & 0o777 == 0o600
    # The server keys are kept, only sealed: tokens and diagnostics issued before still open.
    database = Database(f"sqlite:///{home / 'cams.db'}", key_source(home, environ={}))
    try:
        database.migrate()
        assert database.secret_key(STS_KEY) == server_keys[STS_KEY]
        assert database.secret_key(DIAGNOSTIC_KEY) == server_keys[DIAGNOSTIC_KEY]
    finally:
        database.dispose()


# -- rotation ------------------------------------------------------------------------------------


def test_rotation_while_a_server_runs(tmp_path: Path, rich_world: Path) -> None:
    """A server in a child process keeps answering SDK calls during and after `keys rotate`,
    loads a later world change (re-reading the rotated key file), and a restart with the
    old key is refused while the new one works."""
    home = tmp_path / "home"
    old_key = tmp_path / "old.key"
    with CamsServer(world=rich_world, mode="process", home=home) as server:
        old_key.write_bytes((home / "master.key").read_bytes())
        answers: list[str] = []
        stop = threading.Event()

        def call_all_along() -> None:
            client = v3_client(server.endpoint, "acme-root")
            while not stop.is_set():
                try:
                    answers.append(str(enable(client)["Code"]))
                except ClientException as exc:
                    answers.append(str(exc.code))
                time.sleep(0.25)  # under the 5 calls per second of the account

        caller = threading.Thread(target=call_all_along)
        caller.start()
        try:
            time.sleep(0.6)
            rotated = cli(home, "keys", "rotate")
            time.sleep(0.6)
        finally:
            stop.set()
            caller.join(30)
        assert rotated.returncode == 0, rotated.stderr
        count = len(secrets_of(load_world(rich_world))) + 2
        assert re.fullmatch(
            rf"re-sealed {count} secret\(s\) under master key id [0-9a-f]{{12}}… in "
            rf"[0-9.]+ s; the key is in {re.escape(str(home / 'master.key'))}: back it up now "
            r"\(the old key no longer opens this database\)\n",
            rotated.stdout,
        ), rotated.stdout
        assert len(answers) >= 4 and set(answers) == {"OK"}, answers
        assert (home / "master.key").read_bytes() != old_key.read_bytes()
        assert (home / "master.key").stat().st_mode & 0o777 == 0o600
        assert not (home / "master.key.next").exists()

        # A later world change (alice's secret) reaches the running server.
        changed = tmp_path / "changed.toml"
        changed.write_text(rich_world.read_text().replace('"alice-secret"', '"alice-secret-2"'))
        assert cli(home, "world", "apply", str(changed)).returncode == 0
        deadline = time.monotonic() + 10
        while True:
            try:
                client = v3_client(server.endpoint, "alice", secret="alice-secret-2")
                assert enable(client, "cams-acme-main")["Code"] == "OK"
                break
            except ClientException as exc:
                assert exc.code == "SignatureDoesNotMatch", exc
                assert time.monotonic() < deadline, "the server did not load the change"
                time.sleep(0.3)
    log = (home / "server.log").read_text()
    assert "cannot load the changed world" not in log

    refused = refusal(
        cli(home, "serve", "--port", "0", "--no-demo", "--master-key-file", str(old_key))
    )
    assert refused.startswith(
        f"cams-server: the master key in {old_key} does not open this database"
    )
    with pytest.raises(RuntimeError) as info:
        CamsServer(mode="process", home=home, master_key_file=old_key).start()
    assert "does not open this database" in str(info.value)
    with CamsServer(mode="process", home=home) as restarted:
        client = v3_client(restarted.endpoint, "alice", secret="alice-secret-2")
        assert enable(client, "cams-acme-main")["Code"] == "OK"


def test_rotation_of_a_key_given_in_the_environment(tmp_path: Path, rich_world: Path) -> None:
    home = tmp_path / "home"
    first = MasterKey.generate().text().strip()
    assert cli(home, "world", "apply", str(rich_world), CAMS_MASTER_KEY=first).returncode == 0
    assert not (home / "master.key").exists()  # the environment's key is the key

    refused = cli(home, "keys", "rotate", CAMS_MASTER_KEY=first)
    assert refused.returncode == 2
    assert "give --new-master-key-file PATH" in refused.stderr

    new_file = tmp_path / "new.key"
    rotated = cli(
        home, "keys", "rotate", "--new-master-key-file", str(new_file), CAMS_MASTER_KEY=first
    )
    assert rotated.returncode == 0, rotated.stderr
    assert new_file.stat().st_mode & 0o777 == 0o600
    assert f"set CAMS_MASTER_KEY to the content of {new_file}" in rotated.stdout
    assert not (home / "master.key").exists()

    assert cli(home, "world", "export", CAMS_MASTER_KEY=first).returncode == 1
    second = new_file.read_text().strip()
    exported = cli(home, "world", "export", CAMS_MASTER_KEY=second)
    assert exported.returncode == 0, exported.stderr
    assert '"alice-secret"' in exported.stdout
    by_file = cli(
        home, "world", "export", "--master-key-file", str(new_file), CAMS_MASTER_KEY=first
    )
    assert by_file.stdout == exported.stdout  # --master-key-file comes before the environment


def test_an_interrupted_rotation_loses_no_key(tmp_path: Path, rich_world: Path) -> None:
    world = load_world(rich_world)
    home = tmp_path / "home"
    source = key_source(home, environ={})
    url = f"sqlite:///{home / 'cams.db'}"
    database = Database(url, source)
    database.migrate()
    apply_world(database, world, str(rich_world))
    staged = MasterKey.generate()
    source.stage(staged)
    assert database.vault is not None
    database.vault.reseal(database, staged)  # the rotation dies before moving the key
    database.dispose()
    current = source.read()
    assert current is not None and current.key_id != staged.key_id

    def reopened() -> Database:
        again = Database(url, source)
        again.migrate()  # finds the database's key staged next to the key file
        assert load_world_from(again) == world
        return again

    again = reopened()
    newest = MasterKey.generate()
    rotate_master_key(again, newest)  # first moves the staged key into place
    again.dispose()
    current = source.read()
    assert current is not None and current.key_id == newest.key_id
    assert source.staged_path is not None and not source.staged_path.exists()
    reopened().dispose()


def test_rotation_to_the_key_in_use_is_refused(tmp_path: Path, rich_world: Path) -> None:
    home = tmp_path / "home"
    assert cli(home, "world", "apply", str(rich_world)).returncode == 0
    result = cli(home, "keys", "rotate", "--new-master-key-file", str(home / "master.key"))
    assert "the new master key is the one already in use" in refusal(result)
    assert cli(home, "world", "export").returncode == 0


def test_key_source_precedence(tmp_path: Path) -> None:
    """--master-key-file, else CAMS_MASTER_KEY, else $CAMS_HOME/master.key."""
    env = {"CAMS_MASTER_KEY": "k"}
    assert key_source(tmp_path, tmp_path / "f", env) == KeySource(path=tmp_path / "f")
    assert key_source(tmp_path, None, env) == KeySource(text="k")
    assert key_source(tmp_path, None, {}) == KeySource(path=tmp_path / "master.key")


def test_renewing_the_server_keys_ends_credentials_minted_with_the_old_ones(
    tmp_path: Path,
) -> None:
    """An STS key read from a copy made before sealing mints credentials forever, unless
    `keys rotate --renew-server-keys` replaces it (effective as servers restart)."""
    home = tmp_path / "home"
    world = Path(__file__).parent.parent / "worlds" / "sts.toml"

    def call_with(server: CamsServer, creds: object) -> str:
        client = CamsClient(
            Config(
                access_key_id=creds.access_key_id,  # type: ignore[attr-defined]
                access_key_secret=creds.access_key_secret,  # type: ignore[attr-defined]
                security_token=creds.security_token,  # type: ignore[attr-defined]
                endpoint=server.endpoint,
                protocol="http",
            )
        )
        try:
            return str(client.enable_whatsapp_roimetric(EnableWhatsappROIMetricRequest()).body.code)
        except ClientException as exc:
            return str(exc.code)

    with CamsServer(world=world, home=home) as server:
        assert server.state is not None
        stolen = server.state.sts.issue(
            "1000000000000001", "roi-operator", "s", int(time.time()), 3600, None, "x"
        )
        assert call_with(server, stolen) == "OK"
    renewed = cli(home, "keys", "rotate", "--renew-server-keys")
    assert renewed.returncode == 0, renewed.stderr
    with CamsServer(home=home) as server:
        assert call_with(server, stolen) == "InvalidSecurityToken.Malformed"
