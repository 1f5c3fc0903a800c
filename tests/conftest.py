"""Fixtures: a migrated database per test (SQLite file; PostgreSQL with ``pg_world``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fpic.accounts import passwords
from fpic.storage.db import reachable, scratch_postgres
from tests.factories import CHEAP_HASHER, Community, World, make_world

PG_ADMIN_URL = os.environ.get(
    "FPIC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every world creates six or more accounts; at argon2id's real cost that is most of the
    suite's run time, and only the tests marked ``real_password_hashing`` look at the cost."""
    if request.node.get_closest_marker("real_password_hashing"):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", CHEAP_HASHER)
        yield


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'fpic.sqlite3'}")
    yield w
    w.db.dispose()


@pytest.fixture
def community(world: World) -> Community:
    return world.add_community("ayllu-qollana", ["qu", "es"])


def _postgres_available() -> bool:
    return reachable(PG_ADMIN_URL)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped after; under CI=true a missing server fails
    instead of skipping."""
    if not _postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI=true)")
        pytest.skip("PostgreSQL is not reachable")
    with scratch_postgres(PG_ADMIN_URL, "fpic_test") as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def app_role(pg_url: str) -> Iterator[str]:
    """A login role for the application (see fpic/storage/grants.py), dropped after the test."""
    role = f"fpic_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    owner = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
    owner.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'REVOKE ALL ON DATABASE "{make_url(pg_url).database}" FROM "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


def as_role(url: str, role: str) -> str:
    """``url`` signed in as ``role`` (trust authentication on the test server)."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[World]:
    w = make_world(pg_url)
    yield w
    w.db.dispose()
