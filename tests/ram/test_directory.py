"""The directory looks every RAM name up by `name_key`: names are case-insensitive."""

from __future__ import annotations

from cams_server.model.world import AccessKeySpec
from cams_server.ram.directory import Directory, KeyRecord
from cams_server.ram.names import name_key
from cams_server.ram.principals import Principal, PrincipalKind
from cams_server.world.toml_file import parse_world

ACME = "1000000000000001"
ROI_ONLY = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:EnableWhatsappROIMetric",'
    '"Resource":"*"}]}'
)
TRUST = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
    '"Principal":{"RAM":["acs:ram::1000000000000001:root"]}}]}'
)
# Every reference spelled in another case than its declaration.
WORLD = f"""\
[[accounts]]
id = "{ACME}"
name = "acme"

  [[accounts.policies]]
  name = "RoiOnly"
  document = '{ROI_ONLY}'

  [[accounts.groups]]
  name = "ops"
  policies = ["aliyuncamsreadonlyaccess", "ROIONLY"]

  [[accounts.users]]
  name = "alice"
  groups = ["OPS"]
  policies = ["roionly"]

  [[accounts.roles]]
  name = "Roi-Operator"
  trust = '{TRUST}'
  policies = ["roiONLY"]
"""


def test_name_key_folds_case() -> None:
    assert name_key("Roi-Operator") == name_key("roi-operator") == name_key("ROI-OPERATOR")
    assert name_key("alice") != name_key("alice2")


def test_references_in_another_case_resolve() -> None:
    directory = Directory(parse_world(WORLD))
    alice = Principal(ACME, PrincipalKind.USER, "alice")
    assert [p.name for p in directory.policies_of(alice)] == [
        "RoiOnly",
        "AliyunCAMSReadOnlyAccess",
    ]


def test_role_and_its_sessions_are_found_whatever_the_case() -> None:
    directory = Directory(parse_world(WORLD))
    for spelling in ("Roi-Operator", "roi-operator", "ROI-OPERATOR"):
        role = directory.role(ACME, spelling)
        assert role is not None and role.name == "Roi-Operator"
        session = Principal(ACME, PrincipalKind.ASSUMED_ROLE, spelling, "s1")
        assert [p.name for p in directory.policies_of(session)] == ["RoiOnly"]


def test_a_user_is_not_a_role_of_the_same_name() -> None:
    text = WORLD.replace('name = "Roi-Operator"', 'name = "alice"')
    directory = Directory(parse_world(text))
    user = directory.policies_of(Principal(ACME, PrincipalKind.USER, "ALICE"))
    role = directory.policies_of(Principal(ACME, PrincipalKind.ASSUMED_ROLE, "Alice", "s1"))
    assert [p.name for p in user] == ["RoiOnly", "AliyunCAMSReadOnlyAccess"]
    assert [p.name for p in role] == ["RoiOnly"]


def test_a_key_record_shows_no_secret() -> None:
    world = WORLD.replace(
        '  [[accounts.users]]\n  name = "alice"',
        '  [[accounts.access_keys]]\n  id = "LTAI5tAcmeRoot000001"\n'
        '  secret = "acme-root-secret"\n\n'
        '  [[accounts.users]]\n  name = "alice"',
    )
    record = Directory(parse_world(world)).key("LTAI5tAcmeRoot000001")
    assert record is not None and record.secret == "acme-root-secret"
    assert "acme-root-secret" not in repr(record)


def test_an_access_key_spec_shows_no_secret() -> None:
    assert "acme-root-secret" not in repr(AccessKeySpec("LTAI5tAcmeRoot000001", "acme-root-secret"))


def test_a_record_built_for_one_call_signs_as_a_prepared_one() -> None:
    # An STS session's record is not prepared (it signs once); it must sign the same.
    root = Principal(ACME, PrincipalKind.ACCOUNT, "acme")
    prepared = KeyRecord("STS.k", "s3cret", True, root)
    once = KeyRecord("STS.k", "s3cret", True, root, prepare=False)
    assert prepared == once
    for text in ("", "ACS3-HMAC-SHA256\nabc", "空"):
        assert once.v3_signature(text) == prepared.v3_signature(text)


def test_a_key_is_prepared_at_its_first_call_and_kept() -> None:
    root = Principal(ACME, PrincipalKind.ACCOUNT, "acme")
    record = KeyRecord("LTAI5tAcmeRoot000001", "s3cret", True, root)
    assert record._v3_key is None  # a key that never calls holds no HMAC state
    first = record.v3_signature("a")
    prepared = record._v3_key
    assert prepared is not None
    assert record.v3_signature("a") == first and record._v3_key is prepared
    once = KeyRecord("STS.k", "s3cret", True, root, prepare=False)
    assert once.v3_signature("a") == first and once._v3_key is None
