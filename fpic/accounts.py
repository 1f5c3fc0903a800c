"""Signing in and out, with server-side sessions and every sign-in on the system chain.

No answer tells an unknown user name from a wrong password, and both take the time of one
password check, so sign-in cannot be used to find out who has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fpic import audit
from fpic.actors import Actor
from fpic.engine import Engine
from fpic.errors import NotPermitted
from fpic.i18n import N_, Reason
from fpic.models import TrailEvent, User, UserSession
from fpic.payloads import printable
from fpic.registry import check_password, hash_password

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: how stale last_seen may get before a request writes it again (keeps reads read-only)
TOUCH_INTERVAL = timedelta(seconds=60)
_DUMMY_HASH = hash_password("not-a-real-password-only-for-timing")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


#: failed sign-ins for one user name within THROTTLE_WINDOW before further tries wait
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


def _recent_failures(session: Session, username: str, now: datetime) -> int:
    """Failed sign-ins for this name, counted on the system chain, so every worker and
    machine sharing the database sees the same count (names that do not exist included)."""
    since = audit.format_time(now - THROTTLE_WINDOW)
    return (
        session.scalar(
            select(func.count())
            .select_from(TrailEvent)
            .where(
                TrailEvent.chain == audit.SYSTEM_CHAIN,
                TrailEvent.action == "sign_in",
                TrailEvent.outcome == "refused",
                TrailEvent.actor == (username or "-"),
                TrailEvent.at >= since,
            )
        )
        or 0
    )


def _throttled() -> NotPermitted:
    return NotPermitted(
        Reason(
            "sign_in_throttled",
            N_("Too many failed sign-ins for this user name; wait %(minutes)s minutes."),
            {"minutes": int(THROTTLE_WINDOW.total_seconds() // 60)},
        )
    )


def _refused() -> NotPermitted:
    return NotPermitted(Reason("sign_in_failed", N_("The user name or the password is not right.")))


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    token: str
    locale: str | None


def sign_in(engine: Engine, username: str, password: str) -> SignedIn:
    """Check the password and open a server-side session; refusals go on the system chain."""
    username = printable((username or "").strip(), 80)
    now = engine.clock.now()
    with engine.db.write_session() as session, session.begin():
        if _recent_failures(session, username, now) >= THROTTLE_FAILURES:
            # no password is checked while throttled, right or wrong
            engine.record_system_event(
                session, username or "-", "anonymous", "sign_in", {"reason": "throttled"},
                outcome="refused",
            )  # fmt: skip
            throttled = True
        else:
            throttled = False
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                check_password(User(password_hash=_DUMMY_HASH), password or "")
            ok = user is not None and user.active and check_password(user, password or "")
            if not ok:
                engine.record_system_event(
                    session,
                    username or "-",
                    "anonymous",
                    "sign_in",
                    {"reason": "bad_credentials"},
                    outcome="refused",
                )
            else:
                assert user is not None
                token = secrets.token_urlsafe(32)
                session.add(
                    UserSession(
                        token_hash=_digest(token),
                        user_id=user.id,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
                engine.record_system_event(session, user.username, user.role, "sign_in", {})
                return SignedIn(Actor.of(user), token, user.locale)
    raise _throttled() if throttled else _refused()


def sign_out(engine: Engine, token: str) -> None:
    now = engine.clock.now()
    with engine.db.write_session() as session, session.begin():
        row = session.get(UserSession, _digest(token))
        if row is None or row.ended_at is not None:
            return
        row.ended_at = now
        engine.record_system_event(session, row.user.username, row.user.role, "sign_out", {})


def actor_for_session(engine: Engine, token: str) -> tuple[Actor, User] | None:
    """The person behind a session token, or None when it ended, idled or aged out."""
    now = engine.clock.now()
    digest = _digest(token)
    with engine.db.read_session() as session:
        row = session.get(UserSession, digest)
        if row is None or row.ended_at is not None or not row.user.active:
            return None
        if now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
            return None
        user = row.user
        actor = Actor.of(user)
        stale = now - row.last_seen_at > TOUCH_INTERVAL
        session.expunge(user)
    if stale:
        with engine.db.write_session() as session, session.begin():
            session.execute(
                update(UserSession).where(UserSession.token_hash == digest).values(last_seen_at=now)
            )
    return actor, user


def end_all_sessions(engine: Engine, user_id: int) -> int:
    """End every session of a user (password change, account disabled); returns how many."""
    now = engine.clock.now()
    with engine.db.write_session() as session, session.begin():
        result = session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
            .values(ended_at=now)
        )
        return result.rowcount or 0


def set_locale(engine: Engine, user_id: int, locale: str | None) -> None:
    """A person's saved interface language (not a decision: it is not on the trail)."""
    with engine.db.write_session() as session, session.begin():
        user = session.get(User, user_id)
        if user is not None:
            user.locale = locale


def confirm_password(engine: Engine, user_id: int, password: str) -> bool:
    """Ask again before a weighty act (recording a community's decision)."""
    with engine.db.read_session() as session:
        user = session.get(User, user_id)
        return user is not None and user.active and check_password(user, password or "")
