"""A writer killed with SIGKILL at random moments, many times over: every action it reported
as done is in the database, no action is half there, and every chain verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fpic.storage.models import Case, Question, TrailEvent
from fpic.trail import audit
from tests.factories import World, walk_to

ROOT = Path(__file__).resolve().parents[2]
KILLS = 12
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


def _run_and_kill(world: World, case_id: int, lifetime: float) -> list[tuple[int, int]]:
    """Start a writer, SIGKILL it after ``lifetime`` seconds; the (version, question) it acked."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_writer", world.db.url, str(case_id),
         world.clock.now().isoformat()],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    acked: list[tuple[int, int]] = []

    def read() -> None:
        assert writer.stdout is not None
        for line in writer.stdout:
            if line.startswith("ACK "):
                _, version, question = line.split()
                acked.append((int(version), int(question)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    # let it get going (imports, first commit) before the clock for the kill starts
    while not acked and writer.poll() is None and time.monotonic() - started < 60:
        time.sleep(0.01)
    if writer.poll() is not None:
        raise AssertionError(writer.communicate(timeout=30)[1])
    time.sleep(lifetime)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    reader.join(timeout=30)
    for pipe in (writer.stdout, writer.stderr):
        if pipe is not None:
            pipe.close()
    assert writer.returncode == -signal.SIGKILL
    return acked


def test_acknowledged_actions_survive_sigkill_and_none_is_half_done(any_world: World, community):
    world = any_world
    if community.slug not in world.communities:  # the PostgreSQL world has its own community
        community = world.add_community(community.slug, ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    rng = random.Random(20261129)
    acked: list[tuple[int, int]] = []
    for _ in range(KILLS):
        acked += _run_and_kill(world, case_id, lifetime=rng.uniform(0.02, 0.6))
    assert len(acked) >= KILLS  # each writer got at least its first action through
    print(f"{KILLS} kills, {len(acked)} acknowledged actions")

    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        stored = set(session.scalars(select(Question.id).where(Question.case_id == case_id)))
        asked = session.scalar(
            select(func.count())
            .select_from(TrailEvent)
            .where(
                TrailEvent.chain == audit.case_chain(case_id),
                TrailEvent.action == "ask_question",
                TrailEvent.outcome == "done",
            )
        )
        done = session.scalar(
            select(func.count())
            .select_from(TrailEvent)
            .where(TrailEvent.chain == audit.case_chain(case_id), TrailEvent.outcome == "done")
        )
        result = audit.verify_database(session)
    assert {question for _, question in acked} <= stored  # nothing acknowledged is lost
    assert asked == len(stored)  # every question has its trail event and the other way round
    assert case.version >= max(version for version, _ in acked)
    assert case.version == done  # one version per action done, from 1 at opening
    assert result.intact, result.breaks
