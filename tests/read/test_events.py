"""What the pages show of a trail event: the text typed with an action, and one event with
its neighbours, for exactly those who may read its chain."""

from __future__ import annotations

import pytest

from fpic.read.events import Typed, trail_event, typed_text
from fpic.storage.models import TrailEvent
from fpic.trail import audit
from fpic.workflow.errors import NotPermitted
from fpic.workflow.process import shipped_templates
from tests.factories import Community, World, walk_to

GENERAL = shipped_templates()["fpic-general"]


def _events(world: World, case_id: int) -> list[TrailEvent]:
    with world.db.read_session() as db:
        return list(
            db.query(TrailEvent).filter_by(chain=audit.case_chain(case_id)).order_by(TrailEvent.seq)
        )


def test_the_text_typed_with_an_action_is_read_under_its_label(
    world: World, community: Community
) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    asked = world.act(
        case_id, "ask_question", community.rep_actors[0],
        {"text": "Who repairs the road?", "language": "es"},
    )  # fmt: skip
    question_id = asked.records["question_id"]
    world.act(
        case_id, "answer_question", world.liaison,
        {"question_id": question_id, "answer": "We do, in writing.", "language": "es"},
    )  # fmt: skip
    by_action = {e.action: typed_text(GENERAL, e) for e in _events(world, case_id)}
    assert by_action["screen_in"] == [Typed("Record", "Recorded in the field.")]
    assert [t.text for t in by_action["complete_mapping"]] == ["Maps signed off by the assembly."]
    assert [t.text for t in by_action["ask_question"]] == ["Who repairs the road?"]
    assert [t.text for t in by_action["answer_question"]] == ["We do, in writing."]
    assert by_action["open_case"] == []  # a system action declares no text


def test_a_refused_action_shows_no_typed_text(world: World, community: Community) -> None:
    case_id = world.open_case(community)
    with pytest.raises(NotPermitted):
        world.act(case_id, "screen_in", world.auditor, {"text": "Not mine to write."})
    refused = [e for e in _events(world, case_id) if e.outcome == "refused"]
    assert len(refused) == 1
    assert typed_text(GENERAL, refused[0]) == []


def test_an_event_is_read_with_its_neighbours_by_those_who_may_read_its_chain(
    world: World, community: Community
) -> None:
    other = world.add_community("uma-jaqi", ["ay"])
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": "Screened in."})
    chain = audit.case_chain(case_id)
    with world.db.read_session() as db:
        view = trail_event(db, community.rep_actors[0], chain, 2)
        assert view is not None
        assert view.event.action == "screen_in"
        assert view.before is not None
        assert view.before.seq == 1
        assert view.event.prev_hash == view.before.hash
        assert view.after is None
        assert view.data["payload"]["text"] == "Screened in."
        # another community's representative: as if there were no such event
        assert trail_event(db, other.rep_actors[0], chain, 2) is None
        assert trail_event(db, world.liaison, chain, 99) is None
        # the system chain: only those who read every chain
        assert trail_event(db, world.liaison, audit.SYSTEM_CHAIN, 1) is None
        assert trail_event(db, world.auditor, audit.SYSTEM_CHAIN, 1) is not None
