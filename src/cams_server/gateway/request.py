"""Reading one HTTP request off the wire into a `WireRequest`.

Anything a hostile or broken client can send (bad percent-encoding, invalid UTF-8,
oversized or binary bodies, odd methods) ends here as a `ServiceError`, never an
exception the server does not understand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cams_server.gateway.errors import invalid_parameter, unsupported_http_method

__all__ = ["MAX_BODY_BYTES", "WireRequest", "parse_pairs"]

MAX_BODY_BYTES = 64 * 1024
_FORM = "application/x-www-form-urlencoded"


def parse_pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    """Decode `a=1&b=2` (form rules: `+` is a space) strictly as UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_parameter(where, f"The {where} is not valid UTF-8.") from None
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
    headers: Mapping[str, Sequence[str]]  # lower-case name -> every value, in order
    body: bytes
    client_ip: str
    secure: bool

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def params(self) -> dict[str, str]:
        """Query and form parameters; a form value wins over a query value of the same name."""
        merged = dict(self.query)
        merged.update(self.form)
        return merged

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
        if method not in ("GET", "POST"):
            raise unsupported_http_method(method)
        headers: dict[str, list[str]] = {}
        for name, value in raw_headers:
            try:
                key = name.decode("ascii").lower()
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid_parameter(
                    "Header",
                    "A request header is not valid text; send ASCII or UTF-8 header values.",
                ) from None
            headers.setdefault(key, []).append(text)
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_parameter("Path", "The request path is not valid UTF-8.") from None
        query = parse_pairs(raw_query, "query string")
        form: list[tuple[str, str]] = []
        content_type = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
        if body and content_type == _FORM:
            form = parse_pairs(body, "form body")
        return cls(method, path, query, form, headers, body, client_ip, secure)
