"""Signing in and out, with server-side sessions and every sign-in on the access chain, and
a person changing their own password.

No answer tells an unknown user name from a wrong password, and both take the time of one
password check, so sign-in cannot be used to find out who has an account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from fpic.accounts.passwords import NO_PASSWORD, check_password, hash_password
from fpic.accounts.registry import account_event, code_digest, end_open_sessions
from fpic.i18n import N_, Reason
from fpic.storage.models import Enrolment, User, UserSession
from fpic.trail import audit, refusals
from fpic.workflow.actors import Actor, actor_of_row, person_lookup
from fpic.workflow.engine import Engine, require_active
from fpic.workflow.errors import InvalidData, NotPermitted, Throttled
from fpic.workflow.payloads import printable
from fpic.workflow.permissions import SYSTEM_ACTION_ROLES

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: how stale last_seen may get before a request writes it again (keeps reads read-only)
TOUCH_INTERVAL = timedelta(seconds=60)
_DUMMY_HASH = hash_password("not-a-real-password-only-for-timing")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


#: the credential throttle lives with the other limits (fpic/trail/refusals.py); named here too
#: because sign-in is where people meet it
THROTTLE_FAILURES = refusals.THROTTLE_FAILURES
THROTTLE_WINDOW = refusals.THROTTLE_WINDOW
THROTTLED_ACTIONS = refusals.THROTTLED_ACTIONS


def _throttled() -> Throttled:
    return Throttled(
        Reason(
            "sign_in_throttled",
            N_("Too many failed sign-ins for this user name; wait %(minutes)s minutes."),
            {"minutes": int(THROTTLE_WINDOW.total_seconds() // 60)},
        )
    )


def _refused() -> NotPermitted:
    return NotPermitted(Reason("sign_in_failed", N_("The user name or the password is not right.")))


def _one_password_check(user: User | None, password: str) -> bool:
    """Exactly one argon2 verification whatever the account is (unknown, disabled, waiting for
    its enrolment, or usable), so the time of the answer tells none of them apart: a disabled
    account used to answer in a tenth of the time."""
    if user is not None and user.active and user.password_hash != NO_PASSWORD:
        return check_password(user, password)
    check_password(User(password_hash=_DUMMY_HASH), password)
    return False


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    token: str
    locale: str | None


def sign_in(engine: Engine, username: str, password: str) -> SignedIn:
    """Check the password and open a server-side session; every try goes on the access chain
    (tries that wait are counted per window, never one by one: engine.record_refusal)."""
    username = printable((username or "").strip(), 80)
    now = engine.clock.now()
    engine.close_refusal_windows()  # before this transaction: it writes in its own
    with engine.db.write_session() as session, session.begin():
        # no password is checked while throttled, right or wrong
        throttled = refusals.credentials_throttled(session, username, now, engine.limits)
        if throttled:
            engine.record_refusal(
                None, "sign_in", {"reason": "throttled"}, name=username, throttled=True,
                session=session,
            )  # fmt: skip
        else:
            user = session.scalar(select(User).where(User.username == username))
            ok = _one_password_check(user, password or "")
            if not ok:
                engine.record_refusal(
                    None, "sign_in", {"reason": "bad_credentials"}, name=username,
                    session=session,
                )  # fmt: skip
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
                engine.record_system_event(
                    session, user.username, user.role, "sign_in", {}, chain=audit.ACCESS_CHAIN
                )
                return SignedIn(Actor.of(user), token, user.locale)
    raise _throttled() if throttled else _refused()


def sign_out(engine: Engine, token: str) -> None:
    now = engine.clock.now()
    with engine.db.write_session() as session, session.begin():
        row = session.get(UserSession, _digest(token))
        if row is None or row.ended_at is not None:
            return
        row.ended_at = now
        engine.record_system_event(
            session, row.user.username, row.user.role, "sign_out", {}, chain=audit.ACCESS_CHAIN
        )


@dataclass(frozen=True)
class SessionHolder:
    """The person a session belongs to, as each request needs them."""

    actor: Actor
    display_name: str
    locale: str | None
    #: the IANA time zone the person chose (fpic.accounts.settings), read with the session
    time_zone: str | None = None


_SESSION_HOLDER = (
    person_lookup(
        User.display_name,
        User.locale,
        UserSession.created_at,
        UserSession.last_seen_at,
        User.time_zone,
    )
    .join(UserSession, UserSession.user_id == User.id)
    .where(
        UserSession.token_hash == bindparam("digest"),
        UserSession.ended_at.is_(None),
        User.active,
    )
)


def actor_for_session(engine: Engine, token: str) -> SessionHolder | None:
    """The person behind a session token, or None when it ended, idled or aged out, or the
    account was disabled. One statement, outside any transaction: it runs at every request."""
    now = engine.clock.now()
    digest = _digest(token)
    row = engine.db.read_row(_SESSION_HOLDER, {"digest": digest})
    if row is None:
        return None
    created_at, last_seen_at = row[7], row[8]
    if now - last_seen_at > IDLE_TIMEOUT or now - created_at > ABSOLUTE_TIMEOUT:
        return None
    if now - last_seen_at > TOUCH_INTERVAL:
        with engine.db.write_session() as session, session.begin():
            session.execute(
                update(UserSession).where(UserSession.token_hash == digest).values(last_seen_at=now)
            )
    return SessionHolder(actor_of_row(row), row[5], row[6], row[9])


def end_all_sessions(engine: Engine, user_id: int) -> int:
    """End every session of a user; returns how many."""
    now = engine.clock.now()
    with engine.db.write_session() as session, session.begin():
        return end_open_sessions(session, user_id, now)


def change_password(engine: Engine, actor: Actor, current_password: str, new_password: str) -> int:
    """Replace the signed-in person's password and end every session of theirs, the one they
    changed it from included: whoever held a session opened with the old password is out.
    Returns how many sessions ended. Neither password goes on the trail."""
    try:
        digest = hash_password(new_password or "", actor.username)
    except InvalidData as bad:  # the rules name the field "password"; here it is the new one
        raise InvalidData("new_password", bad.reasons[0]) from None
    now = engine.clock.now()

    def work(session: Session) -> dict[str, int]:
        if refusals.credentials_throttled(session, actor.username, now, engine.limits):
            raise _password_throttled()  # no password is checked while throttled
        require_active(session, actor)
        user = session.get(User, actor.user_id)
        assert user is not None  # require_active refuses a missing account
        if not check_password(user, current_password or ""):
            raise _wrong_current_password()
        user.password_hash = digest
        return {"user_id": user.id, "sessions_ended": end_open_sessions(session, user.id, now)}

    result = engine.system_action(
        actor, "change_password", SYSTEM_ACTION_ROLES["change_password"], work
    )
    ended: int = result["sessions_ended"]
    return ended


def _wrong_current_password() -> InvalidData:
    return InvalidData(
        "current_password",
        Reason(
            "wrong_password",
            N_("This is not your current password."),
            {"field": "current_password"},
        ),
    )


def _password_throttled() -> Throttled:
    return Throttled(
        Reason(
            "password_throttled",
            N_("Too many wrong passwords for this account; wait %(minutes)s minutes."),
            {"minutes": int(THROTTLE_WINDOW.total_seconds() // 60)},
        )
    )


def enrol(engine: Engine, username: str, code: str, password: str) -> None:
    """A person chooses their own password with the one-time code they were given (at a new
    account or after a reset). Wrong codes count like failed sign-ins, so codes cannot be
    guessed; the answer never says whether the name or the code was wrong."""
    username = printable((username or "").strip(), 80)
    digest = hash_password(password or "", username)  # rule violations are not failures
    now = engine.clock.now()
    engine.close_refusal_windows()  # before this transaction: it writes in its own
    with engine.db.write_session() as session, session.begin():
        throttled = refusals.credentials_throttled(session, username, now, engine.limits)
        user = None if throttled else session.scalar(select(User).where(User.username == username))
        enrolment = None
        if user is not None and user.active:
            enrolment = session.scalar(
                select(Enrolment).where(
                    Enrolment.user_id == user.id,
                    Enrolment.code_hash == code_digest(code),
                    Enrolment.used_at.is_(None),
                    Enrolment.withdrawn_at.is_(None),
                    Enrolment.expires_at > now,
                )
            )
        if user is None or enrolment is None:
            engine.record_refusal(
                None, "enrol", {"reason": "throttled" if throttled else "bad_code"},
                name=username, throttled=throttled, session=session,
            )  # fmt: skip
        else:
            user.password_hash = digest
            enrolment.used_at = now
            ended = end_open_sessions(session, user.id, now)
            engine.record_system_event(
                session, user.username, user.role, "enrol",
                account_event(user, kind=enrolment.kind, sessions_ended=ended),
            )  # fmt: skip
            return
    if throttled:
        raise _throttled()
    raise NotPermitted(
        Reason(
            "enrolment_failed",
            N_("The user name or the code is not right, or the code has expired or was used."),
        )
    )


def set_locale(engine: Engine, user_id: int, locale: str | None) -> None:
    """A person's saved interface language (not a decision: it is not on the trail)."""
    with engine.db.write_session() as session, session.begin():
        user = session.get(User, user_id)
        if user is not None:
            user.locale = locale
