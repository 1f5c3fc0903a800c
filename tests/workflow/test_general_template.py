"""The general FPIC template driven through the engine, one loop at a time: screening out,
deferral back to disclosure, suspension and resumption, abandonment, withheld consent and its
reconsideration window, continued dialogue, partial consent, withdrawal, material change,
invalidation, monitoring and closure (domain.md §1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fpic.read import queries
from fpic.storage.models import Case, Decision
from fpic.workflow.errors import GuardRefused, InvalidData, InvalidTransition, NotPermitted
from fpic.workflow.process import shipped_templates
from tests.factories import (
    Community,
    World,
    decision,
    disclose_everything,
    project_area,
    screen,
    walk_to,
)

GENERAL = shipped_templates()["fpic-general"]
NOTE = {"text": "Recorded by the field team."}


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _refused(world: World, case_id: int, trigger: str, actor: Any, data: Any) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return caught.value


def _case_at(world: World, community: Community, stage: str) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, stage, community)
    return case_id


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


def _activity(world: World, activity: str = "drilling") -> dict[str, Any]:
    return {"activity": activity, "phase": "exploration", "started_on": _today(world)}


def _decisions(world: World, case_id: int) -> list[Decision]:
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return list(case.decisions)


def _trail_actions(world: World, case_id: int) -> list[str]:
    with world.db.read_session() as session:
        return [e.action for e in queries.case_events(session, case_id) if e.outcome == "done"]


def _validate(world: World, community: Community, case_id: int) -> None:
    agreement = {
        "text": "Agreement validated by the assembly.",
        "signed_on": _today(world),
        "signatories": ["Assembly president"],
    }
    world.act(case_id, "validate_agreement", community.rep_actors[0], agreement)


# --- the template's shape ------------------------------------------------------------------


def test_every_stage_is_reachable_from_screening():
    reachable, frontier = {GENERAL.initial}, [GENERAL.initial]
    while frontier:
        stage = frontier.pop()
        for trigger in GENERAL.triggers_from(stage):
            dests = (
                set(GENERAL.stages) if trigger.dest == "@suspended_from" else {trigger.dest}
            ) - {"="}
            for dest in dests:
                if dest not in reachable:
                    reachable.add(dest)
                    frontier.append(dest)
    assert reachable == set(GENERAL.stages)


def test_terminal_stages_have_no_way_out():
    terminal = {name for name, stage in GENERAL.stages.items() if stage.terminal}
    assert terminal == {"abandoned", "closed"}
    for stage in terminal:
        assert GENERAL.triggers_from(stage) == []


def test_fpic_not_required_is_not_a_dead_end(world, community):
    """A screening that found no trigger can be wrong or overtaken: a territory recorded later,
    a larger area. The community, the State or the proponent sends the case back to screening."""
    case_id = world.open_case(community)
    screen(world, case_id)
    world.act(case_id, "screen_out", world.liaison, {"text": "No customary land found."})
    assert world.case(case_id).stage == "not_required"
    assert not GENERAL.stages["not_required"].terminal
    news = {"text": "The assembly's maps show grazing land under the access road."}
    world.act(case_id, "screen_again", community.rep_actors[0], news)
    assert world.case(case_id).stage == "screening"


def test_loop_stages_are_flagged_and_off_the_main_path():
    loops = {name for name, stage in GENERAL.stages.items() if stage.loop}
    assert loops == {
        "suspended",
        "withheld",
        "withdrawn",
        "invalidated",
        "not_required",
        "abandoned",
    }


# --- screening ------------------------------------------------------------------------------


def test_screening_out_ends_the_case_without_a_decision(world, community):
    case_id = world.open_case(community)
    with pytest.raises(NotPermitted):
        world.act(case_id, "screen_out", community.rep_actors[0], NOTE)
    world.act(case_id, "record_project_area", world.liaison, project_area())
    world.act(case_id, "screen_out", world.liaison, {"text": "No customary land in the area."})
    assert world.case(case_id).stage == "not_required"
    with pytest.raises(InvalidTransition) as caught:
        world.act(case_id, "screen_in", world.liaison, NOTE)
    assert _codes(caught.value) == {"wrong_stage"}
    assert _decisions(world, case_id) == []


def test_disclosure_meeting_and_questions_must_be_answered_first(world, community):
    case_id = _case_at(world, community, "disclosure")
    rep = community.rep_actors[2]
    meeting = {
        "kind": "information",
        "held_on": _today(world),
        "place": "Community hall of Qollana",
        "languages_used": ["qu", "es"],
        "interpreter": "Rosa Mamani",
        "attendance_women": 41,
        "attendance_men": 38,
        "attendance_youth": 12,
        "minutes_language": "qu",
        "minutes_original": "Yaku kamachikuymanta rimanakurqayku.",
    }
    world.act(case_id, "log_meeting", world.liaison, meeting)
    disclose_everything(world, case_id)
    world.act(
        case_id, "ask_question", rep, {"text": "Mayqin yakutataq llamk'achinqa?", "language": "qu"}
    )
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert _codes(refusal) == {"questions_unanswered"}
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        question_id = case.questions[-1].id
    with pytest.raises(NotPermitted):
        world.act(
            case_id,
            "answer_question",
            rep,
            {"question_id": question_id, "answer": "-", "language": "qu"},
        )
    answer = {
        "question_id": question_id,
        "answer": "Mayu yakullata, mana pukyukunata.",
        "language": "qu",
    }
    world.act(case_id, "answer_question", world.liaison, answer)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    case = world.case(case_id)
    assert case.stage == "deliberation"
    assert case.deliberation_started_at == world.clock.now()


# --- deferral -------------------------------------------------------------------------------


def test_deferred_decision_goes_back_to_disclosure_and_restarts_the_clock(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    deferral = decision(world, community, votes_for=0, votes_against=0, abstentions=0)
    world.act(case_id, "defer_decision", rep, deferral)
    case = world.case(case_id)
    assert case.stage == "disclosure"
    assert case.deliberation_started_at is None
    assert [d.outcome for d in _decisions(world, case_id)] == ["DEFERRED_MORE_INFO"]
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    world.act(case_id, "open_negotiation", rep, NOTE)
    world.act(case_id, "convene_decision", rep, NOTE)
    refusal = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert _codes(refusal) == {"deliberation_period_running"}
    world.clock.advance(days=30)
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "agreement"


@pytest.mark.parametrize("stage", ["deliberation", "negotiation"])
def test_community_asks_for_more_information_during_deliberation(world, community, stage):
    case_id = _case_at(world, community, stage)
    with pytest.raises(NotPermitted):
        world.act(case_id, "request_more_information", world.liaison, NOTE)
    world.act(
        case_id,
        "request_more_information",
        community.rep_actors[0],
        {"text": "We need the water study in Quechua, on audio.", "language": "es"},
    )
    case = world.case(case_id)
    assert case.stage == "disclosure"
    assert case.deliberation_started_at is None


# --- suspension -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage", ["screening", "protocol", "deliberation", "decision", "agreement"]
)
def test_community_suspends_and_resumes_where_it_stood(world, community, stage):
    case_id = _case_at(world, community, stage)
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted):
        world.act(case_id, "suspend_process", world.liaison, NOTE)
    world.act(case_id, "suspend_process", rep, {"text": "Mourning period after a death."})
    case = world.case(case_id)
    assert (case.stage, case.suspended_from) == ("suspended", stage)
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    # suspended at screening, before the project's area was recorded: nor can it be screened
    unscreened = {"no_project_area"} if stage == "screening" else set()
    assert _codes(refusal) == {"no_consent_in_force", *unscreened}
    with pytest.raises(NotPermitted):
        world.act(case_id, "resume_process", world.liaison, NOTE)
    world.act(case_id, "resume_process", rep, {"text": "The assembly resumes the process."})
    case = world.case(case_id)
    assert (case.stage, case.suspended_from) == (stage, None)


def test_monitoring_cannot_be_suspended_but_consent_can_be_withdrawn(world, community):
    case_id = _case_at(world, community, "monitoring")
    with pytest.raises(InvalidTransition):
        world.act(case_id, "suspend_process", community.rep_actors[0], NOTE)


# --- abandonment ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["mapping", "negotiation", "monitoring"])
def test_proponent_abandons_and_the_case_ends(world, community, stage):
    case_id = _case_at(world, community, stage)
    with pytest.raises(NotPermitted):
        world.act(case_id, "abandon", community.rep_actors[0], NOTE)
    world.act(case_id, "abandon", world.liaison, {"text": "The proponent dropped the project."})
    assert world.case(case_id).stage == "abandoned"
    assert GENERAL.triggers_from("abandoned") == []


# --- consent withheld and reconsideration ---------------------------------------------------


def _withhold(world: World, community: Community, case_id: int) -> None:
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", community.rep_actors[0], no)


def test_withheld_consent_opens_the_reconsideration_window_the_protocol_sets(world, community):
    """No FPIC standard sets the window: 15 days by default, after NCIP AO 3 §27."""
    assert GENERAL.reconsideration_days is None
    limit = GENERAL.limits["reconsideration"]
    assert (limit.amount, limit.protocol, "§27" in (limit.default_source or "")) == (15, True, True)
    case_id = _case_at(world, community, "decision")
    _withhold(world, community, case_id)
    case = world.case(case_id)
    assert case.stage == "withheld"
    assert case.withheld_at == world.clock.now()
    assert [d.outcome for d in _decisions(world, case_id)] == ["WITHHELD"]
    world.clock.advance(days=16)
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"limit_passed"}


PROPOSAL = {
    "text": "Revised proposal: no camp on the grazing land.",
    "proposal_items": ["nature_scope_and_pace", "affected_areas"],
}


def test_reconsideration_is_asked_once_and_only_the_community_reopens(world, community):
    case_id = _case_at(world, community, "decision")
    _withhold(world, community, case_id)
    world.clock.advance(days=15)
    world.act(case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert world.case(case_id).stage == "withheld"
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"reconsideration_already_requested"}
    with pytest.raises(NotPermitted):
        world.act(case_id, "reopen_case", world.liaison, NOTE)
    world.act(case_id, "reopen_case", community.rep_actors[0], {"text": "We will listen again."})
    case = world.case(case_id)
    assert case.stage == "disclosure"
    assert (case.withheld_at, case.reconsideration_requested_at) == (None, None)
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert "disclosure_incomplete" in _codes(refusal)  # the new proposal is presented first


def test_withheld_consent_allows_no_activity(world, community):
    case_id = _case_at(world, community, "decision")
    _withhold(world, community, case_id)
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}


@pytest.mark.parametrize("stage", ["rights_holders", "disclosure", "negotiation"])
def test_declining_to_engage_counts_as_consent_withheld(world, community, stage):
    case_id = _case_at(world, community, stage)
    with pytest.raises(NotPermitted):
        world.act(case_id, "decline_to_engage", world.liaison, NOTE)
    world.act(
        case_id, "decline_to_engage", community.rep_actors[0], {"text": "We do not want a mine."}
    )
    case = world.case(case_id)
    assert case.stage == "withheld"
    assert case.withheld_at == world.clock.now()


def test_no_but_continue_dialogue_returns_to_negotiation(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    not_yet = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "continue_dialogue", rep, not_yet)
    assert world.case(case_id).stage == "negotiation"
    assert [d.outcome for d in _decisions(world, case_id)] == ["NO_BUT_CONTINUE_DIALOGUE"]
    world.act(case_id, "convene_decision", rep, NOTE)
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "agreement"


# --- consent, partial consent and its scope -------------------------------------------------


def test_partial_consent_covers_only_what_it_names(world, community):
    case_id = _case_at(world, community, "decision")
    partial = decision(
        world,
        community,
        scope_activities=["drilling"],
        rejected_components=["open_pit", "access_road"],
    )
    world.act(case_id, "give_partial_consent", community.rep_actors[0], partial)
    _validate(world, community, case_id)
    assert world.case(case_id).stage == "monitoring"
    world.act(case_id, "record_activity_start", world.liaison, _activity(world, "drilling"))
    refusal = _refused(
        world, case_id, "record_activity_start", world.liaison, _activity(world, "camp")
    )
    assert _codes(refusal) == {"activity_not_consented"}
    [given] = _decisions(world, case_id)
    assert given.outcome == "PARTIAL"


def test_consent_with_conditions_needs_conditions(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    refusal = _refused(
        world, case_id, "give_consent_with_conditions", rep, decision(world, community)
    )
    assert _codes(refusal) == {"no_conditions"}
    conditions = [
        {
            "text": "Water monitoring by community monitors, paid by the proponent.",
            "language": "es",
            "obligated_party": "Andes Copper S.A.",
            "due_on": "2026-12-31",
            "verification": "Quarterly report to the assembly.",
        }
    ]
    world.act(
        case_id,
        "give_consent_with_conditions",
        rep,
        decision(world, community, conditions=conditions),
    )
    assert world.case(case_id).stage == "agreement"
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        [given] = case.decisions
        assert given.outcome == "CONSENT_WITH_CONDITIONS"
        assert [c.obligated_party for c in given.conditions] == ["Andes Copper S.A."]


# --- withdrawal -----------------------------------------------------------------------------


def _withdrawal(world: World) -> dict[str, Any]:
    return {
        "text": "The springs above the camp dried up.",
        "decided_on": _today(world),
        "deciding_body": "Community assembly",
        "activities_affected": ["drilling"],
    }


@pytest.mark.parametrize("stage", ["agreement", "monitoring"])
def test_withdrawal_of_consent_stops_activities_until_renegotiated(world, community, stage):
    case_id = _case_at(world, community, stage)
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted):
        world.act(case_id, "withdraw_consent", world.liaison, _withdrawal(world))
    world.act(case_id, "withdraw_consent", rep, _withdrawal(world))
    assert world.case(case_id).stage == "withdrawn"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}
    world.act(case_id, "renegotiate", rep, {"text": "Talks resume on the springs."})
    assert world.case(case_id).stage == "negotiation"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}


# --- material change ------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["deliberation", "decision", "monitoring"])
def test_material_change_restarts_disclosure_and_the_clock(world, community, stage):
    case_id = _case_at(world, community, stage)
    rep = community.rep_actors[0]
    change = {"text": "An open pit replaces the drilling programme.", "affected_items": []}
    with pytest.raises(NotPermitted):
        world.act(case_id, "register_material_change", rep, change)
    world.act(case_id, "register_material_change", world.liaison, change)
    case = world.case(case_id)
    assert case.stage == "disclosure"
    assert case.deliberation_started_at is None
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}


def test_material_change_to_an_item_requires_it_to_be_disclosed_again(world, community):
    case_id = _case_at(world, community, "deliberation")
    item = GENERAL.required_disclosure_items[0]
    change = {"text": "The tailings dam moved upstream.", "affected_items": [item]}
    world.act(case_id, "register_material_change", world.liaison, change)
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert _codes(refusal) == {"disclosure_incomplete"}
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert world.case(case_id).stage == "deliberation"


# --- invalidation ---------------------------------------------------------------------------


def _upheld_flag(world: World, community: Community, case_id: int) -> None:
    world.act(
        case_id,
        "raise_integrity_flag",
        community.rep_actors[1],
        {
            "category": "gift_outside_budget",
            "description": "Motorbikes given to three families in May.",
        },
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        flag_id = case.integrity_flags[-1].id
    world.review_flag(case_id, community, flag_id, True, "Confirmed after hearing both sides.")


def test_invalidation_after_an_upheld_finding_and_a_fresh_start(world, community):
    case_id = _case_at(world, community, "negotiation")
    rep = community.rep_actors[0]
    refusal = _refused(world, case_id, "invalidate_process", rep, NOTE)
    assert _codes(refusal) == {"no_upheld_finding"}
    _upheld_flag(world, community, case_id)
    world.act(case_id, "invalidate_process", rep, {"text": "Gifts outside the agreed budget."})
    assert world.case(case_id).stage == "invalidated"
    world.act(case_id, "restart_process", rep, {"text": "We start again, with a new protocol."})
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.stage == "protocol"
        assert case.disclosures
        assert all(d.superseded_at is not None for d in case.disclosures)


# --- monitoring and closure -----------------------------------------------------------------


def test_monitoring_records_activities_and_reports_then_the_community_closes(world, community):
    case_id = _case_at(world, community, "monitoring")
    rep = community.rep_actors[0]
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    world.act(case_id, "record_monitoring_report", rep, {"text": "Monitors found clear water."})
    world.act(case_id, "record_monitoring_report", world.liaison, {"text": "Quarterly report."})
    with pytest.raises(NotPermitted):
        world.act(case_id, "close_case", world.liaison, NOTE)
    refusal = _refused(world, case_id, "close_case", rep, NOTE)
    assert _codes(refusal) == {"rehabilitation_not_confirmed"}
    with pytest.raises(NotPermitted):
        world.act(case_id, "confirm_rehabilitation", world.liaison, NOTE)
    rehabilitated = {"text": "Pads levelled and reseeded.", "completed_on": _today(world)}
    world.act(case_id, "confirm_rehabilitation", rep, rehabilitated)
    world.act(case_id, "close_case", rep, {"text": "Exploration over; land restored."})
    assert world.case(case_id).stage == "closed"
    actions = _trail_actions(world, case_id)
    assert actions[-5:] == [
        "record_activity_start",
        "record_monitoring_report",
        "record_monitoring_report",
        "confirm_rehabilitation",
        "close_case",
    ]
    assert actions[0] == "open_case"


def test_state_approval_without_agreement_is_recorded_not_treated_as_consent(world, community):
    case_id = _case_at(world, community, "negotiation")
    world.act(
        case_id,
        "flag_state_approval",
        world.liaison,
        {"text": "The ministry approved the permit on 2 April without an agreement."},
    )
    case = world.case(case_id)
    assert case.stage == "negotiation"
    assert case.state_approved_without_agreement is True
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}


def test_every_trigger_of_the_template_is_exercised_by_the_engine_tests():
    tests = Path(__file__).parents[1]
    source = "".join(
        (tests / name).read_text(encoding="utf-8")
        for name in (
            "workflow/test_general_template.py",
            "workflow/test_grievances.py",
            "workflow/test_places.py",
            "workflow/test_consent_terms.py",
            "accounts/test_register.py",
        )
    )
    walked = {"screen_in", "confirm_rights_holders", "complete_mapping", "agree_protocol"}
    walked.add("register_disclosure")
    missing = [t for t in GENERAL.triggers if t not in walked and f'"{t}"' not in source]
    assert not missing, missing


def test_one_package_discloses_several_items_and_supersedes_only_its_own_cells(world, community):
    """Issue 20: several items in one action, each in every language and format ticked: what
    one register_disclosure each would write, and its one event lists every cell."""
    from fpic.storage.models import Disclosure

    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    day = world.clock.now().date().isoformat()
    world.act(case_id, "register_disclosure", world.liaison, {
        "item": "duration", "languages": ["qu"], "formats": ["oral"], "title": "Maykamataq",
        "channel": "radio", "disclosed_on": day,
    })  # fmt: skip
    package = {
        "items": ["duration", "reasons_for_project", "duration"], "languages": ["qu"],
        "formats": ["oral", "written"], "title": "Willakuy", "channel": "assembly",
        "disclosed_on": day,
    }  # fmt: skip
    done = world.act(case_id, "register_disclosures", world.liaison, package)
    cells = [(d["item"], d["format"], d["version"]) for d in done.records["disclosures"]]
    assert cells == [  # duration ticked twice counts once; its oral cell is a second version
        ("duration", "oral", 2),
        ("duration", "written", 1),
        ("reasons_for_project", "oral", 1),
        ("reasons_for_project", "written", 1),
    ]
    with world.db.read_session() as db:
        rows = db.query(Disclosure).filter_by(case_id=case_id).all()
    assert sorted((d.item, d.format, d.version) for d in rows if d.superseded_at is None) == [
        ("duration", "oral", 2),
        ("duration", "written", 1),
        ("reasons_for_project", "oral", 1),
        ("reasons_for_project", "written", 1),
    ]
    assert {d.title for d in rows if d.superseded_at is None} == {"Willakuy"}
    # an item the template does not have, an empty package: refused, nothing written
    for bad in ({**package, "items": ["gold"]}, {**package, "items": []}):
        with pytest.raises(InvalidData) as refused:
            world.act(case_id, "register_disclosures", world.liaison, bad)
        assert refused.value.field == "items"
    with world.db.read_session() as db:
        assert db.query(Disclosure).filter_by(case_id=case_id).count() == len(rows)


def test_one_form_discloses_an_item_in_several_languages_and_formats(world, community):
    """One action, one version per cell ticked; a later one supersedes only its own cells."""
    from fpic.storage.models import Disclosure

    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    day = world.clock.now().date().isoformat()
    both = {
        "item": "nature_scope_and_pace", "languages": ["qu", "es", "qu"],
        "formats": ["written", "oral"], "title": "Imaynataq", "channel": "assembly",
        "disclosed_on": day,
    }  # fmt: skip
    first = world.act(case_id, "register_disclosure", world.liaison, both)
    cells = [(d["language"], d["format"], d["version"]) for d in first.records["disclosures"]]
    # qu ticked twice counts once
    assert cells == [
        ("qu", "written", 1),
        ("qu", "oral", 1),
        ("es", "written", 1),
        ("es", "oral", 1),
    ]
    again = {**both, "languages": ["es"], "formats": ["oral"], "title": "Imaynatan"}
    second = world.act(case_id, "register_disclosure", world.liaison, again)
    assert [(d["language"], d["format"], d["version"]) for d in second.records["disclosures"]] == [
        ("es", "oral", 2)
    ]
    with world.db.read_session() as db:
        rows = db.query(Disclosure).filter_by(case_id=case_id).all()
        in_force = sorted(
            (d.language, d.format, d.version) for d in rows if d.superseded_at is None
        )
    assert in_force == [
        ("es", "oral", 2),
        ("es", "written", 1),
        ("qu", "oral", 1),
        ("qu", "written", 1),
    ]
