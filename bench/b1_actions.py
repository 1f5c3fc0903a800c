"""B1: durable case actions per second against plain single-row inserts on the same database.

An action is the engine's whole transaction: lock the case, check the version, the role and the
guards, change the stage, write the note, append the hash-chained trail event, commit. The case
goes back and forth between two stages (the community suspends and resumes the process), so
every action changes the stage and every one passes its guards. The baseline inserts one row
of the same size and commits, through the same engine, so it runs under the same connection
settings (SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL: its defaults).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select

from bench.common import Figure, Stopwatch, interleaved, ratio_figure, scratch_database
from bench.generate import Dataset, Directory, generate
from fpic.storage.db import WRITE_OPTION, Database
from fpic.storage.models import Case
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine, user_actor

TARGETS = {"sqlite": 0.7, "postgresql": 0.6}
SUSPENDABLE = (
    "screening", "rights_holders", "mapping", "protocol", "disclosure", "deliberation",
    "negotiation", "decision",
)  # fmt: skip
NOTE = {"text": "The assembly paused the process for the planting season; it resumes after."}


class CaseSwing:
    """Suspends and resumes one case, one durable action at a time."""

    def __init__(self, db: Database, dataset: Dataset) -> None:
        self.engine = Engine(db)
        self.case_id, self.actor = pick_case(db, dataset.directory)
        with db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            self.version, self.suspended = case.version, case.stage == "suspended"

    def rate(self, actions: int) -> float:
        clock = Stopwatch()
        for _ in range(actions):
            trigger = "resume_process" if self.suspended else "suspend_process"
            result = self.engine.advance(self.case_id, trigger, self.actor, NOTE, self.version)
            self.version, self.suspended = result.version, not self.suspended
        return actions / clock.seconds


def pick_case(
    db: Database, directory: Directory, stage_in: tuple[str, ...] = SUSPENDABLE
) -> tuple[int, Actor]:
    """A case the community can suspend now, and one of its mandated representatives."""
    with db.read_session() as session:
        case = session.scalar(
            select(Case).where(Case.stage.in_(stage_in)).order_by(Case.id).limit(1)
        )
        assert case is not None, "the dataset has no case that can be suspended"
        place = next(p for p in directory.places if p.id == case.community_id)
        return case.id, user_actor(session, place.reps[0].username)


class PlainInserts:
    """One row of a trail event's size, inserted and committed: the durability floor."""

    def __init__(self, db: Database) -> None:
        self.table = Table(
            "bench_plain_rows",
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("at", String(32)),
            Column("body", Text),
        )
        self.table.create(db.engine)
        self.engine = db.engine.execution_options(**{WRITE_OPTION: True})
        self.body = "x" * 420

    def rate(self, rows: int) -> float:
        clock = Stopwatch()
        with self.engine.connect() as conn:
            for n in range(rows):
                with conn.begin():
                    conn.execute(insert(self.table), {"at": str(n), "body": self.body})
        return rows / clock.seconds


def run(backend: str, workdir: Path, quick: bool) -> Figure:
    actions, rounds = (100, 2) if quick else (1000, 5)
    with scratch_database(backend, workdir, "b1") as url:
        dataset = generate(url, cases=20, events=300, progress=False)
        db = Database(url)
        try:
            swing, plain = CaseSwing(db, dataset), PlainInserts(db)
            swing.rate(20), plain.rate(20)  # warm caches and connection pools
            ours, theirs, all_ours, all_theirs = interleaved(
                lambda: swing.rate(actions), lambda: plain.rate(actions), rounds
            )
        finally:
            db.dispose()
    return ratio_figure(
        f"case actions/s ({backend})",
        ours,
        theirs,
        "actions/s",
        minimum=TARGETS[backend],
        baseline_is="plain insert + commit/s",
        actions_per_round=actions,
        rounds=[round(x, 1) for x in all_ours],
        baseline_rounds=[round(x, 1) for x in all_theirs],
    )
