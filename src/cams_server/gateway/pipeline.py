"""The call pipeline: request form, authentication, flow control, then the operation.

Each step takes the previous step's value or raises a `ServiceError`; the encoder
turns either into the wire's answer. Nothing here does I/O except the operation.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from cams_server.clock import Clock
from cams_server.gateway.auth import Authenticator, signature_version
from cams_server.gateway.faults import Fault, FaultPlan
from cams_server.gateway.guard import CallGuard, FlowRequest, GuardUnavailable
from cams_server.gateway.nonces import NonceQuota
from cams_server.ram.diagnostics import DiagnosticCodec
from cams_server.ram.sts_tokens import StsTokenCodec
from cams_server.rpc.caller import Caller
from cams_server.rpc.catalog import Catalog, Operation
from cams_server.rpc.context import CallContext
from cams_server.rpc.operations import Answer
from cams_server.store.database import Database, StoreUnavailable
from cams_server.store.enablements import EnablementWriter
from cams_server.store.world_cache import WorldCache
from cams_server.wire import errors
from cams_server.wire.encoding import EncodedResponse, encode_error, encode_success
from cams_server.wire.errors import ServiceError
from cams_server.wire.request import WireRequest

__all__ = ["CallRecord", "Gateway"]

log = logging.getLogger("cams_server.calls")


@dataclass(slots=True)
class CallRecord:
    """What the log line of one call says."""

    request_id: str
    action: str | None = None
    principal: str | None = None
    code: str = "OK"
    status: int = 200


class Gateway:
    def __init__(
        self,
        catalog: Catalog,
        world: WorldCache,
        database: Database,
        guard: CallGuard,
        authenticator: Authenticator,
        diagnostics: DiagnosticCodec,
        clock: Clock,
        run: Callable[[CallContext], Awaitable[Answer]],
        sts: StsTokenCodec,
        upstream_configured: bool = False,
        faults: FaultPlan | None = None,
        quota: NonceQuota | None = None,
        enablement_writer: EnablementWriter | None = None,
    ) -> None:
        self._enablement_writer = enablement_writer or EnablementWriter(database)
        self._quota = quota or NonceQuota()
        self._faults = faults
        self._sts = sts
        self._upstream_configured = upstream_configured
        self._catalog = catalog
        self._world = world
        self._database = database
        self._guard = guard
        self._auth = authenticator
        self._diagnostics = diagnostics
        self._clock = clock
        self._run = run

    async def handle(self, request: WireRequest, record: CallRecord) -> EncodedResponse:
        params = request.params()
        xml = "Format" in params and params["Format"].upper() == "XML"
        try:
            version = signature_version(request, params)
            op = self._resolve(request, params, version)
            record.action = op.name
            parsed = op.parse_parameters(params)
            caller = self._auth.authenticate(request, params, version)
            record.principal = caller.principal.arn
            if self._faults is not None:
                fault = self._faults.take(op.name, caller.principal.account_id)
                if fault is not None:
                    await self._inject(op, fault)
            await self._admit(op, caller)
            ctx = CallContext(  # positional: built on every call, keywords cost more
                record.request_id,
                op,
                parsed,
                caller,
                request,
                self._world.directory,
                self._database,
                self._clock,
                self._diagnostics,
                self._world.enabled,
                self._enablement_writer,
                self._sts,
                self._upstream_configured,
            )
            try:
                fields = await self._run(ctx)
            except (SQLAlchemyError, StoreUnavailable, TimeoutError):
                log.exception("%s: database failure", record.request_id)
                raise errors.service_unavailable(
                    "The database could not be reached; retry."
                ) from None
            return encode_success(record.request_id, op.name, fields, xml)
        except ServiceError as error:
            record.code, record.status = error.code, error.status
            host = request.header("host") or ""
            return encode_error(error, record.request_id, host, xml, request.secure)

    def _resolve(
        self, request: WireRequest, params: dict[str, str], signed_with: str | None
    ) -> Operation:
        # Only what the signature covers names the call: V1 signs parameters, not headers.
        if signed_with == "V1":
            action, api_version = params.get("Action"), params.get("Version")
        else:
            action = request.header("x-acs-action") or params.get("Action")
            api_version = request.header("x-acs-version") or params.get("Version")
        if not action:
            raise errors.invalid_action(
                "No action was given: send it as the x-acs-action header or the Action parameter.",
            )
        if action in self._catalog and not api_version:
            raise errors.missing_parameter("Version")
        op = self._catalog.resolve(action, api_version or "")
        if request.method not in op.methods:
            raise errors.unsupported_http_method(request.method)
        if not request.secure and "HTTP" not in op.schemes:
            raise errors.need_ssl(op.name)
        return op

    async def _inject(self, op: Operation, fault: Fault) -> None:
        """The injected fault taken for this call (see gateway/faults.py)."""
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.code is None:
            return
        hint = "(an injected fault: cams-server was told to fail this call)"
        headers = {"x-acs-retry-after": "1000"} if fault.code == "System.LimitControl" else {}
        if op.documented_error(fault.code) is not None:
            raise op.error(fault.code, hint, headers=headers)
        known = {
            "ServiceUnavailable": errors.service_unavailable(hint),
            "InternalError": errors.internal_error(),
        }
        raise known.get(fault.code) or ServiceError(fault.code, 400, f"Injected fault. {hint}")

    def _over_quota(self, caller: Caller, wait: float) -> ServiceError:
        limits = self._quota.limits
        ms = max(1, math.ceil(wait * 1000))
        return errors.throttling_user(
            f"AccessKey {caller.access_key_id} and account {caller.principal.account_id} may "
            f"sign at most {limits.per_key} and {limits.per_account} calls a minute; "
            f"retry in {ms} ms.",
            {"x-acs-retry-after": str(ms)},
        )

    async def _admit(self, op: Operation, caller: Caller) -> None:
        """The tenant's nonce quota, the nonce once, then the flow window."""
        account = caller.principal.account_id
        now = self._clock.now()
        # The account's quota is its RAM principals' together: a RAM user's flood cannot
        # lock out the account's own keys, which have their per-key quota only.
        shared = None if caller.principal.is_root else account
        quota_wait = self._quota.take(caller.access_key_id, shared, now)
        if quota_wait is not None:
            raise self._over_quota(caller, quota_wait)
        if caller.nonce.signed_at < self._guard.remembers_since:
            self._quota.give_back(caller.access_key_id, shared)
            raise errors.signed_before_start(caller.nonce.signed_at, self._guard.remembers_since)
        flow = None if op.flow_limit is None else FlowRequest(f"{account}:{op.name}", op.flow_limit)
        try:
            # Each guard bounds its own wait (socket or busy timeouts): no wait_for here,
            # whose extra task would cost every call.
            admission = await self._guard.admit(caller.nonce, flow, now)
        except GuardUnavailable as exc:
            self._quota.give_back(caller.access_key_id, shared)
            log.warning("call guard unavailable: %s", exc)
            raise errors.service_unavailable(
                "Nonces and flow control cannot be checked right now; retry shortly."
            ) from None
        if admission.admitted:
            return  # its nonce was kept (and counted)
        self._quota.give_back(caller.access_key_id, shared)
        if not admission.nonce_fresh:
            raise errors.signature_nonce_used(caller.nonce.nonce)
        wait = admission.wait
        assert wait is not None and flow is not None  # a throttled call: both are set
        ms = max(1, math.ceil(wait * 1000))
        reset = int(self._clock.now() + wait)
        headers = {
            "x-acs-retry-after": str(ms),
            "x-ratelimit-user-api": f"Limit:{op.flow_limit},Remain:0,TimeLeft:{ms},Reset:{reset}",
        }
        hint = (
            f"{op.name} admits {flow.limit} calls per second per account; "
            f"account {account} may call again in {ms} ms."
        )
        if op.documented_error("System.LimitControl") is None:  # STS documents none
            raise errors.throttling_user(hint, headers)
        raise op.error("System.LimitControl", hint, headers=headers)
