"""Web fixtures: the real app on a migrated SQLite file, with CSRF on, and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD, TRAIL_TABLES, Community, World, walk_to
from web import create_app

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def decision_form(world: World, community: Community, **overrides: Any) -> dict[str, Any]:
    """The decision form as a representative fills it in: all three present, a unanimous
    vote, the original text in Quechua, and the password that confirms it."""
    return {
        "decided_on": world.clock.now().date().isoformat(),
        "place": "Community hall",
        "present": [str(r) for r in community.reps],
        "votes_for": "3",
        "votes_against": "0",
        "abstentions": "0",
        "scope_phases": ["exploration"],
        "scope_activities": ["drilling"],
        "text_language": "qu",
        "text_original": "Ari, munayku.",
        "password": PASSWORD,
        **overrides,
    }


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def app(world: World) -> Flask:
    return create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )


class Browser:
    """A test client that signs in like a person and sends forms with their CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD):
        page = self.client.get("/login")
        return self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_token(page.text)},
        )

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def submit(self, form_url: str, data: dict, post_url: str | None = None):
        """GET the form page, then POST ``data`` with its CSRF token (and version, if any)."""
        page = self.client.get(form_url)
        assert page.status_code == 200, page.status_code
        fields = {"csrf_token": csrf_token(page.text)}
        version = re.search(r'id="version" name="version" type="hidden" value="(\d+)"', page.text)
        if version:
            fields["version"] = version.group(1)
        return self.client.post(post_url or form_url, data={**fields, **data})


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


@pytest.fixture
def other_community(world: World) -> Community:
    return world.add_community("uma-jaqi", ["ay", "es"])


@pytest.fixture
def case_at_decision(world: World, community: Community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    return case_id


@pytest.fixture
def signed_in(app: Flask) -> Callable[[str], Browser]:
    """signed_in("liaison") -> a Browser already signed in as that user."""

    def make(username: str) -> Browser:
        b = Browser(app.test_client())
        response = b.login(username)
        assert response.status_code == 302, response.text[:500]
        return b

    return make


# --- reading pages and the database in assertions ------------------------------------------

FIELD_BLOCK = re.compile(r'<div class="field[^"]*">(.*?)</div>', re.S)
ERROR_LINE = re.compile(r'<p class="error"[^>]*>(.*?)</p>', re.S)


def field_errors(html: str, field_id: str) -> list[str]:
    """The error paragraphs shown in the same field block as the input with this id."""
    for block in FIELD_BLOCK.findall(html):
        if re.search(rf'\bid="{re.escape(field_id)}"', block):
            return [unescape(e).strip() for e in ERROR_LINE.findall(block)]
    raise AssertionError(f"no field {field_id!r} on the page")


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_body and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    """The text of every body row of every table on the page, cell by cell."""
    parser = _Tables()
    parser.feed(html)
    return parser.rows


#: the trail (refused attempts are on it, and the Merkle log over it grows with them) and the
#: sessions
IGNORED_IN_SNAPSHOTS = (*TRAIL_TABLES, "user_sessions")


def snapshot(world: World) -> dict[str, int]:
    """What a write would change: every domain table's rows, the "done" events on the trail,
    case versions and active accounts (IGNORED_IN_SNAPSHOTS left out)."""
    from sqlalchemy import func, select

    from fpic.storage.models import Base, Case, TrailEvent, User

    counts: dict[str, int] = {}
    with world.db.read_session() as db:
        for name, table in Base.metadata.tables.items():
            if name not in IGNORED_IN_SNAPSHOTS:
                counts[name] = db.scalar(select(func.count()).select_from(table)) or 0
        counts["trail_done"] = (
            db.scalar(select(func.count()).where(TrailEvent.outcome == "done")) or 0
        )
        counts["case_versions"] = db.scalar(select(func.sum(Case.version))) or 0
        counts["active_users"] = db.scalar(select(func.count()).where(User.active)) or 0
    return counts
