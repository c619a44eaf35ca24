"""Reading one HTTP request off the wire into a `WireRequest`.

Anything a hostile or broken client can send (bad percent-encoding, invalid UTF-8,
oversized or binary bodies, odd methods, repeated headers or parameters) ends here as
a `ServiceError`, never an exception the server does not understand.

Every header value is kept exactly as a signature covers it (surrounding whitespace
trimmed, as the SDKs and `signing.v3_canonical_request` trim it), so what the gateway
acts on (nonce, date, action, version, content hash, token) is the value that was
signed, not a variant of it that would pass for a new nonce. For the same reason a
header that decides what a call means (`Authorization`, `Content-Type`, `Host`, any
`x-acs-*`) and any parameter may be sent once only: a signature over joined or sorted
repeats would otherwise verify for reorderings that the gateway reads differently.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cams_server.wire.errors import invalid_parameter, unsupported_http_method

__all__ = [
    "FORM_CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "MAX_INGEST_BYTES",
    "MAX_PARAMETERS",
    "WireRequest",
    "content_type",
    "parse_pairs",
]

MAX_BODY_BYTES = 64 * 1024
# Webhook deliveries and admin batches of records may be larger than an API call.
MAX_INGEST_BYTES = 8 * 1024 * 1024
# Parameters one call may carry (query and form together). An API call carries about a
# dozen common parameters and a handful of its own; the bound keeps a hostile query of a
# million `a&` pairs from costing more than a refusal.
MAX_PARAMETERS = 256
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _is_single(name: str) -> bool:
    """Headers that must not repeat: those a signature or the gateway reads."""
    return name.startswith("x-acs-") or name in ("authorization", "content-type", "host")


@functools.lru_cache(maxsize=512)
def _header_name(raw: bytes) -> str:
    """A header's name as text, lower-case (the names of the SDKs' headers repeat on
    every call: decoded once). Raises UnicodeDecodeError for a name that is not ASCII."""
    return raw.decode("ascii").lower()


def content_type(headers: Mapping[str, Sequence[str]]) -> str:
    """The media type of `Content-Type`, lower-case, without parameters ('' if absent)."""
    values = headers.get("content-type")
    return values[0].split(";", 1)[0].strip().lower() if values else ""


def parse_pairs(raw: bytes, where: str, max_pairs: int = MAX_PARAMETERS) -> list[tuple[str, str]]:
    """Decode `a=1&b=2` (form rules: `+` is a space) strictly as UTF-8, at most `max_pairs`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_parameter(where, f"The {where} is not valid UTF-8.") from None
    if text.count("&") >= max_pairs:  # counted before parsing: no list of a million pairs
        raise invalid_parameter(
            where, f"The {where} has more than {max_pairs} parameters; send at most {max_pairs}."
        )
    if "%" not in text and "+" not in text:  # nothing to decode: `parse_qsl`'s result, directly
        return [
            (name, value) for name, _, value in (p.partition("=") for p in text.split("&") if p)
        ]
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise invalid_parameter(
            where, f"The {where} has percent-escapes that do not decode to UTF-8."
        ) from None
    except ValueError as exc:
        raise invalid_parameter(where, f"The {where} cannot be parsed: {exc}.") from None


@dataclass(slots=True)  # not frozen: built on every call, frozen init is slower
class WireRequest:
    method: str
    path: str
    query: Sequence[tuple[str, str]]
    form: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]  # lower-case name -> every value (trimmed), in order
    body: bytes
    client_ip: str
    secure: bool

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def params(self) -> dict[str, str]:
        """Query and form parameters (each name appears once: `build` refuses repeats)."""
        merged = dict(self.query)
        merged.update(self.form)
        return merged

    @classmethod
    def head(
        cls,
        method: str,
        raw_path: bytes,
        raw_query: bytes,
        raw_headers: Sequence[tuple[bytes, bytes]],
        client_ip: str,
        secure: bool,
    ) -> WireRequest:
        """The request line and headers, checked; no body yet (see `with_body`).

        Built before the body is read so that a route can refuse a request (unknown
        path, wrong token) without reading or parsing what an attacker sent with it.
        """
        try:
            # One pass in the common case; a name sent twice shows as a shorter dict.
            headers = {
                _header_name(name): [value.decode("utf-8").strip()] for name, value in raw_headers
            }
            if len(headers) != len(raw_headers):
                headers = _repeated_headers(raw_headers)
        except UnicodeDecodeError:
            raise invalid_parameter(
                "Header",
                "A request header is not valid text; send ASCII or UTF-8 header values.",
            ) from None
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_parameter("Path", "The request path is not valid UTF-8.") from None
        query = parse_pairs(raw_query, "query string") if raw_query else []
        return cls(method, path, query, [], headers, b"", client_ip, secure)

    def with_body(self, body: bytes, *, form: bool) -> WireRequest:
        """This request completed with its body; with `form`, a form body's parameters
        parsed too.

        Only GET and POST carry API calls; a parameter may appear once across the query
        string and the form body.
        """
        if self.method not in ("GET", "POST"):
            raise unsupported_http_method(self.method)
        pairs: list[tuple[str, str]] = []
        if form and body and content_type(self.headers) == FORM_CONTENT_TYPE:
            pairs = parse_pairs(body, "form body", MAX_PARAMETERS - len(self.query))
        repeated = _first_repeat(self.query, pairs) if len(self.query) + len(pairs) > 1 else None
        if repeated is not None:
            raise invalid_parameter(
                repeated,
                f"The parameter {repeated} is sent more than once; send each parameter once, "
                "in the query string or the form body.",
            )
        self.form, self.body = pairs, body  # completes this request: no copy per call
        return self

    @classmethod
    def build(
        cls,
        method: str,
        raw_path: bytes,
        raw_query: bytes,
        raw_headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        client_ip: str,
        secure: bool,
    ) -> WireRequest:
        """A whole API request at once (head, then body with its form parameters)."""
        head = cls.head(method, raw_path, raw_query, raw_headers, client_ip, secure)
        return head.with_body(body, form=True)


def _repeated_headers(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """Headers of which some are sent more than once: every value of each, in order;
    refused for a header that must be sent once (see the module's docstring)."""
    headers: dict[str, list[str]] = {}
    for name, value in raw_headers:
        key = _header_name(name)
        text = value.decode("utf-8").strip()
        values = headers.get(key)
        if values is None:
            headers[key] = [text]
        elif _is_single(key):
            raise invalid_parameter(
                "Header",
                f"The header {key} is sent more than once; send Authorization, "
                "Content-Type, Host and each x-acs-* header once.",
            )
        else:
            values.append(text)
    return headers


def _first_repeat(*groups: Sequence[tuple[str, str]]) -> str | None:
    """The first parameter name that appears twice across `groups`, if any."""
    seen: set[str] = set()
    for pairs in groups:
        for name, _ in pairs:
            if name in seen:
                return name
            seen.add(name)
    return None
