"""The WhatsApp Cloud API webhook at /webhooks/whatsapp, over real HTTP.

Meta's verification handshake (GET), signed deliveries (POST, X-Hub-Signature-256
over the raw body with the app secret), and what the deliveries count for, read back
through the official V2 SDK. Each test uses its own template code, so its counts are
its own on the shared server; the space cams-acme-main is enabled at T, and every
message here is sent after T unless the test says otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.models import GetChatappTemplateMetricRequest

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import enable, v3_client

MAIN = "cams-acme-main"
PHONE = "8613800000001"
SECRET = "meta-app-secret-for-tests"
VERIFY = "verify-token-for-tests"
TOKEN = "webhook-admin-token"
WABA = "102290129340398"

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    running = CamsServer(
        world=rich_world,
        clock=ManualClock(),
        admin_token=TOKEN,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token=VERIFY,
    )
    running.start()
    try:
        assert enable(v3_client(running.endpoint, "acme-root"), MAIN)["Code"] == "OK"
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _next_second(server: CamsServer) -> None:
    server.manual_clock.advance(1.01)


@pytest.fixture(scope="module")
def enabled_at(server: CamsServer) -> int:
    (entry,) = server.enablements()
    return int(datetime.fromisoformat(entry["enabled_at"]).timestamp() * 1000)


@pytest.fixture
def unconfigured(rich_world: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CamsServer]:
    monkeypatch.delenv("CAMS_WHATSAPP_APP_SECRET", raising=False)
    monkeypatch.delenv("CAMS_WHATSAPP_VERIFY_TOKEN", raising=False)
    with CamsServer(world=rich_world) as running:
        yield running


# -- helpers --------------------------------------------------------------------------


def url(server: CamsServer) -> str:
    return f"http://{server.endpoint}/webhooks/whatsapp"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    server: CamsServer, payload: Any, *, sign: str | None = SECRET, raw: bytes | None = None
) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
    if sign is not None:
        headers["X-Hub-Signature-256"] = signature(body, sign)
    return httpx.post(url(server), content=body, headers=headers, timeout=10)


def counts(response: httpx.Response) -> dict[str, int]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["RequestId"] == response.headers["x-acs-request-id"]
    return {k: v for k, v in body.items() if k != "RequestId"}


def record_sent(server: CamsServer, *messages: tuple[str, str, int]) -> dict[str, int]:
    """Sent-message records (message id, template, sent at ms) through the admin API."""
    response = httpx.post(
        f"http://{server.endpoint}/_cams/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json=[
            {
                "type": "sent",
                "message_id": message_id,
                "space_id": MAIN,
                "phone_number": PHONE,
                "template_code": template,
                "language": "en",
                "cost": "0.0147",
                "sent_at": at,
            }
            for message_id, template, at in messages
        ],
        timeout=10,
    )
    return counts(response)


def status(message_id: str, kind: str, at_ms: int) -> dict[str, Any]:
    """One entry of value.statuses[], as the Cloud API sends it."""
    entry: dict[str, Any] = {
        "id": message_id,
        "status": kind,
        "timestamp": str(at_ms // 1000),
        "recipient_id": "6512345678",
    }
    if kind in ("sent", "delivered", "read"):
        entry["conversation"] = {
            "id": "ad5a9b1d6f1f9b6b2d0c0e9e8f7a6b5c",
            "origin": {"type": "marketing"},
        }
        entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "marketing"}
    if kind == "failed":
        entry["errors"] = [
            {
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return entry


def button_reply(reply_id: str, original: str, text: str, at_ms: int) -> dict[str, Any]:
    """A quick-reply button press on a template message (messages[] of type button)."""
    return {
        "context": {"from": "15550783881", "id": original},
        "from": "6512345678",
        "id": reply_id,
        "timestamp": str(at_ms // 1000),
        "type": "button",
        "button": {"payload": text.upper(), "text": text},
    }


def interactive_reply(reply_id: str, original: str, title: str, at_ms: int) -> dict[str, Any]:
    return {
        "context": {"from": "15550783881", "id": original},
        "from": "6512345678",
        "id": reply_id,
        "timestamp": str(at_ms // 1000),
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "btn-1", "title": title},
        },
    }


def payload(
    statuses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    messages: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": PHONE, "phone_number_id": "106540352242922"},
    }
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["contacts"] = [{"profile": {"name": "Kerry Fisher"}, "wa_id": "6512345678"}]
        value["messages"] = list(messages)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"value": value, "field": "messages"}]}],
    }


def metric(server: CamsServer, template: str, around: int) -> dict[str, Any]:
    """Totals of a template's DAILY metric over the two days around `around`."""
    body = (
        v3_client(server.endpoint, "acme-root")
        .get_chatapp_template_metric(
            GetChatappTemplateMetricRequest(
                cust_space_id=MAIN,
                template_code=template,
                granularity="DAILY",
                start=around - DAY,
                end=around + 9 * DAY,
            )
        )
        .body
    )
    totals: dict[str, Any] = {"sent": 0, "delivered": 0, "read": 0, "clicks": {}}
    for entry in body.data:
        totals["sent"] += entry.sent_count
        totals["delivered"] += entry.delivered_count
        totals["read"] += entry.read_count
        for c in entry.cliented:
            key = (c.type, c.button_content)
            totals["clicks"][key] = totals["clicks"].get(key, 0) + c.count
    return totals


# -- 1. the verification handshake -----------------------------------------------------


def test_handshake_with_the_right_token_echoes_the_challenge(server: CamsServer) -> None:
    response = httpx.get(
        url(server),
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


CHALLENGE = "challenge-5f0e2d"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong-token", "hub.challenge": CHALLENGE},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": CHALLENGE},
        {"hub.mode": "subscribe", "hub.challenge": CHALLENGE},
        {"hub.verify_token": VERIFY, "hub.challenge": CHALLENGE},
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-mode"],
)
def test_handshake_is_refused_otherwise(server: CamsServer, params: dict[str, str]) -> None:
    response = httpx.get(url(server), params=params)
    assert response.status_code == 403
    body = response.json()
    assert body["Code"] == "Webhook.VerificationFailed"
    assert CHALLENGE not in response.text  # never echoed (a port in HostId may hold "42")
    assert body["RequestId"] == response.headers["x-acs-request-id"]


# -- 2. signatures ------------------------------------------------------------------------


def test_signed_delivery_is_counted(server: CamsServer, enabled_at: int) -> None:
    t = enabled_at + HOUR
    record_sent(server, ("wamid.signed-1", "wh_signed", t), ("wamid.signed-2", "wh_signed", t))
    delivery = payload(
        statuses=[
            status("wamid.signed-1", "sent", t + 1000),
            status("wamid.signed-1", "delivered", t + 2000),
            status("wamid.signed-1", "read", t + MINUTE),
            status("wamid.signed-2", "sent", t + 1000),
            status("wamid.signed-2", "failed", t + 3000),
        ],
        messages=[
            button_reply("wamid.reply-1", "wamid.signed-1", "Stop promotions", t + 2 * MINUTE)
        ],
    )
    assert counts(deliver(server, delivery)) == {
        "Messages": 0,
        "Events": 6,
        "Duplicates": 0,
        "Counted": 3,  # delivered, read, the button reply
        "NotCounted": 3,  # two "sent" statuses, one "failed"
        "Pending": 0,
    }
    assert metric(server, "wh_signed", t) == {
        "sent": 2,
        "delivered": 1,
        "read": 1,
        "clicks": {("quick_reply_button", "Stop promotions"): 1},
    }


def test_interactive_button_replies_count_and_other_messages_do_not(
    server: CamsServer, enabled_at: int
) -> None:
    t = enabled_at + 2 * HOUR
    record_sent(server, ("wamid.inter-1", "wh_interactive", t))
    text_message = {
        "from": "6512345678",
        "id": "wamid.text-1",
        "timestamp": str((t + MINUTE) // 1000),
        "type": "text",
        "text": {"body": "hello"},
    }
    delivery = payload(
        statuses=[status("wamid.inter-1", "deleted", t + 500)],  # not a status we count
        messages=[
            interactive_reply("wamid.inter-reply", "wamid.inter-1", "Yes please", t + MINUTE),
            text_message,  # no context: not a reply to one of our messages
        ],
    )
    assert counts(deliver(server, delivery))["Counted"] == 1
    assert metric(server, "wh_interactive", t)["clicks"] == {
        ("quick_reply_button", "Yes please"): 1
    }


def test_bad_signature_is_refused_logged_and_never_counted(
    server: CamsServer, enabled_at: int, caplog: pytest.LogCaptureFixture
) -> None:
    t = enabled_at + 3 * HOUR
    record_sent(server, ("wamid.bad-1", "wh_bad", t))
    delivery = payload(statuses=[status("wamid.bad-1", "delivered", t + 1000)])
    caplog.set_level(logging.WARNING, logger="cams_server.webhooks")
    for secret in ("not-the-app-secret", SECRET[:-1]):
        response = deliver(server, delivery, sign=secret)
        assert response.status_code == 401
        body = response.json()
        assert body["Code"] == "Webhook.InvalidSignature"
        assert body["RequestId"] == response.headers["x-acs-request-id"]
        assert any(
            body["RequestId"] in r.getMessage() and "bad signature" in r.getMessage()
            for r in caplog.records
        ), [r.getMessage() for r in caplog.records]
    # A body altered after signing.
    body_bytes = json.dumps(delivery).encode()
    tampered = body_bytes.replace(b"delivered", b"read")
    response = httpx.post(
        url(server),
        content=tampered,
        headers={"X-Hub-Signature-256": signature(body_bytes)},
    )
    assert response.status_code == 401
    assert metric(server, "wh_bad", t)["delivered"] == 0
    # Nothing was recorded: the same events, properly signed, are new.
    assert counts(deliver(server, delivery))["Events"] == 1
    assert metric(server, "wh_bad", t)["delivered"] == 1


def test_missing_signature_is_refused(
    server: CamsServer, enabled_at: int, caplog: pytest.LogCaptureFixture
) -> None:
    t = enabled_at + 4 * HOUR
    record_sent(server, ("wamid.unsigned-1", "wh_unsigned", t))
    caplog.set_level(logging.WARNING, logger="cams_server.webhooks")
    response = deliver(
        server, payload(statuses=[status("wamid.unsigned-1", "delivered", t + 1)]), sign=None
    )
    assert response.status_code == 401
    assert response.json()["Code"] == "Webhook.InvalidSignature"
    assert any("missing signature" in r.getMessage() for r in caplog.records)
    # sha1 signatures (X-Hub-Signature) are not accepted in its place.
    body = json.dumps(payload(statuses=[status("wamid.unsigned-1", "delivered", t + 1)])).encode()
    response = httpx.post(
        url(server),
        content=body,
        headers={"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), body, "sha1").hexdigest()},
    )
    assert response.status_code == 401
    assert metric(server, "wh_unsigned", t)["delivered"] == 0


def test_webhook_not_configured_refuses_deliveries(unconfigured: CamsServer) -> None:
    response = deliver(unconfigured, payload(statuses=[status("wamid.x", "delivered", 0)]))
    assert response.status_code == 503
    body = response.json()
    assert body["Code"] == "Webhook.NotConfigured"
    assert "CAMS_WHATSAPP_APP_SECRET" in body["Message"]
    # No verify token either: the handshake cannot succeed.
    response = httpx.get(
        url(unconfigured),
        params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "7"},
    )
    assert response.status_code == 403


# -- 3. what deliveries count for -------------------------------------------------------


def test_redelivery_is_counted_once(server: CamsServer, enabled_at: int) -> None:
    t = enabled_at + 5 * HOUR
    record_sent(server, ("wamid.again-1", "wh_again", t))
    delivery = payload(
        statuses=[
            status("wamid.again-1", "delivered", t + 1000),
            status("wamid.again-1", "read", t + 2000),
        ],
        messages=[button_reply("wamid.again-reply", "wamid.again-1", "Shop", t + 3000)],
    )
    first = counts(deliver(server, delivery))
    assert (first["Events"], first["Counted"], first["Duplicates"]) == (3, 3, 0)
    for _ in range(2):
        again = counts(deliver(server, delivery))
        assert (again["Events"], again["Counted"], again["Duplicates"]) == (0, 0, 3)
    # The same status inside one delivery twice also counts once.
    doubled = payload(
        statuses=[status("wamid.again-1", "delivered", t + 1000)] * 2,
    )
    assert counts(deliver(server, doubled))["Duplicates"] == 2
    assert metric(server, "wh_again", t) == {
        "sent": 1,
        "delivered": 1,
        "read": 1,
        "clicks": {("quick_reply_button", "Shop"): 1},
    }


def test_concurrent_redeliveries_are_counted_once(server: CamsServer, enabled_at: int) -> None:
    t = enabled_at + 8 * HOUR
    record_sent(server, ("wamid.burst-1", "wh_burst", t))
    delivery = payload(
        statuses=[
            status("wamid.burst-1", "delivered", t + 1000),
            status("wamid.burst-1", "read", t + 2000),
        ]
    )
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: deliver(server, delivery), range(8)))
    results = [counts(r) for r in responses]
    assert sum(r["Events"] for r in results) == 2
    assert sum(r["Counted"] for r in results) == 2
    assert sum(r["Duplicates"] for r in results) == 14
    assert metric(server, "wh_burst", t)["delivered"] == 1
    assert metric(server, "wh_burst", t)["read"] == 1


def test_events_before_their_sent_record_wait_and_then_count(
    server: CamsServer, enabled_at: int
) -> None:
    t = enabled_at + 6 * HOUR
    delivery = payload(
        statuses=[
            status("wamid.early-1", "delivered", t + 1000),
            status("wamid.early-1", "read", t + 5 * MINUTE),
        ],
        messages=[button_reply("wamid.early-reply", "wamid.early-1", "Tell me more", t + HOUR)],
    )
    held = counts(deliver(server, delivery))
    assert (held["Events"], held["Counted"], held["Pending"]) == (3, 0, 3)
    assert metric(server, "wh_early", t)["delivered"] == 0
    # Redelivered while still waiting: known already, not held twice.
    assert counts(deliver(server, delivery))["Duplicates"] == 3
    recorded = record_sent(server, ("wamid.early-1", "wh_early", t))
    assert (recorded["Messages"], recorded["Counted"], recorded["Pending"]) == (1, 4, 0)
    assert metric(server, "wh_early", t) == {
        "sent": 1,
        "delivered": 1,
        "read": 1,
        "clicks": {("quick_reply_button", "Tell me more"): 1},
    }
    # And after that, a redelivery still counts once.
    assert counts(deliver(server, delivery))["Duplicates"] == 3
    assert metric(server, "wh_early", t)["read"] == 1


def test_messages_sent_before_enablement_are_kept_not_counted(
    server: CamsServer, enabled_at: int
) -> None:
    before = enabled_at - HOUR
    result = record_sent(server, ("wamid.old-1", "wh_old", before))
    assert (result["Messages"], result["NotCounted"]) == (1, 1)
    delivery = payload(
        statuses=[
            status("wamid.old-1", "delivered", enabled_at + HOUR),
            status("wamid.old-1", "read", enabled_at + 2 * HOUR),
        ]
    )
    kept = counts(deliver(server, delivery))
    assert (kept["Events"], kept["Counted"], kept["NotCounted"]) == (2, 0, 2)
    assert metric(server, "wh_old", enabled_at) == {
        "sent": 0,
        "delivered": 0,
        "read": 0,
        "clicks": {},
    }


def test_reads_and_replies_later_than_seven_days_are_not_counted(
    server: CamsServer, enabled_at: int
) -> None:
    t = enabled_at + 7 * HOUR
    record_sent(server, ("wamid.late-1", "wh_late", t), ("wamid.late-2", "wh_late", t))
    delivery = payload(
        statuses=[
            status("wamid.late-1", "delivered", t + 1000),
            status("wamid.late-1", "read", t + 8 * DAY),
            status("wamid.late-2", "read", t + 6 * DAY),
        ],
        messages=[
            button_reply("wamid.late-reply", "wamid.late-1", "Late", t + 7 * DAY + 1000),
        ],
    )
    result = counts(deliver(server, delivery))
    assert (result["Counted"], result["NotCounted"]) == (2, 2)
    assert metric(server, "wh_late", t) == {"sent": 2, "delivered": 1, "read": 1, "clicks": {}}


# -- 4. malformed deliveries -------------------------------------------------------------


def test_invalid_json_is_a_bad_request(server: CamsServer) -> None:
    response = deliver(server, None, raw=b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert response.json()["Code"] == "Webhook.InvalidPayload"


@pytest.mark.parametrize(
    "body",
    [
        {"object": "whatsapp_business_account"},
        [1, 2, 3],
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [{"value": {"statuses": [{"id": "wamid.x", "status": "delivered"}]}}]}
            ],
        },
    ],
    ids=["no-entry", "not-an-object", "status-without-timestamp"],
)
def test_payloads_that_are_not_webhooks_are_refused(server: CamsServer, body: Any) -> None:
    response = deliver(server, body)
    assert response.status_code == 400
    assert response.json()["Code"] == "Webhook.InvalidPayload"
