"""The tables, declared once with SQLAlchemy Core; migrations create them.

World tables are replaced per account by `world apply`; `roi_enablements` is state
the API writes and nothing but the API changes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "STATE_TABLES",
    "WORLD_TABLES",
    "click_buckets",
    "click_days",
    "guard_flow",
    "guard_nonces",
    "message_events",
    "meta",
    "metadata",
    "phone_buckets",
    "phone_days",
    "roi_enablements",
    "sent_messages",
    "template_buckets",
    "template_days",
    "upstream_outbox",
    "world_accounts",
    "world_ids",
]

metadata = MetaData()

meta = Table(
    "cams_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The world (migration 0005): each account is one JSON document, its `AccountSpec` with
# the AccessKey secrets sealed (store/world_documents.py), replaced whole by `world apply`.
world_accounts = Table(
    "world_accounts",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("position", Integer, nullable=False),  # declaration order across files
    Column("document", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
)

# The ids unique across the deployment (an AccessKey, a space, an ISV code) and the
# account holding each: the primary key refuses a second owner, and `world apply`
# finds the owner without reading documents.
world_ids = Table(
    "world_ids",
    metadata,
    Column("kind", String(16), nullable=False),  # "access_key", "space", "isv_code"
    Column("id", String(128), nullable=False),
    Column("account_id", String(32), nullable=False, index=True),
    PrimaryKeyConstraint("kind", "id"),
)

roi_enablements = Table(
    "roi_enablements",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),  # "" = the account's own spaces
    Column("enabled_at_us", BigInteger, nullable=False),  # epoch microseconds, UTC
    Column("enabled_by", String(512), nullable=False),
    PrimaryKeyConstraint("account_id", "space_id"),
)

# Nonces and flow-control admissions shared by the processes of one SQLite host
# (`serve --workers N` without Redis); see gateway/sqlite_guard.py.
guard_nonces = Table(
    "guard_nonces",
    metadata,
    Column("digest", LargeBinary(16), primary_key=True),
    Column("expires_us", BigInteger, nullable=False, index=True),
)

guard_flow = Table(
    "guard_flow",
    metadata,
    Column("key", String(200), nullable=False),
    Column("admitted_us", BigInteger, nullable=False),
    Index("ix_guard_flow_key", "key", "admitted_us"),
)

# ROI statistics (migration 0003): what was sent, what happened to it, and the
# half-hour roll-ups the metric reads sum.
sent_messages = Table(
    "sent_messages",
    metadata,
    Column("message_id", String(256), primary_key=True),
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),
    Column("phone_number", String(64), nullable=False),
    Column("template_code", String(128), nullable=False),
    Column("language", String(32), nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("sent_at_ms", BigInteger, nullable=False),
    Column("counted", Boolean, nullable=False),  # sent after its space's enablement
)

message_events = Table(
    "message_events",
    metadata,
    Column("event_id", String(300), primary_key=True),
    Column("message_id", String(256), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # sent, delivered, read, failed, click
    Column("occurred_at_ms", BigInteger, nullable=False),
    Column("button_type", String(32), nullable=True),
    Column("button_content", String(256), nullable=True),
    Column("applied", Boolean, nullable=False),  # rolled up (or judged not countable)
)

template_buckets = Table(
    "template_buckets",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),
    Column("template_code", String(128), nullable=False),
    Column("language", String(32), nullable=False),
    Column("bucket_ms", BigInteger, nullable=False),
    Column("sent", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("read", BigInteger, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "space_id", "template_code", "language", "bucket_ms"),
)

phone_buckets = Table(
    "phone_buckets",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),
    Column("phone_number", String(64), nullable=False),
    Column("bucket_ms", BigInteger, nullable=False),
    Column("sent", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "space_id", "phone_number", "bucket_ms"),
)

click_buckets = Table(
    "click_buckets",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),
    Column("template_code", String(128), nullable=False),
    Column("language", String(32), nullable=False),
    Column("bucket_ms", BigInteger, nullable=False),
    Column("button_type", String(32), nullable=False),
    Column("button_content", String(256), nullable=False),
    Column("clicks", BigInteger, nullable=False),
    PrimaryKeyConstraint(
        "account_id",
        "space_id",
        "template_code",
        "language",
        "bucket_ms",
        "button_type",
        "button_content",
    ),
)

upstream_outbox = Table(
    "upstream_outbox",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column("space_id", String(128), nullable=False),
    Column("waba_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending, delivering, confirmed, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("lease_until_ms", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "space_id"),
)


def _daily(table: Table, name: str) -> Table:
    """The same roll-up by UTC day (`bucket_ms` is the day's start), for DAILY reads."""
    return table.to_metadata(metadata, name=name)


template_days = _daily(template_buckets, "template_days")
phone_days = _daily(phone_buckets, "phone_days")
click_days = _daily(click_buckets, "click_days")

# What `world apply` replaces per account.
WORLD_TABLES: tuple[Table, ...] = (world_accounts, world_ids)
# What happened: enablements, statistics, the outbox, and the shared guard's entries.
STATE_TABLES: tuple[Table, ...] = (
    roi_enablements,
    sent_messages,
    message_events,
    template_buckets,
    template_days,
    phone_buckets,
    phone_days,
    click_buckets,
    click_days,
    upstream_outbox,
    guard_nonces,
    guard_flow,
)
