"""Policy `Condition` blocks: operators, global keys, and their AND/OR rules.

Operators and keys AND together; the values listed for one key OR together. A key
the request does not carry fails a positive operator and satisfies a negated one.
Values are checked when a policy is parsed, so a malformed condition is refused at
`world apply`, not discovered at call time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from cams_server.ram.wildcards import wildcard

__all__ = [
    "GLOBAL_KEYS",
    "OPERATORS",
    "Condition",
    "ConditionError",
    "RequestContext",
    "parse_conditions",
]

GLOBAL_KEYS = (
    "acs:SourceIp",
    "acs:SecureTransport",
    "acs:CurrentTime",
    "acs:MFAPresent",
    "acs:UserAgent",
    "acs:AccessId",
    "acs:PrincipalArn",
)
_GLOBAL_BY_LOWER = {k.lower(): k for k in GLOBAL_KEYS}
_SERVICE_KEY = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9._-]+\Z")

# The request's condition values, by canonical key name, as strings.
RequestContext = Mapping[str, str]


class ConditionError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message


def _parse_date(text: str) -> datetime:
    value = text.strip()
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_number(text: str) -> Decimal:
    number = Decimal(text.strip())
    if not number.is_finite():
        raise InvalidOperation(text)
    return number


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _like(pattern: str, value: str) -> bool:
    """StringLike: `*` and `?` only (`[` is literal), case-sensitive."""
    return wildcard(pattern, False).matches(value)


def _compare(
    parse: Callable[[str], object], test: Callable[[object, object], bool]
) -> Callable[[str, str], bool]:
    def check(expected: str, actual: str) -> bool:
        try:
            return test(parse(actual), parse(expected))
        except (ValueError, InvalidOperation, TypeError, OverflowError, OSError):
            return False

    return check


def _in_network(expected: str, actual: str) -> bool:
    try:
        return ipaddress.ip_address(actual.strip()) in _parse_network(expected)
    except ValueError:
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Operator:
    check: Callable[[str, str], bool]  # (policy value, request value) -> bool
    negated: bool
    validate: Callable[[str], object] | None
    # A request value the operator cannot read fails it, negated or not (fail closed).
    readable: Callable[[str], bool] | None = None


def _lt(a: object, b: object) -> bool:
    return a < b  # type: ignore[operator,no-any-return]


def _le(a: object, b: object) -> bool:
    return a <= b  # type: ignore[operator,no-any-return]


def _gt(a: object, b: object) -> bool:
    return a > b  # type: ignore[operator,no-any-return]


def _ge(a: object, b: object) -> bool:
    return a >= b  # type: ignore[operator,no-any-return]


def _eq(a: object, b: object) -> bool:
    return a == b


OPERATORS: Mapping[str, _Operator] = {
    "StringEquals": _Operator(lambda e, a: a == e, False, None),
    "StringNotEquals": _Operator(lambda e, a: a == e, True, None),
    "StringEqualsIgnoreCase": _Operator(lambda e, a: a.lower() == e.lower(), False, None),
    "StringNotEqualsIgnoreCase": _Operator(lambda e, a: a.lower() == e.lower(), True, None),
    "StringLike": _Operator(_like, False, None),
    "StringNotLike": _Operator(_like, True, None),
    "NumericEquals": _Operator(_compare(_parse_number, _eq), False, _parse_number),
    "NumericNotEquals": _Operator(_compare(_parse_number, _eq), True, _parse_number),
    "NumericLessThan": _Operator(_compare(_parse_number, _lt), False, _parse_number),
    "NumericLessThanEquals": _Operator(_compare(_parse_number, _le), False, _parse_number),
    "NumericGreaterThan": _Operator(_compare(_parse_number, _gt), False, _parse_number),
    "NumericGreaterThanEquals": _Operator(_compare(_parse_number, _ge), False, _parse_number),
    "DateEquals": _Operator(_compare(_parse_date, _eq), False, _parse_date),
    "DateNotEquals": _Operator(_compare(_parse_date, _eq), True, _parse_date),
    "DateLessThan": _Operator(_compare(_parse_date, _lt), False, _parse_date),
    "DateLessThanEquals": _Operator(_compare(_parse_date, _le), False, _parse_date),
    "DateGreaterThan": _Operator(_compare(_parse_date, _gt), False, _parse_date),
    "DateGreaterThanEquals": _Operator(_compare(_parse_date, _ge), False, _parse_date),
    "Bool": _Operator(_compare(_parse_bool, _eq), False, _parse_bool),
    "IpAddress": _Operator(_in_network, False, _parse_network, _is_ip),
    "NotIpAddress": _Operator(_in_network, True, _parse_network, _is_ip),
}


@dataclass(frozen=True, slots=True)
class Condition:
    """One `operator: {key: [values]}` entry; values OR together."""

    operator: str
    key: str
    values: tuple[str, ...]

    def holds(self, context: RequestContext) -> bool:
        op = OPERATORS[self.operator]
        actual = context.get(self.key)
        if actual is None:
            return op.negated
        if op.readable is not None and not op.readable(actual):
            return False
        matched = any(op.check(expected, actual) for expected in self.values)
        return not matched if op.negated else matched


def _canonical_key(key: str, path: str) -> str:
    if key.lower().startswith("acs:"):
        canonical = _GLOBAL_BY_LOWER.get(key.lower())
        if canonical is None:
            known = ", ".join(GLOBAL_KEYS)
            raise ConditionError(path, f"unknown condition key {key!r}; global keys are {known}")
        return canonical
    if not _SERVICE_KEY.match(key):
        raise ConditionError(path, f"condition key {key!r} is not of the form service:Name")
    return key


def _scalar(value: object, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConditionError(
        path, f"condition values must be strings, numbers or booleans, got {value!r}"
    )


def parse_conditions(raw: object, path: str) -> tuple[Condition, ...]:
    """Parse and check a statement's `Condition` object."""
    if not isinstance(raw, Mapping):
        raise ConditionError(path, "Condition must be an object of operators")
    conditions: list[Condition] = []
    for operator, block in raw.items():
        op_path = f"{path}.{operator}"
        op = OPERATORS.get(operator)
        if op is None:
            known = ", ".join(OPERATORS)
            raise ConditionError(
                op_path, f"unknown condition operator {operator!r}; use one of {known}"
            )
        if not isinstance(block, Mapping) or not block:
            raise ConditionError(op_path, "an operator takes a non-empty object of key: values")
        for key, values in block.items():
            key_path = f"{op_path}.{key}"
            canonical = _canonical_key(str(key), key_path)
            items: Sequence[object] = values if isinstance(values, list) else [values]
            if not items:
                raise ConditionError(key_path, "a condition key needs at least one value")
            texts = tuple(_scalar(v, key_path) for v in items)
            if op.validate is not None:
                for text in texts:
                    try:
                        op.validate(text)
                    except (ValueError, InvalidOperation, OverflowError, OSError):
                        raise ConditionError(
                            key_path, f"{text!r} is not a valid value for {operator}"
                        ) from None
            conditions.append(Condition(operator, canonical, texts))
    return tuple(conditions)
