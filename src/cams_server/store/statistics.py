"""ROI statistics in the database: ingestion with idempotency, roll-ups, and reads.

Ingestion writes each message and event once (their ids are primary keys), then
rolls countable ones into half-hour buckets in the same transaction, so a read sums
buckets, never messages. An event that arrives before its message is kept and rolled
up when the message arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Table, and_, func, select, update

from cams_server.model.outcomes import (
    BUCKET_MS,
    DAY_MS,
    READ_WINDOW_MS,
    OutcomeEvent,
    SentMessage,
    bucket_of,
)
from cams_server.store.database import Database, DialectInsert
from cams_server.store.schema import (
    click_buckets,
    click_days,
    message_events,
    phone_buckets,
    phone_days,
    roi_enablements,
    sent_messages,
    template_buckets,
    template_days,
)

__all__ = [
    "IngestResult",
    "MessageOwner",
    "ingest",
    "read_phone_buckets",
    "read_template_buckets",
    "templates_used",
]

_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class MessageOwner:
    """Who a space belongs to, and whether it is an ISV sub-customer's."""

    account_id: str
    isv: bool


@dataclass(slots=True)
class IngestResult:
    messages: int = 0  # new sent-message records
    events: int = 0  # new events
    duplicates: int = 0  # already known, ignored
    counted: int = 0  # messages and events rolled into the statistics
    not_counted: int = 0  # kept, but outside the rules (before enablement, late, failed)
    pending: int = 0  # events waiting for their message's record

    def to_json(self) -> dict[str, int]:
        return {
            "Messages": self.messages,
            "Events": self.events,
            "Duplicates": self.duplicates,
            "Counted": self.counted,
            "NotCounted": self.not_counted,
            "Pending": self.pending,
        }


class _Rollup:
    """Increments gathered in Python, written as one upsert per bucket."""

    def __init__(self) -> None:
        self.template: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.phone: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
        self.clicks: dict[tuple[Any, ...], int] = defaultdict(int)

    def sent(self, m: dict[str, Any]) -> None:
        bucket = bucket_of(m["sent_at_ms"])
        t = self.template[
            (m["account_id"], m["space_id"], m["template_code"], m["language"], bucket)
        ]
        t[0] += 1
        t[3] += m["cost_micros"]
        self.phone[(m["account_id"], m["space_id"], m["phone_number"], bucket)][0] += 1

    def event(self, m: dict[str, Any], e: OutcomeEvent) -> bool:
        """Add one event of message `m`; False if the rules say it does not count."""
        if not m["counted"] or e.kind in ("sent", "failed"):
            return False
        if e.kind in ("read", "click") and e.occurred_at_ms - m["sent_at_ms"] > READ_WINDOW_MS:
            return False
        bucket = bucket_of(e.occurred_at_ms)
        key = (m["account_id"], m["space_id"], m["template_code"], m["language"], bucket)
        if e.kind == "delivered":
            self.template[key][1] += 1
            self.phone[(m["account_id"], m["space_id"], m["phone_number"], bucket)][1] += 1
        elif e.kind == "read":
            self.template[key][2] += 1
        else:
            self.clicks[(*key, e.button_type or "quick_reply_button", e.button_content or "")] += 1
        return True

    def write(self, conn: Connection, insert: Callable[[Table], DialectInsert]) -> None:
        def upsert(
            table: Table, keys: Sequence[str], values: Sequence[str], rows: list[dict[str, Any]]
        ) -> None:
            if not rows:
                return
            stmt = insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={v: table.c[v] + stmt.excluded[v] for v in values},
            )
            conn.execute(stmt, rows)

        tk = ("account_id", "space_id", "template_code", "language", "bucket_ms")
        pk = ("account_id", "space_id", "phone_number", "bucket_ms")
        ck = (*tk, "button_type", "button_content")
        for daily, (t_table, p_table, c_table) in (
            (False, (template_buckets, phone_buckets, click_buckets)),
            (True, (template_days, phone_days, click_days)),
        ):
            template = _by_day(self.template, 4) if daily else self.template
            phone = _by_day(self.phone, 3) if daily else self.phone
            clicks = _by_day(self.clicks, 4) if daily else self.clicks
            upsert(
                t_table,
                tk,
                ("sent", "delivered", "read", "cost_micros"),
                [
                    dict(
                        zip(tk, k, strict=True),
                        sent=v[0],
                        delivered=v[1],
                        read=v[2],
                        cost_micros=v[3],
                    )
                    for k, v in template.items()
                ],
            )
            upsert(
                p_table,
                pk,
                ("sent", "delivered"),
                [
                    dict(zip(pk, k, strict=True), sent=v[0], delivered=v[1])
                    for k, v in phone.items()
                ],
            )
            upsert(
                c_table,
                ck,
                ("clicks",),
                [dict(zip(ck, k, strict=True), clicks=v) for k, v in clicks.items()],
            )


def _by_day(increments: dict[tuple[Any, ...], Any], position: int) -> dict[tuple[Any, ...], Any]:
    """Half-hour increments summed by UTC day (the key's `position` holds the bucket)."""
    days: dict[tuple[Any, ...], Any] = {}
    for key, value in increments.items():
        day_key = (*key[:position], key[position] - key[position] % DAY_MS, *key[position + 1 :])
        if isinstance(value, int):
            days[day_key] = days.get(day_key, 0) + value
        else:
            total = days.setdefault(day_key, [0] * len(value))
            for i, v in enumerate(value):
                total[i] += v
    return days


def _enabled_at(conn: Connection, owners: dict[str, MessageOwner]) -> dict[str, int | None]:
    """Each space's effective enablement time (ms): its own, or the account-wide one
    for a space that is not an ISV sub-customer's."""
    accounts = {o.account_id for o in owners.values()}
    rows = conn.execute(
        select(
            roi_enablements.c.account_id,
            roi_enablements.c.space_id,
            roi_enablements.c.enabled_at_us,
        ).where(roi_enablements.c.account_id.in_(accounts))
    ).all()
    times = {(r.account_id, r.space_id): r.enabled_at_us // 1000 for r in rows}
    out: dict[str, int | None] = {}
    for space, owner in owners.items():
        candidates = [times.get((owner.account_id, space))]
        if not owner.isv:
            candidates.append(times.get((owner.account_id, "")))
        known = [c for c in candidates if c is not None]
        out[space] = min(known) if known else None
    return out


def _not_yet_recorded(
    conn: Connection, id_column: Column[Any], items: list[_Item], id_of: Callable[[_Item], str]
) -> tuple[list[_Item], int]:
    """(the items whose id is neither in `id_column` nor earlier in `items`, how many were
    left out): a webhook redelivers, so each message and event is recorded and counted
    once, however often it arrives. One query for the whole batch."""
    if not items:
        return [], 0
    ids = [id_of(item) for item in items]
    seen = set(conn.execute(select(id_column).where(id_column.in_(ids))).scalars())
    unrecorded: list[_Item] = []
    for item, item_id in zip(items, ids, strict=True):
        if item_id in seen:
            continue
        seen.add(item_id)
        unrecorded.append(item)
    return unrecorded, len(items) - len(unrecorded)


def _sent_record(
    message: SentMessage, owner: MessageOwner, enabled_at: int | None
) -> dict[str, Any]:
    """The row of a new message. Whether it counts is decided once, here, from its space's
    enablement at ingestion: its events are counted (or not) by this flag, however late
    they arrive."""
    return {
        "message_id": message.message_id,
        "account_id": owner.account_id,
        "space_id": message.space_id,
        "phone_number": message.phone_number,
        "template_code": message.template_code,
        "language": message.language,
        "cost_micros": message.cost_micros,
        "currency": message.currency,
        "sent_at_ms": message.sent_at_ms,
        "counted": enabled_at is not None and message.sent_at_ms >= enabled_at,
    }


def _roll_up_sends(rollup: _Rollup, records: list[dict[str, Any]], result: IngestResult) -> None:
    """Add the sends (and their cost) of the counted new messages; the others are only
    tallied, so the caller sees why its statistics did not move."""
    for record in records:
        if record["counted"]:
            rollup.sent(record)
            result.counted += 1
        else:
            result.not_counted += 1


def _waiting_events(conn: Connection, message_ids: list[str]) -> list[OutcomeEvent]:
    """The recorded events not rolled up yet of these (just recorded) messages: an event
    may arrive before its message, and is counted when the message arrives."""
    if not message_ids:
        return []
    rows = conn.execute(
        select(message_events).where(
            and_(
                message_events.c.message_id.in_(message_ids),
                message_events.c.applied.is_(False),
            )
        )
    ).mappings()
    return [
        OutcomeEvent(
            r["event_id"],
            r["message_id"],
            r["kind"],
            r["occurred_at_ms"],
            r["button_type"],
            r["button_content"],
        )
        for r in rows
    ]


def _sent_records(conn: Connection, message_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The recorded messages these events are about, by id: an event is counted by its
    message's template, space, send time and counted flag, which only the record holds."""
    if not message_ids:
        return {}
    return {
        r["message_id"]: dict(r)
        for r in conn.execute(
            select(sent_messages).where(sent_messages.c.message_id.in_(message_ids))
        ).mappings()
    }


def _roll_up_events(
    rollup: _Rollup,
    records: dict[str, dict[str, Any]],
    events: list[OutcomeEvent],
    result: IngestResult,
) -> set[str]:
    """Add the events whose message is known and return their ids (they are applied,
    counted or not); an event whose message is unknown stays pending, to be rolled up
    when the message arrives, never twice."""
    applied: set[str] = set()
    for event in events:
        record = records.get(event.message_id)
        if record is None:
            result.pending += 1
            continue
        if rollup.event(record, event):
            result.counted += 1
        else:
            result.not_counted += 1
        applied.add(event.event_id)
    return applied


def _insert_events(conn: Connection, events: list[OutcomeEvent], applied: set[str]) -> None:
    """Record the new events, each marked applied or not, so a pending one is found (and
    an applied one is not rolled up again) when its message arrives."""
    if not events:
        return
    conn.execute(
        message_events.insert(),
        [
            {
                "event_id": e.event_id,
                "message_id": e.message_id,
                "kind": e.kind,
                "occurred_at_ms": e.occurred_at_ms,
                "button_type": e.button_type,
                "button_content": e.button_content,
                "applied": e.event_id in applied,
            }
            for e in events
        ],
    )


def _mark_applied(conn: Connection, event_ids: list[str]) -> None:
    """Mark waiting events rolled up now as applied, so they never count twice."""
    if not event_ids:
        return
    conn.execute(
        update(message_events).where(message_events.c.event_id.in_(event_ids)).values(applied=True)
    )


def ingest(
    db: Database,
    messages: Iterable[SentMessage],
    events: Iterable[OutcomeEvent],
    owners: dict[str, MessageOwner],
) -> IngestResult:
    """Record messages and events (each once) and roll up what counts; all or nothing.

    `owners` maps each message's space id to its owner (from the directory).
    """
    result = IngestResult()
    rollup = _Rollup()
    message_list = list(messages)
    event_list = list(events)
    with db.transaction() as conn:
        enabled = _enabled_at(conn, {m.space_id: owners[m.space_id] for m in message_list})
        new_messages, duplicate_messages = _not_yet_recorded(
            conn, sent_messages.c.message_id, message_list, lambda m: m.message_id
        )
        new_records = [
            _sent_record(m, owners[m.space_id], enabled[m.space_id]) for m in new_messages
        ]
        if new_records:
            conn.execute(sent_messages.insert(), new_records)
        _roll_up_sends(rollup, new_records, result)
        new_events, duplicate_events = _not_yet_recorded(
            conn, message_events.c.event_id, event_list, lambda e: e.event_id
        )
        # Roll up every unapplied event whose message is known: the new ones, and the
        # earlier ones that were waiting for a message recorded just now.
        waiting = _waiting_events(conn, [r["message_id"] for r in new_records])
        candidates = new_events + waiting
        applied = _roll_up_events(
            rollup, _sent_records(conn, {e.message_id for e in candidates}), candidates, result
        )
        _insert_events(conn, new_events, applied)
        _mark_applied(conn, [e.event_id for e in waiting if e.event_id in applied])
        rollup.write(conn, db.insert)
    result.messages = len(new_records)
    result.events = len(new_events)
    result.duplicates = duplicate_messages + duplicate_events
    return result


def read_template_buckets(
    db: Database,
    account_id: str,
    spaces: Sequence[str],
    template_code: str,
    language: str | None,
    start_ms: int,
    end_ms: int,
    period_ms: int,
) -> tuple[list[Any], list[Any]]:
    """(template rows, click rows) summed per period of `period_ms` from `start_ms` (the
    database groups the half-hour buckets, so a 90-day DAILY read returns 90 rows per
    language, not 4,320), over [start, end). `bucket_ms` of a row is its period's start."""
    daily = period_ms % DAY_MS == 0 and start_ms % DAY_MS == 0
    t = (template_days if daily else template_buckets).c
    c = (click_days if daily else click_buckets).c
    t_period = (start_ms + (t.bucket_ms - start_ms) // period_ms * period_ms).label("bucket_ms")
    c_period = (start_ms + (c.bucket_ms - start_ms) // period_ms * period_ms).label("bucket_ms")
    where_t = [
        t.account_id == account_id,
        t.space_id.in_(spaces),
        t.template_code == template_code,
        t.bucket_ms >= start_ms,
        t.bucket_ms < end_ms,
    ]
    where_c = [
        c.account_id == account_id,
        c.space_id.in_(spaces),
        c.template_code == template_code,
        c.bucket_ms >= start_ms,
        c.bucket_ms < end_ms,
    ]
    if language is not None:
        where_t.append(t.language == language)
        where_c.append(c.language == language)
    with db.transaction() as conn:
        rows = conn.execute(
            select(
                t.language,
                t_period,
                func.sum(t.sent).label("sent"),
                func.sum(t.delivered).label("delivered"),
                func.sum(t.read).label("read"),
                func.sum(t.cost_micros).label("cost_micros"),
            )
            .where(*where_t)
            .group_by(t.language, t_period)
        ).all()
        clicks = conn.execute(
            select(
                c.language,
                c_period,
                c.button_type,
                c.button_content,
                func.sum(c.clicks).label("clicks"),
            )
            .where(*where_c)
            .group_by(c.language, c_period, c.button_type, c.button_content)
        ).all()
    return list(rows), list(clicks)


def read_phone_buckets(
    db: Database,
    account_id: str,
    spaces: Sequence[str],
    phone_number: str | None,
    start_ms: int,
    end_ms: int,
    period_ms: int,
) -> list[Any]:
    """Phone rows summed per period of `period_ms` from `start_ms` (see above)."""
    daily = period_ms % DAY_MS == 0 and start_ms % DAY_MS == 0
    p = (phone_days if daily else phone_buckets).c
    p_period = (start_ms + (p.bucket_ms - start_ms) // period_ms * period_ms).label("bucket_ms")
    where = [
        p.account_id == account_id,
        p.space_id.in_(spaces),
        p.bucket_ms >= start_ms,
        p.bucket_ms < end_ms,
    ]
    if phone_number is not None:
        where.append(p.phone_number == phone_number)
    with db.transaction() as conn:
        return list(
            conn.execute(
                select(
                    p.phone_number,
                    p_period,
                    func.sum(p.sent).label("sent"),
                    func.sum(p.delivered).label("delivered"),
                )
                .where(*where)
                .group_by(p.phone_number, p_period)
            ).all()
        )


def templates_used(
    db: Database, account_id: str, spaces: Sequence[str], start_ms: int, end_ms: int
) -> list[str]:
    """The template codes with counted traffic in `spaces` over [start, end), sorted."""
    t = template_buckets.c
    with db.transaction() as conn:
        codes = conn.execute(
            select(t.template_code)
            .where(
                t.account_id == account_id,
                t.space_id.in_(spaces),
                t.bucket_ms >= start_ms - start_ms % BUCKET_MS,
                t.bucket_ms < end_ms,
            )
            .distinct()
        ).scalars()
        return sorted(str(code) for code in codes)
