"""The outbox: the e-mails to send, queued where what calls for them is written.

An action that moves a case to another stage queues one row per person whose turn it now is
(``queue_turn``), in the action's own transaction: a refused or failed action queues nothing,
and a committed one cannot lose its messages. The rows hold what to say, not the text, which
``fpic notify`` renders when it sends them, in the language the recipient has then.

Each row's state is in its times (fpic.storage.models.OutboxMessage):

- pending: neither claimed nor sent, due from ``next_attempt_at``;
- claimed: a sender took it (and committed) before talking to the mail server; a row still
  claimed and not sent is *uncertain*: its sender stopped between the two, and the message
  may or may not have gone out. It is never sent again by itself (``requeue`` is the
  operator's decision);
- sent: the mail server accepted it (``sent_at``);
- given up: a permanent refusal, or too many failed attempts (``last_error`` says which).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fpic.storage.db import rows_changed, table_of
from fpic.storage.models import Case, OutboxMessage, User
from fpic.workflow.actors import Actor
from fpic.workflow.process import Template
from fpic.workflow.turns import people_whose_turn, whose_turn

OUTBOX = table_of(OutboxMessage)
KEY = OUTBOX.c.dedupe_key
#: a claim younger than this may belong to a sender still at work on it: ``requeue`` leaves
#: it alone (a sender gives the mail server at most ``sender.SMTP_TIMEOUT`` per reply)
CLAIM_GRACE = timedelta(minutes=5)
#: how many times a message the mail server turned away for now is tried again, and how long
#: a sender waits before the next try (doubling from the first, up to the last)
MAX_ATTEMPTS = 12
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
#: the states ``status`` counts, in the order it lists them
STATES = ("pending", "uncertain", "sent", "given_up")


def wants_mail(user: User) -> bool:
    """A person who gets notifications: an active account with an address that did not turn
    them off."""
    return bool(user.active and user.notify and user.email)


def queue_turn(
    session: Session,
    template: Template,
    case: Case,
    from_stage: str | None,
    actor: Actor,
    event_seq: int,
    now: datetime,
) -> int:
    """Queue "it is your turn" for each person who can take the main step of the stage the
    action moved ``case`` to, but the person who acted (they know) and those who want no
    e-mail. Nothing when the stage did not change, or when the new stage waits on nobody.

    In the action's transaction: the SELECT of the people (one per role concerned,
    fpic.workflow.turns) and one INSERT of every row. Returns how many were queued."""
    if case.stage == from_stage:
        return 0
    turn = whose_turn(template, case.stage)
    if not turn.roles:
        return 0
    # the case's pending changes need not reach the database for this read: the action sends
    # them in its own one UPDATE (fpic.workflow.engine._write_case_row)
    with session.no_autoflush:
        people = people_whose_turn(session, case, turn, now.date())
    stage = template.stages[case.stage]
    params = {
        "stage": case.stage,
        "stage_title": stage.title,
        "steps": [step.title for step in turn.steps],
        "at": now.isoformat(),
    }
    rows = [
        new_row(user.id, "turn", case.id, params, f"turn:{case.id}:{event_seq}:{user.id}", now)
        for user in people
        if user.id != actor.user_id and wants_mail(user)
    ]
    if rows:
        session.connection().execute(insert(OUTBOX), rows)
    return len(rows)


def queue_once(connection: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose dedupe key is not queued yet; returns how many were new. Two
    processes queueing the same key at once still make one row (the key is unique, and a
    conflict is skipped)."""
    keys = [row["dedupe_key"] for row in rows]
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(connection.scalars(select(KEY).where(KEY.in_(chunk))))
    new = [row for row in rows if row["dedupe_key"] not in known]
    if new:
        connection.execute(_insert_skipping_conflicts(connection.dialect.name), new)
    return len(new)


def _insert_skipping_conflicts(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(OUTBOX).on_conflict_do_nothing(index_elements=[KEY])
    return sqlite.insert(OUTBOX).on_conflict_do_nothing(index_elements=[KEY])


def new_row(
    user_id: int,
    kind: str,
    case_id: int | None,
    params: dict[str, Any],
    dedupe_key: str,
    now: datetime,
) -> dict[str, Any]:
    """An outbox row to insert, due at once."""
    return {
        "user_id": user_id,
        "kind": kind,
        "case_id": case_id,
        "params": params,
        "dedupe_key": dedupe_key,
        # derived from the key: the same message keeps the same Message-ID at every attempt,
        # and after an operator's requeue, so a mail system that saw it once may drop the copy
        "message_id": hashlib.sha256(dedupe_key.encode()).hexdigest()[:40],
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


# --- a sender's steps, each its own transaction ----------------------------------------------


def due_ids(session: Session, now: datetime, limit: int | None = None) -> list[int]:
    """The pending rows due by ``now``, oldest first."""
    query = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.claimed_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Session, message_id: int, now: datetime) -> bool:
    """Take a pending row for sending; False when another sender took it first (one
    conditional UPDATE: two senders never both get it)."""
    return bool(
        rows_changed(
            session,
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.claimed_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
            )
            .values(claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False),
        )
    )


def mark_sent(session: Session, message_id: int, now: datetime) -> None:
    """The mail server accepted it."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(sent_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, message_id: int, attempts: int, error: str, now: datetime) -> bool:
    """The mail server did not take it, for now (it said so, or could not be reached): due
    again after a wait that doubles with each attempt; given up after MAX_ATTEMPTS. Returns
    whether it will be tried again."""
    again = attempts < MAX_ATTEMPTS
    wait = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            claimed_at=None,
            next_attempt_at=now + wait if again else None,
            last_error=error[:500],
        )
        .execution_options(synchronize_session=False)
    )
    return again


def give_up(session: Session, message_id: int, error: str) -> None:
    """Never tried again: the mail server refused it for good, or its recipient no longer
    wants it."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(claimed_at=None, next_attempt_at=None, last_error=error[:500])
        .execution_options(synchronize_session=False)
    )


def note_uncertain(session: Session, message_id: int, error: str) -> None:
    """The sender lost the mail server while handing the message over: it stays claimed (it
    may have gone out), with what happened."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(last_error=error[:500])
        .execution_options(synchronize_session=False)
    )


# --- what the operator sees and does ---------------------------------------------------------


def state_of(row: OutboxMessage) -> str:
    if row.sent_at is not None:
        return "sent"
    if row.claimed_at is not None:
        return "uncertain"
    return "pending" if row.next_attempt_at is not None else "given_up"


@dataclass(frozen=True)
class Status:
    counts: dict[str, int]
    #: the rows an operator must look at: uncertain and given up, oldest first
    attention: list[OutboxMessage]


def status(session: Session, limit: int = 100) -> Status:
    """How many rows are in each state, and the uncertain and given-up ones."""
    state = _state_expression()
    counts = dict.fromkeys(STATES, 0)
    counts.update(
        {name: number for name, number in session.execute(
            select(state, func.count()).group_by(state)
        ).tuples()}
    )  # fmt: skip
    attention = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None))
        .where(OutboxMessage.claimed_at.is_not(None) | OutboxMessage.next_attempt_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    return Status(counts, list(attention))


def _state_expression() -> Any:
    from sqlalchemy import case

    return case(
        (OutboxMessage.sent_at.is_not(None), "sent"),
        (OutboxMessage.claimed_at.is_not(None), "uncertain"),
        (OutboxMessage.next_attempt_at.is_not(None), "pending"),
        else_="given_up",
    )


class NotRequeued(ValueError):
    """Why a row was not queued again; ``kind``: missing, sent, pending, recent."""

    def __init__(self, kind: str, row: OutboxMessage | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.row = row


def requeue(session: Session, message_id: int, now: datetime) -> OutboxMessage:
    """The operator's decision to send an uncertain or given-up row again (its recipient may
    then get it twice: that is why no sender does it by itself). A row sent, still pending,
    or claimed less than CLAIM_GRACE ago (a sender may be at it) is left alone."""
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise NotRequeued("missing")
    state = state_of(row)
    if state in ("sent", "pending"):
        raise NotRequeued(state, row)
    if state == "uncertain" and row.claimed_at is not None and now - row.claimed_at < CLAIM_GRACE:
        raise NotRequeued("recent", row)
    row.claimed_at = None
    row.attempts = 0
    row.next_attempt_at = now
    return row
