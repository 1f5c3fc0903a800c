"""The Merkle log in the database (fpic/trail/log.py): every event a leaf, in commit order,
built in the event's own transaction; roots and proofs read from stored subtrees agree with the
tree built in memory from the events' hashes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from fpic.storage.db import Database
from fpic.storage.models import MerkleNode, TrailEvent
from fpic.trail import audit, log, merkle
from fpic.workflow.errors import FpicError
from tests.factories import NOTE, World

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _append(db: Database, count: int, chain: str = audit.SYSTEM_CHAIN) -> None:
    """``count`` events on ``chain``, one transaction each."""
    for number in range(count):
        with db.write_session() as session, session.begin():
            audit.append(
                session, chain=chain, at=AT, actor="admin", role="admin",
                action="test_event", outcome="done", data={"n": number},
            )  # fmt: skip


def _append_then_fail(db: Database) -> None:
    with db.write_session() as session, session.begin():
        audit.append(
            session, chain=audit.SYSTEM_CHAIN, at=AT, actor="admin", role="admin",
            action="lost", outcome="done", data={},
        )  # fmt: skip
        raise RuntimeError("the transaction fails after appending")


def _stored_hashes(db: Database) -> list[str]:
    with db.read_session() as session:
        return [digest for _i, _c, _s, digest in log.leaves(session)]


def _memory(digests: list[str]) -> merkle.MemoryNodes:
    nodes = merkle.MemoryNodes()
    for digest in digests:
        nodes.append(bytes.fromhex(digest))
    return nodes


def test_every_event_is_a_leaf_in_the_order_it_committed(world: World, community) -> None:
    case_id = world.open_case(community)
    world.act(case_id, "screen_in", world.liaison, NOTE)
    _append(world.db, 3)
    with world.db.read_session() as session:
        events = session.scalar(select(func.count()).select_from(TrailEvent))
        by_id = session.scalars(select(TrailEvent.hash).order_by(TrailEvent.id)).all()
        head = log.head(session)
    digests = _stored_hashes(world.db)
    assert head.size == events == len(digests)
    assert digests == list(by_id)  # one writer at a time: commit order is row order
    assert head.root == merkle.root(_memory(digests), head.size)


def test_a_transaction_that_rolls_back_adds_nothing_to_the_log(world: World, community) -> None:
    case_id = world.open_case(community)
    with world.db.read_session() as session:
        before = log.head(session)
    with pytest.raises(FpicError):
        world.act(case_id, "close_case", world.liaison, NOTE)  # refused: written as a refusal
    with pytest.raises(RuntimeError, match="fails after appending"):
        _append_then_fail(world.db)
    with world.db.read_session() as session:
        after = log.head(session)
        events = session.scalar(select(func.count()).select_from(TrailEvent))
        lost = session.scalar(select(func.count()).where(TrailEvent.action == "lost"))
    assert lost == 0
    assert after.size == events == before.size + 1  # the refusal alone
    assert after.root == merkle.root(_memory(_stored_hashes(world.db)), after.size)


def test_one_transaction_writing_several_events_seals_them_together(world: World) -> None:
    with world.db.write_session() as session, session.begin():
        for number in range(5):
            audit.append(
                session, chain=audit.SYSTEM_CHAIN, at=AT, actor="admin", role="admin",
                action="batch", outcome="done", data={"n": number},
            )  # fmt: skip
    digests = _stored_hashes(world.db)
    with world.db.read_session() as session:
        assert log.head(session).root == merkle.root(_memory(digests), len(digests))


def test_proofs_from_stored_subtrees_equal_the_reference_for_every_size(world: World) -> None:
    """Sizes 14 (the world's own events) to 220: every root, a spread of inclusion proofs
    and consistency proofs against merkle.py, itself checked against RFC 9162's definitions."""
    _append(world.db, 220 - len(_stored_hashes(world.db)))
    digests = _stored_hashes(world.db)
    memory = _memory(digests)
    with world.db.read_session() as session:
        for size in range(1, len(digests) + 1):
            root = log.root_at(session, size)
            assert root == merkle.root(memory, size)
            for index in {0, size // 3, size - 1}:
                proof = log.inclusion_proof(session, index, size)
                assert proof == merkle.inclusion_proof(memory, index, size)
                assert merkle.verify_inclusion(
                    bytes.fromhex(digests[index]), index, size, proof, root
                )
            for first in {1, size // 2, size - 1}:
                proof = log.consistency_proof(session, first, size)
                assert proof == merkle.consistency_proof(memory, first, size)
                assert merkle.verify_consistency(
                    first, size, merkle.root(memory, first), root, proof
                )


def test_sizes_and_leaves_the_log_does_not_have_are_refused(world: World) -> None:
    with world.db.read_session() as session:
        size = log.head(session).size
        with pytest.raises(log.LogError):
            log.root_at(session, size + 1)
        with pytest.raises(log.LogError):
            log.inclusion_proof(session, size, size)
        with pytest.raises(log.LogError):
            log.consistency_proof(session, 3, 2)
        with pytest.raises(log.LogError):
            log.leaf_index(session, "case:999", 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12))
def test_the_frontier_gives_the_root_of_the_tree_it_grew(batches: list[int]) -> None:
    frontier, leaves = log.Frontier(0, []), []
    for batch in batches:
        for _ in range(batch):
            leaf = bytes([len(leaves) % 256]) * 32
            leaves.append(leaf)
            frontier.append(leaf)
        stored = log.Frontier.stored(frontier.size, frontier.text)
        nodes = merkle.MemoryNodes()
        for leaf in leaves:
            nodes.append(leaf)
        assert stored.root == frontier.root == merkle.root(nodes, len(leaves))


def test_the_database_refuses_to_change_or_delete_a_subtree(world: World) -> None:
    for statement in (
        "UPDATE merkle_nodes SET hash = 'x' WHERE level = 0 AND idx = 0",
        "DELETE FROM merkle_nodes WHERE level = 0 AND idx = 0",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            world.db.write_session() as session,
            session.begin(),
        ):
            session.execute(text(statement))
    with world.db.read_session() as session:
        assert session.get(MerkleNode, (0, 0)) is not None


def test_several_workers_on_postgresql_build_one_consistent_log(pg_world: World) -> None:
    """Eight threads append to their own chains at once: one leaf per event, no gap and no
    duplicate index, and the stored tree is the tree of the events in log order."""
    chains = [f"case:{900 + n}" for n in range(8)]
    errors: list[BaseException] = []

    def writer(chain: str) -> None:
        try:
            db = Database(pg_world.db.url)
            for number in range(15):
                with db.write_session() as session, session.begin():
                    previous = session.execute(
                        select(TrailEvent.seq, TrailEvent.hash)
                        .where(TrailEvent.chain == chain)
                        .order_by(TrailEvent.seq.desc())
                        .limit(1)
                    ).one_or_none()
                    audit.append(
                        session, chain=chain, at=AT, actor="admin", role="admin",
                        action="parallel", outcome="done", data={"n": number},
                        head=audit.HeadRow(*previous) if previous else None,
                    )  # fmt: skip
            db.dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(c,)) for c in chains]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with pg_world.db.read_session() as session:
        events = session.scalar(select(func.count()).select_from(TrailEvent))
        indexes = session.scalars(
            select(MerkleNode.idx).where(MerkleNode.level == 0).order_by(MerkleNode.idx)
        ).all()
        head = log.head(session)
    assert list(indexes) == list(range(events or 0))
    digests = _stored_hashes(pg_world.db)
    assert head.size == len(digests) == events
    assert head.root == merkle.root(_memory(digests), head.size)
    with pg_world.db.read_session() as session:
        ours = [c for _i, c, _s, _d in log.leaves(session) if c in chains]
    assert len(ours) == 8 * 15


def test_the_migration_makes_the_events_already_kept_the_first_leaves(tmp_path) -> None:
    from fpic.storage.migrate import upgrade

    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(db.engine, "0010")
    digests = [f"{n:064x}" for n in range(1, 38)]
    with db.engine.begin() as connection:
        for seq, digest in enumerate(digests, start=1):
            connection.execute(
                text(
                    "INSERT INTO trail_events (chain, seq, at, actor, actor_role, action, "
                    "outcome, data, prev_hash, hash) VALUES ('system', :seq, "
                    "'2026-03-02T09:00:00.000000Z', 'admin', 'admin', 'old', 'done', '{}', "
                    "'', :hash)"
                ),
                {"seq": seq, "hash": digest},
            )
    upgrade(db.engine)
    with db.read_session() as session:
        head = log.head(session)
        assert [d for _i, _c, _s, d in log.leaves(session)] == digests
    assert head.size == len(digests)
    assert head.root == merkle.root(_memory(digests), len(digests))
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


def test_writers_of_two_processes_alternating_keep_one_log(any_world: World) -> None:
    """Each Database stands for a process: each remembers the head it last committed, and
    finds it moved by the other every time, so every append reads the head after all."""
    world = any_world
    other = Database(world.db.url)
    try:
        for _ in range(4):
            _append(world.db, 1)
            _append(other, 2)
        with other.write_session() as session, session.begin():
            audit.append(
                session, chain=audit.SYSTEM_CHAIN, at=AT, actor="admin", role="admin",
                action="rolled_back", outcome="done", data={},
            )  # fmt: skip
            session.rollback()
        _append(other, 1)  # the head it remembers is the one before the rollback: still right
        _append(world.db, 1)
    finally:
        other.dispose()
    digests = _stored_hashes(world.db)
    with world.db.read_session() as session:
        head = log.head(session)
        events = session.scalar(select(func.count()).select_from(TrailEvent))
    assert head.size == len(digests) == events
    assert head.root == merkle.root(_memory(digests), head.size)
