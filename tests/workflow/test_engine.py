"""The engine's contract: every bad input is refused with the field named, a refusal changes
nothing but the trail's record of the attempt, an action is all or nothing, and any script
round-trips."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fpic.accounts.passwords import check_password
from fpic.accounts.registry import set_user_active
from fpic.read import queries
from fpic.storage.models import Case, Decision, TrailEvent, User
from fpic.trail import audit
from fpic.workflow.errors import (
    GuardRefused,
    InvalidData,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StaleCase,
)
from tests.factories import PASSWORD, Community, World, business_rows, decision, protocol, walk_to

NOTE = {"text": "Recorded in the field."}


def _state(world: World, case_id: int) -> tuple[Any, ...]:
    case = world.case(case_id)
    return (case.stage, case.version, case.deliberation_started_at, business_rows(world))


def _case_at(world: World, community: Community, stage: str) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, stage, community)
    return case_id


def _last_event(world: World, case_id: int) -> tuple[TrailEvent, dict[str, Any]]:
    """The newest event of the case's chain, with its data as hashed (canonical JSON)."""
    with world.db.read_session() as session:
        event = queries.case_events(session, case_id)[-1]
        return event, json.loads(event.data)


# --- opening a case -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template_id": "fpic-nowhere"}, "template_id"),
        ({"project_id": 9999}, "project_id"),
        ({"community_id": 9999}, "community_id"),
        ({"reference": "   "}, "reference"),
        ({"reference": "R" * 41}, "reference"),
    ],
)
def test_opening_a_case_refuses_bad_input_and_names_the_field(world, community, change, field):
    before = business_rows(world)
    arguments = {
        "project_id": world.project_id,
        "community_id": community.id,
        "template_id": "fpic-general",
        "reference": "QOL-2026-01",
        **change,
    }
    with pytest.raises(InvalidData) as caught:
        world.engine.open_case(world.liaison, **arguments)
    assert caught.value.field == field
    assert business_rows(world) == before


@pytest.mark.parametrize("who", ["auditor", "admin", "representative"])
def test_only_a_liaison_officer_opens_a_case(world, community, who):
    actor = {
        "auditor": world.auditor,
        "admin": world.admin,
        "representative": community.rep_actors[0],
    }[who]
    before = business_rows(world)["cases"]  # the community's registration case
    with pytest.raises(NotPermitted) as caught:
        world.engine.open_case(
            actor,
            project_id=world.project_id,
            community_id=community.id,
            template_id="fpic-general",
            reference="QOL-2026-02",
        )
    assert {r.code for r in caught.value.reasons} == {"role_not_allowed"}
    assert business_rows(world)["cases"] == before


def test_a_new_case_is_pinned_to_its_template(world, community):
    case = world.case(world.open_case(community))
    assert (case.template_id, case.stage, case.version) == ("fpic-general", "screening", 1)
    assert case.template_version
    assert len(case.template_hash) == 64


# --- firing triggers ------------------------------------------------------------------------


def test_unknown_trigger_and_wrong_stage_are_refused(world, community):
    case_id = world.open_case(community)
    before = _state(world, case_id)
    with pytest.raises(InvalidTransition):
        world.act(case_id, "approve_everything", world.liaison, NOTE)
    with pytest.raises(InvalidTransition) as caught:
        world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert {r.code for r in caught.value.reasons} == {"wrong_stage"}
    assert _state(world, case_id) == before


def test_unknown_case_is_not_found(world):
    with pytest.raises(NotFound):
        world.engine.advance(4242, "screen_in", world.liaison, NOTE, 1)


def test_stale_version_is_refused_and_nothing_changes(world, community):
    case_id = world.open_case(community)
    version = world.case(case_id).version
    world.act(case_id, "screen_in", world.liaison, NOTE)
    before = _state(world, case_id)
    with pytest.raises(StaleCase) as caught:
        world.engine.advance(case_id, "confirm_rights_holders", world.liaison, NOTE, version)
    assert (caught.value.expected, caught.value.actual) == (version, version + 1)
    assert _state(world, case_id) == before


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "text"),
        ({"text": "   \n\t "}, "text"),
        ({"text": 42}, "text"),
        ({"text": "Fine.", "txet": "typo"}, "txet"),
        ({"text": "Fine.", "language": "Quechua"}, "language"),
        (["not", "a", "mapping"], "data"),
        ({"text": "x" * 20_001}, "text"),
    ],
)
def test_bad_note_data_names_the_field_and_changes_nothing(world, community, data, field):
    case_id = world.open_case(community)
    before = _state(world, case_id)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "screen_in", world.liaison, data)
    assert caught.value.field == field
    assert _state(world, case_id) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decision_rule": "acclamation"}, "decision_rule"),
        ({"quorum_percent": 140}, "quorum_percent"),
        ({"quorum_percent": "most"}, "quorum_percent"),
        ({"min_deliberation_days": -3}, "min_deliberation_days"),
        ({"content_languages": ["Quechua"]}, "content_languages"),
        ({"content_languages": []}, "content_languages"),
        ({"formats": ["telepathy"]}, "formats"),
        ({"deciding_body": ""}, "deciding_body"),
        ({"source": None}, "source"),
    ],
)
def test_bad_protocol_is_refused_with_the_field_named(world, community, change, field):
    case_id = _case_at(world, community, "protocol")
    before = _state(world, case_id)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "agree_protocol", community.rep_actors[0], protocol(**change))
    assert caught.value.field == field
    assert _state(world, case_id) == before


def test_qualified_majority_needs_its_percentage(world, community):
    case_id = _case_at(world, community, "protocol")
    data = protocol(decision_rule="qualified_majority", majority_percent=None)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "agree_protocol", community.rep_actors[0], data)
    assert caught.value.field == "majority_percent"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"decided_on": "2099-01-01"}, "decided_on"),
        ({"decided_on": "31/12/2026"}, "decided_on"),
        ({"present": [987654]}, "present"),
        ({"votes_for": 9}, "votes_for"),
        ({"text_language": "??"}, "text_language"),
        ({"text_original": ""}, "text_original"),
        ({"translations": [{"language": "es", "text": ""}]}, "translations.0.text"),
        (
            {"conditions": [{"text": "Water monitoring", "language": "es"}]},
            "conditions.0.obligated_party",
        ),
        (
            {
                "conditions": [
                    {
                        "text": "Yaku qhawaq.",
                        "language": "qu",
                        "obligated_party": "Andes Copper S.A.",
                        "verification": "Quarterly report.",
                        "translations": [{"language": "es", "text": " "}],
                    }
                ]
            },
            "conditions.0.translations.0.text",
        ),
    ],
)
def test_bad_decision_is_refused_before_any_guard(world, community, change, field):
    case_id = _case_at(world, community, "decision")
    before = _state(world, case_id)
    data = decision(world, community, **change)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "give_consent", community.rep_actors[0], data)
    assert caught.value.field == field
    assert _state(world, case_id) == before


def test_every_refusal_is_on_the_trail_with_its_reasons_and_the_trail_stays_intact(
    world, community
):
    case_id = world.open_case(community)
    version = world.case(case_id).version
    with pytest.raises(InvalidData):
        world.act(case_id, "screen_in", world.liaison, {"text": ""})
    refused, data = _last_event(world, case_id)
    assert (refused.action, refused.outcome) == ("screen_in", "refused")
    assert data["error"] == "invalid_data"
    assert data["version_seen"] == version
    assert data["reasons"][0]["params"]["field"] == "text"
    with pytest.raises(NotPermitted):
        world.act(case_id, "screen_in", world.auditor, NOTE)
    refused, data = _last_event(world, case_id)
    assert (refused.actor, refused.actor_role, data["error"]) == (
        "auditor",
        "auditor",
        "not_permitted",
    )
    assert world.case(case_id).version == version
    with world.db.read_session() as session:
        result = audit.verify_database(session)
    assert result.intact, result.breaks


def test_an_action_is_all_or_nothing(world, community, monkeypatch):
    """A failure after the stage moved and records were written must leave no trace of either."""
    case_id = _case_at(world, community, "decision")
    before = _state(world, case_id)

    def broken_append(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        world.act(case_id, "give_consent", community.rep_actors[0], decision(world, community))
    monkeypatch.undo()
    assert _state(world, case_id) == before
    with world.db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Decision)) == 0
        assert audit.verify_database(session).intact
    world.act(case_id, "give_consent", community.rep_actors[0], decision(world, community))
    assert world.case(case_id).stage == "agreement"


def test_options_say_what_a_person_could_do_and_why_not(world, community):
    case_id = _case_at(world, community, "decision")
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        as_liaison = {o.trigger.name: o for o in world.engine.options(session, case, world.liaison)}
        as_rep = {
            o.trigger.name: o for o in world.engine.options(session, case, community.rep_actors[0])
        }
    assert as_liaison["give_consent"].role_refused
    assert as_liaison["answer_question"].allowed
    assert not as_rep["give_consent"].role_refused
    assert as_rep["give_consent"].allowed  # the deliberation period is over on the walk
    assert as_rep["answer_question"].role_refused
    assert set(as_liaison) == set(as_rep)


def test_one_option_is_the_same_as_in_the_list_of_options(world, community):
    case_id = _case_at(world, community, "decision")
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        for actor in (world.liaison, community.rep_actors[0], world.auditor):
            for listed in world.engine.options(session, case, actor):
                assert world.engine.option(session, case, actor, listed.trigger.name) == listed
        assert world.engine.option(session, case, world.liaison, "screen_in") is None
        assert world.engine.option(session, case, world.liaison, "no_such_trigger") is None


# --- any script -----------------------------------------------------------------------------

SCRIPTS = [
    "ᓄᓇᓕᒻᒥ ᑲᑎᖅᓱᐃᓂᖅ ᐊᖏᖃᑎᒌᒃᑐᑦ",  # Inuktitut syllabics
    "Jach'a tantachäwinxa taqi jaqinakampi amtasiwayi",  # Aymara
    "Ol lida bilong ol klen i bung na tok orait",  # Tok Pisin
    "مجلس القرية وافق",  # right to left
    "村民大会 🌊 water ≠ ดิน",  # mixed scripts, an emoji, combining vowels
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_any_script_round_trips_through_the_engine_and_the_trail(world, community, text):
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, {"text": text})
    _event, data = _last_event(world, case_id)
    assert data["payload"]["text"] == text
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.notes[-1].text == text
        assert audit.verify_database(session).intact


def test_control_characters_are_refused_but_line_breaks_kept(world, community):
    case_id = world.open_case(community)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "screen_in", world.liaison, {"text": "bell\x07here"})
    assert caught.value.field == "text"
    world.act(case_id, "screen_in", world.liaison, {"text": "Line one\nLine two"})
    assert _last_event(world, case_id)[1]["payload"]["text"] == "Line one\nLine two"


# --- found by the guard and permission tests -------------------------------------------------


def test_a_decision_dated_inside_the_deliberation_period_is_refused(world, community):
    case_id = _case_at(world, community, "decision")
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.deliberation_started_at is not None
        started = case.deliberation_started_at.date()
    early = decision(world, community, decided_on=(started + timedelta(days=3)).isoformat())
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "give_consent", community.rep_actors[0], early)
    [reason] = caught.value.reasons
    assert reason.code == "decided_during_deliberation"
    assert reason.params["ends"] == (started + timedelta(days=30)).isoformat()
    on_time = decision(world, community, decided_on=(started + timedelta(days=30)).isoformat())
    world.act(case_id, "give_consent", community.rep_actors[0], on_time)
    assert world.case(case_id).stage == "agreement"


def test_an_account_disabled_after_sign_in_can_no_longer_act(world, community):
    case_id = world.open_case(community)
    liaison = world.liaison
    set_user_active(world.engine, world.admin, liaison.user_id, False)
    before = _state(world, case_id)
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, "screen_in", liaison, NOTE)
    assert {r.code for r in caught.value.reasons} == {"account_disabled"}
    with pytest.raises(NotPermitted):
        world.open_case(community)
    assert _state(world, case_id) == before


def test_a_refused_case_opening_is_on_the_system_trail(world, community):
    with pytest.raises(NotPermitted):
        world.engine.open_case(
            world.auditor,
            project_id=world.project_id,
            community_id=community.id,
            template_id="fpic-general",
            reference="QOL-2026-09",
        )
    with world.db.read_session() as session:
        last = session.scalars(
            select(TrailEvent).where(TrailEvent.chain == "system").order_by(TrailEvent.seq.desc())
        ).first()
        assert last is not None
        assert (last.action, last.outcome, last.actor) == ("open_case", "refused", "auditor")
        assert audit.verify_database(session).intact


@pytest.mark.real_password_hashing
def test_passwords_are_hashed_with_argon2id_at_a_memory_hard_cost(world):
    world.add_account("maria", "liaison")
    with world.db.read_session() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "maria")).one()
    variant, _version, params, *_ = stored.lstrip("$").split("$")
    cost = dict(part.split("=") for part in params.split(","))
    assert variant == "argon2id"
    assert int(cost["m"]) >= 19_456  # KiB: OWASP's floor for argon2id
    with world.db.read_session() as session:
        user = session.scalars(select(User).where(User.username == "maria")).one()
        assert check_password(user, PASSWORD)
        assert not check_password(user, PASSWORD + "!")
