"""Search (fpic.read.search over migration 0013's index): what it finds, where it says it found
it, who may find what, and that no query, however hostile, makes it fail. On SQLite, and on
PostgreSQL (under CI=true it must run)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from fpic.read.search import (
    MAX_QUERY_LENGTH,
    MAX_WORDS,
    Query,
    SearchResult,
    fts5_expression,
    parse,
    search_cases,
    tsquery_text,
)
from fpic.storage.db import Database
from fpic.storage.grants import grant_app_role
from fpic.storage.models import Case
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine
from tests.conftest import as_role, postgres_database
from tests.factories import Community, World, make_world, walk_to

QUESTION = "¿Quién paga el camino de acceso a Ñuñoa?"
ANSWER = "Andes Copper paga el mantenimiento del camino."
MEMO = "Memo: the concession overlaps the Yanacocha springs and the q'ochas used for grazing."
OTHER_MEMO = "Memo: the bofedal of Wila Qota is used for grazing in the dry season."


@dataclass
class Place:
    """Two communities. Ayllu Qollana's case at disclosure with a question answered (``asked``)
    and its case screened in with a memo (``memo``); Uma Jaqi's case screened in with its own
    memo (``elsewhere``)."""

    world: World
    own: Community
    other: Community
    asked: int
    memo: int
    elsewhere: int

    def search(self, actor: Actor, query: str, **kwargs: int) -> SearchResult:
        with self.world.db.read_session() as session:
            return search_cases(session, actor, query, **kwargs)

    def found(self, actor: Actor, query: str) -> list[int]:
        result = self.search(actor, query, per_page=100)
        assert result.problem is None, result.problem
        assert result.page is not None
        assert not result.page.more
        return [hit.case.id for hit in result.page.items]

    def sources(self, query: str, case_id: int) -> dict[str, str]:
        """Where the liaison is told the words were found in one case: each place and its
        excerpt, the words found in brackets."""
        result = self.search(self.world.liaison, query, per_page=100)
        assert result.page is not None
        [hit] = [hit for hit in result.page.items if hit.case.id == case_id]
        return {
            match.source: "".join(f"[{part}]" if found else part
                                  for part, found in match.excerpt.parts)
            for match in hit.matches
        }  # fmt: skip

    def reference(self, case_id: int) -> str:
        return self.world.case(case_id).reference


def _build(url: str) -> Place:
    world = make_world(url)
    own = world.add_community("ayllu-qollana", ["qu", "es"])
    other = world.add_community("uma-jaqi", ["ay", "es"])
    asked = world.open_case(own)
    walk_to(world, asked, "disclosure", own)
    world.act(asked, "ask_question", own.rep_actors[0], {"text": QUESTION, "language": "es"})
    [question_id] = [q.id for q in _questions(world, asked)]
    world.act(asked, "answer_question", world.liaison,
              {"question_id": question_id, "answer": ANSWER, "language": "es"})  # fmt: skip
    memo = world.open_case(own)
    world.act(memo, "screen_in", world.liaison, {"text": MEMO, "language": "en"})
    elsewhere = world.open_case(other)
    world.act(elsewhere, "screen_in", world.liaison, {"text": OTHER_MEMO, "language": "en"})
    return Place(world, own, other, asked, memo, elsewhere)


def _questions(world: World, case_id: int) -> list:
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return list(case.questions)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def place(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "sqlite":
        built = _build(f"sqlite:///{tmp_path_factory.mktemp('search') / 'fpic.sqlite3'}")
        yield built
        built.world.db.dispose()
        return
    with postgres_database() as url:
        built = _build(url)
        yield built
        built.world.db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    """A world of its own, for a test that changes what the others search."""
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


# --- what it finds, and where ------------------------------------------------------------------


def test_finds_a_case_by_its_reference(place: Place):
    reference = place.reference(place.asked)
    assert place.found(place.world.liaison, reference) == [place.asked]
    assert place.sources(reference, place.asked) == {"reference": "[T]-[0001]"}


def test_finds_the_cases_of_a_project_by_its_name_and_its_proponent(place: Place):
    everyone = place.found(place.world.liaison, "Cerro Verde")
    assert {place.asked, place.memo, place.elsewhere} <= set(everyone)
    assert everyone == place.found(place.world.liaison, "andes copper s.a.")
    assert place.sources("cerro verde", place.memo) == {
        "project": "[Cerro] [Verde] copper exploration · Andes Copper S.A."
    }


def test_finds_the_cases_of_a_community_by_its_name(place: Place):
    found = place.found(place.world.liaison, "Uma Jaqi")
    assert place.elsewhere in found
    assert not {place.asked, place.memo} & set(found)
    assert place.sources("uma jaqi", place.elsewhere) == {"community": "[Uma] [Jaqi]"}


def test_finds_a_case_by_the_text_of_its_notes(place: Place):
    assert place.found(place.world.liaison, "Yanacocha springs") == [place.memo]
    assert place.sources("yanacocha", place.memo) == {
        "note": "Memo: the concession overlaps the [Yanacocha] springs and the q'ochas used for "
        "grazing."
    }


def test_finds_a_case_by_its_questions_and_their_answers(place: Place):
    assert place.found(place.world.liaison, "quién paga") == [place.asked]
    assert place.found(place.world.liaison, "mantenimiento") == [place.asked]
    assert place.sources("mantenimiento", place.asked) == {
        "question": "…a Ñuñoa? Andes Copper paga el [mantenimiento] del camino."
    }


def test_letter_case_and_accents_do_not_matter(place: Place):
    for query in ("Ñuñoa", "ÑUÑOA", "nunoa", "NUNOA", "Nuñoa", "ñunoa", "quien", "QUIÉN"):
        assert place.found(place.world.liaison, query) == [place.asked], query
    assert "camino de acceso a [Ñuñoa]? Andes" in place.sources("nunoa", place.asked)["question"]


def test_every_word_must_be_found_anywhere_in_the_case(place: Place):
    # the community's name and a note's word: only the case that has both
    assert place.found(place.world.liaison, "qollana yanacocha") == [place.memo]
    assert place.found(place.world.liaison, "yanacocha qota") == []
    # words typed apart match in any order; words typed together (a reference) as written
    assert place.found(place.world.liaison, "springs Yanacocha") == [place.memo]
    assert place.found(place.world.liaison, "q'ochas") == [place.memo]
    assert place.found(place.world.liaison, "ochas'q") == []


def test_the_last_word_also_finds_longer_words_from_three_letters(place: Place):
    assert place.found(place.world.liaison, "yanaco") == [place.memo]
    assert place.found(place.world.liaison, "concession yan") == [place.memo]
    assert place.found(place.world.liaison, "ya") == []  # two letters: the word "ya" only
    assert place.found(place.world.liaison, "yanaco springs") == []  # only the last word
    reference = place.reference(place.asked)  # "T-0001": "T-000" finds it and its neighbours
    assert place.asked in place.found(place.world.liaison, reference[:-1])


def test_the_newest_case_comes_first_a_page_at_a_time(place: Place):
    everyone = place.found(place.world.liaison, "cerro")
    assert everyone == sorted(everyone, reverse=True)
    pages = [place.search(place.world.liaison, "cerro", page=n, per_page=2) for n in (1, 2, 3)]
    shown = [hit.case.id for result in pages if result.page for hit in result.page.items]
    assert shown == everyone[:6]
    first = pages[0].page
    assert first is not None
    assert (first.total, first.has_next) == (len(everyone), True)


# --- who may find what -----------------------------------------------------------------------


def test_a_representative_never_finds_another_communitys_cases(place: Place):
    theirs = place.other.rep_actors[0]
    own_cases = {place.asked, place.memo}
    for query in ("cerro", "qollana", "nunoa", "yanacocha", "grazing", "memo",
                  place.reference(place.asked), place.reference(place.memo)):  # fmt: skip
        assert not own_cases & set(place.found(theirs, query)), query
    assert place.found(theirs, "grazing") == [place.elsewhere]
    assert place.found(place.own.rep_actors[0], "grazing") == [place.memo]
    assert set(place.found(place.world.auditor, "grazing")) == {place.memo, place.elsewhere}


WORDS = ["cerro", "verde", "andes", "copper", "qollana", "uma", "jaqi", "ayllu", "nunoa",
         "yanacocha", "grazing", "memo", "camino", "t", "0001", "reg", "field"]  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_whatever_is_asked_a_representative_finds_only_their_communitys_cases(place, words):
    query = " ".join(words)
    with place.world.db.read_session() as session:
        for community in (place.own, place.other):
            result = search_cases(session, community.rep_actors[0], query, per_page=100)
            assert result.page is not None
            assert {hit.case.community_id for hit in result.page.items} <= {community.id}


# --- what is asked, however it is typed ----------------------------------------------------------


HOSTILE = [
    '"', "'", '""', "''", "*", "* *", "NEAR(a b)", "a AND", "OR", "NOT x", "x:*", ":*", "\\",
    "\\'", "(", ")", "((((", "&|!<->", "a & b | !c", "{notes}: x", "notes:x", "^x", "-x",
    "x -y", "'; DROP TABLE cases; --", '"x" *', "x NEAR/2 y", "\x00", "a\x00b", "\u202e",
    "\ud800", "é\u0301", "t’ika", "jach’a uta", "1e5", "-2026", "FPIC-2026-", "%", "_", "%_%",
    "a" * 2047, "ä" * 150, "𝔣𝔭𝔦𝔠", "日本語", "ⅻ²", "NULL", "rowid", "case_search",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_no_query_makes_the_search_fail(place: Place, query: str):
    result = place.search(place.world.liaison, query)
    assert (result.page is None) == (result.problem is not None)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=60))
def test_no_text_at_all_makes_the_search_fail(place, query):
    result = place.search(place.world.liaison, query)
    assert (result.page is None) == (result.problem is not None)


@settings(max_examples=300, deadline=None)
@given(query=st.text(max_size=80))
def test_only_quoted_words_reach_the_index(query):
    parsed = parse(query)
    if not isinstance(parsed, Query):
        return
    for word in parsed.words:
        assert word.isalnum(), word
    # every phrase is one quoted string, and nothing else but AND and a trailing *
    strings = fts5_expression(parsed).removesuffix(" *").split(" AND ")
    assert all(s.startswith('"') and s.endswith('"') and '"' not in s[1:-1] for s in strings)
    assert tsquery_text(parsed).count("'") == 2 * len(parsed.words)


def test_nothing_to_look_for_and_too_much_are_said_plainly(place: Place):
    for query in ("", "   ", "!!!", "\u00a0", "-- ''"):
        result = place.search(place.world.liaison, query)
        assert result.page is None, query
        assert result.problem is not None
        assert result.problem.code == "query_empty"
    too_long = place.search(place.world.liaison, "a" * (MAX_QUERY_LENGTH + 1))
    assert too_long.problem is not None
    assert too_long.problem.code == "query_too_long"
    assert too_long.problem.params == {"max": MAX_QUERY_LENGTH}
    many = place.search(place.world.liaison, " ".join(["cerro"] * (MAX_WORDS + 1)))
    assert many.problem is not None
    assert many.problem.code == "query_too_many_words"
    assert place.search(place.world.liaison, " ".join(["cerro"] * MAX_WORDS)).problem is None


# --- the index keeps up --------------------------------------------------------------------------


def test_an_action_that_writes_a_note_or_a_question_is_found_at_once(any_world: World):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])

    def found(query: str) -> list[int]:
        with world.db.read_session() as session:
            result = search_cases(session, world.liaison, query)
            assert result.page is not None
            return [hit.case.id for hit in result.page.items]

    noted = world.open_case(community)
    assert found("chuquicamata") == []
    world.act(noted, "screen_in", world.liaison,
              {"text": "Ichu grass and Chuquicamata dust.", "language": "es"})  # fmt: skip
    assert found("chuquicamata") == [noted]
    world.act(noted, "confirm_rights_holders", world.liaison,
              {"text": "The assembly of Pampa Ichu registered.", "language": "es"})  # fmt: skip
    assert found("pampa") == [noted]
    assert found("chuquicamata pampa dust") == [noted]  # the older words are still there
    asked = world.open_case(community)
    walk_to(world, asked, "disclosure", community)
    world.act(asked, "ask_question", community.rep_actors[0],
              {"text": "Imaynataq yakuta waqaychankichik?", "language": "qu"})  # fmt: skip
    assert found("yakuta") == [asked]
    [question] = _questions(world, asked)
    world.act(asked, "answer_question", world.liaison,
              {"question_id": question.id, "answer": "Piezometers at every spring.",
               "language": "en"})  # fmt: skip
    assert found("piezometers") == [asked]
    assert found("yakuta piezometers") == [asked]  # the question is still there


def test_a_note_that_is_part_of_an_earlier_one_is_found_too(any_world: World):
    """A short note inside a longer earlier one ("agreed" in "disagreed") holds a word the
    case's text did not have: it must be indexed, not skipped as already there."""
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison,
              {"text": "The assembly disagreed with the plan.", "language": "en"})  # fmt: skip
    world.act(case_id, "confirm_rights_holders", world.liaison,
              {"text": "agreed", "language": "en"})  # fmt: skip
    with world.db.read_session() as session:
        result = search_cases(session, world.liaison, "agreed")
        assert result.page is not None
        assert [hit.case.id for hit in result.page.items] == [case_id]


def test_a_project_or_community_renamed_is_found_by_its_new_name(any_world: World):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE projects SET name = 'Quellaveco tailings'"))
        connection.execute(text("UPDATE communities SET name = 'Ayllu Sullka' WHERE id = :id"),
                           {"id": community.id})  # fmt: skip
    with world.db.read_session() as session:
        for old, new in (("Cerro Verde", "Quellaveco"), ("Qollana", "Sullka")):
            before = search_cases(session, world.liaison, old).page.items  # type: ignore[union-attr]
            after = search_cases(session, world.liaison, new).page.items  # type: ignore[union-attr]
            assert case_id not in {hit.case.id for hit in before}
            assert case_id in {hit.case.id for hit in after}


def test_the_migration_indexes_the_cases_already_there(any_world: World):
    """Down to 0012 (no index) and up again: what was written before is found."""
    from fpic.storage.migrate import downgrade, upgrade

    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": "Wila Qota bofedal.", "language": "es"})
    downgrade(world.db.engine, "0012")
    upgrade(world.db.engine)
    with world.db.read_session() as session:
        for query in ("bofedal", "qollana", "cerro", world.case(case_id).reference):
            hits = search_cases(session, world.liaison, query).page.items  # type: ignore[union-attr]
            assert case_id in {hit.case.id for hit in hits}, query


@pytest.mark.postgres
def test_the_applications_role_may_search_and_keep_the_index(pg_url: str, app_role: str):
    """In production the application is not the tables' owner (fpic/storage/grants.py)."""
    world = make_world(pg_url)
    grant_app_role(world.db.engine, app_role)
    world.db.dispose()
    world.db = Database(as_role(pg_url, app_role))
    world.engine = Engine(world.db, world.clock)
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": "Puna grassland.", "language": "es"})
    with world.db.read_session() as session:
        assert session.scalar(select(text("current_user"))) == app_role
        hits = search_cases(session, world.liaison, "grassland").page.items  # type: ignore[union-attr]
        assert [hit.case.id for hit in hits] == [case_id]
    world.db.dispose()
