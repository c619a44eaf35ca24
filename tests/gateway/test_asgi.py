"""`build_app` is an ASGI application too (for embedding under another ASGI server): the
same answers as the server's own HTTP protocol gives, through the ASGI interface."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

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
