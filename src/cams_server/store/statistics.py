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
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select, update

from cams_server.model.outcomes import DAY_MS, READ_WINDOW_MS, OutcomeEvent, SentMessage, bucket_of
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

__all__ = ["IngestResult", "MessageOwner", "ingest", "read_phone_buckets", "read_template_buckets"]


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
        new_messages: list[dict[str, Any]] = []
        if message_list:
            ids = [m.message_id for m in message_list]
            known = set(
                conn.execute(
                    select(sent_messages.c.message_id).where(sent_messages.c.message_id.in_(ids))
                ).scalars()
            )
            for m in message_list:
                if m.message_id in known:
                    result.duplicates += 1
                    continue
                known.add(m.message_id)
                since = enabled[m.space_id]
                row = {
                    "message_id": m.message_id,
                    "account_id": owners[m.space_id].account_id,
                    "space_id": m.space_id,
                    "phone_number": m.phone_number,
                    "template_code": m.template_code,
                    "language": m.language,
                    "cost_micros": m.cost_micros,
                    "currency": m.currency,
                    "sent_at_ms": m.sent_at_ms,
                    "counted": since is not None and m.sent_at_ms >= since,
                }
                new_messages.append(row)
            if new_messages:
                conn.execute(sent_messages.insert(), new_messages)
            result.messages = len(new_messages)
            for row in new_messages:
                if row["counted"]:
                    rollup.sent(row)
                    result.counted += 1
                else:
                    result.not_counted += 1
        # Events: new ones only; then roll up every unapplied event whose message is known
        # (including earlier events that were waiting for a message recorded just now).
        new_events: list[OutcomeEvent] = []
        if event_list:
            ids = [e.event_id for e in event_list]
            seen = set(
                conn.execute(
                    select(message_events.c.event_id).where(message_events.c.event_id.in_(ids))
                ).scalars()
            )
            for e in event_list:
                if e.event_id in seen:
                    result.duplicates += 1
                    continue
                seen.add(e.event_id)
                new_events.append(e)
            result.events = len(new_events)
        waiting: list[OutcomeEvent] = []
        if new_messages:
            rows = conn.execute(
                select(message_events).where(
                    and_(
                        message_events.c.message_id.in_([m["message_id"] for m in new_messages]),
                        message_events.c.applied.is_(False),
                    )
                )
            ).mappings()
            waiting = [
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
        candidates = new_events + waiting
        message_ids = {e.message_id for e in candidates}
        records = (
            {
                r["message_id"]: dict(r)
                for r in conn.execute(
                    select(sent_messages).where(sent_messages.c.message_id.in_(message_ids))
                ).mappings()
            }
            if message_ids
            else {}
        )
        applied_ids: list[str] = []
        pending_new: list[OutcomeEvent] = []
        for e in candidates:
            record = records.get(e.message_id)
            if record is None:
                pending_new.append(e)
                continue
            if rollup.event(record, e):
                result.counted += 1
            else:
                result.not_counted += 1
            applied_ids.append(e.event_id)
        result.pending = len(pending_new)
        if new_events:
            applied = set(applied_ids)
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
                    for e in new_events
                ],
            )
        waiting_applied = [e.event_id for e in waiting if e.event_id in set(applied_ids)]
        if waiting_applied:
            conn.execute(
                update(message_events)
                .where(message_events.c.event_id.in_(waiting_applied))
                .values(applied=True)
            )
        rollup.write(conn, db.insert)
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
