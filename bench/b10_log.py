"""B10: the Merkle log's cost. Appending to it costs at most 10% of an action; an inclusion
proof in a log of 1,000,000 events takes under 10 ms.

Append: B1's durable actions (the community suspends and resumes a case), each timed whole,
and inside each the time its transaction spent in ``fpic.trail.log.seal`` (locking the log's
head, inserting the leaf and the subtrees it completes, moving the head): the figure is the
seal's share of the action, the median of several rounds.

Proof: a log of 1,000,000 leaves is built in the database the way the engine builds it (its
subtrees and head, in batches of 10,000 leaves per transaction), then inclusion proofs for
leaves drawn at random (seeded) are read from it, each from a new read session, as
``fpic audit prove`` and ``/audit/proof`` read them; every proof is checked against the
checkpoint's root (a fast wrong proof is not a result). The median and the 99th percentile are
reported; the target is on the median. Both on SQLite, and on PostgreSQL when it answers.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from bench.b1_actions import CaseSwing
from bench.common import Figure, backends, postgres_available, scratch_database
from bench.generate import generate
from fpic.storage.db import Database, table_of
from fpic.storage.migrate import upgrade
from fpic.storage.models import MerkleLog, MerkleNode
from fpic.trail import log, merkle

APPEND_SHARE = 0.10  #: the seal's share of an action, at most
PROOF_MS = 10.0  #: an inclusion proof's median, under
LEAVES, QUICK_LEAVES = 1_000_000, 20_000
PROOFS, QUICK_PROOFS = 500, 100
BATCH = 10_000


class SealTimer:
    """Puts a timed ``log.seal`` in the place of the one every session calls as it commits, to
    add up the time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.original = log.seal

    def __enter__(self) -> SealTimer:
        event.remove(Session, "before_commit", log.seal)
        event.listen(Session, "before_commit", self.timed)
        return self

    def timed(self, session: Session) -> None:
        start = time.perf_counter()
        self.original(session)
        self.seconds += time.perf_counter() - start
        self.calls += 1

    def __exit__(self, *_exc: object) -> None:
        event.remove(Session, "before_commit", self.timed)
        event.listen(Session, "before_commit", log.seal)


def append_share(backend: str, workdir: Path, quick: bool) -> Figure:
    actions, rounds = (100, 3) if quick else (1000, 5)
    shares: list[float] = []
    per_action_ms: list[float] = []
    with scratch_database(backend, workdir, "b10a") as url:
        dataset = generate(url, cases=20, events=300, progress=False)
        with SealTimer() as timer:
            db = Database(url)
            try:
                swing = CaseSwing(db, dataset)
                swing.rate(20)  # warm caches and the pool
                for _ in range(rounds):
                    timer.seconds, timer.calls = 0.0, 0
                    start = time.perf_counter()
                    swing.rate(actions)
                    whole = time.perf_counter() - start
                    assert timer.calls == actions, "every action sealed its event once"
                    shares.append(timer.seconds / whole)
                    per_action_ms.append(1000 * whole / actions)
            finally:
                db.dispose()
    share = statistics.median(shares)
    return Figure(
        f"Merkle append's share of an action ({backend})",
        round(100 * share, 2),
        "% of the action",
        None,
        None,
        f"<= {100 * APPEND_SHARE:.0f}%",
        share <= APPEND_SHARE,
        {
            "actions_per_round": actions,
            "rounds_percent": [round(100 * s, 2) for s in shares],
            "action_ms": round(statistics.median(per_action_ms), 3),
            "seal_ms": round(statistics.median(per_action_ms) * share, 3),
        },
    )


def build_log(db: Database, leaves: int) -> log.Frontier:
    """A log of ``leaves`` leaves (deterministic 32-byte values), stored as the engine stores
    it; returns its frontier."""
    frontier = log.Frontier(0, [])
    nodes, head = table_of(MerkleNode), table_of(MerkleLog)
    for start in range(0, leaves, BATCH):
        rows = log.node_rows(
            frontier,
            [
                ("system", n + 1, n.to_bytes(32, "big").hex())
                for n in range(start, min(start + BATCH, leaves))
            ],
        )
        with db.engine.begin() as connection:
            connection.execute(insert(nodes), rows)
    with db.engine.begin() as connection:
        connection.execute(head.delete())
        connection.execute(
            insert(head), {"id": log.LOG_ID, "size": frontier.size, "frontier": frontier.text}
        )
    return frontier


def proof_time(backend: str, workdir: Path, quick: bool) -> tuple[Figure, dict[str, Any]]:
    leaves, proofs = (QUICK_LEAVES, QUICK_PROOFS) if quick else (LEAVES, PROOFS)
    with scratch_database(backend, workdir, "b10p") as url:
        db = Database(url)
        try:
            upgrade(db.engine)  # no event yet: the log is empty
            start = time.perf_counter()
            frontier = build_log(db, leaves)
            built = time.perf_counter() - start
            root = frontier.root
            rng = random.Random(10)
            times: list[float] = []
            for _ in range(proofs):
                index = rng.randrange(leaves)
                start = time.perf_counter()
                with db.read_session() as session:
                    proof = log.inclusion_proof(session, index, leaves)
                times.append(1000 * (time.perf_counter() - start))
                leaf = index.to_bytes(32, "big")
                if not merkle.verify_inclusion(leaf, index, leaves, proof, root):
                    raise RuntimeError(f"B10: the proof of leaf {index} does not verify")
        finally:
            db.dispose()
    median = statistics.median(times)
    p99 = sorted(times)[max(0, int(len(times) * 0.99) - 1)]
    figure = Figure(
        f"inclusion proof in a log of {leaves:,} events ({backend})",
        round(median, 3),
        "ms",
        None,
        None,
        f"< {PROOF_MS:.0f} ms",
        median < PROOF_MS,
        {"p99_ms": round(p99, 3), "proofs": proofs, "hashes": len(proof)},
    )
    return figure, {f"log_built_seconds_{backend}": round(built, 1)}


def run(workdir: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    checks: dict[str, Any] = {"postgresql_reachable": postgres_available()}
    for backend in backends():
        figures.append(append_share(backend, workdir, quick))
        figure, built = proof_time(backend, workdir, quick)
        figures.append(figure)
        checks.update(built)
    return figures, checks
