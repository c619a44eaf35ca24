"""`build_app` is an ASGI application too (for embedding under another ASGI server): the
same answers as the server's own HTTP protocol gives, through the ASGI interface."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cams_server.server import build_app
from cams_server.settings import ServerSettings


def test_the_asgi_app_answers_like_the_server(tmp_path: Path) -> None:
    app = build_app(ServerSettings(home=tmp_path))

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://cams.test") as c:
            return [
                await c.post(
                    "/",
                    content=b"Action=EnableWhatsappROIMetric&Version=2020-06-06",
                    headers={"content-type": "application/x-www-form-urlencoded"},
                ),
                await c.get("/elsewhere"),
                await c.post("/", content=b"x" * (65 * 1024)),
            ]

    unsigned, elsewhere, too_large = asyncio.run(calls())
    body = json.loads(unsigned.content)
    # The form body was read: the action it names is resolved, then the call is unsigned.
    assert unsigned.status_code == 400 and body["Code"] == "IncompleteSignature", body
    assert body["RequestId"] == unsigned.headers["x-acs-request-id"]
    assert unsigned.headers["content-length"] == str(len(unsigned.content))
    assert elsewhere.status_code == 404 and "/elsewhere" in json.loads(elsewhere.content)["Message"]
    assert too_large.status_code == 413


def _asgi_call(app: Any, scope: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through the ASGI interface: status, headers, body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param({"headers": [[b"host", b"cams.test"], [b"user-agent", b"t"]]}, id="lists"),
        pytest.param({"headers": ((b"host", b"cams.test"), (b"user-agent", b"t"))}, id="a-tuple"),
        pytest.param({"headers": [(bytearray(b"host"), bytearray(b"cams.test"))]}, id="bytearrays"),
        pytest.param({"raw_path": None}, id="raw-path-none"),
        pytest.param({"query_string": bytearray(b"Action=X")}, id="bytearray-query"),
        pytest.param({"client": None, "headers": []}, id="no-client"),
    ],
)
def test_every_scope_shape_the_asgi_spec_allows_is_answered(
    tmp_path: Path, shape: dict[str, Any]
) -> None:
    """The ASGI spec lets a server send headers as any iterable of pairs of bytes-like
    values and leave `raw_path` out; servers and adapters do (a Lambda adapter sends lists).
    Each is answered as the server's own protocol would be, never with a 500."""
    app = build_app(ServerSettings(home=tmp_path))
    base: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/docs/",
        "raw_path": b"/docs/",
        "query_string": b"",
        "headers": [(b"host", b"cams.test")],
        "client": ("203.0.113.9", 4321),
        "scheme": "http",
    }
    status, _, body = _asgi_call(app, {**base, **shape})
    assert status == 200 and b"<html" in body.lower()
    status, headers, body = _asgi_call(app, {**base, **shape, "path": "/", "raw_path": b"/"})
    answer = json.loads(body)  # the RPC endpoint: a JSON error with its RequestId
    assert status in (400, 404) and answer["RequestId"] == headers[b"x-acs-request-id"].decode()
