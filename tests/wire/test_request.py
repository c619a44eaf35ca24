"""Reading a request off the wire (wire/request.py): the fast paths give exactly what the
general ones give, and hostile bytes end as a `ServiceError`."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cams_server.wire.errors import ServiceError
from cams_server.wire.request import WireRequest, parse_pairs

# Queries over the characters that change how a query splits (`&`, `=`) and that need
# decoding (`%`, `+`), beside plain ones and non-ASCII text.
QUERY = st.text(alphabet="ab=&%+2Fé.~-_ ", max_size=24)


@given(QUERY)
def test_pairs_are_what_parse_qsl_makes_of_them(text: str) -> None:
    try:
        expected = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        with pytest.raises(ServiceError):
            parse_pairs(text.encode(), "query string")
        return
    assert parse_pairs(text.encode(), "query string") == expected


def test_plain_pairs_split_without_decoding() -> None:
    assert parse_pairs(b"a=1&&b=&c&d=x=y", "query string") == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("d", "x=y"),
    ]


def test_header_names_are_lower_case_text_and_values_trimmed() -> None:
    request = WireRequest.head(
        "POST",
        b"/",
        b"",
        [(b"X-Acs-Date", b" 2026-11-30T00:00:00Z "), (b"Accept", b"a"), (b"accept", b"b")],
        "127.0.0.1",
        False,
    )
    assert request.headers == {"x-acs-date": ["2026-11-30T00:00:00Z"], "accept": ["a", "b"]}


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-acs-date", b"\xff\xfe")],  # a value that is not UTF-8
        [(b"x-\xe9", b"v")],  # a name that is not ASCII
        [(b"x-acs-date", b"a"), (b"X-ACS-DATE", b"b")],  # a signed header twice
    ],
)
def test_hostile_heads_are_400s(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ServiceError) as refused:
        WireRequest.head("POST", b"/", b"", headers, "127.0.0.1", False)
    assert refused.value.status == 400
