"""Migrations: an empty database upgrades to head, and the models agree with the migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fpic.storage.db import Base, make_engine
from fpic.storage.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from fpic.storage.search_index import compared_with_the_models

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
        # the search index is the migrations' alone (fpic/storage/search_index.py)
        opts = {"compare_type": True, "include_name": compared_with_the_models}
        context = MigrationContext.configure(connection, opts=opts)
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
    from fpic.storage.models import Case, Condition, Decision, Mandate, Protocol
    from fpic.trail import audit
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
        # mandates recorded before confirmation existed stay in force, confirmed by their
        # recorder (read from the trail) and visibly marked so
        mandates = session.query(Mandate).all()
        assert mandates
        for mandate in mandates:
            assert mandate.confirmed_at is not None
            assert mandate.confirmed_by_id == mandate.recorded_by_id == world.facilitator.user_id
            assert "facilitator" in (mandate.confirmation_note or "")
        assert audit.verify_database(session).intact
    world.db.dispose()


def test_migration_0005_disables_shadow_accounts_and_keeps_mandates(tmp_path):
    """A database from before the register: a representative with two active accounts (the
    second one an administrator made) and a mandate the liaison recorded."""
    from sqlalchemy import text

    from fpic.storage.models import Mandate, User

    url = f"sqlite:///{tmp_path / 'shadow.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO communities (id, slug, name, region, country, institution, "
                "content_languages) VALUES (1, 'q', 'Q', 'R', 'PE', 'Assembly', '[]')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO representatives (id, community_id, name, gender) "
                "VALUES (1, 1, 'Juana', 'woman')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO mandates (id, representative_id, granted_by, evidence, valid_from, "
                "valid_until) VALUES (1, 1, 'Assembly', 'Acta 1', '2026-01-01', '2028-01-01')"
            )
        )
        for user_id, name, role, rep in (
            (1, "liaison", "liaison", None),
            (2, "rep-juana", "representative", 1),
            (3, "shadow", "representative", 1),
        ):
            conn.execute(
                text(
                    "INSERT INTO users (id, username, display_name, password_hash, role, "
                    "representative_id, active) VALUES (:id, :name, :name, 'x', :role, :rep, 1)"
                ),
                {"id": user_id, "name": name, "role": role, "rep": rep},
            )
        conn.execute(
            text(
                "INSERT INTO trail_events (chain, seq, at, actor, actor_role, action, outcome, "
                "data, prev_hash, hash) VALUES ('system', 1, '2026-01-02T09:00:00.000000Z', "
                "'liaison', 'liaison', 'record_mandate', 'done', :data, :z, :z)"
            ),
            {"z": "0" * 64, "data": '{"mandate_id":1}'},
        )
    upgrade(engine)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        active = {u.username: u.active for u in session.query(User)}
        mandate = session.get(Mandate, 1)
        assert mandate is not None
        assert (mandate.confirmed_by_id, mandate.recorded_by_id) == (1, 1)
        assert "Recorded by liaison" in (mandate.confirmation_note or "")
        assert mandate.in_force_on(mandate.valid_from)
    assert active == {"liaison": True, "rep-juana": True, "shadow": False}
    engine.dispose()


def test_sqlite_data_survives_down_to_the_first_revision_and_back(tmp_path):
    from tests.factories import make_world

    _round_trip_through_the_first_revision(f"sqlite:///{tmp_path / 'round.sqlite3'}", make_world)


@pytest.mark.postgres
def test_postgres_data_survives_down_to_the_first_revision_and_back(pg_url):
    from tests.factories import make_world

    _round_trip_through_the_first_revision(pg_url, make_world)
