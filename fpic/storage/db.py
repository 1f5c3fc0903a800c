"""Database engines and sessions: SQLite by default, PostgreSQL through ``FPIC_DATABASE_URL``.

SQLite needs care to be safe with several writers: the sqlite3 driver's own transaction
handling is switched off so that a writing transaction can start with ``BEGIN IMMEDIATE``
(taking the write lock before the first read: a deferred transaction that reads and then writes
fails at once with "database is locked", whatever the busy timeout). Readers use a plain
``BEGIN`` so that pages never wait for a writer in WAL mode.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    DateTime,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeDecorator

DEFAULT_DATABASE_FILE = "fpic.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "fpic_write"
SINGLE_READ_OPTION = "fpic_single_read"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The table a model maps, for the Core statements of the write path."""
    return cast(Table, model.__table__)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (portable to SQLite) and always hands back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def rows_changed(session: Session, statement: UpdateBase) -> int:
    """Run an UPDATE or DELETE in the session and say how many rows it changed.

    ``Session.execute`` is typed for statements that return rows; for DML it hands back the
    cursor's result, the one that carries ``rowcount``."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``FPIC_DATABASE_URL``, else ``./fpic.sqlite3``."""
    url = url or os.environ.get("FPIC_DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(DEFAULT_DATABASE_FILE).resolve()}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain URLs would pick psycopg2.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def reachable(url: str, timeout_seconds: int = 3) -> bool:
    """Whether a PostgreSQL server answers at ``url`` (for tests and benchmarks that need one)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": timeout_seconds})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # any failure to connect means "not here", whatever the driver raises
        return False


@contextmanager
def scratch_postgres(admin_url: str, prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database on ``admin_url``'s server, dropped afterwards (for tests
    and benchmarks, which must not touch a database they did not make)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = database_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        in_memory = engine.url.database in (None, "", ":memory:")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        # a large evidence file passes through the WAL: give the space back after a checkpoint
        # instead of keeping a log the size of the largest file ever sent
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(SINGLE_READ_OPTION, False):
            return  # the statement is its own transaction (the driver runs it in autocommit)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """One engine and the two kinds of session the engine layer uses."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        # PostgreSQL: autocommit, so no BEGIN and ROLLBACK around the one statement; SQLite:
        # no BEGIN of ours (an isolation level set by SQLAlchemy would undo ours when the
        # connection goes back to the pool)
        single = {"isolation_level": "AUTOCOMMIT"} if not is_sqlite(self.engine) else {}
        self._single = self.engine.execution_options(**{SINGLE_READ_OPTION: True, **single})

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def read_session(self) -> Session:
        """A session for reading; on SQLite its transaction is deferred and never blocks."""
        return self._read()

    def read_row(self, statement: Executable, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The one row (or None) of one SELECT, read outside any transaction: a single
        statement sees one consistent state by itself. For the lookups made at every request
        (who a session or a token belongs to), which need no transaction of their own."""
        with self._single.connect() as connection:
            row = connection.execute(statement, params).one_or_none()
        return None if row is None else tuple(row)

    def write_session(self) -> Session:
        """A session whose transaction takes the write lock first (SQLite: BEGIN IMMEDIATE)."""
        return self._write()

    def dispose(self) -> None:
        self.engine.dispose()
