"""GetChatappTemplateMetric and GetChatappPhoneNumberMetric end to end, by hand.

A space is enabled at a known instant T (the server's manual clock); a known set of
sent-message records and outcome events goes in through the admin API (some sent
before T, some duplicated, some late, a failure, clicks of every button type); both
reads are made through the official SDKs at both granularities and every field of
every `Data[]` entry is compared with counts and costs worked out by hand below.

Layout of the traffic (D is the first UTC midnight after T; times are after D unless
marked; P1/P2 are the two business numbers; costs in USD):

    m_at      sent T exactly        P1 promo/en 0.01    (counted: sent at T is "after")
    m_before  sent T - 1 ms         P1 promo/en 0.05    delivered, read, url click: none counted
    m_early   sent T - 1 h          P2 promo/en 0.02    webhook delivered + read: none counted
    m1        sent 01:00:05         P1 promo/en 0.0147  sent(status), delivered 01:02,
                                                        read 01:40, url "Shop now" 01:45
    m2        sent 01:10            P1 promo/en 0.0147  delivered 01:11, read 02:05,
                                                        quick reply "Stop" 02:06,
                                                        phone "Call us" 02:07, url "Shop now" 02:08
    m3        sent 01:20            P2 promo/en 0.0147  delivered 01:21, read at send + 7 d exactly
    m4        sent 03:00            P2 promo/en 0       sent(status), failed 03:01
    m5        sent 05:00            P1 promo/es 0.0235  delivered 05:01, quick reply "Parar"
                                                        at send + 6 d, url "Comprar" at
                                                        send + 7 d + 1 ms (late), read at
                                                        send + 8 d (late)
    m6        sent 01:00            P2 welcome/en 0.01  webhook delivered 01:05

A second batch repeats records and events (and re-sends m4 with another cost): all
are duplicates, and nothing changes.

One server (thread mode, manual clock) is shared by the module; every test starts
1.01 s after the previous one, so the 50-per-second window of each read is empty.
Tests about which spaces are enabled use a server of their own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_cams20200606.client import Client as V2Client
from alibabacloud_cams20200606.models import (
    GetChatappPhoneNumberMetricRequest,
    GetChatappPhoneNumberMetricResponseBodyData,
    GetChatappTemplateMetricRequest,
    GetChatappTemplateMetricResponseBodyData,
)
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from aliyunsdkcams.request.v20200606.GetChatappPhoneNumberMetricRequest import (
    GetChatappPhoneNumberMetricRequest as LegacyPhoneRequest,
)
from aliyunsdkcams.request.v20200606.GetChatappTemplateMetricRequest import (
    GetChatappTemplateMetricRequest as LegacyTemplateRequest,
)
from aliyunsdkcore.acs_exception.exceptions import ServerException as LegacyServerException

from cams_server.clock import ManualClock
from cams_server.testing import CamsServer
from tests.sdk.clients import KEYS, enable, legacy_client, v3_client
from tests.sdk.raw import v3_call
from tests.sdk.wire_asserts import fails

ACME = "1000000000000001"
MAIN = "cams-acme-main"
CUST1 = "cams-acme-cust-1"
CUST2 = "cams-acme-cust-2"
PROMO = "promo_spring"
WELCOME = "welcome"
P1 = "8613800000001"
P2 = "8613800000002"
TOKEN = "metrics-admin-token"

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

DOCUMENTED = {
    "Ram.PermissionDeny": "You are not authorized to perform the operation.",
    "System.LimitControl": "The system is under flow control.",
    "Unknown.ResourceOwnerId": "The resource does not belong to the current user.",
    "RoiMetric.NotEnabled": "The WhatsApp ROI metric statistics are not enabled for this space.",
}


# -- helpers --------------------------------------------------------------------------


def post_records(server: CamsServer, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(
        f"http://{server.endpoint}/_cams/messages",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"records": records},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def sent(
    message_id: str,
    at: int,
    phone: str,
    cost: str,
    *,
    template: str = PROMO,
    language: str = "en",
    space: str = MAIN,
) -> dict[str, Any]:
    return {
        "type": "sent",
        "message_id": message_id,
        "space_id": space,
        "phone_number": phone,
        "template_code": template,
        "language": language,
        "cost": cost,
        "currency": "USD",
        "sent_at": at,
    }


def status(message_id: str, kind: str, at: int) -> dict[str, Any]:
    return {"type": "status", "message_id": message_id, "status": kind, "timestamp": at}


def click(
    message_id: str, button_type: str, text: str, at: int, event_id: str | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "click",
        "message_id": message_id,
        "button_type": button_type,
        "button_content": text,
        "timestamp": at,
    }
    if event_id is not None:
        record["event_id"] = event_id
    return record


def webhook_statuses(*statuses: tuple[str, str, int]) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook payload of (message id, status, epoch ms) statuses."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": P2,
                                "phone_number_id": "106540352242922",
                            },
                            "statuses": [
                                {
                                    "id": message_id,
                                    "status": kind,
                                    "timestamp": str(at // 1000),
                                    "recipient_id": "6512345678",
                                    "pricing": {
                                        "billable": True,
                                        "pricing_model": "CBP",
                                        "category": "marketing",
                                    },
                                }
                                for message_id, kind, at in statuses
                            ],
                        },
                    }
                ],
            }
        ],
    }


def template_request(
    *,
    start: int,
    end: int,
    granularity: str | None = "DAILY",
    space: str | None = MAIN,
    template: str | None = PROMO,
    language: str | None = None,
    isv_code: str | None = None,
) -> GetChatappTemplateMetricRequest:
    return GetChatappTemplateMetricRequest(
        template_code=template,
        language=language,
        cust_space_id=space,
        isv_code=isv_code,
        granularity=granularity,
        start=start,
        end=end,
    )


def phone_request(
    *,
    start: int,
    end: int,
    granularity: str | None = "DAILY",
    space: str | None = MAIN,
    phone: str | None = None,
    isv_code: str | None = None,
) -> GetChatappPhoneNumberMetricRequest:
    return GetChatappPhoneNumberMetricRequest(
        phone_number=phone,
        cust_space_id=space,
        isv_code=isv_code,
        granularity=granularity,
        start=start,
        end=end,
    )


def read_template(server: CamsServer, who: str = "acme-root", **kwargs: Any) -> Any:
    return v3_client(server.endpoint, who).get_chatapp_template_metric(template_request(**kwargs))


def read_phone(server: CamsServer, who: str = "acme-root", **kwargs: Any) -> Any:
    return v3_client(server.endpoint, who).get_chatapp_phone_number_metric(phone_request(**kwargs))


def raw_read(server: CamsServer, action: str, query: dict[str, Any], who: str = "acme-root") -> Any:
    """A signed call outside any SDK model: the body exactly as the server wrote it."""
    key_id, secret = KEYS[who]
    response = v3_call(
        server.endpoint,
        key_id,
        secret,
        {k: str(v) for k, v in query.items() if v is not None},
        action=action,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Code"] == "OK" and body["Message"] == "None", body
    assert body["AccessDeniedDetail"] == "NONE"
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    return body


def fails_documented(action: Callable[[], object], code: str) -> AlibabaCloudException:
    return fails(action, code, DOCUMENTED)


def names_parameter(error: AlibabaCloudException, name: str) -> None:
    assert error.data["Message"].startswith(f"Specified parameter {name} is not valid."), (
        error.data["Message"]
    )


# -- the hand-computed expectations ----------------------------------------------------


def template_entry(
    language: str,
    start: int,
    length: int,
    granularity: str,
    *,
    template: str = PROMO,
    sent: int = 0,
    delivered: int = 0,
    read: int = 0,
    cliented: Sequence[tuple[str, str, int]] = (),
    amount: float = 0.0,
    per_delivered: float | None = None,
    per_url_click: float | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "TemplateCode": template,
        "Language": language,
        "SentCount": sent,
        "DeliveredCount": delivered,
        "ReadCount": read,
        "Cliented": [{"Type": t, "ButtonContent": b, "Count": n} for t, b, n in cliented],
        "Start": start,
        "End": start + length - 1,
        "Granularity": granularity,
        "AmountSpent": amount,
    }
    if per_delivered is not None:
        entry["CostPerDelivered"] = per_delivered
    if per_url_click is not None:
        entry["CostPerUrlButtonClick"] = per_url_click
    return entry


def phone_entry(
    phone: str, start: int, length: int, granularity: str, sent: int = 0, delivered: int = 0
) -> dict[str, Any]:
    return {
        "PhoneNumber": phone,
        "SentCount": sent,
        "DeliveredCount": delivered,
        "Start": start,
        "End": start + length - 1,
        "Granularity": granularity,
    }


class Traffic:
    """The enablement instant and the read ranges of the module's traffic."""

    def __init__(self, t_ms: int) -> None:
        self.t = t_ms
        self.d = (t_ms // DAY + 1) * DAY  # the first UTC midnight after T
        # DAILY: an unaligned Start inside the day of T, End the last ms of D + 8 d.
        self.daily_start = self.d - DAY + 12_345
        self.daily_end = self.d + 9 * DAY - 1
        # HALF_HOUR: 00:00 to 05:59:59.999 of day D.
        self.half_start = self.d
        self.half_end = self.d + 6 * HOUR - 1

    def daily_days(self) -> list[int]:
        return [self.d + i * DAY for i in range(-1, 9)]

    def half_hours(self) -> list[int]:
        return [self.d + i * 30 * MINUTE for i in range(12)]

    # DAILY template, per language: day -> the non-zero figures.
    def daily_template(self, language: str) -> list[dict[str, Any]]:
        d = self.d
        cells: dict[str, dict[int, dict[str, Any]]] = {
            "en": {
                d - DAY: {"sent": 1, "amount": 0.01},  # m_at
                d: {
                    "sent": 4,  # m1, m2, m3, m4
                    "delivered": 3,  # m1, m2, m3
                    "read": 2,  # m1, m2
                    "cliented": [
                        ("phone_number_button", "Call us", 1),
                        ("quick_reply_button", "Stop", 1),
                        ("url_button", "Shop now", 2),
                    ],
                    "amount": 0.0441,  # 3 x 0.0147 + 0
                    "per_delivered": 0.0147,  # 0.0441 / 3
                    "per_url_click": 0.02205,  # 0.0441 / 2
                },
                d + 7 * DAY: {"read": 1},  # m3, read exactly 7 days after its send
            },
            "es": {
                d: {"sent": 1, "delivered": 1, "amount": 0.0235, "per_delivered": 0.0235},
                d + 6 * DAY: {"cliented": [("quick_reply_button", "Parar", 1)]},
            },
        }
        return [
            template_entry(language, day, DAY, "DAILY", **cells[language].get(day, {}))
            for day in self.daily_days()
        ]

    def half_hour_template_en(self) -> list[dict[str, Any]]:
        d = self.d
        cells: dict[int, dict[str, Any]] = {
            d + HOUR: {
                "sent": 3,  # m1, m2, m3
                "delivered": 3,
                "amount": 0.0441,
                "per_delivered": 0.0147,
            },
            d + HOUR + 30 * MINUTE: {
                "read": 1,  # m1
                "cliented": [("url_button", "Shop now", 1)],
                "per_url_click": 0.0,  # nothing was spent in this half hour
            },
            d + 2 * HOUR: {
                "read": 1,  # m2
                "cliented": [
                    ("phone_number_button", "Call us", 1),
                    ("quick_reply_button", "Stop", 1),
                    ("url_button", "Shop now", 1),
                ],
                "per_url_click": 0.0,
            },
            d + 3 * HOUR: {"sent": 1},  # m4, failed, free
        }
        return [
            template_entry("en", p, 30 * MINUTE, "HALF_HOUR", **cells.get(p, {}))
            for p in self.half_hours()
        ]

    def daily_phone(self) -> list[dict[str, Any]]:
        d = self.d
        cells = {
            P1: {d - DAY: (1, 0), d: (3, 3)},  # m_at; m1, m2, m5
            P2: {d: (3, 2)},  # m3, m4, m6; m4 failed
        }
        return [
            phone_entry(phone, day, DAY, "DAILY", *cells[phone].get(day, (0, 0)))
            for phone in (P1, P2)
            for day in self.daily_days()
        ]

    def half_hour_phone(self, phone: str) -> list[dict[str, Any]]:
        d = self.d
        cells = {
            P1: {d + HOUR: (2, 2), d + 5 * HOUR: (1, 1)},  # m1, m2; m5
            P2: {d + HOUR: (2, 2), d + 3 * HOUR: (1, 0)},  # m6, m3; m4
        }
        return [
            phone_entry(phone, p, 30 * MINUTE, "HALF_HOUR", *cells[phone].get(p, (0, 0)))
            for p in self.half_hours()
        ]


def traffic_records(t: int, d: int) -> list[dict[str, Any]]:
    m1, m2, m3, m4, m5, m6 = (
        d + HOUR + 5 * SECOND,
        d + HOUR + 10 * MINUTE,
        d + HOUR + 20 * MINUTE,
        d + 3 * HOUR,
        d + 5 * HOUR,
        d + HOUR,
    )
    return [
        sent("m_at", t, P1, "0.01"),
        sent("m_before", t - 1, P1, "0.05"),
        status("m_before", "delivered", d + HOUR),
        status("m_before", "read", d + 2 * HOUR),
        click("m_before", "url_button", "Shop now", d + 3 * HOUR),
        sent("m_early", t - HOUR, P2, "0.02"),
        webhook_statuses(("m_early", "delivered", d + 30 * MINUTE), ("m_early", "read", d + HOUR)),
        sent("m1", m1, P1, "0.0147"),
        status("m1", "sent", m1),
        status("m1", "delivered", d + HOUR + 2 * MINUTE),
        status("m1", "read", d + HOUR + 40 * MINUTE),
        click("m1", "url_button", "Shop now", d + HOUR + 45 * MINUTE, event_id="click-m1-url"),
        sent("m2", m2, P1, "0.0147"),
        status("m2", "delivered", d + HOUR + 11 * MINUTE),
        status("m2", "read", d + 2 * HOUR + 5 * MINUTE),
        click("m2", "quick_reply_button", "Stop", d + 2 * HOUR + 6 * MINUTE),
        click("m2", "phone_number_button", "Call us", d + 2 * HOUR + 7 * MINUTE),
        click("m2", "url_button", "Shop now", d + 2 * HOUR + 8 * MINUTE),
        sent("m3", m3, P2, "0.0147"),
        status("m3", "delivered", d + HOUR + 21 * MINUTE),
        status("m3", "read", m3 + 7 * DAY),
        sent("m4", m4, P2, "0"),
        status("m4", "sent", m4),
        status("m4", "failed", m4 + MINUTE),
        sent("m5", m5, P1, "0.0235", language="es"),
        status("m5", "delivered", m5 + MINUTE),
        click("m5", "quick_reply_button", "Parar", m5 + 6 * DAY),
        click("m5", "url_button", "Comprar", m5 + 7 * DAY + 1),
        status("m5", "read", m5 + 8 * DAY),
        sent("m6", m6, P2, "0.01", template=WELCOME),
        webhook_statuses(("m6", "delivered", m6 + 5 * MINUTE)),
    ]


def duplicate_records(t: int, d: int) -> list[dict[str, Any]]:
    return [
        sent("m1", d + HOUR + 5 * SECOND, P1, "0.0147"),
        status("m1", "delivered", d + HOUR + 2 * MINUTE),
        click("m1", "url_button", "Shop now", d + HOUR + 45 * MINUTE, event_id="click-m1-url"),
        click("m2", "quick_reply_button", "Stop", d + 2 * HOUR + 6 * MINUTE),
        webhook_statuses(("m6", "delivered", d + HOUR + 5 * MINUTE)),
        sent("m4", d + 3 * HOUR, P2, "9.99"),  # a message id is recorded once: first wins
    ]


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(rich_world: Path) -> Iterator[CamsServer]:
    with CamsServer(world=rich_world, clock=ManualClock(), admin_token=TOKEN) as running:
        yield running


@pytest.fixture(autouse=True)
def _next_second(server: CamsServer) -> None:
    """Every test starts with empty flow-control windows on the shared server."""
    server.manual_clock.advance(1.01)


@pytest.fixture(scope="module")
def traffic(server: CamsServer) -> Traffic:
    """cams-acme-main enabled at T, the module's traffic ingested once and then again."""
    server.manual_clock.advance(1.01)
    t_ms = int(server.clock.now() * 1_000_000) // 1000
    assert enable(v3_client(server.endpoint, "acme-root"), MAIN)["Code"] == "OK"
    (entry,) = server.enablements()
    assert entry["space_id"] == MAIN
    traffic = Traffic(t_ms)
    first = post_records(server, traffic_records(traffic.t, traffic.d))
    # 9 messages (7 counted: m_at, m1..m6) and 23 events (13 counted): see the module doc.
    assert {k: first[k] for k in first if k != "RequestId"} == {
        "Messages": 9,
        "Events": 23,
        "Duplicates": 0,
        "Counted": 7 + 13,
        "NotCounted": 2 + 10,
        "Pending": 0,
    }
    again = post_records(server, duplicate_records(traffic.t, traffic.d))
    assert {k: again[k] for k in again if k != "RequestId"} == {
        "Messages": 0,
        "Events": 0,
        "Duplicates": 6,
        "Counted": 0,
        "NotCounted": 0,
        "Pending": 0,
    }
    return traffic


@pytest.fixture
def fresh(rich_world: Path) -> Iterator[CamsServer]:
    """A server of its own, with no enablements."""
    with CamsServer(world=rich_world, clock=ManualClock(), admin_token=TOKEN) as running:
        yield running


# -- 1. the counts, by hand -------------------------------------------------------------


def test_daily_template_metric_matches_hand_computed_counts_and_costs(
    server: CamsServer, traffic: Traffic
) -> None:
    body = raw_read(
        server,
        "GetChatappTemplateMetric",
        {
            "CustSpaceId": MAIN,
            "TemplateCode": PROMO,
            "Granularity": "DAILY",
            "Start": traffic.daily_start,
            "End": traffic.daily_end,
        },
    )
    assert body["Data"] == traffic.daily_template("en") + traffic.daily_template("es")


def test_sdk_models_parse_the_daily_template_metric(server: CamsServer, traffic: Traffic) -> None:
    response = read_template(server, start=traffic.daily_start, end=traffic.daily_end)
    assert response.status_code == 200
    expected = traffic.daily_template("en") + traffic.daily_template("es")
    data = response.body.data
    assert len(data) == len(expected) == 20
    for model, want in zip(data, expected, strict=True):
        assert isinstance(model, GetChatappTemplateMetricResponseBodyData)
        assert model.template_code == PROMO
        assert model.language == want["Language"]
        assert model.sent_count == want["SentCount"]
        assert model.delivered_count == want["DeliveredCount"]
        assert model.read_count == want["ReadCount"]
        assert model.start == want["Start"] and model.end == want["End"]
        assert [(c.type, c.button_content, c.count) for c in model.cliented] == [
            (c["Type"], c["ButtonContent"], c["Count"]) for c in want["Cliented"]
        ]
    # The ROI figures are extra fields: the model drops them without complaint.
    as_map = response.body.to_map()
    assert as_map["Code"] == "OK"
    assert all("AmountSpent" not in entry for entry in as_map["Data"])
    assert as_map["Data"][1]["SentCount"] == 4  # en, day D


def test_half_hour_template_metric_for_one_language(server: CamsServer, traffic: Traffic) -> None:
    query = {
        "CustSpaceId": MAIN,
        "TemplateCode": PROMO,
        "Language": "en",
        "Granularity": "HALF_HOUR",
        "Start": traffic.half_start,
        "End": traffic.half_end,
    }
    body = raw_read(server, "GetChatappTemplateMetric", query)
    assert body["Data"] == traffic.half_hour_template_en()
    response = read_template(
        server,
        start=traffic.half_start,
        end=traffic.half_end,
        granularity="HALF_HOUR",
        language="en",
    )
    assert [
        (m.start, m.sent_count, m.delivered_count, m.read_count) for m in response.body.data
    ] == [
        (e["Start"], e["SentCount"], e["DeliveredCount"], e["ReadCount"])
        for e in traffic.half_hour_template_en()
    ]


def test_half_hour_template_metric_in_spanish(server: CamsServer, traffic: Traffic) -> None:
    body = raw_read(
        server,
        "GetChatappTemplateMetric",
        {
            "CustSpaceId": MAIN,
            "TemplateCode": PROMO,
            "Language": "es",
            "Granularity": "HALF_HOUR",
            "Start": traffic.half_start,
            "End": traffic.half_end,
        },
    )
    expected = [template_entry("es", p, 30 * MINUTE, "HALF_HOUR") for p in traffic.half_hours()]
    expected[10] = template_entry(  # 05:00, m5
        "es",
        traffic.d + 5 * HOUR,
        30 * MINUTE,
        "HALF_HOUR",
        sent=1,
        delivered=1,
        amount=0.0235,
        per_delivered=0.0235,
    )
    assert body["Data"] == expected


def test_other_templates_and_unused_languages(server: CamsServer, traffic: Traffic) -> None:
    body = raw_read(
        server,
        "GetChatappTemplateMetric",
        {
            "CustSpaceId": MAIN,
            "TemplateCode": WELCOME,
            "Start": traffic.daily_start,
            "End": traffic.daily_end,
        },
    )
    expected = [
        template_entry("en", day, DAY, "DAILY", template=WELCOME) for day in traffic.daily_days()
    ]
    expected[1] = template_entry(
        "en",
        traffic.d,
        DAY,
        "DAILY",
        template=WELCOME,
        sent=1,
        delivered=1,
        amount=0.01,
        per_delivered=0.01,
    )
    assert body["Data"] == expected  # Granularity defaults to DAILY
    # A template with no traffic at all has no entries.
    nothing = read_template(
        server, start=traffic.daily_start, end=traffic.daily_end, template="never_sent"
    ).body.data
    assert nothing == []
    # A language with no traffic answers zeros, one per period.
    french = read_template(
        server, start=traffic.daily_start, end=traffic.daily_end, language="fr"
    ).body.data
    assert [(m.language, m.sent_count, m.start) for m in french] == [
        ("fr", 0, day) for day in traffic.daily_days()
    ]


def test_daily_phone_number_metric_for_every_number(server: CamsServer, traffic: Traffic) -> None:
    body = raw_read(
        server,
        "GetChatappPhoneNumberMetric",
        {
            "CustSpaceId": MAIN,
            "Granularity": "DAILY",
            "Start": traffic.daily_start,
            "End": traffic.daily_end,
        },
    )
    assert body["Data"] == traffic.daily_phone()
    response = read_phone(server, start=traffic.daily_start, end=traffic.daily_end)
    models = response.body.data
    assert all(isinstance(m, GetChatappPhoneNumberMetricResponseBodyData) for m in models)
    assert [m.to_map() for m in models] == traffic.daily_phone()


@pytest.mark.parametrize("phone", [P1, P2])
def test_half_hour_phone_number_metric(server: CamsServer, traffic: Traffic, phone: str) -> None:
    response = read_phone(
        server,
        start=traffic.half_start,
        end=traffic.half_end,
        granularity="HALF_HOUR",
        phone=phone,
    )
    assert [m.to_map() for m in response.body.data] == traffic.half_hour_phone(phone)


def test_legacy_sdk_reads_the_template_metric(server: CamsServer, traffic: Traffic) -> None:
    request = LegacyTemplateRequest()
    request.set_endpoint(server.endpoint)
    request.set_protocol_type("http")
    request.set_CustSpaceId(MAIN)
    request.set_TemplateCode(PROMO)
    request.set_Granularity("DAILY")
    request.set_Start(traffic.daily_start)
    request.set_End(traffic.daily_end)
    body = json.loads(legacy_client("acme-root").do_action_with_exception(request))
    assert body["Code"] == "OK"
    assert body["Data"] == traffic.daily_template("en") + traffic.daily_template("es")


def test_legacy_sdk_reads_the_phone_number_metric(server: CamsServer, traffic: Traffic) -> None:
    request = LegacyPhoneRequest()
    request.set_endpoint(server.endpoint)
    request.set_protocol_type("http")
    request.set_method("GET")
    request.set_CustSpaceId(MAIN)
    request.set_PhoneNumber(P2)
    request.set_Granularity("HALF_HOUR")
    request.set_Start(traffic.half_start)
    request.set_End(traffic.half_end)
    body = json.loads(legacy_client("acme-root").do_action_with_exception(request))
    assert body["Data"] == traffic.half_hour_phone(P2)


def test_end_is_inclusive_and_periods_align_to_utc(server: CamsServer, traffic: Traffic) -> None:
    # Start and End inside the same day: that one whole day.
    data = read_template(
        server, start=traffic.d + 5 * HOUR, end=traffic.d + 5 * HOUR, language="en"
    ).body.data
    assert [(m.start, m.end, m.sent_count) for m in data] == [(traffic.d, traffic.d + DAY - 1, 4)]
    # End exactly at a period start includes that period.
    data = read_template(
        server,
        start=traffic.d + HOUR + 15 * MINUTE,
        end=traffic.d + 2 * HOUR,
        granularity="HALF_HOUR",
        language="en",
    ).body.data
    assert [(m.start, m.read_count) for m in data] == [
        (traffic.d + HOUR, 0),
        (traffic.d + HOUR + 30 * MINUTE, 1),
        (traffic.d + 2 * HOUR, 1),
    ]


def test_a_range_of_exactly_ninety_days_is_accepted(server: CamsServer, traffic: Traffic) -> None:
    data = read_phone(server, start=traffic.d - DAY, end=traffic.d + 89 * DAY, phone=P1).body.data
    assert len(data) == 91
    assert sum(m.sent_count for m in data) == 4


# -- 2. who may read what ---------------------------------------------------------------


def test_never_enabled_space_is_a_documented_error(fresh: CamsServer) -> None:
    now = int(fresh.clock.now() * 1000)
    for action in (
        lambda: read_template(fresh, start=now - DAY, end=now),
        lambda: read_phone(fresh, start=now - DAY, end=now),
    ):
        error = fails_documented(action, "RoiMetric.NotEnabled")
        assert "EnableWhatsappROIMetric" in error.data["Message"]
        assert MAIN in error.data["Message"]
    # Without CustSpaceId: the account's own spaces, none enabled.
    error = fails_documented(
        lambda: read_template(fresh, start=now - DAY, end=now, space=None), "RoiMetric.NotEnabled"
    )
    assert "EnableWhatsappROIMetric" in error.data["Message"]


def test_enabling_another_space_does_not_unlock_this_one(fresh: CamsServer) -> None:
    now = int(fresh.clock.now() * 1000)
    assert enable(v3_client(fresh.endpoint, "acme-root"), CUST1)["Code"] == "OK"
    fails_documented(lambda: read_template(fresh, start=now - DAY, end=now), "RoiMetric.NotEnabled")
    fails_documented(
        lambda: read_phone(fresh, start=now - DAY, end=now, space=CUST2), "RoiMetric.NotEnabled"
    )
    assert read_phone(fresh, start=now - DAY, end=now, space=CUST1).body.code == "OK"


def test_account_wide_enablement_covers_own_spaces_not_isv_spaces(fresh: CamsServer) -> None:
    t = int(fresh.clock.now() * 1_000_000) // 1000
    assert enable(v3_client(fresh.endpoint, "acme-root"))["Code"] == "OK"
    result = post_records(
        fresh,
        [
            sent("aw-main", t + MINUTE, P1, "0.5"),
            sent("aw-cust", t + MINUTE, P1, "0.5", space=CUST1),
        ],
    )
    assert (result["Messages"], result["Counted"], result["NotCounted"]) == (2, 1, 1)
    start, end = t - DAY, t + DAY
    main = read_template(fresh, start=start, end=end).body.data
    assert sum(m.sent_count for m in main) == 1
    own = read_phone(fresh, start=start, end=end, space=None).body.data
    assert sum(m.sent_count for m in own) == 1
    error = fails_documented(
        lambda: read_template(fresh, start=start, end=end, space=CUST1), "RoiMetric.NotEnabled"
    )
    assert CUST1 in error.data["Message"]
    # Enabling the ISV space later unlocks it, without counting what was sent before.
    fresh.manual_clock.advance(1.01)
    assert enable(v3_client(fresh.endpoint, "acme-root"), CUST1)["Code"] == "OK"
    cust = read_template(fresh, start=start, end=end, space=CUST1).body.data
    assert sum(m.sent_count for m in cust) == 0


@pytest.mark.parametrize(
    ("who", "action"),
    [
        ("alice", "cams:GetChatappTemplateMetric"),
        ("alice", "cams:GetChatappPhoneNumberMetric"),
    ],
)
def test_roi_only_user_is_denied_the_reads(
    server: CamsServer, traffic: Traffic, who: str, action: str
) -> None:
    read = read_template if action.endswith("TemplateMetric") else read_phone
    error = fails_documented(
        lambda: read(server, who, start=traffic.daily_start, end=traffic.daily_end),
        "Ram.PermissionDeny",
    )
    detail = error.data["AccessDeniedDetail"]
    assert isinstance(detail, dict)
    assert detail["AuthAction"] == action
    assert detail["AuthPrincipalDisplayName"] == who
    assert detail["AuthPrincipalOwnerId"] == ACME
    assert detail["NoPermissionType"] == "ImplicitDeny"
    assert detail["EncodedDiagnosticMessage"]


@pytest.mark.parametrize("who", ["rita", "olga", "nora", "dave", "ivan"])
def test_read_only_and_broader_policies_allow_the_reads(
    server: CamsServer, traffic: Traffic, who: str
) -> None:
    # rita: AliyunCAMSReadOnlyAccess; nora: everything but Enable; dave: Enable* denied.
    data = read_template(server, who, start=traffic.daily_start, end=traffic.daily_end).body.data
    assert sum(m.sent_count for m in data) == 6
    phones = read_phone(server, who, start=traffic.daily_start, end=traffic.daily_end).body.data
    assert sum(m.delivered_count for m in phones) == 5


def test_another_accounts_space_is_not_readable(server: CamsServer, traffic: Traffic) -> None:
    fails_documented(
        lambda: read_template(server, "globex-root", start=traffic.d, end=traffic.d),
        "Unknown.ResourceOwnerId",
    )
    fails_documented(
        lambda: read_phone(server, "gus", start=traffic.d, end=traffic.d),
        "Unknown.ResourceOwnerId",
    )


def test_isv_code_rules_apply_to_reads(server: CamsServer, traffic: Traffic) -> None:
    assert enable(v3_client(server.endpoint, "olga"), CUST1, "olga-code-0001")["Code"] == "OK"
    window = {"start": traffic.d - DAY, "end": traffic.d}
    # olga's code covers the space: allowed.
    for read in (read_template, read_phone):
        response = read(server, "olga", space=CUST1, isv_code="olga-code-0001", **window)
        assert response.body.code == "OK"
    # The account's own keys need no code.
    assert read_phone(server, "acme-root", space=CUST1, **window).body.code == "OK"
    # A RAM principal without a code, with someone else's code, or with an expired one.
    for who, code in [
        ("olga", None),
        ("rita", None),
        ("olga", "skdi3kksloslikdkkdk"),
        ("olga", "no-such-code"),
        ("olga", "globex-code-0001"),
    ]:
        error = fails_documented(
            lambda who=who, code=code: read_template(  # type: ignore[misc]
                server, who, space=CUST1, isv_code=code, **window
            ),
            "Ram.PermissionDeny",
        )
        assert error.data["AccessDeniedDetail"]["PolicyType"] == "IsvAuthorization"
        assert error.data["AccessDeniedDetail"]["AuthAction"] == "cams:GetChatappTemplateMetric"
    # The code checks pass on the never-enabled cust-2; then the space is not enabled.
    fails_documented(
        lambda: read_phone(server, "olga", space=CUST2, isv_code="olga-code-0001", **window),
        "RoiMetric.NotEnabled",
    )


# -- 3. malformed reads ----------------------------------------------------------------


def test_end_before_start_names_end(server: CamsServer, traffic: Traffic) -> None:
    for read in (read_template, read_phone):
        error = fails_documented(
            lambda read=read: read(server, start=traffic.d, end=traffic.d - 1),  # type: ignore[misc]
            "InvalidParameter",
        )
        names_parameter(error, "End")


def test_more_than_ninety_days_names_end(server: CamsServer, traffic: Traffic) -> None:
    error = fails_documented(
        lambda: read_template(server, start=traffic.d, end=traffic.d + 90 * DAY + 1),
        "InvalidParameter",
    )
    names_parameter(error, "End")
    assert "90 days" in error.data["Message"]


def test_unknown_granularity_names_granularity(server: CamsServer, traffic: Traffic) -> None:
    for read in (read_template, read_phone):
        error = fails_documented(
            lambda read=read: read(  # type: ignore[misc]
                server, start=traffic.d, end=traffic.d + DAY, granularity="WEEKLY"
            ),
            "InvalidParameter",
        )
        names_parameter(error, "Granularity")


def test_missing_template_code(server: CamsServer, traffic: Traffic) -> None:
    error = fails_documented(
        lambda: read_template(server, start=traffic.d, end=traffic.d, template=None),
        "MissingTemplateCode",
    )
    assert "TemplateCode" in error.data["Message"]


def test_missing_start_and_end(server: CamsServer, traffic: Traffic) -> None:
    fails_documented(lambda: read_phone(server, start=None, end=traffic.d), "MissingStart")
    fails_documented(lambda: read_template(server, start=traffic.d, end=None), "MissingEnd")


def test_negative_start_names_start(server: CamsServer, traffic: Traffic) -> None:
    error = fails_documented(
        lambda: read_phone(server, start=-1, end=traffic.d), "InvalidParameter"
    )
    names_parameter(error, "Start")


def test_non_integer_start_names_start(server: CamsServer, traffic: Traffic) -> None:
    for value in ("yesterday", "1.5e12"):
        error = fails_documented(
            lambda value=value: read_template(server, start=value, end=traffic.d),  # type: ignore[misc]
            "InvalidParameter",
        )
        names_parameter(error, "Start")


def test_fifty_reads_per_second_then_limit_control(server: CamsServer, traffic: Traffic) -> None:
    client: V2Client = v3_client(server.endpoint, "rita")
    request = template_request(start=traffic.d, end=traffic.d)
    for _ in range(50):
        assert client.get_chatapp_template_metric(request).body.code == "OK"
    error = fails_documented(
        lambda: client.get_chatapp_template_metric(request), "System.LimitControl"
    )
    assert isinstance(error, ThrottlingException)
    assert error.retry_after is not None and 0 < error.retry_after <= 1000
    # The whole account shares the window; one second later it is open again.
    fails_documented(
        lambda: read_template(server, start=traffic.d, end=traffic.d), "System.LimitControl"
    )
    server.manual_clock.advance(1.0)
    assert client.get_chatapp_template_metric(request).body.code == "OK"


def test_legacy_sdk_sees_read_errors(server: CamsServer, traffic: Traffic) -> None:
    request = LegacyTemplateRequest()
    request.set_endpoint(server.endpoint)
    request.set_protocol_type("http")
    request.set_CustSpaceId(MAIN)
    request.set_TemplateCode(PROMO)
    request.set_Granularity("HALF_HOUR")
    request.set_Start(traffic.d)
    request.set_End(traffic.d - 1)
    with pytest.raises(LegacyServerException) as info:
        legacy_client("acme-root").do_action_with_exception(request)
    assert info.value.get_error_code() == "InvalidParameter"
    assert info.value.get_http_status() == 400
    assert "End" in info.value.get_error_msg()
