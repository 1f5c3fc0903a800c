"""the community's register: mandates confirmed by independents, enrolment codes, independent
roles per case, confidential complainants

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Existing data is kept. Mandates recorded before confirmation existed are marked confirmed by
whoever recorded them (read from their record_mandate event on the system chain), with a note
saying so, shown beside the mandate: nobody independent confirmed them, and the page says it.
Where one representative had several active accounts (the shadow-account capture), all but
the oldest are disabled; the users page shows them disabled.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('liaison', 'representative', 'auditor', 'admin')"
NEW_ROLES = (
    "role IN ('liaison', 'representative', 'auditor', 'admin', 'facilitator', 'mediator', "
    "'state_authority')"
)
MIGRATED_NOTE = (
    "Recorded by %s before fpic required a mandate to be confirmed by someone the proponent "
    "does not employ; migration 0005 marked it confirmed by whoever recorded it."
)


def upgrade() -> None:
    op.create_table(
        "enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('enrolment', 'reset')", name=op.f("ck_enrolments_kind")),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["users.id"], name=op.f("fk_enrolments_issued_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_enrolments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_enrolments_code_hash")),
    )
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrolments_user_id"), ["user_id"], unique=False)

    op.create_table(
        "complainant_identities",
        sa.Column("grievance_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["grievance_id"],
            ["grievances.id"],
            name=op.f("fk_complainant_identities_grievance_id_grievances"),
        ),
        sa.PrimaryKeyConstraint("grievance_id", name=op.f("pk_complainant_identities")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facilitator_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("mediator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_mediator_id_users"), "users", ["mediator_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_facilitator_id_users"), "users", ["facilitator_id"], ["id"]
        )

    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("complainant_commitment", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("concerns", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.alter_column("confidential", server_default=None)
        batch_op.alter_column("concerns", server_default=None)

    with op.batch_alter_table("integrity_flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("concerns", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("integrity_flags", schema=None) as batch_op:
        batch_op.alter_column("concerns", server_default=None)

    with op.batch_alter_table("mandates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("recorded_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recorded_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirmation_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("revocation", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("revoked_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_mandates_recorded_by_id_users"), "users", ["recorded_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_mandates_confirmed_by_id_users"), "users", ["confirmed_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_mandates_revoked_by_id_users"), "users", ["revoked_by_id"], ["id"]
        )
    _confirm_existing_mandates()
    _disable_shadow_accounts()

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_users_role"), sa.text(NEW_ROLES))
        batch_op.create_index(
            "uq_users_active_representative",
            ["representative_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )


def _confirm_existing_mandates() -> None:
    """Every existing mandate stays in force, marked as confirmed by its recorder, visibly."""
    conn = op.get_bind()
    events = conn.execute(
        sa.text(
            "SELECT actor, at, data FROM trail_events "
            "WHERE chain = 'system' AND action = 'record_mandate' AND outcome = 'done'"
        )
    ).all()
    users = dict(conn.execute(sa.text("SELECT username, id FROM users")).all())
    recorder: dict[int, tuple[str, str]] = {}
    for actor, at, data in events:
        mandate_id = json.loads(data).get("mandate_id")
        if isinstance(mandate_id, int):
            recorder[mandate_id] = (actor, at)
    for mandate_id, valid_from in conn.execute(sa.text("SELECT id, valid_from FROM mandates")):
        username, at = recorder.get(mandate_id, ("an unknown account", None))
        when = _parse_at(at)
        conn.execute(
            sa.text(
                "UPDATE mandates SET resolved_on = :resolved, recorded_by_id = :uid, "
                "recorded_at = :at, confirmed_by_id = :uid, confirmed_at = :at, "
                "confirmation_note = :note WHERE id = :id"
            ),
            {
                "resolved": valid_from,
                "uid": users.get(username),
                # a mandate with no event still needs a confirmation time to stay in force
                "at": when or datetime.now(UTC).replace(tzinfo=None),
                "note": MIGRATED_NOTE % username,
                "id": mandate_id,
            },
        )


def _parse_at(at: str | None) -> datetime | None:
    if at is None:
        return None
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")


def _disable_shadow_accounts() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, representative_id FROM users WHERE representative_id IS NOT NULL "
            "AND active = :yes ORDER BY representative_id, id"
        ),
        {"yes": True},
    ).all()
    seen: set[int] = set()
    for user_id, representative_id in rows:
        if representative_id in seen:
            conn.execute(
                sa.text("UPDATE users SET active = :no WHERE id = :id"),
                {"no": False, "id": user_id},
            )
        seen.add(representative_id)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_users_active_representative",
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
    # the old schema knows no independent roles: their accounts are kept as auditors, who
    # read everything and change nothing (the least the old roles allow)
    op.get_bind().execute(
        sa.text(
            "UPDATE users SET role = 'auditor' "
            "WHERE role IN ('facilitator', 'mediator', 'state_authority')"
        )
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_users_role"), sa.text(OLD_ROLES))

    with op.batch_alter_table("mandates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_mandates_revoked_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_mandates_confirmed_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_mandates_recorded_by_id_users"), type_="foreignkey")
        batch_op.drop_column("revoked_by_id")
        batch_op.drop_column("revocation")
        batch_op.drop_column("confirmation_note")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("confirmed_by_id")
        batch_op.drop_column("recorded_at")
        batch_op.drop_column("recorded_by_id")
        batch_op.drop_column("resolved_on")

    with op.batch_alter_table("integrity_flags", schema=None) as batch_op:
        batch_op.drop_column("concerns")

    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.drop_column("concerns")
        batch_op.drop_column("complainant_commitment")
        batch_op.drop_column("confidential")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_facilitator_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_cases_mediator_id_users"), type_="foreignkey")
        batch_op.drop_column("mediator_id")
        batch_op.drop_column("facilitator_id")

    op.drop_table("complainant_identities")
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrolments_user_id"))
    op.drop_table("enrolments")
