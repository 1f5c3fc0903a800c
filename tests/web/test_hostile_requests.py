"""The hostile requests of issue #13 that used to answer 500 or were silently accepted: ids past
any row, dates past the calendar's end, query arguments named like ``url_for``'s own, bytes
that are not UTF-8, year-1 dates. Each now gets a 400 or 404 in the reader's language."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from fpic.storage.models import Meeting
from tests.factories import World, walk_to
from tests.web.conftest import Browser, csrf_token, field_errors

HUGE = "9223372036854775808"  # 2^63: past SQLite's and PostgreSQL's largest integer
TWENTY_DIGITS = "12345678901234567890"


def _in_spanish(browser: Browser) -> Browser:
    page = browser.get("/")
    response = browser.client.post(
        "/language", data={"locale": "es", "next": "/", "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 302
    return browser


@pytest.fixture
def admin(signed_in) -> Browser:
    return _in_spanish(signed_in("admin"))


@pytest.fixture
def liaison(signed_in) -> Browser:
    return _in_spanish(signed_in("liaison"))


@pytest.mark.parametrize(
    "url",
    [
        f"/cases/{HUGE}",
        f"/cases/{HUGE}/record",
        f"/cases/{HUGE}/actions/x",
        f"/cases/{TWENTY_DIGITS}",
        f"/cases/{2**31}",
        f"/cases/{2**31 - 1}",
    ],
)
def test_an_id_past_any_row_is_a_404_in_the_readers_language(liaison, url):
    response = liaison.get(url)
    assert response.status_code == 404
    assert '<html lang="es">' in response.text


@pytest.mark.parametrize(
    "url",
    [
        f"/cases/{HUGE}/actions/x",
        f"/admin/users/{TWENTY_DIGITS}/active",
        f"/admin/users/{TWENTY_DIGITS}/role",
        f"/admin/users/{TWENTY_DIGITS}/reset",
        f"/communities/ayllu-qollana/mandates/{HUGE}/confirm",
        f"/communities/ayllu-qollana/mandates/{HUGE}/revoke",
    ],
)
def test_a_post_to_an_id_past_any_row_is_a_404_in_the_readers_language(admin, community, url):
    token = csrf_token(admin.get("/").text)
    response = admin.client.post(url, data={"csrf_token": token, "active": "0", "role": "auditor"})
    assert response.status_code == 404
    assert '<html lang="es">' in response.text


@pytest.mark.parametrize(
    "query", ["until=9999-12-31", "since=0001-01-01", "since=9999-12-31", "until=1899-12-31"]
)
def test_trail_filters_outside_the_calendar_fpic_knows_are_a_400(admin, query):
    response = admin.get(f"/audit/?{query}")
    assert response.status_code == 400
    assert '<html lang="es">' in response.text


def test_the_pager_keeps_filters_without_handing_them_to_url_for(world, community, admin):
    """``?endpoint=x`` collided with url_for's own argument (a 500); ``_external`` and
    ``_scheme`` would have steered it to write absolute links."""
    for _case in range(26):  # more events than one page holds
        world.open_case(community)
    response = admin.get("/audit/?page=2&endpoint=x&_external=1&_scheme=javascript&_anchor=y")
    assert response.status_code == 200
    [previous] = re.findall(r'<a href="([^"]+)" rel="prev">', response.text)
    link = urlsplit(previous.replace("&amp;", "&"))
    assert (link.scheme, link.netloc, link.path, link.fragment) == ("", "", "/audit/", "")
    assert parse_qs(link.query) == {
        "endpoint": ["x"], "_external": ["1"], "_scheme": ["javascript"], "_anchor": ["y"],
        "page": ["1"],
    }  # fmt: skip


@pytest.fixture
def monitored_case(world: World, community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    return case_id


def _meetings(world: World) -> int:
    with world.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(Meeting)) or 0


def _meeting(world: World, **overrides: str) -> dict[str, str]:
    return {
        "kind": "monitoring", "held_on": world.clock.now().date().isoformat(),
        "place": "Qollana", "languages_used": "qu", "minutes_language": "qu",
        "minutes_original": "Tantanakuy.", "attendance_women": "3", "attendance_men": "2",
        **overrides,
    }  # fmt: skip


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"])
def test_a_meeting_dated_before_1900_or_far_in_the_future_is_refused(
    world, monitored_case, liaison, day
):
    before = _meetings(world)
    url = f"/cases/{monitored_case}/actions/log_meeting"
    response = liaison.submit(url, _meeting(world, held_on=day))
    assert response.status_code == 400
    [message] = field_errors(response.text, "held_on")
    assert "1900" in message, message
    assert "2199" in message, message
    assert _meetings(world) == before


def test_a_form_that_is_not_utf8_is_refused_with_a_message(world, monitored_case, liaison):
    """Werkzeug used to re-quote the bad bytes and store "Qollana%FF" as the place."""
    before = _meetings(world)
    url = f"/cases/{monitored_case}/actions/log_meeting"
    page = liaison.get(url)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page.text)
    assert version
    fields = {**_meeting(world), "csrf_token": csrf_token(page.text), "version": version[1]}
    body = "&".join(f"{k}={v}" for k, v in fields.items() if k != "place") + "&place=Qollana%FF"
    response = liaison.client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert '<html lang="es">' in response.text
    assert "UTF-8" in response.text
    assert _meetings(world) == before
    # raw bytes, not percent-encoded, and the multipart form are refused the same way
    raw = body.encode() + b"&minutes_original=\xff"
    response = liaison.client.post(url, data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "UTF-8" in response.text
    parts = [
        f'--X\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
        if k != "place"
    ]
    parts.append(b'--X\r\nContent-Disposition: form-data; name="place"\r\n\r\nQ\xffa\r\n--X--\r\n')
    response = liaison.client.post(
        url, data=b"".join(parts), content_type="multipart/form-data; boundary=X"
    )
    assert response.status_code == 400
    assert "UTF-8" in response.text
    assert _meetings(world) == before
