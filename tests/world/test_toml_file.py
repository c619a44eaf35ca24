"""The world file: strict reading, problems with their paths, and writing it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cams_server.model.world import (
    DEFAULT_REGION,
    AccessKeySpec,
    AccountSpec,
    GroupSpec,
    IsvCodeSpec,
    PolicySpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
    World,
)
from cams_server.world.toml_file import dump_world, load_world, parse_world
from cams_server.world.validation import WorldError

# The example of CONTRACT.md section 4, verbatim.
CONTRACT_EXAMPLE = """\
region = "ap-southeast-1"                   # optional, the default

[[accounts]]
id = "1000000000000001"                     # account UID
name = "acme"
cams = true                                 # has opened CAMS; false -> Product.Unsubscript

  [[accounts.access_keys]]                  # the account's own (root) keys
  id = "LTAI5tAcmeRoot000001"
  secret = "acme-root-secret"
  status = "Active"                         # or "Inactive"

  [[accounts.policies]]                     # custom policies; system ones need no declaring
  name = "RoiOnly"
  document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric","Resource":"*"}]}'

  [[accounts.groups]]
  name = "ops"
  policies = ["AliyunCAMSReadOnlyAccess"]

  [[accounts.users]]                        # RAM users
  name = "alice"
  groups = ["ops"]
  policies = ["RoiOnly"]
    [[accounts.users.access_keys]]
    id = "LTAI5tAcmeAlice00001"
    secret = "alice-secret"

  [[accounts.roles]]                        # RAM roles, assumed through STS AssumeRole
  name = "roi-operator"
  trust = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"RAM":["acs:ram::1000000000000001:root"]}}]}'
  policies = ["RoiOnly"]
  max_session_duration = 3600

  [[accounts.spaces]]                       # CAMS spaces (channels); their id is a CustSpaceId
  id = "cams-acme-main"
  waba_id = "102290129340398"               # optional: the WhatsApp Business Account behind it

  [[accounts.spaces]]
  id = "cams-acme-cust-1"
  isv_customer = "Customer One Ltd"         # an ISV sub-customer space of this account

  [[accounts.isv_codes]]                    # ISV verification codes (IsvCode)
  code = "skdi3kksloslikdkkdk"
  user = "alice"
  spaces = ["cams-acme-cust-1"]
  expires = 2027-01-01T00:00:00Z            # optional
"""  # noqa: E501

ROI_ONLY = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric",'
    '"Resource":"*"}]}'
)
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::1000000000000001:root"]}}]}'
)


def test_contract_example_parses_to_the_declared_world() -> None:
    world = parse_world(CONTRACT_EXAMPLE, "contract.toml")
    assert world == World(
        region="ap-southeast-1",
        accounts=(
            AccountSpec(
                id="1000000000000001",
                name="acme",
                cams=True,
                access_keys=(AccessKeySpec("LTAI5tAcmeRoot000001", "acme-root-secret", "Active"),),
                policies=(PolicySpec("RoiOnly", ROI_ONLY),),
                groups=(GroupSpec("ops", ("AliyunCAMSReadOnlyAccess",)),),
                users=(
                    UserSpec(
                        "alice",
                        ("ops",),
                        ("RoiOnly",),
                        (AccessKeySpec("LTAI5tAcmeAlice00001", "alice-secret"),),
                    ),
                ),
                roles=(RoleSpec("roi-operator", TRUST, ("RoiOnly",), 3600),),
                spaces=(
                    SpaceSpec("cams-acme-main", waba_id="102290129340398"),
                    SpaceSpec("cams-acme-cust-1", isv_customer="Customer One Ltd"),
                ),
                isv_codes=(
                    IsvCodeSpec(
                        "skdi3kksloslikdkkdk",
                        "alice",
                        ("cams-acme-cust-1",),
                        datetime(2027, 1, 1, tzinfo=UTC),
                    ),
                ),
            ),
        ),
    )


def test_defaults() -> None:
    world = parse_world('[[accounts]]\nid = "1"\nname = "solo"\n')
    assert world.region == DEFAULT_REGION
    (account,) = world.accounts
    assert account.cams is True
    assert account.access_keys == account.users == account.spaces == ()
    assert parse_world("") == World()


def test_access_key_status_defaults_to_active() -> None:
    world = parse_world(
        '[[accounts]]\nid = "1"\nname = "a"\n'
        '[[accounts.access_keys]]\nid = "LTAI00000001"\nsecret = "s"\n'
    )
    key = world.accounts[0].access_keys[0]
    assert key.status == "Active"
    assert key.active


def test_numeric_account_id_is_read_as_text() -> None:
    world = parse_world('[[accounts]]\nid = 1000000000000001\nname = "a"\n')
    assert world.accounts[0].id == "1000000000000001"


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        ("2027-01-01T00:00:00Z", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01T08:00:00+08:00", datetime(2027, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))),
        ("2027-01-01T00:00:00", datetime(2027, 1, 1, tzinfo=UTC)),  # local: read as UTC
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_isv_code_expiry_forms(expires: str, expected: datetime) -> None:
    text = CONTRACT_EXAMPLE.replace("2027-01-01T00:00:00Z", expires)
    (code,) = parse_world(text).accounts[0].isv_codes
    assert code.expires == expected
    assert code.expires is not None
    assert code.expires.tzinfo is not None


def test_load_world_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "world.toml"
    path.write_text(CONTRACT_EXAMPLE, "utf-8")
    assert load_world(path) == parse_world(CONTRACT_EXAMPLE)
    assert load_world(str(path)) == parse_world(CONTRACT_EXAMPLE)


def test_load_world_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(WorldError) as info:
        load_world(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    assert "cannot read" in info.value.problems[0]


def test_load_world_refuses_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('region = "ap-southeast-1" # caf\xe9\n'.encode("latin-1"))
    with pytest.raises(WorldError) as info:
        load_world(path)
    assert "UTF-8" in info.value.problems[0]


def test_load_world_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[[accounts]]\nid = "1"\nname = "a"\ncolour = "red"\n', "utf-8")
    with pytest.raises(WorldError) as info:
        load_world(path)
    assert info.value.source == str(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert f"{path}: accounts[0].colour: unknown key" in message


# --------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------


def test_round_trip_rich_world(rich_world: Path) -> None:
    world = load_world(rich_world)
    text = dump_world(world)
    assert parse_world(text) == world
    assert dump_world(parse_world(text)) == text  # stable


def test_round_trip_contract_example() -> None:
    world = parse_world(CONTRACT_EXAMPLE)
    assert parse_world(dump_world(world)) == world


def test_round_trip_keeps_details() -> None:
    world = World(
        region="eu-central-1",
        accounts=(
            AccountSpec(
                id="42",
                name="quirky",
                cams=False,
                access_keys=(AccessKeySpec("LTAIquirky0001", 'se"cr\\et\n', "Inactive"),),
                policies=(
                    PolicySpec(
                        "Multi",
                        '{\n  "Version": "1",\n  "Statement": [{"Effect": "Deny", '
                        '"Action": "*", "Resource": "*"}]\n}',
                    ),
                ),
                roles=(RoleSpec("long", TRUST.replace("1000000000000001", "42"), (), 43200),),
                spaces=(SpaceSpec("s-1", isv_customer="Société Générale 株式会社"),),
                users=(UserSpec("u"),),
                isv_codes=(IsvCodeSpec("c", "u", (), datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)),),
            ),
        ),
    )
    assert parse_world(dump_world(world)) == world


# --------------------------------------------------------------------------------------
# Structural problems
# --------------------------------------------------------------------------------------


def problems_of(text: str, source: str = "w.toml") -> list[str]:
    with pytest.raises(WorldError) as info:
        parse_world(text, source)
    assert info.value.source == source
    return info.value.problems


def test_invalid_toml_mentions_the_line() -> None:
    (problem,) = problems_of('region = "ap-southeast-1"\n[[accounts]]\nid = "1\nname = "a"\n')
    assert problem.startswith("not valid TOML")
    assert "line 3" in problem


def test_invalid_toml_message_names_the_source() -> None:
    with pytest.raises(WorldError) as info:
        parse_world("x = = 1", "worlds/prod.toml")
    assert str(info.value).startswith("worlds/prod.toml: ")
    assert "line 1" in str(info.value)


def test_world_error_is_a_value_error() -> None:
    assert issubclass(WorldError, ValueError)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('regions = "ap-southeast-1"\n', "regions"),
        ('[[accounts]]\nid = "1"\nname = "a"\nowner = "x"\n', "accounts[0].owner"),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.users]]\nname = "u"\nemail = "x"\n',
            "accounts[0].users[0].email",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.users]]\nname = "u"\n'
            '[[accounts.users.access_keys]]\nid = "LTAI00000001"\nsecret = "s"\nnote = "x"\n',
            "accounts[0].users[0].access_keys[0].note",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.spaces]]\nid = "s"\nphone = "1"\n',
            "accounts[0].spaces[0].phone",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.roles]]\nname = "r"\n'
            f"trust = '{TRUST}'\nmax_duration = 3600\n",
            "accounts[0].roles[0].max_duration",
        ),
    ],
    ids=["top-level", "account", "user", "user-access-key", "space", "role"],
)
def test_unknown_keys(text: str, path: str) -> None:
    (problem,) = problems_of(text)
    assert problem.startswith(f"{path}: unknown key")
    assert "allowed here" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("region = 5\n", "region: expected str"),
        ('accounts = "acme"\n', "accounts: expected an array of tables"),
        ('[[accounts]]\nid = ["1"]\nname = "a"\n', "accounts[0].id: expected str"),
        ('[[accounts]]\nid = "1"\nname = 7\n', "accounts[0].name: expected str"),
        ('[[accounts]]\nid = "1"\nname = "a"\ncams = "yes"\n', "accounts[0].cams: expected bool"),
        ('[[accounts]]\nid = "1"\nname = "a"\ncams = 1\n', "accounts[0].cams: expected bool"),
        (
            '[[accounts]]\nid = "1"\nname = "a"\nusers = "alice"\n',
            "accounts[0].users: expected an array of tables",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.groups]]\nname = "g"\n'
            'policies = "RoiOnly"\n',
            "accounts[0].groups[0].policies: expected a list of strings",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.users]]\nname = "u"\ngroups = [1]\n',
            "accounts[0].users[0].groups: expected a list of strings",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.roles]]\nname = "r"\n'
            f"trust = '{TRUST}'\nmax_session_duration = \"3600\"\n",
            "accounts[0].roles[0].max_session_duration: expected int",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.roles]]\nname = "r"\n'
            f"trust = '{TRUST}'\nmax_session_duration = true\n",
            "accounts[0].roles[0].max_session_duration: expected int",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.policies]]\nname = "P"\n'
            'document = { Version = "1" }\n',
            "accounts[0].policies[0].document: expected str",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.users]]\nname = "u"\n'
            '[[accounts.isv_codes]]\ncode = "c"\nuser = "u"\nexpires = "2027-01-01"\n',
            "accounts[0].isv_codes[0].expires: expected a TOML date-time",
        ),
        ('[[accounts]]\nid = "1"\nname = ""\n', "accounts[0].name: must not be empty"),
        ('[[accounts]]\nid = "1"\n', "accounts[0].name: required key is missing"),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.access_keys]]\nid = "LTAI00000001"\n',
            "accounts[0].access_keys[0].secret: required key is missing",
        ),
        (
            '[[accounts]]\nid = "1"\nname = "a"\n[[accounts.roles]]\nname = "r"\n',
            "accounts[0].roles[0].trust: required key is missing",
        ),
    ],
    ids=[
        "region",
        "accounts-not-array",
        "account-id-list",
        "account-name-int",
        "cams-string",
        "cams-int",
        "users-string",
        "group-policies-string",
        "user-groups-ints",
        "duration-string",
        "duration-bool",
        "document-table",
        "expires-string",
        "empty-name",
        "missing-name",
        "missing-secret",
        "missing-trust",
    ],
)
def test_wrong_types_and_missing_keys(text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize("status", ["Enabled", "active", ""])
def test_bad_access_key_status(status: str) -> None:
    problems = problems_of(
        '[[accounts]]\nid = "1"\nname = "a"\n'
        f'[[accounts.access_keys]]\nid = "LTAI00000001"\nsecret = "s"\nstatus = "{status}"\n'
    )
    assert any(
        p.startswith("accounts[0].access_keys[0].status: must be Active or Inactive")
        for p in problems
    ), problems


def test_all_structural_problems_are_reported_at_once() -> None:
    problems = problems_of(
        'colour = "red"\n'
        '[[accounts]]\nid = "1"\nname = "a"\nowner = "x"\ncams = "yes"\n'
        '[[accounts.users]]\nname = "u"\nemail = "x"\n'
    )
    assert len(problems) == 4
    assert sorted(p.split(":")[0] for p in problems) == [
        "accounts[0].cams",
        "accounts[0].owner",
        "accounts[0].users[0].email",
        "colour",
    ]


def test_every_problem_line_names_the_source() -> None:
    with pytest.raises(WorldError) as info:
        parse_world("a = 1\nb = 2\n", "site/world.toml")
    lines = str(info.value).splitlines()
    assert lines[0] == "site/world.toml: the world is not valid, nothing was applied:"
    assert lines[1:] == [f"  site/world.toml: {p}" for p in info.value.problems]
    assert len(info.value.problems) == 2
