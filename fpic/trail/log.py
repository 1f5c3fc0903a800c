"""The trail's Merkle log in the database: every event of every chain, one leaf each, in the
order their transactions committed (docs/audit-format.md, section 16).

An event's leaf is the 32 bytes of its ``hash``. ``audit.append`` notes each new event on the
session; just before the transaction commits, :func:`seal` locks the log's head row (last of
all the locks a writer takes, so no two writers can deadlock on it), appends the leaves,
stores the subtrees they complete and moves the head: three statements per transaction,
however many events it wrote. Any tree size's root and proofs are then read from stored
subtrees, about 2·log2(size) hashes in one SELECT.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, tuple_, update
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


class LogError(ValueError):
    """A tree size, leaf or event the log does not have."""


# --- appending -------------------------------------------------------------------------------


def note_event(session: Session, chain: str, seq: int, digest: str) -> None:
    """Remember an event the transaction wrote, for :func:`seal` to append."""
    session.info.setdefault(_PENDING, []).append((chain, seq, digest))


def forget_events(session: Session) -> None:
    """The transaction rolled back: its events are not in the log."""
    session.info.pop(_PENDING, None)


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
    found = connection.execute(_LOCK_HEAD).one_or_none()
    frontier = Frontier.stored(*found) if found is not None else Frontier(0, [])
    rows = []
    for chain, seq, digest in pending:
        for level, index, node in frontier.append(bytes.fromhex(digest)):
            leaf = level == 0
            rows.append(
                {
                    "level": level,
                    "idx": index,
                    "hash": node.hex(),
                    "chain": chain if leaf else None,
                    "seq": seq if leaf else None,
                }
            )
    connection.execute(_INSERT_NODES, rows)
    if found is None:
        connection.execute(
            insert(_HEAD), {"id": LOG_ID, "size": frontier.size, "frontier": frontier.text}
        )
    else:
        connection.execute(_MOVE_HEAD, {"new_size": frontier.size, "new_frontier": frontier.text})


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
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.execute(
            select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(
                tuple_(_NODES.c.level, _NODES.c.idx).in_(chunk)
            )
        )
        found.update(((level, idx), bytes.fromhex(digest)) for level, idx, digest in rows)
    if len(found) != len(keys):
        raise LogError("the log's stored subtrees are incomplete")
    return _Fetched(found)


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
