"""Only the community decides (issue #12): the register of representatives is the
community's, accounts are their holders', integrity is judged by independents, and a
confidential complainant never reaches the proponent's side.

Each test is a capture that worked before: the liaison or the administrator registering or
shadowing a representative, the liaison clearing an integrity grievance, a lapsed mandate
speaking for the community, a complainant's name in the liaison's export."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from fpic.accounts.registry import (
    add_user,
    confirm_mandate,
    record_mandate,
    reset_account,
    revoke_mandate,
)
from fpic.accounts.sessions import enrol, sign_in
from fpic.storage.models import (
    ComplainantIdentity,
    Grievance,
    IntegrityFlag,
    Mandate,
    Representative,
    TrailEvent,
    User,
)
from fpic.trail import audit
from fpic.workflow.errors import FpicError, GuardRefused, InvalidData, NotFound, NotPermitted
from tests.factories import PASSWORD, Community, World, protocol, walk_to


def _codes(error: FpicError) -> set[str]:
    return {r.code for r in error.reasons}


def _count(world: World, model: Any) -> int:
    with world.db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _system_events(world: World, action: str) -> list[TrailEvent]:
    with world.db.read_session() as session:
        return list(
            session.scalars(
                select(TrailEvent)
                .where(TrailEvent.chain == audit.SYSTEM_CHAIN, TrailEvent.action == action)
                .order_by(TrailEvent.seq)
            )
        )


def _last(world: World, model: Any, case_id: int) -> Any:
    with world.db.read_session() as session:
        row = session.scalars(
            select(model).where(model.case_id == case_id).order_by(model.id.desc())
        ).first()
        assert row is not None
        session.expunge(row)
        return row


def _resolution(world: World, **overrides: Any) -> dict[str, Any]:
    today = world.clock.now().date()
    return {
        "granted_by": "Asamblea comunal",
        "evidence": "Acta 9/2026, libro de actas p. 51",
        "resolved_on": today - timedelta(days=2),
        "valid_from": today - timedelta(days=1),
        "valid_until": today + timedelta(days=700),
        **overrides,
    }


# --- 1. the register is the community's ----------------------------------------------------


@pytest.mark.parametrize("who", ["liaison", "admin", "auditor", "state_authority", "mediator"])
def test_the_proponent_and_others_cannot_register_a_representative(world, community, who):
    actor = getattr(world, who)
    reps, mandates = _count(world, Representative), _count(world, Mandate)
    with pytest.raises(NotPermitted) as caught:
        record_mandate(
            world.engine, actor, community.id, name="Friendly Person", **_resolution(world)
        )
    assert _codes(caught.value) == {"role_not_allowed"}
    assert (_count(world, Representative), _count(world, Mandate)) == (reps, mandates)
    [refused] = [e for e in _system_events(world, "record_mandate") if e.outcome == "refused"]
    assert refused.actor == actor.username


def test_a_mandate_is_in_force_only_once_someone_independent_confirms_it(world, community):
    case_id = world.open_case(community)
    recorded = record_mandate(
        world.engine,
        community.rep_actors[0],
        community.id,
        name="Rosa Ccahua",
        **_resolution(world),
    )
    newcomer = world.add_account("rep-rosa", "representative", recorded.representative_id)
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, "suspend_process", newcomer, {"text": "Bad faith."})
    assert _codes(caught.value) == {"no_valid_mandate"}
    # nobody confirms their own mandate; the liaison confirms nothing
    with pytest.raises(NotPermitted) as own:
        confirm_mandate(world.engine, newcomer, recorded.mandate_id)
    assert _codes(own.value) == {"no_valid_mandate"}
    with pytest.raises(NotPermitted) as liaison:
        confirm_mandate(world.engine, world.liaison, recorded.mandate_id)
    assert _codes(liaison.value) == {"role_not_allowed"}
    confirm_mandate(world.engine, community.rep_actors[1], recorded.mandate_id)
    world.act(case_id, "suspend_process", newcomer, {"text": "Bad faith."})
    assert world.case(case_id).stage == "suspended"
    [done] = [e for e in _system_events(world, "confirm_mandate") if e.outcome == "done"][-1:]
    assert done.actor == community.rep_actors[1].username
    assert json.loads(done.data)["mandate_id"] == recorded.mandate_id


def test_a_mandated_representative_cannot_confirm_their_own_renewed_mandate(world, community):
    rep = community.rep_actors[0]
    recorded = record_mandate(
        world.engine, rep, community.id, representative_id=rep.representative_id,
        **_resolution(world),
    )  # fmt: skip
    with pytest.raises(NotPermitted) as caught:
        confirm_mandate(world.engine, rep, recorded.mandate_id)
    assert _codes(caught.value) == {"own_mandate"}


def test_only_the_facilitator_of_a_case_of_the_community_registers(world, community):
    stranger = world.add_account("facilitator-2", "facilitator")
    with pytest.raises(NotPermitted) as caught:
        record_mandate(world.engine, stranger, community.id, name="X", **_resolution(world))
    assert _codes(caught.value) == {"not_community_facilitator"}
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    with pytest.raises(NotPermitted) as foreign:
        record_mandate(
            world.engine, other.rep_actors[0], community.id, name="X", **_resolution(world)
        )
    assert _codes(foreign.value) == {"not_community_representative"}


def test_the_community_ends_a_mandate_by_resolution_from_a_date(world, community):
    case_id = world.open_case(community)
    leaving = community.rep_actors[2]
    with world.db.read_session() as session:
        mandate_id = session.scalars(
            select(Mandate.id).where(Mandate.representative_id == leaving.representative_id)
        ).one()
    tomorrow = world.clock.now().date() + timedelta(days=1)
    with pytest.raises(NotPermitted):
        revoke_mandate(
            world.engine, world.liaison, mandate_id, resolution="x", effective_on=tomorrow
        )
    revoke_mandate(
        world.engine,
        community.rep_actors[0],
        mandate_id,
        resolution="Acta 11/2026: the assembly ends the mandate of representative 3.",
        effective_on=tomorrow,
    )
    world.act(case_id, "raise_integrity_flag", leaving, {"category": "bribery", "description": "x"})
    world.clock.advance(days=1)
    with pytest.raises(NotPermitted) as caught:
        world.act(
            case_id, "raise_integrity_flag", leaving, {"category": "bribery", "description": "y"}
        )
    assert _codes(caught.value) == {"no_valid_mandate"}
    [event] = [e for e in _system_events(world, "revoke_mandate") if e.outcome == "done"]
    assert json.loads(event.data)["effective_on"] == tomorrow.isoformat()


# --- 2. accounts only their holder controls --------------------------------------------------


def test_the_shadow_account_attack_is_refused(world, community):
    """An administrator created a second login for a representative, with a password they
    chose, and recorded the community's decision with it. Now there is no password to choose
    and no second account to make."""
    rep_id = community.reps[0]
    users = _count(world, User)
    with pytest.raises(InvalidData) as caught:
        add_user(
            world.engine, world.admin, username="shadow", role="representative",
            representative_id=rep_id,
        )  # fmt: skip
    assert caught.value.field == "representative_id"
    assert _count(world, User) == users
    with pytest.raises(TypeError):
        add_user(  # type: ignore[call-arg]
            world.engine, world.admin, username="shadow", role="liaison", password=PASSWORD
        )


def test_a_reset_ends_the_old_password_and_shows_on_the_communitys_trail(world, community):
    rep = community.rep_actors[0]
    assert sign_in(world.engine, rep.username, PASSWORD)
    issued = reset_account(world.engine, world.admin, rep.user_id)
    with pytest.raises(NotPermitted):
        sign_in(world.engine, rep.username, PASSWORD)
    [event] = [e for e in _system_events(world, "reset_account") if e.outcome == "done"]
    data = json.loads(event.data)
    assert (data["community_id"], data["representative_id"]) == (
        community.id,
        rep_id := rep.representative_id,
    )
    assert rep_id is not None
    enrol(world.engine, rep.username, issued.code, "a new one of my own")
    assert sign_in(world.engine, rep.username, "a new one of my own")
    with pytest.raises(NotPermitted):  # a code works once
        enrol(world.engine, rep.username, issued.code, "and another one")


def test_enrolment_codes_expire_after_seven_days_and_are_stored_hashed(world):
    issued = add_user(world.engine, world.admin, username="maria", role="liaison")
    with world.db.read_session() as session:
        stored = session.scalars(select(User.password_hash).where(User.username == "maria")).one()
        rows = session.execute(select(TrailEvent.data)).scalars().all()
    assert issued.code not in stored
    assert not any(issued.code in row for row in rows)
    world.clock.advance(days=7, seconds=1)
    with pytest.raises(NotPermitted) as caught:
        enrol(world.engine, "maria", issued.code, "mi propia clave")
    assert _codes(caught.value) == {"enrolment_failed"}


# --- 4. integrity is judged by someone independent ---------------------------------------------


def _integrity_grievance(world: World, community: Community, case_id: int, **extra: Any) -> int:
    world.act(
        case_id,
        "lodge_grievance",
        community.rep_actors[1],
        {
            "category": "process_integrity",
            "channel": "oral",
            "anonymous": True,
            "language": "qu",
            "text": "They paid two families before the assembly.",
            "received_on": world.clock.now().date().isoformat(),
            **extra,
        },
    )
    grievance_id = _last(world, Grievance, case_id).id
    world.act(case_id, "acknowledge_grievance", world.liaison, {"grievance_id": grievance_id,
              "text": "Received."})  # fmt: skip
    return grievance_id


def _assign(world: World, community: Community, case_id: int, role: str, username: str) -> None:
    world.act(
        case_id, "assign_independent", community.rep_actors[0], {"role": role, "username": username}
    )


def test_the_liaison_cannot_clear_an_integrity_grievance(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    grievance_id = _integrity_grievance(world, community, case_id)
    assessment = {"grievance_id": grievance_id, "assessment": "Not founded.", "upheld": False}
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "assess_grievance", world.liaison, assessment)
    assert _codes(caught.value) == {"integrity_needs_independent"}
    with pytest.raises(GuardRefused):
        world.act(case_id, "assess_grievance", community.rep_actors[0], assessment)
    with pytest.raises(NotPermitted) as unassigned:
        world.act(case_id, "assess_grievance", world.mediator, assessment)
    assert _codes(unassigned.value) == {"not_assigned"}
    blocked = world.engine.option
    with world.db.read_session() as session:
        case = world.engine.case_for(session, case_id, community.rep_actors[0])
        option = blocked(session, case, community.rep_actors[0], "give_consent")
        assert option is not None
        assert "open_integrity_grievance" in {r.code for r in option.reasons}
    _assign(world, community, case_id, "mediator", world.mediator.username)
    world.act(case_id, "assess_grievance", world.mediator, assessment)
    assert _last(world, Grievance, case_id).upheld is False


def test_nobody_reviews_an_integrity_flag_that_names_them(world, community):
    case_id = world.open_case(community)
    _assign(world, community, case_id, "facilitator", world.facilitator.username)
    world.act(
        case_id,
        "raise_integrity_flag",
        community.rep_actors[0],
        {"category": "undue_influence", "description": "The facilitator pressed the elders.",
         "concerns": [world.facilitator.username]},
    )  # fmt: skip
    flag_id = _last(world, IntegrityFlag, case_id).id
    review = {"flag_id": flag_id, "resolution": "Nothing happened.", "upheld": False}
    for who in (world.liaison, community.rep_actors[1]):
        with pytest.raises(NotPermitted) as role:
            world.act(case_id, "review_integrity_flag", who, review)
        assert _codes(role.value) == {"role_not_allowed"}
    with pytest.raises(GuardRefused) as named:
        world.act(case_id, "review_integrity_flag", world.facilitator, review)
    assert _codes(named.value) == {"assessor_concerned"}
    _assign(world, community, case_id, "mediator", world.mediator.username)
    world.act(case_id, "review_integrity_flag", world.mediator, review)
    assert _last(world, IntegrityFlag, case_id).resolved_at is not None


def test_once_the_community_has_a_mandate_only_it_chooses_its_facilitator(world, community):
    case_id = world.open_case(community)
    data = {"role": "facilitator", "username": world.facilitator.username}
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "assign_independent", world.liaison, data)
    assert _codes(caught.value) == {"community_chooses_independents"}
    world.act(case_id, "assign_independent", community.rep_actors[0], data)
    assert world.case(case_id).facilitator_id == world.facilitator.user_id


def test_the_protocol_names_the_facilitator_and_mediator_the_community_agreed(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    world.act(
        case_id,
        "agree_protocol",
        community.rep_actors[0],
        protocol(facilitator=world.facilitator.username, mediator=world.mediator.username),
    )
    case = world.case(case_id)
    assert (case.facilitator_id, case.mediator_id) == (
        world.facilitator.user_id,
        world.mediator.user_id,
    )


# --- 5. confidential complainants ------------------------------------------------------------


def test_a_confidential_complainant_is_only_a_commitment_on_the_trail(world, community):
    case_id = world.open_case(community)
    name = "Yolanda Quispe Mamani"
    world.act(
        case_id,
        "lodge_grievance",
        community.rep_actors[0],
        {"category": "impacts", "channel": "through_representative", "confidential": True,
         "complainant": name, "language": "qu", "text": "Polvo en las chacras.",
         "received_on": world.clock.now().date().isoformat()},
    )  # fmt: skip
    with world.db.read_session() as session:
        exported = "\n".join(json.dumps(row) for row in audit.export_rows(session))
        grievance = _last(world, Grievance, case_id)
        identity = session.get(ComplainantIdentity, grievance.id)
        assert identity is not None
        salt, kept = bytes.fromhex(identity.salt), identity.name
    assert name not in exported
    assert grievance.complainant is None
    commitment = hashlib.sha256(salt + kept.encode("utf-8")).hexdigest()
    assert grievance.complainant_commitment == commitment
    assert commitment in exported


# --- 7. speaking for the community needs a mandate -------------------------------------------


COMMUNITY_ACTS = {
    "agree_protocol": "protocol",
    "give_consent": "decision",
    "suspend_process": "negotiation",
    "resume_process": "suspended",
    "withdraw_consent": "monitoring",
    "raise_integrity_flag": "negotiation",
}


@pytest.mark.parametrize("trigger", sorted(COMMUNITY_ACTS))
def test_a_representative_whose_mandate_expired_cannot_act_for_the_community(
    world: World, trigger: str
):
    community = world.add_community("ayllu-qollana", ["qu", "es"], reps=1, mandate_days=-1)
    with pytest.raises(NotPermitted) as caught:
        world.act(world.open_case(community), trigger, community.rep_actors[0], {})
    assert _codes(caught.value) == {"no_valid_mandate"}


def test_without_a_mandate_a_representative_still_reads_asks_and_complains(world):
    community = world.add_community("ayllu-qollana", ["qu", "es"], reps=2)
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    lapsed = world.add_account(
        "rep-lapsed",
        "representative",
        world.register_representative(
            community, "Lapsed Rep", world.clock.now().date() - timedelta(days=300),
            world.clock.now().date() - timedelta(days=1),
        ),
    )  # fmt: skip
    with world.db.read_session() as session:
        assert world.engine.case_for(session, case_id, lapsed).id == case_id
    world.act(case_id, "ask_question", lapsed, {"text": "¿Y el agua?", "language": "es"})
    world.act(
        case_id,
        "lodge_grievance",
        lapsed,
        {"category": "impacts", "channel": "oral", "anonymous": True, "language": "es",
         "text": "Ruido de noche.", "received_on": world.clock.now().date().isoformat()},
    )  # fmt: skip
    with pytest.raises(NotPermitted):
        world.act(case_id, "log_meeting", lapsed, {})
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    with pytest.raises(NotFound):
        world.act(case_id, "ask_question", other.rep_actors[0], {"text": "?", "language": "ay"})


def test_nobody_reviews_a_flag_they_raised(world, community):
    case_id = world.open_case(community)
    facilitator = world.ensure_independent(case_id, community, "facilitator")
    world.ensure_independent(case_id, community, "mediator")
    world.act(
        case_id,
        "raise_integrity_flag",
        facilitator,
        {"category": "wining_and_dining", "description": "A feast for the council."},
    )
    flag_id = _last(world, IntegrityFlag, case_id).id
    review = {"flag_id": flag_id, "resolution": "Seen.", "upheld": True}
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "review_integrity_flag", facilitator, review)
    assert _codes(caught.value) == {"own_flag"}
    world.act(case_id, "review_integrity_flag", world.mediator, review)


def test_nobody_assesses_any_grievance_that_names_them(world, community):
    case_id = world.open_case(community)
    world.act(
        case_id,
        "lodge_grievance",
        community.rep_actors[0],
        {"category": "impacts", "channel": "oral", "anonymous": True, "language": "qu",
         "text": "The liaison officer's trucks broke the canal.",
         "received_on": world.clock.now().date().isoformat(), "concerns": ["liaison"]},
    )  # fmt: skip
    grievance_id = _last(world, Grievance, case_id).id
    world.act(case_id, "acknowledge_grievance", world.liaison, {"grievance_id": grievance_id,
              "text": "Received."})  # fmt: skip
    assessment = {"grievance_id": grievance_id, "assessment": "Not us.", "upheld": False}
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "assess_grievance", world.liaison, assessment)
    assert _codes(caught.value) == {"assessor_concerned"}
    world.act(case_id, "assess_grievance", community.rep_actors[1], assessment)


# --- names and dates a person types (issue #13) ---------------------------------------------

INVISIBLE = {
    "right-to-left override": "Ana\u202enirom",
    "left-to-right embedding": "Ana\u202aMorin\u202c",
    "isolate": "Ana \u2067Morin\u2069",
    "right-to-left mark": "Ana\u200fMorin",
    "Arabic letter mark": "Ana\u061cMorin",
    "zero-width space": "Ana\u200bMorin",
    "zero-width joiner": "Ana\u200dMorin",
    "word joiner": "Ana\u2060Morin",
    "byte order mark": "\ufeffAna Morin",
}
INVISIBLE_MESSAGE = "holds invisible characters"


def _invisible(name: str) -> str:
    return next(c for c in name if unicodedata.category(c) == "Cf")


@pytest.mark.parametrize("name", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_names_with_bidi_controls_or_zero_width_characters_are_refused(world, community, name):
    """A right-to-left override or a zero-width space lets one name pass for another."""
    with pytest.raises(InvalidData) as caught:
        add_user(world.engine, world.admin, username="amorin", role="auditor", display_name=name)
    assert caught.value.field == "display_name"
    assert INVISIBLE_MESSAGE in caught.value.reasons[0].message
    with pytest.raises(InvalidData) as caught:
        add_user(world.engine, world.admin, username=f"am{_invisible(name)}orin", role="auditor")
    assert caught.value.field == "username"
    assert INVISIBLE_MESSAGE in caught.value.reasons[0].message
    with pytest.raises(InvalidData) as caught:
        record_mandate(
            world.engine, community.rep_actors[0], community.id, name=name, **_resolution(world)
        )
    assert caught.value.field == "name"
    assert INVISIBLE_MESSAGE in caught.value.reasons[0].message
    assert _count(world, Representative) == len(community.rep_actors)


def test_names_in_any_script_are_still_accepted(world, community):
    recorded = record_mandate(
        world.engine, community.rep_actors[0], community.id, name="ᓄᓇᕗᑦ Ŋarra Ñawpa",
        **_resolution(world),
    )  # fmt: skip
    assert recorded.representative_id


@pytest.mark.parametrize(
    ("field", "day"),
    [
        ("resolved_on", "0001-01-01"),
        ("valid_from", "1899-12-31"),
        ("valid_until", "9999-12-31"),
    ],
)
def test_mandate_dates_before_1900_or_far_in_the_future_are_refused(world, community, field, day):
    with pytest.raises(InvalidData) as caught:
        record_mandate(
            world.engine, community.rep_actors[0], community.id, name="Rosa Ccahua",
            **_resolution(world, **{field: date.fromisoformat(day)}),
        )  # fmt: skip
    assert caught.value.field == field
    assert caught.value.reasons[0].message == (
        "%(field)s must be a date between %(earliest)s and %(latest)s."
    )
