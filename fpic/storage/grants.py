"""The PostgreSQL role the application connects as in production.

The owner of the tables runs the migrations; the application's role may read every table and
add rows, may update the working tables, and may only read and append the decision trail. A
bug or a stolen application password then cannot rewrite what was decided: changing the trail
needs the owner's credentials, and even then the hash chains show it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from fpic.storage.db import Base
from fpic.storage.search_index import SEARCH_TABLE

#: tables the application may only read and append to
APPEND_ONLY = frozenset(
    {
        "trail_events",
        "merkle_nodes",
        "checkpoints",
        "cosignatures",
        "evidence_blobs",
        "evidence_chunks",
        "evidence_files",
        "area_datasets",
        "reference_areas",
        "project_areas",
        "territories",
    }
)
#: tables the application may only read (the schema version is the migrations' business)
READ_ONLY = frozenset({"alembic_version"})


class RoleProblem(ValueError):
    """The role cannot be made the application's role; ``kind`` names why, for translation:
    not_postgresql, no_role, superuser, no_schema, owner."""

    def __init__(self, kind: str, role: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.role = role


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Give ``role`` exactly the application's rights on the current schema; safe to re-run
    after each migration. Returns the statements run, for the operator's log."""
    if engine.dialect.name != "postgresql":
        raise RoleProblem("not_postgresql", role, "database roles exist only on PostgreSQL")
    with engine.begin() as connection:
        _check_role(connection, role)
        statements = app_role_statements(connection, role)
        for statement in statements:
            connection.execute(text(statement))
    return statements


def app_role_statements(connection: Connection, role: str) -> list[str]:
    quote = connection.dialect.identifier_preparer.quote
    who = quote(role)
    schema = quote(connection.execute(text("SELECT current_schema()")).scalar_one())
    database = quote(connection.execute(text("SELECT current_database()")).scalar_one())
    # start from nothing, so that re-running never leaves a right granted by hand earlier
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
    ]
    for table in sorted(Base.metadata.tables):
        rights = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT, INSERT, UPDATE"
        statements.append(f"GRANT {rights} ON {schema}.{quote(table)} TO {who}")
    for table in sorted(READ_ONLY):
        statements.append(f"GRANT SELECT ON {schema}.{quote(table)} TO {who}")
    # the search index, which no model maps: read by searches, written by the triggers that
    # run as the person whose action writes a case, a note or a question (migration 0013)
    statements.append(f"GRANT SELECT, INSERT, UPDATE ON {schema}.{quote(SEARCH_TABLE)} TO {who}")
    # identity columns draw from sequences; the app needs them to insert
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}")
    return statements


def _check_role(connection: Connection, role: str) -> None:
    row = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if row is None:
        raise RoleProblem("no_role", role, f"there is no role {role!r}")
    if row.rolsuper:
        raise RoleProblem("superuser", role, f"{role!r} is a superuser")
    owner = connection.execute(
        text(
            "SELECT tableowner FROM pg_tables"
            " WHERE tablename = 'trail_events' AND schemaname = current_schema()"
        )
    ).scalar()
    if owner is None:
        raise RoleProblem("no_schema", role, "the tables are not there yet")
    if owner == role:
        raise RoleProblem("owner", role, f"{role!r} owns the tables")
