"""The legal regimes' templates (issue 18): Peru's prior-consultation law, IFC Performance
Standard 7 and the Native Title Act's right to negotiate, driven through the engine; and the
source check every shipped template passes: no time limit without its provision."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from fpic.read.deadlines import deadlines
from fpic.read.queries import is_overdue
from fpic.storage.models import Case
from fpic.workflow.errors import GuardRefused, NotPermitted
from fpic.workflow.limits import add_months, add_working_days, end_of
from fpic.workflow.process import Limit, shipped_templates
from tests.factories import (
    Community,
    World,
    advance_along,
    case_at,
    decision,
    state_decision,
    step_data,
)

PERU, IFC, NTA = "pe-consulta-previa-2012", "ifc-ps7-2012", "au-nta-right-to-negotiate"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "templates"
NOTE = {"text": "Recorded at the meeting."}


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _refused(world: World, case_id: int, trigger: str, actor, data: dict[str, Any]):
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return caught.value


def _activity(world: World) -> dict[str, Any]:
    return {"activity": "drilling", "phase": "exploration",
            "started_on": world.clock.now().date().isoformat()}  # fmt: skip


# --- the source check ------------------------------------------------------------------------


@pytest.mark.parametrize("template_id", sorted(shipped_templates()))
def test_no_shipped_template_has_a_time_limit_without_its_source(template_id):
    template = shipped_templates()[template_id]
    assert template.reconsideration_days is None, "a window is a cited limit now"
    assert all(stage.deadline_days is None for stage in template.stages.values())
    for limit in [*template.limits.values(), *template.grievance_limits.values()]:
        assert limit.exists, f"{template_id}: {limit.name} cites nothing"
        cited = (limit.source if not limit.protocol else limit.default_source) or ""
        assert len(cited.strip()) > 20, f"{template_id}: {limit.name}: {cited!r}"
        if limit.unit == "days":
            assert limit.day_type in ("calendar", "working", "unspecified")


@pytest.mark.parametrize("template_id", sorted(shipped_templates()))
def test_each_template_is_documented_with_every_limit(template_id):
    text = (DOCS / f"{template_id}.md").read_text(encoding="utf-8")
    template = shipped_templates()[template_id]
    assert template.version in text
    for limit in template.limits.values():
        assert limit.name in text or limit.title in text, (template_id, limit.name)


@pytest.mark.parametrize("template_id", sorted(shipped_templates()))
def test_only_the_community_decides_under_every_regime(template_id):
    """The community's decision is its representatives' alone; a State's or an arbitral body's
    act is a state_decision, never a consent."""
    template = shipped_templates()[template_id]
    for trigger in template.triggers.values():
        if trigger.effect in ("decision", "withdrawal", "decline"):
            assert trigger.roles == ("representative",), (template_id, trigger.name)
        if trigger.effect == "state_decision":
            assert "representative" not in trigger.roles, (template_id, trigger.name)
            assert "liaison" not in trigger.roles, (template_id, trigger.name)


# --- counting --------------------------------------------------------------------------------


def _limit(**settings: Any) -> Limit:
    return Limit("x", "x", settings.pop("amount"), settings.pop("unit", "days"),
                 settings.pop("day_type", "calendar"), ("t",), (), "s")  # fmt: skip


def test_days_months_and_working_days_are_counted_as_the_texts_say():
    friday = date(2026, 4, 3)
    assert end_of(_limit(amount=3, day_type="working"), friday, None) == date(2026, 4, 8)
    assert end_of(_limit(amount=15, day_type="unspecified"), friday, None) == date(2026, 4, 18)
    assert end_of(_limit(amount=4, unit="months", day_type=None), date(2026, 10, 31), None) == (
        date(2027, 2, 28)
    )
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_working_days(date(2026, 4, 4), 1) == date(2026, 4, 6)  # a Saturday


# --- Peru: Ley 29785 and D.S. 001-2012-MC ------------------------------------------------------


def test_only_the_state_opens_a_consultation_in_peru(world, community):
    with pytest.raises(NotPermitted) as caught:
        world.engine.open_case(
            world.liaison, project_id=world.project_id, community_id=community.id,
            template_id=PERU, reference="PE-1",
        )  # fmt: skip
    assert _codes(caught.value) == {"not_the_convener"}
    case_id = world.open_case(community, template=PERU)  # the factory opens it as the State
    assert world.case(case_id).stage == "identify_measure"


def test_peru_main_path_ends_in_agreements_in_force_only_after_the_states_decision(
    world, community
):
    case_id = case_at(world, community, PERU, "decision_with_agreement")
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}  # the acta is not the decision (art. 15)
    with pytest.raises(NotPermitted):
        world.act(case_id, "decide_with_agreement", world.liaison, state_decision(world))
    advance_along(world, community, case_id, "implementation")
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))


def test_no_agreement_is_not_a_veto_and_not_a_consent(world, community):
    case_id = case_at(world, community, PERU, "dialogue")
    rep = community.rep_actors[0]
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "record_no_agreement", rep, no)
    acta = step_data(world, community, PERU, "sign_acta_no_agreement")
    world.act(case_id, "sign_acta_no_agreement", rep, acta)
    reasons = {**state_decision(world), "rights_measures": "Monitoring of the river by the ayllu."}
    world.act(case_id, "decide_without_agreement", world.state_authority, reasons)
    assert world.case(case_id).stage == "decided_without_agreement"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}
    world.act(case_id, "reopen_dialogue", world.state_authority, NOTE)
    assert world.case(case_id).stage == "dialogue"


def test_the_120_days_run_from_the_delivery_of_the_measure_and_show_on_the_dashboard(
    world, community
):
    case_id = case_at(world, community, PERU, "publicity")
    delivered = world.clock.now().date() - timedelta(days=5)  # delivered before it was typed in
    delivery = {"notified_on": delivered.isoformat(), "text": "Proposed measure delivered."}
    world.act(case_id, "deliver_proposed_measure", world.state_authority, delivery)
    due = delivered + timedelta(days=120)
    with world.db.read_session() as session:
        shown = [d for d in deadlines(session, world.clock.now(), horizon_days=200)
                 if d.case_id == case_id]  # fmt: skip
    assert [(d.kind, d.due) for d in shown] == [("limit", due)]
    assert "art. 24" in shown[0].params["source"]
    world.clock.advance(days=115)  # the 120th day since the delivery: not yet overdue
    assert not is_overdue(world.case(case_id), world.clock.now())
    world.clock.advance(days=1)
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert is_overdue(case, world.clock.now())


# --- IFC Performance Standard 7 (2012) --------------------------------------------------------


def test_ifc_main_path_needs_the_external_experts_before_disclosure_closes(world, community):
    case_id = case_at(world, community, IFC, "deliberation")  # the experts are on the path
    assert "record_external_experts" in world.case(case_id).milestones
    other = world.open_case(community, template=IFC)
    advance_along(world, community, other, "process_agreement")
    agreed = step_data(world, community, IFC, "agree_protocol")
    world.act(other, "agree_protocol", community.rep_actors[0], agreed)
    refusal = _refused(world, other, "complete_disclosure", world.liaison, {"text": "Done."})
    assert "step_missing" in _codes(refusal)  # PS7 ¶11: external experts
    advance_along(world, community, case_id, "implementation")


def test_informed_consultation_is_never_a_dead_end(world, community):
    far = _far_project(world)
    case_id = world.open_case(community, template=IFC, project_id=far)
    world.act(case_id, "record_project_area", world.liaison, _far_area())
    world.act(case_id, "route_icp_only", world.liaison, NOTE)
    assert world.case(case_id).stage == "icp_consultation"
    # the community says its customary lands are affected after all (PS7 ¶13)
    world.act(case_id, "claim_fpic_circumstance", community.rep_actors[0],
              {"text": "The survey lines cross our grazing land."})  # fmt: skip
    assert world.case(case_id).stage == "engagement_plan"


def test_relocation_without_fpic_means_the_project_does_not_proceed(world, community):
    case_id = case_at(world, community, IFC, "decision")
    rep = community.rep_actors[0]
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", rep, no)
    world.act(case_id, "record_relocation_not_consented", rep, NOTE)
    assert world.case(case_id).stage == "not_proceeding"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert "no_consent_in_force" in _codes(refusal)


# --- Native Title Act 1993, right to negotiate ------------------------------------------------


def _notified(world: World, community: Community, *, expedited: bool = False,
              days_before: int = 0) -> int:  # fmt: skip
    case_id = world.open_case(community, template=NTA)
    world.act(case_id, "record_project_area", world.liaison,
              step_data(world, community, NTA, "record_project_area"))  # fmt: skip
    day = world.clock.now().date() - timedelta(days=days_before)
    notice = {"notified_on": day.isoformat(), "text": "s 29 notice given and published."}
    trigger = "give_s29_notice_expedited" if expedited else "give_s29_notice"
    world.act(case_id, trigger, world.state_authority, notice)
    assert world.case(case_id).milestones[trigger] == day.isoformat()
    return case_id


def test_an_objection_comes_within_four_months_of_the_notification_day(world, community):
    """s 32(3): counted from the day the notice names, not the day it was recorded."""
    late = _notified(world, community, expedited=True, days_before=30)
    world.clock.advance(days=95)  # four months and a few days after the notification day
    objection = {"text": "The expedited procedure does not fit: sites of significance."}
    refusal = _refused(world, late, "object_to_expedited_procedure", community.rep_actors[0],
                       objection)  # fmt: skip
    assert _codes(refusal) == {"limit_passed"}
    in_time = _notified(world, community, expedited=True)
    world.clock.advance(days=100)
    world.act(in_time, "object_to_expedited_procedure", community.rep_actors[0], objection)
    assert world.case(in_time).stage == "expedited_inquiry"


def test_arbitration_is_open_only_six_months_after_the_notification_day(world, community):
    case_id = _notified(world, community)
    application = {"notified_on": world.clock.now().date().isoformat(),
                   "text": "Application under s 35: no agreement."}  # fmt: skip
    world.clock.advance(days=150)
    application["notified_on"] = world.clock.now().date().isoformat()
    refusal = _refused(world, case_id, "apply_for_determination", world.liaison, application)
    assert _codes(refusal) == {"limit_running"}
    world.clock.advance(days=40)
    application["notified_on"] = world.clock.now().date().isoformat()
    world.act(case_id, "apply_for_determination", world.liaison, application)
    assert world.case(case_id).stage == "arbitral_inquiry"
    # a determination that the act may be done is not the community's consent (s 38)
    may = state_decision(world, body="National Native Title Tribunal")
    world.act(case_id, "determine_act_may_be_done", world.state_authority, may)
    assert world.case(case_id).stage == "act_may_be_done"
    assert not shipped_templates()[NTA].stages["act_may_be_done"].consent_in_force
    # s 42: a Minister may overrule within two months of the determination, not after
    world.clock.advance(days=62)
    refusal = _refused(world, case_id, "overrule_determination", world.state_authority,
                       state_decision(world, body="Commonwealth Minister"))  # fmt: skip
    assert _codes(refusal) == {"limit_passed"}


def test_the_native_title_partys_agreement_is_the_only_consent(world, community):
    case_id = case_at(world, community, NTA, "agreement_in_force")
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert [d.outcome for d in case.decisions] == ["CONSENT"]
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))


# --- helpers -----------------------------------------------------------------------------


def _far_project(world: World) -> int:
    from fpic.accounts.registry import add_project

    return add_project(world.engine, world.admin, {
        "name": "Salar sur survey", "proponent": "Litio Andino S.R.L.",
        "phases": ["survey"], "activities": ["seismic_lines"],
    })  # fmt: skip


def _far_area() -> dict[str, Any]:
    from tests.factories import PROJECT_AREA, project_area

    moved = "\n".join(f"{float(x) + 2:.2f}, {y}" for x, y in (
        line.split(", ") for line in PROJECT_AREA.splitlines()
    ))  # fmt: skip
    return project_area(coordinates=moved)


def test_a_closed_window_is_never_overdue_and_a_door_opens_the_day_after(world, community):
    """A community that said no is not late: the reconsideration window closes and leaves the
    lists; the State's "no objection" waits until the day after the community's four months."""
    from fpic.storage.models import Case as Stored

    general = world.open_case(community)
    from tests.factories import walk_to

    walk_to(world, general, "decision", community)
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(general, "withhold_consent", community.rep_actors[0], no)
    world.clock.advance(days=40)
    with world.db.read_session() as session:
        stored = session.get(Stored, general)
        assert stored is not None
        assert not is_overdue(stored, world.clock.now())
        shown = deadlines(session, world.clock.now(), horizon_days=60)
    assert [d for d in shown if d.case_id == general] == []
    expedited = _notified(world, community, expedited=True)
    last_day = add_months(world.clock.now().date(), 4)
    world.clock.advance(days=(last_day - world.clock.now().date()).days)
    cleared = {"text": "No objection was lodged."}
    refusal = _refused(world, expedited, "record_no_objection", world.state_authority, cleared)
    assert _codes(refusal) == {"limit_running"}
    assert refusal.reasons[0].params["ends"] == (last_day + timedelta(days=1)).isoformat()
    objection = {"text": "Lodged on the last day of the four months."}
    world.act(expedited, "object_to_expedited_procedure", community.rep_actors[0], objection)
