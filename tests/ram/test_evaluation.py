"""RAM evaluation: explicit Deny wins, else an Allow grants, else implicit deny.

Every case goes through parse_policy and then evaluate, as the server does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_server.ram.conditions import OPERATORS
from cams_server.ram.evaluation import PolicyDecision, evaluate
from cams_server.ram.policy import Policy, parse_policy

A = "cams:EnableWhatsappROIMetric"
R = "acs:cams:ap-southeast-1:1000000000000001:*"
OTHER_ACCOUNT = "acs:cams:*:2000000000000002:*"
UA = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"
CONTEXT = {
    "acs:SourceIp": "192.168.1.10",
    "acs:SecureTransport": "true",
    "acs:CurrentTime": "2026-06-01T12:00:00Z",
    "acs:MFAPresent": "false",
    "acs:UserAgent": UA,
    "acs:AccessId": "LTAI5tAcmeAlice00001",
    "acs:PrincipalArn": "acs:ram::1000000000000001:user/alice",
    "cams:Quantity": "10",
}


def allow(action: Any = A, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return _statement("Allow", action, resource, extra)


def deny(action: Any = A, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return _statement("Deny", action, resource, extra)


def _statement(effect: str, action: Any, resource: Any, extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect}
    if action is not None:
        out["Action"] = action
    if resource is not None:
        out["Resource"] = resource
    out.update(extra)
    return out


def policy(name: str, *statements: dict[str, Any]) -> Policy:
    return parse_policy(json.dumps({"Version": "1", "Statement": list(statements)}), name=name)


def policies(docs: list[list[dict[str, Any]]], prefix: str = "P") -> list[Policy]:
    return [policy(f"{prefix}{i}", *statements) for i, statements in enumerate(docs)]


ALLOWED = "Allow"
IMPLICIT = "ImplicitDeny"
EXPLICIT = "ExplicitDeny"

# (id, policies as lists of statements, expected outcome); action A on resource R
# in CONTEXT unless the statements say otherwise.
CASES: list[tuple[str, list[list[dict[str, Any]]], str]] = [
    # Effect
    ("allow-exact", [[allow()]], ALLOWED),
    ("deny-exact", [[deny()]], EXPLICIT),
    ("no-policies", [], IMPLICIT),
    ("empty-effect-elsewhere", [[allow("cams:GetChatappTemplateMetric")]], IMPLICIT),
    ("deny-beats-allow-same-policy", [[allow(), deny()]], EXPLICIT),
    ("deny-beats-allow-other-policy", [[allow()], [deny()]], EXPLICIT),
    ("deny-beats-admin", [[allow("*")], [deny("cams:*")]], EXPLICIT),
    ("deny-first-then-allow", [[deny(), allow("*")]], EXPLICIT),
    ("deny-other-action-allow", [[deny("cams:Get*"), allow()]], ALLOWED),
    ("two-allows", [[allow()], [allow("cams:*")]], ALLOWED),
    ("second-statement-allows", [[allow("ecs:*"), allow("cams:Enable*")]], ALLOWED),
    # Actions: wildcards and case
    ("action-service-wildcard", [[allow("cams:*")]], ALLOWED),
    ("action-star", [[allow("*")]], ALLOWED),
    ("action-prefix", [[allow("cams:Enable*")]], ALLOWED),
    ("action-infix", [[allow("cams:*ROI*")]], ALLOWED),
    ("action-lower-case", [[allow("cams:enablewhatsapproimetric")]], ALLOWED),
    ("action-upper-case", [[allow("CAMS:ENABLEWHATSAPPROIMETRIC")]], ALLOWED),
    ("action-question-mark", [[allow("cams:EnableWhatsapp?OIMetric")]], ALLOWED),
    ("action-question-mark-case", [[allow("cams:enablewhatsapp?oimetric")]], ALLOWED),
    ("action-question-one-char-only", [[allow("cams:EnableWhatsapp?IMetric")]], IMPLICIT),
    ("action-anchored-end", [[allow("cams:EnableWhatsapp")]], IMPLICIT),
    ("action-anchored-longer", [[allow("cams:EnableWhatsappROIMetrics")]], IMPLICIT),
    ("action-other-prefix", [[allow("cams:Get*")]], IMPLICIT),
    ("action-other-service", [[allow("ecs:*")]], IMPLICIT),
    ("action-list-hit", [[allow(["cams:Get*", A])]], ALLOWED),
    ("action-list-miss", [[allow(["cams:Get*", "ecs:*"])]], IMPLICIT),
    ("deny-wildcard-case", [[allow("*"), deny("CAMS:enable*")]], EXPLICIT),
    # NotAction
    ("notaction-other", [[allow(None, NotAction="cams:Get*")]], ALLOWED),
    ("notaction-this", [[allow(None, NotAction=A)]], IMPLICIT),
    ("notaction-wildcard-case", [[allow(None, NotAction="cams:enable*")]], IMPLICIT),
    ("notaction-list", [[allow(None, NotAction=["ecs:*", "cams:*ROI*"])]], IMPLICIT),
    ("deny-notaction-other", [[allow("cams:*"), deny(None, NotAction="cams:Get*")]], EXPLICIT),
    ("deny-notaction-this", [[allow("*"), deny(None, NotAction=A)]], ALLOWED),
    # Resources
    ("resource-exact", [[allow(A, R)]], ALLOWED),
    ("resource-any-region", [[allow(A, "acs:cams:*:1000000000000001:*")]], ALLOWED),
    ("resource-question", [[allow(A, "acs:cams:ap-southeast-?:1000000000000001:*")]], ALLOWED),
    ("resource-all-cams", [[allow(A, "acs:cams:*:*:*")]], ALLOWED),
    ("resource-other-account", [[allow(A, OTHER_ACCOUNT)]], IMPLICIT),
    ("resource-other-region", [[allow(A, "acs:cams:cn-hangzhou:1000000000000001:*")]], IMPLICIT),
    ("resource-other-service", [[allow(A, "acs:ecs:*:*:*")]], IMPLICIT),
    ("resource-list-hit", [[allow(A, [OTHER_ACCOUNT, R])]], ALLOWED),
    ("resource-list-miss", [[allow(A, [OTHER_ACCOUNT, "acs:ecs:*:*:*"])]], IMPLICIT),
    ("deny-other-resource", [[allow("*"), deny("*", OTHER_ACCOUNT)]], ALLOWED),
    # NotResource
    ("notresource-other", [[allow(A, None, NotResource=OTHER_ACCOUNT)]], ALLOWED),
    ("notresource-this", [[allow(A, None, NotResource=R)]], IMPLICIT),
    ("notresource-wildcard", [[allow(A, None, NotResource="acs:cams:*:*:*")]], IMPLICIT),
    (
        "deny-notresource-other",
        [[allow("*"), deny("*", None, NotResource=OTHER_ACCOUNT)]],
        EXPLICIT,
    ),
    ("deny-notresource-this", [[allow("*"), deny("*", None, NotResource=R)]], ALLOWED),
    # Conditions: values of one key OR, keys and operators AND, missing keys
    (
        "condition-holds",
        [[allow(Condition={"IpAddress": {"acs:SourceIp": "192.168.0.0/16"}})]],
        ALLOWED,
    ),
    (
        "condition-fails",
        [[allow(Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})]],
        IMPLICIT,
    ),
    (
        "condition-values-or",
        [[allow(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.1.0/24"]}})]],
        ALLOWED,
    ),
    (
        "condition-operators-and",
        [
            [
                allow(
                    Condition={
                        "IpAddress": {"acs:SourceIp": "192.168.0.0/16"},
                        "Bool": {"acs:SecureTransport": "false"},
                    }
                )
            ]
        ],
        IMPLICIT,
    ),
    (
        "condition-operators-and-all-hold",
        [
            [
                allow(
                    Condition={
                        "IpAddress": {"acs:SourceIp": "192.168.0.0/16"},
                        "Bool": {"acs:SecureTransport": True},
                        "StringLike": {"acs:UserAgent": "AlibabaCloud*"},
                    }
                )
            ]
        ],
        ALLOWED,
    ),
    (
        "condition-keys-and",
        [
            [
                allow(
                    Condition={
                        "StringEquals": {
                            "acs:AccessId": "LTAI5tAcmeAlice00001",
                            "acs:PrincipalArn": "acs:ram::1000000000000001:user/bob",
                        }
                    }
                )
            ]
        ],
        IMPLICIT,
    ),
    (
        "condition-missing-key-positive",
        [[allow(Condition={"StringEquals": {"cams:Channel": "whatsapp"}})]],
        IMPLICIT,
    ),
    (
        "condition-missing-key-negated",
        [[allow(Condition={"StringNotEquals": {"cams:Channel": "whatsapp"}})]],
        ALLOWED,
    ),
    (
        "deny-with-condition-holding",
        [[allow("*"), deny(Condition={"Bool": {"acs:SecureTransport": "true"}})]],
        EXPLICIT,
    ),
    (
        "deny-with-condition-failing",
        [[allow("*"), deny(Condition={"NotIpAddress": {"acs:SourceIp": "192.168.0.0/16"}})]],
        ALLOWED,
    ),
    (
        "deny-outside-office-hours",
        [
            [
                allow("*"),
                deny(Condition={"DateGreaterThan": {"acs:CurrentTime": "2026-06-01T18:00:00Z"}}),
            ]
        ],
        ALLOWED,
    ),
]


@pytest.mark.parametrize(("docs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evaluation_table(docs: list[list[dict[str, Any]]], expected: str) -> None:
    decision = evaluate(policies(docs), A, R, CONTEXT)
    assert isinstance(decision, PolicyDecision)
    assert decision.allowed is (expected == ALLOWED)
    assert decision.no_permission_type == (None if expected == ALLOWED else expected)
    assert decision.explicit_deny is (expected == EXPLICIT)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


def test_decision_names_the_policies() -> None:
    decision = evaluate(
        [
            policy("RoiOnly", allow()),
            policy("Readers", allow("cams:Get*")),
            policy("AlsoRoi", allow("cams:*")),
        ],
        A,
        R,
        CONTEXT,
    )
    assert decision.allowed
    assert decision.allowing == ("RoiOnly", "AlsoRoi")
    assert decision.denying == ()
    assert decision.evaluated == ("RoiOnly", "Readers", "AlsoRoi")

    denied = evaluate(
        [policy("Admin", allow("*")), policy("DenyRoi", deny("cams:Enable*"), deny())],
        A,
        R,
        CONTEXT,
    )
    assert not denied.allowed
    assert denied.allowing == ("Admin",)
    assert denied.denying == ("DenyRoi",)  # one name, however many statements matched


# --------------------------------------------------------------------------------------
# Conditions: every operator, against the request context
# --------------------------------------------------------------------------------------

# (operator, key, policy values, request value or None for "not in the context", holds)
CONDITIONS: list[tuple[str, str, Any, str | None, bool]] = [
    ("StringEquals", "acs:UserAgent", UA, UA, True),
    ("StringEquals", "acs:UserAgent", UA.lower(), UA, False),
    ("StringEquals", "acs:AccessId", ["LTAIother", "LTAI5tAcmeAlice00001"], None, True),
    ("StringNotEquals", "acs:UserAgent", "curl/8", UA, True),
    ("StringNotEquals", "acs:UserAgent", UA, UA, False),
    ("StringNotEquals", "acs:UserAgent", ["curl/8", UA], UA, False),
    ("StringEqualsIgnoreCase", "acs:UserAgent", UA.upper(), UA, True),
    ("StringEqualsIgnoreCase", "acs:UserAgent", "curl/8", UA, False),
    ("StringNotEqualsIgnoreCase", "acs:UserAgent", UA.upper(), UA, False),
    ("StringNotEqualsIgnoreCase", "acs:UserAgent", "curl/8", UA, True),
    ("StringLike", "acs:UserAgent", "AlibabaCloud*Python/*", UA, True),
    ("StringLike", "acs:UserAgent", "*Node.js*", UA, False),
    ("StringLike", "acs:UserAgent", "alibabacloud*", UA, False),
    ("StringLike", "acs:PrincipalArn", "acs:ram::1000000000000001:user/?lice", None, True),
    ("StringLike", "acs:UserAgent", "[abc]*", "[abc] tool", True),
    ("StringLike", "acs:UserAgent", "[abc]*", "a tool", False),
    ("StringNotLike", "acs:UserAgent", "*Node.js*", UA, True),
    ("StringNotLike", "acs:UserAgent", ["*Node.js*", "*Python*"], UA, False),
    ("NumericEquals", "cams:Quantity", "10", "10", True),
    ("NumericEquals", "cams:Quantity", "10", "10.0", True),
    ("NumericEquals", "cams:Quantity", 10, "11", False),
    ("NumericEquals", "cams:Quantity", "10", "ten", False),
    ("NumericNotEquals", "cams:Quantity", "10", "11", True),
    ("NumericNotEquals", "cams:Quantity", "10", "10", False),
    ("NumericLessThan", "cams:Quantity", "10", "9.5", True),
    ("NumericLessThan", "cams:Quantity", "10", "10", False),
    ("NumericLessThanEquals", "cams:Quantity", "10", "10", True),
    ("NumericLessThanEquals", "cams:Quantity", "10", "10.01", False),
    ("NumericGreaterThan", "cams:Quantity", "10", "-3", False),
    ("NumericGreaterThan", "cams:Quantity", ["100", "5"], "10", True),
    ("NumericGreaterThanEquals", "cams:Quantity", "10", "10", True),
    ("NumericGreaterThanEquals", "cams:Quantity", "10", "9", False),
    ("DateEquals", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, True),
    ("DateEquals", "acs:CurrentTime", "2026-06-01T20:00:00+08:00", None, True),
    ("DateEquals", "acs:CurrentTime", "1780315200", None, True),
    ("DateEquals", "acs:CurrentTime", "2026-06-01T12:00:01Z", None, False),
    ("DateNotEquals", "acs:CurrentTime", "2026-06-01T12:00:01Z", None, True),
    ("DateNotEquals", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, False),
    ("DateLessThan", "acs:CurrentTime", "2027-01-01T00:00:00Z", None, True),
    ("DateLessThan", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, False),
    ("DateLessThanEquals", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, True),
    ("DateLessThanEquals", "acs:CurrentTime", "2026-01-01", None, False),
    ("DateGreaterThan", "acs:CurrentTime", "2026-01-01T00:00:00Z", None, True),
    ("DateGreaterThan", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, False),
    ("DateGreaterThanEquals", "acs:CurrentTime", "2026-06-01T12:00:00Z", None, True),
    ("DateGreaterThanEquals", "acs:CurrentTime", "2027-01-01T00:00:00Z", None, False),
    ("DateLessThan", "acs:CurrentTime", "2027-01-01T00:00:00Z", "not a date", False),
    ("Bool", "acs:SecureTransport", True, None, True),
    ("Bool", "acs:SecureTransport", "TRUE", None, True),
    ("Bool", "acs:SecureTransport", "false", None, False),
    ("Bool", "acs:MFAPresent", False, None, True),
    ("Bool", "acs:MFAPresent", True, None, False),
    ("IpAddress", "acs:SourceIp", "192.168.1.0/24", None, True),
    ("IpAddress", "acs:SourceIp", "192.168.1.10", None, True),
    ("IpAddress", "acs:SourceIp", "192.168.1.11", None, False),
    ("IpAddress", "acs:SourceIp", "10.0.0.0/8", None, False),
    ("IpAddress", "acs:SourceIp", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "acs:SourceIp", "192.168.0.0/16", "2001:db8::1", False),
    ("IpAddress", "acs:SourceIp", "192.168.0.0/16", "not-an-ip", False),
    ("NotIpAddress", "acs:SourceIp", "10.0.0.0/8", None, True),
    ("NotIpAddress", "acs:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"], None, False),
]


@pytest.mark.parametrize(
    ("operator", "key", "values", "actual", "holds"),
    CONDITIONS,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CONDITIONS)],
)
def test_condition_operators(
    operator: str, key: str, values: Any, actual: str | None, holds: bool
) -> None:
    context = dict(CONTEXT)
    if actual is not None:
        context[key] = actual
    decision = evaluate([policy("P", allow(Condition={operator: {key: values}}))], A, R, context)
    assert decision.allowed is holds


def test_every_operator_is_covered() -> None:
    assert {c[0] for c in CONDITIONS} == set(OPERATORS)


_SAMPLE_VALUE = {
    "String": "x",
    "Numeric": "1",
    "Date": "2026-01-01T00:00:00Z",
    "Bool": "true",
    "IpAddress": "10.0.0.0/8",
    "NotIpAddress": "10.0.0.0/8",
}


def _sample(operator: str) -> str:
    for prefix, value in _SAMPLE_VALUE.items():
        if operator.startswith(prefix):
            return value
    raise AssertionError(operator)


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_missing_key_fails_positive_and_satisfies_negated_operators(operator: str) -> None:
    statement = allow(Condition={operator: {"cams:NotInContext": _sample(operator)}})
    decision = evaluate([policy("P", statement)], A, R, CONTEXT)
    assert decision.allowed is OPERATORS[operator].negated


@pytest.mark.parametrize("user_agent", ["99999999999999999999", "9" * 400])
def test_date_condition_on_huge_number_does_not_match(user_agent: str) -> None:
    statement = allow(Condition={"DateGreaterThan": {"acs:UserAgent": "2020-01-01T00:00:00Z"}})
    context = {**CONTEXT, "acs:UserAgent": user_agent}
    assert evaluate([policy("P", statement)], A, R, context).allowed is False


# --------------------------------------------------------------------------------------
# Session policies: the session only narrows
# --------------------------------------------------------------------------------------

SESSION_CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    ("both-allow", [allow("cams:*")], [allow()], ALLOWED),
    ("both-allow-star", [allow("*")], [allow("*")], ALLOWED),
    ("session-narrower-elsewhere", [allow()], [allow("cams:Get*")], IMPLICIT),
    ("identity-narrower-elsewhere", [allow("cams:Get*")], [allow("*")], IMPLICIT),
    ("session-denies", [allow("*")], [allow("*"), deny("cams:Enable*")], EXPLICIT),
    ("identity-denies", [allow("*"), deny()], [allow("*")], EXPLICIT),
    ("session-resource-elsewhere", [allow()], [allow(A, OTHER_ACCOUNT)], IMPLICIT),
    (
        "session-condition-fails",
        [allow()],
        [allow(Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}})],
        IMPLICIT,
    ),
]


@pytest.mark.parametrize(
    ("identity", "session", "expected"),
    [c[1:] for c in SESSION_CASES],
    ids=[c[0] for c in SESSION_CASES],
)
def test_session_policies_intersect(
    identity: list[dict[str, Any]], session: list[dict[str, Any]], expected: str
) -> None:
    decision = evaluate(
        [policy("Identity", *identity)], A, R, CONTEXT, session_policies=[policy("S", *session)]
    )
    assert decision.allowed is (expected == ALLOWED)
    assert decision.no_permission_type == (None if expected == ALLOWED else expected)


def test_session_policy_names_are_reported() -> None:
    decision = evaluate(
        [policy("RoiOnly", allow())], A, R, CONTEXT, session_policies=[policy("Session", allow())]
    )
    assert decision.allowing == ("RoiOnly", "Session")
    assert decision.evaluated == ("RoiOnly", "Session")
    denied = evaluate(
        [policy("RoiOnly", allow())], A, R, CONTEXT, session_policies=[policy("Session", deny())]
    )
    assert denied.denying == ("Session",)


def test_no_session_policies_means_identity_alone() -> None:
    identity = [policy("RoiOnly", allow())]
    assert evaluate(identity, A, R, CONTEXT, session_policies=None).allowed
    assert evaluate(identity, A, R, CONTEXT).allowed


def test_an_empty_session_policy_list_allows_nothing() -> None:
    decision = evaluate([policy("Admin", allow("*"))], A, R, CONTEXT, session_policies=[])
    assert not decision.allowed
    assert decision.no_permission_type == IMPLICIT


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

_ACTIONS = [
    A,
    "cams:*",
    "*",
    "cams:Enable*",
    "cams:enablewhatsapp?oimetric",
    "cams:Get*",
    "cams:GetChatappTemplateMetric",
    "ecs:*",
    "sts:AssumeRole",
]
_RESOURCES = [
    "*",
    R,
    "acs:cams:*:1000000000000001:*",
    OTHER_ACCOUNT,
    "acs:ecs:*:*:*",
]
_CONDITIONS: list[dict[str, Any]] = [
    {"IpAddress": {"acs:SourceIp": "192.168.0.0/16"}},
    {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"acs:SecureTransport": "true"}},
    {"Bool": {"acs:SecureTransport": "false"}},
    {"StringLike": {"acs:UserAgent": "*Node.js*"}},
    {"DateLessThan": {"acs:CurrentTime": "2027-01-01T00:00:00Z"}},
    {"StringEquals": {"cams:Channel": "whatsapp"}},
    {"StringNotEquals": {"cams:Channel": "whatsapp"}},
]

_action_field = st.one_of(
    st.sampled_from(_ACTIONS).map(lambda a: {"Action": a}),
    st.lists(st.sampled_from(_ACTIONS), min_size=1, max_size=3).map(lambda a: {"Action": a}),
    st.sampled_from(_ACTIONS).map(lambda a: {"NotAction": a}),
)
_resource_field = st.one_of(
    st.sampled_from(_RESOURCES).map(lambda r: {"Resource": r}),
    st.lists(st.sampled_from(_RESOURCES), min_size=1, max_size=3).map(lambda r: {"Resource": r}),
    st.sampled_from(_RESOURCES).map(lambda r: {"NotResource": r}),
)
_condition_field = st.one_of(
    st.just({}), st.sampled_from(_CONDITIONS).map(lambda c: {"Condition": c})
)


def _statements(effects: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda effect, a, r, c: {"Effect": effect, **a, **r, **c},
        effects,
        _action_field,
        _resource_field,
        _condition_field,
    )


_any_statement = _statements(st.sampled_from(["Allow", "Deny"]))
_allow_statement = _statements(st.just("Allow"))
_documents = st.lists(st.lists(_any_statement, min_size=1, max_size=4), max_size=4)

# A Deny that certainly applies to A on R in CONTEXT.
_matching_deny = st.builds(
    lambda a, r, c: {"Effect": "Deny", **a, **r, **c},
    st.one_of(
        st.sampled_from([A, "cams:*", "*", "cams:Enable*", "CAMS:enablewhatsapp?oimetric"]).map(
            lambda a: {"Action": a}
        ),
        st.sampled_from(["cams:Get*", "ecs:*"]).map(lambda a: {"NotAction": a}),
    ),
    st.one_of(
        st.sampled_from(["*", R, "acs:cams:*:1000000000000001:*"]).map(lambda r: {"Resource": r}),
        st.just({"NotResource": OTHER_ACCOUNT}),
    ),
    st.sampled_from(
        [
            {},
            {"Condition": {"IpAddress": {"acs:SourceIp": "192.168.0.0/16"}}},
            {"Condition": {"Bool": {"acs:SecureTransport": "true"}}},
            {"Condition": {"StringNotEquals": {"cams:Channel": "whatsapp"}}},
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    docs=_documents,
    session=st.one_of(st.none(), _documents),
    deny_statement=_matching_deny,
    where=st.integers(0, 100),
    in_session=st.booleans(),
)
def test_a_matching_explicit_deny_always_denies(
    docs: list[list[dict[str, Any]]],
    session: list[list[dict[str, Any]]] | None,
    deny_statement: dict[str, Any],
    where: int,
    in_session: bool,
) -> None:
    target = session if (in_session and session is not None) else docs
    if target and where % 2:
        statements = target[where % len(target)]
        statements.insert(where % (len(statements) + 1), deny_statement)
    else:
        target.insert(where % (len(target) + 1), [deny_statement])
    decision = evaluate(
        policies(docs),
        A,
        R,
        CONTEXT,
        session_policies=None if session is None else policies(session, prefix="S"),
    )
    assert not decision.allowed
    assert decision.explicit_deny
    assert decision.no_permission_type == EXPLICIT


@settings(max_examples=200, deadline=None)
@given(
    docs=_documents,
    session=st.one_of(st.none(), _documents),
    extra=_allow_statement,
    where=st.integers(0, 100),
    in_session=st.booleans(),
)
def test_adding_an_allow_never_turns_allowed_into_denied(
    docs: list[list[dict[str, Any]]],
    session: list[list[dict[str, Any]]] | None,
    extra: dict[str, Any],
    where: int,
    in_session: bool,
) -> None:
    def decide() -> PolicyDecision:
        return evaluate(
            policies(docs),
            A,
            R,
            CONTEXT,
            session_policies=None if session is None else policies(session, prefix="S"),
        )

    before = decide()
    target = session if (in_session and session is not None) else docs
    if target and where % 2:
        statements = target[where % len(target)]
        statements.insert(where % (len(statements) + 1), extra)
    else:
        target.insert(where % (len(target) + 1), [extra])
    after = decide()
    if before.allowed:
        assert after.allowed
    # An Allow never creates an explicit deny either.
    assert after.explicit_deny == before.explicit_deny
