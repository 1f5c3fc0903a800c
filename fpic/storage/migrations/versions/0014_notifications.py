"""notifications: each person's e-mail, time zone and choice, and the outbox

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09

Issue 20 (part 8): e-mail to the person whose turn it is and before each deadline. Each account
gets an e-mail address and a time zone (both optional) and whether it wants notifications
(true for the accounts already there, as for new ones); the messages to send wait in the
outbox, written in the transaction of the action that calls for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: the partial index of users (0005) that a table copy on SQLite must be given back
_ACTIVE_REP = "uq_users_active_representative"


def upgrade() -> None:
    # '1' is a constant both SQLite and PostgreSQL read as true; it stays the column's server
    # default (removing it would make SQLite copy the users table)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("notify", sa.Boolean(), nullable=False, server_default="1"))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint("kind IN ('turn', 'deadline')", name=op.f("ck_outbox_kind")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_outbox_user_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_outbox_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("sent_at IS NULL AND claimed_at IS NULL"),
            postgresql_where=sa.text("sent_at IS NULL AND claimed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_due",
            sqlite_where=sa.text("sent_at IS NULL AND claimed_at IS NULL"),
            postgresql_where=sa.text("sent_at IS NULL AND claimed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_outbox_case_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_user_id"))
    op.drop_table("outbox")
    # dropping columns copies the table on SQLite: the partial index is dropped first and made
    # again after, so that the copy cannot lose its condition
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(
            _ACTIVE_REP, sqlite_where=sa.text("active"), postgresql_where=sa.text("active")
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("notify")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("email")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            _ACTIVE_REP,
            ["representative_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
