"""Changing a register entry (issue #20, part 5): a community's entry only by the community's
side, a project by the proponent's; every change an event with each changed field's old and new
value; a refusal or a change that changes nothing leaves every business row as it was."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fpic.accounts.registry import add_project, edit_community, edit_project
from fpic.storage.models import Community, Project, TrailEvent
from fpic.trail import audit
from fpic.workflow.actors import Actor
from fpic.workflow.errors import FpicError, InvalidData, NotPermitted
from tests.factories import Community as Registered
from tests.factories import World, business_rows


def _codes(error: FpicError) -> set[str]:
    return {r.code for r in error.reasons}


def _entry(world: World, model: Any, row_id: int) -> dict[str, Any]:
    """Every column of a register row, to compare before and after."""
    with world.db.read_session() as session:
        row = session.get(model, row_id)
        assert row is not None
        return {c.key: getattr(row, c.key) for c in model.__table__.columns}


def _done(world: World, action: str) -> list[dict[str, Any]]:
    with world.db.read_session() as session:
        events = session.scalars(
            select(TrailEvent)
            .where(
                TrailEvent.chain == audit.SYSTEM_CHAIN,
                TrailEvent.action == action,
                TrailEvent.outcome == "done",
            )
            .order_by(TrailEvent.seq)
        )
        return [json.loads(e.data) for e in events]


def _trail_done(world: World) -> int:
    with world.db.read_session() as session:
        return session.scalar(select(func.count()).where(TrailEvent.outcome == "done")) or 0


def _unchanged(world: World, model: Any, row_id: int, attempt: Any) -> FpicError:
    """Run a refused ``attempt``; nothing but its refused event is written."""
    rows, entry, done = business_rows(world), _entry(world, model, row_id), _trail_done(world)
    with pytest.raises(FpicError) as caught:
        attempt()
    assert business_rows(world) == rows
    assert _entry(world, model, row_id) == entry
    assert _trail_done(world) == done
    return caught.value


# --- a community's entry is the community's --------------------------------------------------


def test_the_facilitator_of_its_case_changes_the_institution_and_languages(world, community):
    before = _entry(world, Community, community.id)
    changes = edit_community(
        world.engine, world.facilitator, community.id,
        {"institution": "Council of elders", "content_languages": ["qu", "es", "ay"],
         "name": before["name"]},
    )  # fmt: skip
    expected = {
        "institution": {"from": "Community assembly", "to": "Council of elders"},
        "content_languages": {"from": ["qu", "es"], "to": ["qu", "es", "ay"]},
    }
    assert changes == expected  # the name was sent as it was: not a change
    after = _entry(world, Community, community.id)
    assert (after["institution"], after["content_languages"]) == (
        "Council of elders",
        ["qu", "es", "ay"],
    )
    assert after["name"] == before["name"]
    assert after["slug"] == before["slug"]
    [event] = _done(world, "edit_community")
    assert event == {"community_id": community.id, "slug": "ayllu-qollana", "changes": expected}


def test_a_mandated_representative_of_the_community_changes_its_entry(world, community):
    rep = community.rep_actors[0]
    edit_community(world.engine, rep, community.id, {"name": "Ayllu Qollana de Cusco"})
    assert _entry(world, Community, community.id)["name"] == "Ayllu Qollana de Cusco"
    [event] = _done(world, "edit_community")
    assert event["changes"] == {"name": {"from": "Ayllu Qollana", "to": "Ayllu Qollana de Cusco"}}


@pytest.mark.parametrize("who", ["liaison", "admin", "auditor", "state_authority", "mediator"])
def test_the_proponent_and_others_cannot_rewrite_a_community(world, community, who):
    """The liaison proposed the community; its institution is not theirs to change."""
    actor: Actor = getattr(world, who)
    refused = _unchanged(
        world, Community, community.id,
        lambda: edit_community(world.engine, actor, community.id, {"institution": "Friendly"}),
    )  # fmt: skip
    assert isinstance(refused, NotPermitted)
    assert _codes(refused) == {"role_not_allowed"}
    with world.db.read_session() as session:
        last = session.scalars(select(TrailEvent).order_by(TrailEvent.id.desc())).first()
    assert last is not None
    assert (last.action, last.outcome, last.actor) == ("edit_community", "refused", actor.username)


def test_only_the_communitys_own_mandated_people_may(world, community):
    today = world.clock.now().date()
    lapsed_rep = world.register_representative(
        community, "Lapsed", today - timedelta(days=400), today - timedelta(days=1)
    )
    lapsed = world.add_account("rep-lapsed", "representative", lapsed_rep)
    stranger = world.add_account("facilitator-2", "facilitator")
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    for actor, code in [
        (lapsed, "no_valid_mandate"),
        (stranger, "not_community_facilitator"),
        (other.rep_actors[0], "not_community_representative"),
    ]:
        refused = _unchanged(
            world, Community, community.id,
            lambda a=actor: edit_community(world.engine, a, community.id, {"region": "Elsewhere"}),
        )  # fmt: skip
        assert _codes(refused) == {code}, actor.username


def test_a_change_that_changes_nothing_writes_nothing(world, community):
    entry = _entry(world, Community, community.id)
    done = _trail_done(world)
    same = {k: entry[k] for k in ("name", "region", "country", "institution", "content_languages")}
    assert edit_community(world.engine, world.facilitator, community.id, same) == {}
    assert edit_community(world.engine, world.facilitator, community.id, {}) == {}
    assert _trail_done(world) == done
    with world.db.read_session() as session:
        assert (
            session.scalar(select(func.count()).where(TrailEvent.action == "edit_community")) == 0
        )


def test_nobody_without_standing_learns_anything_from_a_change_of_nothing(world, community):
    """Who may comes first: a change of nothing by the liaison is still refused."""
    entry = _entry(world, Community, community.id)
    refused = _unchanged(
        world, Community, community.id,
        lambda: edit_community(world.engine, world.liaison, community.id, {"name": entry["name"]}),
    )  # fmt: skip
    assert _codes(refused) == {"role_not_allowed"}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "Ayllu\u202eQollana"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"region": "x" * 201}, "region"),
        ({"institution": "x" * 301}, "institution"),
        ({"country": "PER"}, "country"),
        ({"country": "P1"}, "country"),
        ({"content_languages": []}, "content_languages"),
        ({"content_languages": ["Quechua"]}, "content_languages"),
        ({"slug": "another-address"}, "slug"),
        ({"representatives": []}, "representatives"),
    ],
)
def test_bad_data_is_refused_naming_the_field_and_nothing_is_written(world, community, data, field):
    refused = _unchanged(
        world, Community, community.id,
        lambda: edit_community(world.engine, world.facilitator, community.id, data),
    )  # fmt: skip
    assert isinstance(refused, InvalidData)
    assert refused.field == field


def test_a_community_that_does_not_exist(world, community):
    with pytest.raises(InvalidData) as caught:
        edit_community(world.engine, world.facilitator, 999_999, {"name": "X"})
    assert caught.value.field == "community_id"


# --- a project is the proponent's description --------------------------------------------------


def _new_project(world: World, **more: Any) -> int:
    return add_project(
        world.engine, world.liaison,
        {"name": "Wind farm", "proponent": "Viento S.A.", "phases": ["construction"],
         "activities": ["turbines"], "sector": "energy", **more},
    )  # fmt: skip


@pytest.mark.parametrize("who", ["liaison", "admin"])
def test_the_proponent_changes_its_project(world, who):
    project_id = _new_project(world, design_freeze_on="2027-01-31")
    changes = edit_project(
        world.engine, getattr(world, who), project_id,
        {"description": "Twelve turbines on the ridge.", "design_freeze_on": "2027-06-30",
         "permit_applied_on": "", "sector": "energy", "phases": "construction, operation"},
    )  # fmt: skip
    expected = {
        "description": {"from": "", "to": "Twelve turbines on the ridge."},
        "design_freeze_on": {"from": "2027-01-31", "to": "2027-06-30"},
        "phases": {"from": ["construction"], "to": ["construction", "operation"]},
    }
    assert changes == expected
    after = _entry(world, Project, project_id)
    assert after["design_freeze_on"] == date(2027, 6, 30)
    assert after["phases"] == ["construction", "operation"]
    [event] = _done(world, "edit_project")
    assert event == {"project_id": project_id, "changes": expected}


def test_a_date_is_cleared_and_the_sector_changed_while_no_case_rests_on_them(world):
    project_id = _new_project(world, permit_applied_on="2027-03-01")
    changes = edit_project(
        world.engine, world.liaison, project_id, {"permit_applied_on": "", "sector": "mining"}
    )
    assert changes == {
        "permit_applied_on": {"from": "2027-03-01", "to": None},
        "sector": {"from": "energy", "to": "mining"},
    }
    after = _entry(world, Project, project_id)
    assert (after["permit_applied_on"], after["sector"]) == (None, "mining")


@pytest.mark.parametrize("who", ["facilitator", "auditor", "state_authority", "mediator"])
def test_others_cannot_change_a_project(world, who):
    project_id = _new_project(world)
    refused = _unchanged(
        world, Project, project_id,
        lambda: edit_project(world.engine, getattr(world, who), project_id, {"name": "Other"}),
    )  # fmt: skip
    assert _codes(refused) == {"role_not_allowed"}


def test_a_representative_cannot_change_a_project(world, community: Registered):
    refused = _unchanged(
        world, Project, world.project_id,
        lambda: edit_project(world.engine, community.rep_actors[0], world.project_id,
                             {"name": "Other"}),
    )  # fmt: skip
    assert _codes(refused) == {"role_not_allowed"}


def test_what_its_cases_rest_on_stays_once_the_project_has_a_case(world, community: Registered):
    """The community fixture opened a case of the world's project: its sector decides the
    World Heritage rule, and its cases' decisions and areas name its phases and activities."""
    project_id = world.project_id
    for data, field in [
        ({"sector": "conservation"}, "sector"),
        ({"phases": ["construction", "operation"]}, "phases"),  # exploration dropped
        ({"activities": "drilling, camp"}, "activities"),  # access_road and open_pit dropped
    ]:
        refused = _unchanged(
            world, Project, project_id,
            lambda d=data: edit_project(world.engine, world.liaison, project_id, d),
        )  # fmt: skip
        assert isinstance(refused, InvalidData)
        assert refused.field == field
    grown = ["exploration", "construction", "operation", "closure"]
    assert edit_project(world.engine, world.liaison, project_id, {"phases": grown}) == {
        "phases": {"from": grown[:3], "to": grown}
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"proponent": "x" * 201}, "proponent"),
        ({"sector": "fishing"}, "sector"),
        ({"design_freeze_on": "31/12/2027"}, "design_freeze_on"),
        ({"permit_applied_on": "1800-01-01"}, "permit_applied_on"),
        ({"phases": [1, 2]}, "phases"),
        ({"legacy_site": "old-workings"}, "legacy_site"),
    ],
)
def test_bad_project_data_is_refused_naming_the_field(world, data, field):
    project_id = _new_project(world)
    refused = _unchanged(
        world, Project, project_id,
        lambda: edit_project(world.engine, world.liaison, project_id, data),
    )  # fmt: skip
    assert isinstance(refused, InvalidData)
    assert refused.field == field


def test_a_project_that_does_not_exist(world):
    with pytest.raises(InvalidData) as caught:
        edit_project(world.engine, world.liaison, 999_999, {"name": "X"})
    assert caught.value.field == "project_id"


# --- the same on PostgreSQL ----------------------------------------------------------------------


@pytest.mark.postgres
def test_changes_history_and_refusals_on_postgresql(pg_world: World):
    """A longer name than its column would stop PostgreSQL (not SQLite): refused by name first;
    the JSON list of languages compares as a list; the history reads the changes back."""
    from fpic.read.registry import community_history

    world = pg_world
    community = world.add_community("ayllu-qollana", ["qu", "es"], reps=1)
    refused = _unchanged(
        world, Community, community.id,
        lambda: edit_community(world.engine, world.facilitator, community.id, {"name": "x" * 201}),
    )  # fmt: skip
    assert isinstance(refused, InvalidData)
    assert refused.field == "name"
    same = {"content_languages": ["qu", "es"]}
    assert edit_community(world.engine, world.facilitator, community.id, same) == {}
    changes = edit_community(
        world.engine, community.rep_actors[0], community.id,
        {"content_languages": ["qu"], "institution": "Council"},
    )  # fmt: skip
    assert set(changes) == {"content_languages", "institution"}
    with world.db.read_session() as session:
        [latest, *_] = community_history(session, world.auditor, community.id)
    assert [(c.field, c.old, c.new) for c in latest.changes] == [
        ("institution", "Community assembly", "Council"),
        ("content_languages", ["qu", "es"], ["qu"]),
    ]
    project_id = _new_project(world, design_freeze_on="2027-01-31")
    assert edit_project(world.engine, world.admin, project_id, {"design_freeze_on": ""}) == {
        "design_freeze_on": {"from": "2027-01-31", "to": None}
    }
    assert _entry(world, Project, project_id)["design_freeze_on"] is None
