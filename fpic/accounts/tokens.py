"""Personal API tokens: a person creates and revokes their own, each with a name, a scope
(``read`` or ``act``) and an expiry; a token authenticates as its holder, never more.

The secret is shown once and only its SHA-256 is stored: it carries 256 random bits, so unlike
a password it needs no slow hash (nothing short enough to guess is ever hashed). Creating and
revoking a token are events on the system chain, in the shape of every account event
(fpic.accounts.registry.account_event); the secret is never on the trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fpic.accounts.registry import account_event
from fpic.i18n import N_
from fpic.storage.models import TOKEN_SCOPES, ApiToken, User
from fpic.workflow.actors import Actor, actor_of_row, person_lookup
from fpic.workflow.engine import Engine, require_active
from fpic.workflow.errors import NotPermitted, invalid
from fpic.workflow.payloads import Fields
from fpic.workflow.permissions import SYSTEM_ACTION_ROLES, token_scope_refusal

#: every secret starts with this, so a leaked one is recognisable (secret scanners, logs)
PREFIX = "fpic_"
#: a token must expire, and within a year: a forgotten token should not outlive its use
MIN_DAYS, MAX_DAYS = 1, 365
_SECRET_BYTES = 32  # 256 random bits


@dataclass(frozen=True)
class IssuedToken:
    """A new token; ``secret`` exists only here, to be shown to its holder once."""

    token_id: int
    name: str
    scope: str
    secret: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenHolder:
    """Who a request's token speaks for, and how far."""

    actor: Actor
    scope: str
    token_id: int
    locale: str | None


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def create_token(engine: Engine, actor: Actor, *, name: str, scope: str, days: int) -> IssuedToken:
    """A new token of the person's own; ``act`` only for someone who may act on cases."""
    f = Fields({"name": name, "scope": scope, "days": days}, {"name", "scope", "days"})
    clean_name = f.name("name")
    clean_scope = f.choice("scope", TOKEN_SCOPES)
    valid_days = f.integer("days", minimum=MIN_DAYS, maximum=MAX_DAYS)
    # required fields: Fields raised already if one was missing
    assert clean_name is not None
    assert clean_scope is not None
    assert valid_days is not None
    if len(clean_name) > 80:
        raise invalid("name", N_("%(field)s may have at most %(max)s characters."), max=80)
    secret = PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    issued: list[IssuedToken] = []

    def work(session: Session) -> dict[str, Any]:
        require_active(session, actor)
        refusals = token_scope_refusal(actor, clean_scope)
        if refusals:
            raise NotPermitted(*refusals)
        now = engine.clock.now()
        token = ApiToken(
            user_id=actor.user_id,
            name=clean_name,
            scope=clean_scope,
            token_hash=token_digest(secret),
            created_at=now,
            expires_at=now + timedelta(days=valid_days),
        )
        session.add(token)
        session.flush()  # the token's id goes on the trail
        issued.append(IssuedToken(token.id, clean_name, clean_scope, secret, token.expires_at))
        return _event(session, actor, token)

    engine.system_action(actor, "create_api_token", SYSTEM_ACTION_ROLES["create_api_token"], work)
    return issued[0]


def revoke_token(engine: Engine, actor: Actor, token_id: int) -> None:
    """End one of the person's own tokens at once; another person's is as if it did not
    exist (nobody learns which tokens others hold)."""

    def work(session: Session) -> dict[str, Any]:
        require_active(session, actor)
        token = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
        if token is None or token.user_id != actor.user_id:
            raise invalid("token_id", N_("There is no such token of yours."))
        if token.revoked_at is not None:
            raise invalid("token_id", N_("This token has already been revoked."))
        token.revoked_at = engine.clock.now()
        return _event(session, actor, token)

    engine.system_action(actor, "revoke_api_token", SYSTEM_ACTION_ROLES["revoke_api_token"], work)


def _event(session: Session, actor: Actor, token: ApiToken) -> dict[str, Any]:
    user = session.get(User, actor.user_id)
    assert user is not None  # require_active read it
    return account_event(
        user,
        token_id=token.id,
        name=token.name,
        scope=token.scope,
        expires_at=token.expires_at.isoformat(),
    )


def holder_of(engine: Engine, secret: str) -> TokenHolder | None:
    """The person a token speaks for, or None: unknown, revoked, expired, or its holder's
    account disabled. Read at every request, so each of those takes effect at once."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = engine.db.read_row(_TOKEN_HOLDER, {"digest": token_digest(secret)})
    if row is None or row[8] <= engine.clock.now():
        return None
    return TokenHolder(actor_of_row(row), row[5], row[7], row[6])


_TOKEN_HOLDER = (
    person_lookup(ApiToken.scope, User.locale, ApiToken.id, ApiToken.expires_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None), User.active)
)


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A person's own tokens, newest first, for their tokens page."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        )
    )


def token_status(token: ApiToken, now: datetime) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now else "active"
