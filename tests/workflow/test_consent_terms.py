"""A consent lasts as long as the community said: its term and the events it names as calling
for consent again (a new operator or owner, a new phase, a larger area), recorded in the
decision and enforced (issue 18, item 5)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from fpic.storage.models import Case, Decision
from fpic.workflow.errors import GuardRefused, InvalidData, NotPermitted
from fpic.workflow.process import shipped_templates
from tests.factories import Community, World, decision, disclose_everything, step_data, walk_to

GENERAL = "fpic-general"


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _day(world: World, days: int = 0) -> str:
    return (world.clock.now().date() + timedelta(days=days)).isoformat()


def _consented(
    world: World, community: Community, term_days: int | None = None, **terms: Any
) -> int:
    """A case whose community consented on ``terms`` (for ``term_days`` from the day it
    decided) and signed the agreement."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    if term_days is not None:
        terms["term_ends_on"] = _day(world, term_days)
    given = decision(world, community, **terms)
    world.act(case_id, "give_consent", community.rep_actors[0], given)
    agreement = step_data(world, community, GENERAL, "validate_agreement")
    world.act(case_id, "validate_agreement", community.rep_actors[0], agreement)
    assert world.case(case_id).stage == "monitoring"
    return case_id


def _activity(world: World, days: int = 0) -> dict[str, Any]:
    return {"activity": "drilling", "phase": "exploration", "started_on": _day(world, days)}


def _event(world: World, event: str, **overrides: Any) -> dict[str, Any]:
    return {
        "event": event,
        "happened_on": _day(world),
        "affected_items": ["proponent_identity"],
        "text": "Andes Copper S.A. sold the concession to Altiplano Mining Ltd.",
        **overrides,
    }


def _refused(world: World, case_id: int, trigger: str, actor, data: dict[str, Any]):
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return caught.value


def test_the_decision_records_the_term_and_the_events_it_names(world, community):
    case_id = _consented(
        world, community, term_days=365, reconsent_on=["change_of_control", "new_phase"]
    )
    ends = _day(world, 365)
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        [consent] = case.decisions
        assert consent.term_ends_on == date.fromisoformat(ends)
        assert consent.reconsent_on == ["change_of_control", "new_phase"]


def test_a_term_ending_before_the_decision_is_refused(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    with pytest.raises(InvalidData) as caught:
        world.act(
            case_id, "give_consent", community.rep_actors[0],
            decision(world, community, term_ends_on=_day(world)),
        )  # fmt: skip
    assert caught.value.field == "term_ends_on"


def test_no_activity_starts_after_the_consents_term(world, community):
    case_id = _consented(world, community, term_days=30)
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    world.clock.advance(days=31)
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"consent_term_ended"}
    # dated within the term, an activity started then is still covered
    world.act(case_id, "record_activity_start", world.liaison, _activity(world, -5))


def test_a_change_of_operator_the_consent_names_returns_the_case_for_consent(world, community):
    case_id = _consented(world, community, reconsent_on=["change_of_control"])
    rep = community.rep_actors[0]
    world.act(
        case_id, "register_reconsent_event", world.liaison, _event(world, "change_of_control")
    )
    case = world.case(case_id)
    assert case.stage == "disclosure"
    assert case.deliberation_started_at is None
    # beyond the consent now: nothing starts until the community decides again
    refusal = _refused(world, case_id, "record_activity_start", world.liaison, _activity(world))
    assert _codes(refusal) == {"no_consent_in_force"}
    refusal = _refused(world, case_id, "complete_disclosure", world.liaison, {"text": "Done."})
    assert "disclosure_incomplete" in _codes(refusal)  # the new operator is presented first
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, {"text": "New operator presented."})
    world.clock.advance(days=31)
    world.act(case_id, "open_negotiation", rep, {"text": "Terms with the new operator."})
    world.act(case_id, "convene_decision", rep, {"text": "Assembly convened."})
    world.act(case_id, "give_consent", rep, decision(world, community))
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert [d.outcome for d in case.decisions] == ["CONSENT", "CONSENT"]


def test_an_event_the_consent_does_not_name_is_refused(world, community):
    case_id = _consented(world, community, reconsent_on=["new_phase"])
    refusal = _refused(
        world,
        case_id,
        "register_reconsent_event",
        world.liaison,
        _event(world, "change_of_control"),
    )
    assert _codes(refusal) == {"not_a_reconsent_event"}
    assert world.case(case_id).stage == "monitoring"


def test_the_end_of_the_term_returns_the_case_once_it_has_come(world, community):
    case_id = _consented(world, community, term_days=10)
    expiry = _event(world, "expiry", affected_items=["duration"], text="The term has ended.")
    refusal = _refused(world, case_id, "register_reconsent_event", world.state_authority, expiry)
    assert _codes(refusal) == {"consent_term_running"}
    world.clock.advance(days=11)
    expiry["happened_on"] = _day(world)
    world.act(case_id, "register_reconsent_event", community.rep_actors[0], expiry)
    assert world.case(case_id).stage == "disclosure"


def test_a_consent_without_a_term_never_expires(world, community):
    case_id = _consented(world, community)
    world.clock.advance(days=3650)
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    expiry = _event(world, "expiry", affected_items=["duration"], text="Ten years on.")
    refusal = _refused(world, case_id, "register_reconsent_event", world.liaison, expiry)
    assert _codes(refusal) == {"consent_term_running"}


def test_the_auditor_never_registers_an_event(world, community):
    case_id = _consented(world, community, reconsent_on=["change_of_control"])
    with pytest.raises(NotPermitted):
        world.act(
            case_id, "register_reconsent_event", world.auditor, _event(world, "change_of_control")
        )


def test_every_template_with_a_consent_in_force_can_call_for_it_again():
    for template in shipped_templates().values():
        holding = {name for name, stage in template.stages.items() if stage.consent_in_force}
        if not holding:
            continue
        events = [t for t in template.triggers.values() if t.effect == "reconsent_event"]
        assert events, template.id
        assert holding <= {s for t in events for s in t.sources}, template.id
        assert all("calls_for_reconsent" in t.guards for t in events), template.id


def test_the_decision_columns_are_stored(world, community):
    assert {"term_ends_on", "reconsent_on"} <= set(Decision.__table__.columns.keys())


def test_the_end_of_a_consents_term_is_on_the_dashboard(world, community):
    from fpic.read.deadlines import consents_past_their_term, deadlines

    case_id = _consented(world, community, term_days=20)
    ends = world.clock.now().date() + timedelta(days=20)
    with world.db.read_session() as session:
        due = [(d.kind, d.due) for d in deadlines(session, world.clock.now(), horizon_days=30)
               if d.case_id == case_id]  # fmt: skip
        assert ("consent_term", ends) in due
        assert consents_past_their_term(session, ends) == []
        [(case, ended)] = consents_past_their_term(session, ends + timedelta(days=1))
    assert (case.id, ended) == (case_id, ends)


def test_a_change_names_what_the_community_is_told_again(world, community):
    case_id = _consented(world, community, reconsent_on=["new_phase"])
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "register_reconsent_event", world.liaison,
                  _event(world, "new_phase", affected_items=[]))  # fmt: skip
    assert caught.value.field == "affected_items"
    assert world.case(case_id).stage == "monitoring"
