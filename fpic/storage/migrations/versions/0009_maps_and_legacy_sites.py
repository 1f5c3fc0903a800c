"""maps and legacy sites

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Where projects are (fpic.geo): reference datasets (protected areas, critical habitat, Key
Biodiversity Areas), project areas, territories, each append-only like the trail; the legacy
mine sites register; a case's latest screening; a project's sector. Existing projects get the
sector "unspecified", which the World Heritage rule treats as extractive.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: a dataset, an area or a territory is never changed: a new version is a new row
_APPEND_ONLY = ("area_datasets", "reference_areas", "project_areas", "territories")
_SQLITE = [
    f"""CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table}
       BEGIN SELECT RAISE(ABORT, 'areas are append-only'); END"""
    for table in _APPEND_ONLY
    for verb in ("update", "delete")
]
_POSTGRES = [
    """CREATE FUNCTION areas_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'areas are append-only'; END $$""",
    *(
        statement
        for table in _APPEND_ONLY
        for statement in (
            f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION areas_append_only()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION areas_append_only()""",
        )
    ),
]


def upgrade() -> None:
    op.create_table(
        "area_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("features", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=80), nullable=False),
        sa.CheckConstraint(
            "kind IN ('protected_area', 'critical_habitat', 'kba')",
            name=op.f("ck_area_datasets_area_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_area_datasets")),
        sa.UniqueConstraint("kind", "source", "version", name="area_datasets_version"),
    )
    op.create_table(
        "legacy_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("former_operator", sa.String(length=300), nullable=False),
        sa.Column("worked", sa.String(length=80), nullable=False),
        sa.Column("hazards", sa.JSON(), nullable=False),
        sa.Column("current_state", sa.Text(), nullable=False),
        sa.Column("geojson", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legacy_sites")),
        sa.UniqueConstraint("slug", name=op.f("uq_legacy_sites_slug")),
    )
    op.create_table(
        "legacy_site_communities",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_legacy_site_communities_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["legacy_sites.id"],
            name=op.f("fk_legacy_site_communities_site_id_legacy_sites"),
        ),
        sa.PrimaryKeyConstraint("site_id", "community_id", name=op.f("pk_legacy_site_communities")),
    )
    op.create_table(
        "reference_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("designation", sa.String(length=300), nullable=False),
        sa.Column("world_heritage", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("west", sa.Double(), nullable=False),
        sa.Column("south", sa.Double(), nullable=False),
        sa.Column("east", sa.Double(), nullable=False),
        sa.Column("north", sa.Double(), nullable=False),
        sa.Column("shape", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["area_datasets.id"],
            name=op.f("fk_reference_areas_dataset_id_area_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_areas")),
        sa.UniqueConstraint("dataset_id", "external_id", name="reference_areas_key"),
    )
    with op.batch_alter_table("reference_areas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reference_areas_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "project_areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("geojson", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_project_areas_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_areas_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_project_areas_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_areas")),
    )
    with op.batch_alter_table("project_areas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_areas_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "territories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("geojson", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("area_m2", sa.Double(), nullable=False),
        sa.Column("visible_to", sa.JSON(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_territories_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_territories_community_id_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_territories_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territories")),
    )
    with op.batch_alter_table("territories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_territories_community_id"), ["community_id"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("screening", sa.JSON(), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sector", sa.String(length=20), server_default="unspecified", nullable=False)
        )
        batch_op.add_column(sa.Column("legacy_site_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_projects_legacy_site_id"), ["legacy_site_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_projects_legacy_site_id_legacy_sites"),
            "legacy_sites",
            ["legacy_site_id"],
            ["id"],
        )
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION areas_append_only() CASCADE")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_projects_legacy_site_id_legacy_sites"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_projects_legacy_site_id"))
        batch_op.drop_column("legacy_site_id")
        batch_op.drop_column("sector")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("screening")

    with op.batch_alter_table("territories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_territories_community_id"))

    op.drop_table("territories")
    with op.batch_alter_table("project_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_areas_project_id"))

    op.drop_table("project_areas")
    with op.batch_alter_table("reference_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reference_areas_dataset_id"))

    op.drop_table("reference_areas")
    op.drop_table("legacy_site_communities")
    op.drop_table("legacy_sites")
    op.drop_table("area_datasets")
