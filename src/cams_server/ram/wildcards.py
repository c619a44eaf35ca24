"""The one `*`/`?` wildcard matcher of RAM: actions, resources, principals, StringLike.

RAM patterns know two wildcards: `*` (any run of characters, empty included) and `?`
(exactly one character); every other character is literal. Patterns come from policy
documents, and a session policy is written by the caller (AssumeRole's `Policy`), so a
match must stay cheap whatever the pattern. Translating `*` into `.*` for a
backtracking regex engine is not: `cams:************z` against a 28-character action
takes seconds, on the event loop every tenant shares.

A pattern is therefore split on `*` into segments of fixed length (a `?` is one
character). Without a `*` the single segment must cover the whole subject. With one,
the first segment must match at the start, the last at the end, and each middle one is
placed at its leftmost match after the previous one: for globs the leftmost placement
never rules out a match a later one would allow, so nothing is ever retried. Each
segment is either plain text (found with str methods) or, when it holds a `?`, a regex
without repetition or alternation (literal characters and `.`); finding one costs at
most len(subject) x len(segment), so a whole match costs O(len(pattern) x len(subject)).

Case-insensitive patterns (actions, trust principals) fold pattern and subject with
`name_key`, the one rule RAM compares names by, and then match exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cams_server.ram.names import name_key

__all__ = ["Wildcard", "wildcard"]

# A piece of pattern between stars: the text itself when it has no `?` (found with
# str methods), else a regex of literal characters and `.` (found with regex calls).
Segment = str | re.Pattern[str]

# How `matches` runs a pattern, chosen once when it is compiled, so that the common
# shapes (`cams:GetX`, `cams:Get*`, `*`) cost one string comparison.
_LITERAL = 0  # no wildcard at all: string equality
_WHOLE = 1  # `?` but no `*`: `head` covers the whole subject
_ANYTHING = 2  # only stars
_PREFIX = 3  # `head*` with a literal head: startswith
_GENERAL = 4  # `head` at the start, each of `middle` leftmost, `tail` at the end


def _segment(text: str) -> Segment:
    """`text` itself, or a fixed-length regex for it when it holds a `?` (any one char)."""
    if "?" not in text:
        return text
    return re.compile("".join("." if ch == "?" else re.escape(ch) for ch in text), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A compiled pattern; `matches` says whether a whole subject fits it."""

    pattern: str  # as compiled: folded with `name_key` when `ignore_case`
    ignore_case: bool
    plan: int
    prefix: str  # the text before the first `*` (all of it without one)
    head: Segment
    middle: tuple[Segment, ...]
    tail: Segment
    tail_length: int
    min_length: int  # the shortest subject that can match: every segment's characters

    @classmethod
    def compile(cls, pattern: str, ignore_case: bool) -> Wildcard:
        text = name_key(pattern) if ignore_case else pattern
        pieces = text.split("*")
        head, tail = pieces[0], pieces[-1]
        middle = tuple(_segment(p) for p in pieces[1:-1] if p)
        if len(pieces) == 1:
            plan = _WHOLE if "?" in text else _LITERAL
        elif not head and not middle and not tail:
            plan = _ANYTHING
        elif not middle and not tail and "?" not in head:
            plan = _PREFIX
        else:
            plan = _GENERAL
        return cls(
            pattern=text,
            ignore_case=ignore_case,
            plan=plan,
            prefix=head,
            head=_segment(head),
            middle=middle,
            tail=_segment(tail),
            tail_length=len(tail) if len(pieces) > 1 else 0,
            min_length=len(text) - (len(pieces) - 1),
        )

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Every segment a match may look for, in order (what the cost argument is about)."""
        if self.plan in (_LITERAL, _WHOLE):
            return (self.head,)
        return (self.head, *self.middle, self.tail)

    def matches(self, subject: str) -> bool:
        if self.ignore_case:
            subject = name_key(subject)
        plan = self.plan
        if plan == _LITERAL:
            return subject == self.pattern
        if plan == _ANYTHING:
            return True
        if plan == _PREFIX:
            return subject.startswith(self.prefix)
        end = len(subject)
        if end < self.min_length:
            return False
        if plan == _WHOLE and end != self.min_length:
            return False
        # Written out rather than through helpers: it runs on every call.
        head = self.head
        if isinstance(head, str):
            if not subject.startswith(head):
                return False
        elif head.match(subject) is None:
            return False
        if plan == _WHOLE:
            return True
        tail_start = end - self.tail_length  # min_length keeps it at or after the head
        position = len(self.prefix)
        for segment in self.middle:  # each at its leftmost place before the tail
            if isinstance(segment, str):
                found = subject.find(segment, position, tail_start)
                if found < 0:
                    return False
                position = found + len(segment)
            else:
                match = segment.search(subject, position, tail_start)
                if match is None:
                    return False
                position = match.end()
        tail = self.tail
        if isinstance(tail, str):
            return subject.endswith(tail)
        return tail.match(subject, tail_start) is not None


@lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool) -> Wildcard:
    """The compiled matcher for `pattern`, cached: the same few patterns run on every call.

    Actions and trust principals compare case-insensitively (`ignore_case=True`);
    resource ARNs and StringLike values case-sensitively.
    """
    return Wildcard.compile(pattern, ignore_case)
