"""What makes a world valid: unique ids, resolvable references, sound policies.

Every problem is reported with its path in the file (`accounts[0].users[1].policies[0]`)
so the author can find it; nothing is applied unless there are none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from cams_server.model.world import (
    AccountSpec,
    GroupSpec,
    IsvCodeSpec,
    PolicySpec,
    RoleSpec,
    SpaceSpec,
    UserSpec,
    World,
)
from cams_server.ram.directory import resource_arn, role_arn
from cams_server.ram.names import name_key
from cams_server.ram.policy import PolicyError, Statement, parse_policy, resource_matches
from cams_server.ram.system_policies import SYSTEM_POLICY_DOCUMENTS

__all__ = ["MAX_POLICY_DOCUMENT", "WorldError", "policy_warnings", "validate_world"]

_ACCOUNT_ID = re.compile(r"^[0-9]{1,32}\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_ACCESS_KEY_ID = re.compile(r"^[A-Za-z0-9]{8,128}\Z")
_SPACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+\Z")
# RAM's CreatePolicy takes a PolicyDocument of at most 6,144 characters. Holding custom
# policies to it also bounds every pattern the matcher meets from the world file.
MAX_POLICY_DOCUMENT = 6144
# System policies are attached by name like custom ones, and no custom one may take theirs.
_SYSTEM_POLICY_KEYS = frozenset(name_key(n) for n in SYSTEM_POLICY_DOCUMENTS)


class WorldError(ValueError):
    """A world that cannot be applied; `problems` are `path: message` lines."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {source}: {p}" for p in self.problems)
        super().__init__(f"{source}: the world is not valid, nothing was applied:\n{lines}")


def _duplicates(
    values: Iterable[tuple[str, str]], what: str, key: Callable[[str], str] = str
) -> Iterator[str]:
    """Each value whose `key` an earlier one already has, naming both places: the author
    must see which declaration to rename or remove."""
    seen: dict[str, tuple[str, str]] = {}
    for path, value in values:
        first = seen.get(key(value))
        if first is None:
            seen[key(value)] = (path, value)
            continue
        first_path, first_value = first
        if first_value == value:
            yield f"{path}: duplicate {what} {value!r} (first declared at {first_path})"
        else:
            yield (
                f"{path}: duplicate {what} {value!r}: {first_value!r} is declared at {first_path} "
                "and RAM names are unique regardless of case; rename one of them"
            )


@dataclass(frozen=True, slots=True)
class _Declared:
    """What an account's references may name. Names resolve as lookups do, by `name_key`
    whatever the case; space ids exactly."""

    policies: frozenset[str]  # the account's custom policies and the system ones
    groups: frozenset[str]
    users: frozenset[str]
    spaces: frozenset[str]

    @staticmethod
    def of(account: AccountSpec) -> _Declared:
        return _Declared(
            policies=frozenset(name_key(p.name) for p in account.policies) | _SYSTEM_POLICY_KEYS,
            groups=frozenset(name_key(g.name) for g in account.groups),
            users=frozenset(name_key(u.name) for u in account.users),
            spaces=frozenset(s.id for s in account.spaces),
        )


def _region_problems(region: str) -> Iterator[str]:
    """The region is part of every CAMS ARN policies are matched against."""
    if not _REGION.match(region):
        yield f"region: {region!r} is not a region id like ap-southeast-1"


def _duplicate_names(path: str, account: AccountSpec) -> Iterator[str]:
    """Names that repeat within the account's policies, groups, users or roles, whatever
    the case: RAM looks them up regardless of case, so two would be one."""
    for field, what, names in (
        ("policies", "policy name", [p.name for p in account.policies]),
        ("groups", "group name", [g.name for g in account.groups]),
        ("users", "user name", [u.name for u in account.users]),
        ("roles", "role name", [r.name for r in account.roles]),
    ):
        yield from _duplicates(
            ((f"{path}.{field}[{i}].name", name) for i, name in enumerate(names)), what, name_key
        )


def _invalid_name(path: str, name: str, what: str) -> Iterator[str]:
    """A name RAM would refuse: it appears in ARNs and policies as written."""
    if not _NAME.match(name):
        yield f"{path}.name: {name!r} is not a valid {what} name"


def _policy_references(path: str, names: Iterable[str], declared: _Declared) -> Iterator[str]:
    """Attached policies that resolve to nothing: attaching is by name, in this account."""
    for i, name in enumerate(names):
        if name_key(name) not in declared.policies:
            yield (
                f"{path}[{i}]: policy {name!r} is neither declared in this account's "
                "[[accounts.policies]] nor a system policy"
            )


def _group_references(path: str, names: Iterable[str], declared: _Declared) -> Iterator[str]:
    """Groups a user is in that resolve to nothing in this account."""
    for i, group_name in enumerate(names):
        if name_key(group_name) not in declared.groups:
            yield f"{path}[{i}]: group {group_name!r} is not declared in this account"


def _policy_document_problems(path: str, policy: PolicySpec) -> Iterator[str]:
    """A custom policy's document: within RAM's size (which also bounds every pattern the
    matcher meets) and grammatical, since it is evaluated on every call."""
    if len(policy.document) > MAX_POLICY_DOCUMENT:
        yield (
            f"{path}: {len(policy.document)} characters, more than the "
            f"{MAX_POLICY_DOCUMENT} a RAM policy document may hold; split its statements "
            "over several policies"
        )
        return
    try:
        parse_policy(policy.document, name=policy.name)
    except PolicyError as exc:
        yield f"{path}: {exc}"


def _custom_policy_problems(path: str, policy: PolicySpec) -> Iterator[str]:
    """A custom policy: a valid name that no system policy has (it would shadow it, or
    be shadowed), and a sound document."""
    yield from _invalid_name(path, policy.name, "policy")
    if name_key(policy.name) in _SYSTEM_POLICY_KEYS:
        yield f"{path}.name: {policy.name!r} is a system policy name; pick another"
    yield from _policy_document_problems(f"{path}.document", policy)


def _group_problems(path: str, group: GroupSpec, declared: _Declared) -> Iterator[str]:
    """A group: its name, and the policies its members get through it."""
    yield from _invalid_name(path, group.name, "group")
    yield from _policy_references(f"{path}.policies", group.policies, declared)


def _user_problems(path: str, user: UserSpec, declared: _Declared) -> Iterator[str]:
    """A user: its name, and the policies and groups its permissions come from."""
    yield from _invalid_name(path, user.name, "user")
    yield from _policy_references(f"{path}.policies", user.policies, declared)
    yield from _group_references(f"{path}.groups", user.groups, declared)


def _role_problems(path: str, role: RoleSpec, declared: _Declared) -> Iterator[str]:
    """A role: besides its name and policies, the session length RAM allows and a trust
    policy AssumeRole can evaluate."""
    yield from _invalid_name(path, role.name, "role")
    yield from _policy_references(f"{path}.policies", role.policies, declared)
    if not 3600 <= role.max_session_duration <= 43200:
        yield (
            f"{path}.max_session_duration: {role.max_session_duration} "
            "is outside 3600..43200 seconds"
        )
    try:
        parse_policy(role.trust, name=f"{role.name}-trust", policy_type="Trust", trust=True)
    except PolicyError as exc:
        yield f"{path}.trust: {exc}"


def _space_problems(path: str, space: SpaceSpec) -> Iterator[str]:
    """A space id of the form callers pass as CustSpaceId."""
    if not _SPACE_ID.match(space.id):
        yield f"{path}.id: {space.id!r} is not a valid space id"


def _isv_code_problems(path: str, code: IsvCodeSpec, declared: _Declared) -> Iterator[str]:
    """An ISV code: bounded, and issued to a user and for spaces of its own account."""
    if not code.code or len(code.code) > 128:
        yield f"{path}.code: must be 1 to 128 characters"
    if name_key(code.user) not in declared.users:
        yield f"{path}.user: user {code.user!r} is not declared in this account"
    for i, space_id in enumerate(code.spaces):
        if space_id not in declared.spaces:
            yield f"{path}.spaces[{i}]: space {space_id!r} is not declared in this account"


def _account_problems(path: str, account: AccountSpec) -> Iterator[str]:
    """Everything checked within one account, in the order of its declarations."""
    if not _ACCOUNT_ID.match(account.id):
        yield f"{path}.id: {account.id!r} is not an account UID (digits only)"
    yield from _duplicate_names(path, account)
    declared = _Declared.of(account)
    for i, policy in enumerate(account.policies):
        yield from _custom_policy_problems(f"{path}.policies[{i}]", policy)
    for i, group in enumerate(account.groups):
        yield from _group_problems(f"{path}.groups[{i}]", group, declared)
    for i, user in enumerate(account.users):
        yield from _user_problems(f"{path}.users[{i}]", user, declared)
    for i, role in enumerate(account.roles):
        yield from _role_problems(f"{path}.roles[{i}]", role, declared)
    for i, space in enumerate(account.spaces):
        yield from _space_problems(f"{path}.spaces[{i}]", space)
    for i, code in enumerate(account.isv_codes):
        yield from _isv_code_problems(f"{path}.isv_codes[{i}]", code, declared)


def _account_ids(world: World) -> Iterator[tuple[str, str]]:
    """(path, id) of every account: an account id names one account in the whole file."""
    for a_i, account in enumerate(world.accounts):
        yield f"accounts[{a_i}].id", account.id


def _access_key_ids(world: World) -> Iterator[tuple[str, str]]:
    """(path, id) of every AccessKey, the accounts' own and their users': a key id names
    one secret in the whole file, since a request is signed with the id alone."""
    for a_i, account in enumerate(world.accounts):
        ap = f"accounts[{a_i}]"
        for k_i, key in enumerate(account.access_keys):
            yield f"{ap}.access_keys[{k_i}].id", key.id
        for u_i, user in enumerate(account.users):
            for k_i, key in enumerate(user.access_keys):
                yield f"{ap}.users[{u_i}].access_keys[{k_i}].id", key.id


def _malformed_access_key_ids(key_ids: Iterable[tuple[str, str]]) -> Iterator[str]:
    """Key ids not of the form AccessKey ids take, the form the SDKs send."""
    for path, key_id in key_ids:
        if not _ACCESS_KEY_ID.match(key_id):
            yield f"{path}: {key_id!r} is not an AccessKey id (8 to 128 letters and digits)"


def _space_ids(world: World) -> Iterator[tuple[str, str]]:
    """(path, id) of every space: a call names its space by id alone (CustSpaceId)."""
    for a_i, account in enumerate(world.accounts):
        for s_i, space in enumerate(account.spaces):
            yield f"accounts[{a_i}].spaces[{s_i}].id", space.id


def _isv_codes(world: World) -> Iterator[tuple[str, str]]:
    """(path, code) of every ISV code: a call presents the code alone (IsvCode)."""
    for a_i, account in enumerate(world.accounts):
        for c_i, code in enumerate(account.isv_codes):
            yield f"accounts[{a_i}].isv_codes[{c_i}].code", code.code


def validate_world(world: World, source: str) -> None:
    """Raise `WorldError` listing every problem in `world`: the region, each account's
    own, then the ids that must be unique across the file (and the AccessKey ids' form)."""
    key_ids = list(_access_key_ids(world))
    problems = [
        *_region_problems(world.region),
        *(p for i, a in enumerate(world.accounts) for p in _account_problems(f"accounts[{i}]", a)),
        *_duplicates(_account_ids(world), "account id"),
        *_duplicates(key_ids, "AccessKey id"),
        *_malformed_access_key_ids(key_ids),
        *_duplicates(_space_ids(world), "space id"),
        *_duplicates(_isv_codes(world), "ISV code"),
    ]
    if problems:
        raise WorldError(source, problems)


# (field, every pattern of the field is dead) -> what a dead pattern means
_EFFECTS: Mapping[tuple[str, bool], str] = {
    ("Resource", True): "the statement never applies",
    ("Resource", False): "it adds nothing to the statement",
    ("NotResource", True): "it excludes nothing and the statement applies to every resource",
    ("NotResource", False): "it excludes nothing",
}


def _dead_resources(
    index: int, statement: Statement, authorized: Sequence[str]
) -> Iterator[tuple[str, str, str]]:
    """(path, pattern, effect) for each Resource or NotResource pattern of a statement
    that matches none of the `authorized` ARNs."""
    for field, patterns in (
        ("Resource", statement.resources),
        ("NotResource", statement.not_resources),
    ):
        dead = [
            (i, pattern)
            for i, pattern in enumerate(patterns)
            if not any(resource_matches(pattern, arn) for arn in authorized)
        ]
        effect = _EFFECTS[(field, len(dead) == len(patterns))]
        for i, pattern in dead:
            path = f"Statement[{index}].{field}" + (f"[{i}]" if len(patterns) > 1 else "")
            yield path, pattern, effect


def policy_warnings(world: World) -> list[str]:
    """`path: message` lines for custom-policy resources that can never match here.

    RAM accepts any ARN in `Resource`, but this server authorizes CAMS operations on
    `acs:cams:<region>:<account>:*` (the whole account, never a space) and AssumeRole on
    `acs:ram::<account>:role/<name>`; a statement whose resources cover none of those
    never applies, and a `NotResource` that covers none excludes nothing. Such a policy
    is valid, so `world apply` only warns. Call it on a world `validate_world` passed.
    """
    warnings: list[str] = []
    roles = [role_arn(a.id, r.name) for a in world.accounts for r in a.roles]
    for a_i, account in enumerate(world.accounts):
        cams = resource_arn(world.region, "cams", account.id)
        authorized = (cams, *roles)
        why = (
            f"this server authorizes CAMS actions on {cams} (the whole account, not a space) "
            "and sts:AssumeRole on acs:ram::<account>:role/<name> of a declared role"
            + ("" if roles else " (this world declares none)")
        )
        for p_i, spec in enumerate(account.policies):
            statements = parse_policy(spec.document, name=spec.name).statements
            for s_i, statement in enumerate(statements):
                for path, pattern, effect in _dead_resources(s_i, statement, authorized):
                    warnings.append(
                        f"accounts[{a_i}].policies[{p_i}].document: {path}: {pattern!r} in "
                        f"policy {spec.name!r} of account {account.id} can never match, so "
                        f"{effect}: {why}"
                    )
    return warnings
