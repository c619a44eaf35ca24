"""The one RAM wildcard matcher: right on every pattern, and never slow on any."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_server.ram.policy import parse_policy
from cams_server.ram.wildcards import Wildcard, wildcard


def reference(pattern: str, subject: str, ignore_case: bool) -> bool:
    """The textbook dynamic program: can pattern[:i] match subject[:j]?"""

    def same(a: str, b: str) -> bool:
        return a.lower() == b.lower() if ignore_case else a == b

    rows, cols = len(pattern) + 1, len(subject) + 1
    table = [[False] * cols for _ in range(rows)]
    table[0][0] = True
    for i in range(1, rows):
        ch = pattern[i - 1]
        table[i][0] = table[i - 1][0] and ch == "*"
        for j in range(1, cols):
            if ch == "*":
                table[i][j] = table[i - 1][j] or table[i][j - 1]
            else:
                table[i][j] = table[i - 1][j - 1] and (ch == "?" or same(ch, subject[j - 1]))
    return table[-1][-1]


@given(
    pattern=st.text(alphabet="aAb*?.\n", max_size=12),
    subject=st.text(alphabet="aAb.\n*?", max_size=14),
    ignore_case=st.booleans(),
)
@settings(max_examples=3000, deadline=None)
def test_agrees_with_the_reference_matcher(pattern: str, subject: str, ignore_case: bool) -> None:
    assert wildcard(pattern, ignore_case).matches(subject) is reference(
        pattern, subject, ignore_case
    )


@given(
    pattern=st.text(alphabet="ab*?", max_size=10),
    parts=st.lists(st.text(alphabet="ab", max_size=4), max_size=4),
)
@settings(max_examples=1000, deadline=None)
def test_a_subject_built_from_the_pattern_matches(pattern: str, parts: list[str]) -> None:
    """Fill each `*` with some text and each `?` with a letter: the result must match."""
    fill = iter(parts)
    subject = "".join(next(fill, "") if ch == "*" else "a" if ch == "?" else ch for ch in pattern)
    assert wildcard(pattern, False).matches(subject)


@pytest.mark.parametrize(
    ("pattern", "subject", "ignore_case", "matches"),
    [
        ("", "", False, True),
        ("", "a", False, False),
        ("*", "", False, True),
        ("*", "anything at all\n", False, True),
        ("a*a", "a", False, False),  # head and tail may not overlap
        ("a*a", "aa", False, True),
        ("*ab*ab*", "abab", False, True),
        ("*ab*ab*", "aab", False, False),
        ("cams:*", "CAMS:GetX", True, True),
        ("cams:*", "CAMS:GetX", False, False),
        ("acs:cams:*:1:*", "acs:cams:ap-southeast-1:1:*", False, True),
        ("a.c", "abc", False, False),  # regex metacharacters are literal
        ("[abc]*", "[abc] tool", False, True),
        ("[abc]*", "a tool", False, False),
        ("?", "\n", False, True),
    ],
)
def test_examples(pattern: str, subject: str, ignore_case: bool, matches: bool) -> None:
    assert wildcard(pattern, ignore_case).matches(subject) is matches


def _fixed_width(segment: str | re.Pattern[str]) -> bool:
    """Whether a segment can only ever match one length (no repetition, no choice)."""
    if isinstance(segment, str):
        return "*" not in segment and "?" not in segment  # found as plain text
    parsed = re._parser.parse(segment.pattern, segment.flags)  # type: ignore[attr-defined]
    low, high = parsed.getwidth()
    return bool(low == high)


@pytest.mark.parametrize(
    "pattern",
    ["cams:************z", "*", "", "cams:EnableWhatsappROIMetric", "a?b*?*c??*d", "**a**", "?"],
)
@pytest.mark.parametrize("ignore_case", [True, False])
def test_every_segment_is_fixed_width(pattern: str, ignore_case: bool) -> None:
    """The cost argument: a match only looks for pieces of one length, never backtracking."""
    compiled = Wildcard.compile(pattern, ignore_case)
    assert all(_fixed_width(segment) for segment in compiled.segments)
    pieces = [p for p in pattern.split("*") if p]
    assert len(compiled.segments) <= len(pieces) + 2


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail, rather than hang, if the block takes longer than `seconds`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"took longer than {seconds} s: matching is not linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("*" * 1000 + "z", "a" * 10_000),
        ("a*" * 1000 + "z", "a" * 10_000),
        ("*" + "?a" * 500 + "b*", "a" * 10_000),
        ("cams:" + "*" * 40 + "z", "cams:EnableWhatsappROIMetric"),
    ],
    ids=["stars", "star-letter", "question-marks", "session-policy-action"],
)
def test_adversarial_patterns_finish(pattern: str, subject: str) -> None:
    with deadline(5):
        assert not wildcard(pattern, True).matches(subject)
        assert not wildcard(pattern, False).matches(subject)


def test_adversarial_statement_is_evaluated_promptly() -> None:
    document = (
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"cams:'
        + "*" * 40
        + 'z","Resource":"acs:cams:'
        + "*" * 40
        + ':z:z:z","Condition":{"StringLike":{"acs:UserAgent":"'
        + "*" * 40
        + 'z"}}}]}'
    )
    statement = parse_policy(document).statements[0]
    with deadline(5):
        assert not statement.matches_action("cams:EnableWhatsappROIMetric")
        assert not statement.matches_resource("acs:cams:ap-southeast-1:1000000000000001:*")
        assert not statement.conditions_hold({"acs:UserAgent": "AlibabaCloud " * 100})
