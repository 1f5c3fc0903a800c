"""Several people act on the same case at the same moment: one wins, the others are told the
case changed (StaleCase), and nothing is lost.

Each race runs for real on a SQLite file (WAL, ``BEGIN IMMEDIATE``) and on PostgreSQL
(``SELECT … FOR UPDATE``), once with threads sharing one engine and once with separate
processes ("spawn"), each building its own ``Engine(Database(url), FrozenClock(...))``. Barriers
make the attempts overlap; every wait is bounded.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from fpic.storage.db import Database
from fpic.storage.models import (
    Case,
    CaseNote,
    Disclosure,
    IntegrityFlag,
    Meeting,
    Question,
    TrailEvent,
)
from fpic.trail import audit
from fpic.workflow.actions import ACTIONS
from fpic.workflow.clock import FrozenClock
from fpic.workflow.engine import Busy, Engine, user_actor
from fpic.workflow.errors import FpicError, StaleCase
from tests.factories import PASSWORD, World, walk_to

BARRIER_TIMEOUT = 60  # seconds; a broken barrier fails the race instead of hanging it
JOIN_TIMEOUT = 120
WORKERS = 4
ROUNDS = 5
FREE_ATTEMPTS = 5
ITEMS = (
    "nature_scope_and_pace",
    "reasons_for_project",
    "affected_areas",
    "impact_assessment",
    "benefits_and_compensation",
    "potential_harms",
    "proponent_identity",
    "duration",
)
KEYS = [(i, lang, fmt) for i in ITEMS for lang in ("qu", "es") for fmt in ("written", "oral")]

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
MODES = ["threads", "processes"]


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest) -> World:
    """The SQLite ``world`` or the PostgreSQL ``pg_world``."""
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


# --- the attempts, as run by a thread or a process -------------------------------------------


def _version(db: Database, case_id: int) -> int:
    with db.read_session() as session:
        version = session.scalar(select(Case.version).where(Case.id == case_id))
        assert version is not None
        return version


def _attempt(engine: Engine, actor: Any, plan: dict[str, Any], seen: int) -> dict[str, Any]:
    outcome = {"tag": plan["tag"], "case_id": plan["case_id"], "trigger": plan["trigger"]}
    outcome |= {"seen": seen, "kind": "", "version": None, "detail": ""}
    try:
        result = engine.advance(
            plan["case_id"], plan["trigger"], actor, plan["data"], seen, confirmation=PASSWORD
        )
    except StaleCase as exc:
        kind = "stale" if exc.expected == seen else "stale-mismatch"
        outcome |= {"kind": kind, "version": exc.actual, "detail": str(exc)}
    except Busy as exc:
        outcome |= {"kind": "busy", "detail": str(exc)}
    except FpicError as exc:
        outcome |= {"kind": f"refused:{exc.code}", "detail": str(exc)}
    except Exception as exc:  # a raw OperationalError ("database is locked") lands here
        outcome |= {"kind": "error", "detail": f"{type(exc).__name__}: {exc}"}
    else:
        outcome |= {"kind": "won", "version": result.version}
    return outcome


def _attempts(
    engine: Engine,
    actors: dict[str, Any],
    plans: list[dict[str, Any]],
    barrier: Any,
    lockstep: bool,
) -> list[dict[str, Any]]:
    """Fire ``plans`` in order. In lockstep every round starts when the previous one is settled
    (refusals logged), everyone reads the version, then everyone fires at once."""
    outcomes = []
    barrier.wait(BARRIER_TIMEOUT)
    for number, plan in enumerate(plans):
        if lockstep and number:
            barrier.wait(BARRIER_TIMEOUT)
        seen = _version(engine.db, plan["case_id"])
        if lockstep:
            barrier.wait(BARRIER_TIMEOUT)
        outcomes.append(_attempt(engine, actors[plan["username"]], plan, seen))
    return outcomes


def _process_main(
    url: str,
    now: str,
    plans: list[dict[str, Any]],
    barrier: Any,
    results: Any,
    lockstep: bool,
    worker: int,
) -> None:
    """A separate process: its own database engine, clock and actors."""
    db = Database(url)
    try:
        engine = Engine(db, FrozenClock(datetime.fromisoformat(now)))
        with db.read_session() as session:
            actors = {p["username"]: user_actor(session, p["username"]) for p in plans}
        results.put((worker, "ok", _attempts(engine, actors, plans, barrier, lockstep)))
    except BaseException:
        barrier.abort()
        results.put((worker, "crash", traceback.format_exc()))
    finally:
        db.dispose()


def race(
    world: World, mode: str, plans: list[list[dict[str, Any]]], lockstep: bool
) -> list[dict[str, Any]]:
    """Run one worker per entry of ``plans``; return every attempt's outcome."""
    if mode == "threads":
        return _race_threads(world, plans, lockstep)
    return _race_processes(world, plans, lockstep)


def _race_threads(
    world: World, plans: list[list[dict[str, Any]]], lockstep: bool
) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(plans))
    actors = {p["username"]: world.actor(p["username"]) for ps in plans for p in ps}
    outcomes: list[list[dict[str, Any]]] = [[] for _ in plans]
    crashes: list[str] = []

    def run(worker: int) -> None:
        try:
            outcomes[worker] = _attempts(world.engine, actors, plans[worker], barrier, lockstep)
        except BaseException:
            barrier.abort()
            crashes.append(traceback.format_exc())

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(plans))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a worker thread did not finish in time"
    assert not crashes, crashes[0]
    return [o for worker in outcomes for o in worker]


def _race_processes(
    world: World, plans: list[list[dict[str, Any]]], lockstep: bool
) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(plans))
    results = ctx.Queue()
    now = world.clock.now().isoformat()
    processes = [
        ctx.Process(
            target=_process_main,
            args=(world.db.url, now, worker_plans, barrier, results, lockstep, n),
            daemon=True,
        )
        for n, worker_plans in enumerate(plans)
    ]
    for process in processes:
        process.start()
    collected: dict[int, tuple[str, Any]] = {}
    deadline = time.monotonic() + JOIN_TIMEOUT
    try:
        while len(collected) < len(processes):
            try:
                worker, status, payload = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            collected[worker] = (status, payload)
        for process in processes:
            process.join(max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
        results.close()
    assert len(collected) == len(processes), f"only {len(collected)} workers reported in time"
    crashes = [payload for status, payload in collected.values() if status != "ok"]
    assert not crashes, crashes[0]
    assert [p.exitcode for p in processes] == [0] * len(processes)
    return [o for n in sorted(collected) for o in collected[n][1]]


# --- what must hold after a race --------------------------------------------------------------


def _kinds(outcomes: list[dict[str, Any]]) -> Counter[str]:
    kinds = Counter(o["kind"] for o in outcomes)
    print(f"race: {len(outcomes)} attempts, {dict(kinds)}")
    return kinds


def check_no_lost_update(
    world: World, case_id: int, version_before: int, outcomes: list[dict[str, Any]]
) -> None:
    """One success per version, every loser told the case changed, all of it on the trail."""
    mine = [o for o in outcomes if o["case_id"] == case_id]
    odd = [o for o in mine if o["kind"] not in ("won", "stale")]
    assert not odd, f"neither a win nor StaleCase: {odd[:3]}"
    wins = sorted(o["version"] for o in mine if o["kind"] == "won")
    stale = [o for o in mine if o["kind"] == "stale"]
    assert wins == list(range(version_before + 1, version_before + 1 + len(wins)))
    for o in mine:
        if o["kind"] == "won":
            assert o["version"] == o["seen"] + 1
        else:
            assert o["version"] > o["seen"], o  # the loser saw an older version
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.version == version_before + len(wins)
        events = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.chain == audit.case_chain(case_id))
            .order_by(TrailEvent.seq)
        ).all()
        done_after = [e for e in events if e.outcome == "done" and _version_of(e) > version_before]
        assert sorted(_version_of(e) for e in done_after) == wins
        assert case.stage == [e for e in events if e.outcome == "done"][-1].to_stage
        refused = [json.loads(e.data) for e in events if e.outcome == "refused"]
        stale_logged = Counter(d["version_seen"] for d in refused if d["error"] == "stale_case")
        assert stale_logged == Counter(o["seen"] for o in stale)
        verification = audit.verify_database(session)
        assert verification.intact, verification.breaks


def _version_of(event_: TrailEvent) -> int:
    return json.loads(event_.data)["version"]


def _count(world: World, model: Any, case_id: int) -> int:
    with world.db.read_session() as session:
        return session.scalar(
            select(func.count()).select_from(model).where(model.case_id == case_id)
        )


def _disclosure(key: tuple[str, str, str], day: str) -> dict[str, Any]:
    item, language, fmt = key
    return {
        "item": item,
        "languages": [language],
        "formats": [fmt],
        "title": f"{item} ({language}, {fmt})",
        "channel": "community hall",
        "disclosed_on": day,
    }


def _meeting(day: str, place: str) -> dict[str, Any]:
    return {
        "kind": "assembly",
        "held_on": day,
        "place": place,
        "languages_used": ["qu", "es"],
        "minutes_language": "qu",
        "minutes_original": "Tantanakuy.",
    }


def _case_at(world: World, stage: str) -> tuple[int, Any]:
    community = world.communities.get("ayllu-qollana") or world.add_community(
        "ayllu-qollana", ["qu", "es"]
    )
    case_id = world.open_case(community)
    walk_to(world, case_id, stage, community)
    return case_id, community


# --- the races --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_disclosures_at_the_same_version_one_wins_each_round(any_world: World, mode: str):
    """WORKERS liaison sessions register different disclosures at the same version, ROUNDS
    times: exactly one is stored per round, the others get StaleCase and are on the trail."""
    world = any_world
    case_id, _ = _case_at(world, "disclosure")
    # start from nothing disclosed: the walk stops before disclosing
    assert _count(world, Disclosure, case_id) == 0
    before = _version(world.db, case_id)
    day = world.clock.now().date().isoformat()
    keys = iter(KEYS)
    plans = [[] for _ in range(WORKERS)]
    for round_ in range(ROUNDS):
        for worker in range(WORKERS):
            key = next(keys)
            plans[worker].append(
                {
                    "tag": key,
                    "case_id": case_id,
                    "username": "liaison",
                    "trigger": "register_disclosure",
                    "data": _disclosure(key, day),
                    "round": round_,
                }
            )
    outcomes = race(world, mode, plans, lockstep=True)

    assert len(outcomes) == WORKERS * ROUNDS
    assert _kinds(outcomes) == {"won": ROUNDS, "stale": ROUNDS * (WORKERS - 1)}
    by_round = Counter(o["seen"] for o in outcomes if o["kind"] == "won")
    assert by_round == Counter(range(before, before + ROUNDS)), "one win per version"
    assert Counter(o["seen"] for o in outcomes) == {
        v: WORKERS for v in range(before, before + ROUNDS)
    }, "in each round every worker saw the same version"
    check_no_lost_update(world, case_id, before, outcomes)
    with world.db.read_session() as session:
        stored = session.execute(
            select(Disclosure.item, Disclosure.language, Disclosure.format).where(
                Disclosure.case_id == case_id
            )
        ).all()
    assert sorted(tuple(row) for row in stored) == sorted(
        tuple(o["tag"]) for o in outcomes if o["kind"] == "won"
    )


CONFLICTS: list[tuple[str, str, Callable[[str], dict[str, Any]], str]] = [
    ("rep-ayllu-qollana-1", "open_negotiation", lambda d: {"text": "Ready."}, "negotiation"),
    ("rep-ayllu-qollana-2", "request_more_information", lambda d: {"text": "More."}, "disclosure"),
    ("rep-ayllu-qollana-3", "suspend_process", lambda d: {"text": "Bad faith."}, "suspended"),
    (
        "liaison",
        "register_material_change",
        lambda d: {"text": "A new access road.", "affected_items": ["affected_areas"]},
        "disclosure",
    ),
    ("liaison", "log_meeting", lambda d: _meeting(d, "Community hall"), "deliberation"),
    (
        "rep-ayllu-qollana-2",
        "ask_question",
        lambda d: {"text": "Who pays for the water?", "language": "qu"},
        "deliberation",
    ),
]
CONFLICT_CASES = 2


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_different_people_firing_different_triggers_one_wins(any_world: World, mode: str):
    """Representatives and the liaison fire six different triggers on the same version of a
    case in deliberation: exactly one lands, with its one record, the rest get StaleCase."""
    world = any_world
    cases = [_case_at(world, "deliberation")[0] for _ in range(CONFLICT_CASES)]
    day = world.clock.now().date().isoformat()
    before = {case_id: _version(world.db, case_id) for case_id in cases}
    records = {
        case_id: {m: _count(world, m, case_id) for m in (CaseNote, Meeting, Question)}
        for case_id in cases
    }
    plans = [
        [
            {
                "tag": trigger,
                "case_id": case_id,
                "username": username,
                "trigger": trigger,
                "data": data(day),
            }
            for case_id in cases
        ]
        for username, trigger, data, _ in CONFLICTS
    ]
    outcomes = race(world, mode, plans, lockstep=True)

    dest = {trigger: stage for _, trigger, _, stage in CONFLICTS}
    for case_id in cases:
        mine = [o for o in outcomes if o["case_id"] == case_id]
        assert len(mine) == len(CONFLICTS)
        assert _kinds(mine) == {"won": 1, "stale": len(CONFLICTS) - 1}
        check_no_lost_update(world, case_id, before[case_id], outcomes)
        (winner,) = [o["trigger"] for o in mine if o["kind"] == "won"]
        assert world.case(case_id).stage == dest[winner]
        written = sum(
            _count(world, m, case_id) - n for m, n in records[case_id].items()
        )  # every one of these triggers writes exactly one note, meeting or question
        assert written == 1, (winner, written)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_free_running_workers_lose_no_update(any_world: World, mode: str):
    """Workers log meetings as fast as they can, each reading the version just before: every
    success bumps the version by exactly one and is stored; every failure is StaleCase."""
    world = any_world
    case_id, _ = _case_at(world, "disclosure")
    before = _version(world.db, case_id)
    meetings_before = _count(world, Meeting, case_id)
    day = world.clock.now().date().isoformat()
    users = ["liaison", "rep-ayllu-qollana-1", "rep-ayllu-qollana-2", "rep-ayllu-qollana-3"]
    plans = [
        [
            {
                "tag": f"w{w}-a{a}",
                "case_id": case_id,
                "username": users[w % len(users)],
                "trigger": "log_meeting",
                "data": _meeting(day, f"w{w}-a{a}"),
            }
            for a in range(FREE_ATTEMPTS)
        ]
        for w in range(WORKERS)
    ]
    outcomes = race(world, mode, plans, lockstep=False)

    assert len(outcomes) == WORKERS * FREE_ATTEMPTS
    kinds = _kinds(outcomes)
    assert set(kinds) <= {"won", "stale"}, kinds
    # a worker's failed attempts each lost to a different win by someone else
    assert kinds["won"] >= FREE_ATTEMPTS
    check_no_lost_update(world, case_id, before, outcomes)
    with world.db.read_session() as session:
        places = session.scalars(select(Meeting.place).where(Meeting.case_id == case_id)).all()
    assert len(places) == meetings_before + kinds["won"]
    assert set(places[meetings_before:]) == {o["tag"] for o in outcomes if o["kind"] == "won"}


# --- the lock really serialises --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_case_lock_makes_the_second_writer_wait_then_refuses_it(
    request: pytest.FixtureRequest, backend: str, monkeypatch: pytest.MonkeyPatch
):
    """A holds the case inside its transaction (its record writer waits on an Event); B, who
    saw the same version, blocks on the lock (PostgreSQL: FOR UPDATE on the case row, SQLite:
    BEGIN IMMEDIATE) and, once A commits, reads the new version and gets StaleCase."""
    world: World = request.getfixturevalue("world" if backend == "sqlite" else "pg_world")
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    seen = _version(world.db, case_id)
    a_inside, a_may_commit, b_begins = threading.Event(), threading.Event(), threading.Event()
    original = ACTIONS["note"]

    def held_note(ctx: Any, payload: dict[str, Any], from_stage: str) -> dict[str, Any]:
        a_inside.set()
        assert a_may_commit.wait(BARRIER_TIMEOUT), "A was never released"
        return original.write(ctx, payload, from_stage)

    monkeypatch.setitem(ACTIONS, "note", replace(original, write=held_note))
    outcomes: dict[str, dict[str, Any]] = {}

    def fire(name: str, trigger: str, data: dict[str, Any]) -> None:
        plan = {"tag": name, "case_id": case_id, "trigger": trigger, "data": data}
        outcomes[name] = _attempt(world.engine, world.liaison, plan, seen)
        outcomes[name]["finished_at"] = time.monotonic()

    a = threading.Thread(target=fire, args=("A", "screen_in", {"text": "FPIC applies."}))
    flag = {"category": "bribery", "description": "Envelopes at the meeting."}
    b = threading.Thread(target=fire, args=("B", "raise_integrity_flag", flag))

    def on_begin(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread() is b and statement.startswith("BEGIN IMMEDIATE"):
            b_begins.set()

    event.listen(world.db.engine, "before_cursor_execute", on_begin)
    try:
        a.start()
        assert a_inside.wait(BARRIER_TIMEOUT), "A never reached its record writer"
        b.start()
        if backend == "sqlite":
            assert b_begins.wait(BARRIER_TIMEOUT), "B never asked for the write lock"
        else:
            _wait_for_row_lock_waiter(world)
        assert "B" not in outcomes, f"B finished while A held the case: {outcomes.get('B')}"
        assert _version(world.db, case_id) == seen, "A has not committed yet"
        released_at = time.monotonic()
        a_may_commit.set()
        a.join(JOIN_TIMEOUT)
        b.join(JOIN_TIMEOUT)
        assert not a.is_alive()
        assert not b.is_alive()
    finally:
        a_may_commit.set()
        event.remove(world.db.engine, "before_cursor_execute", on_begin)

    assert outcomes["A"]["kind"] == "won", outcomes["A"]
    assert outcomes["A"]["version"] == seen + 1
    assert outcomes["B"]["kind"] == "stale", outcomes["B"]
    assert outcomes["B"]["version"] == seen + 1
    assert outcomes["B"]["finished_at"] >= released_at
    assert _count(world, IntegrityFlag, case_id) == 0
    with world.db.read_session() as session:
        events = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.chain == audit.case_chain(case_id))
            .order_by(TrailEvent.seq)
        ).all()
        assert [(e.action, e.outcome) for e in events] == [
            ("open_case", "done"),
            ("screen_in", "done"),
            ("raise_integrity_flag", "refused"),
        ]
        assert json.loads(events[-1].data)["error"] == "stale_case"
        assert audit.verify_database(session).intact


def _wait_for_row_lock_waiter(world: World) -> None:
    """Until another session of this database waits on a lock for ``SELECT … FOR UPDATE``."""
    deadline = time.monotonic() + BARRIER_TIMEOUT
    with world.db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    # the server keeps the first 1 kB of a query: the lock's FOR UPDATE comes later
                    "AND wait_event_type = 'Lock' AND query LIKE 'SELECT cases.id, %'"
                )
            ).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)  # polling the server's view of who waits, not synchronising
    raise AssertionError("B never waited for the case row lock")


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftovers = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftovers, leftovers
