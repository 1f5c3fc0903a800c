"""The outbox: "it is your turn" queued in the action's own transaction, for the right people;
deadline reminders queued once each."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from fpic.notify.reminders import queue_reminders, reminder_day
from fpic.storage.models import OutboxMessage, User
from fpic.workflow import engine as engine_module
from fpic.workflow.errors import InvalidTransition
from fpic.workflow.process import shipped_templates
from tests.factories import Community, World, case_at, decision
from tests.notify.conftest import give_addresses, set_user

GENERAL = shipped_templates()["fpic-general"]
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


def _queued(world: World) -> list[tuple[str, str, int | None]]:
    """(recipient, kind, case) of every row, in order."""
    with world.db.read_session() as session:
        rows = session.execute(
            select(User.username, OutboxMessage.kind, OutboxMessage.case_id)
            .join(User, User.id == OutboxMessage.user_id)
            .order_by(OutboxMessage.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def _rows(world: World) -> list[OutboxMessage]:
    with world.db.read_session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_stage_change_tells_the_people_whose_turn_it_is_but_not_the_actor(any_world: World):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    give_addresses(world)
    # one representative turned notifications off; the facilitator and auditor are never told
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = len(_rows(world))
    world.act(case_id, "convene_decision", community.rep_actors[0], {"text": "Assembly on 3 May."})
    new = _queued(world)[before:]
    # the decision is the community's: its representatives but the one who convened it and
    # the one who wants no e-mail
    assert new == [("rep-ayllu-qollana-2", "turn", case_id)]
    row = _rows(world)[-1]
    assert row.params["stage"] == "decision"
    assert GENERAL.triggers["give_consent"].title in row.params["steps"]
    assert row.sent_at is None
    assert row.claimed_at is None
    assert row.next_attempt_at == world.clock.now()
    assert len(row.message_id) == 40


def test_no_address_no_message(world: World, community: Community):
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-2", email=None)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = len(_rows(world))
    world.act(case_id, "convene_decision", community.rep_actors[0], {"text": "Assembly."})
    assert [r[0] for r in _queued(world)[before:]] == ["rep-ayllu-qollana-3"]


def test_a_refused_action_queues_nothing(any_world: World):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    give_addresses(world)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = _queued(world)
    with pytest.raises(InvalidTransition):  # not at the decision stage yet
        world.act(case_id, "give_consent", community.rep_actors[0], decision(world, community))
    assert _queued(world) == before


def test_the_messages_are_written_with_the_action_or_not_at_all(
    any_world: World, monkeypatch: pytest.MonkeyPatch
):
    """An action that fails after its messages were queued (here: writing the case row)
    leaves neither the stage change nor the messages."""
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    give_addresses(world)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = _queued(world)

    def broken(session: object, case: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(engine_module, "_write_case_row", broken)
    with pytest.raises(RuntimeError):
        world.act(case_id, "convene_decision", community.rep_actors[0], {"text": "Assembly."})
    assert _queued(world) == before
    assert world.case(case_id).stage == "negotiation"


def test_an_action_that_stays_in_its_stage_queues_nothing(world: World, community: Community):
    give_addresses(world)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = _queued(world)
    world.act(case_id, "log_meeting", world.liaison, {
        "kind": "information", "held_on": world.clock.now().date().isoformat(),
        "place": "Casa comunal", "languages_used": ["qu"], "minutes_language": "qu",
        "minutes_original": "Tantanakuy.",
    })  # fmt: skip
    world.act(case_id, "ask_question", community.rep_actors[0], {"text": "Who pays?",
                                                                  "language": "es"})  # fmt: skip
    assert _queued(world) == before


def test_a_stage_where_it_is_nobodys_turn_queues_nothing(world: World, community: Community):
    give_addresses(world)
    case_id = case_at(world, community, "fpic-general", "negotiation")
    before = _queued(world)
    world.act(case_id, "suspend_process", community.rep_actors[0], {"text": "A pause."})
    assert _queued(world) == before


def test_opening_a_case_tells_whoever_takes_its_first_step(world: World, community: Community):
    """Under the NCIP's rules the first step (the pre-FBI conference) is the liaison
    officer's or the State's: the liaison officer opened the case, so the State authority is
    told."""
    give_addresses(world)
    before = len(_rows(world))
    case_id = world.open_case(community, template="ncip-ao3-2012")
    assert _queued(world)[before:] == [("state-authority", "turn", case_id)]


# --- reminders ------------------------------------------------------------------------------


def _with_condition_due(world: World, community: Community, days: int) -> int:
    case_id = case_at(world, community, "fpic-general", "decision")
    due = (world.clock.now() + timedelta(days=days)).date().isoformat()
    condition = {
        "text": "No drilling within 500 m of the springs.", "language": "es",
        "obligated_party": "Andes Copper S.A.", "due_on": due, "verification": "Site visit.",
    }  # fmt: skip
    world.act(case_id, "give_consent_with_conditions", community.rep_actors[0],
              decision(world, community, conditions=[condition]))  # fmt: skip
    return case_id


def _reminders(world: World) -> list[tuple[str, int]]:
    """(recipient, reminder day) of every reminder queued."""
    with world.db.read_session() as session:
        rows = session.execute(
            select(User.username, OutboxMessage.params)
            .join(User, User.id == OutboxMessage.user_id)
            .where(OutboxMessage.kind == "deadline")
            .order_by(OutboxMessage.id)
        ).all()
    return [(name, params["days_before"]) for name, params in rows]


def test_reminders_are_queued_once_each(any_world: World):
    world = any_world
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    give_addresses(world)
    set_user(world, "rep-ayllu-qollana-3", notify=False)
    case_id = _with_condition_due(world, community, days=5)
    now = world.clock.now()
    # a condition concerns who reports on it (the liaison officer) and who verifies it (the
    # community's representatives); five days ahead is the 7-day reminder
    assert queue_reminders(world.db, now) == 3
    expected = [("liaison", 7), ("rep-ayllu-qollana-1", 7), ("rep-ayllu-qollana-2", 7)]
    assert sorted(_reminders(world)) == expected
    assert queue_reminders(world.db, now) == 0
    assert queue_reminders(world.db, now + timedelta(hours=5)) == 0
    # the day before: the 1-day reminder, once
    later = now + timedelta(days=4)
    assert queue_reminders(world.db, later) == 3
    assert queue_reminders(world.db, later) == 0
    assert sorted(_reminders(world)) == sorted(
        [*expected, ("liaison", 1), ("rep-ayllu-qollana-1", 1), ("rep-ayllu-qollana-2", 1)]
    )
    row = _rows(world)[-1]
    assert (row.kind, row.case_id, row.params["kind"]) == ("deadline", case_id, "condition")
    assert row.params["due"] == (now + timedelta(days=5)).date().isoformat()
    # past its day, nobody is reminded any more
    assert queue_reminders(world.db, now + timedelta(days=6)) == 0


def test_a_reminder_counts_the_days_in_the_persons_time_zone(world: World, community: Community):
    give_addresses(world)
    _with_condition_due(world, community, days=2)
    # at 10:00 UTC two days before the deadline it is already midnight of the next day in
    # Kiritimati (UTC+14): there the deadline is tomorrow; everywhere else in two days
    set_user(world, "rep-ayllu-qollana-2", time_zone="Pacific/Kiritimati")
    queue_reminders(world.db, world.clock.now() + timedelta(hours=1), remind_days=(1,))
    assert _reminders(world) == [("rep-ayllu-qollana-2", 1)]


@pytest.mark.parametrize(
    ("left", "expected"),
    [(10, None), (8, None), (7, 7), (3, 7), (2, 7), (1, 1), (0, 1), (-1, None)],
)
def test_which_reminder_is_due(left: int, expected: int | None):
    today = date(2026, 3, 10)
    assert reminder_day(today + timedelta(days=left), today, (7, 1)) == expected
