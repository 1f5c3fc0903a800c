"""The Merkle tree over the trail's events, as Certificate Transparency defines it (RFC 9162
§2.1, unchanged from RFC 6962 §2.1), and its proofs.

A leaf is an event's bytes; its hash is SHA-256(0x00 || leaf) and an interior node's
SHA-256(0x01 || left || right), so that a leaf can never pass for a node. The tree over n leaves
splits at the largest power of two below n. Only complete subtrees (2^level leaves starting at a
multiple of 2^level) are ever stored, by :class:`Nodes`: every root, inclusion proof and
consistency proof of any tree size is computed from them, so a proof in a log of a million
events reads about forty hashes.

The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step: an outsider checks a proof
with them, or with any other implementation of those sections, without trusting fpic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()  #: the root of the tree over no leaves (RFC 9162)


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): where the tree over n leaves splits."""
    return 1 << ((n - 1).bit_length() - 1)


class Nodes(Protocol):
    """Where the hashes of complete subtrees are kept: ``level`` 0 are the leaves' hashes, and
    the node at (level, index) covers leaves index·2^level to (index+1)·2^level − 1."""

    def node(self, level: int, index: int) -> bytes: ...


class MemoryNodes:
    """Complete subtrees kept in memory, appended leaf by leaf: each append stores the leaf's
    hash and the hash of every subtree it completes (as many as the new size's trailing zeros)."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; returns the (level, index, hash) of every node it stored."""
        stored = [(0, self.size, leaf_hash(leaf))]
        self.levels[0].append(stored[0][2])
        level, index = 0, self.size - 1
        while index % 2 == 1:  # a right child: its parent is complete now
            parent = node_hash(self.levels[level][index - 1], self.levels[level][index])
            level, index = level + 1, index // 2
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)
            stored.append((level, index, parent))
        return stored

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


def subtree_root(nodes: Nodes, start: int, end: int) -> bytes:
    """The hash of the tree over leaves [start, end), ``start`` a multiple of the largest power
    of two not above end − start (true of every range the tree and its proofs use)."""
    count = end - start
    if count & (count - 1) == 0:  # a complete subtree: stored
        level = count.bit_length() - 1
        return nodes.node(level, start >> level)
    k = split(count)
    return node_hash(subtree_root(nodes, start, start + k), subtree_root(nodes, start + k, end))


def root(nodes: Nodes, size: int) -> bytes:
    """The tree head's root hash for the first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else subtree_root(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1: the hashes that rebuild the root from the
    leaf, nearest first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    return _path(nodes, index, 0, size)


def _path(nodes: Nodes, index: int, start: int, end: int) -> list[bytes]:
    count = end - start
    if count == 1:
        return []
    k = split(count)
    if index < k:
        return [*_path(nodes, index, start, start + k), subtree_root(nodes, start + k, end)]
    return [*_path(nodes, index - k, start + k, end), subtree_root(nodes, start, start + k)]


def consistency_proof(nodes: Nodes, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1: that the tree of ``first`` leaves is a
    prefix of the tree of ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first in (0, second):
        return []
    return _subproof(nodes, first, 0, second, True)


def _subproof(nodes: Nodes, m: int, start: int, end: int, whole: bool) -> list[bytes]:
    count = end - start
    if m == count:
        return [] if whole else [subtree_root(nodes, start, end)]
    k = split(count)
    if m <= k:
        return [*_subproof(nodes, m, start, start + k, whole), subtree_root(nodes, start + k, end)]
    return [*_subproof(nodes, m - k, start + k, end, False), subtree_root(nodes, start, start + k)]


# --- verification, exactly as RFC 9162 says -----------------------------------------------


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether ``leaf`` (its bytes, not its hash) is leaf ``index`` of the
    tree of ``size`` leaves whose root is ``root_hash``."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of ``first`` leaves with root ``first_hash`` is a
    prefix of the tree of ``second`` leaves with root ``second_hash``. Equal sizes need equal
    roots and no proof; any tree extends the empty one."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a node itself
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0
