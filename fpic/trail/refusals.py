"""Limits on refused attempts, counted in the database, and the request's origin.

Every refusal is recorded through ``Engine.record_refusal``; this module holds what that needs
and what the sign-in throttle reads:

- **Counters per address and per account**, in fixed windows of ``WINDOW``, kept in the
  ``refusal_windows`` table. fpic keeps its own counters rather than Flask-Limiter because the
  limits must hold across gunicorn workers and machines, and the only store every worker
  shares is the database (Flask-Limiter's memory storage is per process; it has no SQL
  storage); the engine, not the web, decides, so the CLI obeys the same limits.
- **The origin** of the request (the client's address), set by the interface in a context
  variable, so the engine (which imports no Flask) can count per address, and so the web can
  tell whether a refusal was already recorded during the request.
- **The credential throttle**: failed sign-ins, enrolment codes, current passwords and
  decision confirmations for one user name, counted on the trail.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fpic.storage.models import RefusalWindow, TrailEvent
from fpic.trail.audit import format_time

#: the length of a counting window; a window's summary reaches the trail once it has ended
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Limits:
    """How many refusals per window are recorded one by one (``Engine.limits``)."""

    #: from one address (an office behind one NAT address shares it, hence generous)
    address: int = 100
    #: of one signed-in account
    account: int = 50
    #: failed credential checks from one address before its sign-ins wait: bounds guessing
    #: across many user names from one address (the per-name limit is THROTTLE_FAILURES)
    sign_in_address: int = 30


#: failed credential checks for one user name within THROTTLE_WINDOW before further tries wait
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
#: refused attempts that count as failures: a wrong current password on the password change
#: and a wrong confirmation of a decision count like a failed sign-in, or a session left open
#: would let anyone guess the password freely (rule violations of a new password are refused
#: before the trail, so never count; throttled tries are never recorded one by one, so they
#: never extend a lock-out)
THROTTLED_ACTIONS = ("sign_in", "change_password", "enrol", "confirm_password")

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Origin:
    """Where the current request comes from, and whether a refusal of it was recorded."""

    address: str | None = None
    recorded: bool = False


_ORIGIN: ContextVar[Origin | None] = ContextVar("fpic_origin", default=None)


def begin(address: str | None) -> object:
    """Start a request from ``address``; returns the token ``end`` needs."""
    return _ORIGIN.set(Origin((address or "")[:45] or None))


def end(token: object) -> None:
    _ORIGIN.reset(token)  # type: ignore[arg-type]


def origin() -> Origin:
    """The current request's origin; outside a request (the CLI) a fresh one with no address."""
    return _ORIGIN.get() or Origin()


def window(now: datetime) -> tuple[str, str]:
    """The fixed window ``now`` falls in, as trail timestamps (start, end)."""
    seconds = int(WINDOW.total_seconds())
    since = int((now - _EPOCH).total_seconds()) // seconds * seconds
    start = _EPOCH + timedelta(seconds=since)
    return format_time(start), format_time(start + WINDOW)


def bump(session: Session, key: str, now: datetime, **summary: object) -> int:
    """Count one more refusal for ``key`` in the current window; returns the new count.

    One atomic upsert, so two workers counting at once never lose one."""
    start, end_ = window(now)
    statement = _bump_statement(session.get_bind().dialect.name, tuple(sorted(summary)))
    values = {"key": key[:200], "start": start, "end": end_, "recorded": not summary}
    # on the connection: an upsert through the ORM session costs more than the statement
    return int(session.connection().execute(statement, {**values, **summary}).scalar_one())


@functools.cache
def _bump_statement(dialect_name: str, summary: tuple[str, ...]) -> Any:
    """The upsert of a window's count, built once per database and kind of window (a
    refusal under a flood bumps two or three windows: building it each time cost more than
    running it)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(RefusalWindow).values(
        key=bindparam("key"),
        window_start=bindparam("start"),
        window_end=bindparam("end"),
        count=1,
        # a counter has nothing to write; a summary waits for its window's end
        recorded=bindparam("recorded"),
        **{name: bindparam(name) for name in summary},
    )
    return insert.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"count": RefusalWindow.count + 1}
    ).returning(RefusalWindow.count)


def counted(session: Session, key: str, now: datetime) -> int:
    start, _ = window(now)
    row = session.get(RefusalWindow, (key[:200], start))
    return row.count if row is not None else 0


def recent_failures(session: Session, username: str, now: datetime) -> int:
    """Failed credential checks for this name, counted on the trail (index on actor and time),
    so every worker and machine sharing the database sees the same count (names that do not
    exist included). Only a signed-in person's own name is the actor of a wrong current
    password or confirmation, so nobody can spend another person's tries that way."""
    since = format_time(now - THROTTLE_WINDOW)
    return (
        session.scalar(
            select(func.count())
            .select_from(TrailEvent)
            .where(
                TrailEvent.actor == (username or "-"),
                TrailEvent.at >= since,
                TrailEvent.action.in_(THROTTLED_ACTIONS),
                TrailEvent.outcome == "refused",
            )
        )
        or 0
    )


def credentials_throttled(session: Session, username: str, now: datetime, limits: Limits) -> bool:
    """Whether a credential check for ``username`` from the current address must wait."""
    address = origin().address
    if address and counted(session, f"signin:{address}", now) >= limits.sign_in_address:
        return True
    return recent_failures(session, username, now) >= THROTTLE_FAILURES
