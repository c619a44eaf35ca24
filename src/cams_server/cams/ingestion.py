"""Message outcomes in: our record formats and the WhatsApp Cloud API webhook format.

Records (the admin API and `cams-server events import` JSON lines):
  {"type": "sent", "message_id", "space_id", "phone_number", "template_code",
   "language", "cost", "currency"?, "sent_at"}            sent_at: ISO 8601 or epoch ms
  {"type": "status", "message_id", "status", "timestamp"}  sent|delivered|read|failed
  {"type": "click", "message_id", "button_type", "button_content", "timestamp", "event_id"?}
  a whole webhook payload {"object": "whatsapp_business_account", "entry": [...]}
Every problem is reported with its path, and nothing of a bad batch is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cams_server.model.outcomes import BUTTON_TYPES, OutcomeEvent, SentMessage
from cams_server.ram.directory import Directory
from cams_server.store.database import Database
from cams_server.store.statistics import IngestResult, MessageOwner, ingest

__all__ = ["RecordError", "ingest_records", "parse_records", "parse_webhook"]

_STATUSES = ("sent", "delivered", "read", "failed")


class RecordError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:20]) + (" ..." if len(problems) > 20 else ""))
        self.problems = problems


def _time_ms(value: object, path: str, problems: list[str]) -> int:
    if isinstance(value, bool):
        problems.append(f"{path}: expected epoch milliseconds or ISO 8601, got {value!r}")
        return 0
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)
    problems.append(f"{path}: expected epoch milliseconds or ISO 8601, got {value!r}")
    return 0


def _text(
    obj: Mapping[str, Any], key: str, path: str, problems: list[str], limit: int = 256
) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        problems.append(f"{path}.{key}: expected a non-empty string of at most {limit} characters")
        return ""
    return value


def _sent(obj: Mapping[str, Any], path: str, problems: list[str]) -> SentMessage:
    raw_cost = obj.get("cost", 0)
    try:
        cost = Decimal(str(raw_cost))
        if not cost.is_finite() or cost < 0:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        problems.append(f"{path}.cost: expected a non-negative amount, got {raw_cost!r}")
        cost = Decimal(0)
    return SentMessage(
        message_id=_text(obj, "message_id", path, problems),
        space_id=_text(obj, "space_id", path, problems, 128),
        phone_number=_text(obj, "phone_number", path, problems, 64),
        template_code=_text(obj, "template_code", path, problems, 128),
        language=_text(obj, "language", path, problems, 32),
        cost=cost,
        currency=str(obj.get("currency") or "USD")[:8],
        sent_at_ms=_time_ms(obj.get("sent_at"), f"{path}.sent_at", problems),
    )


def _status(obj: Mapping[str, Any], path: str, problems: list[str]) -> OutcomeEvent:
    status = obj.get("status")
    if status not in _STATUSES:
        problems.append(f"{path}.status: expected one of {', '.join(_STATUSES)}, got {status!r}")
    message_id = _text(obj, "message_id", path, problems)
    return OutcomeEvent(
        f"{message_id}:{status}",
        message_id,
        str(status),
        _time_ms(obj.get("timestamp"), f"{path}.timestamp", problems),
    )


def _click(obj: Mapping[str, Any], path: str, problems: list[str]) -> OutcomeEvent:
    button_type = obj.get("button_type")
    if button_type not in BUTTON_TYPES:
        problems.append(f"{path}.button_type: expected one of {', '.join(BUTTON_TYPES)}")
    message_id = _text(obj, "message_id", path, problems)
    content = str(obj.get("button_content") or "")[:256]
    occurred = _time_ms(obj.get("timestamp"), f"{path}.timestamp", problems)
    event_id = obj.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        digest = hashlib.sha256(f"{message_id}|{button_type}|{content}|{occurred}".encode())
        event_id = f"click:{digest.hexdigest()[:32]}"
    return OutcomeEvent(event_id, message_id, "click", occurred, str(button_type), content)


def parse_webhook(payload: object, path: str = "payload") -> list[OutcomeEvent]:
    """Statuses and button replies of a WhatsApp Cloud API webhook payload."""
    problems: list[str] = []
    events: list[OutcomeEvent] = []
    if not isinstance(payload, Mapping) or not isinstance(payload.get("entry"), list):
        raise RecordError([f"{path}: not a WhatsApp webhook payload (no entry list)"])
    for e_i, entry in enumerate(payload["entry"]):
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for c_i, change in enumerate(changes if isinstance(changes, list) else []):
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping):
                continue
            base = f"{path}.entry[{e_i}].changes[{c_i}].value"
            for s_i, status in enumerate(value.get("statuses") or []):
                p = f"{base}.statuses[{s_i}]"
                if not isinstance(status, Mapping):
                    problems.append(f"{p}: expected an object")
                    continue
                if status.get("status") not in _STATUSES:
                    continue  # statuses this service does not count (e.g. "deleted")
                seconds = status.get("timestamp")
                ms = _time_ms(seconds, f"{p}.timestamp", problems) * 1000
                message_id = _text(status, "id", p, problems)
                events.append(
                    OutcomeEvent(
                        f"{message_id}:{status['status']}", message_id, str(status["status"]), ms
                    )
                )
            for m_i, message in enumerate(value.get("messages") or []):
                p = f"{base}.messages[{m_i}]"
                if not isinstance(message, Mapping):
                    continue
                context = message.get("context")
                original = context.get("id") if isinstance(context, Mapping) else None
                if not isinstance(original, str):
                    continue  # not a reply to one of our messages
                text = None
                if message.get("type") == "button" and isinstance(message.get("button"), Mapping):
                    text = message["button"].get("text")
                elif message.get("type") == "interactive":
                    reply = (message.get("interactive") or {}).get("button_reply")
                    text = reply.get("title") if isinstance(reply, Mapping) else None
                if text is None:
                    continue
                ms = _time_ms(message.get("timestamp"), f"{p}.timestamp", problems) * 1000
                event_id = _text(message, "id", p, problems)
                events.append(
                    OutcomeEvent(
                        event_id, original, "click", ms, "quick_reply_button", str(text)[:256]
                    )
                )
    if problems:
        raise RecordError(problems)
    return events


def parse_records(records: Iterable[object]) -> tuple[list[SentMessage], list[OutcomeEvent]]:
    problems: list[str] = []
    messages: list[SentMessage] = []
    events: list[OutcomeEvent] = []
    for i, record in enumerate(records):
        path = f"[{i}]"
        if not isinstance(record, Mapping):
            problems.append(f"{path}: expected a JSON object")
            continue
        kind = record.get("type")
        if kind == "sent":
            messages.append(_sent(record, path, problems))
        elif kind == "status":
            events.append(_status(record, path, problems))
        elif kind == "click":
            events.append(_click(record, path, problems))
        elif record.get("object") == "whatsapp_business_account":
            try:
                events.extend(parse_webhook(record, path))
            except RecordError as exc:
                problems.extend(exc.problems)
        else:
            problems.append(f"{path}.type: expected sent, status, click or a webhook payload")
    if problems:
        raise RecordError(problems)
    return messages, events


def ingest_records(
    database: Database,
    directory: Directory,
    messages: list[SentMessage],
    events: list[OutcomeEvent],
) -> IngestResult:
    """Check every message's space exists, then ingest all or nothing."""
    owners: dict[str, MessageOwner] = {}
    problems: list[str] = []
    for message in messages:
        space = directory.space(message.space_id)
        if space is None:
            problems.append(
                f"message {message.message_id}: space {message.space_id!r} "
                "is not declared in the world"
            )
            continue
        owners[space.id] = MessageOwner(space.account_id, space.is_isv_customer)
    if problems:
        raise RecordError(problems)
    return ingest(database, messages, events, owners)
