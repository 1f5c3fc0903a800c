"""NCIP Administrative Order No. 3 (2012) driven through the engine: the main path to the
Certification Precondition, the bond, the Certificate of Non-Overlap and the way back from it,
non-consent with its 15-day reconsideration window counted from the resolution's date,
suspension, withdrawal, material change and invalidation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fpic.storage.models import Case
from fpic.trail import audit
from fpic.workflow.errors import (
    GuardRefused,
    InvalidData,
    InvalidTransition,
    NotFound,
    NotPermitted,
)
from fpic.workflow.process import shipped_templates
from tests.factories import (
    Community,
    World,
    bond,
    decision,
    disclose_everything,
    protocol,
    step_data,
    walk_to,
)

NCIP = "ncip-ao3-2012"
TEMPLATE = shipped_templates()[NCIP]
NOTE = {"text": "Recorded by the FPIC team."}

#: the main path, in order: (stage it is done at, trigger, who fires it); "@disclose" and "@wait"
#: are helper steps
MAIN_PATH: list[tuple[str, str, str]] = [
    ("application", "hold_pre_fbi_conference", "liaison"),
    ("field_investigation", "require_fpic", "state_authority"),
    ("pre_fpic_conference", "hold_pre_fpic_conference", "liaison"),
    ("first_assembly", "agree_protocol", "rep"),
    ("second_assembly", "@disclose", ""),
    ("second_assembly", "complete_disclosure", "liaison"),
    ("consensus_building", "@wait", ""),
    ("consensus_building", "convene_decision_meeting", "rep"),
    ("decision_meeting", "give_consent", "rep"),
    ("moa_negotiation", "post_bond", "liaison"),
    ("moa_negotiation", "draft_moa", "liaison"),
    ("moa_validation", "sign_moa", "rep"),
    ("certification", "record_certification_precondition", "state_authority"),
]


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


def _agreement(world: World) -> dict[str, Any]:
    return {
        "text": "Memorandum of agreement validated by the assembly, in Quechua and Spanish.",
        "signed_on": _today(world),
        "signatories": ["Council of elders", "Applicant's country manager", "NCIP"],
    }


def _withdrawal(world: World) -> dict[str, Any]:
    return {
        "text": "The springs above the camp dried up.",
        "decided_on": _today(world),
        "deciding_body": "Council of elders",
        "activities_affected": ["drilling"],
    }


def _data_for(world: World, community: Community, trigger: str) -> dict[str, Any]:
    if trigger == "sign_moa":
        return _agreement(world)
    return step_data(world, community, NCIP, trigger)


def _step(world: World, case_id: int, community: Community, trigger: str, who: str) -> None:
    if trigger == "@disclose":
        disclose_everything(world, case_id)
    elif trigger == "@wait":
        world.clock.advance(days=31)  # protocol(): 30 days of consensus-building
    else:
        world.act(
            case_id, trigger, world.walker(who, community), _data_for(world, community, trigger)
        )


def walk_ncip(world: World, case_id: int, stage: str, community: Community) -> None:
    """Drive an NCIP case along the main path, from where it stands, until it is at ``stage``."""
    start = world.case(case_id).stage
    steps = MAIN_PATH[[at for at, _, _ in MAIN_PATH].index(start) :]
    for _at, trigger, who in steps:
        if world.case(case_id).stage == stage:
            return
        _step(world, case_id, community, trigger, who)
    assert world.case(case_id).stage == stage, world.case(case_id).stage


def _ncip_case(world: World, community: Community, stage: str) -> int:
    case_id = world.open_case(community, template=NCIP)
    walk_ncip(world, case_id, stage, community)
    return case_id


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _refused(
    world: World, case_id: int, trigger: str, actor, data: dict[str, Any] | None = None
) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return caught.value


def _activity(world: World) -> dict[str, Any]:
    return {"activity": "drilling", "phase": "exploration", "started_on": _today(world)}


def _withhold(world: World, community: Community, case_id: int) -> None:
    present = community.reps
    data = decision(world, community, votes_for=0, votes_against=len(present))
    world.act(case_id, "withhold_consent", community.rep_actors[0], data)


# --- the main path -------------------------------------------------------------------------


def test_main_path_runs_from_application_to_implementation_and_closure(world, community):
    case_id = world.open_case(community, template=NCIP)
    assert world.case(case_id).stage == "application"
    rep = community.rep_actors[0]
    seen = []
    for at, trigger, who in MAIN_PATH:
        assert world.case(case_id).stage == at
        _step(world, case_id, community, trigger, who)
        seen.append(world.case(case_id).stage)
    assert list(dict.fromkeys(seen)) == [
        "field_investigation",
        "pre_fpic_conference",
        "first_assembly",
        "second_assembly",
        "consensus_building",
        "decision_meeting",
        "moa_negotiation",
        "moa_validation",
        "certification",
        "implementation",
    ]
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    world.act(case_id, "record_monitoring_report", rep, NOTE)
    assert world.case(case_id).stage == "implementation"
    refusal = _refused(world, case_id, "close_case", rep, NOTE)
    assert _codes(refusal) == {"rehabilitation_not_confirmed"}
    rehabilitated = {"text": "Weir site replanted.", "completed_on": _today(world)}
    world.act(case_id, "confirm_rehabilitation", rep, rehabilitated)
    world.act(case_id, "close_case", rep, {"text": "Site rehabilitated as agreed."})
    assert world.case(case_id).stage == "closed"
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert [d.outcome for d in case.decisions] == ["CONSENT"]
        assert [a.activity for a in case.activities] == ["drilling"]
        result = audit.verify_database(session)
    assert result.intact, result.breaks


def test_protocol_is_agreed_at_the_first_assembly_and_disclosure_needs_it(world, community):
    case_id = _ncip_case(world, community, "first_assembly")
    with pytest.raises(InvalidTransition) as caught:
        world.act(case_id, "register_disclosure", world.liaison, {})
    assert _codes(caught.value) == {"wrong_stage"}
    world.act(case_id, "agree_protocol", community.rep_actors[0], protocol())
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.stage == "second_assembly"
        assert case.protocol is not None
        assert case.protocol.min_deliberation_days == 30


def test_second_assembly_cannot_close_before_everything_is_presented(world, community):
    case_id = _ncip_case(world, community, "second_assembly")
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert "disclosure_incomplete" in _codes(refusal)
    disclose_everything(world, case_id)
    world.act(
        case_id,
        "ask_question",
        community.rep_actors[0],
        {"text": "Will the river be diverted?", "language": "es"},
    )
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert _codes(refusal) == {"questions_unanswered"}
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        question_id = case.questions[-1].id
    world.act(
        case_id,
        "answer_question",
        world.liaison,
        {"question_id": question_id, "answer": "No; the weir keeps the flow.", "language": "es"},
    )
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    case = world.case(case_id)
    assert case.stage == "consensus_building"
    assert case.deliberation_started_at == world.clock.now()


def test_decision_waits_for_the_consensus_building_period(world, community):
    case_id = _ncip_case(world, community, "consensus_building")
    rep = community.rep_actors[0]
    world.act(case_id, "convene_decision_meeting", rep, NOTE)
    refusal = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert _codes(refusal) == {"deliberation_period_running"}
    world.clock.advance(days=30)
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "moa_negotiation"


def test_no_activity_before_consent_and_only_within_its_scope(world, community):
    case_id = _ncip_case(world, community, "decision_meeting")
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force", "step_missing"}
    walk_ncip(world, case_id, "implementation", community)
    pit = {**_activity(world), "activity": "open_pit"}
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, pit)
    assert _codes(refusal) == {"activity_not_consented"}


def test_consent_is_in_force_only_once_the_moa_is_signed_and_the_cp_issued(world, community):
    """IPRA §59: no certification without the written consent, no licence without the
    certification; AO 3 §23: the bond before any activity."""
    case_id = _ncip_case(world, community, "moa_negotiation")
    world.act(case_id, "draft_moa", world.liaison, NOTE)
    world.act(case_id, "sign_moa", community.rep_actors[0], _agreement(world))
    assert world.case(case_id).stage == "certification"
    assert not TEMPLATE.stages["moa_validation"].consent_in_force
    assert not TEMPLATE.stages["certification"].consent_in_force
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force", "step_missing"}
    with pytest.raises(NotPermitted):  # the NCIP issues it, never the applicant
        world.act(case_id, "record_certification_precondition", world.liaison, NOTE)
    cp = step_data(world, community, NCIP, "record_certification_precondition")
    world.act(case_id, "record_certification_precondition", world.state_authority, cp)
    assert world.case(case_id).stage == "implementation"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"step_missing"}  # no bond posted yet
    world.act(case_id, "post_bond", world.liaison, bond(world))
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))


def test_community_can_send_the_moa_draft_back_for_negotiation(world, community):
    case_id = _ncip_case(world, community, "moa_validation")
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted):
        world.act(case_id, "sign_moa", world.liaison, _agreement(world))
    world.act(case_id, "return_moa_draft", rep, {"text": "Clause 4 is not what we agreed."})
    assert world.case(case_id).stage == "moa_negotiation"
    world.act(case_id, "draft_moa", world.liaison, NOTE)
    world.act(case_id, "sign_moa", rep, _agreement(world))
    assert world.case(case_id).stage == "certification"


@pytest.mark.parametrize("stage", ["field_investigation", "second_assembly", "implementation"])
def test_auditor_and_admin_never_act_on_an_ncip_case(world, community, stage):
    case_id = _ncip_case(world, community, stage)
    for actor in (world.auditor, world.admin):
        for trigger in TEMPLATE.triggers_from(stage):
            with pytest.raises(NotPermitted) as caught:
                world.engine.advance(
                    case_id, trigger.name, actor, NOTE, world.case(case_id).version
                )
            assert _codes(caught.value) == {"role_not_allowed"}
    assert world.case(case_id).stage == stage


def test_the_ncip_acts_are_the_state_authoritys_and_never_the_applicants():
    roles = {role for trigger in TEMPLATE.triggers.values() for role in trigger.roles}
    assert roles == {"liaison", "representative", "facilitator", "mediator", "state_authority"}
    for name in ("issue_non_overlap", "require_fpic", "record_certification_precondition"):
        assert TEMPLATE.triggers[name].roles == ("state_authority",), name


# --- Certificate of Non-Overlap ------------------------------------------------------------


def _non_overlap(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "issued_on": _today(world),
        "concurrence": "Commissioner for the Cordillera",
        "undertaking": True,
        "text": "Outside any ancestral domain.",
        **overrides,
    }


def test_certificate_of_non_overlap_is_issued_on_the_applicants_undertaking(world, community):
    """AO 3 §15: the Regional Director issues it with the Commissioner's concurrence, and the
    applicant undertakes to seek FPIC if an overlap is found later."""
    case_id = _ncip_case(world, community, "field_investigation")
    with pytest.raises(NotPermitted):
        world.act(case_id, "issue_non_overlap", world.liaison, _non_overlap(world))
    with pytest.raises(InvalidData) as caught:
        world.act(
            case_id,
            "issue_non_overlap",
            world.state_authority,
            _non_overlap(world, undertaking=False),
        )
    assert caught.value.field == "undertaking"
    world.act(case_id, "issue_non_overlap", world.state_authority, _non_overlap(world))
    assert world.case(case_id).stage == "non_overlap"
    assert not TEMPLATE.stages["non_overlap"].terminal


def test_an_overlap_found_later_brings_the_case_back_to_fpic(world, community):
    case_id = _ncip_case(world, community, "field_investigation")
    world.act(case_id, "issue_non_overlap", world.state_authority, _non_overlap(world))
    with pytest.raises(NotPermitted):  # the applicant does not decide it was wrong
        world.act(case_id, "find_overlap", world.liaison, NOTE)
    found = {"text": "The community's ancestral domain claim covers the access road."}
    world.act(case_id, "find_overlap", community.rep_actors[0], found)
    assert world.case(case_id).stage == "field_investigation"
    world.act(case_id, "require_fpic", world.state_authority, NOTE)
    assert world.case(case_id).stage == "pre_fpic_conference"


def test_fpic_required_only_once_the_community_has_mandated_representatives(world):
    unmandated = world.add_community("ili-di-hapao", ["ifk", "fil"], reps=1, mandate_days=-1)
    case_id = world.open_case(unmandated, template=NCIP)
    world.act(case_id, "hold_pre_fbi_conference", world.liaison, NOTE)
    refusal = _refused(world, case_id, "require_fpic", world.state_authority, NOTE)
    assert _codes(refusal) == {"no_mandated_representatives"}
    assert world.case(case_id).stage == "field_investigation"


# --- non-consent and the 15-day reconsideration window (AO 3 §27) ---------------------------

PROPOSAL = {
    "text": "New proposal: the weir moves 2 km downstream of the terraces.",
    "proposal_items": ["operation_plan_and_scope", "mitigation_measures"],
}


def _non_consent_case(world: World, community: Community, decided_days_ago: int = 0) -> int:
    case_id = _ncip_case(world, community, "decision_meeting")
    if decided_days_ago:
        world.clock.advance(days=decided_days_ago)
    decided_on = (world.clock.now().date() - timedelta(days=decided_days_ago)).isoformat()
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(
        case_id, "withhold_consent", community.rep_actors[0], {**no, "decided_on": decided_on}
    )
    case = world.case(case_id)
    assert case.stage == "non_consent"
    assert case.milestones["withhold_consent"] == decided_on
    return case_id


def test_reconsideration_may_be_requested_once_per_resolution_within_fifteen_days(world, community):
    case_id = _non_consent_case(world, community)
    world.clock.advance(days=15)
    world.act(case_id, "request_reconsideration", world.liaison, PROPOSAL)
    case = world.case(case_id)
    assert case.stage == "non_consent"  # asking does not reopen: only the community can
    assert case.reconsideration_requested_at == world.clock.now()
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"reconsideration_already_requested"}


def test_reconsideration_on_day_sixteen_is_refused_because_the_window_closed(world, community):
    case_id = _non_consent_case(world, community)
    world.clock.advance(days=16)
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"limit_passed"}
    [reason] = refusal.reasons
    assert "§27" in reason.params["source"]
    assert world.case(case_id).reconsideration_requested_at is None


def test_the_window_counts_from_the_resolutions_date_not_from_when_it_was_typed_in(
    world, community
):
    """A resolution dated ten days before it was recorded: a request fourteen days after the
    recording is twenty-four days after the resolution, and too late."""
    case_id = _non_consent_case(world, community, decided_days_ago=10)
    world.clock.advance(days=14)
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"limit_passed"}
    assert (
        refusal.reasons[0].params["ends"]
        == (world.clock.now().date() - timedelta(days=24 - 15)).isoformat()
    )


def test_the_general_templates_window_is_the_one_the_community_set_in_its_protocol(
    world, community
):
    """15 days by default (after AO 3 §27), or what the community's protocol says."""
    for agreed, day_sixteen_allowed in ((None, False), (30, True)):
        proto = protocol()
        if agreed:
            proto["time_limits"] = [{"limit": "reconsideration", "amount": agreed}]
        case_id = world.open_case(community)
        walk_to(world, case_id, "decision", community, proto)
        rep = community.rep_actors[0]
        no = decision(world, community, votes_for=0, votes_against=len(community.reps))
        world.act(case_id, "withhold_consent", rep, no)
        world.clock.advance(days=16)
        proposal = {"text": "A smaller pit.", "proposal_items": ["nature_scope_and_pace"]}
        if day_sixteen_allowed:
            world.act(case_id, "request_reconsideration", world.liaison, proposal)
            assert world.case(case_id).reconsideration_requested_at is not None
        else:
            refusal = _refused(world, case_id, "request_reconsideration", world.liaison, proposal)
            assert _codes(refusal) == {"limit_passed"}


def test_the_new_proposal_is_presented_before_the_community_decides_again(world, community):
    case_id = _non_consent_case(world, community)
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, "reopen_case", world.liaison, NOTE)
    assert _codes(caught.value) == {"role_not_allowed"}
    with pytest.raises(NotPermitted):
        world.act(case_id, "request_reconsideration", rep, PROPOSAL)
    world.act(case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert world.case(case_id).stage == "non_consent"
    world.act(case_id, "reopen_case", rep, {"text": "The elders reconvene the assembly."})
    case = world.case(case_id)
    assert case.stage == "second_assembly"
    assert case.withheld_at is None
    assert case.reconsideration_requested_at is None
    assert case.deliberation_started_at is None
    with world.db.read_session() as session:
        stored = session.get(Case, case_id)
        assert stored is not None
        current = {d.item for d in stored.disclosures if d.superseded_at is None}
    assert not current & set(PROPOSAL["proposal_items"])
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert "disclosure_incomplete" in _codes(refusal)
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    # a new resolution of non-consent opens a new window, with a request of its own
    world.clock.advance(days=31)
    world.act(case_id, "convene_decision_meeting", rep, NOTE)
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", rep, no)
    world.act(case_id, "request_reconsideration", world.liaison, PROPOSAL)


def test_another_communitys_representative_cannot_reopen(world, community):
    case_id = _non_consent_case(world, community)
    stranger = world.add_community("barangay-other", ["fil"], reps=1)
    with pytest.raises(NotFound):
        world.act(case_id, "reopen_case", stranger.rep_actors[0], NOTE)
    assert world.case(case_id).stage == "non_consent"


def test_written_rejection_before_the_decision_counts_as_non_consent(world, community):
    case_id = _ncip_case(world, community, "first_assembly")
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted):
        world.act(case_id, "decline_to_engage", world.liaison, NOTE)
    world.act(case_id, "decline_to_engage", rep, {"text": "Signed rejection of the elders."})
    case = world.case(case_id)
    assert case.stage == "non_consent"
    assert case.withheld_at == world.clock.now()
    world.clock.advance(days=16)
    refusal = _refused(world, case_id, "request_reconsideration", world.liaison, PROPOSAL)
    assert _codes(refusal) == {"limit_passed"}


# --- suspension ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["first_assembly", "consensus_building", "moa_validation"])
def test_community_suspends_and_resumes_at_the_same_stage(world, community, stage):
    case_id = _ncip_case(world, community, stage)
    rep = community.rep_actors[0]
    with pytest.raises(NotPermitted):
        world.act(case_id, "suspend_process", world.liaison, NOTE)
    world.act(case_id, "suspend_process", rep, {"text": "Bad faith: a side deal was offered."})
    case = world.case(case_id)
    assert case.stage == "suspended"
    assert case.suspended_from == stage
    with pytest.raises(InvalidTransition):
        world.act(case_id, "convene_decision_meeting", rep, NOTE)
    with pytest.raises(NotPermitted):
        world.act(case_id, "resume_process", world.liaison, NOTE)
    world.act(case_id, "resume_process", rep, {"text": "The council resumes the process."})
    case = world.case(case_id)
    assert case.stage == stage
    assert case.suspended_from is None


def test_applicant_may_abandon_from_suspension_but_not_after_closure(world, community):
    case_id = _ncip_case(world, community, "second_assembly")
    world.act(case_id, "suspend_process", community.rep_actors[0], NOTE)
    with pytest.raises(NotPermitted):
        world.act(case_id, "abandon", community.rep_actors[0], NOTE)
    world.act(
        case_id, "abandon", world.liaison, {"text": "The applicant withdrew its application."}
    )
    assert world.case(case_id).stage == "abandoned"
    with pytest.raises(InvalidTransition):
        world.act(case_id, "abandon", world.liaison, NOTE)


# --- withdrawal ----------------------------------------------------------------------------


def test_withdrawal_stops_activities_until_renegotiated(world, community):
    case_id = _ncip_case(world, community, "implementation")
    rep = community.rep_actors[0]
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    with pytest.raises(NotPermitted):
        world.act(case_id, "withdraw_consent", world.liaison, _withdrawal(world))
    world.act(case_id, "withdraw_consent", rep, _withdrawal(world))
    assert world.case(case_id).stage == "withdrawn"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}
    world.act(case_id, "renegotiate", rep, {"text": "The council agrees to renegotiate."})
    assert world.case(case_id).stage == "moa_negotiation"


# --- material change -----------------------------------------------------------------------


def test_material_change_restarts_presentation_and_the_consensus_building_clock(world, community):
    case_id = _ncip_case(world, community, "decision_meeting")
    rep = community.rep_actors[0]
    change = {
        "text": "A second weir is now planned.",
        "affected_items": ["operation_plan_and_scope"],
    }
    with pytest.raises(NotPermitted):
        world.act(case_id, "register_material_change", rep, change)
    world.act(case_id, "register_material_change", world.liaison, change)
    case = world.case(case_id)
    assert case.stage == "second_assembly"
    assert case.deliberation_started_at is None
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert "disclosure_incomplete" in _codes(refusal)
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    world.act(case_id, "convene_decision_meeting", rep, NOTE)
    refusal = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert _codes(refusal) == {"deliberation_period_running"}
    world.clock.advance(days=29)
    refusal = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert _codes(refusal) == {"deliberation_period_running"}
    world.clock.advance(days=1)
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "moa_negotiation"


def test_material_change_after_signing_takes_the_case_back_to_the_second_assembly(world, community):
    case_id = _ncip_case(world, community, "implementation")
    world.act(case_id, "register_material_change", world.liaison, {"text": "Open pit added."})
    assert world.case(case_id).stage == "second_assembly"
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}


# --- integrity and invalidation ------------------------------------------------------------


def _flag(world: World, case_id: int, upheld: bool | None, community: Community) -> None:
    world.act(
        case_id,
        "raise_integrity_flag",
        world.liaison,
        {"category": "bribery", "description": "Cash offered to two leaders before the assembly."},
    )
    if upheld is None:
        return
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        flag_id = case.integrity_flags[-1].id
    world.review_flag(case_id, community, flag_id, upheld, "Heard by the council.")


def test_open_integrity_flag_blocks_the_resolution_of_consent(world, community):
    case_id = _ncip_case(world, community, "decision_meeting")
    rep = community.rep_actors[0]
    _flag(world, case_id, None, community)
    refusal = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert _codes(refusal) == {"open_integrity_flag"}


def test_invalidation_only_after_an_upheld_integrity_finding(world, community):
    case_id = _ncip_case(world, community, "consensus_building")
    rep = community.rep_actors[0]
    refusal = _refused(world, case_id, "invalidate_process", rep, NOTE)
    assert _codes(refusal) == {"no_upheld_finding"}
    _flag(world, case_id, None, community)
    refusal = _refused(world, case_id, "invalidate_process", rep, NOTE)
    assert _codes(refusal) == {"no_upheld_finding"}  # raised, not yet reviewed
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        open_flag = case.integrity_flags[-1].id
    world.review_flag(case_id, community, open_flag, False, "Not substantiated.")
    refusal = _refused(world, case_id, "invalidate_process", rep, NOTE)
    assert _codes(refusal) == {"no_upheld_finding"}
    _flag(world, case_id, True, community)
    with pytest.raises(NotPermitted):
        world.act(case_id, "invalidate_process", world.liaison, NOTE)
    world.act(case_id, "invalidate_process", rep, {"text": "Bribery upheld under §65."})
    assert world.case(case_id).stage == "invalidated"
    world.act(case_id, "restart_process", rep, {"text": "The process is redone."})
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.stage == "first_assembly"
        assert case.deliberation_started_at is None
        assert case.disclosures
        assert all(d.superseded_at is not None for d in case.disclosures)
