"""Read-side queries: a page counts its rows only so far ahead, and says so honestly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.orm import Session

from fpic.read import queries

ROWS = Table("rows", MetaData(), Column("id", Integer, primary_key=True))
MEMORY = create_engine("sqlite://")
ROWS.create(MEMORY)


def walk(per_page: int) -> list[queries.Page]:
    """Every page from the first, following "next" as a person would."""
    pages, number = [], 1
    with Session(MEMORY) as session:
        while True:
            stmt = select(ROWS.c.id)
            page = queries.paginate(session, stmt, stmt.order_by(ROWS.c.id), number, per_page)
            pages.append(page)
            if not page.has_next:
                return pages
            number += 1


@settings(max_examples=120, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=40),
    per_page=st.integers(min_value=1, max_value=7),
    ahead=st.integers(min_value=1, max_value=12),
)
def test_pages_show_every_row_once_and_never_claim_more_than_there_is(rows, per_page, ahead):
    with MEMORY.begin() as conn:
        conn.execute(ROWS.delete())
        if rows:
            conn.execute(insert(ROWS), [{"id": n} for n in range(1, rows + 1)])
    saved, queries.COUNT_AHEAD = queries.COUNT_AHEAD, ahead
    try:
        pages = walk(per_page)
    finally:
        queries.COUNT_AHEAD = saved
    assert [row for page in pages for row in page.items] == list(range(1, rows + 1))
    assert [page.page for page in pages] == list(range(1, len(pages) + 1))
    for page in pages:
        assert page.pages >= page.page
        if page.more:
            assert rows > page.total  # "more than N rows"
            assert -(-rows // per_page) > page.pages  # "page P of more than Q"
        else:
            assert (page.total, page.pages) == (rows, max(1, -(-rows // per_page)))
    assert not pages[-1].more


def test_a_page_past_the_end_is_the_last_page(world, community, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_AHEAD", 2)
    opened = [world.open_case(community) for _ in range(5)]
    with world.db.read_session() as session:
        page = queries.list_cases(session, world.liaison, world.clock.now(), page=9, per_page=2)
    # six cases: the five opened here and the community's registration case, changed first
    assert (page.page, page.total, page.more) == (3, 6, False)
    assert [case.id for case in page.items] == [opened[0], community.registration_case]
