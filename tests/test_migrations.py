"""Migrations: an empty database upgrades to head, and the models agree with the migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from fpic.db import Base, make_engine
from fpic.migrate import current_revision, head_revision, upgrade


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


def test_upgrade_twice_is_harmless(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
