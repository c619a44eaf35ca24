"""Shared nonce and flow-control tables for several processes on one SQLite file.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guard_nonces",
        sa.Column("digest", sa.LargeBinary(16), primary_key=True),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_guard_nonces_expires_us", "guard_nonces", ["expires_us"])
    op.create_table(
        "guard_flow",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("admitted_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_guard_flow_key", "guard_flow", ["key", "admitted_us"])


def downgrade() -> None:
    op.drop_table("guard_flow")
    op.drop_table("guard_nonces")
