"""The trail's Merkle log in the database: every event of every chain, one leaf each, in the
order their transactions committed (docs/audit-format.md, section 16).

An event's leaf is the 32 bytes of its ``hash``. ``audit.append`` notes each new event on the
session; just before the transaction commits, :func:`seal` locks the log's head row (last of
all the locks a writer takes, so no two writers can deadlock on it), appends the leaves,
stores the subtrees they complete and moves the head: at most three statements per
transaction, however many events it wrote; two when the head is the one this process last
committed (SQLite with one server); on PostgreSQL one, a call of the function
``merkle_log_append`` that migration 0011 defines and that does the same. Any tree size's root
and proofs are then read from stored subtrees, about 2·log2(size) hashes in one SELECT.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Table, TextClause, bindparam, event, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from fpic.storage.db import table_of
from fpic.storage.models import MerkleLog, MerkleNode, TrailEvent
from fpic.trail import merkle

LOG_ID = 1  #: the head row's key: there is one log per installation
_PENDING = "fpic.trail.log.pending"

_NODES = table_of(MerkleNode)
_HEAD = table_of(MerkleLog)
_INSERT_NODES = insert(_NODES)
_LOCK_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == LOG_ID).with_for_update()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == LOG_ID)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)


#: psycopg's parameter style: these statements go to the driver as they are
_POSTGRES_APPEND = "SELECT * FROM merkle_log_append(%s::text[], %s::text[], %s::integer[])"
_POSTGRES_MOVE_KNOWN = """
WITH moved AS (
    UPDATE merkle_log SET size = %(new_size)s, frontier = %(new_frontier)s
    WHERE id = 1 AND size = %(old_size)s AND frontier = %(old_frontier)s
    RETURNING id
)
INSERT INTO merkle_nodes (level, idx, hash, chain, seq)
SELECT split_part(r, ' ', 1)::integer, split_part(r, ' ', 2)::bigint, split_part(r, ' ', 3),
       nullif(split_part(r, ' ', 4), ''), nullif(split_part(r, ' ', 5), '')::integer
FROM unnest(string_to_array(%(rows)s, ';')) AS r
WHERE EXISTS (SELECT 1 FROM moved)
"""


#: the log's head as this process last committed it, per engine: a writer that finds it still
#: there moves it with one conditional UPDATE instead of reading it first (SQLite: two
#: statements; PostgreSQL: one); one that does not (another process wrote) reads it after all
_KNOWN: WeakKeyDictionary[Engine, tuple[int, str]] = WeakKeyDictionary()
_SEALED = "fpic.trail.log.sealed"
_MOVE_KNOWN_HEAD = (
    update(_HEAD)
    .where(
        _HEAD.c.id == LOG_ID,
        _HEAD.c.size == bindparam("old_size"),
        _HEAD.c.frontier == bindparam("old_frontier"),
    )
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)


class LogError(ValueError):
    """A tree size, leaf or event the log does not have."""


# --- appending -------------------------------------------------------------------------------


def note_event(session: Session, chain: str, seq: int, digest: str) -> None:
    """Remember an event the transaction wrote, for :func:`seal` to append."""
    session.info.setdefault(_PENDING, []).append((chain, seq, digest))


def forget_events(session: Session) -> None:
    """The transaction rolled back: its events are not in the log."""
    session.info.pop(_PENDING, None)
    session.info.pop(_SEALED, None)


@dataclass
class Frontier:
    """A tree's size and the roots of the complete subtrees it is made of, largest first (one
    per bit set in the size): all a log needs to append and to give its root."""

    size: int
    hashes: list[bytes]

    @classmethod
    def stored(cls, size: int, text: str) -> Frontier:
        return cls(size, [bytes.fromhex(text[i : i + 64]) for i in range(0, len(text), 64)])

    @property
    def text(self) -> str:
        return "".join(h.hex() for h in self.hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; returns the (level, index, hash) of the leaf and every subtree it
        completes."""
        digest, level, index = merkle.leaf_hash(leaf), 0, self.size
        stored = [(0, index, digest)]
        while index & 1:  # a right child: its parent is complete now
            digest = merkle.node_hash(self.hashes.pop(), digest)
            level, index = level + 1, index >> 1
            stored.append((level, index, digest))
        self.hashes.append(digest)
        self.size += 1
        return stored

    @property
    def root(self) -> bytes:
        if not self.hashes:
            return merkle.EMPTY_ROOT
        digest = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            digest = merkle.node_hash(left, digest)
        return digest


def seal(session: Session) -> None:
    """Append the events the transaction wrote to the log, in the transaction (called by the
    write session just before it commits)."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _seal_postgresql(session, connection, pending)
        return
    known = _KNOWN.get(connection.engine)
    frontier = Frontier.stored(*known) if known is not None else None
    if known is not None and frontier is not None:
        rows = node_rows(frontier, pending)
        moved = connection.execute(
            _MOVE_KNOWN_HEAD,
            {"old_size": known[0], "old_frontier": known[1],
             "new_size": frontier.size, "new_frontier": frontier.text},
        )  # fmt: skip
        if moved.rowcount != 1:  # another process wrote since: read the head after all
            frontier = None
    if frontier is None:
        found = connection.execute(_LOCK_HEAD).one_or_none()
        frontier = Frontier.stored(*found) if found is not None else Frontier(0, [])
        rows = node_rows(frontier, pending)
        values = {"new_size": frontier.size, "new_frontier": frontier.text}
        if found is None:
            connection.execute(
                insert(_HEAD), {"id": LOG_ID, "size": frontier.size, "frontier": frontier.text}
            )
        else:
            connection.execute(_MOVE_HEAD, values)
    connection.execute(_INSERT_NODES, rows)
    session.info[_SEALED] = (connection.engine, (frontier.size, frontier.text))


def _seal_postgresql(
    session: Session, connection: Connection, pending: list[tuple[str, int, str]]
) -> None:
    """One round trip, through the driver (nothing for SQLAlchemy to compile or bind): from the
    head this process last committed, the head moved and the subtrees inserted by one
    statement that inserts nothing if the head moved meanwhile; otherwise, or with no head
    known, the database's merkle_log_append (migration 0011) locks and reads the head and does
    the same."""
    known = _KNOWN.get(connection.engine)
    if known is not None:
        frontier = Frontier.stored(*known)
        rows = node_rows(frontier, pending)
        # the rows as one text ("level idx hash chain seq", ";" between rows; a chain name has
        # neither): one parameter to send instead of five arrays to adapt
        packed = ";".join(
            f"{r['level']} {r['idx']} {r['hash']} {r['chain'] or ''} {r['seq'] or ''}" for r in rows
        )
        moved = connection.exec_driver_sql(
            _POSTGRES_MOVE_KNOWN,
            {"old_size": known[0], "old_frontier": known[1], "new_size": frontier.size,
             "new_frontier": frontier.text, "rows": packed},
        )  # fmt: skip
        if moved.rowcount == len(rows):
            session.info[_SEALED] = (connection.engine, (frontier.size, frontier.text))
            return
    chains, seqs, digests = zip(*pending, strict=True)
    head = connection.exec_driver_sql(
        _POSTGRES_APPEND, (list(digests), list(chains), list(seqs))
    ).one()
    session.info[_SEALED] = (connection.engine, (int(head[0]), head[1]))


def node_rows(frontier: Frontier, pending: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Append the events (chain, seq, hash) to ``frontier``; the merkle_nodes rows of the
    leaves and of the subtrees they complete (the engine's seal, the migration that made the
    first leaves and the benchmarks' bulk loads all store these)."""
    rows = []
    for chain, seq, digest in pending:
        for level, index, node in frontier.append(bytes.fromhex(digest)):
            leaf = level == 0
            rows.append(
                {"level": level, "idx": index, "hash": node.hex(),
                 "chain": chain if leaf else None, "seq": seq if leaf else None}
            )  # fmt: skip
    return rows


def remember_head(session: Session) -> None:
    """The transaction committed: its head is the one the next writer of this process may
    expect to find (the conditional UPDATE in :func:`seal` checks it)."""
    sealed = session.info.pop(_SEALED, None)
    if sealed is not None:
        engine, head = sealed
        _KNOWN[engine] = head


# Events join the log in their own transaction, whatever session wrote them: every session
# seals what it appended as it commits (a session that appended nothing pays one dict lookup).
# Registered here, where events are noted, so that nothing can append without it.
event.listen(Session, "before_commit", seal)
event.listen(Session, "after_commit", remember_head)
event.listen(Session, "after_rollback", forget_events)


# --- reading ---------------------------------------------------------------------------------


def head(session: Session) -> Frontier:
    """The log as it stands (read, not locked)."""
    found = session.execute(select(_HEAD.c.size, _HEAD.c.frontier)).one_or_none()
    return Frontier.stored(*found) if found is not None else Frontier(0, [])


class _Wanted:
    """A stand-in store that records which subtrees a computation reads: the computations
    only choose subtrees by position, never by hash, so one dry run names them all."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def node(self, level: int, index: int) -> bytes:
        self.keys.add((level, index))
        return bytes(32)


class _Fetched:
    def __init__(self, found: dict[tuple[int, int], bytes]) -> None:
        self.found = found

    def node(self, level: int, index: int) -> bytes:
        return self.found[(level, index)]


def _nodes_for(session: Session, compute: object) -> _Fetched:
    wanted = _Wanted()
    compute(wanted)  # type: ignore[operator]
    found: dict[tuple[int, int], bytes] = {}
    keys = sorted(wanted.keys)
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        params = {f"l{n}": level for n, (level, _idx) in enumerate(chunk)}
        params.update((f"i{n}", idx) for n, (_level, idx) in enumerate(chunk))
        rows = session.execute(_nodes_statement(len(chunk)), params)
        found.update(((level, idx), bytes.fromhex(digest)) for level, idx, digest in rows)
    if len(found) != len(keys):
        raise LogError("the log's stored subtrees are incomplete")
    return _Fetched(found)


@cache
def _nodes_statement(count: int) -> TextClause:
    """The SELECT of ``count`` subtrees, written once per count: one (level, idx) pair per
    node, ORed, which both databases look up in the primary key (SQLite scans the table for a
    row-value IN list, and building the expression anew costs more than the query)."""
    pairs = " OR ".join(f"(level = :l{n} AND idx = :i{n})" for n in range(count))
    return text(f"SELECT level, idx, hash FROM merkle_nodes WHERE {pairs}")


def _check_size(session: Session, size: int) -> int:
    current = head(session).size
    if not 0 <= size <= current:
        raise LogError(f"the log has {current} events, not {size}")
    return current


def root_at(session: Session, size: int) -> bytes:
    """The root of the tree over the first ``size`` events."""
    _check_size(session, size)
    nodes = _nodes_for(session, lambda n: merkle.root(n, size))
    return merkle.root(nodes, size)


def leaf_index(session: Session, chain: str, seq: int) -> int:
    found = session.execute(
        select(_NODES.c.idx).where(
            _NODES.c.level == 0, _NODES.c.chain == chain, _NODES.c.seq == seq
        )
    ).scalar_one_or_none()
    if found is None:
        raise LogError(f"no event {seq} of chain {chain} in the log")
    return int(found)


def leaf_event(session: Session, index: int) -> tuple[str, int, str] | None:
    """The event at leaf ``index``: its chain, sequence number and hash (None past the end)."""
    events = table_of(TrailEvent)
    found = session.execute(
        select(_NODES.c.chain, _NODES.c.seq, events.c.hash)
        .join(events, (events.c.chain == _NODES.c.chain) & (events.c.seq == _NODES.c.seq))
        .where(_NODES.c.level == 0, _NODES.c.idx == index)
    ).one_or_none()
    return None if found is None else (found[0], found[1], found[2])


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    _check_size(session, size)
    if not 0 <= index < size:
        raise LogError(f"leaf {index} is not in a tree of {size}")
    nodes = _nodes_for(session, lambda n: merkle.inclusion_proof(n, index, size))
    return merkle.inclusion_proof(nodes, index, size)


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    _check_size(session, second)
    if not 0 <= first <= second:
        raise LogError(f"no consistency proof from {first} events to {second}")
    nodes = _nodes_for(session, lambda n: merkle.consistency_proof(n, first, second))
    return merkle.consistency_proof(nodes, first, second)


def leaf_table() -> Table:
    """The table whose level-0 rows are the leaves, each naming its event (chain, seq)."""
    return _NODES


def leaves(session: Session, batch: int = 5000) -> Iterator[tuple[int, str, int, str]]:
    """Every leaf in log order as (index, chain, seq, the event's hash), read with its event."""
    events = table_of(TrailEvent)
    stmt = (
        select(_NODES.c.idx, events.c.chain, events.c.seq, events.c.hash)
        .join(events, (events.c.chain == _NODES.c.chain) & (events.c.seq == _NODES.c.seq))
        .where(_NODES.c.level == 0)
        .order_by(_NODES.c.idx)
    )
    for idx, chain, seq, digest in session.execute(stmt.execution_options(yield_per=batch)):
        yield int(idx), chain, seq, digest


def rebuild(digests: Iterable[str]) -> Frontier:
    """The tree over events' hashes given in log order, built from nothing (a verifier's
    check that the stored log is the log of the stored events)."""
    frontier = Frontier(0, [])
    for digest in digests:
        frontier.append(bytes.fromhex(digest))
    return frontier
