"""time limits and consent terms

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Issue 18: the day of each action a template's time limit counts from (cases.milestones), the
numbers a community agreed for its protocol's time limits (protocols.time_limits), and a
consent's term and the events that call for it again (decisions.term_ends_on, reconsent_on).
Existing rows get an empty record: nothing was counted from them, and no consent had a term.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("milestones", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_limits", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("term_ends_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("reconsent_on", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("reconsent_on")
        batch_op.drop_column("term_ends_on")
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.drop_column("time_limits")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("milestones")
