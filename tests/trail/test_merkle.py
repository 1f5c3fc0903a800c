"""The trail's Merkle tree (issue 19, item 1 and the proofs of item 3): RFC 6962/9162 hashing,
roots, inclusion and consistency proofs from stored complete subtrees, checked against the
reference vectors of Certificate Transparency's test suites and against a straightforward
implementation of the RFC's definitions for every tree size from 1 to 300."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpic.trail.merkle import (
    EMPTY_ROOT,
    MemoryNodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# Certificate Transparency's reference leaves, tree heads and proofs (RFC 6962 test vectors, as
# in certificate-transparency-go's merkle tests)
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
INCLUSION = [  # (leaf index, tree size, proof)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [  # (first size, second size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def _tree(leaves: list[bytes]) -> MemoryNodes:
    nodes = MemoryNodes()
    for leaf in leaves:
        nodes.append(leaf)
    return nodes


# --- the RFC's definitions, written out as they read (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ----


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: tuple[bytes, ...]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: tuple[bytes, ...]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


@cache
def _leaves(n: int) -> tuple[bytes, ...]:
    return tuple(f"event {i}".encode() for i in range(n))


@cache
def _big() -> MemoryNodes:
    return _tree(list(_leaves(300)))


# --- the reference vectors ---------------------------------------------------------------------


def test_roots_are_the_reference_tree_heads():
    nodes = _tree(LEAVES)
    assert EMPTY_ROOT == ROOTS[0] == root(nodes, 0)
    assert [root(nodes, size) for size in range(9)] == ROOTS
    assert leaf_hash(b"") == ROOTS[1]
    assert node_hash(ROOTS[1], leaf_hash(b"\x00")) == ROOTS[2]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_are_the_reference_ones(index, size, proof):
    nodes = _tree(LEAVES)
    assert [p.hex() for p in inclusion_proof(nodes, index, size)] == proof
    hashes = [bytes.fromhex(p) for p in proof]
    assert verify_inclusion(LEAVES[index], index, size, hashes, ROOTS[size])
    assert not verify_inclusion(LEAVES[index], index, size, hashes, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_are_the_reference_ones(first, second, proof):
    nodes = _tree(LEAVES)
    assert [p.hex() for p in consistency_proof(nodes, first, second)] == proof
    hashes = [bytes.fromhex(p) for p in proof]
    assert verify_consistency(first, second, ROOTS[first], ROOTS[second], hashes)


# --- every size from 1 to 300 against the definitions -------------------------------------------


def test_every_root_from_1_to_300_is_the_definitions():
    nodes = _big()
    for size in range(1, 301):
        assert root(nodes, size) == mth(_leaves(size)), size


@pytest.mark.parametrize("size", range(1, 301))
def test_inclusion_proofs_of_a_tree_are_the_definitions_and_verify(size):
    nodes, leaves = _big(), _leaves(size)
    head = mth(leaves)
    # every leaf of the small trees; of the larger ones, both ends, the middle and every 17th
    indices = range(size) if size <= 64 else sorted({0, size - 1, size // 2, *range(0, size, 17)})
    for index in indices:
        proof = inclusion_proof(nodes, index, size)
        assert proof == path(index, leaves), (index, size)
        assert verify_inclusion(leaves[index], index, size, proof, head)


@pytest.mark.parametrize("second", range(1, 301, 7))
def test_consistency_proofs_between_sizes_are_the_definitions_and_verify(second):
    nodes, leaves = _big(), _leaves(second)
    head = mth(leaves)
    for first in sorted({1, second, *range(1, second, max(1, second // 20))}):
        proof = consistency_proof(nodes, first, second)
        assert proof == subproof(first, leaves, True), (first, second)
        assert verify_consistency(first, second, mth(leaves[:first]), head, proof)


# --- what a proof must not prove ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(1, 300))
def test_an_inclusion_proof_fails_for_another_leaf_place_tree_or_path(data, size):
    nodes, leaves = _big(), _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof, head = inclusion_proof(nodes, index, size), root(nodes, size)
    assert verify_inclusion(leaves[index], index, size, proof, head)
    assert not verify_inclusion(leaves[index] + b"!", index, size, proof, head)
    # (a tree size is bound by the signed checkpoint that names it with its root, not by the
    # proof: the trees of 3 and 4 leaves give leaf 0 proofs of one shape)
    assert not verify_inclusion(leaves[index], size, size, proof, head)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert not verify_inclusion(leaves[index], other, size, proof, head)
        flipped = data.draw(st.integers(0, len(proof) - 1))
        bad = [p if i != flipped else bytes([p[0] ^ 1]) + p[1:] for i, p in enumerate(proof)]
        assert not verify_inclusion(leaves[index], index, size, bad, head)
        assert not verify_inclusion(leaves[index], index, size, proof[:-1], head)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), second=st.integers(2, 300))
def test_a_consistency_proof_fails_for_a_forked_or_rewritten_log(data, second):
    """Two different logs of the same size (a fork) can never both be consistent with one
    earlier head: a changed leaf changes every later root."""
    nodes = _big()
    first = data.draw(st.integers(1, second - 1))
    proof = consistency_proof(nodes, first, second)
    old, new = root(nodes, first), root(nodes, second)
    assert verify_consistency(first, second, old, new, proof)
    changed = data.draw(st.integers(0, first - 1))
    forked = list(_leaves(second))
    forked[changed] = b"rewritten"
    fork = _tree(forked)
    assert not verify_consistency(first, second, old, root(fork, second), proof)
    assert not verify_consistency(first, second, old, root(fork, second),
                                  consistency_proof(fork, first, second))  # fmt: skip
    assert not verify_consistency(second, first, new, old, proof)


def test_nodes_are_stored_once_each_as_leaves_complete_them():
    nodes = MemoryNodes()
    stored = [len(nodes.append(leaf)) for leaf in _leaves(16)]
    # each append stores its leaf and one node per subtree it completes
    assert stored == [1, 2, 1, 3, 1, 2, 1, 4, 1, 2, 1, 3, 1, 2, 1, 5]
    assert sum(stored) == 31  # 2n - 1 for a complete tree of 16


def test_a_leaf_outside_the_tree_has_no_proof():
    nodes = _tree(LEAVES)
    with pytest.raises(ValueError, match="not in a tree of 8"):
        inclusion_proof(nodes, 8, 8)
    with pytest.raises(ValueError, match="no consistency proof from 5 to 4"):
        consistency_proof(nodes, 5, 4)
    assert consistency_proof(nodes, 0, 8) == []
    assert verify_consistency(0, 8, EMPTY_ROOT, ROOTS[8], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
