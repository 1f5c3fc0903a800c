"""Decisions signed by the community's representative with their own passkey (issue 19, item 6).

A representative registers a passkey; it signs nothing until someone who may confirm their
mandate confirms it (never its holder). Where the case's protocol asks for signed decisions,
consent, withholding, declining, withdrawal and a new protocol are recorded only with an
assertion by a confirmed passkey of the representative who records them, over the data the
event will hold; the event carries it, and the trail alone proves it (fpic.trail.signatures).
Keys are software authenticators with real P-256 keys (tests/passkey_authenticator.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import event, select

from fpic.accounts.passkeys import (
    confirm_passkey,
    passkeys_of,
    register_passkey,
    registration_request,
    revoke_passkey,
)
from fpic.storage.models import PasskeyCredential, TrailEvent
from fpic.trail import audit
from fpic.trail.signatures import MEMBERS, b64url, signature_problem
from fpic.workflow.actors import Actor
from fpic.workflow.errors import FpicError, InvalidData, NotPermitted
from fpic.workflow.signing import Assertion
from tests.factories import PASSWORD, Community, World, decision, protocol, walk_to
from tests.passkey_authenticator import SoftAuthenticator, enrol_passkey

SIGNED = protocol(signed_decisions=True)
WITHDRAWAL = {
    "text": "The springs above the camp dried up.",
    "deciding_body": "Community assembly",
    "activities_affected": ["drilling"],
}


def _withdrawal(world: World) -> dict[str, Any]:
    return {**WITHDRAWAL, "decided_on": world.clock.now().date().isoformat()}


def _agreement(world: World) -> dict[str, Any]:
    today = world.clock.now().date().isoformat()
    return {"text": "Signed by the assembly.", "signed_on": today, "signatories": ["President"]}


def _codes(error: FpicError) -> set[str]:
    return {r.code for r in error.reasons}


def _events(world: World, chain: str, action: str | None = None) -> list[dict[str, Any]]:
    with world.db.read_session() as session:
        found = session.scalars(
            select(TrailEvent).where(TrailEvent.chain == chain).order_by(TrailEvent.seq)
        )
        rows = [audit.row_of(e) for e in found]
    return [r for r in rows if action is None or r["action"] == action]


def _key(world: World, passkey_id: int) -> PasskeyCredential:
    with world.db.read_session() as session:
        key = session.get(PasskeyCredential, passkey_id)
        assert key is not None
        return key


def _confirmed_key(world: World, rep: Actor) -> SoftAuthenticator:
    passkey_id, key = enrol_passkey(world.engine, rep)
    confirm_passkey(world.engine, world.facilitator, passkey_id)
    return key


@pytest.fixture
def rep(community: Community) -> Actor:
    return community.rep_actors[0]


@pytest.fixture
def signed_case(world: World, community: Community) -> int:
    """A case at the decision stage whose protocol asks for signed decisions."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto=SIGNED)
    return case_id


def _sign(
    world: World,
    case_id: int,
    trigger: str,
    rep: Actor,
    key: SoftAuthenticator,
    data: dict[str, Any],
    **assertion: Any,
) -> Assertion:
    """What the signing page does: the engine's challenge for this data, signed by ``key``."""
    prepared = world.engine.prepare(case_id, trigger, rep, data, world.case(case_id).version)
    assert prepared.signature_required
    return Assertion(key.sign(prepared.challenge, **assertion), key.rp_id, key.origin)


def _consent(world: World, case_id: int, rep: Actor, data: dict[str, Any], signed: Assertion):
    return _signed(world, case_id, "give_consent", rep, data, signed)


def _signed(
    world: World, case_id: int, trigger: str, rep: Actor, data: dict[str, Any], signed: Assertion
):
    """The action sent with ``signed``, at the case's current version, without a password."""
    version = world.case(case_id).version
    return world.engine.advance(case_id, trigger, rep, data, version, assertion=signed)


def _sign_and_act(
    world: World, case_id: int, trigger: str, rep: Actor, key: SoftAuthenticator, data: Any
):
    return _signed(
        world, case_id, trigger, rep, data, _sign(world, case_id, trigger, rep, key, data)
    )


# --- registration --------------------------------------------------------------------------


def test_a_representative_registers_a_passkey_pending_until_confirmed(world, rep):
    passkey_id, key = enrol_passkey(world.engine, rep, name="my phone")
    stored = _key(world, passkey_id)
    assert (stored.status, stored.name, stored.rp_id) == ("pending", "my phone", "localhost")
    assert (stored.credential_id, stored.public_key) == (key.credential_id, key.public_key)
    [registered] = _events(world, audit.SYSTEM_CHAIN, "register_passkey")
    assert registered["actor"] == rep.username
    assert registered["data"]["public_key"] == b64url(key.public_key)
    assert registered["data"]["credential_id"] == b64url(key.credential_id)
    assert registered["data"]["representative_id"] == rep.representative_id
    with world.db.read_session() as session:
        assert [k.id for k in passkeys_of(session, rep.user_id)] == [passkey_id]


def _answer(world: World, rep: Actor, key: SoftAuthenticator, **changes: Any) -> dict[str, Any]:
    with world.db.read_session() as session:
        request = registration_request(session, rep, rp_id="localhost", now=world.clock.now())
    return {"request": request, "credential": key.register(request.options), **changes}


@pytest.mark.parametrize(
    "case",
    ["no request", "expired", "another challenge", "another site", "person not verified"],
)
def test_a_registration_that_is_not_a_fresh_verified_key_for_this_site_is_refused(world, rep, case):
    key = SoftAuthenticator(verifies=case != "person not verified")
    sent = _answer(world, rep, key)
    if case == "no request":
        sent["request"] = None
    elif case == "another challenge":
        sent["request"] = _answer(world, rep, key)["request"]
    elif case == "another site":
        sent["credential"] = SoftAuthenticator(rp_id="evil.example").register(
            sent["request"].options
        )
    elif case == "expired":
        world.clock.advance(minutes=6)
    with pytest.raises(InvalidData) as refused:
        register_passkey(
            world.engine, rep, name="phone", rp_id="localhost", origin="http://localhost", **sent
        )
    assert refused.value.field == "credential"
    assert _events(world, audit.SYSTEM_CHAIN, "register_passkey")[-1]["outcome"] == "refused"
    with world.db.read_session() as session:
        assert passkeys_of(session, rep.user_id) == []


def test_the_same_passkey_is_registered_once(world, rep):
    _id, key = enrol_passkey(world.engine, rep)
    with pytest.raises(InvalidData, match="registered already"):
        enrol_passkey(world.engine, rep, key)


def test_only_a_representative_registers_a_passkey(world):
    with pytest.raises(NotPermitted) as refused:
        enrol_passkey(world.engine, world.liaison)
    assert _codes(refused.value) == {"role_not_allowed"}


# --- confirmation, as the register requires --------------------------------------------------


def test_nobody_confirms_their_own_passkey(world, rep):
    passkey_id = enrol_passkey(world.engine, rep)[0]
    with pytest.raises(NotPermitted) as refused:
        confirm_passkey(world.engine, rep, passkey_id)
    assert _codes(refused.value) == {"own_passkey"}
    assert _key(world, passkey_id).status == "pending"


def test_another_mandated_representative_confirms_a_passkey(world, community, rep):
    passkey_id, key = enrol_passkey(world.engine, rep)
    confirm_passkey(world.engine, community.rep_actors[1], passkey_id)
    stored = _key(world, passkey_id)
    assert (stored.status, stored.confirmed_by_id) == ("confirmed", community.rep_actors[1].user_id)
    [confirmed] = _events(world, audit.SYSTEM_CHAIN, "confirm_passkey")
    assert confirmed["actor"] == community.rep_actors[1].username
    assert confirmed["data"]["public_key"] == b64url(key.public_key)
    with pytest.raises(InvalidData, match="not waiting"):
        confirm_passkey(world.engine, world.facilitator, passkey_id)


def test_the_proponent_and_other_communities_cannot_confirm_a_passkey(world, community, rep):
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    passkey_id = enrol_passkey(world.engine, rep)[0]
    with pytest.raises(NotPermitted) as by_liaison:
        confirm_passkey(world.engine, world.liaison, passkey_id)
    assert _codes(by_liaison.value) == {"role_not_allowed"}
    with pytest.raises(NotPermitted) as by_other:
        confirm_passkey(world.engine, other.rep_actors[0], passkey_id)
    assert _codes(by_other.value) == {"not_community_representative"}
    assert _key(world, passkey_id).status == "pending"


def test_only_the_holder_revokes_a_passkey(world, community, rep):
    passkey_id = enrol_passkey(world.engine, rep)[0]
    with pytest.raises(InvalidData, match="no such passkey of yours"):
        revoke_passkey(world.engine, community.rep_actors[1], passkey_id)
    revoke_passkey(world.engine, rep, passkey_id)
    assert _key(world, passkey_id).status == "revoked"
    assert _events(world, audit.SYSTEM_CHAIN, "revoke_passkey")[-1]["outcome"] == "done"


# --- the protocol asks for signed decisions -------------------------------------------------


def test_a_decision_without_a_signature_is_refused_when_the_protocol_asks(
    world, community, rep, signed_case
):
    before = world.case(signed_case).version
    with pytest.raises(InvalidData) as refused:
        world.act(signed_case, "give_consent", rep, decision(world, community))  # password given
    assert refused.value.field == "assertion"
    assert _codes(refused.value) == {"signature_required"}
    assert world.case(signed_case).version == before
    last = _events(world, audit.case_chain(signed_case))[-1]
    assert (last["action"], last["outcome"]) == ("give_consent", "refused")
    assert last["data"]["reasons"][0]["code"] == "signature_required"


def test_a_signed_decision_is_recorded_with_its_signature_and_verifies_offline(
    world, community, rep, signed_case
):
    key = _confirmed_key(world, rep)
    # no password: the passkey verified the person
    done = _sign_and_act(world, signed_case, "give_consent", rep, key, decision(world, community))
    assert done.stage == "agreement"
    recorded = _events(world, audit.case_chain(signed_case))[-1]
    assert (recorded["action"], recorded["outcome"]) == ("give_consent", "done")
    signature = recorded["data"]["signature"]
    assert sorted(signature) == sorted(MEMBERS)
    assert signature["public_key"] == b64url(key.public_key)
    assert signature["credential_id"] == b64url(key.credential_id)
    assert (signature["rp_id"], signature["origin"]) == ("localhost", "http://localhost")
    assert signature_problem(recorded) is None
    # the chain itself still verifies, and a changed vote no longer matches the signature
    with world.db.read_session() as session:
        assert audit.verify_database(session).intact
    forged = json.loads(json.dumps(recorded))
    forged["data"]["payload"]["votes_for"] -= 1
    assert "challenge differs" in (signature_problem(forged) or "")
    assert _key(world, 1).last_used_at == world.clock.now()


@pytest.mark.parametrize(
    ("whose", "code"),
    [
        ("unconfirmed", "passkey_unconfirmed"),
        ("revoked", "passkey_unknown"),
        ("another representative's", "passkey_unknown"),
    ],
)
def test_only_a_confirmed_passkey_of_the_representative_who_acts_signs(
    world, community, rep, signed_case, whose, code
):
    if whose == "unconfirmed":
        key = enrol_passkey(world.engine, rep)[1]
    elif whose == "revoked":
        key = _confirmed_key(world, rep)
        revoke_passkey(world.engine, rep, 1)
    else:
        key = _confirmed_key(world, community.rep_actors[1])
    with pytest.raises(InvalidData) as refused:
        _sign_and_act(world, signed_case, "give_consent", rep, key, decision(world, community))
    assert _codes(refused.value) == {code}
    assert world.case(signed_case).stage == "decision"


def test_an_assertion_over_other_data_is_refused(world, community, rep, signed_case):
    key = _confirmed_key(world, rep)
    shown = decision(world, community)
    sent = decision(world, community, votes_for=2, abstentions=1)  # what the server was sent
    signed = _sign(world, signed_case, "give_consent", rep, key, shown)
    with pytest.raises(InvalidData) as refused:
        _consent(world, signed_case, rep, sent, signed)
    assert _codes(refused.value) == {"signature_invalid"}
    with pytest.raises(InvalidData) as other_action:  # the same data as another decision
        _signed(world, signed_case, "withhold_consent", rep, shown, signed)
    assert _codes(other_action.value) == {"signature_invalid"}


def test_a_replayed_assertion_is_refused(world, community, rep):
    """An assertion signs one action on one version of one case: it cannot be sent again for
    the same decision on another case, nor for the next decision on the same one."""
    key = _confirmed_key(world, rep)
    first, second = (world.open_case(community) for _ in range(2))
    for case_id in (first, second):
        walk_to(world, case_id, "decision", community, proto=SIGNED)
    data = decision(world, community)
    signed = _sign(world, first, "give_consent", rep, key, data)
    _consent(world, first, rep, data, signed)
    with pytest.raises(InvalidData) as elsewhere:
        _consent(world, second, rep, data, signed)
    assert _codes(elsewhere.value) == {"signature_invalid"}
    world.act(first, "validate_agreement", rep, _agreement(world))
    with pytest.raises(InvalidData) as replayed:
        _signed(world, first, "withdraw_consent", rep, _withdrawal(world), signed)
    assert _codes(replayed.value) == {"signature_invalid"}


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        ("person not verified", "signature_invalid"),
        ("another origin", "signature_invalid"),
        ("another site", "passkey_unknown"),
        ("garbled", "signature_unreadable"),
        ("counter went back", "signature_invalid"),
    ],
)
def test_an_assertion_that_is_not_a_verified_signature_here_is_refused(
    world, community, rep, signed_case, forgery, code
):
    key = _confirmed_key(world, rep)
    data = decision(world, community)
    version = world.case(signed_case).version
    prepared = world.engine.prepare(signed_case, "give_consent", rep, data, version)
    credential: Any = key.sign(prepared.challenge)
    where = {"rp_id": key.rp_id, "origin": key.origin}
    if forgery == "person not verified":
        key.verifies = False
        credential = key.sign(prepared.challenge)
    elif forgery == "another origin":
        credential = key.sign(prepared.challenge, origin="http://localhost.evil.example")
    elif forgery == "another site":
        where = {"rp_id": "evil.example", "origin": "https://evil.example"}
    elif forgery == "garbled":
        credential = "{not json"
    elif forgery == "counter went back":
        with world.db.write_session() as session, session.begin():
            stored = session.get(PasskeyCredential, 1)
            assert stored is not None
            stored.sign_count = 10
    with pytest.raises(InvalidData) as refused:
        _consent(world, signed_case, rep, data, Assertion(credential, **where))
    assert _codes(refused.value) == {code}
    assert world.case(signed_case).stage == "decision"


def test_withholding_declining_and_withdrawal_are_signed_too(world, community, rep):
    key = _confirmed_key(world, rep)
    withheld, declined, consented = (world.open_case(community) for _ in range(3))
    walk_to(world, withheld, "decision", community, proto=SIGNED)
    walk_to(world, declined, "disclosure", community, proto=SIGNED)
    walk_to(world, consented, "decision", community, proto=SIGNED)
    no = decision(world, community, votes_for=0, votes_against=3)
    with pytest.raises(InvalidData, match="sign this decision"):
        world.act(withheld, "withhold_consent", rep, no)
    _sign_and_act(world, withheld, "withhold_consent", rep, key, no)
    note = {"text": "The assembly will not engage."}
    with pytest.raises(InvalidData, match="sign this decision"):
        world.act(declined, "decline_to_engage", rep, note)
    _sign_and_act(world, declined, "decline_to_engage", rep, key, note)
    _sign_and_act(world, consented, "give_consent", rep, key, decision(world, community))
    world.act(consented, "validate_agreement", rep, _agreement(world))
    with pytest.raises(InvalidData, match="sign this decision"):
        world.act(consented, "withdraw_consent", rep, _withdrawal(world))
    _sign_and_act(world, consented, "withdraw_consent", rep, key, _withdrawal(world))
    signed = {withheld: "withhold_consent", declined: "decline_to_engage"}
    for case_id, action in {**signed, consented: "withdraw_consent"}.items():
        done = _events(world, audit.case_chain(case_id), action)[-1]
        assert done["outcome"] == "done"
        assert "signature" in done["data"]
        assert signature_problem(done) is None


def test_the_protocol_that_first_asks_for_signatures_is_not_signed_itself(world, community):
    """Until a protocol asks for it nothing is signed: agreeing the first one that does is
    recorded as before, and from then on the case's decisions are signed."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto=SIGNED)
    agreed = _events(world, audit.case_chain(case_id), "agree_protocol")[-1]
    assert agreed["outcome"] == "done"
    assert "signature" not in agreed["data"]
    assert agreed["data"]["payload"]["signed_decisions"] is True
    assert world.case(case_id).signs_decisions is True


def test_without_the_protocol_asking_a_decision_is_confirmed_by_password_as_before(
    world, community, rep
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    data = decision(world, community)
    version = world.case(case_id).version
    assert not world.engine.prepare(case_id, "give_consent", rep, data, version).signature_required
    with pytest.raises(InvalidData) as refused:
        world.engine.advance(case_id, "give_consent", rep, data, version)
    assert _codes(refused.value) == {"password_required"}
    world.engine.advance(case_id, "give_consent", rep, data, version, confirmation=PASSWORD)
    recorded = _events(world, audit.case_chain(case_id), "give_consent")[-1]
    assert recorded["outcome"] == "done"
    assert "signature" not in recorded["data"]


def test_prepare_checks_like_advance_and_writes_nothing(world, community, rep, signed_case):
    key = _confirmed_key(world, rep)
    before = _events(world, audit.case_chain(signed_case))
    version = world.case(signed_case).version
    data = decision(world, community)
    prepared = world.engine.prepare(signed_case, "give_consent", rep, data, version)
    assert prepared.keys == (key.credential_id,)
    assert prepared.data["version"] == version + 1
    assert _events(world, audit.case_chain(signed_case)) == before
    with pytest.raises(NotPermitted):
        world.engine.prepare(signed_case, "give_consent", world.liaison, data, version)
    with pytest.raises(InvalidData):
        world.engine.prepare(signed_case, "give_consent", rep, {**data, "place": ""}, version)
    assert [e["outcome"] for e in _events(world, audit.case_chain(signed_case))[len(before) :]] == [
        "refused",
        "refused",
    ]


def test_a_signed_decision_costs_no_more_statements_than_one_confirmed_by_password(
    world, community, rep, signed_case
):
    """The key's SELECT and its counter's UPDATE instead of the sign-in throttle's count and
    the person's row: give_consent's ceiling holds (tests/workflow/test_statements.py)."""
    key = _confirmed_key(world, rep)
    data = decision(world, community)
    signed = _sign(world, signed_case, "give_consent", rep, key, data)
    version = world.case(signed_case).version
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        world.engine.advance(signed_case, "give_consent", rep, data, version, assertion=signed)
    finally:
        event.remove(world.db.engine, "before_cursor_execute", count)
    assert len(seen) <= 13 + 3, seen  # give_consent's ceiling and the Merkle log's three
    assert any("passkey_credentials" in s and s.startswith("UPDATE") for s in seen)
