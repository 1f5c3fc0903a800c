"""Hostile input to every action form: very long strings, wrong types, control characters,
SQL and HTML fragments, bytes that are not UTF-8. The app never answers 500, a refused post
writes nothing, and a refusal is explained on the page in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fpic.workflow.process import shipped_templates
from tests.conftest import postgres_database
from tests.factories import PASSWORD, Community, World, make_world, walk_to
from tests.web.conftest import csrf_token, snapshot
from web import create_app

EXAMPLES = 300
STAGES = ("disclosure", "decision", "monitoring")
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(min_size=5_000, max_size=25_000, alphabet="aé𝓍ᓄ "),
    st.sampled_from(
        [
            "'; DROP TABLE cases; --",
            "1 OR 1=1",
            '<script>alert("x")</script>',
            "<img src=x onerror=alert(1)>",
            '=HYPERLINK("http://x")',
            "\x00\x07\x1b[31m",
            "\u202e\u200b\ufeff",
            "-1",
            "99999999999999999999999",
            "3.5",
            "2026-02-30",
            "0000-00-00",
            "true",
            "",
            " ",
        ]
    ),
)
# each middle piece is a byte sequence no UTF-8 decoder accepts (a lone 0xFF, a broken pair,
# an encoded surrogate, a five-byte form)
NOT_UTF8 = st.tuples(
    st.binary(max_size=10),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]),
    st.binary(max_size=10),
).map(b"".join)
# a message next to a field, a flash, or the card that lists a guard's or a stale version's reasons
ERROR = re.compile(r'<p class="error"|class="flash error"|<div class="card" role="alert">')


class FormFields(HTMLParser):
    """The named fields of a form page: kind (input type, select, textarea) and choices."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: dict[str, str] = {}
        self.choices: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag in ("input", "textarea", "select") and name:
            kind = a.get("type") or "text" if tag == "input" else tag
            self.kinds.setdefault(name, kind)
            if kind in ("checkbox", "radio") and a.get("value") is not None:
                self.choices.setdefault(name, []).append(a["value"] or "")
            self._select = name if tag == "select" else None
        elif tag == "option" and self._select and a.get("value"):
            self.choices.setdefault(self._select, []).append(a["value"] or "")


def plausible(kind: str, choices: list[str]) -> st.SearchStrategy[str]:
    """A value the form would accept, so that some examples reach the engine's guards."""
    if choices:
        return st.sampled_from(choices)
    if kind == "password":
        return st.just(PASSWORD)
    if kind == "date":
        return st.dates(date(2025, 1, 1), date(2027, 12, 31)).map(date.isoformat)
    if kind == "number":
        return st.integers(0, 500).map(str)
    return st.sampled_from(["Asamblea comunal de Qollana", "Acta 12/2026", "ok"])


# the saved language is per person, so each locale gets its own liaison and representative
PEOPLE = {
    ("liaison", "en"): "liaison",
    ("liaison", "es"): "liaison-es",
    ("representative", "en"): "rep-ayllu-qollana-1",
    ("representative", "es"): "rep-ayllu-qollana-2",
}


@dataclass
class Site:
    world: World
    community: Community
    app: Flask
    cases: dict[str, int]
    clients: dict[tuple[str, str], FlaskClient] = field(default_factory=dict)

    def sign_everyone_in(self) -> None:
        """Fresh sessions: walking a new case to its stage moves the clock past the time-outs."""
        for (role, locale), username in PEOPLE.items():
            client = self.app.test_client()
            page = client.get("/login")
            signed = client.post(
                "/login",
                data={
                    "username": username,
                    "password": PASSWORD,
                    "csrf_token": csrf_token(page.text),
                },
            )
            assert signed.status_code == 302
            home = client.get("/")
            client.post("/language", data={"locale": locale, "csrf_token": csrf_token(home.text)})
            assert f'<html lang="{locale}"' in client.get("/").text
            self.clients[(role, locale)] = client

    def case_at(self, stage: str) -> int:
        if self.world.case(self.cases[stage]).stage != stage:  # an earlier example moved it on
            self.cases[stage] = self.world.open_case(self.community)
            walk_to(self.world, self.cases[stage], stage, self.community)
            self.sign_everyone_in()
        return self.cases[stage]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    if request.param == "sqlite":
        yield from _site(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fpic.sqlite3'}")
    else:
        with postgres_database() as url:
            yield from _site(url)


def _site(url: str) -> Iterator[Site]:
    world = make_world(url)
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    cases = {}
    for stage in STAGES:
        cases[stage] = world.open_case(community)
        walk_to(world, cases[stage], stage, community)
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "fuzz", "FPIC_CLOCK": world.clock}
    )
    world.add_account("liaison-es", "liaison")
    site = Site(world, community, app, cases)
    site.sign_everyone_in()
    yield site
    app.extensions["fpic"].db.dispose()
    world.db.dispose()


TRIGGERS = sorted(
    {
        (stage, t.name)
        for stage in STAGES
        for t in shipped_templates()["fpic-general"].triggers_from(stage)
    }
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(TRIGGERS),
    who=st.sampled_from(("liaison", "representative")),
    locale=st.sampled_from(("en", "es")),
    data=st.data(),
)
def test_hostile_form_input_is_refused_cleanly(site: Site, target, who, locale, data):
    stage, trigger = target
    case_id = site.case_at(stage)
    client = site.clients[(who, locale)]
    url = f"/cases/{case_id}/actions/{trigger}"
    form = client.get(url)
    assert form.status_code in (200, 404), form.status_code  # 404: not for this person
    if form.status_code == 404:
        event("no such form for this person")
        return
    fields = {"csrf_token": csrf_token(form.text)}
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form.text)
    fields["version"] = version.group(1) if version else "1"
    parsed = FormFields()
    parsed.feed(form.text)
    body = [f"{quote_from_bytes(k.encode())}={quote_from_bytes(v.encode())}"
            for k, v in fields.items()]  # fmt: skip
    names = sorted(set(parsed.kinds) - set(fields) - {"locale"})
    # either every field at random, or a plausible form with one bad field, which reaches
    # the engine's guards and the narrower checks behind the first
    odd_one = data.draw(st.sampled_from([None, *names]), label="the one bad field")
    for name in names:
        kind = parsed.kinds[name]
        if odd_one is None:
            how = data.draw(st.sampled_from(("hostile", "not utf-8", "plausible", "left out")))
        elif name == odd_one:
            how = data.draw(st.sampled_from(("hostile", "not utf-8", "left out")))
        else:
            how = "plausible"
        if how == "left out":
            continue
        if how == "not utf-8":
            raw = data.draw(NOT_UTF8, label=name)
        elif how == "hostile":
            raw = data.draw(HOSTILE, label=name).encode("utf-8", "surrogatepass")
        else:
            raw = data.draw(plausible(kind, parsed.choices.get(name, [])), label=name).encode()
        body.append(f"{quote_from_bytes(name.encode())}={quote_from_bytes(raw)}")
    before = snapshot(site.world)
    response = client.post(
        url, data="&".join(body), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (302, 400, 403, 409), (trigger, response.status_code)
    event(f"answer {response.status_code}")
    if response.status_code == 302:
        return  # the hostile values happened to be acceptable data; the engine recorded them
    assert snapshot(site.world) == before, f"{trigger} was refused but something was written"
    page = response.get_data(as_text=True)
    assert f'<html lang="{locale.replace("_", "-")}"' in page
    if response.status_code in (400, 409):
        assert ERROR.search(page), f"{trigger}: refused without an explanation"
    if locale == "es":
        for english in ("is required", "must be", "is not a field", "cannot be done now"):
            assert english not in page, f"{trigger}: an English message for a Spanish reader"
