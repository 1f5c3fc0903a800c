"""the trail's Merkle log and its checkpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Issue 19: one Merkle tree over every event of every chain (merkle_nodes, its head merkle_log),
the signed checkpoints issued over it (checkpoints) and the witnesses' cosignatures of them
(cosignatures). Events already in the trail become the log's first leaves in the order they
were written (their row ids). Subtrees, checkpoints and cosignatures, like events, can never
be changed or deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fpic.trail.log import LOG_ID, Frontier, node_rows

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY = ("merkle_nodes", "checkpoints", "cosignatures")


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
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=300), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["size"], ["checkpoints.size"]),
        sa.PrimaryKeyConstraint("size", "witness"),
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
        rows += node_rows(frontier, [(chain, seq, digest)])
        if len(rows) >= 5000:
            connection.execute(sa.insert(nodes), rows)
            rows = []
    if rows:
        connection.execute(sa.insert(nodes), rows)
    connection.execute(
        sa.text("INSERT INTO merkle_log (id, size, frontier) VALUES (:id, :size, :frontier)"),
        {"id": LOG_ID, "size": frontier.size, "frontier": frontier.text},
    )


#: PostgreSQL: the log's append as one call (fpic.trail.log.seal), so that a writer that does
#: not know the head pays one round trip for it instead of three; the same algorithm as
#: fpic.trail.log.Frontier.append, which the tests hold it to (every root read back is the
#: Python tree's). It answers the head it leaves.
POSTGRES_APPEND = r"""
CREATE FUNCTION merkle_log_append(leaves text[], chains text[], seqs integer[])
RETURNS TABLE (new_size bigint, new_frontier text) LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    front text;
    hashes bytea[] := '{}';
    h bytea;
    lvl integer;
    i bigint;
    k integer;
    levels integer[] := '{}';
    places bigint[] := '{}';
    digests text[] := '{}';
    names text[] := '{}';
    numbers integer[] := '{}';
BEGIN
    SELECT size, frontier INTO n, front FROM merkle_log WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO merkle_log (id, size, frontier) VALUES (1, 0, '');
        n := 0;
        front := '';
    END IF;
    FOR k IN 0 .. length(front) / 64 - 1 LOOP
        hashes := hashes || decode(substr(front, 1 + 64 * k, 64), 'hex');
    END LOOP;
    FOR k IN 1 .. cardinality(leaves) LOOP
        h := sha256('\x00'::bytea || decode(leaves[k], 'hex'));
        lvl := 0;
        i := n;
        levels := levels || 0;
        places := places || i;
        digests := digests || encode(h, 'hex');
        names := names || chains[k];
        numbers := numbers || seqs[k];
        WHILE i % 2 = 1 LOOP
            h := sha256('\x01'::bytea || hashes[cardinality(hashes)] || h);
            hashes := hashes[1:cardinality(hashes) - 1];
            lvl := lvl + 1;
            i := i / 2;
            levels := levels || lvl;
            places := places || i;
            digests := digests || encode(h, 'hex');
            names := names || NULL::text;
            numbers := numbers || NULL::integer;
        END LOOP;
        hashes := hashes || h;
        n := n + 1;
    END LOOP;
    INSERT INTO merkle_nodes (level, idx, hash, chain, seq)
    SELECT * FROM unnest(levels, places, digests, names, numbers);
    front := '';
    FOR k IN 1 .. cardinality(hashes) LOOP
        front := front || encode(hashes[k], 'hex');
    END LOOP;
    UPDATE merkle_log SET size = n, frontier = front WHERE id = 1;
    RETURN QUERY SELECT n, front;
END $$
"""


def _protect() -> None:
    postgres = op.get_bind().dialect.name != "sqlite"
    if postgres:
        op.execute(POSTGRES_APPEND)
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
    op.drop_table("cosignatures")
    op.drop_table("checkpoints")
    op.drop_table("merkle_log")
    op.drop_table("merkle_nodes")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS log_append_only()")
        op.execute("DROP FUNCTION IF EXISTS merkle_log_append(text[], text[], integer[])")
