"""Registry pages (issue #20, part 5): communities and projects added and changed through the
interface by those allowed, with errors next to the fields called by their labels, and the
History of each entry on its page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from fpic.storage.models import Community, Project
from tests.factories import World
from tests.web.conftest import Browser, csrf_token, field_errors, snapshot
from web.i18n import LOCALES

COMMUNITY = {
    "slug": "santa-rosa",
    "name": "Comunidad Nativa Santa Rosa",
    "region": "Ucayali",
    "country": "PE",
    "institution": "Asamblea comunal",
    "content_languages": "shp, es",
}
PROJECT = {
    "name": "Carretera Pucallpa",
    "proponent": "Ministerio de Transportes",
    "description": "A road of 40 km.",
    "sector": "infrastructure",
    "phases": "construction, operation",
    "activities": "access_road, camp",
    "design_freeze_on": "2027-09-30",
    "permit_applied_on": "",
}


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _community(world: World, slug: str) -> Community:
    with world.db.read_session() as session:
        found = session.scalar(select(Community).where(Community.slug == slug))
        assert found is not None
        return found


def _project(world: World, project_id: int) -> Project:
    with world.db.read_session() as session:
        found = session.get(Project, project_id)
        assert found is not None
        return found


# --- communities -------------------------------------------------------------------------------


def test_the_liaison_registers_a_community_from_the_list(world, signed_in):
    liaison = signed_in("liaison")
    listing = liaison.get("/communities/")
    assert 'href="/communities/new"' in listing.text
    form = liaison.get("/communities/new")
    assert form.status_code == 200
    assert "Peru (PE)" in form.text  # countries by name, the code beside
    response = liaison.submit("/communities/new", COMMUNITY)
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"].endswith("/communities/santa-rosa")
    added = _community(world, "santa-rosa")
    assert (added.name, added.country, added.content_languages) == (
        "Comunidad Nativa Santa Rosa",
        "PE",
        ["shp", "es"],
    )
    page = liaison.get("/communities/santa-rosa")
    assert "Community Comunidad Nativa Santa Rosa registered." in page.text
    history = _text(page.text.split('id="h-history"')[1])
    assert "Register a community" in history
    assert "liaison" in history
    assert "Asamblea comunal" in history
    # the liaison proposed it: its entry is not theirs to change
    assert "/communities/santa-rosa/edit" not in page.text


def test_errors_are_shown_next_to_their_fields_by_label(world, signed_in):
    liaison = signed_in("liaison")
    before = snapshot(world)
    bad = {**COMMUNITY, "name": "", "content_languages": "Quechua", "slug": "Santa Rosa"}
    response = liaison.submit("/communities/new", bad)
    assert response.status_code == 400
    assert field_errors(response.text, "name") == ["“Name” is required."]
    assert snapshot(world) == before
    # what the form lets through, the engine checks, and its message names the field too
    response = liaison.submit("/communities/new", {**COMMUNITY, "slug": "Santa Rosa"})
    assert response.status_code == 400
    assert field_errors(response.text, "slug") == [
        "“Short name in addresses” may hold lower-case letters, digits, - and _."
    ]
    response = liaison.submit("/communities/new", {**COMMUNITY, "content_languages": "Quechua"})
    assert field_errors(response.text, "content_languages") == [
        "“Content languages” must be language codes such as qu, ay or iu."
    ]
    response = liaison.submit("/communities/new", {**COMMUNITY, "slug": "new"})
    assert field_errors(response.text, "slug") == [
        "“Short name in addresses” cannot be “new”: choose another."
    ]
    assert snapshot(world) == before
    # what was typed is kept
    assert 'value="Comunidad Nativa Santa Rosa"' in response.text


def test_a_slug_already_taken(world, signed_in, community):
    response = signed_in("liaison").submit(
        "/communities/new", {**COMMUNITY, "slug": "ayllu-qollana"}
    )
    assert response.status_code == 400
    assert field_errors(response.text, "slug") == [
        "A community with this “Short name in addresses” already exists."
    ]


def test_the_facilitator_of_its_case_changes_a_communitys_institution(world, signed_in, community):
    facilitator = signed_in("facilitator")
    page = facilitator.get("/communities/ayllu-qollana")
    assert 'href="/communities/ayllu-qollana/edit"' in page.text
    form = facilitator.get("/communities/ayllu-qollana/edit")
    assert form.status_code == 200
    assert 'value="Community assembly"' in form.text
    assert 'value="qu, es"' in form.text
    assert 'name="slug"' not in form.text  # the address never changes
    response = facilitator.submit(
        "/communities/ayllu-qollana/edit",
        {"name": "Ayllu Qollana", "region": "Test region", "country": "PE",
         "institution": "Council of elders", "content_languages": "qu es ay"},
    )  # fmt: skip
    assert response.status_code == 302, response.text[:500]
    after = _community(world, "ayllu-qollana")
    assert (after.institution, after.content_languages) == ("Council of elders", ["qu", "es", "ay"])
    page = facilitator.get(response.headers["Location"])
    assert "Saved. Changed: Representative institution, Content languages." in page.text
    history = _text(page.text.split('id="h-history"')[1].split("</section>")[0])
    assert "Change a community's entry" in history
    assert "Representative institution: Community assembly → Council of elders" in history
    assert "facilitator" in history


def test_saving_the_form_unchanged_changes_nothing(world, signed_in, community):
    rep = signed_in("rep-ayllu-qollana-1")
    before = snapshot(world)
    response = rep.submit(
        "/communities/ayllu-qollana/edit",
        {"name": "Ayllu Qollana", "region": "Test region", "country": "PE",
         "institution": "Community assembly", "content_languages": "qu, es"},
    )  # fmt: skip
    assert response.status_code == 302
    assert snapshot(world) == before
    assert "Nothing was changed" in rep.get(response.headers["Location"]).text


def test_an_edit_refused_by_the_engine_names_the_field(world, signed_in, community):
    rep = signed_in("rep-ayllu-qollana-1")
    response = rep.submit(
        "/communities/ayllu-qollana/edit",
        {"name": "x" * 201, "region": "Test region", "country": "PE",
         "institution": "Community assembly", "content_languages": "qu, es"},
    )  # fmt: skip
    assert response.status_code == 400
    assert field_errors(response.text, "name") == ["“Name” is too long (at most 200 characters)."]
    assert _community(world, "ayllu-qollana").name == "Ayllu Qollana"


@pytest.mark.parametrize("who", ["liaison", "admin", "auditor", "mediator", "state-authority"])
def test_the_proponent_and_others_get_no_form_to_change_a_community(
    world, signed_in, community, who
):
    browser = signed_in(who)
    assert "/communities/ayllu-qollana/edit" not in browser.get("/communities/ayllu-qollana").text
    assert browser.get("/communities/ayllu-qollana/edit").status_code == 403
    before = snapshot(world)
    page = browser.get("/communities/")
    response = browser.client.post(
        "/communities/ayllu-qollana/edit",
        data={"csrf_token": csrf_token(page.text), **{k: "x" for k in ("name", "region")},
              "country": "PE", "institution": "Friendly", "content_languages": "es"},
    )  # fmt: skip
    assert response.status_code == 403
    assert snapshot(world) == before


def test_a_facilitator_of_no_case_of_the_community_is_told_why(world, signed_in, community):
    world.add_account("facilitator-2", "facilitator")
    response = signed_in("facilitator-2").get("/communities/ayllu-qollana/edit")
    assert response.status_code == 403
    assert "Only the facilitator of one of this community&#39;s cases may do this." in response.text


def test_a_representative_of_another_community_finds_nothing(world, signed_in, community):
    world.add_community("uma-jaqi", ["ay"], reps=1)
    assert signed_in("rep-uma-jaqi-1").get("/communities/ayllu-qollana/edit").status_code == 404


def test_the_history_shows_the_register_to_every_reader_of_the_page(world, signed_in, community):
    for who in ("liaison", "rep-ayllu-qollana-2", "auditor"):
        page = signed_in(who).get("/communities/ayllu-qollana")
        history = _text(page.text.split('id="h-history"')[1].split("</section>")[0])
        assert "Record a mandate : Representative 1 of ayllu-qollana" in history
        assert "Confirm a mandate : Representative 1 of ayllu-qollana" in history
        # the event itself only for those who read every chain
        assert ('href="/audit/system/' in page.text) == (who == "auditor")


# --- projects ----------------------------------------------------------------------------------


def test_the_liaison_registers_and_changes_a_project(world, signed_in):
    liaison = signed_in("liaison")
    assert 'href="/projects/new"' in liaison.get("/projects/").text
    response = liaison.submit("/projects/new", PROJECT)
    assert response.status_code == 302, response.text[:500]
    project_id = int(response.headers["Location"].rsplit("/", 1)[1])
    added = _project(world, project_id)
    assert (added.sector, added.phases, str(added.design_freeze_on)) == (
        "infrastructure",
        ["construction", "operation"],
        "2027-09-30",
    )
    edit = f"/projects/{project_id}/edit"
    form = liaison.get(edit)
    assert 'value="construction, operation"' in form.text
    assert 'value="2027-09-30"' in form.text
    response = liaison.submit(edit, {**PROJECT, "design_freeze_on": "2027-12-31"})
    assert response.status_code == 302
    page = liaison.get(response.headers["Location"])
    assert f'href="{edit}"' in page.text
    history = _text(page.text.split('id="h-history"')[1])
    assert "Change a project" in history
    assert "Design freeze: Sep 30, 2027 → Dec 31, 2027" in history
    assert "Register a project" in history


def test_project_errors_next_to_their_fields(world, signed_in):
    liaison = signed_in("liaison")
    before = snapshot(world)
    response = liaison.submit(
        "/projects/new", {**PROJECT, "proponent": "", "design_freeze_on": "30/09/2027"}
    )
    assert response.status_code == 400
    assert field_errors(response.text, "proponent") == ["“Proponent” is required."]
    response = liaison.submit("/projects/new", {**PROJECT, "design_freeze_on": "30/09/2027"})
    assert response.status_code == 400
    assert field_errors(response.text, "design_freeze_on") == [
        "“Design freeze” must be a date (YYYY-MM-DD)."
    ]
    assert snapshot(world) == before


def test_a_project_with_a_case_keeps_its_sector(world, signed_in, community):
    liaison = signed_in("liaison")
    edit = f"/projects/{world.project_id}/edit"
    project = _project(world, world.project_id)
    before = snapshot(world)
    response = liaison.submit(edit, {
        "name": project.name, "proponent": project.proponent, "description": "",
        "sector": "conservation", "phases": ", ".join(project.phases),
        "activities": ", ".join(project.activities), "design_freeze_on": "2027-06-30",
        "permit_applied_on": "",
    })  # fmt: skip
    assert response.status_code == 400
    [message] = field_errors(response.text, "sector")
    assert message.startswith("“Sector” cannot change once the project has a case")
    assert snapshot(world) == before


@pytest.mark.parametrize("who", ["rep-ayllu-qollana-1", "facilitator", "auditor"])
def test_only_the_proponents_side_changes_a_project(world, signed_in, community, who):
    browser = signed_in(who)
    page = browser.get(f"/projects/{world.project_id}")
    assert page.status_code == 200
    assert "/edit" not in page.text
    assert 'id="h-history"' in page.text
    assert browser.get(f"/projects/{world.project_id}/edit").status_code == 403
    assert browser.get("/projects/new").status_code == 403


def test_a_project_that_does_not_exist(signed_in):
    assert signed_in("liaison").get("/projects/999999/edit").status_code == 404


@pytest.mark.parametrize("locale", LOCALES)
def test_the_registry_pages_render_in_every_locale(world, app, community, locale):
    pages = {
        "liaison": ["/communities/new", "/projects/new", f"/projects/{world.project_id}/edit",
                    f"/projects/{world.project_id}", "/projects/", "/communities/"],
        "facilitator": ["/communities/ayllu-qollana/edit", "/communities/ayllu-qollana"],
    }  # fmt: skip
    for username, urls in pages.items():
        browser = Browser(app.test_client())
        assert browser.login(username).status_code == 302
        page = browser.get("/")
        switched = browser.client.post(
            "/language", data={"locale": locale, "next": "/", "csrf_token": csrf_token(page.text)}
        )
        assert switched.status_code == 302
        for url in urls:
            response = browser.get(url)
            assert response.status_code == 200, (url, locale)
            assert f'lang="{locale.replace("_", "-")}"' in response.text, url
