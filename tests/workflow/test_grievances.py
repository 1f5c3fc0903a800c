"""The grievance mechanism and the conditions register driven through the engine (domain.md
§5, §6): intake in any language and anonymously, known steps with time limits, escalation to an
independent mediator, the retaliation check, integrity grievances that block or invalidate, and
conditions kept, met or declared breached."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from fpic.read.deadlines import deadlines
from fpic.read.figures import grievance_figures
from fpic.storage.models import Case, Condition, Grievance
from fpic.workflow.errors import GuardRefused, InvalidData, NotFound, NotPermitted
from fpic.workflow.process import shipped_templates
from tests.factories import Community, World, decision, protocol, walk_to

NOTE = {"text": "Recorded by the field team."}


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


def _case_at(world: World, community: Community, stage: str) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, stage, community)
    return case_id


def _lodge(world: World, case_id: int, actor: Any, **overrides: Any) -> int:
    data = {
        "category": "impacts",
        "channel": "oral",
        "anonymous": False,
        "complainant": "Juana Quispe",
        "language": "qu",
        "text": "Mayupi yaku qhillichakun, uywakuna unquchkanku.",
        "received_on": _today(world),
        **overrides,
    }
    return world.act(case_id, "lodge_grievance", actor, data).records["grievance_id"]


def _grievance(world: World, grievance_id: int) -> Grievance:
    with world.db.read_session() as session:
        grievance = session.get(Grievance, grievance_id)
        assert grievance is not None
        return grievance


def _field(error: pytest.ExceptionInfo[InvalidData]) -> str:
    return error.value.field


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _walk_grievance(world: World, case_id: int, grievance_id: int, upheld: bool) -> None:
    liaison = world.liaison
    gid = {"grievance_id": grievance_id}
    world.act(case_id, "acknowledge_grievance", liaison, {**gid, "text": "Received; we visit."})
    world.act(
        case_id,
        "assess_grievance",
        liaison,
        {**gid, "assessment": "Turbidity confirmed downstream.", "upheld": upheld},
    )
    world.act(
        case_id, "respond_to_grievance", liaison, {**gid, "text": "Silt fences, water tankers."}
    )


# --- the steps -------------------------------------------------------------------------------


def test_a_grievance_goes_through_every_step_and_is_closed_after_the_retaliation_check(
    world, community
):
    case_id = _case_at(world, community, "monitoring")
    rep = community.rep_actors[1]
    grievance_id = _lodge(world, case_id, rep, channel="through_representative")
    assert _grievance(world, grievance_id).status == "received"
    _walk_grievance(world, case_id, grievance_id, upheld=True)
    closing = {
        "grievance_id": grievance_id,
        "resolution": "Water clear again after four weeks; tankers stopped.",
        "complainant_satisfied": "yes",
    }
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "close_grievance", world.liaison, closing)
    assert _codes(caught.value) == {"retaliation_not_checked"}
    world.act(
        case_id,
        "check_retaliation",
        rep,
        {"grievance_id": grievance_id, "retaliation_found": False, "note": "Visited her family."},
    )
    world.act(case_id, "close_grievance", world.liaison, closing)
    grievance = _grievance(world, grievance_id)
    assert (grievance.status, grievance.upheld, grievance.complainant_satisfied) == (
        "closed",
        True,
        True,
    )
    assert grievance.text == "Mayupi yaku qhillichakun, uywakuna unquchkanku."
    assert world.case(case_id).stage == "monitoring"


@pytest.mark.parametrize(
    ("trigger", "data"),
    [
        ("assess_grievance", {"assessment": "Too early.", "upheld": False}),
        ("respond_to_grievance", {"text": "Too early."}),
        ("close_grievance", {"resolution": "Too early.", "complainant_satisfied": "yes"}),
    ],
)
def test_steps_cannot_be_skipped(world, community, trigger, data):
    case_id = _case_at(world, community, "negotiation")
    grievance_id = _lodge(world, case_id, world.liaison)
    version = world.case(case_id).version
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, trigger, world.liaison, {"grievance_id": grievance_id, **data})
    assert _field(caught) == "grievance_id"
    assert caught.value.reasons[0].params["step"] == "received"
    assert world.case(case_id).version == version
    assert _grievance(world, grievance_id).status == "received"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"anonymous": True}, "complainant"),
        ({"complainant": ""}, "complainant"),
        ({"category": "noise"}, "category"),
        ({"channel": "carrier pigeon"}, "channel"),
        ({"language": "Quechua"}, "language"),
        ({"received_on": "2099-01-01"}, "received_on"),
        ({"received_on": "0001-01-01"}, "received_on"),
        ({"received_on": "1899-12-31"}, "received_on"),
        ({"complainant": "Juana\u202eepsiuQ"}, "complainant"),
        ({"complainant": "Juana\u200bQuispe"}, "complainant"),
        ({"condition_id": 777}, "condition_id"),
        ({"text": "  "}, "text"),
    ],
)
def test_bad_intake_is_refused_with_the_field_named(world, community, overrides, field):
    case_id = _case_at(world, community, "disclosure")
    with pytest.raises(InvalidData) as caught:
        _lodge(world, case_id, world.liaison, **overrides)
    assert _field(caught) == field
    with world.db.read_session() as session:
        assert session.query(Grievance).count() == 0


def test_anonymous_intake_keeps_no_name(world, community):
    case_id = _case_at(world, community, "deliberation")
    grievance_id = _lodge(
        world,
        case_id,
        community.rep_actors[0],
        anonymous=True,
        complainant="",
        channel="anonymous_box",
    )
    grievance = _grievance(world, grievance_id)
    assert grievance.anonymous
    assert grievance.complainant is None


def test_who_may_do_what_with_a_grievance(world, community):
    case_id = _case_at(world, community, "monitoring")
    with pytest.raises(NotPermitted):
        _lodge(world, case_id, world.auditor)
    with pytest.raises(NotPermitted):
        _lodge(world, case_id, world.admin)
    grievance_id = _lodge(world, case_id, community.rep_actors[0])
    with pytest.raises(NotPermitted):
        world.act(
            case_id,
            "acknowledge_grievance",
            community.rep_actors[0],
            {"grievance_id": grievance_id, "text": "Received."},
        )
    stranger = world.add_community("uma-jaqi", ["ay", "es"], reps=1)
    with pytest.raises(NotFound):
        _lodge(world, case_id, stranger.rep_actors[0])


# --- escalation ------------------------------------------------------------------------------


def test_an_unsatisfied_complainant_can_take_it_to_a_mediator_once(world, community):
    case_id = _case_at(world, community, "monitoring")
    grievance_id = _lodge(world, case_id, world.liaison, category="benefit_distribution")
    _walk_grievance(world, case_id, grievance_id, upheld=False)
    gid = {"grievance_id": grievance_id}
    world.act(
        case_id,
        "check_retaliation",
        world.liaison,
        {**gid, "retaliation_found": False, "note": "No reprisals reported."},
    )
    world.act(
        case_id,
        "close_grievance",
        world.liaison,
        {**gid, "resolution": "Fund shared by household.", "complainant_satisfied": "no"},
    )
    rep = community.rep_actors[0]
    mediation = {**gid, "mediator": "Defensoría del Pueblo, Cusco office", "text": "Unequal."}
    world.act(case_id, "escalate_grievance", rep, mediation)
    grievance = _grievance(world, grievance_id)
    assert (grievance.status, grievance.mediator) == ("escalated", mediation["mediator"])
    assert grievance.closed_at is None
    with pytest.raises(InvalidData):
        world.act(case_id, "escalate_grievance", rep, mediation)
    world.act(case_id, "respond_to_grievance", world.liaison, {**gid, "text": "Mediated split."})
    world.act(
        case_id,
        "close_grievance",
        rep,
        {**gid, "resolution": "Split agreed by mediation.", "complainant_satisfied": "yes"},
    )
    assert _grievance(world, grievance_id).complainant_satisfied is True


def test_a_satisfied_closure_cannot_be_escalated(world, community):
    case_id = _case_at(world, community, "monitoring")
    grievance_id = _lodge(world, case_id, world.liaison)
    _walk_grievance(world, case_id, grievance_id, upheld=True)
    gid = {"grievance_id": grievance_id}
    world.act(
        case_id,
        "check_retaliation",
        world.liaison,
        {**gid, "retaliation_found": False, "note": "-"},
    )
    world.act(
        case_id,
        "close_grievance",
        world.liaison,
        {**gid, "resolution": "Fixed.", "complainant_satisfied": "yes"},
    )
    with pytest.raises(InvalidData) as caught:
        world.act(
            case_id, "escalate_grievance", world.liaison, {**gid, "mediator": "X", "text": "Y"}
        )
    assert _field(caught) == "grievance_id"


# --- integrity -------------------------------------------------------------------------------


def test_an_unassessed_integrity_grievance_blocks_the_decision(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    grievance_id = _lodge(
        world,
        case_id,
        rep,
        category="process_integrity",
        text="Two leaders were promised jobs for their vote.",
    )
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "give_consent", rep, decision(world, community))
    assert _codes(caught.value) == {"open_integrity_grievance"}
    world.act(
        case_id,
        "acknowledge_grievance",
        world.liaison,
        {"grievance_id": grievance_id, "text": "Received."},
    )
    world.act(
        case_id,
        "assess_grievance",
        world.ensure_independent(case_id, community, "mediator"),
        {"grievance_id": grievance_id, "assessment": "No promise was made.", "upheld": False},
    )
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "agreement"


def test_an_upheld_integrity_grievance_can_invalidate_the_process(world, community):
    case_id = _case_at(world, community, "monitoring")
    rep = community.rep_actors[0]
    with pytest.raises(GuardRefused):
        world.act(case_id, "invalidate_process", rep, NOTE)
    grievance_id = _lodge(world, case_id, rep, category="process_integrity")
    world.act(
        case_id,
        "acknowledge_grievance",
        world.liaison,
        {"grievance_id": grievance_id, "text": "Received."},
    )
    world.act(
        case_id,
        "assess_grievance",
        world.ensure_independent(case_id, community, "mediator"),
        {"grievance_id": grievance_id, "assessment": "Vote buying proven.", "upheld": True},
    )
    world.act(case_id, "invalidate_process", rep, {"text": "Consent obtained by vote buying."})
    assert world.case(case_id).stage == "invalidated"


def test_an_upheld_impacts_grievance_does_not_invalidate(world, community):
    case_id = _case_at(world, community, "monitoring")
    grievance_id = _lodge(world, case_id, world.liaison)
    _walk_grievance(world, case_id, grievance_id, upheld=True)
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "invalidate_process", community.rep_actors[0], NOTE)
    assert _codes(caught.value) == {"no_upheld_finding"}


# --- time limits and figures -----------------------------------------------------------------


def test_each_open_step_has_a_due_date_and_overdue_ones_show(world, community):
    case_id = _case_at(world, community, "monitoring")
    grievance_id = _lodge(world, case_id, world.liaison)
    received = world.clock.now().date()
    with world.db.read_session() as session:
        due = [d for d in deadlines(session, world.clock.now()) if d.kind == "grievance"]
    # the general template's defaults, each citing its origin: 5 and 15 days, none after
    assert [(d.due, d.case_id) for d in due] == [(received + timedelta(days=5), case_id)]
    world.clock.advance(days=6)
    with world.db.read_session() as session:
        [late] = [d for d in deadlines(session, world.clock.now()) if d.kind == "grievance"]
        assert late.overdue_on(world.clock.now().date())
        figures = grievance_figures(session, world.clock.now(), case_id=case_id)
    assert (figures.total, figures.open, figures.overdue) == (1, 1, 1)
    world.act(
        case_id,
        "acknowledge_grievance",
        world.liaison,
        {"grievance_id": grievance_id, "text": "Late, sorry."},
    )
    with world.db.read_session() as session:
        upcoming = deadlines(session, world.clock.now(), horizon_days=30)
        [next_step] = [d for d in upcoming if d.kind == "grievance"]
    assert next_step.due == received + timedelta(days=15)


def test_the_protocol_sets_the_grievance_time_limits(world, community):
    """UNGP 31(c): an indicative time frame for each stage, which the community agrees: its
    protocol's numbers replace the defaults, and a step with no default has none until then."""
    agreed = [
        {"limit": "grievance.acknowledge", "amount": 3},
        {"limit": "grievance.respond", "amount": 40},
    ]
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community, protocol(time_limits=agreed))
    grievance_id = _lodge(world, case_id, world.liaison)
    received = world.clock.now().date()

    def due() -> list[date]:
        with world.db.read_session() as session:
            upcoming = deadlines(session, world.clock.now(), horizon_days=60)
            return [d.due for d in upcoming if d.kind == "grievance" and d.case_id == case_id]

    assert due() == [received + timedelta(days=3)]
    gid = {"grievance_id": grievance_id}
    world.act(case_id, "acknowledge_grievance", world.liaison, {**gid, "text": "Received."})
    assert due() == [received + timedelta(days=15)]  # no number agreed: the cited default
    world.act(case_id, "assess_grievance", world.liaison, {
        **gid, "assessment": "The fence was moved.", "upheld": True,
    })  # fmt: skip
    assert due() == [received + timedelta(days=40)]


def test_a_step_without_a_limit_shows_no_deadline(world, community):
    case_id = _case_at(world, community, "monitoring")
    grievance_id = _lodge(world, case_id, world.liaison)
    gid = {"grievance_id": grievance_id}
    world.act(case_id, "acknowledge_grievance", world.liaison, {**gid, "text": "Received."})
    world.act(case_id, "assess_grievance", world.liaison, {
        **gid, "assessment": "The fence was moved.", "upheld": True,
    })  # fmt: skip
    world.clock.advance(days=400)
    with world.db.read_session() as session:
        upcoming = deadlines(session, world.clock.now(), horizon_days=60)
        figures = grievance_figures(session, world.clock.now(), case_id=case_id)
    assert [d for d in upcoming if d.kind == "grievance"] == []
    assert figures.overdue == 0


def test_figures_per_community(world, community):
    first = _case_at(world, community, "monitoring")
    second = _case_at(world, community, "negotiation")
    other = world.add_community("qurluqtuq", ["iu", "en"], reps=1)
    elsewhere = _case_at(world, other, "negotiation")
    closed = _lodge(world, first, world.liaison)
    _walk_grievance(world, first, closed, upheld=True)
    gid = {"grievance_id": closed}
    world.act(
        first, "check_retaliation", world.liaison, {**gid, "retaliation_found": True, "note": "!"}
    )
    world.clock.advance(days=10)
    world.act(
        first,
        "close_grievance",
        world.liaison,
        {**gid, "resolution": "Remedied.", "complainant_satisfied": "no"},
    )
    _lodge(world, second, world.liaison, anonymous=True, complainant=None, category="impacts")
    _lodge(world, elsewhere, world.liaison, category="process_integrity")
    with world.db.read_session() as session:
        figures = grievance_figures(session, world.clock.now(), community_id=community.id)
    assert figures.total == 2
    assert dict(figures.by_category) == {"impacts": 2}
    assert (figures.open, figures.anonymous, figures.upheld) == (1, 1, 1)
    assert (figures.retaliation_found, figures.not_satisfied, figures.satisfied) == (1, 1, 0)
    assert figures.median_days_to_close == 10.0


# --- the conditions register -----------------------------------------------------------------

CONDITIONS = [
    {
        "text": "Community water monitors paid by the proponent.",
        "language": "es",
        "obligated_party": "Andes Copper S.A.",
        "due_on": "2026-09-30",
        "verification": "Quarterly monitors' report to the assembly.",
    },
    {
        "text": "No drilling within 500 m of the springs.",
        "language": "es",
        "obligated_party": "Andes Copper S.A.",
        "verification": "Joint site visit.",
    },
]


def _conditional_consent(world: World, community: Community) -> tuple[int, list[int]]:
    case_id = _case_at(world, community, "decision")
    world.act(
        case_id,
        "give_consent_with_conditions",
        community.rep_actors[0],
        decision(world, community, conditions=CONDITIONS),
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case_id, [c.id for c in case.decisions[-1].conditions]


def _condition(world: World, condition_id: int) -> Condition:
    with world.db.read_session() as session:
        condition = session.get(Condition, condition_id)
        assert condition is not None
        return condition


def test_conditions_are_reported_on_and_once_met_stay_met(world, community):
    case_id, (monitors, _springs) = _conditional_consent(world, community)
    world.act(
        case_id,
        "report_condition_progress",
        world.liaison,
        {"condition_id": monitors, "status": "in_progress", "evidence": "Two monitors hired."},
    )
    assert _condition(world, monitors).status == "in_progress"
    world.act(
        case_id,
        "report_condition_progress",
        community.rep_actors[0],
        {"condition_id": monitors, "status": "met", "evidence": "First report received."},
    )
    condition = _condition(world, monitors)
    assert (condition.status, condition.evidence) == ("met", "First report received.")
    with pytest.raises(InvalidData) as caught:
        world.act(
            case_id,
            "report_condition_progress",
            world.liaison,
            {"condition_id": monitors, "status": "in_progress", "evidence": "Undo."},
        )
    assert _field(caught) == "condition_id"


def test_an_overdue_condition_is_listed_until_met(world, community):
    case_id, (monitors, _springs) = _conditional_consent(world, community)
    world.clock.advance(days=400)
    with world.db.read_session() as session:
        overdue = [d for d in deadlines(session, world.clock.now()) if d.kind == "condition"]
    assert [d.overdue_on(world.clock.now().date()) for d in overdue] == [True]
    world.act(
        case_id,
        "report_condition_progress",
        world.liaison,
        {"condition_id": monitors, "status": "met", "evidence": "Report filed."},
    )
    with world.db.read_session() as session:
        assert not [d for d in deadlines(session, world.clock.now()) if d.kind == "condition"]


def test_only_the_community_declares_a_breach_and_consultation_reopens(world, community):
    case_id, (_monitors, springs) = _conditional_consent(world, community)
    breach = {"condition_id": springs, "evidence": "Drill pad 120 m from the upper spring."}
    with pytest.raises(NotPermitted):
        world.act(case_id, "declare_condition_breached", world.liaison, breach)
    world.act(case_id, "declare_condition_breached", community.rep_actors[0], breach)
    assert world.case(case_id).stage == "negotiation"
    assert _condition(world, springs).status == "breached"
    activity = {"activity": "drilling", "phase": "exploration", "started_on": _today(world)}
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "record_activity_start", world.liaison, activity)
    assert _codes(caught.value) == {"no_consent_in_force"}


def test_a_condition_of_another_case_cannot_be_reported_on(world, community):
    _case_id, (monitors, _springs) = _conditional_consent(world, community)
    other = _case_at(world, community, "monitoring")
    with pytest.raises(InvalidData) as caught:
        world.act(
            other,
            "report_condition_progress",
            world.liaison,
            {"condition_id": monitors, "status": "met", "evidence": "Wrong case."},
        )
    assert _field(caught) == "condition_id"


def test_ncip_breach_sends_the_case_back_to_moa_negotiation():
    template = shipped_templates()["ncip-ao3-2012"]
    breach = template.triggers["declare_condition_breached"]
    assert breach.dest == "moa_negotiation"
    assert "implementation" in breach.sources
    assert "lodge_grievance" in {t.name for t in template.triggers_from("consensus_building")}


# --- monitoring reviews and rehabilitation ---------------------------------------------------


def test_joint_reviews_fall_due_on_the_protocols_rhythm(world, community):
    case_id = _case_at(world, community, "monitoring")
    entered = world.case(case_id).stage_entered_at.date()

    def review_due() -> list:
        with world.db.read_session() as session:
            upcoming = deadlines(session, world.clock.now(), horizon_days=120)
        return [d.due for d in upcoming if d.kind == "review"]

    assert review_due() == [entered + timedelta(days=90)]
    with pytest.raises(InvalidData) as caught:
        world.act(
            case_id, "record_monitoring_report", world.liaison, {"text": "Joint.", "joint": True}
        )
    assert _field(caught) == "community_monitors"
    world.clock.advance(days=60)
    world.act(
        case_id,
        "record_monitoring_report",
        community.rep_actors[0],
        {"text": "Springs clear.", "joint": True, "community_monitors": "Rosa and Ana Mamani"},
    )
    assert review_due() == [world.clock.now().date() + timedelta(days=90)]


def test_a_community_may_agree_its_own_review_rhythm(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    world.act(case_id, "agree_protocol", community.rep_actors[0], protocol(review_every_days=30))
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.protocol is not None
        assert case.protocol.review_every_days == 30

    other = world.open_case(community)
    walk_to(world, other, "protocol", community)
    with pytest.raises(InvalidData) as caught:
        world.act(other, "agree_protocol", community.rep_actors[0], protocol(review_every_days=2))
    assert _field(caught) == "review_every_days"


def test_closure_waits_for_the_community_to_confirm_rehabilitation(world, community):
    case_id = _case_at(world, community, "monitoring")
    rep = community.rep_actors[0]
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "close_case", rep, NOTE)
    assert _codes(caught.value) == {"rehabilitation_not_confirmed"}
    with pytest.raises(InvalidData) as bad:
        world.act(
            case_id, "confirm_rehabilitation", rep, {"text": "Done.", "completed_on": "2099-01-01"}
        )
    assert _field(bad) == "completed_on"
    world.act(
        case_id, "confirm_rehabilitation", rep, {"text": "Reseeded.", "completed_on": _today(world)}
    )
    world.act(case_id, "close_case", rep, {"text": "Closed by the assembly."})
    assert world.case(case_id).stage == "closed"
