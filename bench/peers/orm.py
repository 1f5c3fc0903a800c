"""``transitions`` with the SQLAlchemy 2.0 ORM: mapped classes, one Machine shared by every case
(as fpic shares one per template), fired on the ORM row itself.

Each action: lock the case (``with_for_update``), the mandate guard (one EXISTS), fire the
trigger on the shared machine, add the note (flushed for its id) and the audit row, commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, sessionmaker
from transitions import Machine

from bench.peers import (
    ACTIVE,
    NOTE,
    RESUME,
    SUSPEND,
    Refused,
    Seed,
    System,
    audit_rows,
    case_notes,
    cases,
    check_actor,
    counting_sqlalchemy,
    event_body,
    link,
    naive_now,
    stamp,
)
from bench.peers.sql import actor_community, create_and_seed, in_force_today, peer_engine


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __table__ = cases
    id: Mapped[int]
    community_id: Mapped[int]
    stage: Mapped[str]
    suspended_from: Mapped[str | None]
    version: Mapped[int]
    trail_seq: Mapped[int]
    trail_hash: Mapped[str]
    updated_at: Mapped[datetime]


class NoteRow(Base):
    __table__ = case_notes
    id: Mapped[int]


class AuditRow(Base):
    __table__ = audit_rows


def _was_suspended_in(stage: str) -> Any:
    def condition(event: Any) -> bool:
        return bool(event.model.suspended_from == stage)

    return condition


def shared_machine() -> Machine:
    """The suspension part of the general template, as fpic builds its machines."""
    transitions: list[dict[str, Any]] = [
        {"trigger": SUSPEND, "source": stage, "dest": "suspended"} for stage in ACTIVE
    ]
    transitions += [
        {
            "trigger": RESUME,
            "source": "suspended",
            "dest": stage,
            "conditions": [_was_suspended_in(stage)],
        }
        for stage in ACTIVE
    ]
    return Machine(
        model=None,
        states=[*ACTIVE, "suspended"],
        transitions=transitions,
        initial=ACTIVE[0],
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
    )


MANDATED = select(in_force_today())


class TransitionsOrm(System):
    key, label, kind = "transitions", "transitions + SQLAlchemy ORM, one shared Machine", "orm"

    def __init__(self, url: str, seed: Seed) -> None:
        super().__init__()
        self.engine = peer_engine(url)
        create_and_seed(self.engine, seed)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.machine = shared_machine()
        self.actors = seed.actors
        self.case_ids = [row["id"] for row in seed.cases]

    def act(self, case_id: int, trigger: str) -> None:
        actor = self.actors[actor_community(case_id)]
        with self.sessions() as session, session.begin():
            case = session.execute(
                select(CaseRow).where(CaseRow.id == case_id).with_for_update()
            ).scalar_one()
            check_actor(actor, case.community_id)
            if not session.scalar(
                MANDATED, {"rep": actor.representative_id, "today": date.today()}
            ):
                raise Refused("no mandate in force")
            from_stage, now = case.stage, naive_now()
            # the note first, flushed alone for its id: the case is then updated in one UPDATE
            note = NoteRow(
                case_id=case.id,
                kind=trigger,
                text=NOTE["text"],
                suspended_from=from_stage if trigger == SUSPEND else None,
                recorded_at=now,
                recorded_by=actor.username,
            )
            session.add(note)
            session.flush()
            if not self.machine.events[trigger].trigger(case):
                raise Refused(f"{trigger} is not allowed from {from_stage}")
            case.suspended_from = from_stage if trigger == SUSPEND else None
            case.version += 1
            case.updated_at = now
            seq = case.trail_seq + 1
            body = event_body(
                case.id, seq, stamp(now), actor, trigger, from_stage, case.stage, case.version,
                note.id,
            )  # fmt: skip
            text, digest = link(case.trail_hash, body)
            session.add(
                AuditRow(
                    case_id=case.id,
                    seq=seq,
                    at=body["at"],
                    actor=actor.username,
                    role=actor.role,
                    action=trigger,
                    from_stage=from_stage,
                    to_stage=case.stage,
                    data=text,
                    prev_hash=case.trail_hash,
                    hash=digest,
                )
            )
            case.trail_seq, case.trail_hash = seq, digest

    @contextmanager
    def counted(self) -> Iterator[None]:
        with counting_sqlalchemy(self.engine, self.count):
            yield

    def close(self) -> None:
        self.engine.dispose()
