"""Web fixtures: the real app on a migrated SQLite file, with CSRF on, and signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD, Community, World, walk_to
from web import create_app

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


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
