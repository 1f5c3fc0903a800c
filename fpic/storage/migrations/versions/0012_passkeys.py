"""passkeys: decisions signed by the community's representatives

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

Issue 19: a representative's passkeys or security keys (WebAuthn public keys, passkey_credentials)
and whether a community's protocol asks its representatives to sign its decisions with them
(protocols.signed_decisions). Protocols already agreed did not ask it: they get false.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passkey_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("rp_id", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_passkey_credentials_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"],
            ["users.id"],
            name=op.f("fk_passkey_credentials_confirmed_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey_credentials")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkey_credentials_credential_id")),
    )
    with op.batch_alter_table("passkey_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_passkey_credentials_user_id"), ["user_id"], unique=False
        )
    # The server default only fills the protocols already there, which did not ask for
    # signatures; new rows get their value from the application. '0' is a constant both SQLite
    # and PostgreSQL read as false (an expression would make SQLite copy the table).
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed_decisions", sa.Boolean(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.alter_column("signed_decisions", existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("protocols", schema=None) as batch_op:
        batch_op.drop_column("signed_decisions")
    with op.batch_alter_table("passkey_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passkey_credentials_user_id"))
    op.drop_table("passkey_credentials")
