r"""The Authorization header of signature V3: the one-step match of the SDKs' shape
decides exactly as the diagnosing parser would, and as the match before it (`[^,\s]`
classes) did."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cams_server.gateway.auth import _AUTH_V3, Authenticator
from cams_server.wire.errors import ServiceError

# Characters around the edges of the fast path's classes: commas, spaces and other
# whitespace, control and non-ASCII characters, upper-case hex.
_VALUES = st.text(
    st.sampled_from(
        [*"aZ09;-_.,= \t\n\x0b\x1c\x00\x01\x7fé空F", "\x85", "\xa0", "\u2028", "\u3000"]
    ),
    max_size=12,
)
_HEX = st.text(st.sampled_from("0123456789abcdefABX "), min_size=62, max_size=66)


# The fast match as it was before its classes were narrowed to printable ASCII.
_BEFORE = re.compile(
    r"ACS3-HMAC-SHA256 Credential=([^,\s]+),SignedHeaders=([^,\s]+),Signature=([0-9a-f]{64})\Z"
)


def _decided(fast: re.Pattern[str], authorization: str) -> tuple[str, ...] | str:
    """What authentication goes on with: the fast match's fields, else the parser's."""
    match = fast.match(authorization)
    return match.groups() if match is not None else _diagnosed(authorization)


def _diagnosed(authorization: str) -> tuple[str, str, str] | str:
    try:
        fields = Authenticator._v3_fields(authorization)
    except ServiceError as error:
        return error.code
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


@settings(max_examples=400, deadline=None)
@given(key_id=_VALUES, listed=_VALUES, signature=_HEX | _VALUES)
@example(key_id="LTAI5tAcmeRoot000001", listed="host;x-acs-date", signature="0" * 64)
@example(key_id="LTAI\x01", listed="host", signature="a" * 64)
@example(key_id="LTAIé", listed="host", signature="a" * 64)
@example(key_id="LTAI\x85", listed="host", signature="a" * 64)
@example(key_id="LTAI", listed="host", signature="a" * 64 + "\n")
def test_the_fast_match_agrees_with_the_parser(key_id: str, listed: str, signature: str) -> None:
    authorization = (
        f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={listed},Signature={signature}"
    )
    fast = _AUTH_V3.match(authorization)
    if fast is not None:  # what it accepts, the parser reads the same way
        assert _diagnosed(authorization) == fast.groups()
    assert _decided(_AUTH_V3, authorization) == _decided(_BEFORE, authorization)
