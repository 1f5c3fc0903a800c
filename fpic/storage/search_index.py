"""The full-text search index's tables: made and kept up to date by the database itself.

Migration 0013 creates the index and the triggers that fill it (an FTS5 virtual table on SQLite,
a tsvector table with a GIN index on PostgreSQL); no model maps them, since no application code
writes them: every row a case, a note, a question, a project or a community gains or changes
reaches the index through a trigger, in the same transaction and at no extra statement. The
read side is fpic/read/search.py.
"""

from __future__ import annotations

from typing import Any

#: the index, one row per case (its row id, on PostgreSQL its ``case_id``, is the case's id)
SEARCH_TABLE = "case_search"
#: the tables SQLite's FTS5 keeps behind the virtual table (data, idx, content, docsize,
#: config): they share its name as a prefix
_SHADOW_PREFIX = SEARCH_TABLE + "_"


def is_search_index(name: str | None) -> bool:
    """Whether a table of the database is the search index or one of FTS5's shadow tables."""
    return name is not None and (name == SEARCH_TABLE or name.startswith(_SHADOW_PREFIX))


def compared_with_the_models(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's ``include_name`` hook: every object but the index is compared with the
    models (autogenerate would otherwise propose dropping the index, which no model maps)."""
    return not (type_ == "table" and is_search_index(name))
