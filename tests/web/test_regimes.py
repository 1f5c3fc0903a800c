"""The regimes' templates through the web (issue 18): each template's main path driven through
the JSON API by the person each step belongs to, every form along it rendered for them, and the
State opening a consultation under Peru's law through the open-a-case form."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from fpic.accounts.tokens import create_token
from fpic.workflow.process import shipped_templates
from tests.factories import (
    MAIN_PATHS,
    PASSWORD,
    Community,
    World,
    disclose_everything,
    screen,
    step_data,
)

TEMPLATES = ("pe-consulta-previa-2012", "ifc-ps7-2012", "au-nta-right-to-negotiate",
             "ncip-ao3-2012")  # fmt: skip
END = {
    "pe-consulta-previa-2012": "implementation",
    "ifc-ps7-2012": "implementation",
    "au-nta-right-to-negotiate": "agreement_in_force",
    "ncip-ao3-2012": "implementation",
}


def _username(world: World, community: Community, who: str) -> str:
    return world.walker(who, community).username


@pytest.mark.parametrize("template_id", TEMPLATES)
def test_each_regimes_main_path_runs_through_the_api_and_its_forms(
    app: Flask, world: World, community: Community, signed_in, template_id: str
):
    template = shipped_templates()[template_id]
    case_id = world.open_case(community, template=template_id)
    tokens: dict[str, str] = {}
    for trigger, who in MAIN_PATHS[template_id]:
        if trigger == "@screen":
            screen(world, case_id)
            continue
        if trigger == "@disclose":
            disclose_everything(world, case_id)
            continue
        if trigger == "@wait":
            world.clock.advance(days=31)
            tokens.clear()  # a month later: the tokens made for 30 days have expired
            continue
        actor = world.walker(who, community)
        # the form of the step renders for its person, in the stage it is done at
        page = signed_in(actor.username).client.get(f"/cases/{case_id}/actions/{trigger}")
        assert page.status_code == 200, (trigger, page.status_code)
        if actor.username not in tokens:
            tokens[actor.username] = create_token(
                world.engine, actor, name="regime walk", scope="act", days=30
            ).secret
        body: dict[str, Any] = {
            "version": world.case(case_id).version,
            "data": step_data(world, community, template_id, trigger),
        }
        if trigger in template.triggers and template.triggers[trigger].effect == "decision":
            body["password"] = PASSWORD
        response = app.test_client().post(
            f"/api/v1/cases/{case_id}/actions/{trigger}",
            json=body,
            headers={"Authorization": f"Bearer {tokens[actor.username]}"},
        )
        assert response.status_code == 200, (trigger, response.text[:800])
    assert world.case(case_id).stage == END[template_id]


def test_the_state_opens_a_consultation_in_peru_through_the_form(world, community, signed_in):
    state = signed_in("state-authority")
    form = state.client.get("/cases/new").text
    assert 'value="pe-consulta-previa-2012"' in form
    assert 'value="fpic-general"' not in form  # the proponent's processes are not the State's
    response = state.submit("/cases/new", {
        "reference": "PE-2026-01", "project_id": str(world.project_id),
        "community_id": str(community.id), "template_id": "pe-consulta-previa-2012",
    })  # fmt: skip
    assert response.status_code == 302, response.text[:2000]
    liaison_form = signed_in("liaison").client.get("/cases/new").text
    assert 'value="pe-consulta-previa-2012"' not in liaison_form


def test_an_action_is_called_as_the_template_of_its_case_calls_it(world, community, signed_in):
    """give_consent is the native title parties' agreement in one template and the community's
    consent in another: each case's trail says its own."""
    from tests.factories import case_at

    general = case_at(world, community, "fpic-general", "agreement")
    native_title = case_at(world, community, "au-nta-right-to-negotiate", "deliberation")
    world.clock.advance(days=31)  # the community's deliberation period
    world.act(native_title, "convene_decision", community.rep_actors[0], {"text": "Convened."})
    data = step_data(world, community, "au-nta-right-to-negotiate", "give_consent")
    world.act(native_title, "give_consent", community.rep_actors[0], data)
    auditor = signed_in("auditor")
    nta_title = shipped_templates()["au-nta-right-to-negotiate"].triggers["give_consent"].title
    assert nta_title in auditor.client.get(f"/cases/{native_title}").text.replace("&#39;", "'")
    general_page = auditor.client.get(f"/cases/{general}").text.replace("&#39;", "'")
    assert "Record consent" in general_page
    assert nta_title not in general_page


def test_the_dashboard_lists_a_regimes_limit_and_a_consents_end(world, community, signed_in):
    from datetime import timedelta

    from tests.factories import advance_along, case_at, decision

    peru = world.open_case(community, template="pe-consulta-previa-2012")
    advance_along(world, community, peru, "information")
    world.clock.advance(days=110)  # the 120 days come near: the dashboard looks 14 days ahead
    general = case_at(world, community, "fpic-general", "decision")
    ends = (world.clock.now().date() + timedelta(days=10)).isoformat()
    given = decision(world, community, term_ends_on=ends)
    world.act(general, "give_consent", community.rep_actors[0], given)
    page = signed_in("liaison").client.get("/").text.replace("&#39;", "'")
    assert "Publicity to signing of the acta (stages 3 to 6)" in page
    assert "the community's consent ends" in page
    spanish = signed_in("liaison").client.get("/", headers={"Accept-Language": "es"}).text
    title = "Publicity to signing of the acta (stages 3 to 6)"
    assert title not in spanish  # the limit's title is the template's text, translated
