"""indexes that keep the case list and the trail's person filter flat as the data grows

The case list is ordered by the last change: without an index every page sorted every case
(60 ms at 100,000 cases on SQLite, growing with them). The trail filtered by person is ordered
by id and, for most readers, leaves out the system chain: (actor, id, chain) serves both and
lets the total be counted from the index alone. docs/performance.md (B5) has the figures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_updated_at", ["updated_at", "id"], unique=False)

    with op.batch_alter_table("trail_events", schema=None) as batch_op:
        batch_op.create_index("ix_trail_events_actor_id", ["actor", "id", "chain"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trail_events", schema=None) as batch_op:
        batch_op.drop_index("ix_trail_events_actor_id")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_updated_at")
