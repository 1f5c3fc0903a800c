"""Clients in their own processes against the served app: what B2 and B4 share."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from sqlalchemy import func, select

from bench.client import Job, Tally, run_job
from bench.generate import Dataset
from fpic.storage.db import Database
from fpic.storage.models import Case, ChainHead, RefusalWindow, TrailEvent
from fpic.trail import audit

#: time for spawned clients to start and sign in before the clock starts
START_MARGIN = 3.0
SUSPENDABLE = (
    "screening", "rights_holders", "mapping", "protocol", "disclosure", "deliberation",
    "negotiation", "decision", "suspended",
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A case clients act on, its state before, and a representative who may act on it."""

    case_id: int
    version: int
    base_version: int
    seq: int
    username: str
    #: refusals on the case's chain counted into windows so far (fpic.trail.refusals): past the
    #: per-account limit they are summed, not recorded one by one
    summarized: int = 0


def targets(db: Database, dataset: Dataset, count: int) -> list[Target]:
    """``count`` cases the community can suspend or resume now, with one of its reps each."""
    reps = {p.id: p.reps[0].username for p in dataset.directory.places}
    with db.read_session() as session:
        cases = session.scalars(
            select(Case).where(Case.stage.in_(SUSPENDABLE)).order_by(Case.id).limit(count)
        ).all()
        heads = audit.stored_heads(session)
    if len(cases) < count:
        raise RuntimeError(f"the dataset has {len(cases)} cases to act on, not {count}")
    return [
        Target(
            c.id,
            c.version,
            c.version - 1 if c.stage == "suspended" else c.version,
            heads[audit.case_chain(c.id)][0],
            reps[c.community_id],
        )
        for c in cases
    ]


def fire(port: int, mode: str, seconds: float, targets: Sequence[Target | None]) -> list[Tally]:
    """One client process per target (None: the trivial route), all starting together."""
    start_at = time.time() + START_MARGIN
    jobs = [
        Job(port, mode, start_at, seconds)
        if t is None
        else Job(port, mode, start_at, seconds, t.username, t.case_id, t.base_version)
        for t in targets
    ]
    context = multiprocessing.get_context("fork")  # no re-import: clients start at once
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        return [Tally(**t) for t in pool.map(run_job, jobs)]


def total(tallies: Sequence[Tally]) -> Tally:
    summed = Tally()
    for tally in tallies:
        for key, value in tally.as_dict().items():
            setattr(summed, key, getattr(summed, key) + value)
    return summed


def refresh(db: Database, target: Target) -> Target:
    """The same case as it stands now (after a round of actions)."""
    with db.read_session() as session:
        case = session.get(Case, target.case_id)
        head = session.get(ChainHead, audit.case_chain(target.case_id))
        assert case is not None
        assert head is not None
        summed = session.scalar(
            select(func.coalesce(func.sum(RefusalWindow.count), 0)).where(
                RefusalWindow.chain == audit.case_chain(target.case_id)
            )
        )
        return replace(target, version=case.version, seq=head.seq, summarized=int(summed or 0))


@dataclass(frozen=True)
class ServerSide:
    """What the database says happened to a case since a snapshot of it."""

    versions_gained: int
    done_events: int
    refused_events: int
    chain_intact: bool


def server_side(db: Database, before: Target) -> ServerSide:
    chain = audit.case_chain(before.case_id)
    with db.read_session() as session:
        after = refresh(db, before)
        counts = dict(
            session.execute(
                select(TrailEvent.outcome, func.count())
                .where(
                    TrailEvent.chain == chain,
                    TrailEvent.seq > before.seq,
                    TrailEvent.action != "refused_repeatedly",  # their counts are summed below
                )
                .group_by(TrailEvent.outcome)
            ).all()
        )
        head = session.get(ChainHead, chain)
        assert head is not None
        verification = audit.verify_rows(
            audit.export_rows(session, before.case_id), {chain: (head.seq, head.hash)}
        )
    return ServerSide(
        after.version - before.version,
        counts.get("done", 0),
        counts.get("refused", 0) + after.summarized - before.summarized,
        verification.intact,
    )


@dataclass
class Checks:
    """The invariants both web benchmarks hold the server to, summed over rounds."""

    server_errors: int = 0
    #: actions a client saw done (302) that the case's version or trail does not show
    lost_updates: int = 0
    #: stale answers (409) without their refused event on the trail, or the other way round
    unlogged_refusals: int = 0
    chains_intact: bool = True
    actions_done: int = 0
    stale_answers: int = 0
    #: 409 pages that showed the version sent instead of the fresh one (see performance.md)
    stale_pages_not_fresh: int = 0
    connection_errors: int = 0

    def add(self, tally: Tally, side: ServerSide) -> None:
        """One case's clients (``tally``, summed) against what the database shows for it."""
        self.server_errors += tally.server_errors
        self.lost_updates += max(
            abs(tally.done - side.versions_gained), abs(tally.done - side.done_events)
        )
        self.unlogged_refusals += abs(tally.stale - side.refused_events)
        self.chains_intact = self.chains_intact and side.chain_intact
        self.actions_done += tally.done
        self.stale_answers += tally.stale
        self.stale_pages_not_fresh += tally.stale_page_not_fresh
        self.connection_errors += tally.connection_errors

    @property
    def clean(self) -> bool:
        return (
            self.server_errors == 0
            and self.lost_updates == 0
            and self.unlogged_refusals == 0
            and self.chains_intact
        )


def act_round(
    port: int, db: Database, seconds: float, cases: Sequence[Target], checks: Checks
) -> Tally:
    """Clients act on ``cases`` (a case listed twice gets two clients); checked after."""
    before = {c.case_id: refresh(db, c) for c in cases}
    tallies = fire(port, "act", seconds, [before[c.case_id] for c in cases])
    per_case: dict[int, list[Tally]] = {}
    for case, tally in zip(cases, tallies, strict=True):
        per_case.setdefault(case.case_id, []).append(tally)
    for case_id, group in per_case.items():
        checks.add(total(group), server_side(db, before[case_id]))
    return total(tallies)
