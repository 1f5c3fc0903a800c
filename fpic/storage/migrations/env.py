"""Alembic environment: the connection comes from fpic.storage.migrate, never from a config file."""

from __future__ import annotations

from alembic import context

from fpic.storage import models  # noqa: F401  (registers every table on the metadata)
from fpic.storage.db import Base
from fpic.storage.search_index import compared_with_the_models

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `fpic init-db` (fpic.storage.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=compared_with_the_models,
)
with context.begin_transaction():
    context.run_migrations()
