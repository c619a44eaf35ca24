"""What makes a world valid: unique ids, resolvable references, sound policies.

Every problem is reported with its path in the file (`accounts[0].users[1].policies[0]`)
so the author can find it; nothing is applied unless there are none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from cams_server.model.world import World
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


class WorldError(ValueError):
    """A world that cannot be applied; `problems` are `path: message` lines."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {source}: {p}" for p in self.problems)
        super().__init__(f"{source}: the world is not valid, nothing was applied:\n{lines}")


def _dupes(
    values: Iterable[tuple[str, str]],
    what: str,
    problems: list[str],
    key: Callable[[str], str] = str,
) -> None:
    """Report each value whose `key` an earlier one already has, naming both places."""
    seen: dict[str, tuple[str, str]] = {}
    for path, value in values:
        first = seen.get(key(value))
        if first is None:
            seen[key(value)] = (path, value)
            continue
        first_path, first_value = first
        if first_value == value:
            problems.append(f"{path}: duplicate {what} {value!r} (first declared at {first_path})")
        else:
            problems.append(
                f"{path}: duplicate {what} {value!r}: {first_value!r} is declared at {first_path} "
                "and RAM names are unique regardless of case; rename one of them"
            )


def validate_world(world: World, source: str) -> None:
    """Raise `WorldError` listing every problem in `world`."""
    problems: list[str] = []
    if not _REGION.match(world.region):
        problems.append(f"region: {world.region!r} is not a region id like ap-southeast-1")
    system = {name_key(n) for n in SYSTEM_POLICY_DOCUMENTS}
    key_ids: list[tuple[str, str]] = []
    space_ids: list[tuple[str, str]] = []
    codes: list[tuple[str, str]] = []
    for a_i, account in enumerate(world.accounts):
        ap = f"accounts[{a_i}]"
        if not _ACCOUNT_ID.match(account.id):
            problems.append(f"{ap}.id: {account.id!r} is not an account UID (digits only)")
        for k_i, key in enumerate(account.access_keys):
            key_ids.append((f"{ap}.access_keys[{k_i}].id", key.id))
        _dupes(
            ((f"{ap}.policies[{i}].name", p.name) for i, p in enumerate(account.policies)),
            "policy name",
            problems,
            name_key,
        )
        _dupes(
            ((f"{ap}.groups[{i}].name", g.name) for i, g in enumerate(account.groups)),
            "group name",
            problems,
            name_key,
        )
        _dupes(
            ((f"{ap}.users[{i}].name", u.name) for i, u in enumerate(account.users)),
            "user name",
            problems,
            name_key,
        )
        _dupes(
            ((f"{ap}.roles[{i}].name", r.name) for i, r in enumerate(account.roles)),
            "role name",
            problems,
            name_key,
        )
        # References resolve as lookups do: by `name_key`, whatever the case.
        policy_names = {name_key(p.name) for p in account.policies} | system
        group_names = {name_key(g.name) for g in account.groups}
        user_names = {name_key(u.name) for u in account.users}
        account_spaces = {s.id for s in account.spaces}

        def check_policies(
            path: str, names: Iterable[str], _known: set[str] = policy_names
        ) -> None:
            for i, name in enumerate(names):
                if name_key(name) not in _known:
                    problems.append(
                        f"{path}[{i}]: policy {name!r} is neither declared in this account's "
                        "[[accounts.policies]] nor a system policy"
                    )

        for p_i, policy in enumerate(account.policies):
            pp = f"{ap}.policies[{p_i}]"
            if not _NAME.match(policy.name):
                problems.append(f"{pp}.name: {policy.name!r} is not a valid policy name")
            if name_key(policy.name) in system:
                problems.append(f"{pp}.name: {policy.name!r} is a system policy name; pick another")
            if len(policy.document) > MAX_POLICY_DOCUMENT:
                problems.append(
                    f"{pp}.document: {len(policy.document)} characters, more than the "
                    f"{MAX_POLICY_DOCUMENT} a RAM policy document may hold; split its statements "
                    "over several policies"
                )
                continue
            try:
                parse_policy(policy.document, name=policy.name)
            except PolicyError as exc:
                problems.append(f"{pp}.document: {exc}")
        for g_i, group in enumerate(account.groups):
            gp = f"{ap}.groups[{g_i}]"
            if not _NAME.match(group.name):
                problems.append(f"{gp}.name: {group.name!r} is not a valid group name")
            check_policies(f"{gp}.policies", group.policies)
        for u_i, user in enumerate(account.users):
            up = f"{ap}.users[{u_i}]"
            if not _NAME.match(user.name):
                problems.append(f"{up}.name: {user.name!r} is not a valid user name")
            check_policies(f"{up}.policies", user.policies)
            for i, group_name in enumerate(user.groups):
                if name_key(group_name) not in group_names:
                    problems.append(
                        f"{up}.groups[{i}]: group {group_name!r} is not declared in this account"
                    )
            for k_i, key in enumerate(user.access_keys):
                key_ids.append((f"{up}.access_keys[{k_i}].id", key.id))
        for r_i, role in enumerate(account.roles):
            rp = f"{ap}.roles[{r_i}]"
            if not _NAME.match(role.name):
                problems.append(f"{rp}.name: {role.name!r} is not a valid role name")
            check_policies(f"{rp}.policies", role.policies)
            if not 3600 <= role.max_session_duration <= 43200:
                problems.append(
                    f"{rp}.max_session_duration: {role.max_session_duration} "
                    "is outside 3600..43200 seconds"
                )
            try:
                parse_policy(role.trust, name=f"{role.name}-trust", policy_type="Trust", trust=True)
            except PolicyError as exc:
                problems.append(f"{rp}.trust: {exc}")
        for s_i, space in enumerate(account.spaces):
            sp = f"{ap}.spaces[{s_i}]"
            if not _SPACE_ID.match(space.id):
                problems.append(f"{sp}.id: {space.id!r} is not a valid space id")
            space_ids.append((f"{sp}.id", space.id))
        for c_i, code in enumerate(account.isv_codes):
            cp = f"{ap}.isv_codes[{c_i}]"
            codes.append((f"{cp}.code", code.code))
            if not code.code or len(code.code) > 128:
                problems.append(f"{cp}.code: must be 1 to 128 characters")
            if name_key(code.user) not in user_names:
                problems.append(f"{cp}.user: user {code.user!r} is not declared in this account")
            for i, space_id in enumerate(code.spaces):
                if space_id not in account_spaces:
                    problems.append(
                        f"{cp}.spaces[{i}]: space {space_id!r} is not declared in this account"
                    )
    _dupes(
        ((f"accounts[{i}].id", a.id) for i, a in enumerate(world.accounts)), "account id", problems
    )
    _dupes(key_ids, "AccessKey id", problems)
    for path, key_id in key_ids:
        if not _ACCESS_KEY_ID.match(key_id):
            problems.append(
                f"{path}: {key_id!r} is not an AccessKey id (8 to 128 letters and digits)"
            )
    _dupes(space_ids, "space id", problems)
    _dupes(codes, "ISV code", problems)
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
