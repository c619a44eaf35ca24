"""The initial schema: world tables, metadata and ROI enablements.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cams_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("cams", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_access_keys_account_id", "access_keys", ["account_id"])
    op.create_table(
        "policies",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )
    for table in ("ram_groups", "ram_users"):
        op.create_table(
            table,
            sa.Column("account_id", sa.String(32), nullable=False),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("account_id", "name"),
        )
    op.create_table(
        "ram_roles",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("trust", sa.Text, nullable=False),
        sa.Column("max_session_duration", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name"),
    )
    op.create_table(
        "attachments",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_name", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(8), nullable=False),
        sa.Column("target_name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "holder_kind", "holder_name", "target_kind", "target_name"
        ),
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("waba_id", sa.String(64), nullable=True),
        sa.Column("isv_customer", sa.String(256), nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_spaces_account_id", "spaces", ["account_id"])
    op.create_table(
        "isv_codes",
        sa.Column("code", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("spaces", sa.Text, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_isv_codes_account_id", "isv_codes", ["account_id"])
    op.create_table(
        "roi_enablements",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("space_id", sa.String(128), nullable=False),
        sa.Column("enabled_at_us", sa.BigInteger, nullable=False),
        sa.Column("enabled_by", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "space_id"),
    )


def downgrade() -> None:
    for table in (
        "roi_enablements",
        "isv_codes",
        "spaces",
        "attachments",
        "ram_roles",
        "ram_users",
        "ram_groups",
        "policies",
        "access_keys",
        "accounts",
        "cams_meta",
    ):
        op.drop_table(table)
