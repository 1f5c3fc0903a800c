"""How many SQL statements each action costs, counted on the wire (BEGIN and COMMIT aside).

An ordinary action is five: the case and its chain head locked in one SELECT that also reads
whether the account is active and the mandate; the record's INSERT; the chain head's UPDATE;
the trail event's INSERT; the case's one UPDATE. Guards that read the case's evidence, and
actions that write several records, cost what they read and write. Every count below is a
ceiling: a change that makes an action cost more fails here and must say why. The main path
of the general template and the actions after consent are counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from fpic.storage.models import Grievance, Question
from fpic.workflow.process import shipped_templates
from tests.factories import (
    PASSWORD,
    Community,
    World,
    decision,
    disclose_everything,
    protocol,
    walk_to,
)

GENERAL = shipped_templates()["fpic-general"]
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
#: the ceiling of each action fired below (an ordinary one: 5)
CEILING = {
    "screen_in": 5,
    "confirm_rights_holders": 6,  # guard community_registered: the community's register
    "complete_mapping": 5,
    "agree_protocol": 6,  # the protocol's INSERT, then the case's and the protocol's ids
    "suspend_process": 5,
    "resume_process": 5,
    "ask_question": 5,
    "answer_question": 6,  # reads the case's questions to find the one answered
    "log_meeting": 5,
    # the protocol (its languages and formats) and the case's disclosures, which a new
    # version of one supersedes
    "register_disclosure": 7,
    "complete_disclosure": 8,  # guards: every item disclosed, every question answered
    "open_negotiation": 5,
    "convene_decision": 5,
    "give_consent": 14,  # guards read the evidence; the decision and its count
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


def fire(world: World, case_id: int, trigger: str, actor: Any, data: Any) -> list[str]:
    version = world.case(case_id).version  # read before, as a page would have
    with counted(world) as seen:
        world.engine.advance(case_id, trigger, actor, data, version, confirmation=PASSWORD)
    return seen


def test_each_action_costs_no_more_statements_than_its_ceiling(
    world: World, community: Community
) -> None:
    rep, liaison = community.rep_actors[0], world.liaison
    note = {"text": "Recorded in the field."}
    case_id = world.open_case(community)
    costs: dict[str, list[str]] = {}

    def step(trigger: str, actor: Any, data: Any) -> None:
        costs[trigger] = fire(world, case_id, trigger, actor, data)

    step("screen_in", liaison, note)
    step("confirm_rights_holders", liaison, note)
    step("complete_mapping", rep, note)
    step("agree_protocol", rep, protocol())
    step("suspend_process", rep, {"text": "The assembly asks for a pause."})
    step("resume_process", rep, {"text": "The assembly resumes."})
    step("ask_question", rep, {"text": "Who repairs the road?", "language": "es"})
    with world.db.read_session() as db:
        question = db.query(Question).filter_by(case_id=case_id).one()
    step("answer_question", liaison, {"question_id": question.id, "answer": "We do.",
                                      "language": "es"})  # fmt: skip
    day = world.clock.now().date().isoformat()
    step("log_meeting", liaison, {
        "kind": "information", "held_on": day, "place": "Casa comunal",
        "languages_used": ["qu", "es"], "minutes_language": "qu", "minutes_original": "Tantanakuy.",
    })  # fmt: skip
    step("register_disclosure", liaison, {
        "item": GENERAL.required_disclosure_items[0], "language": "qu", "format": "oral",
        "title": "Imaynataq", "channel": "radio", "disclosed_on": day,
    })  # fmt: skip
    disclose_everything(world, case_id)
    step("complete_disclosure", liaison, {"text": "All items disclosed."})
    world.clock.advance(days=protocol()["min_deliberation_days"] + 1)
    step("open_negotiation", rep, note)
    step("convene_decision", rep, note)
    step("give_consent", rep, decision(world, community))
    over = {trigger: seen for trigger, seen in costs.items() if len(seen) > CEILING[trigger]}
    assert not over, "\n".join(f"{t}: {len(s)} > {CEILING[t]}: {s}" for t, s in over.items())
    assert set(costs) == set(CEILING)
    # the ordinary ones: the lock, the record, the chain head, the event, the case
    assert sorted(" ".join(s.split()[:3]) for s in costs["suspend_process"]) == [
        "INSERT INTO case_notes",
        "INSERT INTO trail_events",
        "SELECT cases.id, cases.reference,",
        "UPDATE cases SET",
        "UPDATE chain_heads SET",
    ]


#: after consent: the grievance mechanism's steps, monitoring, and a project activity
AFTER_CONSENT_CEILING = {
    "lodge_grievance": 5,
    # each step reads the case's grievances to find the one it takes and check its step
    "acknowledge_grievance": 6,
    "assess_grievance": 6,
    "respond_to_grievance": 6,
    "check_retaliation": 6,
    "close_grievance": 6,
    "record_monitoring_report": 5,
    "record_activity_start": 6,  # guard consent_covers_activity: the decisions in force
}


def test_after_consent_each_action_costs_no_more_than_its_ceiling(
    world: World, community: Community
) -> None:
    rep, liaison = community.rep_actors[0], world.liaison
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    day = world.clock.now().date().isoformat()
    costs: dict[str, list[str]] = {}

    def step(trigger: str, actor: Any, data: Any) -> None:
        costs[trigger] = fire(world, case_id, trigger, actor, data)

    step("lodge_grievance", rep, {
        "category": "impacts", "channel": "oral", "complainant": "Juana Quispe",
        "language": "qu", "text": "Mayupi yaku qhillichakun.", "received_on": day,
    })  # fmt: skip
    with world.db.read_session() as db:
        gid = {"grievance_id": db.query(Grievance).filter_by(case_id=case_id).one().id}
    step("acknowledge_grievance", liaison, {**gid, "text": "Received; we visit."})
    step("assess_grievance", liaison, {**gid, "assessment": "Confirmed.", "upheld": True})
    step("respond_to_grievance", liaison, {**gid, "text": "Silt fences, water tankers."})
    step("check_retaliation", rep, {**gid, "retaliation_found": False, "note": "Visited."})
    step("close_grievance", liaison, {**gid, "resolution": "Water clear again.",
                                      "complainant_satisfied": "yes"})  # fmt: skip
    step("record_monitoring_report", rep, {"text": "Joint visit to the spring."})
    step("record_activity_start", liaison, {"activity": "drilling", "phase": "exploration",
                                            "started_on": day})  # fmt: skip
    over = {t: s for t, s in costs.items() if len(s) > AFTER_CONSENT_CEILING[t]}
    assert not over, "\n".join(
        f"{t}: {len(s)} > {AFTER_CONSENT_CEILING[t]}: {s}" for t, s in over.items()
    )
    assert set(costs) == set(AFTER_CONSENT_CEILING)
