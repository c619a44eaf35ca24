"""Turning results and `ServiceError`s into response bodies (JSON, or XML on request)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote
from xml.sax.saxutils import escape

from cams_server.wire.errors import ServiceError

__all__ = [
    "OK",
    "EncodedResponse",
    "Ok",
    "encode_error",
    "encode_json",
    "encode_redirect",
    "encode_success",
    "new_request_id",
    "recommend_url",
]

EncodedResponse = tuple[int, list[tuple[bytes, bytes]], bytes]

_JSON = b"application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Ok:
    """The answer of an operation that only says OK (EnableWhatsappROIMetric)."""

    FIELDS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"Code": "OK", "Message": "None", "AccessDeniedDetail": "NONE"}
    )


OK = Ok()  # what an operation that only says OK returns (one instance for every call)

# The OK answer's JSON, prebuilt once from `Ok.FIELDS`: one constant body but for its id.
_OK_BODY = json.dumps({"RequestId": "@", **Ok.FIELDS}).encode().replace(b"@", b"%s", 1)
_XML = b"text/xml;charset=utf-8"


class _RequestIds:
    """UUID-shaped ids (`90E63D28-E31D-1EB2-8939-A9486641****`, Alibaba's shape): 80 random
    bits per process, then a counter, so ids never repeat and cost no syscall per call
    (a forked worker draws its own random part, at the fork, not by asking its pid)."""

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        h = os.urandom(10).hex().upper()
        self._prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-"
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012X}"


new_request_id = _RequestIds()


def _xml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<item>{_xml_value(v)}</item>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape("" if value is None else str(value))


def _xml(root: str, body: Mapping[str, Any]) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}>{_xml_value(body)}</{root}>'.encode()


def _headers(
    request_id: str, content_type: bytes, extra: Mapping[str, str]
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type), (b"x-acs-request-id", request_id.encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    return headers


def encode_success(
    request_id: str, action: str, answer: Mapping[str, Any] | Ok, xml: bool = False
) -> EncodedResponse:
    if isinstance(answer, Ok):
        if not xml:  # the hot path
            return 200, _headers(request_id, _JSON, {}), _OK_BODY % request_id.encode()
        answer = Ok.FIELDS
    body = {"RequestId": request_id, **answer}
    if xml:
        return 200, _headers(request_id, _XML, {}), _xml(f"{action}Response", body)
    return 200, _headers(request_id, _JSON, {}), json.dumps(body, ensure_ascii=False).encode()


def encode_json(status: int, request_id: str, body: Mapping[str, Any]) -> EncodedResponse:
    """A JSON answer of the server's own routes (admin API, webhook), with its RequestId."""
    payload = json.dumps({"RequestId": request_id, **body}, ensure_ascii=False).encode()
    return status, _headers(request_id, _JSON, {}), payload


def encode_redirect(request_id: str, location: str) -> EncodedResponse:
    """A 302 to `location` (a path of this server), with a line of text for a client that
    does not follow it."""
    headers = _headers(request_id, b"text/plain;charset=utf-8", {"location": location})
    return 302, headers, f"See {location}\n".encode()


def recommend_url(code: str, request_id: str, host: str, secure: bool) -> str:
    """Where this server explains `code` (its cause and fix): its own reference page,
    since Alibaba's troubleshooter knows nothing of a local RequestId. Absolute when the
    request named its host."""
    origin = f"{'https' if secure else 'http'}://{host}" if host else ""
    return f"{origin}/docs/errors?Code={quote(code, safe='.')}&RequestId={request_id}"


def encode_error(
    error: ServiceError, request_id: str, host: str, xml: bool = False, secure: bool = False
) -> EncodedResponse:
    body: dict[str, Any] = {
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": recommend_url(error.code, request_id, host, secure),
    }
    if error.access_denied_detail is not None:
        body["AccessDeniedDetail"] = dict(error.access_denied_detail)
    if xml:
        payload = _xml("Error", body)
        return error.status, _headers(request_id, _XML, error.headers), payload
    payload = json.dumps(body, ensure_ascii=False).encode()
    return error.status, _headers(request_id, _JSON, error.headers), payload
