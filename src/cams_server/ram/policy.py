"""The RAM policy grammar: parsing, checking and matching policy documents.

A document is `{"Version": "1", "Statement": [...]}`. Action names match
case-insensitively with `*` and `?`; resource ARNs
(`acs:<service>:<region>:<account>:<relative-id>`) match with the same wildcards,
case-sensitively. Both go through `ram.wildcards`, whose cost is linear in the size of
pattern and subject whatever the pattern (a session policy is the caller's to write).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cams_server.ram.conditions import Condition, ConditionError, RequestContext, parse_conditions
from cams_server.ram.wildcards import wildcard
from cams_server.wire.untrusted import parse_json

__all__ = ["Policy", "PolicyError", "Statement", "parse_policy", "resource_matches", "wildcard"]

_ACTION = re.compile(r"^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)\Z")
_STATEMENT_KEYS = {
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Principal",
    "Sid",
}


class PolicyError(ValueError):
    """A policy document that is not valid RAM grammar; `path` locates the problem."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.detail = message


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether one `Resource` pattern covers an ARN: wildcards, case-sensitive."""
    return wildcard(pattern, False).matches(resource)


def _matches_any_action(patterns: Sequence[str], action: str) -> bool:
    return any(wildcard(p, True).matches(action) for p in patterns)


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]
    principals: Mapping[str, tuple[str, ...]]

    def matches_action(self, action: str) -> bool:
        """Action names compare case-insensitively."""
        if self.not_actions:
            return not _matches_any_action(self.not_actions, action)
        return _matches_any_action(self.actions, action)

    def matches_resource(self, resource: str) -> bool:
        if self.not_resources:
            return not any(resource_matches(p, resource) for p in self.not_resources)
        if not self.resources:  # trust policies name principals, not resources
            return True
        return any(resource_matches(p, resource) for p in self.resources)

    def conditions_hold(self, context: RequestContext) -> bool:
        return all(c.holds(context) for c in self.conditions)

    def applies(self, action: str, resource: str, context: RequestContext) -> bool:
        return (
            self.matches_action(action)
            and self.matches_resource(resource)
            and self.conditions_hold(context)
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy document, named by where it came from."""

    name: str
    policy_type: str  # "System" or "Custom" (or "Session", "Trust")
    statements: tuple[Statement, ...]
    document: str


def _strings(raw: object, path: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError(path, "must name at least one value")
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise PolicyError(
                f"{path}[{i}]" if isinstance(raw, list) else path,
                f"must be a non-empty string, got {item!r}",
            )
        out.append(item)
    return tuple(out)


def _parse_actions(raw: object, path: str) -> tuple[str, ...]:
    actions = _strings(raw, path)
    for action in actions:
        if not _ACTION.match(action):
            raise PolicyError(
                path,
                f"{action!r} is not an action: use service:Name, e.g. cams:EnableWhatsappROIMetric",
            )
    return actions


def _parse_resources(raw: object, path: str) -> tuple[str, ...]:
    resources = _strings(raw, path)
    for resource in resources:
        if resource != "*" and not resource.startswith("acs:"):
            raise PolicyError(
                path,
                f"{resource!r} is not a resource: use * or an ARN acs:service:region:account:id",
            )
        if resource != "*" and resource.count(":") < 4 and not resource.endswith("*"):
            raise PolicyError(path, f"{resource!r} is not a full ARN acs:service:region:account:id")
    return resources


def _parse_principals(raw: object, path: str) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise PolicyError(
            path, 'Principal must be an object such as {"RAM": ["acs:ram::<account>:root"]}'
        )
    principals: dict[str, tuple[str, ...]] = {}
    for kind, values in raw.items():
        if kind not in ("RAM", "Service", "Federated"):
            raise PolicyError(f"{path}.{kind}", "principal type must be RAM, Service or Federated")
        principals[kind] = _strings(values, f"{path}.{kind}")
    return principals


def _parse_statement(raw: object, path: str, trust: bool) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "a statement must be an object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(path, f"unknown statement key(s): {', '.join(sorted(unknown))}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{path}.Effect", f"must be Allow or Deny, got {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(path, "exactly one of Action or NotAction is required")
    actions = _parse_actions(raw["Action"], f"{path}.Action") if "Action" in raw else ()
    not_actions = (
        _parse_actions(raw["NotAction"], f"{path}.NotAction") if "NotAction" in raw else ()
    )
    if "Resource" in raw and "NotResource" in raw:
        raise PolicyError(path, "use Resource or NotResource, not both")
    resources = _parse_resources(raw["Resource"], f"{path}.Resource") if "Resource" in raw else ()
    not_resources = (
        _parse_resources(raw["NotResource"], f"{path}.NotResource") if "NotResource" in raw else ()
    )
    principals: Mapping[str, tuple[str, ...]] = {}
    if trust:
        if "Principal" not in raw:
            raise PolicyError(path, "a trust policy statement needs a Principal")
        principals = _parse_principals(raw["Principal"], f"{path}.Principal")
    else:
        if "Principal" in raw:
            raise PolicyError(
                f"{path}.Principal", "only trust policies (on roles) name a Principal"
            )
        if not resources and not not_resources:
            raise PolicyError(path, "exactly one of Resource or NotResource is required")
    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        try:
            conditions = parse_conditions(raw["Condition"], f"{path}.Condition")
        except ConditionError as exc:
            raise PolicyError(exc.path, exc.detail) from None
    return Statement(
        str(effect), actions, not_actions, resources, not_resources, conditions, principals
    )


def parse_policy(
    document: str | Mapping[str, Any],
    name: str = "",
    policy_type: str = "Custom",
    *,
    trust: bool = False,
) -> Policy:
    """Parse and check a policy document; raise `PolicyError` naming the offending path."""
    text = document if isinstance(document, str) else json.dumps(document)
    if isinstance(document, str):
        try:
            raw = parse_json(document)
        except ValueError as exc:
            raise PolicyError("", f"not valid JSON: {exc}") from None
    else:
        raw = document
    if not isinstance(raw, Mapping):
        raise PolicyError("", "a policy document must be a JSON object")
    unknown = set(raw) - {"Version", "Statement"}
    if unknown:
        raise PolicyError("", f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    if raw.get("Version") != "1":
        raise PolicyError("Version", f'must be "1", got {raw.get("Version")!r}')
    statements_raw = raw.get("Statement")
    if isinstance(statements_raw, Mapping):
        statements_raw = [statements_raw]
    if not isinstance(statements_raw, list) or not statements_raw:
        raise PolicyError("Statement", "must be a non-empty list of statements")
    statements = tuple(
        _parse_statement(s, f"Statement[{i}]", trust) for i, s in enumerate(statements_raw)
    )
    return Policy(name, policy_type, statements, text)
