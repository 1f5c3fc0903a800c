"""counting that fits real assemblies: who votes, how many are entitled, abstentions, consensus

A protocol now says who votes (the council of mandated representatives, or an assembly of
members or households with the number entitled to vote and where it comes from) and whether
abstentions count as votes cast. A decision records who voted, how many were entitled, how
many were present, and whether it was reached by consensus.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VOTERS = "voters IN ('representatives', 'assembly')"


def upgrade() -> None:
    # The server defaults only fill the rows already there; they are dropped below because new
    # rows always get their values from the application (and the model's default for
    # abstentions_count is the opposite one). Booleans are given as '1' and '0', which both
    # SQLite and PostgreSQL read as a constant: an expression would make SQLite copy the table.
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "voters", sa.String(length=20), nullable=False, server_default="representatives"
            )
        )
        batch_op.add_column(sa.Column("eligible_voters", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("eligible_voters_source", sa.Text(), nullable=True))
        # Until now abstentions counted as votes cast under every rule. A process already under
        # way keeps being counted the way its community agreed to, not silently differently:
        # only protocols agreed from now on default to not counting them.
        batch_op.add_column(
            sa.Column("abstentions_count", sa.Boolean(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.alter_column("voters", existing_type=sa.String(length=20), server_default=None)
        batch_op.alter_column("abstentions_count", existing_type=sa.Boolean(), server_default=None)
        batch_op.create_check_constraint(op.f("ck_protocols_voters"), VOTERS)
        batch_op.create_check_constraint(
            op.f("ck_protocols_eligible_voters"), "eligible_voters >= 1"
        )
        batch_op.create_check_constraint(
            op.f("ck_protocols_assembly_counted"),
            "voters = 'representatives' OR "
            "(eligible_voters IS NOT NULL AND eligible_voters_source IS NOT NULL)",
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "voters", sa.String(length=20), nullable=False, server_default="representatives"
            )
        )
        batch_op.add_column(sa.Column("eligible", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("present_count", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("consensus", sa.Boolean(), nullable=False, server_default="0")
        )
    _count_existing_decisions()
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.alter_column("eligible", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("present_count", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("voters", existing_type=sa.String(length=20), server_default=None)
        batch_op.alter_column("consensus", existing_type=sa.Boolean(), server_default=None)
        batch_op.create_check_constraint(op.f("ck_decisions_voters"), VOTERS)
        batch_op.create_check_constraint(
            op.f("ck_decisions_present_count"), "present_count BETWEEN 0 AND eligible"
        )


def _count_existing_decisions() -> None:
    """Every decision so far was taken by the council of representatives. Those present are
    the representatives listed (counted in Python: the list is JSON, and JSON functions differ
    between SQLite and PostgreSQL). How many representatives held a mandate that day cannot be
    recovered reliably (mandates are revoked and renewed after the fact), so the number entitled
    is set to the number present. The quorum was checked against that day's mandates when the
    decision was taken, and that check is on the decision trail. Under the consensus rule the
    decision was recorded as reached by consensus."""
    decisions = sa.table(
        "decisions",
        sa.column("id", sa.Integer()),
        sa.column("present_representative_ids", sa.JSON()),
        sa.column("decision_rule", sa.String()),
        sa.column("eligible", sa.Integer()),
        sa.column("present_count", sa.Integer()),
        sa.column("consensus", sa.Boolean()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(decisions.c.id, decisions.c.present_representative_ids, decisions.c.decision_rule)
    ).all()
    values = [
        {
            "row_id": row_id,
            "count": len(present or []),
            "by_consensus": rule == "consensus",
        }
        for row_id, present, rule in rows
    ]
    if not values:
        return
    connection.execute(
        decisions.update()
        .where(decisions.c.id == sa.bindparam("row_id"))
        .values(
            eligible=sa.bindparam("count"),
            present_count=sa.bindparam("count"),
            consensus=sa.bindparam("by_consensus"),
        ),
        values,
    )


def downgrade() -> None:
    # the constraints go in a table copy of their own: SQLite's batch mode keeps a column it was
    # asked to drop when a constraint on it is dropped in the same copy
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_decisions_present_count"), type_="check")
        batch_op.drop_constraint(op.f("ck_decisions_voters"), type_="check")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("consensus")
        batch_op.drop_column("present_count")
        batch_op.drop_column("eligible")
        batch_op.drop_column("voters")

    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_protocols_assembly_counted"), type_="check")
        batch_op.drop_constraint(op.f("ck_protocols_eligible_voters"), type_="check")
        batch_op.drop_constraint(op.f("ck_protocols_voters"), type_="check")
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.drop_column("abstentions_count")
        batch_op.drop_column("eligible_voters_source")
        batch_op.drop_column("eligible_voters")
        batch_op.drop_column("voters")
