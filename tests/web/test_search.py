"""The search page (/search) and the header's search box: what a person sees, page after page,
and a plain message for a query there is nothing to look for in."""

from __future__ import annotations

import re
from html import unescape

import pytest

from fpic.read.queries import PER_PAGE
from tests.factories import Community, World, walk_to
from tests.web.conftest import Browser

MEMO = "Memo: the concession overlaps the Yanacocha springs used for grazing."
RESULT = re.compile(r'<li>\s*<a href="/cases/(\d+)">([^<]+)</a>')


def _found(html: str) -> list[int]:
    return [int(case_id) for case_id, _reference in RESULT.findall(html)]


@pytest.fixture
def noted(world: World, community: Community) -> int:
    """A case of ayllu-qollana screened in with a memo."""
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": MEMO, "language": "en"})
    return case_id


def test_the_page_lists_the_cases_found_with_where_the_words_were(signed_in, noted):
    page = signed_in("liaison").get("/search?q=yanacocha")
    assert page.status_code == 200
    assert _found(page.text) == [noted]
    assert f'<a href="/cases/{noted}">T-0001</a>' in page.text
    # where: the note, its words marked; the case's community and project beside it
    assert '<span class="badge">Note</span>' in page.text
    assert "overlaps the <mark>Yanacocha</mark> springs" in page.text
    assert "Ayllu Qollana · Cerro Verde copper exploration" in page.text
    assert "1 case holds these words." in page.text
    # the results are a region with a heading; the query stays in its labelled field
    assert '<section aria-labelledby="search-results">' in page.text
    assert '<h2 id="search-results">Cases found</h2>' in page.text
    assert '<label for="search-q" id="search-q-label">' in page.text
    assert re.search(r'<input type="search" id="search-q" name="q" value="yanacocha"', page.text)
    assert "<title>Search: yanacocha · fpic</title>" in page.text


def test_the_page_before_anything_is_asked_is_its_form(signed_in):
    page = signed_in("liaison").get("/search")
    assert page.status_code == 200
    assert 'role="search"' in page.text
    assert "Cases found" not in page.text
    assert 'class="error"' not in page.text


def test_nothing_found_is_said(signed_in, noted):
    page = signed_in("liaison").get("/search?q=zzyzx")
    assert page.status_code == 200
    assert _found(page.text) == []
    assert "No case you may see holds all these words." in page.text
    assert "0 cases hold these words." in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type a word to search for"),
        ("   ", "Type a word to search for"),
        ("!!! ***", "Type a word to search for"),
        ("x" * 201, "Search for at most 200 characters."),
        (" ".join(["cerro"] * 13), "Search for at most 12 words."),
    ],
)
def test_a_query_with_nothing_to_look_for_or_too_much_is_told_plainly(signed_in, query, message):
    page = signed_in("liaison").get("/search", query_string={"q": query})
    assert page.status_code == 400
    assert message in unescape(page.text)
    assert 'aria-invalid="true"' in page.text
    assert 'aria-describedby="search-q-hint search-q-error"' in page.text
    assert "Cases found" not in page.text


@pytest.mark.parametrize(
    "query", ['"', "'; DROP TABLE cases; --", "NEAR(a b)", "x:*", "&|!<->", "{notes}: x", "\\"]
)
def test_syntax_characters_are_only_characters(signed_in, noted, query):
    page = signed_in("liaison").get("/search", query_string={"q": query})
    assert page.status_code in (200, 400)
    assert "Internal" not in page.text


def test_a_representative_never_finds_another_communitys_cases(
    world: World, signed_in, noted, other_community: Community
):
    theirs = world.open_case(other_community)
    world.act(theirs, "screen_in", world.liaison, {"text": MEMO, "language": "en"})
    assert _found(signed_in("rep-ayllu-qollana-1").get("/search?q=yanacocha").text) == [noted]
    assert _found(signed_in("rep-uma-jaqi-1").get("/search?q=yanacocha").text) == [theirs]
    assert sorted(_found(signed_in("auditor").get("/search?q=yanacocha").text)) == [noted, theirs]
    assert _found(signed_in("rep-uma-jaqi-1").get("/search?q=T-0001").text) == []


def test_pages_follow_one_another_keeping_the_query(world: World, signed_in, community):
    opened = [world.open_case(community) for _ in range(PER_PAGE + 1)]
    newest_first = [*opened[::-1], community.registration_case]  # its reference names it
    liaison = signed_in("liaison")
    first = liaison.get("/search?q=qollana")
    assert _found(first.text) == newest_first[:PER_PAGE]
    assert "Page 1 of 2" in first.text
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following is not None
    url = unescape(following.group(1))
    assert "q=qollana" in url
    assert "page=2" in url
    second = liaison.get(url)
    assert _found(second.text) == newest_first[PER_PAGE:]
    assert re.search(r'<a href="[^"]+" rel="prev">', second.text)
    assert liaison.get("/search?q=qollana&page=two").status_code == 400


def test_the_header_has_a_search_box_for_those_signed_in(signed_in, community, client_anonymous):
    dashboard = signed_in("rep-ayllu-qollana-1").get("/").text
    box = re.search(r'<form method="get" action="/search" role="search"[^>]*>(.*?)</form>',
                    dashboard, re.S)  # fmt: skip
    assert box is not None
    assert '<label for="search-box-q">Search</label>' in box.group(1)
    assert '<input type="search" id="search-box-q" name="q"' in box.group(1)
    assert 'aria-label="Search the cases"' in box.group(0)
    # right after the main menu, in the header
    header = dashboard.split("</header>")[0]
    assert header.index("</nav>") < header.index('id="search-box-q"')
    # the search page has its own form: one search landmark, one field
    search = signed_in("liaison").get("/search?q=cerro").text
    assert search.count('role="search"') == 1
    assert 'id="search-box-q"' not in search
    assert 'id="search-box-q"' not in client_anonymous.get("/login").text


def test_the_search_page_needs_signing_in(client_anonymous):
    answer = client_anonymous.get("/search?q=cerro")
    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]


def test_a_question_asked_through_the_form_is_found_at_once(world: World, community, signed_in):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    rep = signed_in("rep-ayllu-qollana-1")
    question = {"text": "¿Hasta cuándo dura la perforación?", "language": "es"}
    asked = rep.submit(f"/cases/{case_id}/actions/ask_question", question)
    assert asked.status_code == 302, asked.text[:400]
    page = rep.get("/search?q=perforacion").text
    assert _found(page) == [case_id]
    assert '<span class="badge">Question</span>' in page
    assert "<mark>perforación</mark>" in page


@pytest.fixture
def client_anonymous(app) -> Browser:
    return Browser(app.test_client())
