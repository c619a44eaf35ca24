"""Signatures V3 (ACS3-HMAC-SHA256) and V1 (HMAC-SHA1) against the official SDKs.

The fixed vectors below were computed once by the official SDKs' own functions
(`alibabacloud_tea_openapi.utils.Utils.get_authorization` with a darabonba
`DaraRequest`, `Utils.get_rpcsignature`, and `aliyunsdkcore`'s
`rpc_signature_composer.get_signed_url`, with the intermediate canonical request and
string to sign captured from inside them) and pasted here as literals, so a drift in
either our code or an SDK upgrade shows up. The live tests then cross-check random
inputs against the same SDK functions.
"""

from __future__ import annotations

import hashlib
import hmac
import string

import alibabacloud_tea_openapi.utils as tea_utils
import pytest
from alibabacloud_tea_openapi.utils import Utils
from aliyunsdkcore.auth.composer import rpc_signature_composer
from darabonba.request import DaraRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_server.wire.signing import (
    EMPTY_SHA256,
    V3_ALGORITHM,
    V3Key,
    percent_encode,
    sha256_hex,
    v1_signature,
    v1_string_to_sign,
    v3_canonical_request,
    v3_signature,
    v3_string_to_sign,
)

# --------------------------------------------------------------------------------------
# Fixed vectors
# --------------------------------------------------------------------------------------

# V3, vector 1: the header set the Python V2 SDK signs (wire.md section 1).
V3_1_KEY_ID = "LTAI5tAcmeRoot000001"
V3_1_SECRET = "acme-root-secret"
V3_1_QUERY = [("IsvCode", "skdi3kksloslikdkkdk"), ("CustSpaceId", "293483938849493")]
V3_1_HEADERS = {
    "host": ["127.0.0.1:18080"],
    "x-acs-version": ["2020-06-06"],
    "x-acs-action": ["EnableWhatsappROIMetric"],
    "user-agent": ["AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"],
    "x-acs-date": ["2026-11-27T11:55:26Z"],
    "x-acs-signature-nonce": ["e4c778be827570d5960beec80bdd9717"],
    "accept": ["application/json"],
    "x-acs-content-sha256": [EMPTY_SHA256],
    "x-acs-credentials-provider": ["static_ak"],
}
V3_1_SIGNED = [
    "accept",
    "host",
    "user-agent",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-credentials-provider",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
]
V3_1_CANONICAL = (
    "POST\n"
    "/\n"
    "CustSpaceId=293483938849493&IsvCode=skdi3kksloslikdkkdk\n"
    "accept:application/json\n"
    "host:127.0.0.1:18080\n"
    "user-agent:AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2\n"
    "x-acs-action:EnableWhatsappROIMetric\n"
    "x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    "x-acs-credentials-provider:static_ak\n"
    "x-acs-date:2026-11-27T11:55:26Z\n"
    "x-acs-signature-nonce:e4c778be827570d5960beec80bdd9717\n"
    "x-acs-version:2020-06-06\n"
    "\n"
    "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;"
    "x-acs-date;x-acs-signature-nonce;x-acs-version\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
V3_1_STRING_TO_SIGN = (
    "ACS3-HMAC-SHA256\n34e69362c6eee9d38fa7bfb83c8572ef14390229265dcb96b52d1bf1e755524a"
)
V3_1_SIGNATURE = "444721e864ca329b7062ebc7311a1b3acb769c9d3b94113c9f343267ec49276a"
V3_1_AUTHORIZATION = (
    "ACS3-HMAC-SHA256 Credential=LTAI5tAcmeRoot000001,"
    "SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;"
    "x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=444721e864ca329b7062ebc7311a1b3acb769c9d3b94113c9f343267ec49276a"
)

# V3, vector 2: the Node SDK's header set (host, x-acs-*, content-type), a form body,
# and query values needing encoding (unicode, space, '*', '~', '+', '/', empty).
V3_2_KEY_ID = "LTAI5tAcmeAlice00001"
V3_2_SECRET = "alice-secret"
V3_2_BODY = b"Note=x"
V3_2_BODY_SHA256 = "d523070c93ac938b4434508f8fd09752551d970bc16aada5e4792a0b4855cd46"
V3_2_QUERY = [("IsvCode", "a b*c~d+e/f"), ("CustSpaceId", "空间-1"), ("Empty", "")]
V3_2_HEADERS = {
    "host": ["cams.ap-southeast-1.aliyuncs.com"],
    "x-acs-version": ["2020-06-06"],
    "x-acs-action": ["EnableWhatsappROIMetric"],
    "x-acs-date": ["2026-01-02T03:04:05Z"],
    "x-acs-signature-nonce": ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
    "x-acs-content-sha256": [V3_2_BODY_SHA256],
    "content-type": ["application/x-www-form-urlencoded"],
    # Received but not signed by the Node SDK: must not enter the canonical request.
    "accept": ["application/json"],
    "user-agent": ["AlibabaCloud (darwin; arm64) Node.js/v20.11.0 Core/1.4.2 TeaDSL/2"],
}
V3_2_SIGNED = [
    "content-type",
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
]
V3_2_CANONICAL = (
    "POST\n"
    "/\n"
    "CustSpaceId=%E7%A9%BA%E9%97%B4-1&Empty=&IsvCode=a%20b%2Ac~d%2Be%2Ff\n"
    "content-type:application/x-www-form-urlencoded\n"
    "host:cams.ap-southeast-1.aliyuncs.com\n"
    "x-acs-action:EnableWhatsappROIMetric\n"
    "x-acs-content-sha256:d523070c93ac938b4434508f8fd09752551d970bc16aada5e4792a0b4855cd46\n"
    "x-acs-date:2026-01-02T03:04:05Z\n"
    "x-acs-signature-nonce:0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
    "x-acs-version:2020-06-06\n"
    "\n"
    "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
    "x-acs-version\n"
    "d523070c93ac938b4434508f8fd09752551d970bc16aada5e4792a0b4855cd46"
)
V3_2_STRING_TO_SIGN = (
    "ACS3-HMAC-SHA256\n6d5b1513151c8cf5f96c67c456abcf7da862fdbdd91f1e2c87311025d8a536ef"
)
V3_2_SIGNATURE = "3e5bdbad6e9d9684d9c6e280733671a98a3693b963fd1e49dfd57b97cada06cb"

# V1, legacy SDK (aliyun-python-sdk-core): every parameter in the query string.
V1_LEGACY_SECRET = "acme-root-secret"
V1_LEGACY_PARAMS = [
    ("Action", "EnableWhatsappROIMetric"),
    ("Version", "2020-06-06"),
    ("RegionId", "ap-southeast-1"),
    ("CustSpaceId", "2934"),
    ("IsvCode", "a b*c~d+e/f"),
    ("Timestamp", "2026-11-27T11:55:26Z"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureType", ""),
    ("SignatureVersion", "1.0"),
    ("SignatureNonce", "bb0f2b7e6c7d4e8f9a0b1c2d3e4f5a6b"),
    ("AccessKeyId", "LTAI5tAcmeRoot000001"),
    ("Format", "JSON"),
    ("Signature", "lw5oSrwgY3yjDW9kDJJdKJjBKmU="),  # the server sees it; it is not signed
]
V1_LEGACY_STRING_TO_SIGN = (
    "POST&%2F&AccessKeyId%3DLTAI5tAcmeRoot000001%26Action%3DEnableWhatsappROIMetric"
    "%26CustSpaceId%3D2934%26Format%3DJSON%26IsvCode%3Da%2520b%252Ac~d%252Be%252Ff"
    "%26RegionId%3Dap-southeast-1%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3Dbb0f2b7e6c7d4e8f9a0b1c2d3e4f5a6b%26SignatureType%3D"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-27T11%253A55%253A26Z"
    "%26Version%3D2020-06-06"
)
V1_LEGACY_SIGNATURE = "lw5oSrwgY3yjDW9kDJJdKJjBKmU="

# V1, the V2 SDK in signature_algorithm='v2' mode (Utils.get_rpcsignature), GET.
V1_TEA_SECRET = "alice-secret"
V1_TEA_PARAMS = [
    ("Action", "EnableWhatsappROIMetric"),
    ("Format", "json"),
    ("Version", "2020-06-06"),
    ("Timestamp", "2026-11-27T11:55:26Z"),
    ("SignatureNonce", "6a1f0e2d3c4b5a69788796a5b4c3d2e1"),
    ("CustSpaceId", "空间 1"),
    ("IsvCode", "x*y~z"),
    ("SignatureMethod", "HMAC-SHA1"),
    ("SignatureVersion", "1.0"),
    ("AccessKeyId", "LTAI5tAcmeAlice00001"),
]
V1_TEA_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DLTAI5tAcmeAlice00001%26Action%3DEnableWhatsappROIMetric"
    "%26CustSpaceId%3D%25E7%25A9%25BA%25E9%2597%25B4%25201%26Format%3Djson"
    "%26IsvCode%3Dx%252Ay~z%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D6a1f0e2d3c4b5a69788796a5b4c3d2e1%26SignatureVersion%3D1.0"
    "%26Timestamp%3D2026-11-27T11%253A55%253A26Z%26Version%3D2020-06-06"
)
V1_TEA_SIGNATURE = "z1DEdUBmy4om0pRNqZ9Vw+SPbrg="


class TestV3FixedVectors:
    def test_python_sdk_header_set(self) -> None:
        canonical = v3_canonical_request(
            "POST", "/", V3_1_QUERY, V3_1_HEADERS, V3_1_SIGNED, EMPTY_SHA256
        )
        assert canonical == V3_1_CANONICAL
        string_to_sign = v3_string_to_sign(canonical)
        assert string_to_sign == V3_1_STRING_TO_SIGN
        signature = v3_signature(V3_1_SECRET, string_to_sign)
        assert signature == V3_1_SIGNATURE
        authorization = (
            f"{V3_ALGORITHM} Credential={V3_1_KEY_ID},"
            f"SignedHeaders={';'.join(V3_1_SIGNED)},Signature={signature}"
        )
        assert authorization == V3_1_AUTHORIZATION

    def test_node_sdk_header_set_ignores_unsigned_headers(self) -> None:
        assert sha256_hex(V3_2_BODY) == V3_2_BODY_SHA256
        canonical = v3_canonical_request(
            "POST", "/", V3_2_QUERY, V3_2_HEADERS, V3_2_SIGNED, V3_2_BODY_SHA256
        )
        assert canonical == V3_2_CANONICAL
        assert "accept" not in canonical
        assert "user-agent" not in canonical
        string_to_sign = v3_string_to_sign(canonical)
        assert string_to_sign == V3_2_STRING_TO_SIGN
        assert v3_signature(V3_2_SECRET, string_to_sign) == V3_2_SIGNATURE

    def test_any_change_breaks_the_signature(self) -> None:
        tampered = [("IsvCode", "skdi3kksloslikdkkdk"), ("CustSpaceId", "293483938849494")]
        canonical = v3_canonical_request(
            "POST", "/", tampered, V3_1_HEADERS, V3_1_SIGNED, EMPTY_SHA256
        )
        assert v3_signature(V3_1_SECRET, v3_string_to_sign(canonical)) != V3_1_SIGNATURE
        assert v3_signature("acme-root-secreT", V3_1_STRING_TO_SIGN) != V3_1_SIGNATURE

    def test_empty_body_hash(self) -> None:
        assert EMPTY_SHA256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        assert sha256_hex(b"") == EMPTY_SHA256

    def test_string_to_sign_other_algorithm_name(self) -> None:
        assert v3_string_to_sign("x", "ACS3-HMAC-SM3").startswith("ACS3-HMAC-SM3\n")
        assert v3_string_to_sign("x") == f"{V3_ALGORITHM}\n{sha256_hex(b'x')}"


class TestV3Key:
    """The server signs with a key prepared once per AccessKey: every use must give what
    a fresh HMAC gives, whatever was signed with it before."""

    @settings(max_examples=40, deadline=None)
    @given(
        secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
        strings=st.lists(st.text(st.characters(blacklist_categories=("Cs",))), max_size=5),
    )
    def test_a_reused_key_signs_as_a_fresh_hmac(self, secret: str, strings: list[str]) -> None:
        key = V3Key(secret)
        for text in [*strings, *strings]:  # each string twice: nothing carries over
            fresh = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
            assert key.sign(text) == fresh == v3_signature(secret, text)

    def test_fixed_vector(self) -> None:
        assert V3Key(V3_2_SECRET).sign(V3_2_STRING_TO_SIGN) == V3_2_SIGNATURE

    def test_repr_shows_no_key_material(self) -> None:
        assert repr(V3Key("acme-root-secret")) == "V3Key(...)"


class TestV1FixedVectors:
    def test_legacy_sdk(self) -> None:
        string_to_sign = v1_string_to_sign("POST", V1_LEGACY_PARAMS)
        assert string_to_sign == V1_LEGACY_STRING_TO_SIGN
        assert v1_signature(V1_LEGACY_SECRET, string_to_sign) == V1_LEGACY_SIGNATURE

    def test_tea_sdk_v1_mode(self) -> None:
        string_to_sign = v1_string_to_sign("GET", V1_TEA_PARAMS)
        assert string_to_sign == V1_TEA_STRING_TO_SIGN
        assert v1_signature(V1_TEA_SECRET, string_to_sign) == V1_TEA_SIGNATURE

    def test_parameter_order_does_not_matter(self) -> None:
        assert v1_string_to_sign("POST", reversed(V1_LEGACY_PARAMS)) == V1_LEGACY_STRING_TO_SIGN

    def test_signature_parameter_is_excluded(self) -> None:
        without = [(k, v) for k, v in V1_LEGACY_PARAMS if k != "Signature"]
        assert v1_string_to_sign("POST", without) == V1_LEGACY_STRING_TO_SIGN

    def test_method_is_part_of_the_string_to_sign(self) -> None:
        assert v1_string_to_sign("GET", V1_LEGACY_PARAMS) == "GET" + V1_LEGACY_STRING_TO_SIGN[4:]
        assert v1_signature(V1_LEGACY_SECRET, v1_string_to_sign("GET", V1_LEGACY_PARAMS)) != (
            V1_LEGACY_SIGNATURE
        )


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("abcXYZ019", "abcXYZ019"),
        ("-_.~", "-_.~"),
        (" ", "%20"),
        ("*", "%2A"),
        ("+", "%2B"),
        ("/", "%2F"),
        ("%", "%25"),
        ("&=", "%26%3D"),
        (":", "%3A"),
        ("é", "%C3%A9"),
        ("空间", "%E7%A9%BA%E9%97%B4"),
        ("😀", "%F0%9F%98%80"),
        ("", ""),
    ],
)
def test_percent_encode(raw: str, encoded: str) -> None:
    assert percent_encode(raw) == encoded


# --------------------------------------------------------------------------------------
# Live cross-checks against the SDK functions
# --------------------------------------------------------------------------------------

# Query keys stay in the characters that need no encoding: the Python and Node SDKs do
# not percent-encode V3 query *keys* (only values), while the server encodes both, so
# the two agree exactly on the keys real callers send.
_KEY_ALPHABET = string.ascii_letters + string.digits + "-_."
_keys = st.text(_KEY_ALPHABET, min_size=1, max_size=12).filter(lambda k: k[0].isalpha())
_tricky = " *~+/%&=:?#'\"!$,;@[]"
_values = st.text(
    st.one_of(
        st.sampled_from(_tricky),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=16,
)
# Header values: printable text (no line breaks, which no HTTP stack delivers), padded
# with spaces that both sides trim.
_header_values = st.builds(
    lambda pad_l, core, pad_r: " " * pad_l + core + " " * pad_r,
    st.integers(0, 2),
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
        min_size=1,
        max_size=16,
    )
    .map(str.strip)
    .filter(bool),
    st.integers(0, 2),
)

_NODE_HEADERS = {
    "host": "127.0.0.1:18080",
    "x-acs-version": "2020-06-06",
    "x-acs-action": "EnableWhatsappROIMetric",
    "x-acs-date": "2026-11-27T11:55:26Z",
    "x-acs-signature-nonce": "6d1e2f3a4b5c6d7e8f90a1b2c3d4e5f6",
    "x-acs-content-sha256": EMPTY_SHA256,
    "content-type": "application/x-www-form-urlencoded",
}


def _sdk_authorization(
    method: str, query: dict[str, str], headers: dict[str, str], payload: str, secret: str
) -> str:
    request = DaraRequest()
    request.method = method
    request.pathname = "/"
    request.query = dict(query)
    request.headers = dict(headers)
    return Utils.get_authorization(request, V3_ALGORITHM, payload, "LTAIlive000000001", secret)


def _received(headers: dict[str, str]) -> dict[str, list[str]]:
    """What the server sees: lower-case names, every value of repeated headers."""
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), []).append(value)
    return out


def _check_v3_against_sdk(
    method: str,
    query: dict[str, str],
    sdk_headers: dict[str, str],
    payload: str,
    secret: str,
    extra_received: dict[str, str] | None = None,
) -> None:
    sdk_auth = _sdk_authorization(method, query, sdk_headers, payload, secret)
    sdk_canonical_headers, sdk_signed = tea_utils.get_canonicalized_headers(sdk_headers)
    signed = sdk_signed.split(";")
    received = _received({**sdk_headers, **(extra_received or {})})
    canonical = v3_canonical_request(method, "/", query.items(), received, signed, payload)
    lines = canonical.split("\n")
    assert lines[2] == tea_utils.get_canonical_query_string(query)
    assert "\n".join(lines[3:]).startswith(sdk_canonical_headers)
    signature = v3_signature(secret, v3_string_to_sign(canonical))
    assert sdk_auth == (
        f"{V3_ALGORITHM} Credential=LTAIlive000000001,SignedHeaders={sdk_signed},"
        f"Signature={signature}"
    )


class TestV3LiveAgainstSdk:
    @settings(max_examples=60, deadline=None)
    @given(
        method=st.sampled_from(["GET", "POST"]),
        query=st.dictionaries(_keys, _values, max_size=6),
        extra=st.dictionaries(
            st.sampled_from(["x-acs-meta-a", "x-acs-meta-b", "accept", "user-agent"]),
            _header_values,
            max_size=4,
        ),
        secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
        body=st.binary(max_size=32),
    )
    def test_random_requests(
        self, method: str, query: dict[str, str], extra: dict[str, str], secret: str, body: bytes
    ) -> None:
        payload = hashlib.sha256(body).hexdigest()
        headers = {**_NODE_HEADERS, "x-acs-content-sha256": payload, **extra}
        _check_v3_against_sdk(method, query, headers, payload, secret)

    @settings(max_examples=30, deadline=None)
    @given(first=_header_values, second=_header_values)
    def test_repeated_header_values(self, first: str, second: str) -> None:
        # A Python dict cannot hold one name twice; names differing only in case are
        # the SDK's repeated header, lower-cased, trimmed, sorted and joined with ','.
        headers = {**_NODE_HEADERS, "X-Acs-Meta-Tag": first, "x-acs-meta-tag": second}
        _check_v3_against_sdk("POST", {"IsvCode": "c"}, headers, EMPTY_SHA256, "s3cret")

    def test_repeated_header_values_are_sorted_and_joined(self) -> None:
        canonical = v3_canonical_request(
            "GET", "/", [], {"x-acs-meta-tag": [" b ", "a"]}, ["x-acs-meta-tag"], EMPTY_SHA256
        )
        assert canonical.split("\n")[3] == "x-acs-meta-tag:a,b"

    def test_node_header_set_with_unsigned_accept_and_user_agent_received(self) -> None:
        # The server receives accept and user-agent, but the Node SDK did not sign them.
        _check_v3_against_sdk(
            "POST",
            {"CustSpaceId": "cams-acme-main", "IsvCode": "a b*c~d+e/f"},
            dict(_NODE_HEADERS),
            EMPTY_SHA256,
            "alice-secret",
            extra_received={"accept": "application/json", "user-agent": "Node.js/v20"},
        )

    def test_python_sdk_header_set(self) -> None:
        headers = {
            **_NODE_HEADERS,
            "accept": "application/json",
            "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            "x-acs-credentials-provider": "static_ak",
        }
        del headers["content-type"]
        _check_v3_against_sdk("POST", {"Note": "日本語 ~*+/"}, headers, EMPTY_SHA256, "k")

    def test_empty_query(self) -> None:
        _check_v3_against_sdk("GET", {}, dict(_NODE_HEADERS), EMPTY_SHA256, "k")

    def test_fixed_vectors_match_sdk_now(self) -> None:
        # The literals above still are what the installed SDK computes.
        headers = {k: v[0] for k, v in V3_1_HEADERS.items()}
        sdk = _sdk_authorization("POST", dict(V3_1_QUERY), headers, EMPTY_SHA256, V3_1_SECRET)
        assert sdk == V3_1_AUTHORIZATION.replace(V3_1_KEY_ID, "LTAIlive000000001")
        assert Utils.get_rpcsignature(dict(V1_TEA_PARAMS), "GET", V1_TEA_SECRET) == (
            V1_TEA_SIGNATURE
        )


class TestV1LiveAgainstSdk:
    @settings(max_examples=60, deadline=None)
    @given(
        method=st.sampled_from(["GET", "POST"]),
        params=st.dictionaries(_keys, _values, min_size=1, max_size=8),
        secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
    )
    def test_tea_sdk_rpc_signature(self, method: str, params: dict[str, str], secret: str) -> None:
        params.pop("Signature", None)
        expected = Utils.get_rpcsignature(dict(params), method, secret)
        assert v1_signature(secret, v1_string_to_sign(method, params.items())) == expected

    @settings(max_examples=60, deadline=None)
    @given(
        method=st.sampled_from(["GET", "POST"]),
        query=st.dictionaries(_keys, _values, max_size=6),
        body=st.dictionaries(_keys, _values, max_size=3),
        secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
    )
    def test_legacy_sdk_signed_url(
        self, method: str, query: dict[str, str], body: dict[str, str], secret: str
    ) -> None:
        added = {"Timestamp", "SignatureMethod", "SignatureType", "SignatureVersion"}
        added |= {"SignatureNonce", "AccessKeyId", "Format", "Signature", "Action", "Version"}
        body = {k: v for k, v in body.items() if k not in query and k not in added}
        params = {"Action": "EnableWhatsappROIMetric", "Version": "2020-06-06", **query}
        # get_signed_url adds Timestamp, SignatureNonce, AccessKeyId, Format... and
        # Signature to `params` in place, and signs the form body parameters too.
        _, legacy_string_to_sign = rpc_signature_composer.get_signed_url(
            params, "LTAIlive000000001", secret, "JSON", method, dict(body)
        )
        received = list(params.items()) + list(body.items())
        string_to_sign = v1_string_to_sign(method, received)
        assert string_to_sign == legacy_string_to_sign
        assert v1_signature(secret, string_to_sign) == params["Signature"]
