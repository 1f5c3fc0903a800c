"""refused attempts counted per address, account and window, so floods are recorded as counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12

A new working table only; no existing row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusal_windows",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.String(length=32), nullable=False),
        sa.Column("window_end", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_refusal_windows")),
    )
    op.create_index(
        "ix_refusal_windows_open", "refusal_windows", ["recorded", "window_end"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_refusal_windows_open", table_name="refusal_windows")
    op.drop_table("refusal_windows")
