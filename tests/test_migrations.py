"""Migrations: an empty database upgrades to head, and the models agree with the migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fpic.db import Base, make_engine
from fpic.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade

#: every revision, oldest first: a database may stand at any of them when fpic is upgraded
REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]


def _differences(url: str) -> list:
    engine = make_engine(url)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_sqlite_migrations_match_models(tmp_path):
    assert _differences(f"sqlite:///{tmp_path / 'm.sqlite3'}") == []


@pytest.mark.postgres
def test_postgres_migrations_match_models(pg_url):
    assert _differences(pg_url) == []


def _from_each_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    upgrade(engine, revision)
    assert current_revision(engine) == revision
    engine.dispose()
    assert _differences(url) == []


@pytest.mark.parametrize("revision", REVISIONS)
def test_sqlite_upgrades_from_each_revision_to_models_as_they_are(tmp_path, revision):
    _from_each_revision(f"sqlite:///{tmp_path / 'from.sqlite3'}", revision)


@pytest.mark.postgres
@pytest.mark.parametrize("revision", REVISIONS)
def test_postgres_upgrades_from_each_revision_to_models_as_they_are(pg_url, revision):
    _from_each_revision(pg_url, revision)


def test_every_revision_is_listed():
    assert REVISIONS[0] == "0001"
    assert REVISIONS[-1] == head_revision()
    assert len(REVISIONS) >= 3


def test_upgrade_twice_is_harmless(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def _round_trip_through_the_first_revision(url: str, world_factory) -> None:
    """A database with real cases goes back to revision 0001 and up to head again: the data
    stays, the new columns get their defaults, and every chain still verifies."""
    from fpic import audit
    from fpic.models import Case, Condition, Decision, Protocol
    from tests.factories import decision, walk_to

    world = world_factory(url)
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    conditions = [{"text": "Yaku qhawaq.", "language": "qu", "obligated_party": "Andes Copper",
                   "verification": "Joint visit."}]  # fmt: skip
    world.act(case_id, "give_consent_with_conditions", community.rep_actors[0],
              decision(world, community, conditions=conditions))  # fmt: skip
    engine = world.db.engine
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.stage == "agreement"
        protocol = session.query(Protocol).one()
        assert protocol.review_every_days == 90
        # a process under way keeps being counted as before: council, abstentions as votes cast
        assert (protocol.voters, protocol.abstentions_count) == ("representatives", True)
        [decision_row] = session.query(Decision).all()
        assert (decision_row.voters, decision_row.consensus) == ("representatives", False)
        assert decision_row.present_count == decision_row.eligible == len(community.reps)
        [condition] = session.query(Condition).all()
        assert condition.translations == []
        assert audit.verify_database(session).intact
    world.db.dispose()


def test_sqlite_data_survives_down_to_the_first_revision_and_back(tmp_path):
    from tests.factories import make_world

    _round_trip_through_the_first_revision(f"sqlite:///{tmp_path / 'round.sqlite3'}", make_world)


@pytest.mark.postgres
def test_postgres_data_survives_down_to_the_first_revision_and_back(pg_url):
    from tests.factories import make_world

    _round_trip_through_the_first_revision(pg_url, make_world)
