"""How RAM compares names: case-insensitively, through one function.

RAM user, group, role and policy names are unique within an account regardless of
case, and a trust policy naming `acs:ram::<account>:user/Alice` names the user `alice`.
Every comparison of such names (world validation, directory lookups, trust and
wildcard matching) folds both sides with `name_key`, so no two places can disagree
about whether two spellings are the same entity.
"""

from __future__ import annotations

__all__ = ["name_key"]


def name_key(text: str) -> str:
    """The case-folded form two names (or case-insensitive patterns) are compared in."""
    return text.lower()
