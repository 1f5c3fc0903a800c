"""the trail's Merkle log and its checkpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Issue 19: one Merkle tree over every event of every chain (merkle_nodes, its head merkle_log)
and the signed checkpoints issued over it (checkpoints). Events already in the trail become the
log's first leaves in the order they were written (their row ids). Subtrees and checkpoints,
like events, can never be changed or deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fpic.trail.log import LOG_ID, Frontier

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY = ("merkle_nodes", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("level", "idx"),
        sa.UniqueConstraint("chain", "seq", name="merkle_leaf_event"),
    )
    op.create_table(
        "merkle_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    _backfill()
    _protect()


def _backfill() -> None:
    connection = op.get_bind()
    events = connection.execute(
        sa.text("SELECT chain, seq, hash FROM trail_events ORDER BY id")
    ).yield_per(5000)
    nodes = sa.table(
        "merkle_nodes",
        sa.column("level"), sa.column("idx"), sa.column("hash"),
        sa.column("chain"), sa.column("seq"),
    )  # fmt: skip
    frontier = Frontier(0, [])
    rows: list[dict[str, object]] = []
    for chain, seq, digest in events:
        for level, index, node in frontier.append(bytes.fromhex(digest)):
            leaf = level == 0
            rows.append(
                {"level": level, "idx": index, "hash": node.hex(),
                 "chain": chain if leaf else None, "seq": seq if leaf else None}
            )  # fmt: skip
        if len(rows) >= 5000:
            connection.execute(sa.insert(nodes), rows)
            rows = []
    if rows:
        connection.execute(sa.insert(nodes), rows)
    connection.execute(
        sa.text("INSERT INTO merkle_log (id, size, frontier) VALUES (:id, :size, :frontier)"),
        {"id": LOG_ID, "size": frontier.size, "frontier": frontier.text},
    )


def _protect() -> None:
    postgres = op.get_bind().dialect.name != "sqlite"
    if postgres:
        op.execute(
            """CREATE FUNCTION log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'the Merkle log is append-only'; END $$"""
        )
    for table in APPEND_ONLY:
        if postgres:
            op.execute(
                f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION log_append_only()"""
            )
            op.execute(
                f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only()"""
            )
            continue
        for change in ("update", "delete"):
            op.execute(
                f"""CREATE TRIGGER {table}_no_{change} BEFORE {change.upper()} ON {table}
                    BEGIN SELECT RAISE(ABORT, 'the Merkle log is append-only'); END"""
            )


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("merkle_log")
    op.drop_table("merkle_nodes")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS log_append_only()")
