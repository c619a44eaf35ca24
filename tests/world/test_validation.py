"""What makes a world valid: unique ids, resolvable references, sound policies."""

from __future__ import annotations

import pytest

from cams_server.model.world import AccessKeySpec, AccountSpec, SpaceSpec, World
from cams_server.world.toml_file import parse_world
from cams_server.world.validation import WorldError, policy_warnings, validate_world

ROI_ONLY = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric",'
    '"Resource":"*"}]}'
)
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::1000000000000001:root"]}}]}'
)

# A valid world that each test below breaks in one place (or two).
BASE = f"""\
[[accounts]]
id = "1000000000000001"
name = "acme"

  [[accounts.access_keys]]
  id = "LTAI5tAcmeRoot000001"
  secret = "acme-root-secret"

  [[accounts.policies]]
  name = "RoiOnly"
  document = '{ROI_ONLY}'

  [[accounts.groups]]
  name = "ops"
  policies = ["AliyunCAMSReadOnlyAccess"]

  [[accounts.users]]
  name = "alice"
  groups = ["ops"]
  policies = ["RoiOnly"]
    [[accounts.users.access_keys]]
    id = "LTAI5tAcmeAlice00001"
    secret = "alice-secret"

  [[accounts.roles]]
  name = "roi-operator"
  trust = '{TRUST}'
  policies = ["RoiOnly"]
  max_session_duration = 3600

  [[accounts.spaces]]
  id = "cams-acme-main"

  [[accounts.spaces]]
  id = "cams-acme-cust-1"
  isv_customer = "Customer One Ltd"

  [[accounts.isv_codes]]
  code = "skdi3kksloslikdkkdk"
  user = "alice"
  spaces = ["cams-acme-cust-1"]

[[accounts]]
id = "2000000000000002"
name = "globex"

  [[accounts.access_keys]]
  id = "LTAI5tGlobexRoot0001"
  secret = "globex-root-secret"

  [[accounts.spaces]]
  id = "cams-globex-main"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorldError) as info:
        parse_world(text, "world.toml")
    return info.value.problems


def test_base_world_is_valid() -> None:
    world = parse_world(BASE)
    assert [a.name for a in world.accounts] == ["acme", "globex"]


def test_rich_world_is_valid(rich_world: object) -> None:
    from cams_server.world.toml_file import load_world

    assert len(load_world(str(rich_world)).accounts) == 3


# (id, replace this, with this, the problem's path, a word of its message)
BREAKS: list[tuple[str, str, str, str, str]] = [
    (
        "duplicate-account-id",
        'id = "2000000000000002"',
        'id = "1000000000000001"',
        "accounts[1].id",
        "duplicate account id",
    ),
    (
        "account-id-not-digits",
        'id = "2000000000000002"',
        'id = "globex"',
        "accounts[1].id",
        "account UID",
    ),
    (
        "duplicate-access-key-across-accounts",
        'id = "LTAI5tGlobexRoot0001"',
        'id = "LTAI5tAcmeAlice00001"',
        "accounts[1].access_keys[0].id",
        "duplicate AccessKey id",
    ),
    (
        "access-key-id-format",
        'id = "LTAI5tGlobexRoot0001"',
        'id = "LTAI-bad"',
        "accounts[1].access_keys[0].id",
        "AccessKey id",
    ),
    (
        "duplicate-space-across-accounts",
        'id = "cams-globex-main"',
        'id = "cams-acme-main"',
        "accounts[1].spaces[0].id",
        "duplicate space id",
    ),
    (
        "space-id-format",
        'id = "cams-globex-main"',
        'id = "has space"',
        "accounts[1].spaces[0].id",
        "space id",
    ),
    (
        "undeclared-group",
        'groups = ["ops"]',
        'groups = ["ops", "admins"]',
        "accounts[0].users[0].groups[1]",
        "'admins'",
    ),
    (
        "undeclared-user-policy",
        'policies = ["RoiOnly"]\n    [[accounts.users.access_keys]]',
        'policies = ["RoiOnlyy"]\n    [[accounts.users.access_keys]]',
        "accounts[0].users[0].policies[0]",
        "'RoiOnlyy'",
    ),
    (
        "undeclared-group-policy",
        'policies = ["AliyunCAMSReadOnlyAccess"]',
        'policies = ["AliyunCAMSReadAccess"]',
        "accounts[0].groups[0].policies[0]",
        "system policy",
    ),
    (
        "undeclared-role-policy",
        'policies = ["RoiOnly"]\n  max_session_duration',
        'policies = ["Nope"]\n  max_session_duration',
        "accounts[0].roles[0].policies[0]",
        "'Nope'",
    ),
    (
        "isv-code-undeclared-user",
        'user = "alice"',
        'user = "mallory"',
        "accounts[0].isv_codes[0].user",
        "'mallory'",
    ),
    (
        "isv-code-undeclared-space",
        'spaces = ["cams-acme-cust-1"]',
        'spaces = ["cams-acme-cust-9"]',
        "accounts[0].isv_codes[0].spaces[0]",
        "'cams-acme-cust-9'",
    ),
    (
        "isv-code-space-of-another-account",
        'spaces = ["cams-acme-cust-1"]',
        'spaces = ["cams-globex-main"]',
        "accounts[0].isv_codes[0].spaces[0]",
        "not declared in this account",
    ),
    (
        "policy-name-format",
        "  [[accounts.groups]]",
        f"  [[accounts.policies]]\n  name = \"Roi Only\"\n  document = '{ROI_ONLY}'\n"
        "  [[accounts.groups]]",
        "accounts[0].policies[1].name",
        "policy name",
    ),
    (
        "policy-shadows-system-policy",
        "  [[accounts.groups]]",
        f"  [[accounts.policies]]\n  name = \"AdministratorAccess\"\n  document = '{ROI_ONLY}'\n"
        "  [[accounts.groups]]",
        "accounts[0].policies[1].name",
        "system policy",
    ),
    (
        "user-name-format",
        "  [[accounts.roles]]",
        '  [[accounts.users]]\n  name = "-bob"\n  [[accounts.roles]]',
        "accounts[0].users[1].name",
        "user name",
    ),
    (
        "role-duration-too-short",
        "max_session_duration = 3600",
        "max_session_duration = 3599",
        "accounts[0].roles[0].max_session_duration",
        "3600..43200",
    ),
    (
        "role-duration-too-long",
        "max_session_duration = 3600",
        "max_session_duration = 43201",
        "accounts[0].roles[0].max_session_duration",
        "3600..43200",
    ),
    (
        "role-trust-without-principal",
        ',"Principal":{"RAM":["acs:ram::1000000000000001:root"]}',
        "",
        "accounts[0].roles[0].trust",
        "Principal",
    ),
    (
        "role-trust-not-json",
        f"trust = '{TRUST}'",
        "trust = 'trust me'",
        "accounts[0].roles[0].trust",
        "JSON",
    ),
    (
        "account-id-trailing-newline",
        'id = "2000000000000002"',
        'id = "2000000000000002\\n"',
        "accounts[1].id",
        "account UID",
    ),
    (
        "access-key-id-trailing-newline",
        'id = "LTAI5tGlobexRoot0001"',
        'id = "LTAI5tGlobexRoot0001\\n"',
        "accounts[1].access_keys[0].id",
        "AccessKey id",
    ),
    (
        "space-id-trailing-newline",
        'id = "cams-globex-main"',
        'id = "cams-globex-main\\n"',
        "accounts[1].spaces[0].id",
        "space id",
    ),
    (
        "user-name-trailing-newline",
        "  [[accounts.roles]]",
        '  [[accounts.users]]\n  name = "bob\\n"\n  [[accounts.roles]]',
        "accounts[0].users[1].name",
        "user name",
    ),
    (
        "region-trailing-newline",
        '[[accounts]]\nid = "1000000000000001"',
        'region = "ap-southeast-1\\n"\n[[accounts]]\nid = "1000000000000001"',
        "region",
        "region id",
    ),
    (
        "region",
        '[[accounts]]\nid = "1000000000000001"',
        'region = "Singapore"\n[[accounts]]\nid = "1000000000000001"',
        "region",
        "region id",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "path", "word"), [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS]
)
def test_one_problem(old: str, new: str, path: str, word: str) -> None:
    assert old in BASE
    problems = problems_of(BASE.replace(old, new, 1))
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith(f"{path}: "), problem
    assert word in problem


def test_duplicate_user_name() -> None:
    text = BASE.replace(
        "  [[accounts.roles]]",
        '  [[accounts.users]]\n  name = "alice"\n\n  [[accounts.roles]]',
        1,
    )
    (problem,) = problems_of(text)
    assert problem.startswith("accounts[0].users[1].name: duplicate user name 'alice'")
    assert "accounts[0].users[0].name" in problem  # where it was first declared


def test_same_user_name_in_two_accounts_is_fine() -> None:
    text = BASE + '\n  [[accounts.users]]\n  name = "alice"\n'
    assert [u.name for u in parse_world(text).accounts[1].users] == ["alice"]


@pytest.mark.parametrize(
    ("table", "entry", "what"),
    [
        ("groups", 'name = "ops"', "group name"),
        ("roles", f"name = \"roi-operator\"\n  trust = '{TRUST}'", "role name"),
        ("policies", f"name = \"RoiOnly\"\n  document = '{ROI_ONLY}'", "policy name"),
    ],
)
def test_other_duplicate_names(table: str, entry: str, what: str) -> None:
    text = BASE.replace(
        "  [[accounts.spaces]]", f"  [[accounts.{table}]]\n  {entry}\n\n  [[accounts.spaces]]", 1
    )
    (problem,) = problems_of(text)
    assert f"duplicate {what}" in problem
    assert problem.startswith(f"accounts[0].{table}[1].name: ")


def test_duplicate_isv_code() -> None:
    text = (
        BASE
        + '\n  [[accounts.users]]\n  name = "gus"\n'
        + ('\n  [[accounts.isv_codes]]\n  code = "skdi3kksloslikdkkdk"\n  user = "gus"\n')
    )
    (problem,) = problems_of(text)
    assert problem.startswith("accounts[1].isv_codes[0].code: duplicate ISV code")


@pytest.mark.parametrize(
    ("document", "inner_path"),
    [
        (
            '{"Version":"1","Statement":[{"Effect":"Allow","Action":"EnableRoi","Resource":"*"}]}',
            "Statement[0].Action",
        ),
        ('{"Version":"2","Statement":[]}', "Version"),
        (
            '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*","Resource":"*"},'
            '{"Effect":"Allow","Action":"cams:*","Resource":"*",'
            '"Condition":{"IpAddress":{"acs:SourceIp":"office"}}}]}',
            "Statement[1].Condition.IpAddress.acs:SourceIp",
        ),
        ('{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*"}]}', "Statement[0]"),
    ],
    ids=["action", "version", "condition", "resource"],
)
def test_invalid_policy_document(document: str, inner_path: str) -> None:
    (problem,) = problems_of(BASE.replace(ROI_ONLY, document, 1))
    assert problem.startswith(f"accounts[0].policies[0].document: {inner_path}: "), problem


def test_invalid_json_policy_document() -> None:
    (problem,) = problems_of(BASE.replace(ROI_ONLY, '{"Version": "1",', 1))
    assert problem.startswith("accounts[0].policies[0].document: not valid JSON")


@pytest.mark.parametrize("duration", [3600, 43200])
def test_session_duration_bounds_are_inclusive(duration: int) -> None:
    text = BASE.replace("max_session_duration = 3600", f"max_session_duration = {duration}")
    assert parse_world(text).accounts[0].roles[0].max_session_duration == duration


def test_two_independent_problems_give_two_entries() -> None:
    text = BASE.replace('user = "alice"', 'user = "mallory"').replace(
        'id = "cams-globex-main"', 'id = "cams-acme-main"'
    )
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith("accounts[0].isv_codes[0].user: ")
    assert problems[1].startswith("accounts[1].spaces[0].id: duplicate space id")


def test_many_problems_all_reported() -> None:
    text = (
        BASE.replace('user = "alice"', 'user = "mallory"')
        .replace('groups = ["ops"]', 'groups = ["admins"]')
        .replace("max_session_duration = 3600", "max_session_duration = 60")
        .replace('id = "LTAI5tGlobexRoot0001"', 'id = "LTAI5tAcmeRoot000001"')
        .replace('id = "2000000000000002"', 'id = "1000000000000001"')
    )
    problems = problems_of(text)
    assert sorted(p.split(":")[0] for p in problems) == sorted(
        [
            "accounts[0].isv_codes[0].user",
            "accounts[0].users[0].groups[0]",
            "accounts[0].roles[0].max_session_duration",
            "accounts[1].access_keys[0].id",
            "accounts[1].id",
        ]
    )


def test_message_names_the_source_and_every_problem() -> None:
    text = BASE.replace('user = "alice"', 'user = "mallory"').replace(
        'id = "cams-globex-main"', 'id = "cams-acme-main"'
    )
    with pytest.raises(WorldError) as info:
        parse_world(text, "/etc/cams/world.toml")
    message = str(info.value)
    assert message.startswith("/etc/cams/world.toml: ")
    for problem in info.value.problems:
        assert f"/etc/cams/world.toml: {problem}" in message


def test_validate_world_directly() -> None:
    world = World(
        accounts=(
            AccountSpec("1", "a", access_keys=(AccessKeySpec("LTAI00000001", "s"),)),
            AccountSpec(
                "2",
                "b",
                access_keys=(AccessKeySpec("LTAI00000001", "t"),),
                spaces=(SpaceSpec("s-1"), SpaceSpec("s-1")),
            ),
        )
    )
    with pytest.raises(WorldError) as info:
        validate_world(world, "api")
    assert info.value.source == "api"
    assert sorted(p.split(":")[0] for p in info.value.problems) == [
        "accounts[1].access_keys[0].id",
        "accounts[1].spaces[1].id",
    ]
    validate_world(World(), "empty")  # nothing to complain about


def _document_of_length(length: int) -> str:
    """A valid policy document of exactly `length` characters (padded in a Sid)."""
    skeleton = (
        '{"Version":"1","Statement":[{"Sid":"%s","Effect":"Allow",'
        '"Action":"cams:EnableWhatsappROIMetric","Resource":"*"}]}'
    )
    return skeleton % ("x" * (length - len(skeleton % "")))


def test_policy_document_of_6144_characters_is_accepted() -> None:
    document = _document_of_length(6144)
    assert len(document) == 6144
    world = parse_world(BASE.replace(ROI_ONLY, document, 1))
    assert world.accounts[0].policies[0].document == document


def test_policy_document_longer_than_ram_allows_is_refused() -> None:
    (problem,) = problems_of(BASE.replace(ROI_ONLY, _document_of_length(6145), 1))
    assert problem.startswith("accounts[0].policies[0].document: 6145 characters"), problem
    assert "6144" in problem and "split" in problem


@pytest.mark.parametrize(
    ("table", "entry", "what"),
    [
        ("users", 'name = "Alice"', "user name"),
        ("groups", 'name = "OPS"', "group name"),
        ("roles", f"name = \"ROI-Operator\"\n  trust = '{TRUST}'", "role name"),
        ("policies", f"name = \"roionly\"\n  document = '{ROI_ONLY}'", "policy name"),
    ],
)
def test_names_differing_only_in_case_are_duplicates(table: str, entry: str, what: str) -> None:
    text = BASE.replace(
        "  [[accounts.spaces]]", f"  [[accounts.{table}]]\n  {entry}\n\n  [[accounts.spaces]]", 1
    )
    with pytest.raises(WorldError) as info:
        parse_world(text, "/etc/cams/world.toml")
    (problem,) = info.value.problems
    second = entry.split('"')[1]
    first = {"users": "alice", "groups": "ops", "roles": "roi-operator", "policies": "RoiOnly"}
    assert problem.startswith(f"accounts[0].{table}[1].name: duplicate {what} {second!r}: ")
    assert f"{first[table]!r} is declared at accounts[0].{table}[0].name" in problem
    assert "regardless of case" in problem
    assert f"/etc/cams/world.toml: {problem}" in str(info.value)


def test_same_name_in_another_case_in_two_accounts_is_fine() -> None:
    text = BASE + '\n  [[accounts.users]]\n  name = "Alice"\n'
    assert [u.name for u in parse_world(text).accounts[1].users] == ["Alice"]


def test_references_resolve_whatever_the_case() -> None:
    text = (
        BASE.replace('groups = ["ops"]', 'groups = ["OPS"]')
        .replace('policies = ["RoiOnly"]\n  max', 'policies = ["roionly"]\n  max')
        .replace('["AliyunCAMSReadOnlyAccess"]', '["aliyuncamsreadonlyaccess"]')
        .replace('user = "alice"', 'user = "ALICE"')
    )
    world = parse_world(text)
    assert world.accounts[0].users[0].groups == ("OPS",)


def test_custom_policy_named_like_a_system_policy_in_another_case_is_refused() -> None:
    text = BASE.replace(
        "  [[accounts.groups]]",
        f"  [[accounts.policies]]\n  name = \"administratoraccess\"\n  document = '{ROI_ONLY}'\n"
        "  [[accounts.groups]]",
        1,
    )
    (problem,) = problems_of(text)
    assert problem.startswith("accounts[0].policies[1].name: 'administratoraccess' is a system")


def _warnings_for(resource: str, field: str = "Resource") -> list[str]:
    document = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:*",'
        f'"{field}":{resource}}}]}}'
    )
    return policy_warnings(parse_world(BASE.replace(ROI_ONLY, document, 1)))


def test_base_world_has_no_policy_warnings() -> None:
    assert policy_warnings(parse_world(BASE)) == []


@pytest.mark.parametrize(
    "resource",
    [
        '"*"',
        '"acs:cams:*:*:*"',
        '"acs:cams:ap-southeast-1:1000000000000001:*"',
        '"acs:*"',
        '"acs:ram::1000000000000001:role/roi-operator"',
        '"acs:ram::*:role/*"',
    ],
)
def test_resources_this_server_can_match_give_no_warning(resource: str) -> None:
    assert _warnings_for(resource) == []


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ('"acs:cams:*:*:space/cams-acme-main"', "Statement[0].Resource"),
        ('"acs:cams:*:2000000000000002:*"', "Statement[0].Resource"),
        ('"acs:cams:cn-hangzhou:1000000000000001:*"', "Statement[0].Resource"),
        ('"acs:oss:*:*:*"', "Statement[0].Resource"),
        ('"acs:ram::1000000000000001:role/no-such-role"', "Statement[0].Resource"),
        ('["acs:cams:*:*:space/x", "acs:oss:*:*:*"]', "Statement[0].Resource[1]"),
    ],
)
def test_resources_that_can_never_match_are_warned_about(resource: str, path: str) -> None:
    warning = _warnings_for(resource)[-1]
    pattern = resource.strip("[]").split(", ")[-1].strip('"')
    assert warning.startswith(
        f"accounts[0].policies[0].document: {path}: {pattern!r} in policy 'RoiOnly' of "
        "account 1000000000000001 can never match, so the statement never applies: "
        "this server authorizes CAMS actions on acs:cams:ap-southeast-1:1000000000000001:* "
        "(the whole account, not a space) and sts:AssumeRole on "
        "acs:ram::<account>:role/<name> of a declared role"
    ), warning


def test_a_dead_resource_beside_a_live_one_adds_nothing() -> None:
    (warning,) = _warnings_for('["acs:cams:*:*:space/cams-acme-main", "*"]')
    assert warning.startswith("accounts[0].policies[0].document: Statement[0].Resource[0]: ")
    assert "can never match, so it adds nothing to the statement: " in warning


def test_a_not_resource_that_can_never_match_excludes_nothing() -> None:
    (warning,) = _warnings_for('"acs:cams:*:*:space/cams-acme-main"', "NotResource")
    assert "Statement[0].NotResource: " in warning
    assert "it excludes nothing and the statement applies to every resource" in warning


def test_a_world_without_roles_says_so() -> None:
    text = BASE.replace(ROI_ONLY, ROI_ONLY.replace('"*"', '"acs:ecs:*:*:*"'), 1)
    roles_start = text.index("  [[accounts.roles]]")
    text = text[:roles_start] + text[text.index("  [[accounts.spaces]]") :]
    (warning,) = policy_warnings(parse_world(text))
    assert warning.endswith("of a declared role (this world declares none)")


def test_roles_of_other_accounts_in_the_world_count() -> None:
    text = BASE.replace(
        ROI_ONLY, ROI_ONLY.replace('"*"', '"acs:ram::1000000000000001:role/roi-operator"'), 1
    )
    assert policy_warnings(parse_world(text)) == []
