"""Production on PostgreSQL: the owner migrates, the application connects as a role that can
read every table and append to the trail but never change or delete a trail event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from fpic.cli import main
from fpic.storage.db import Database
from fpic.storage.grants import RoleProblem, grant_app_role
from fpic.trail.audit import verify_database
from fpic.workflow.engine import Engine
from tests.conftest import as_role
from tests.factories import World, make_world, walk_to


@pytest.fixture
def app_world(pg_url: str, app_role: str) -> Iterator[World]:
    """Set up by the owner (migrations, first accounts), then run as the application's role."""
    world = make_world(pg_url)
    grant_app_role(world.db.engine, app_role)
    world.db.dispose()
    world.db = Database(as_role(pg_url, app_role))
    world.engine = Engine(world.db, world.clock)
    yield world
    world.db.dispose()


def test_the_app_role_runs_a_whole_case_and_the_trail_verifies(app_world: World):
    community = app_world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = app_world.open_case(community)
    walk_to(app_world, case_id, "monitoring", community)
    with app_world.db.read_session() as session:
        assert verify_database(session).intact
        assert session.scalar(text("SELECT current_user")) != "postgres"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE trail_events SET actor = 'someone else'",
        "DELETE FROM trail_events",
        "TRUNCATE trail_events",
        "ALTER TABLE trail_events DROP COLUMN hash",
        "DROP TABLE trail_events",
        "UPDATE alembic_version SET version_num = '0001'",
        "DELETE FROM cases",
        "CREATE TABLE shadow (id int)",
    ],
)
def test_the_app_role_cannot_rewrite_the_trail_or_the_schema(app_world: World, statement: str):
    community = app_world.add_community("ayllu-qollana", ["qu", "es"])
    app_world.open_case(community)
    with app_world.db.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), max(hash) FROM trail_events")).one()
        with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
            conn.execute(text(statement))
        conn.rollback()
        assert conn.execute(text("SELECT count(*), max(hash) FROM trail_events")).one() == before


def test_granting_is_safe_to_repeat_and_takes_back_rights_given_by_hand(pg_url: str, app_role: str):
    world = make_world(pg_url)
    owner = world.db.engine
    with owner.begin() as conn:
        conn.execute(text(f'GRANT UPDATE, DELETE ON trail_events TO "{app_role}"'))
    grant_app_role(owner, app_role)
    grant_app_role(owner, app_role)
    with owner.connect() as conn:
        rights = conn.execute(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = :role AND table_name = 'trail_events'"
            ),
            {"role": app_role},
        ).scalars()
        assert sorted(rights) == ["INSERT", "SELECT"]
    world.db.dispose()


def test_roles_that_grants_cannot_restrict_are_refused(pg_url: str, app_role: str):
    owner = create_engine(pg_url)
    with pytest.raises(RoleProblem) as before_migrations:
        grant_app_role(owner, app_role)
    assert before_migrations.value.kind == "no_schema"
    world = make_world(pg_url)
    for role, kind in [("postgres", "superuser"), ("nobody_here", "no_role")]:
        with pytest.raises(RoleProblem) as refused:
            grant_app_role(world.db.engine, role)
        assert refused.value.kind == kind
    owner.dispose()
    world.db.dispose()


def test_sqlite_has_no_roles_to_grant(world: World):
    with pytest.raises(RoleProblem) as refused:
        grant_app_role(world.db.engine, "fpic_app")
    assert refused.value.kind == "not_postgresql"


def test_init_db_migrates_and_grants_in_one_command(pg_url: str, app_role: str, tmp_path):
    # the log key of a PostgreSQL installation is where FPIC_LOG_KEY_FILE says (else ./)
    env = {"FPIC_LOG_KEY_FILE": str(tmp_path / "log.key")}
    result = CliRunner().invoke(
        main, ["--database-url", pg_url, "init-db", "--app-role", app_role], env=env
    )
    assert result.exit_code == 0, result.output
    assert app_role in result.output
    assert (tmp_path / "log.key").read_text(encoding="ascii").startswith("PRIVATE+KEY+")
    missing = CliRunner().invoke(
        main, ["--database-url", pg_url, "init-db", "--app-role", "nobody_here"], env=env
    )
    assert missing.exit_code == 1
    assert "CREATE ROLE" in missing.output
