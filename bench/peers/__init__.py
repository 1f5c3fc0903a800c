"""B7's systems: the same unit of work in fpic, in its peers and in plain statements.

The unit of work: a representative suspends or resumes one of N cases of their community.
Check the actor's role and community against the case, one guard that reads the mandates (the
representative holds a mandate in force today), change the stage, insert one note, append one
audit row whose hash is SHA-256 over the previous hash of the case's chain and the canonical
JSON of the event, commit. SQLite: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``; PostgreSQL:
the case row locked (``SELECT ... FOR UPDATE``).

Every peer works on its own fresh database with the same tables (below): communities, their
representatives and mandates, the cases (which carry the head of their audit chain: ``trail_seq``
and ``trail_hash``, read with the lock and written with the stage), notes and audit rows.
fpic works on its own schema, through ``Engine.advance``.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

GENESIS = "0" * 64
#: the general template's stages a community may suspend the process from (and resume to)
ACTIVE = (
    "screening", "rights_holders", "mapping", "protocol", "disclosure", "deliberation",
    "negotiation", "decision",
)  # fmt: skip
SUSPEND, RESUME = "suspend_process", "resume_process"
NOTE = {"text": "The assembly paused the process for the planting season; it resumes after."}
COMMUNITIES = 3
REPRESENTATIVES = 3  #: per community, each with a mandate in force and an expired one


class Refused(Exception):
    """The role, the community, the stage or the guard said no (never raised in the bench)."""


@dataclass(frozen=True)
class Actor:
    """Who acts, as the caller knows them (fpic's ``Actor`` has the same fields)."""

    user_id: int
    username: str
    role: str
    representative_id: int
    community_id: int


# --- the peers' tables ---------------------------------------------------------------------

metadata = MetaData()
communities = Table(
    "communities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
)
representatives = Table(
    "representatives",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("community_id", ForeignKey("communities.id"), nullable=False, index=True),
    Column("name", String(120), nullable=False),
)
mandates = Table(
    "mandates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("representative_id", ForeignKey("representatives.id"), nullable=False, index=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("confirmed_at", DateTime, nullable=True),
    Column("revoked_on", Date, nullable=True),
)
cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("community_id", ForeignKey("communities.id"), nullable=False, index=True),
    Column("stage", String(32), nullable=False),
    Column("suspended_from", String(32), nullable=True),
    Column("version", Integer, nullable=False),
    Column("trail_seq", Integer, nullable=False),
    Column("trail_hash", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("workflow", Text, nullable=True),  #: SpiffWorkflow's serialized workflow
)
case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("suspended_from", String(32), nullable=True),
    Column("recorded_at", DateTime, nullable=False),
    Column("recorded_by", String(80), nullable=False),
)
audit_rows = Table(
    "audit_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("from_stage", String(32), nullable=True),
    Column("to_stage", String(32), nullable=True),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("case_id", "seq"),
)


@dataclass
class Seed:
    """The rows of a fresh peer database: plain values, inserted by each system its own way."""

    communities: list[dict[str, Any]]
    representatives: list[dict[str, Any]]
    mandates: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    actors: dict[int, Actor]  #: by community


def seed_rows(count: int, workflow: str | None = None) -> Seed:
    today, now = date.today(), naive_now()
    comms = [{"id": c, "name": f"Ayllu {c}"} for c in range(1, COMMUNITIES + 1)]
    reps, mands, actors = [], [], {}
    for c in comms:
        for k in range(1, REPRESENTATIVES + 1):
            rep_id = len(reps) + 1
            reps.append({"id": rep_id, "community_id": c["id"], "name": f"Rep {k} of {c['id']}"})
            for valid_from, valid_until in (
                (today - timedelta(days=900), today - timedelta(days=31)),  # expired
                (today - timedelta(days=30), today + timedelta(days=1000)),  # in force
            ):
                mands.append(
                    {
                        "id": len(mands) + 1,
                        "representative_id": rep_id,
                        "valid_from": valid_from,
                        "valid_until": valid_until,
                        "confirmed_at": now - timedelta(days=30),
                        "revoked_on": None,
                    }
                )
            if k == 1:
                actors[c["id"]] = Actor(
                    rep_id, f"rep-{c['id']}-{k}", "representative", rep_id, c["id"]
                )
    rows = [
        {
            "id": n,
            "community_id": 1 + n % COMMUNITIES,
            "stage": ACTIVE[n % len(ACTIVE)],
            "suspended_from": None,
            "version": 1,
            "trail_seq": 0,
            "trail_hash": GENESIS,
            "updated_at": now,
            "workflow": workflow,
        }
        for n in range(1, count + 1)
    ]
    return Seed(comms, reps, mands, rows, actors)


# --- the unit of work's logic, the same for every peer -------------------------------------


def naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_actor(actor: Actor, community_id: int) -> None:
    """(1) the role and the community."""
    if actor.role != "representative" or actor.community_id != community_id:
        raise Refused("not a representative of the case's community")


def check_stage(trigger: str, stage: str) -> None:
    if (trigger == SUSPEND and stage not in ACTIVE) or (trigger == RESUME and stage != "suspended"):
        raise Refused(f"{trigger} is not allowed from {stage}")


def moved(trigger: str, stage: str, suspended_from: str | None) -> tuple[str, str | None]:
    """The stage and ``suspended_from`` after ``trigger`` (for the peers without a machine)."""
    check_stage(trigger, stage)
    if trigger == SUSPEND:
        return "suspended", stage
    assert suspended_from is not None
    return suspended_from, None


def event_body(
    case_id: int,
    seq: int,
    at: str,
    actor: Actor,
    trigger: str,
    from_stage: str,
    to_stage: str,
    version: int,
    note_id: int,
) -> dict[str, Any]:
    return {
        "chain": f"case:{case_id}",
        "seq": seq,
        "at": at,
        "actor": actor.username,
        "role": actor.role,
        "action": trigger,
        "outcome": "done",
        "case": case_id,
        "from": from_stage,
        "to": to_stage,
        "data": {"version": version, "payload": NOTE, "records": {"note_id": note_id}},
    }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link(prev_hash: str, body: dict[str, Any]) -> tuple[str, str]:
    """The event's canonical JSON and its hash, chained to the previous one."""
    text = canonical_json(body)
    return text, hashlib.sha256(prev_hash.encode("ascii") + text.encode("utf-8")).hexdigest()


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds") + "Z"


# --- a system under measurement ------------------------------------------------------------


class System(ABC):
    """One implementation of the unit of work, on its own database of ``count`` cases."""

    key: str
    label: str
    kind: str  #: "engine", "orm", "workflow" or "floor"

    def __init__(self) -> None:
        self.case_ids: list[int] = []
        self.suspended: dict[int, bool] = {}
        self.cursor = 0
        self.statements = 0
        self.counting = False

    @abstractmethod
    def act(self, case_id: int, trigger: str) -> None:
        """One unit of work, committed."""

    def close(self) -> None:  # noqa: B027 (optional)
        pass

    def count(self, statement: str) -> None:
        if self.counting and not statement.lstrip()[:8].upper().startswith(
            ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        ):
            self.statements += 1

    def step(self) -> None:
        case_id = self.case_ids[self.cursor % len(self.case_ids)]
        self.cursor += 1
        suspended = self.suspended.get(case_id, False)
        self.act(case_id, RESUME if suspended else SUSPEND)
        self.suspended[case_id] = not suspended

    def rate(self, actions: int) -> float:
        start = time.perf_counter()
        for _ in range(actions):
            self.step()
        return actions / (time.perf_counter() - start)

    def statements_per_action(self, actions: int) -> float:
        self.statements, self.counting = 0, True
        try:
            with self.counted():
                for _ in range(actions):
                    self.step()
        finally:
            self.counting = False
        return self.statements / actions

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Around the counted actions: hooks that call ``count`` for each statement sent."""
        yield


@contextmanager
def counting_sqlalchemy(engine: Any, count: Callable[[str], None]) -> Iterator[None]:
    """Count the statements an SQLAlchemy engine sends to its driver."""
    from sqlalchemy import event

    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
    ) -> None:
        count(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
