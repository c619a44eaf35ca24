"""The admin API under `/_cams/`: for operators and test suites, never for SDK callers.

Everything but the health and readiness checks needs the admin token (`CAMS_ADMIN_TOKEN`), sent as
`Authorization: Bearer <token>` and compared in constant time. With no token
configured, the admin API answers 403 and says how to enable it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from cams_server.cams.demo import apply_declared_world
from cams_server.cams.ingestion import RecordError, parse_records
from cams_server.cams.roi_console import console_enablements, console_space
from cams_server.gateway.faults import Fault, FaultPlan
from cams_server.gateway.guard import CallGuard
from cams_server.gateway.pipeline import CallRecord
from cams_server.gateway.routes import BodyReader
from cams_server.model.outcomes import OutcomeEvent, SentMessage
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.directory import Directory
from cams_server.rpc.catalog import Catalog
from cams_server.store.database import Database, StoreUnavailable
from cams_server.store.enablements import list_enablements
from cams_server.store.statistics import IngestResult
from cams_server.store.world_repo import load_world_from
from cams_server.wire.encoding import EncodedResponse, encode_json
from cams_server.wire.errors import ServiceError, invalid_parameter, service_unavailable
from cams_server.wire.request import MAX_INGEST_BYTES, WireRequest
from cams_server.wire.untrusted import parse_json
from cams_server.world.toml_file import dump_world, parse_world
from cams_server.world.validation import WorldError, policy_warnings

__all__ = ["AdminApi", "AdminControl"]

READY_TIMEOUT = 2.0

log = logging.getLogger("cams_server")


class _LiveWorld(Protocol):
    @property
    def directory(self) -> Directory: ...

    def refresh(self, force: bool = False) -> bool: ...


class AdminControl(Protocol):
    """What the admin API drives on the server that owns it."""

    faults: FaultPlan

    @property
    def world(self) -> _LiveWorld: ...

    @property
    def catalog(self) -> Catalog: ...

    async def reset(self, world: bool = False) -> None: ...


_PUBLIC = ("/_cams/health", "/_cams/ready")
_RESET = ("POST", "/_cams/reset")


class AdminApi:
    def __init__(
        self,
        token: str | None,
        diagnostics: DiagnosticCodec,
        database: Database,
        guard: CallGuard,
        ingest: Callable[[list[SentMessage], list[OutcomeEvent]], IngestResult],
        control: AdminControl,
    ) -> None:
        self._control = control
        self._token = token
        self._diagnostics = diagnostics
        self._database = database
        self._guard = guard
        self._ingest = ingest
        self._routes: dict[tuple[str, str], Callable[[WireRequest, str], EncodedResponse]] = {
            ("POST", "/_cams/ram/decode-diagnostic"): self._decode_diagnostic,
            ("POST", "/_cams/messages"): self._messages,
            ("POST", "/_cams/world"): self._apply_world,
            ("GET", "/_cams/world"): self._export_world,
            ("GET", "/_cams/enablements"): self._enablements,
            ("GET", "/_cams/faults"): self._list_faults,
            ("POST", "/_cams/faults"): self._add_fault,
            ("POST", "/_cams/faults/clear"): self._clear_faults,
            ("GET", "/_cams/console/enablements"): self._console_enablements,
            ("GET", "/_cams/console/space"): self._console_space,
        }

    label = "admin"  # the label of a path the admin API does not have (caller-chosen)

    def owns(self, path: str) -> bool:
        return path.startswith("/_cams/")

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        """Refused from the head alone unless the route exists and the token is right;
        only then is the body read. Its calls are logged and counted under their route
        (`/_cams/reset`): the routes are a fixed set, unlike the paths callers send."""
        if request.path in _PUBLIC or self._has(request.method, request.path):
            record.action = request.path
        self.preflight(request)
        if request.path in _PUBLIC:  # health and readiness take no body: none is read
            return await self.handle(request.with_body(b"", form=False), record.request_id)
        complete = request.with_body(await body(MAX_INGEST_BYTES), form=True)
        return await self.handle(complete, record.request_id)

    def preflight(self, request: WireRequest) -> None:
        """Refuse an unknown route or a missing token from the request head alone, so
        that nobody without the token makes the server read or parse a large body."""
        if request.path in _PUBLIC:
            return
        if not self._has(request.method, request.path):
            raise ServiceError(
                "InvalidAction.NotFound",
                404,
                f"The admin API has no {request.method} {request.path}.",
            )
        self._check_token(request)

    def _has(self, method: str, path: str) -> bool:
        return (method, path) in self._routes or (method, path) == _RESET

    async def handle(self, request: WireRequest, request_id: str) -> EncodedResponse:
        self.preflight(request)
        if request.path == "/_cams/health":
            return encode_json(200, request_id, {"Status": "ok"})
        if request.path == "/_cams/ready":
            return await self._ready(request_id)
        route = self._routes.get((request.method, request.path))
        try:
            if route is None:  # POST /_cams/reset: async, as it reaches the call guard too
                return await self._reset(request, request_id)
            if request.path.startswith("/_cams/console/"):
                # A view sums every enablement's reads: in a thread even on SQLite, so that
                # an operator's look at the console never holds up the API's calls.
                return await asyncio.to_thread(route, request, request_id)
            return await self._database.run(route, request, request_id)
        except (SQLAlchemyError, StoreUnavailable, TimeoutError):
            log.exception("%s: database failure on %s", request_id, request.path)
            raise service_unavailable("The database could not be reached; retry.") from None

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
        return encode_json(200 if ready else 503, request_id, {"Ready": ready, **checks})

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
                body = parse_json(request.body)
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
        return encode_json(200, request_id, {"DecodedDiagnosticMessage": decoded})

    def _messages(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """Sent-message records and outcome events (see cams/ingestion.py), all or nothing."""
        try:
            body = parse_json(request.body)
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
        return encode_json(200, request_id, result.to_json())

    async def _reset(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """Forget state between tests; `{"World": true}` forgets the accounts too."""
        body = _json_body(request, default={})
        world = body.get("World", False) if isinstance(body, dict) else None
        if not isinstance(world, bool):
            raise ServiceError(
                "InvalidParameter.Body",
                400,
                'Send {"World": true} or {"World": false} (a JSON boolean).',
            )
        await self._control.reset(world=world)
        return encode_json(200, request_id, {"Reset": True, "World": world})

    def _apply_world(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """The body is a TOML world file; applied all or nothing."""
        try:
            text = request.body.decode("utf-8")
            world = parse_world(text, "<admin request>")
            demo = apply_declared_world(self._database, world, "<admin request>")
        except UnicodeDecodeError:
            raise ServiceError(
                "InvalidParameter.World", 400, "The world file must be UTF-8."
            ) from None
        except WorldError as exc:
            raise ServiceError("InvalidParameter.World", 400, str(exc)) from None
        self._control.world.refresh()
        warnings = policy_warnings(world) + ([demo] if demo else [])
        return encode_json(200, request_id, {"Accounts": len(world.accounts), "Warnings": warnings})

    def _export_world(self, request: WireRequest, request_id: str) -> EncodedResponse:
        text = dump_world(load_world_from(self._database)).encode()
        return (
            200,
            [
                (b"content-type", b"application/toml;charset=utf-8"),
                (b"x-acs-request-id", request_id.encode()),
            ],
            text,
        )

    def _enablements(self, request: WireRequest, request_id: str) -> EncodedResponse:
        return encode_json(
            200,
            request_id,
            {"Enablements": [e.to_json() for e in list_enablements(self._database)]},
        )

    def _console_enablements(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """Every enablement with its totals over `Start`..`End` (epoch ms, <= 90 days)."""
        start, end = _range(request)
        directory = self._control.world.directory
        listed = console_enablements(self._database, directory, start, end)
        return encode_json(200, request_id, {"Start": start, "End": end, "Enablements": listed})

    def _console_space(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """One space's ROI over `Start`..`End` by `Granularity` (DAILY or HALF_HOUR)."""
        query = dict(request.query)
        start, end = _range(request)
        granularity = query.get("Granularity", "DAILY")
        if granularity not in ("DAILY", "HALF_HOUR"):
            raise invalid_parameter("Granularity", "Granularity is DAILY or HALF_HOUR.")
        space_id = query.get("SpaceId", "")
        figures = console_space(
            self._database, self._control.world.directory, space_id, granularity, start, end
        )
        if figures is None:
            raise ServiceError(
                "InvalidParameter.SpaceId", 404, f"No space {space_id[:80]!r} is declared."
            )
        return encode_json(200, request_id, figures)

    def _list_faults(self, request: WireRequest, request_id: str) -> EncodedResponse:
        return encode_json(
            200, request_id, {"Faults": [f.to_json() for f in self._control.faults.list()]}
        )

    def _add_fault(self, request: WireRequest, request_id: str) -> EncodedResponse:
        """`{"Action", "AccountId"?, "Code"?, "Count"?, "LatencyMs"?}`: the next Count calls
        of Action (for AccountId, or any account) fail with Code and/or wait LatencyMs."""
        body = _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("Action"), str):
            raise ServiceError(
                "InvalidParameter.Fault",
                400,
                'Send {"Action": "...", "Code": "...", "Count": N, '
                '"AccountId": "...", "LatencyMs": M}.',
            )
        count, latency = body.get("Count", 1), body.get("LatencyMs", 0)
        code, account = body.get("Code"), body.get("AccountId")
        if (
            isinstance(count, bool)
            or isinstance(latency, bool)
            or not isinstance(count, int)
            or count < 1
            or not isinstance(latency, int)
            or not 0 <= latency <= 60_000
            or (code is None and not latency)
            or (code is not None and not isinstance(code, str))
            or (account is not None and not isinstance(account, str))
        ):
            raise ServiceError(
                "InvalidParameter.Fault",
                400,
                "Count is a positive integer, LatencyMs 0 to 60000, and a fault "
                "needs a Code, a LatencyMs, or both.",
            )
        if body["Action"] not in self._control.catalog:
            raise ServiceError(
                "InvalidParameter.Fault",
                400,
                f"Action {body['Action']!r} is not an operation of this server.",
            )
        fault = Fault(body["Action"], account, code, count, latency)
        self._control.faults.add(fault)
        return encode_json(200, request_id, {"Fault": fault.to_json()})

    def _clear_faults(self, request: WireRequest, request_id: str) -> EncodedResponse:
        self._control.faults.clear()
        return encode_json(200, request_id, {"Faults": []})


def _json_body(request: WireRequest, default: object = None) -> Any:
    if not request.body:
        return default
    try:
        return parse_json(request.body)
    except ValueError:
        raise ServiceError("InvalidParameter.Body", 400, "The body must be JSON.") from None


def _range(request: WireRequest) -> tuple[int, int]:
    """`Start` and `End`, epoch milliseconds (the metric reads' bound applies after)."""
    query = dict(request.query)
    values = []
    for name in ("Start", "End"):
        raw = query.get(name, "")
        if not raw.isdigit() or len(raw) > 15:
            raise invalid_parameter(name, f"{name} is epoch milliseconds, got {raw[:40]!r}.")
        values.append(int(raw))
    return values[0], values[1]
