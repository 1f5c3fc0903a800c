"""Whose turn it is and what comes next: the case page's main step, the dashboard's and the
list's "waiting for me", the dates people plan by and the calendar, and disclosing several
items in one form."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from fpic.storage.models import Disclosure, TrailEvent, User
from fpic.workflow.process import shipped_templates
from tests.factories import World, business_rows, protocol, walk_to
from tests.web.conftest import table_rows

GENERAL = shipped_templates()["fpic-general"]


def section(page: str, start: str, end: str = "</section>") -> str:
    at = page.index(start)
    return page[at : page.index(end, at)]


@pytest.fixture
def at_disclosure(world: World, community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    return case_id


def test_at_mapping_the_liaison_is_told_it_is_the_communitys_turn(world, community, signed_in):
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    page = signed_in("liaison").get(f"/cases/{case_id}").text
    next_step = section(page, 'id="h-next"')
    assert "community representative" in next_step
    # the mandated representatives by name: the person, where known
    with world.db.read_session() as db:
        name = db.scalar(
            select(User.display_name).where(User.username == f"rep-{community.slug}-1")
        )
    assert name
    assert name in next_step
    assert "Complete participatory mapping" in next_step
    assert "not yours to take" in next_step


def test_the_representative_sees_the_main_step_marked_as_primary(world, community, signed_in):
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    page = signed_in(community.rep_actors[0].username).get(f"/cases/{case_id}").text
    main = section(page, 'id="h-next"')
    assert re.search(
        rf'<a class="button primary" href="/cases/{case_id}/actions/complete_mapping">', main
    )


def test_at_the_decision_every_decision_is_the_main_step_withholding_included(
    world, community, signed_in
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    page = signed_in(community.rep_actors[0].username).get(f"/cases/{case_id}").text
    main = section(page, 'id="h-next"')
    for trigger in ("give_consent", "withhold_consent", "defer_decision"):
        assert f"/actions/{trigger}" in main, trigger


def test_the_deliberation_end_is_a_date_to_plan_by_until_it_passes(world, community, signed_in):
    proto = protocol(min_deliberation_days=45)
    case_id = world.open_case(community)
    walk_to(world, case_id, "deliberation", community, proto=proto)
    liaison = signed_in("liaison")
    page = liaison.get(f"/cases/{case_id}").text
    dates = section(page, 'id="h-next"')
    assert "minimum deliberation period ends" in dates
    assert "The community may decide from" in page  # in the protocol box too
    # on the dashboard, the calendar and the command line too
    assert "minimum deliberation period ends" in liaison.get("/").text
    assert "minimum deliberation period ends" in liaison.get("/calendar?days=400").text


def test_the_calendar_groups_dates_by_month_in_the_readers_language(world, community, signed_in):
    proto = protocol(min_deliberation_days=45)
    case_id = world.open_case(community)
    walk_to(world, case_id, "deliberation", community, proto=proto)
    liaison = signed_in("liaison")
    page = liaison.get("/calendar").text
    assert re.search(r"<h2 id=\"h-\d{4}-\d{1,2}\">[A-Z][a-z]+ \d{4}</h2>", page)
    spanish = liaison.get("/calendar", headers={"Accept-Language": "es"})
    assert spanish.status_code == 200
    assert "días" in spanish.text or "Calendario" in spanish.text or "de 20" in spanish.text
    for bad in ("days=-5", "days=zzz", "days=99999"):
        assert liaison.get(f"/calendar?{bad}").status_code in (200, 400)


def test_waiting_for_me_is_complete_and_paginated(world, community, signed_in):
    cases = [world.open_case(community) for _ in range(13)]
    for case_id in cases:
        walk_to(world, case_id, "mapping", community)
    rep = signed_in(community.rep_actors[0].username)
    dashboard = rep.get("/").text
    waiting = section(dashboard, 'id="waiting"')
    assert len(re.findall(r'href="/cases/\d+"', waiting)) == 10
    assert "All 13 cases waiting for you" in waiting
    listed: set[str] = set()
    for page in (1, 2):
        html = rep.get(f"/cases/?waiting=1&page={page}").text
        listed |= {row[0] for row in table_rows(html) if len(row) == 6}
    assert len(listed) == 13
    # the liaison waits on none of them: it is the community's turn
    html = signed_in("liaison").get("/cases/?waiting=1").text
    assert not [c for c in cases if f'href="/cases/{c}"' in html]


def test_waiting_for_me_leaves_out_another_communitys_cases(
    world, community, other_community, signed_in
):
    mine = world.open_case(community)
    theirs = world.open_case(other_community)
    for case_id, c in ((mine, community), (theirs, other_community)):
        walk_to(world, case_id, "mapping", c)
    html = signed_in(community.rep_actors[0].username).get("/cases/?waiting=1").text
    assert f'href="/cases/{mine}"' in html
    assert f'href="/cases/{theirs}"' not in html


def test_grievance_steps_are_left_out_while_there_is_no_grievance(at_disclosure, signed_in):
    page = signed_in("liaison").get(f"/cases/{at_disclosure}").text
    actions = section(page, 'id="h-actions"')
    assert "/actions/lodge_grievance" in actions  # anyone may lodge one
    for step in ("acknowledge_grievance", "assess_grievance", "respond_to_grievance"):
        assert f"/actions/{step}" not in page
    assert "Grievances and conditions" in actions
    assert "Exceptional steps" in actions


# --- several disclosures in one form -------------------------------------------------------


def test_one_form_registers_every_missing_item_in_every_agreed_cell(
    world, at_disclosure, signed_in
):
    liaison = signed_in("liaison")
    form = liaison.get(f"/cases/{at_disclosure}/actions/register_disclosures").text
    # every required item is offered ticked, and the agreed languages and formats too
    ticked = re.findall(r'<input checked[^>]*name="items"[^>]*value="(\w+)"', form) or re.findall(
        r'<input[^>]*name="items"[^>]*value="(\w+)"[^>]*checked', form
    )
    assert set(ticked) == set(GENERAL.required_disclosure_items), ticked
    events_before = _events(world, at_disclosure)
    response = liaison.submit(
        f"/cases/{at_disclosure}/actions/register_disclosures",
        {
            "items": list(GENERAL.required_disclosure_items),
            "languages": ["qu", "es"],
            "formats": ["written", "oral"],
            "title": "Willakuy p'anqa",
            "channel": "Community hall",
            "disclosed_on": world.clock.now().date().isoformat(),
            "translator": "Rosa Mamani",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    with world.db.read_session() as db:
        cells = db.scalars(select(Disclosure).where(Disclosure.case_id == at_disclosure)).all()
    current = {(d.item, d.language, d.format) for d in cells if d.superseded_at is None}
    assert len(current) == len(GENERAL.required_disclosure_items) * 4
    # one action, one event
    assert _events(world, at_disclosure) == events_before + 1
    page = liaison.get(f"/cases/{at_disclosure}").text
    assert "Disclosure is incomplete" not in section(page, 'id="h-next"')


def test_a_package_naming_an_unknown_item_writes_nothing(world, at_disclosure, signed_in):
    liaison = signed_in("liaison")
    before = business_rows(world)
    response = liaison.submit(
        f"/cases/{at_disclosure}/actions/register_disclosures",
        {
            "items": ["nature_scope_and_pace", "gold_in_the_hills"],
            "languages": ["qu"],
            "formats": ["written"],
            "title": "x",
            "channel": "radio",
            "disclosed_on": world.clock.now().date().isoformat(),
        },
    )
    assert response.status_code == 400
    assert business_rows(world) == before  # the refusal is on the trail, nothing else


def test_a_package_disclosed_in_the_future_is_refused(world, at_disclosure, signed_in):
    tomorrow = world.clock.now().date() + timedelta(days=1)
    response = signed_in("liaison").submit(
        f"/cases/{at_disclosure}/actions/register_disclosures",
        {
            "items": ["nature_scope_and_pace"],
            "languages": ["qu"],
            "formats": ["written"],
            "title": "x",
            "channel": "radio",
            "disclosed_on": tomorrow.isoformat(),
        },
    )
    assert response.status_code == 400


def _events(world: World, case_id: int) -> int:
    with world.db.read_session() as db:
        return (
            db.scalar(
                select(func.count()).select_from(TrailEvent).where(TrailEvent.case_id == case_id)
            )
            or 0
        )
