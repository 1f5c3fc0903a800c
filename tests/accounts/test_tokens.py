"""Personal API tokens: scopes, expiry, revocation, disabled accounts; the secret shown once
and stored hashed; creation and revocation on the trail, verified."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from fpic.accounts.registry import reset_account, set_user_active, set_user_role
from fpic.accounts.tokens import PREFIX, create_token, holder_of, revoke_token
from fpic.storage.models import ApiToken, TrailEvent
from fpic.trail import audit
from fpic.workflow.errors import InvalidData, NotPermitted
from tests.factories import World


def _token(world: World, who: str = "liaison", scope: str = "read", days: int = 30):
    return create_token(world.engine, getattr(world, who), name=f"{who} script", scope=scope,
                        days=days)  # fmt: skip


def test_the_secret_is_shown_once_and_only_its_sha256_is_stored(world: World):
    issued = _token(world, scope="act")
    assert issued.secret.startswith(PREFIX)
    assert len(issued.secret) >= len(PREFIX) + 43  # 256 random bits, base64url
    with world.db.read_session() as db:
        row = db.get(ApiToken, issued.token_id)
        assert row is not None
        assert row.token_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
        stored = [json.dumps(audit.row_of(e)) for e in db.scalars(select(TrailEvent))]
    assert not any(issued.secret in text for text in stored)
    assert not any(issued.secret[len(PREFIX) :] in text for text in stored)
    holder = holder_of(world.engine, issued.secret)
    assert holder is not None
    assert (holder.actor.username, holder.scope) == ("liaison", "act")


def test_two_tokens_never_share_a_secret(world: World):
    assert _token(world).secret != _token(world).secret


def test_an_unknown_or_malformed_secret_authenticates_nothing(world: World):
    issued = _token(world)
    assert holder_of(world.engine, issued.secret + "x") is None
    assert holder_of(world.engine, issued.secret[len(PREFIX) :]) is None
    assert holder_of(world.engine, "") is None


def test_a_token_stops_working_when_it_expires(world: World):
    issued = _token(world, days=1)
    world.clock.advance(hours=23, minutes=59)
    assert holder_of(world.engine, issued.secret) is not None
    world.clock.advance(minutes=1)
    assert holder_of(world.engine, issued.secret) is None


def test_a_revoked_token_stops_working_at_once(world: World):
    issued, kept = _token(world), _token(world)
    revoke_token(world.engine, world.liaison, issued.token_id)
    assert holder_of(world.engine, issued.secret) is None
    assert holder_of(world.engine, kept.secret) is not None
    with pytest.raises(InvalidData):
        revoke_token(world.engine, world.liaison, issued.token_id)  # already revoked


def test_a_reset_account_keeps_no_token_in_force_and_the_trail_says_how_many(world: World):
    issued, other = _token(world), _token(world)
    revoke_token(world.engine, world.liaison, other.token_id)
    reset_account(world.engine, world.admin, world.liaison.user_id)
    assert holder_of(world.engine, issued.secret) is None
    with world.db.read_session() as db:
        event = db.scalars(select(TrailEvent).where(TrailEvent.action == "reset_account")).one()
        assert json.loads(event.data)["tokens_revoked"] == 1  # the other was revoked before
        assert audit.verify_database(db).intact


def test_nobody_revokes_another_persons_token(world: World):
    issued = _token(world)
    with pytest.raises(InvalidData) as refused:
        revoke_token(world.engine, world.auditor, issued.token_id)
    assert refused.value.reasons[0].message == "There is no such token of yours."
    assert holder_of(world.engine, issued.secret) is not None


def test_a_disabled_account_s_token_authenticates_nothing_and_again_when_enabled(world: World):
    issued = _token(world)
    set_user_active(world.engine, world.admin, world.liaison.user_id, False)
    assert holder_of(world.engine, issued.secret) is None
    set_user_active(world.engine, world.admin, world.liaison.user_id, True)
    assert holder_of(world.engine, issued.secret) is not None


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_a_role_that_may_not_act_gets_no_act_token_but_a_read_one(world: World, who: str):
    with pytest.raises(NotPermitted) as refused:
        _token(world, who, scope="act")
    assert refused.value.reasons[0].code == "scope_not_allowed"
    holder = holder_of(world.engine, _token(world, who, scope="read").secret)
    assert holder is not None
    assert holder.scope == "read"
    with world.db.read_session() as db:
        scopes = db.scalars(select(ApiToken.scope).where(ApiToken.user_id == holder.actor.user_id))
        assert list(scopes) == ["read"]
        refusal = db.scalars(
            select(TrailEvent).where(TrailEvent.action == "create_api_token")
            .order_by(TrailEvent.id)
        ).first()  # fmt: skip
    assert refusal is not None
    assert (refusal.outcome, refusal.chain, refusal.actor) == ("refused", "system", who)
    assert json.loads(refusal.data)["reasons"][0]["code"] == "scope_not_allowed"


@pytest.mark.parametrize("who", ["liaison", "facilitator", "mediator", "state_authority"])
def test_roles_that_may_act_get_act_tokens(world: World, who: str):
    assert holder_of(world.engine, _token(world, who, scope="act").secret) is not None


def test_a_mandated_representative_gets_an_act_token(world: World, community):
    rep = community.rep_actors[0]
    issued = create_token(world.engine, rep, name="assembly app", scope="act", days=365)
    assert holder_of(world.engine, issued.secret) is not None


def test_a_role_changed_since_is_what_the_token_carries(world: World):
    issued = _token(world, scope="act")
    set_user_role(world.engine, world.admin, world.liaison.user_id, "auditor")
    holder = holder_of(world.engine, issued.secret)
    assert holder is not None
    assert holder.actor.role == "auditor"  # the API asks its permission again at each request


@pytest.mark.parametrize(
    ("name", "scope", "days", "field"),
    [
        ("", "read", 30, "name"),
        ("x" * 81, "read", 30, "name"),
        ("ok", "write", 30, "scope"),
        ("ok", "read", 0, "days"),
        ("ok", "read", 366, "days"),
        ("ok\u202e", "read", 30, "name"),  # a bidi control makes one name pass for another
    ],
)
def test_a_token_needs_a_name_a_known_scope_and_a_bounded_expiry(
    world: World, name: str, scope: str, days: int, field: str
):
    with pytest.raises(InvalidData) as refused:
        create_token(world.engine, world.liaison, name=name, scope=scope, days=days)
    assert refused.value.field == field


def test_creation_and_revocation_are_account_events_that_verify(world: World):
    issued = _token(world, scope="act", days=365)
    revoke_token(world.engine, world.liaison, issued.token_id)
    with world.db.read_session() as db:
        events = list(
            db.scalars(
                select(TrailEvent)
                .where(TrailEvent.action.in_(("create_api_token", "revoke_api_token")))
                .order_by(TrailEvent.seq)
            )
        )
        verification = audit.verify_database(db)
    assert verification.intact, verification.first_break
    expected = {
        "user_id": world.liaison.user_id,
        "username": "liaison",
        "role": "liaison",
        "representative_id": None,
        "community_id": None,
        "token_id": issued.token_id,
        "name": "liaison script",
        "scope": "act",
        "expires_at": issued.expires_at.isoformat(),
    }
    assert [(e.action, e.outcome, e.chain, e.actor) for e in events] == [
        ("create_api_token", "done", "system", "liaison"),
        ("revoke_api_token", "done", "system", "liaison"),
    ]
    assert [json.loads(e.data) for e in events] == [expected, expected]


def test_a_representative_s_token_events_name_their_community(world: World, community):
    rep = community.rep_actors[0]
    create_token(world.engine, rep, name="phone", scope="read", days=7)
    with world.db.read_session() as db:
        event = db.scalars(select(TrailEvent).where(TrailEvent.action == "create_api_token")).one()
    data = json.loads(event.data)
    assert (data["representative_id"], data["community_id"]) == (rep.representative_id,
                                                                  community.id)  # fmt: skip


def test_the_exported_trail_with_token_events_verifies_on_its_own(world: World, tmp_path):
    issued = _token(world)
    revoke_token(world.engine, world.liaison, issued.token_id)
    out = tmp_path / "trail.jsonl"
    with world.db.read_session() as db, out.open("w", encoding="utf-8") as f:
        audit.write_jsonl(audit.export_rows(db), f)
    with out.open(encoding="utf-8") as f:
        verification = audit.verify_export(f)
    assert verification.intact, verification.first_break
