"""How many SQL statements each action costs, counted on the wire (BEGIN and COMMIT aside).

An ordinary action is five: the case and its chain head locked in one SELECT that also reads
whether the account is active and the mandate; the record's INSERT; the chain head's UPDATE;
the trail event's INSERT; the case's one UPDATE; then the Merkle log's two or three as the
transaction commits (LOG_SEAL). Guards that read the case's evidence, and
actions that write several records, cost what they read and write. Every count below is a
ceiling: a change that makes an action cost more fails here and must say why. Every trigger
of both shipped templates (fpic-general and ncip-ao3-2012) is fired and counted, each against
its own ceiling; a trigger a template gains fails here until it is given one and fired.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, update

from fpic.accounts.registry import import_areas
from fpic.storage.models import User
from fpic.workflow.actors import Actor
from fpic.workflow.engine import ActionResult
from fpic.workflow.process import Template, shipped_templates
from tests.factories import (
    PASSWORD,
    Community,
    World,
    advance_along,
    bond,
    case_at,
    decision,
    disclose_everything,
    project_area,
    protocol,
    state_decision,
    step_data,
    territory,
)

GENERAL = shipped_templates()["fpic-general"]
NCIP = shipped_templates()["ncip-ao3-2012"]
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
NOTE = {"text": "Recorded in the field."}
#: the five of an ordinary action: the lock, the record, the chain head, the event, the case;
#: and the Merkle log's two (LOG_SEAL)
ORDINARY = [
    "INSERT INTO case_notes",
    "INSERT INTO merkle_nodes",
    "INSERT INTO trail_events",
    "SELECT cases.id, cases.reference,",
    "UPDATE cases SET",
    "UPDATE chain_heads SET",
    "UPDATE merkle_log SET",
]
#: issue 19: a transaction that appended events adds them to the Merkle log as it commits,
#: however many events it wrote: the log's head moved by a conditional UPDATE from the head this
#: process last committed, and the leaves with the subtrees they complete inserted. The first
#: write of a process reads the head first (three statements), as does one that finds another
#: process wrote since (four). The ceilings below are the action's own; each is checked with
#: three added, the first write's.
LOG_SEAL = 3
#: issue 20: an action that moves a case to a stage where it is someone's turn tells them by
#: e-mail (fpic.notify.outbox.queue_turn), in its own transaction: the people who can take the
#: new stage's main step are read (one SELECT per role that takes it; for the liaison's, one
#: more when no liaison officer has acted on the case yet, as all of them are then told), and
#: their messages go to the outbox in one INSERT when anyone is to be told (not the person who
#: acted, nor those who turned notifications off or gave no address: the tours give everyone
#: an address, so the INSERT is counted). A stage where nobody's turn comes (suspension,
#: withholding, monitoring, an end) costs nothing more, nor does an action that stays in its
#: stage. TURN is the two of a stage whose main step one role takes.
TURN = 2

# A decision (the community's, with its password asked again) costs 10 before its guards: the
# lock; the protocol (the decision rule); the community's representatives, each with whether
# their mandate was in force on the day (those present must be theirs; those mandated are
# entitled to vote); the sign-in throttle's count and the person's row (the password); the
# case's UPDATE; the case's disclosures (the decision names those in force); the decision's
# INSERT; the chain head; the event.

#: the ceiling of each trigger both templates have (an ordinary one: 5)
SHARED_CEILING = {
    # the case's protocol (an agreed one is amended in place) read before the new one's
    # INSERT; no note
    "agree_protocol": 6 + TURN,
    # the protocol (its languages and formats) and the case's disclosures, which a new
    # version of one supersedes
    "register_disclosure": 7,
    # as register_disclosure, however many items, languages and formats: every item's versions
    # in one SELECT and every new cell in one INSERT
    "register_disclosures": 7,
    # guards: every item disclosed (the protocol, the disclosures), every question answered
    "complete_disclosure": 8 + TURN,
    # a decision's 10; guards: no open integrity flag nor integrity grievance (the flags,
    # the grievances), every question answered (the questions)
    "give_consent": 13 + TURN,
    # as give_consent, and the conditions' INSERT
    "give_consent_with_conditions": 14 + TURN,
    "withhold_consent": 10,  # a decision's 10 (withheld_at goes in the case's one UPDATE)
    "decline_to_engage": 5,
    "record_monitoring_report": 5,
    "confirm_rehabilitation": 5,
    "close_case": 5,
    "log_meeting": 5,
    "ask_question": 5,
    "answer_question": 6,  # reads the case's questions to find the one answered
    "raise_integrity_flag": 5,
    "review_integrity_flag": 6,  # reads the case's flags to find the one reviewed
    "record_activity_start": 6,  # guard consent_covers_activity: the decisions in force
    "suspend_process": 5,
    "resume_process": 5 + TURN,  # back to the stage it left: the tours' is the liaison's
    "abandon": 5,
    "request_reconsideration": 5,
    # the pending request's new proposal read, and the disclosures it changes superseded
    "reopen_case": 8 + TURN,
    # the guard calls_for_reconsent reads the decisions; the disclosures of the items named
    # read and superseded in one UPDATE
    "register_reconsent_event": 8 + TURN,
    "withdraw_consent": 5,
    "renegotiate": 5 + TURN,
    # the case's disclosures read and superseded (one UPDATE for them all); where the
    # project has an area, the screening's 4 (fpic-general's ceiling)
    "register_material_change": 7 + TURN,
    "invalidate_process": 6,  # guard upheld_integrity_finding: the case's flags
    "restart_process": 7 + TURN,  # as register_material_change (every disclosure superseded)
    # no record: the chosen account, read by the check (its id kept for the write)
    "assign_independent": 5,
    "lodge_grievance": 5,
    # each step reads the case's grievances to find the one it takes and check its step,
    # then UPDATEs it instead of a record's INSERT
    "acknowledge_grievance": 6,
    "assess_grievance": 6,
    "respond_to_grievance": 6,
    "escalate_grievance": 6,
    "check_retaliation": 6,
    "close_grievance": 6,
    # the condition, read by the check (kept for the write); its UPDATE instead of a record's
    # INSERT
    "report_condition_progress": 6,
    "declare_condition_breached": 6 + TURN,
}
#: the ceiling of each trigger of fpic-general
GENERAL_CEILING = {
    **SHARED_CEILING,
    "register_material_change": 11 + TURN,
    "screen_in": 5 + TURN,
    # guard no_territory_overlap: the community's territory, and when there is one the
    # project's area, read afresh
    "screen_out": 7,
    # guard community_registered: the community's register
    "confirm_rights_holders": 6 + TURN,
    # a screening reads the project's areas, the datasets, the territories and, where there
    # are datasets, the reference areas its index finds (one statement per 500)
    "screen_project": 9,  # the screening's 4 and an ordinary action's 5
    # the area's INSERT, the screening, the file's blob, chunk and index row
    "record_project_area": 12,
    # the territory's INSERT and a note, the screening, the file's blob, chunk and index row
    "complete_mapping": 13 + TURN,
    "record_territory": 13,
    "record_compatibility_assessment": 5,
    "open_negotiation": 5 + TURN,
    "convene_decision": 5 + TURN,
    "give_partial_consent": 13 + TURN,  # as give_consent
    "continue_dialogue": 10 + TURN,  # a decision's 10
    # a decision's 10 (the clock's restart in the case's one UPDATE)
    "defer_decision": 10 + TURN,
    "validate_agreement": 5,
    "flag_state_approval": 5,
    "request_more_information": 5 + TURN,
    "screen_again": 5 + TURN,
    # the window is the community's: its protocol read for the number it agreed
    "request_reconsideration": 6,
}
#: the ceiling of each trigger of ncip-ao3-2012
NCIP_CEILING = {
    **SHARED_CEILING,
    "hold_pre_fbi_conference": 5 + TURN,
    "issue_non_overlap": 5,
    # guard community_registered: the community's register; the conference the liaison
    # officer and the State hold together: a SELECT for each
    "require_fpic": 6 + TURN + 1,
    "hold_pre_fpic_conference": 5 + TURN,
    "convene_decision_meeting": 5 + TURN,
    "draft_moa": 5 + TURN,
    "return_moa_draft": 5 + TURN,
    "sign_moa": 5 + TURN,
    "record_certification_precondition": 5,
    "find_overlap": 5 + TURN,
    "post_bond": 5,
}


@contextmanager
def counted(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append(" ".join(statement.split()[:4]))

    event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(world.db.engine, "before_cursor_execute", count)


@dataclass
class Tour:
    """The statements of each trigger fired with :meth:`fire` (its costliest firing); what
    else is done to the cases (``world.act``, the walks) is not counted."""

    world: World
    community: Community
    costs: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rep(self) -> Actor:
        return self.community.rep_actors[0]

    def today(self) -> str:
        return self.world.clock.now().date().isoformat()

    def fire(self, case_id: int, trigger: str, actor: Actor, data: Any) -> ActionResult:
        version = self.world.case(case_id).version  # read before, as a page would have
        with counted(self.world) as seen:
            result = self.world.engine.advance(
                case_id, trigger, actor, data, version, confirmation=PASSWORD
            )
        if len(seen) >= len(self.costs.get(trigger, [])):
            self.costs[trigger] = seen
        return result

    def check(self, template: Template, ceilings: dict[str, int]) -> None:
        """Every trigger of ``template`` has a ceiling and was fired, none above its ceiling."""
        triggers = set(template.triggers)
        assert set(ceilings) == triggers, (
            f"{template.id}: no ceiling for {sorted(triggers - set(ceilings))}; "
            f"a ceiling for no trigger: {sorted(set(ceilings) - triggers)}"
        )
        assert set(self.costs) == triggers, (
            f"{template.id}: never fired: {sorted(triggers - set(self.costs))}"
        )
        over = {t: s for t, s in self.costs.items() if len(s) > ceilings[t] + LOG_SEAL}
        assert not over, "\n".join(
            f"{template.id} {t}: {len(s)} > {ceilings[t]} + {LOG_SEAL}: {s}"
            for t, s in over.items()
        )
        # the ordinary ones: the lock, the record, the chain head, the event, the case
        assert sorted(" ".join(s.split()[:3]) for s in self.costs["suspend_process"]) == ORDINARY


# --- walking and data --------------------------------------------------------------------


def _everyone_notified(world: World) -> None:
    """Every account with an e-mail address (notifications are on by default): each stage
    change then queues its messages, and what that costs is counted (TURN)."""
    with world.db.write_session() as session, session.begin():
        session.execute(update(User).values(email=User.username + "@example.org"))


def _case_at(tour: Tour, stage: str, template: Template = GENERAL) -> int:
    """A new case walked, uncounted, along the template's main path until it is at ``stage``."""
    return case_at(tour.world, tour.community, template.id, stage)


def _agreement(tour: Tour) -> dict[str, Any]:
    return {
        "text": "Agreement validated by the assembly.",
        "signed_on": tour.today(),
        "signatories": ["Assembly president"],
    }


def _no(tour: Tour) -> dict[str, Any]:
    return decision(tour.world, tour.community, votes_for=0, votes_against=len(tour.community.reps))


def _with_conditions(tour: Tour) -> dict[str, Any]:
    condition = {
        "text": "No drilling within 500 m of the springs.",
        "language": "es",
        "obligated_party": "Andes Copper S.A.",
        "due_on": "2026-12-31",
        "verification": "Joint site visit.",
    }
    return decision(tour.world, tour.community, conditions=[condition])


def _withdrawal(tour: Tour) -> dict[str, Any]:
    return {
        "text": "The springs above the camp dried up.",
        "decided_on": tour.today(),
        "deciding_body": "Community assembly",
        "activities_affected": ["drilling"],
    }


def _disclosure_side_trips(tour: Tour, case_id: int, template: Template) -> None:
    """Counted at the disclosure stage (the second assembly in NCIP): a pause and its end, a
    question and its answer, a meeting, one disclosure; then everything disclosed."""
    world, rep, liaison, day = tour.world, tour.rep, tour.world.liaison, tour.today()
    tour.fire(case_id, "suspend_process", rep, {"text": "The assembly asks for a pause."})
    tour.fire(case_id, "resume_process", rep, {"text": "The assembly resumes."})
    asked = tour.fire(case_id, "ask_question", rep, {"text": "Who repairs the road?",
                                                     "language": "es"})  # fmt: skip
    tour.fire(case_id, "answer_question", liaison, {
        "question_id": asked.records["question_id"], "answer": "We do.", "language": "es",
    })  # fmt: skip
    tour.fire(case_id, "log_meeting", liaison, {
        "kind": "information", "held_on": day, "place": "Casa comunal",
        "languages_used": ["qu", "es"], "minutes_language": "qu", "minutes_original": "Tantanakuy.",
    })  # fmt: skip
    tour.fire(case_id, "register_disclosure", liaison, {
        "item": template.required_disclosure_items[0], "languages": ["qu"], "formats": ["oral"],
        "title": "Imaynataq", "channel": "radio", "disclosed_on": day,
    })  # fmt: skip
    tour.fire(case_id, "register_disclosures", liaison, {
        "items": list(template.required_disclosure_items[1:4]), "languages": ["qu", "es"],
        "formats": ["oral", "written"], "title": "Willakuy", "channel": "radio",
        "disclosed_on": day,
    })  # fmt: skip
    disclose_everything(world, case_id)


def _consent_in_force(tour: Tour, case_id: int) -> None:
    """Counted where consent is in force: the grievance mechanism's steps (a grievance closed
    unsatisfied, then escalated), monitoring, a project activity, the facilitator's assignment
    and an integrity flag they review, rehabilitation and closure."""
    world, rep, liaison, day = tour.world, tour.rep, tour.world.liaison, tour.today()
    lodged = tour.fire(case_id, "lodge_grievance", rep, {
        "category": "impacts", "channel": "oral", "complainant": "Juana Quispe",
        "language": "qu", "text": "Mayupi yaku qhillichakun.", "received_on": day,
    })  # fmt: skip
    gid = {"grievance_id": lodged.records["grievance_id"]}
    tour.fire(case_id, "acknowledge_grievance", liaison, {**gid, "text": "Received; we visit."})
    tour.fire(case_id, "assess_grievance", liaison, {**gid, "assessment": "Confirmed.",
                                                     "upheld": True})  # fmt: skip
    tour.fire(case_id, "respond_to_grievance", liaison, {**gid, "text": "Silt fences."})
    tour.fire(case_id, "check_retaliation", rep, {**gid, "retaliation_found": False,
                                                  "note": "Visited."})  # fmt: skip
    tour.fire(case_id, "close_grievance", liaison, {**gid, "resolution": "Water clear again.",
                                                    "complainant_satisfied": "no"})  # fmt: skip
    tour.fire(case_id, "escalate_grievance", rep, {**gid, "mediator": "Defensoría del Pueblo",
                                                   "text": "Still silty."})  # fmt: skip
    tour.fire(case_id, "record_monitoring_report", rep, {"text": "Joint visit to the spring."})
    tour.fire(case_id, "record_activity_start", liaison, {"activity": "drilling",
                                                          "phase": "exploration",
                                                          "started_on": day})  # fmt: skip
    facilitator = world.facilitator
    tour.fire(case_id, "assign_independent", rep, {"role": "facilitator",
                                                   "username": facilitator.username})  # fmt: skip
    flag = tour.fire(case_id, "raise_integrity_flag", liaison, {
        "category": "bribery", "description": "Cash offered to two leaders.",
    })  # fmt: skip
    tour.fire(case_id, "review_integrity_flag", facilitator, {
        "flag_id": flag.records["flag_id"], "resolution": "Not substantiated.", "upheld": False,
    })  # fmt: skip
    tour.fire(case_id, "confirm_rehabilitation", rep, {"text": "Pads reseeded.",
                                                       "completed_on": day})  # fmt: skip
    tour.fire(case_id, "close_case", rep, {"text": "Exploration over; land restored."})
    assert world.case(case_id).stage == "closed"


def _sale(tour: Tour, item: str) -> dict[str, Any]:
    """The concession sold: who the proponent is (``item``) is disclosed again."""
    return {
        "event": "change_of_control", "happened_on": tour.today(), "affected_items": [item],
        "text": "The concession was sold to Altiplano Mining Ltd.",
    }  # fmt: skip


def _upheld_flag(tour: Tour, case_id: int) -> None:
    """An integrity flag raised and upheld, uncounted, so the process can be invalidated."""
    world = tour.world
    flag = world.act(case_id, "raise_integrity_flag", world.liaison, {
        "category": "bribery", "description": "Motorbikes given to three families.",
    })  # fmt: skip
    world.review_flag(case_id, tour.community, flag.records["flag_id"], True, "Confirmed.")


# --- the tours -----------------------------------------------------------------------------


def test_every_general_trigger_costs_no_more_than_its_ceiling(
    world: World, community: Community
) -> None:
    _everyone_notified(world)
    tour = Tour(world, community)
    rep, liaison, fire = tour.rep, world.liaison, tour.fire
    # the main path, with the side trips of disclosure, a state approval, consent in force
    case_id = world.open_case(community)
    fire(case_id, "record_project_area", liaison, project_area())
    # screened out, before any territory is mapped (then FPIC could not be screened out)
    out = world.open_case(community)
    fire(out, "screen_project", liaison, NOTE)
    fire(out, "screen_out", liaison, {"text": "No customary land."})
    fire(out, "screen_again", rep, {"text": "Our maps show grazing land by the road."})
    fire(case_id, "screen_in", liaison, NOTE)
    fire(case_id, "confirm_rights_holders", liaison, NOTE)
    fire(case_id, "complete_mapping", rep, territory())
    fire(case_id, "record_territory", rep, territory())
    fire(case_id, "agree_protocol", rep, protocol())
    _disclosure_side_trips(tour, case_id, GENERAL)
    fire(case_id, "complete_disclosure", liaison, {"text": "All items disclosed."})
    world.clock.advance(days=protocol()["min_deliberation_days"] + 1)
    fire(case_id, "open_negotiation", rep, NOTE)
    fire(case_id, "convene_decision", rep, NOTE)
    fire(case_id, "give_consent", rep, decision(world, community))
    fire(case_id, "validate_agreement", rep, _agreement(tour))
    fire(case_id, "flag_state_approval", liaison, {"text": "Permit approved by the state."})
    _consent_in_force(tour, case_id)
    # declined, then abandoned
    case_id = _case_at(tour, "rights_holders")
    fire(case_id, "decline_to_engage", rep, {"text": "We do not want a mine."})
    fire(case_id, "abandon", liaison, {"text": "The proponent dropped the project."})
    # consent with a condition, reported on, then declared breached
    case_id = _case_at(tour, "decision")
    given = fire(case_id, "give_consent_with_conditions", rep, _with_conditions(tour))
    [condition_id] = given.records["condition_ids"]
    fire(case_id, "report_condition_progress", liaison, {
        "condition_id": condition_id, "status": "in_progress", "evidence": "Fence staked.",
    })  # fmt: skip
    fire(case_id, "declare_condition_breached", rep, {
        "condition_id": condition_id, "evidence": "Drill pad 120 m from the upper spring.",
    })  # fmt: skip
    # partial consent, withdrawn, renegotiated, then a material change
    case_id = _case_at(tour, "decision")
    fire(case_id, "give_partial_consent", rep, decision(
        world, community, scope_activities=["drilling"], rejected_components=["open_pit"],
    ))  # fmt: skip
    fire(case_id, "withdraw_consent", rep, _withdrawal(tour))
    fire(case_id, "renegotiate", rep, {"text": "Talks resume on the springs."})
    fire(case_id, "register_material_change", liaison, {
        "text": "An open pit replaces the drilling programme.", "affected_items": [],
    })  # fmt: skip
    # consent withheld, reconsideration asked, the case reopened
    case_id = _case_at(tour, "decision")
    fire(case_id, "withhold_consent", rep, _no(tour))
    fire(case_id, "request_reconsideration", liaison, {
        "text": "Revised proposal: no camp.", "proposal_items": ["nature_scope_and_pace"],
    })  # fmt: skip
    fire(case_id, "reopen_case", rep, {"text": "We will listen again."})
    # consent that names a change of operator, which then happens
    case_id = _case_at(tour, "decision")
    world.act(case_id, "give_consent", rep, decision(
        world, community, reconsent_on=["change_of_control"],
    ))  # fmt: skip
    world.act(case_id, "validate_agreement", rep, _agreement(tour))
    fire(case_id, "register_reconsent_event", liaison, _sale(tour, "proponent_identity"))
    # no, but the dialogue continues; more information asked
    case_id = _case_at(tour, "decision")
    fire(case_id, "continue_dialogue", rep, _no(tour))
    fire(case_id, "request_more_information", rep, {"text": "The water study in Quechua."})
    # deferred; the process invalidated after an upheld finding, and restarted
    case_id = _case_at(tour, "decision")
    fire(case_id, "defer_decision", rep, decision(world, community, votes_for=0))
    _upheld_flag(tour, case_id)
    fire(case_id, "invalidate_process", rep, {"text": "Gifts outside the agreed budget."})
    fire(case_id, "restart_process", rep, {"text": "We start again, with a new protocol."})
    # a national park found around the project: its compatibility assessed
    _import_park(tour)
    case_id = world.open_case(community)
    world.act(case_id, "screen_project", liaison, NOTE)
    [park] = [f for f in world.case(case_id).screening["findings"] if f["kind"] != "territory"]
    fire(case_id, "record_compatibility_assessment", liaison, {
        "protected_area": park["ref"], "assessed_by": "Independent ecologist",
        "text": "Compatible with the park's buffer zone plan.",
    })  # fmt: skip
    tour.check(GENERAL, GENERAL_CEILING)


def _import_park(tour: Tour) -> None:
    ring = [
        [-71.96, -13.54],
        [-71.90, -13.54],
        [-71.90, -13.50],
        [-71.96, -13.50],
        [-71.96, -13.54],
    ]
    park = {
        "type": "Feature",
        "properties": {"WDPAID": 1, "NAME": "Parque Nacional", "IUCN_CAT": "II"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "parks.geojson")
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [park]}))
        import_areas(
            tour.world.engine, tour.world.admin, path, kind="protected_area", source="Test",
            version="1",
        )  # fmt: skip


def test_every_ncip_trigger_costs_no_more_than_its_ceiling(
    world: World, community: Community
) -> None:
    _everyone_notified(world)
    tour = Tour(world, community)
    rep, liaison, state, fire = tour.rep, world.liaison, world.state_authority, tour.fire
    # the main path, with the side trips of the second assembly and the draft sent back
    # once, then consent in force
    case_id = world.open_case(community, template=NCIP.id)
    fire(case_id, "hold_pre_fbi_conference", liaison, NOTE)
    fire(case_id, "require_fpic", state, NOTE)
    fire(case_id, "hold_pre_fpic_conference", liaison, NOTE)
    fire(case_id, "agree_protocol", rep, protocol())
    _disclosure_side_trips(tour, case_id, NCIP)
    fire(case_id, "complete_disclosure", liaison, {"text": "All items presented."})
    world.clock.advance(days=protocol()["min_deliberation_days"] + 1)
    fire(case_id, "convene_decision_meeting", rep, NOTE)
    fire(case_id, "give_consent", rep, decision(world, community))
    fire(case_id, "draft_moa", liaison, NOTE)
    fire(case_id, "return_moa_draft", rep, {"text": "Clause 4 is not what we agreed."})
    world.act(case_id, "draft_moa", liaison, NOTE)
    fire(case_id, "sign_moa", rep, _agreement(tour))
    fire(case_id, "record_certification_precondition", state, state_decision(world))
    fire(case_id, "post_bond", liaison, bond(world))
    _consent_in_force(tour, case_id)
    # a Certificate of Non-Overlap, then an overlap found later
    case_id = _case_at(tour, "field_investigation", NCIP)
    fire(case_id, "issue_non_overlap", state, step_data(world, community, NCIP.id,
                                                         "issue_non_overlap"))  # fmt: skip
    fire(case_id, "find_overlap", rep, {"text": "Our ancestral domain covers the road."})
    # consent that names a change of operator, which then happens
    case_id = _case_at(tour, "decision_meeting", NCIP)
    world.act(case_id, "give_consent", rep, decision(
        world, community, reconsent_on=["change_of_control"],
    ))  # fmt: skip
    advance_along(world, community, case_id, "implementation")
    fire(case_id, "register_reconsent_event", liaison, _sale(tour, "applicant_identity"))
    # a written rejection, then the application abandoned
    case_id = _case_at(tour, "field_investigation", NCIP)
    fire(case_id, "decline_to_engage", rep, {"text": "Signed rejection of the elders."})
    fire(case_id, "abandon", liaison, {"text": "The applicant withdrew its application."})
    # consent with a condition, reported on, then declared breached; consent withdrawn,
    # renegotiated, then a material change
    case_id = _case_at(tour, "decision_meeting", NCIP)
    given = fire(case_id, "give_consent_with_conditions", rep, _with_conditions(tour))
    [condition_id] = given.records["condition_ids"]
    fire(case_id, "report_condition_progress", liaison, {
        "condition_id": condition_id, "status": "in_progress", "evidence": "Fence staked.",
    })  # fmt: skip
    fire(case_id, "declare_condition_breached", rep, {
        "condition_id": condition_id, "evidence": "Drill pad 120 m from the upper spring.",
    })  # fmt: skip
    fire(case_id, "withdraw_consent", rep, _withdrawal(tour))
    fire(case_id, "renegotiate", rep, {"text": "The council agrees to renegotiate."})
    fire(case_id, "register_material_change", liaison, {
        "text": "A second weir is now planned.", "affected_items": [],
    })  # fmt: skip
    # non-consent, reconsideration asked, reopened; then invalidated and restarted
    case_id = _case_at(tour, "decision_meeting", NCIP)
    fire(case_id, "withhold_consent", rep, _no(tour))
    fire(case_id, "request_reconsideration", liaison, {
        "text": "The weir moves 2 km down.", "proposal_items": ["operation_plan_and_scope"],
    })  # fmt: skip
    fire(case_id, "reopen_case", rep, {"text": "The elders reconvene the assembly."})
    _upheld_flag(tour, case_id)
    fire(case_id, "invalidate_process", rep, {"text": "Bribery upheld under §65."})
    fire(case_id, "restart_process", rep, {"text": "The process is redone."})
    tour.check(NCIP, NCIP_CEILING)
