"""Realistic traffic for a space: a sent -> delivered -> read -> clicked funnel.

For demos and benchmarks. The output goes through the same ingestion path as real
records, so it is counted by exactly the same rules.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cams_server.model.outcomes import OutcomeEvent, SentMessage

__all__ = ["Funnel", "TemplateMix", "simulate"]


@dataclass(frozen=True, slots=True)
class TemplateMix:
    code: str
    language: str
    weight: float = 1.0
    buttons: tuple[tuple[str, str], ...] = (
        ("url_button", "Shop now"),
        ("quick_reply_button", "Stop"),
    )


@dataclass(frozen=True, slots=True)
class Funnel:
    delivered: float = 0.92
    read: float = 0.65  # of delivered
    clicked: float = 0.12  # of read
    price: Decimal = Decimal("0.0147")


def simulate(
    space_id: str,
    phone_number: str,
    templates: Sequence[TemplateMix],
    funnel: Funnel,
    messages: int,
    start_ms: int,
    end_ms: int,
    seed: int = 0,
    prefix: str = "sim",
) -> Iterator[tuple[list[SentMessage], list[OutcomeEvent]]]:
    """Batches of (sent records, events) for `messages` sends spread over [start, end).

    Outcomes come after their send, and only those that happened by `end_ms`: traffic
    simulated up to now holds no delivery or read from the future.
    """
    rng = random.Random(seed)  # noqa: S311 (reproducible traffic, not secrets)
    weights = [t.weight for t in templates]
    batch_messages: list[SentMessage] = []
    batch_events: list[OutcomeEvent] = []
    span = max(end_ms - start_ms, 1)
    for i in range(messages):
        template = rng.choices(templates, weights)[0]
        sent_at = start_ms + int(span * i / max(messages, 1)) + rng.randrange(1000)
        # The space is part of the id: the same seed on another space is other traffic.
        message_id = f"{prefix}.{space_id}.{seed}.{i}"
        batch_messages.append(
            SentMessage(
                message_id,
                space_id,
                phone_number,
                template.code,
                template.language,
                funnel.price,
                "USD",
                sent_at,
            )
        )
        batch_events += _outcomes(rng, funnel, template, message_id, sent_at, end_ms)
        if len(batch_messages) >= 2000:
            yield batch_messages, batch_events
            batch_messages, batch_events = [], []
    if batch_messages:
        yield batch_messages, batch_events


def _outcomes(
    rng: random.Random,
    funnel: Funnel,
    template: TemplateMix,
    message_id: str,
    sent_at: int,
    end_ms: int,
) -> list[OutcomeEvent]:
    """The delivery, read and click of one message, as far as they happened by `end_ms`."""
    events: list[OutcomeEvent] = []
    at = sent_at
    if rng.random() >= funnel.delivered:
        return events
    at += rng.randrange(1_000, 120_000)
    if at > end_ms:
        return events
    events.append(OutcomeEvent(f"{message_id}:delivered", message_id, "delivered", at))
    if rng.random() >= funnel.read:
        return events
    at += rng.randrange(5_000, 3_600_000)
    if at > end_ms:
        return events
    events.append(OutcomeEvent(f"{message_id}:read", message_id, "read", at))
    if not template.buttons or rng.random() >= funnel.clicked:
        return events
    button_type, text = rng.choice(template.buttons)
    at += rng.randrange(1_000, 600_000)
    if at <= end_ms:
        events.append(
            OutcomeEvent(f"{message_id}:click", message_id, "click", at, button_type, text)
        )
    return events
