"""The admin API under `/_cams/`: for operators and test suites, never for SDK callers.

Everything but the health and readiness checks needs the admin token (`CAMS_ADMIN_TOKEN`), sent as
`Authorization: Bearer <token>` and compared in constant time. With no token
configured, the admin API answers 403 and says how to enable it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cams_server.cams.ingestion import RecordError, parse_records
from cams_server.cams.outcomes import OutcomeEvent, SentMessage
from cams_server.gateway.encoding import EncodedResponse
from cams_server.gateway.errors import ServiceError
from cams_server.gateway.guard import CallGuard
from cams_server.gateway.request import WireRequest
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.store.database import Database
from cams_server.store.statistics import IngestResult

__all__ = ["AdminApi"]

_JSON = b"application/json;charset=utf-8"
READY_TIMEOUT = 2.0


def _json(status: int, request_id: str, body: Mapping[str, Any]) -> EncodedResponse:
    payload = json.dumps({"RequestId": request_id, **body}, ensure_ascii=False).encode()
    return status, [(b"content-type", _JSON), (b"x-acs-request-id", request_id.encode())], payload


class AdminApi:
    def __init__(
        self,
        token: str | None,
        diagnostics: DiagnosticCodec,
        database: Database,
        guard: CallGuard,
        ingest: Callable[[list[SentMessage], list[OutcomeEvent]], IngestResult],
    ) -> None:
        self._token = token
        self._diagnostics = diagnostics
        self._database = database
        self._guard = guard
        self._ingest = ingest
        self._routes: dict[tuple[str, str], Callable[[WireRequest, str], EncodedResponse]] = {
            ("POST", "/_cams/ram/decode-diagnostic"): self._decode_diagnostic,
            ("POST", "/_cams/messages"): self._messages,
        }

    def handles(self, path: str) -> bool:
        return path.startswith("/_cams/")

    async def handle(self, request: WireRequest, request_id: str) -> EncodedResponse:
        if request.path == "/_cams/health":
            return _json(200, request_id, {"Status": "ok"})
        if request.path == "/_cams/ready":
            return await self._ready(request_id)
        route = self._routes.get((request.method, request.path))
        if route is None:
            raise ServiceError(
                "InvalidAction.NotFound",
                404,
                f"The admin API has no {request.method} {request.path}.",
            )
        self._check_token(request)
        if self._database.is_sqlite:
            return route(request, request_id)
        return await asyncio.to_thread(route, request, request_id)

    async def _ready(self, request_id: str) -> EncodedResponse:
        """Each dependency's state; 503 unless all are 'ok'. Bounded by READY_TIMEOUT."""

        async def bounded(check: Awaitable[str]) -> str:
            try:
                return await asyncio.wait_for(check, READY_TIMEOUT)
            except TimeoutError:
                return f"timed out after {READY_TIMEOUT} s"

        database = await bounded(asyncio.to_thread(self._database.ping))
        guard = await bounded(self._guard.ready())
        checks = {"Database": database, "CallGuard": guard}
        ready = all(v == "ok" for v in checks.values())
        return _json(200 if ready else 503, request_id, {"Ready": ready, **checks})

    def _check_token(self, request: WireRequest) -> None:
        if not self._token:
            raise ServiceError(
                "Admin.Disabled",
                403,
                "The admin API is disabled: start the server with CAMS_ADMIN_TOKEN set.",
            )
        scheme, _, sent = (request.header("authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            sent = ""
        if not sent or not hmac.compare_digest(sent.strip().encode(), self._token.encode()):
            raise ServiceError(
                "Admin.InvalidToken",
                401,
                "Send the admin token as 'Authorization: Bearer <CAMS_ADMIN_TOKEN>'.",
            )

    def _decode_diagnostic(self, request: WireRequest, request_id: str) -> EncodedResponse:
        message = request.params().get("EncodedDiagnosticMessage")
        if message is None and request.body:
            try:
                body = json.loads(request.body)
                message = body.get("EncodedDiagnosticMessage") if isinstance(body, dict) else None
            except ValueError:
                message = None
        if not message:
            raise ServiceError(
                "MissingEncodedDiagnosticMessage",
                400,
                "Send EncodedDiagnosticMessage as a JSON body field, form field or query string.",
            )
        try:
            decoded = self._diagnostics.decode(str(message))
        except ValueError as exc:
            raise ServiceError("InvalidParameter.EncodedDiagnosticMessage", 400, str(exc)) from None
        return _json(200, request_id, {"DecodedDiagnosticMessage": decoded})

    def _messages(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """Sent-message records and outcome events (see cams/ingestion.py), all or nothing."""
        try:
            body = json.loads(request.body)
        except ValueError:
            raise ServiceError(
                "InvalidParameter.Body", 400, 'Send a JSON list of records, or {"records": [...]}.'
            ) from None
        records = body.get("records") if isinstance(body, dict) else body
        if not isinstance(records, list):
            raise ServiceError(
                "InvalidParameter.Body", 400, 'Send a JSON list of records, or {"records": [...]}.'
            )
        try:
            messages, events = parse_records(records)
            result = self._ingest(messages, events)
        except RecordError as exc:
            raise ServiceError(
                "InvalidParameter.Records", 400, f"Nothing was recorded: {exc}"
            ) from None
        return _json(200, request_id, result.to_json())
