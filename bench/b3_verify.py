"""B3: trail events verified per second against SHA-256 over the same bytes, read the same way.

fpic's verification (fpic.trail.audit.verify_database) reads every event chain by chain, rebuilds
the
canonical JSON of each, and checks its sequence number, its link to the previous hash and its
own hash. The baseline runs the same SQL (same columns, same order, same batch size, streamed)
and hashes each row's stored text with hashlib: the cost of reading and hashing alone.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from bench.common import Figure, Stopwatch, interleaved, ratio_figure
from fpic.storage.db import Database
from fpic.storage.models import TrailEvent
from fpic.trail import audit

TARGET = 0.5
MILLION_SECONDS = 60.0
BATCH = 5000


def verify_rate(db: Database) -> tuple[float, int, bool]:
    clock = Stopwatch()
    with db.read_session() as session:
        result = audit.verify_database(session)
    return result.events / clock.seconds, result.events, result.intact


def hash_rate(db: Database) -> float:
    columns = TrailEvent.__table__.c
    stmt = select(*columns).order_by(columns.chain, columns.seq).execution_options(yield_per=BATCH)
    clock, count = Stopwatch(), 0
    with db.read_session() as session:
        for row in session.execute(stmt):
            material = "\x1f".join("" if v is None else str(v) for v in row[1:-1])
            hashlib.sha256(material.encode("utf-8")).hexdigest()
            count += 1
    return count / clock.seconds


def run(url: str, quick: bool) -> tuple[Figure, dict[str, object]]:
    db = Database(url)
    try:
        rounds = 3
        outcome: dict[str, object] = {}

        def ours() -> float:
            rate, events, intact = verify_rate(db)
            outcome.update(events=events, intact=intact)
            return rate

        mine, baseline, all_ours, all_theirs = interleaved(ours, lambda: hash_rate(db), rounds)
    finally:
        db.dispose()
    events = int(outcome["events"])  # type: ignore[call-overload]
    seconds_per_million = 1_000_000 / mine
    figure = ratio_figure(
        f"trail events verified/s ({events:,} events)",
        mine,
        baseline,
        "events/s",
        minimum=TARGET,
        baseline_is="same rows streamed + hashlib SHA-256/s",
        seconds_for_a_million=round(seconds_per_million, 1),
        rounds=[round(x) for x in all_ours],
        baseline_rounds=[round(x) for x in all_theirs],
    )
    figure.passed = figure.passed and seconds_per_million < MILLION_SECONDS
    figure.target += f"; 1,000,000 events < {MILLION_SECONDS:.0f} s"
    invariants = {"chains_intact": bool(outcome["intact"]), "events_verified": events}
    return figure, invariants
