"""Message outcomes: what was sent, and what happened to it.

A `SentMessage` ties a message id to its space, business number, template and cost;
an `OutcomeEvent` is one thing that happened to a message (sent, delivered, read,
failed, a button click), each with its own id so a redelivered event counts once.
The rules of counting (upstream's):
- a message counts only if it was sent at or after its space's enablement;
- a read or a click counts only within 7 days of the send;
- each event is counted in the half-hour bucket of when it happened, the send and its
  cost in the bucket of the send.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "BUCKET_MS",
    "BUTTON_TYPES",
    "DAY_MS",
    "READ_WINDOW_MS",
    "OutcomeEvent",
    "SentMessage",
    "bucket_of",
]

BUCKET_MS = 30 * 60 * 1000
DAY_MS = 24 * 3600 * 1000
READ_WINDOW_MS = 7 * 24 * 3600 * 1000
BUTTON_TYPES = ("url_button", "quick_reply_button", "phone_number_button")


def bucket_of(ms: int) -> int:
    return ms - ms % BUCKET_MS


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    space_id: str
    phone_number: str
    template_code: str
    language: str
    cost: Decimal
    currency: str
    sent_at_ms: int

    @property
    def cost_micros(self) -> int:
        return int(self.cost * 1_000_000)


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    event_id: str  # unique per event: "<message>:<status>" or the reply message's id
    message_id: str
    kind: str
    occurred_at_ms: int
    button_type: str | None = None
    button_content: str | None = None
