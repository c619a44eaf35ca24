"""The RAM policy grammar: what parse_policy accepts, and where it says a document is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cams_server.ram.conditions import Condition
from cams_server.ram.policy import Policy, PolicyError, Statement, parse_policy

A = "cams:EnableWhatsappROIMetric"
R = "acs:cams:ap-southeast-1:1000000000000001:*"


def stmt(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Effect": "Allow", "Action": A, "Resource": "*"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def doc(*statements: Any, **top: Any) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements), **top})


def cond(operator: str, key: str, value: Any) -> str:
    return doc(stmt(Condition={operator: {key: value}}))


# --------------------------------------------------------------------------------------
# Valid documents
# --------------------------------------------------------------------------------------


def test_parses_a_simple_allow() -> None:
    text = doc(stmt())
    policy = parse_policy(text, name="RoiOnly")
    assert isinstance(policy, Policy)
    assert policy.name == "RoiOnly"
    assert policy.policy_type == "Custom"
    assert policy.document == text
    (statement,) = policy.statements
    assert isinstance(statement, Statement)
    assert statement.effect == "Allow"
    assert statement.actions == (A,)
    assert statement.not_actions == ()
    assert statement.resources == ("*",)
    assert statement.not_resources == ()
    assert statement.conditions == ()


def test_lists_and_not_forms() -> None:
    policy = parse_policy(
        doc(
            stmt(Action=["cams:Get*", A], Resource=[R, "acs:cams:*:*:*"]),
            stmt(Effect="Deny", Action=None, NotAction=["cams:Get*"], Resource=None, NotResource=R),
        )
    )
    first, second = policy.statements
    assert first.actions == ("cams:Get*", A)
    assert first.resources == (R, "acs:cams:*:*:*")
    assert second.effect == "Deny"
    assert second.actions == ()
    assert second.not_actions == ("cams:Get*",)
    assert second.not_resources == (R,)


def test_a_single_statement_object_is_accepted() -> None:
    policy = parse_policy(json.dumps({"Version": "1", "Statement": stmt()}))
    assert len(policy.statements) == 1


def test_a_mapping_is_accepted_and_kept_as_json() -> None:
    raw = {"Version": "1", "Statement": [stmt()]}
    policy = parse_policy(raw, name="P", policy_type="System")
    assert policy.policy_type == "System"
    assert json.loads(policy.document) == raw


def test_sid_is_allowed() -> None:
    assert parse_policy(doc(stmt(Sid="AllowRoi"))).statements[0].effect == "Allow"


def test_global_condition_keys_are_canonicalised_case_insensitively() -> None:
    policy = parse_policy(
        doc(
            stmt(
                Condition={
                    "IpAddress": {"ACS:sourceip": ["10.0.0.0/8", "192.168.0.0/16"]},
                    "Bool": {"acs:securetransport": True},
                    "NumericLessThan": {"cams:Quantity": 10},
                }
            )
        )
    )
    assert policy.statements[0].conditions == (
        Condition("IpAddress", "acs:SourceIp", ("10.0.0.0/8", "192.168.0.0/16")),
        Condition("Bool", "acs:SecureTransport", ("true",)),
        Condition("NumericLessThan", "cams:Quantity", ("10",)),
    )


@pytest.mark.parametrize(
    "value",
    [
        "2026-06-01T12:00:00Z",
        "2026-06-01T12:00:00+08:00",
        "2026-06-01T12:00:00",
        "2026-06-01",
        "1780315200",
        "1780315200.5",
    ],
)
def test_date_values_accepted(value: str) -> None:
    parse_policy(cond("DateLessThan", "acs:CurrentTime", value))


@pytest.mark.parametrize("value", ["10.0.0.1", "10.0.0.0/8", "10.1.2.3/8", "2001:db8::/32", "::1"])
def test_ip_values_accepted(value: str) -> None:
    parse_policy(cond("IpAddress", "acs:SourceIp", value))


def test_trust_policy_names_principals_not_resources() -> None:
    trust = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"RAM": ["acs:ram::1000000000000001:root"]},
                }
            ],
        }
    )
    policy = parse_policy(trust, name="t", policy_type="Trust", trust=True)
    statement = policy.statements[0]
    assert statement.principals == {"RAM": ("acs:ram::1000000000000001:root",)}
    assert statement.matches_resource("anything")


# --------------------------------------------------------------------------------------
# Invalid documents: each raises PolicyError whose .path locates the problem
# --------------------------------------------------------------------------------------

S0 = "Statement[0]"
C0 = f"{S0}.Condition"

PARSE_ERRORS: list[tuple[str, str, str, str]] = [
    # (id, document, expected path, a word of the message)
    ("not-json", "{", "", "JSON"),
    ("not-json-text", "Allow everything", "", "JSON"),
    ("not-an-object", "[]", "", "object"),
    ("unknown-top-key", doc(stmt(), Id="x"), "", "Id"),
    ("version-2", json.dumps({"Version": "2", "Statement": [stmt()]}), "Version", '"1"'),
    ("version-int", json.dumps({"Version": 1, "Statement": [stmt()]}), "Version", '"1"'),
    ("version-missing", json.dumps({"Statement": [stmt()]}), "Version", '"1"'),
    ("statement-empty", doc(), "Statement", "non-empty"),
    ("statement-missing", json.dumps({"Version": "1"}), "Statement", "non-empty"),
    ("statement-string", json.dumps({"Version": "1", "Statement": "x"}), "Statement", "list"),
    ("statement-not-object", doc("x"), S0, "object"),
    ("effect-lowercase", doc(stmt(Effect="allow")), f"{S0}.Effect", "Allow or Deny"),
    ("effect-missing", doc(stmt(Effect=None)), f"{S0}.Effect", "Allow or Deny"),
    ("effect-in-second", doc(stmt(), stmt(Effect="Permit")), "Statement[1].Effect", "Permit"),
    ("action-and-notaction", doc(stmt(NotAction="cams:Get*")), S0, "NotAction"),
    ("no-action", doc(stmt(Action=None)), S0, "Action"),
    ("missing-resource", doc(stmt(Resource=None)), S0, "Resource"),
    ("resource-and-notresource", doc(stmt(NotResource=R)), S0, "NotResource"),
    ("action-no-service", doc(stmt(Action="EnableWhatsappROIMetric")), f"{S0}.Action", "action"),
    ("action-empty-name", doc(stmt(Action="cams:")), f"{S0}.Action", "action"),
    ("action-space", doc(stmt(Action="cams:Enable Roi")), f"{S0}.Action", "action"),
    ("action-bad-in-list", doc(stmt(Action=["cams:*", "bad"])), f"{S0}.Action", "bad"),
    ("action-empty-list", doc(stmt(Action=[])), f"{S0}.Action", "at least one"),
    ("action-not-string", doc(stmt(Action=["cams:*", 7])), f"{S0}.Action[1]", "string"),
    (
        "notaction-bad",
        doc(stmt(Action=None, NotAction="cams")),
        f"{S0}.NotAction",
        "action",
    ),
    ("resource-not-arn", doc(stmt(Resource="cams")), f"{S0}.Resource", "ARN"),
    ("resource-short-arn", doc(stmt(Resource="acs:cams:x")), f"{S0}.Resource", "ARN"),
    ("resource-empty", doc(stmt(Resource="")), f"{S0}.Resource", "string"),
    ("unknown-statement-key", doc(stmt(Actions="cams:*")), S0, "Actions"),
    (
        "principal-outside-trust",
        doc(stmt(Principal={"RAM": ["acs:ram::1:root"]})),
        f"{S0}.Principal",
        "trust",
    ),
    ("condition-not-object", doc(stmt(Condition=["x"])), C0, "object"),
    ("operator-unknown", cond("StringEq", "acs:UserAgent", "x"), f"{C0}.StringEq", "operator"),
    ("operator-lowercase", cond("stringequals", "acs:UserAgent", "x"), f"{C0}.stringequals", ""),
    ("operator-empty", doc(stmt(Condition={"StringEquals": {}})), f"{C0}.StringEquals", ""),
    (
        "ip-malformed",
        cond("IpAddress", "acs:SourceIp", "10.0.0.300/8"),
        f"{C0}.IpAddress.acs:SourceIp",
        "IpAddress",
    ),
    (
        "ip-malformed-in-list",
        cond("IpAddress", "acs:SourceIp", ["10.0.0.0/8", "intranet"]),
        f"{C0}.IpAddress.acs:SourceIp",
        "intranet",
    ),
    (
        "notip-malformed",
        cond("NotIpAddress", "acs:SourceIp", "10.0.0.0/33"),
        f"{C0}.NotIpAddress.acs:SourceIp",
        "NotIpAddress",
    ),
    (
        "numeric-malformed",
        cond("NumericLessThan", "cams:Quantity", "ten"),
        f"{C0}.NumericLessThan.cams:Quantity",
        "NumericLessThan",
    ),
    (
        "numeric-nan",
        cond("NumericEquals", "cams:Quantity", "NaN"),
        f"{C0}.NumericEquals.cams:Quantity",
        "NaN",
    ),
    (
        "date-malformed",
        cond("DateLessThan", "acs:CurrentTime", "2026-13-01T00:00:00Z"),
        f"{C0}.DateLessThan.acs:CurrentTime",
        "DateLessThan",
    ),
    (
        "date-words",
        cond("DateGreaterThan", "acs:CurrentTime", "yesterday"),
        f"{C0}.DateGreaterThan.acs:CurrentTime",
        "yesterday",
    ),
    (
        "bool-malformed",
        cond("Bool", "acs:SecureTransport", "yes"),
        f"{C0}.Bool.acs:SecureTransport",
        "Bool",
    ),
    (
        "unknown-acs-key",
        cond("StringEquals", "acs:SourceAddress", "x"),
        f"{C0}.StringEquals.acs:SourceAddress",
        "acs:SourceAddress",
    ),
    (
        "key-without-service",
        cond("StringEquals", "UserAgent", "x"),
        f"{C0}.StringEquals.UserAgent",
        "service:Name",
    ),
    (
        "condition-values-empty",
        cond("StringEquals", "acs:UserAgent", []),
        f"{C0}.StringEquals.acs:UserAgent",
        "at least one",
    ),
    (
        "condition-value-object",
        cond("StringEquals", "acs:UserAgent", {"a": 1}),
        f"{C0}.StringEquals.acs:UserAgent",
        "strings, numbers or booleans",
    ),
]


@pytest.mark.parametrize(
    ("document", "path", "word"),
    [case[1:] for case in PARSE_ERRORS],
    ids=[case[0] for case in PARSE_ERRORS],
)
def test_parse_errors(document: str, path: str, word: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(document, name="P")
    assert info.value.path == path
    assert word in info.value.detail
    assert str(info.value) == (f"{path}: {info.value.detail}" if path else info.value.detail)


def test_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyError, ValueError)


@pytest.mark.parametrize("value", ["99999999999999999999", "9" * 400])
def test_huge_epoch_date_value_is_a_policy_error(value: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(cond("DateLessThan", "acs:CurrentTime", value))
    assert info.value.path == f"{C0}.DateLessThan.acs:CurrentTime"


TRUST_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("no-principal", {"Effect": "Allow", "Action": "sts:AssumeRole"}, S0),
    (
        "principal-not-object",
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": "acs:ram::1:root"},
        f"{S0}.Principal",
    ),
    (
        "principal-bad-kind",
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"User": ["x"]}},
        f"{S0}.Principal.User",
    ),
    (
        "principal-empty-list",
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": []}},
        f"{S0}.Principal.RAM",
    ),
]


@pytest.mark.parametrize(
    ("statement", "path"),
    [case[1:] for case in TRUST_ERRORS],
    ids=[case[0] for case in TRUST_ERRORS],
)
def test_trust_policy_errors(statement: dict[str, Any], path: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc(statement), policy_type="Trust", trust=True)
    assert info.value.path == path


# --------------------------------------------------------------------------------------
# Statement matching
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        (A, A, True),
        ("cams:enablewhatsapproimetric", A, True),
        ("CAMS:ENABLEWHATSAPPROIMETRIC", A, True),
        ("cams:*", A, True),
        ("*", A, True),
        ("cams:Enable*", A, True),
        ("cams:*ROI*", A, True),
        ("cams:EnableWhatsapp?OIMetric", A, True),
        ("cams:EnableWhatsapp??IMetric", A, True),
        ("cams:EnableWhatsapp?IMetric", A, False),
        ("cams:EnableWhatsapp", A, False),
        ("cams:EnableWhatsappROIMetricX", A, False),
        ("cams:Get*", A, False),
        ("ecs:*", A, False),
        ("cam?:EnableWhatsappROIMetric", A, True),
        ("c*:Enable*", A, True),
    ],
)
def test_action_matching(pattern: str, action: str, matches: bool) -> None:
    statement = parse_policy(doc(stmt(Action=pattern))).statements[0]
    assert statement.matches_action(action) is matches


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        (R, True),
        ("acs:cams:*:1000000000000001:*", True),
        ("acs:cams:ap-southeast-?:1000000000000001:*", True),
        ("acs:cams:*:*:*", True),
        ("acs:*", True),
        ("acs:cams:*:2000000000000002:*", False),
        ("acs:ecs:*:*:*", False),
        ("acs:cams:ap-southeast-1:1000000000000001:space/*", False),
        ("acs:cams:cn-hangzhou:1000000000000001:*", False),
    ],
)
def test_resource_matching(pattern: str, matches: bool) -> None:
    statement = parse_policy(doc(stmt(Resource=pattern))).statements[0]
    assert statement.matches_resource(R) is matches
    negated = parse_policy(doc(stmt(Resource=None, NotResource=pattern))).statements[0]
    assert negated.matches_resource(R) is (not matches)


def test_regex_metacharacters_in_patterns_are_literal() -> None:
    statement = parse_policy(doc(stmt(Resource="acs:cams:ap.southeast.1:1000000000000001:*")))
    assert not statement.statements[0].matches_resource(R)


def test_trailing_newline_is_not_an_action() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc(stmt(Action="cams:EnableWhatsappROIMetric\n")))
    assert info.value.path == f"{S0}.Action"


def test_trailing_newline_is_not_a_condition_key() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(cond("StringEquals", "cams:Quantity\n", "1"))
    assert info.value.path == f"{C0}.StringEquals.cams:Quantity\n"


def test_patterns_match_whole_names_only() -> None:
    space = "acs:cams:ap-southeast-1:1000000000000001:space/cams-acme-main"
    statement = parse_policy(doc(stmt(Resource=space))).statements[0]
    assert not statement.matches_action(A + "\n")
    assert not statement.matches_resource(space + "\n")
    assert statement.matches_action(A)
    assert statement.matches_resource(space)


def test_a_document_nested_too_deeply_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="nested too deeply"):
        parse_policy('{"Version":"1","Statement":' + "[" * 5000 + "]" * 5000 + "}")
