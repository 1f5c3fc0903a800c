"""B11: search at 100,000 cases: a page of hits in under 100 ms (the median of a mix of queries),
and what keeping the index costs an action.

Search: ``bench/generate.py``'s 100,000 cases and 1,000,000 events (the notes the engine would
write), bulk-loaded with the index's triggers in place, as production keeps it; then 1,000
questions with their answers, each naming a spring of its own, written in bulk too (the
generator writes no question). ``fpic.read.search.search_cases`` is then timed, each call in a
new read session as the search page makes it (the hits' excerpts included), for a mix of what
people look for: a case's reference, a community's name (about 1% of the cases), a project's
proponent (a third of them), a word nearly every case's notes hold, the beginning of such a word,
a question's words, and a word no case holds; each asked by the liaison officer (who sees every
case) and by a representative (who sees one community's). Every answer is checked (a fast wrong
answer is not a result): the reference finds its case, the community's name every case of that
community, the question its case, the word nobody
wrote nothing, and a representative never a case of another community. The figure is the median
of every call; each query's median is in the details.

Upkeep: B1's durable actions (the community suspends and resumes a case), each writing a new
note, on two small databases alike but for the index's triggers, dropped from one of them; the
rounds alternate between the two. Informational: the ratio of the rates, with the index to
without. On SQLite, and on PostgreSQL when it answers.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from bench.b1_actions import SUSPENDABLE
from bench.common import (
    Figure,
    Stopwatch,
    backends,
    interleaved,
    postgres_available,
    scratch_database,
)
from bench.generate import Dataset, generate
from fpic.read.search import search_cases
from fpic.storage.db import Database, table_of
from fpic.storage.models import Case, Community, Question
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine, user_actor

CASES, EVENTS = 100_000, 1_000_000
QUICK_CASES, QUICK_EVENTS = 500, 5_000
QUESTIONS, QUICK_QUESTIONS = 1_000, 50
ROUNDS, QUICK_ROUNDS = 15, 3
TARGET_MS = 100.0
#: upkeep: actions per round, rounds
UPKEEP, QUICK_UPKEEP = (500, 5), (50, 2)
UPKEEP_CASES = 100
NOBODY_WROTE = "zyzzyva"


@dataclass(frozen=True)
class Ask:
    """One query and how to check what it found."""

    name: str
    text: str
    #: (hits' case ids, the total counted, the searcher's community or None) -> a problem or None
    check: Callable[[list[Case], int, int | None], str | None]


# --- the data ------------------------------------------------------------------------------------


def add_questions(url: str, count: int) -> list[tuple[int, str]]:
    """``count`` answered questions on cases spread over the whole range, each naming a spring
    of its own; written in bulk, the index's triggers indexing them. Returns (case id, the
    spring's name) of each."""
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            top = int(connection.scalar(select(func.max(Case.id))) or 0)
            step = max(1, top // count)
            now = datetime.now(UTC)
            asked = [(case_id, f"Pukyu-{n}") for n, case_id in enumerate(range(1, top + 1, step))]
            asked = asked[:count]
            connection.execute(
                insert(table_of(Question)),
                [
                    {
                        "case_id": case_id,
                        "text": f"¿Quién cuida el manantial {spring} en la época seca?",
                        "language": "es",
                        "asked_at": now,
                        "answer": f"La comunidad, con el monitoreo conjunto de {spring}.",
                        "answer_language": "es",
                        "answered_at": now,
                    }
                    for case_id, spring in asked
                ],
            )
    finally:
        db.dispose()
    return asked


def _asks(db: Database, questions: list[tuple[int, str]]) -> tuple[list[Ask], dict[str, Any]]:
    with db.read_session() as session:
        count = session.scalar(select(func.count()).select_from(Case)) or 0
        middle = session.scalar(select(Case).order_by(Case.id).offset(count // 2).limit(1))
        assert middle is not None, "the dataset has no case"
        community = session.get(Community, middle.community_id)
        assert community is not None
        members = session.scalar(select(func.count()).where(Case.community_id == community.id)) or 0
        reference, own = middle.reference, middle.id
    asked_case, spring = questions[len(questions) // 2]

    def only(case_id: int) -> Callable[[list[Case], int, int | None], str | None]:
        def check(hits: list[Case], total: int, scope: int | None) -> str | None:
            expected = [case_id] if scope is None or scope == _community_of(db, case_id) else []
            found = [case.id for case in hits]
            return None if found == expected else f"found {found}, not {expected}"

        return check

    def of_community(hits: list[Case], total: int, scope: int | None) -> str | None:
        # "Ayllu 7" is two words, each found anywhere: a case of another community whose
        # notes hold a 7 is found too; every case of Ayllu 7 must be
        if scope is not None and scope != community.id:
            return None
        return None if total >= members else f"counted {total}, fewer than its {members} cases"

    def some(hits: list[Case], total: int, scope: int | None) -> str | None:
        return None if hits or scope is not None else "found nothing"

    def none(hits: list[Case], total: int, scope: int | None) -> str | None:
        return None if not hits else f"found {len(hits)}"

    asks = [
        Ask("reference", reference, only(own)),
        Ask("community", community.name, of_community),
        Ask("proponent", "Hidro Sur", some),
        Ask("common word", "assembly", some),
        Ask("prefix", "grazin", some),
        Ask("question", f"manantial {spring}", only(asked_case)),
        Ask("no such word", NOBODY_WROTE, none),
    ]
    return asks, {"reference": reference, "community": community.name, "members": members}


def _community_of(db: Database, case_id: int) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(Case.community_id).where(Case.id == case_id)) or 0)


def _searchers(db: Database, dataset: Dataset) -> dict[str, Actor]:
    with db.read_session() as session:
        return {
            "liaison": user_actor(session, dataset.directory.liaisons[0].username),
            "representative": user_actor(session, dataset.directory.places[0].reps[0].username),
        }


# --- search --------------------------------------------------------------------------------------


def search_ms(db: Database, actor: Actor, ask: Ask) -> float:
    start = time.perf_counter()
    with db.read_session() as session:
        result = search_cases(session, actor, ask.text)
        assert result.page is not None, (ask.name, result.problem)
        hits = [hit.case for hit in result.page.items]
        problem = ask.check(hits, result.page.total, actor.community_id)
        elapsed = 1000 * (time.perf_counter() - start)
        scope = actor.community_id
        if scope is not None and any(case.community_id != scope for case in hits):
            problem = "a representative found another community's case"
    if problem:
        raise RuntimeError(f"B11: {ask.name} ({ask.text!r}) as {actor.username}: {problem}")
    return elapsed


def search_figure(backend: str, workdir: Path, quick: bool) -> tuple[Figure, dict[str, Any]]:
    cases, events = (QUICK_CASES, QUICK_EVENTS) if quick else (CASES, EVENTS)
    rounds = QUICK_ROUNDS if quick else ROUNDS
    with scratch_database(backend, workdir, "b11") as url:
        clock = Stopwatch()
        dataset = generate(url, cases, events, progress=not quick)
        questions = add_questions(url, QUICK_QUESTIONS if quick else QUESTIONS)
        loaded = clock.seconds
        db = Database(url)
        try:
            asks, chosen = _asks(db, questions)
            searchers = _searchers(db, dataset)
            times: dict[str, list[float]] = {}
            for actor in searchers.values():  # warm caches, the pool and the statements
                for ask in asks:
                    search_ms(db, actor, ask)
            for _ in range(rounds):
                for who, actor in searchers.items():
                    for ask in asks:
                        times.setdefault(f"{ask.name}, {who}", []).append(search_ms(db, actor, ask))
        finally:
            db.dispose()
    every = [t for series in times.values() for t in series]
    median = statistics.median(every)
    slowest = max(times, key=lambda key: statistics.median(times[key]))
    figure = Figure(
        f"search at {cases:,} cases, median of the mix ({backend})",
        round(median, 2),
        "ms",
        None,
        None,
        f"< {TARGET_MS:.0f} ms",
        median < TARGET_MS,
        {
            "queries": {key: round(statistics.median(series), 2) for key, series in times.items()},
            "p95_ms": round(sorted(every)[max(0, int(len(every) * 0.95) - 1)], 2),
            "slowest": slowest,
            "rounds": rounds,
            **chosen,
        },
    )
    checks = {
        f"{backend}: every answer checked": len(every),
        f"{backend}: loaded_seconds": round(loaded, 1),
    }
    return figure, checks


# --- upkeep --------------------------------------------------------------------------------------


@dataclass
class _Swung:
    case_id: int
    actor: Actor
    version: int
    suspended: bool


class NoteSwing:
    """B1's action (the community suspends and resumes a case), each with a note no earlier
    action wrote, whose words the index takes in; over the cases in turn, as a team works, so
    that each case's text stays the size a case's text has (a case that collects thousands of
    notes makes each new one cost more on SQLite: docs/performance.md)."""

    def __init__(self, db: Database, dataset: Dataset) -> None:
        self.engine = Engine(db)
        reps = {place.id: place.reps[0].username for place in dataset.directory.places}
        with db.read_session() as session:
            cases = session.scalars(
                select(Case).where(Case.stage.in_((*SUSPENDABLE, "suspended"))).order_by(Case.id)
            ).all()
            self.cases = [
                _Swung(case.id, user_actor(session, reps[case.community_id]), case.version,
                       case.stage == "suspended")
                for case in cases
            ]  # fmt: skip
        assert self.cases, "the dataset has no case that can be suspended"
        self.written = 0

    def rate(self, actions: int) -> float:
        clock = Stopwatch()
        for _ in range(actions):
            self.written += 1
            case = self.cases[self.written % len(self.cases)]
            note = {"text": f"The assembly paused the process, meeting {self.written} of the "
                            "season, until the potato harvest is in."}  # fmt: skip
            trigger = "resume_process" if case.suspended else "suspend_process"
            result = self.engine.advance(case.case_id, trigger, case.actor, note, case.version)
            case.version, case.suspended = result.version, not case.suspended
        return actions / clock.seconds


def drop_index_triggers(db: Database) -> int:
    """Take the index's triggers off a database (the baseline's); returns how many."""
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "sqlite":
            names = connection.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                     "AND name LIKE 'case_search%'")
            ).all()  # fmt: skip
            for name in names:
                connection.execute(text(f"DROP TRIGGER {name}"))
            return len(names)
        rows = connection.execute(
            text("SELECT t.tgname, c.relname FROM pg_trigger AS t "
                 "JOIN pg_class AS c ON c.oid = t.tgrelid WHERE t.tgname LIKE 'case_search%'")
        ).all()  # fmt: skip
        for name, table in rows:
            connection.execute(text(f"DROP TRIGGER {name} ON {table}"))
        return len(rows)


def upkeep_figure(backend: str, workdir: Path, quick: bool) -> tuple[Figure, dict[str, Any]]:
    actions, rounds = QUICK_UPKEEP if quick else UPKEEP
    with (
        scratch_database(backend, workdir, "b11i") as indexed_url,
        scratch_database(backend, workdir, "b11n") as bare_url,
    ):
        swings: list[NoteSwing] = []
        dbs: list[Database] = []
        for url in (indexed_url, bare_url):
            dataset = generate(url, cases=UPKEEP_CASES, events=10 * UPKEEP_CASES, progress=False)
            dbs.append(Database(url))
            swings.append(NoteSwing(dbs[-1], dataset))
        dropped = drop_index_triggers(dbs[1])
        try:
            for swing in swings:
                swing.rate(20)  # warm caches and the pool
            with_index, without, ours, theirs = interleaved(
                lambda: swings[0].rate(actions), lambda: swings[1].rate(actions), rounds
            )
        finally:
            for db in dbs:
                db.dispose()
    figure = Figure(
        f"actions/s with the search index's triggers ({backend})",
        with_index,
        "actions/s",
        without,
        with_index / without,
        "informational",
        True,
        {
            "actions_per_round": actions,
            "rounds_with": [round(r, 1) for r in ours],
            "rounds_without": [round(r, 1) for r in theirs],
            "baseline_is": "the same database without the triggers",
        },
        informational=True,
    )
    return figure, {f"{backend}: triggers dropped for the baseline": dropped}


def run(workdir: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    checks: dict[str, Any] = {"postgresql_reachable": postgres_available()}
    for backend in backends():
        for measure in (search_figure, upkeep_figure):
            figure, found = measure(backend, workdir, quick)
            figures.append(figure)
            checks.update(found)
    return figures, checks
