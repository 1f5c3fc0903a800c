"""evidence files

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

New tables only; no existing row changes. They are append-only, like the trail: the database
refuses to change or delete a file's bytes or its listing (docs/audit-format.md, section 12).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: who may see a file is decided from its index row (evidence_files): it is as append-only as
#: the bytes, and `fpic audit verify` compares every row with the trail
_APPEND_ONLY = ("evidence_blobs", "evidence_chunks", "evidence_files")
_SQLITE = [
    f"""CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table}
       BEGIN SELECT RAISE(ABORT, 'evidence files are append-only'); END"""
    for table in _APPEND_ONLY
    for verb in ("update", "delete")
]
_POSTGRES = [
    """CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'evidence files are append-only'; END $$""",
    *(
        statement
        for table in _APPEND_ONLY
        for statement in (
            f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION evidence_append_only()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()""",
        )
    ),
]


def upgrade() -> None:
    op.create_table(
        "evidence_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_evidence_blobs_sha256_length")),
        sa.CheckConstraint("size > 0 AND chunks > 0", name=op.f("ck_evidence_blobs_not_empty")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_evidence_blobs")),
    )
    op.create_table(
        "evidence_chunks",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["evidence_blobs.sha256"],
            name=op.f("fk_evidence_chunks_sha256_evidence_blobs"),
        ),
        sa.PrimaryKeyConstraint("sha256", "n", name=op.f("pk_evidence_chunks")),
    )
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("visible_to", sa.JSON(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_evidence_files_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["evidence_blobs.sha256"],
            name=op.f("fk_evidence_files_sha256_evidence_blobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
        sa.UniqueConstraint("chain", "seq", "position", name="evidence_files_listing"),
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_files_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_files_sha256"), ["sha256"], unique=False)
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION evidence_append_only() CASCADE")
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_files_sha256"))
        batch_op.drop_index(batch_op.f("ix_evidence_files_case_id"))
    op.drop_table("evidence_files")
    op.drop_table("evidence_chunks")
    op.drop_table("evidence_blobs")
