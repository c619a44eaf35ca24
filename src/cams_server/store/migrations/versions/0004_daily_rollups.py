"""Daily roll-ups beside the half-hourly ones, so a 90-day DAILY read sums 90 rows.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A day is 86400000 ms; the backfill sums existing half-hour buckets by UTC day.


def _columns(*extra: sa.Column) -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        *extra,
    ]


def upgrade() -> None:
    op.create_table(
        "template_days",
        *_columns(
            sa.Column("template_code", sa.String(128), nullable=False),
            sa.Column("language", sa.String(32), nullable=False),
            sa.Column("bucket_ms", sa.BigInteger, nullable=False),
            sa.Column("sent", sa.BigInteger, nullable=False),
            sa.Column("delivered", sa.BigInteger, nullable=False),
            sa.Column("read", sa.BigInteger, nullable=False),
            sa.Column("cost_micros", sa.BigInteger, nullable=False),
        ),
        sa.PrimaryKeyConstraint("account_id", "space_id", "template_code", "language", "bucket_ms"),
    )
    op.create_table(
        "phone_days",
        *_columns(
            sa.Column("phone_number", sa.String(64), nullable=False),
            sa.Column("bucket_ms", sa.BigInteger, nullable=False),
            sa.Column("sent", sa.BigInteger, nullable=False),
            sa.Column("delivered", sa.BigInteger, nullable=False),
        ),
        sa.PrimaryKeyConstraint("account_id", "space_id", "phone_number", "bucket_ms"),
    )
    op.create_table(
        "click_days",
        *_columns(
            sa.Column("template_code", sa.String(128), nullable=False),
            sa.Column("language", sa.String(32), nullable=False),
            sa.Column("bucket_ms", sa.BigInteger, nullable=False),
            sa.Column("button_type", sa.String(32), nullable=False),
            sa.Column("button_content", sa.String(256), nullable=False),
            sa.Column("clicks", sa.BigInteger, nullable=False),
        ),
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
    op.execute(
        "INSERT INTO template_days SELECT account_id, space_id, template_code, language,"
        " bucket_ms - (bucket_ms % 86400000), SUM(sent), SUM(delivered), SUM(read),"
        " SUM(cost_micros) FROM template_buckets GROUP BY account_id, space_id,"
        " template_code, language, bucket_ms - (bucket_ms % 86400000)"
    )
    op.execute(
        "INSERT INTO phone_days SELECT account_id, space_id, phone_number,"
        " bucket_ms - (bucket_ms % 86400000), SUM(sent), SUM(delivered) FROM phone_buckets"
        " GROUP BY account_id, space_id, phone_number, bucket_ms - (bucket_ms % 86400000)"
    )
    op.execute(
        "INSERT INTO click_days SELECT account_id, space_id, template_code, language,"
        " bucket_ms - (bucket_ms % 86400000), button_type, button_content, SUM(clicks)"
        " FROM click_buckets GROUP BY account_id, space_id, template_code, language,"
        " bucket_ms - (bucket_ms % 86400000), button_type, button_content"
    )


def downgrade() -> None:
    for table in ("click_days", "phone_days", "template_days"):
        op.drop_table(table)
