"""The WhatsApp Cloud API webhook: message statuses and button replies in.

`GET /webhooks/whatsapp` answers Meta's verification handshake (`hub.mode=subscribe`,
`hub.verify_token`, `hub.challenge`). `POST` bodies must carry
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the app secret>`;
anything else is refused and logged, never counted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from cams_server.cams.ingestion import RecordError, parse_webhook
from cams_server.gateway.pipeline import CallRecord
from cams_server.gateway.routes import BodyReader
from cams_server.model.outcomes import OutcomeEvent
from cams_server.store.statistics import IngestResult
from cams_server.wire.encoding import EncodedResponse, encode_json
from cams_server.wire.errors import ServiceError
from cams_server.wire.request import MAX_INGEST_BYTES, WireRequest
from cams_server.wire.untrusted import parse_json

__all__ = ["WEBHOOK_PATH", "WhatsAppWebhook"]

WEBHOOK_PATH = "/webhooks/whatsapp"
log = logging.getLogger("cams_server.webhooks")


class WhatsAppWebhook:
    def __init__(
        self,
        app_secret: str | None,
        verify_token: str | None,
        ingest: Callable[[list[OutcomeEvent]], Awaitable[IngestResult]],
    ) -> None:
        self._secret = app_secret
        self._verify_token = verify_token
        self._ingest = ingest

    label = WEBHOOK_PATH

    def owns(self, path: str) -> bool:
        return path == WEBHOOK_PATH

    async def respond(
        self, request: WireRequest, body: BodyReader, record: CallRecord
    ) -> EncodedResponse:
        """A delivery is read only when it could be accepted: a secret is configured and
        the request carries a signature to check against it."""
        if request.method == "POST":
            self._check_signed(request, record.request_id)
        complete = request.with_body(await body(MAX_INGEST_BYTES), form=False)
        return await self.handle(complete, record.request_id)

    def _check_signed(self, request: WireRequest, request_id: str) -> None:
        if not self._secret:
            raise _not_configured()
        if not request.header("x-hub-signature-256"):
            log.warning("%s: webhook with a missing signature refused", request_id)
            raise _invalid_signature()

    async def handle(self, request: WireRequest, request_id: str) -> EncodedResponse:
        if request.method == "GET":
            return self._handshake(request, request_id)
        return await self._receive(request, request_id)

    def _handshake(self, request: WireRequest, request_id: str) -> EncodedResponse:
        params = dict(request.query)
        token = params.get("hub.verify_token", "")
        if (
            params.get("hub.mode") == "subscribe"
            and self._verify_token
            and hmac.compare_digest(token.encode(), self._verify_token.encode())
        ):
            challenge = params.get("hub.challenge", "").encode()
            return (
                200,
                [
                    (b"content-type", b"text/plain;charset=utf-8"),
                    (b"x-acs-request-id", request_id.encode()),
                ],
                challenge,
            )
        log.warning(
            "%s: webhook verification refused (mode=%r)", request_id, params.get("hub.mode")
        )
        raise ServiceError(
            "Webhook.VerificationFailed",
            403,
            "hub.mode must be subscribe and hub.verify_token must match the "
            "configured verify token (CAMS_WHATSAPP_VERIFY_TOKEN).",
        )

    async def _receive(self, request: WireRequest, request_id: str) -> EncodedResponse:
        if not self._secret:
            raise _not_configured()
        sent = request.header("x-hub-signature-256") or ""
        expected = (
            "sha256=" + hmac.new(self._secret.encode(), request.body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(sent.strip().lower().encode(), expected.encode()):
            log.warning(
                "%s: webhook with a %s signature refused",
                request_id,
                "missing" if not sent else "bad",
            )
            raise _invalid_signature()
        try:
            payload = parse_json(request.body)
            events = parse_webhook(payload)
        except (ValueError, RecordError) as exc:
            raise ServiceError(
                "Webhook.InvalidPayload", 400, f"Not a WhatsApp webhook payload: {exc}"
            ) from None
        result = await self._ingest(events)
        return encode_json(200, request_id, result.to_json())


def _not_configured() -> ServiceError:
    return ServiceError(
        "Webhook.NotConfigured",
        503,
        "No app secret is configured (CAMS_WHATSAPP_APP_SECRET): "
        "webhook deliveries cannot be verified, so none are accepted.",
    )


def _invalid_signature() -> ServiceError:
    return ServiceError(
        "Webhook.InvalidSignature",
        401,
        "X-Hub-Signature-256 must be sha256=<hex HMAC-SHA256 of the raw "
        "body, keyed with the app secret>.",
    )
