"""A seeded fuzz of the gateway: mutations of a valid signed call, over raw HTTP.

Each example takes a call the official SDKs would sign (V3 with its parameters in the
query or a signed form body, V1 in the query or a form body), applies one or two
mutations to its headers, parameters, method or body (whitespace, repeats, case, drops,
additions, re-encodings), and sends it. Two properties hold for every example:

- never a 5xx;
- `OK` only if the mutation is a no-op of the signed content, judged by the official
  SDK's own canonicalization (`alibabacloud_tea_openapi.utils`), and then exactly the
  answer of the call that was signed; and never `OK` at all for a mutation sent after
  the original (a replay, however it is respelled).

Hypothesis is derandomized and bounded (a few seconds): the same examples every run.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, quote
from xml.etree import ElementTree

import pytest
from alibabacloud_tea_openapi.utils import (
    Utils,
    get_canonical_query_string,
    get_canonicalized_headers,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from cams_server.wire.signing import sha256_hex
from tests.sdk import raw
from tests.sdk.clients import KEYS
from tests.sdk.wire_asserts import OK_ANSWER, exchange, parse_response, sign_v3

KEY_ID, SECRET = KEYS["acme-root"]
FORM = "application/x-www-form-urlencoded"
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")


@dataclass(frozen=True)
class Call:
    """One request as sent: headers in order (repeats and whitespace kept), decoded query
    pairs (`encoded` lists those sent with every byte as %XX), and the body."""

    version: str
    method: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    encoded: frozenset[int] = frozenset()

    def wire(self) -> bytes:
        parts = []
        for i, (name, value) in enumerate(self.query):
            if i in self.encoded:
                value = "".join(f"%{b:02X}" for b in value.encode())
            else:
                value = quote(value, safe="")
            parts.append(f"{quote(name, safe='')}={value}")
        target = "/" + ("?" + "&".join(parts) if parts else "")
        lines = [f"{self.method} {target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines += [f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode() + self.body


# -- the calls that are mutated ----------------------------------------------------------------


def v3_call(endpoint: str, now: float, params: dict[str, str], in_body: bool) -> Call:
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()).encode()
    body = body if in_body else b""
    headers = {
        "host": endpoint,
        "x-acs-action": raw.ACTION,
        "x-acs-version": raw.VERSION,
        "x-acs-date": raw.iso(now),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": sha256_hex(body),
        **({"content-type": FORM} if in_body else {}),
    }
    query = {} if in_body else params
    signed = sign_v3(KEY_ID, SECRET, headers, query=query, body=body)
    return Call("V3", "POST", tuple(query.items()), tuple(signed.items()), body)


def v1_call(endpoint: str, now: float, params: dict[str, str], in_body: bool) -> Call:
    signed = raw.v1_params(KEY_ID, SECRET, params, timestamp=raw.iso(now))
    headers: tuple[tuple[str, str], ...] = (("host", endpoint),)
    if not in_body:
        return Call("V1", "POST", tuple(signed.items()), headers)
    form = {k: v for k, v in signed.items() if k in params}
    query = tuple((k, v) for k, v in signed.items() if k not in params)
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in form.items()).encode()
    return Call("V1", "POST", query, (*headers, ("content-type", FORM)), body)


BASES = {
    "v3-query": lambda e, t: v3_call(e, t, {"CustSpaceId": "cams-acme-main"}, False),
    "v3-account-wide": lambda e, t: v3_call(e, t, {}, False),
    "v3-form": lambda e, t: v3_call(e, t, {"CustSpaceId": "cams-acme-main"}, True),
    "v1-query": lambda e, t: v1_call(e, t, {"CustSpaceId": "cams-acme-main"}, False),
    "v1-form": lambda e, t: v1_call(e, t, {"CustSpaceId": "cams-acme-main"}, True),
}


# -- mutations -------------------------------------------------------------------------------

HEADER_NAMES = [
    "x-acs-action",
    "x-acs-version",
    "x-acs-signature-nonce",
    "x-acs-date",
    "x-acs-security-token",
    "x-acs-content-sha256",
    "x-acs-anything",
    "content-type",
    "authorization",
    "user-agent",
    "x-other",
]
VALUES = [
    raw.ACTION,
    "GetChatappPhoneNumberMetric",
    "2020-06-06",
    "2015-04-01",
    "n1",
    "",
    FORM,
    "text/plain",
    "cams-acme-cust-1",
    "XML",
]
PARAM_NAMES = [
    "Action",
    "Version",
    "CustSpaceId",
    "IsvCode",
    "SignatureNonce",
    "Signature",
    "AccessKeyId",
    "Format",
    "Timestamp",
]
PADS = [" ", "\t", "  ", " \t "]

index = st.integers(min_value=0, max_value=7)
# Header whitespace and repeats are where signatures and gateways most often disagree:
# they are drawn three times as often as the other mutations.
whitespace = st.tuples(st.just("pad_header"), index, st.sampled_from(PADS), st.booleans())
repeat = st.tuples(st.just("dup_header"), index, st.booleans())
mutation = st.one_of(
    whitespace,
    whitespace,
    whitespace,
    repeat,
    repeat,
    repeat,
    st.tuples(st.just("drop_header"), index),
    st.tuples(st.just("upper_name"), index),
    st.tuples(st.just("alter_header"), index, st.sampled_from(["x", "0", ","])),
    st.tuples(st.just("add_header"), st.sampled_from(HEADER_NAMES), st.sampled_from(VALUES)),
    st.tuples(st.just("add_query"), st.sampled_from(PARAM_NAMES), st.sampled_from(VALUES)),
    st.tuples(st.just("alter_query"), index, st.sampled_from(["x", " ", "+"])),
    st.tuples(st.just("dup_query"), index, st.booleans()),
    st.tuples(st.just("drop_query"), index),
    st.tuples(st.just("reverse_query")),
    st.tuples(st.just("reencode_query"), index),
    st.tuples(st.just("to_body"), index),
    st.tuples(st.just("toggle_method")),
    st.tuples(st.just("body"), st.sampled_from([b"", b"x", b"CustSpaceId=cams-acme-cust-1"])),
)


def apply(call: Call, op: tuple[object, ...]) -> Call:
    """`call` with one mutation (`op[1]`, when a number, picks a header or parameter)."""
    kind = op[0]
    headers, query = list(call.headers), list(call.query)
    at = op[1] if len(op) > 1 and isinstance(op[1], int) else 0
    h = at % len(headers) if headers else 0
    q = at % len(query) if query else 0
    if kind == "pad_header" and headers:
        name, value = headers[h]
        headers[h] = (name, f"{op[2]}{value}" if op[3] else f"{value}{op[2]}")
    elif kind == "dup_header" and headers:
        name, value = headers[h]
        headers.insert(h + 1, (name, value if op[2] else value + "2"))
    elif kind == "drop_header" and headers:
        del headers[h]
    elif kind == "upper_name" and headers:
        headers[h] = (headers[h][0].upper(), headers[h][1])
    elif kind == "alter_header" and headers:
        headers[h] = (headers[h][0], headers[h][1] + str(op[2]))
    elif kind == "add_header":
        headers.append((str(op[1]), str(op[2])))
    elif kind == "add_query":
        query.append((str(op[1]), str(op[2])))
    elif kind == "alter_query" and query:
        query[q] = (query[q][0], query[q][1] + str(op[2]))
    elif kind == "dup_query" and query:
        query.insert(q + 1, (query[q][0], query[q][1] if op[2] else query[q][1] + "2"))
    elif kind == "drop_query" and query:
        del query[q]
    elif kind == "reverse_query":
        query.reverse()
        return replace(call, query=tuple(query), encoded=frozenset())
    elif kind == "reencode_query" and query:
        return replace(call, encoded=call.encoded | {q})
    elif kind == "to_body" and query:
        name, value = query.pop(q)
        pair = f"{quote(name, safe='')}={quote(value, safe='')}".encode()
        body = call.body + b"&" + pair if call.body else pair
        return replace(call, query=tuple(query), body=body, encoded=frozenset())
    elif kind == "toggle_method":
        return replace(call, method="GET" if call.method == "POST" else "POST")
    elif kind == "body":
        return replace(call, body=bytes(op[1]))  # type: ignore[call-overload]
    if len(query) != len(call.query):
        return replace(call, headers=tuple(headers), query=tuple(query), encoded=frozenset())
    return replace(call, headers=tuple(headers), query=tuple(query))


# -- what the SDKs sign ------------------------------------------------------------------------


def _only(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """The pairs as a dict, or None when a name repeats (no SDK signs a repeat)."""
    result = dict(pairs)
    return result if len(result) == len(pairs) else None


def _form(call: Call) -> list[tuple[str, str]]:
    types = [v.strip().lower() for n, v in call.headers if n.lower() == "content-type"]
    if call.body and types and types[0].split(";")[0].strip() == FORM:
        return parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True)
    return []


def signed_content(call: Call) -> object:
    """What a signature over this request covers, as the official SDK computes it; None
    when no SDK signature could cover it (a repeated signed header or parameter)."""
    if call.version == "V3":
        auth = [v.strip() for n, v in call.headers if n.lower() == "authorization"]
        match = _SIGNED_HEADERS.search(auth[0]) if len(auth) == 1 else None
        if match is None:
            return None
        signed = match.group(1).split(";")
        values = {name: [v for n, v in call.headers if n.lower() == name] for name in signed}
        if any(len(v) != 1 for v in values.values()):
            return None
        headers, names = get_canonicalized_headers({n: v[0] for n, v in values.items()})
        query = _only(list(call.query))
        if query is None:
            return None
        payload = hashlib.sha256(call.body).hexdigest()
        canonical = (
            f"{call.method}\n/\n{get_canonical_query_string(query)}\n{headers}\n{names}\n{payload}"
        )
        return auth[0], canonical
    params = _only([*call.query, *_form(call)])
    if params is None or "Signature" not in params:
        return None
    signature = params.pop("Signature")
    return signature, Utils.get_rpcsignature(params, call.method, SECRET)


# -- the properties ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def server(rich_world: Path, clock: ManualClock) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=clock) as srv:
        yield srv


def send(server: CamsServer, call: Call) -> tuple[int, dict[str, object]]:
    response = parse_response(exchange(server.port, call.wire()))
    assert response.status < 500, (response.status, response.body[:300], call)
    if response.headers.get("content-type", "").startswith("text/xml"):  # Format=XML
        root = ElementTree.fromstring(response.body)  # noqa: S314 (our own server's answer)
        return response.status, {child.tag: child.text or "" for child in root}
    body: dict[str, object] = json.loads(response.body) if response.body else {}
    return response.status, body


def is_ok(body: dict[str, object]) -> bool:
    return body.get("Code") == "OK"


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    base=st.sampled_from(sorted(BASES)),
    mutations=st.lists(mutation, min_size=1, max_size=2),
    replay=st.booleans(),
)
def test_a_mutated_signed_call_is_ok_only_when_nothing_signed_changed(
    server: CamsServer,
    clock: ManualClock,
    base: str,
    mutations: list[tuple[object, ...]],
    replay: bool,
) -> None:
    clock.advance(1.01)  # a fresh flow window for acme
    original = BASES[base](server.endpoint, clock.now())
    mutated = original
    for op in mutations:
        mutated = apply(mutated, op)
    if replay:
        status, body = send(server, original)
        assert (status, is_ok(body)) == (200, True), body
        status, body = send(server, mutated)
        assert not is_ok(body), f"a replay was accepted: {mutations}"
        return
    status, body = send(server, mutated)
    if is_ok(body):
        assert signed_content(mutated) is not None
        assert signed_content(mutated) == signed_content(original), mutations
        assert {k: v for k, v in body.items() if k != "RequestId"} == OK_ANSWER


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_unmutated_base_call_is_ok(server: CamsServer, clock: ManualClock, base: str) -> None:
    """The fuzz starts from calls the server accepts (else it would prove nothing)."""
    clock.advance(1.01)
    status, body = send(server, BASES[base](server.endpoint, clock.now()))
    assert (status, body.get("Code")) == (200, "OK"), body
