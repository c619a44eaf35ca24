"""ROI statistics: sent messages, their outcome events, half-hour roll-ups, upstream outbox.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_messages",
        sa.Column("message_id", sa.String(256), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("phone_number", sa.String(64), nullable=False),
        sa.Column("template_code", sa.String(128), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("sent_at_ms", sa.BigInteger, nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "message_events",
        sa.Column("event_id", sa.String(300), primary_key=True),
        sa.Column("message_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at_ms", sa.BigInteger, nullable=False),
        sa.Column("button_type", sa.String(32), nullable=True),
        sa.Column("button_content", sa.String(256), nullable=True),
        sa.Column("applied", sa.Boolean, nullable=False),
    )
    op.create_index("ix_message_events_message_id", "message_events", ["message_id"])
    op.create_table(
        "template_buckets",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("template_code", sa.String(128), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger, nullable=False),
        sa.Column("sent", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("read", sa.BigInteger, nullable=False),
        sa.Column("cost_micros", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "space_id", "template_code", "language", "bucket_ms"),
    )
    op.create_table(
        "phone_buckets",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("phone_number", sa.String(64), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger, nullable=False),
        sa.Column("sent", sa.BigInteger, nullable=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "space_id", "phone_number", "bucket_ms"),
    )
    op.create_table(
        "click_buckets",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("template_code", sa.String(128), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger, nullable=False),
        sa.Column("button_type", sa.String(32), nullable=False),
        sa.Column("button_content", sa.String(256), nullable=False),
        sa.Column("clicks", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id",
            "space_id",
            "template_code",
            "language",
            "bucket_ms",
            "button_type",
            "button_content",
        ),
    )
    op.create_table(
        "upstream_outbox",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "space_id"),
    )


def downgrade() -> None:
    for table in (
        "upstream_outbox",
        "click_buckets",
        "phone_buckets",
        "template_buckets",
        "message_events",
        "sent_messages",
    ):
        op.drop_table(table)
