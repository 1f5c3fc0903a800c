"""docs/audit-format.md section 16 is enough to check the Merkle log without fpic.

The verifier here is written from that section alone: hashlib, base64, json, zlib, and
``cryptography`` for Ed25519 only (the section's canonical JSON and event hashes come from
section 3 and 4's independent verifier in test_audit_format). fpic's merkle, notes,
checkpoints and receipts modules are used only to make the artefacts it is given.

It must (a) recompute every worked example of section 16 byte for byte from the document's
text, (b) accept the checkpoints, full export, inclusion proof, consistency proof and receipt
fpic produces for a realistic world, and (c) refuse each of them with one byte changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.trail.test_audit_format import (
    build_trail,
    canonical,
    doc_block,
    event_hash,
    export,
    first_break,
    read_csv,
    read_jsonl,
)

# --- the verifier, from section 16 -------------------------------------------------------------

ED25519, COSIGNATURE = 0x01, 0x04
EMPTY_ROOT = hashlib.sha256(b"").digest()
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_HEADER = "fpic-tlog-consistency/v1"
NUMBER = re.compile(r"0|[1-9][0-9]*")
CHAIN = re.compile(r"system|access|case:[1-9][0-9]*")
HEX64 = re.compile(r"[0-9a-f]{64}")


class Refused(Exception):
    """What the document says a verifier refuses; ``verdict`` names the receipt verdict."""

    def __init__(self, verdict: str, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, verdict: str = "unreadable") -> bytes:
    """Standard base64 with padding, canonical: encoding the bytes again gives the text."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused(verdict, f"not base64: {text!r}") from exc
    if b64(data) != text:
        raise Refused(verdict, f"not canonical base64: {text!r}")
    return data


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# 16.1: the leaves and the tree


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]), by the recursive definition."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def roots_in_one_pass(leaves: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The root of the first n leaves for each n in ``sizes``, with the stack of section 16.1."""
    wanted = set(sizes)
    found = {0: EMPTY_ROOT} if 0 in wanted else {}
    stack: list[tuple[int, bytes]] = []
    for count, leaf in enumerate(leaves, start=1):
        stack.append((1, leaf_hash(leaf)))
        while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
            (size, right), (_size, left) = stack.pop(), stack.pop()
            stack.append((2 * size, node_hash(left, right)))
        if count in wanted:
            root = stack[-1][1]
            for _size, left in reversed(stack[:-1]):
                root = node_hash(left, root)
            found[count] = root
    return found


def path(leaves: list[bytes], m: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, as section 16.3 writes it out."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*path(leaves[:k], m), mth(leaves[k:])]
    return [*path(leaves[k:], m - k), mth(leaves[:k])]


def proof(leaves: list[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1 (empty for m = 0 or m = n)."""
    if m in (0, len(leaves)):
        return []
    return _subproof(leaves, m, True)


def _subproof(leaves: list[bytes], m: int, whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return [*_subproof(leaves[:k], m, whole), mth(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), mth(leaves[:k])]


# 16.3 and 16.4: the two verifications of RFC 9162, step by step, with a trace of each step


def verify_inclusion(
    leaf: bytes, index: int, size: int, hashes: list[bytes], root: bytes, trace: list[str]
) -> bool:
    if index >= size:  # 1
        return False
    fn, sn = index, size - 1  # 2
    r = leaf_hash(leaf)  # 3
    trace.append(f"fn {fn}, sn {sn}, r = SHA-256(0x00 || leaf) = {r.hex()}")
    for p in hashes:  # 4
        if sn == 0:  # 4a
            return False
        if fn & 1 or fn == sn:  # 4b
            why = "fn odd" if fn & 1 else "fn = sn"
            r = node_hash(p, r)
            rule = "r = SHA-256(0x01 || p || r)"
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            why, rule = "fn even, fn < sn", "r = SHA-256(0x01 || r || p)"
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1  # 4c
        trace.append(f"p = {p.hex()}: {why}: {rule} = {r.hex()}; fn {fn}, sn {sn}")
    return sn == 0 and r == root  # 5


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, hashes: list[bytes],
    trace: list[str],
) -> bool:  # fmt: skip
    if first > second:
        return False
    if first == second:
        return not hashes and first_root == second_root
    if first == 0:
        return not hashes and first_root == EMPTY_ROOT
    if not hashes:  # 1
        return False
    hashes = list(hashes)
    if first & (first - 1) == 0:  # 2
        hashes.insert(0, first_root)
        trace.append(f"{first} is a power of two: path = [old root, the proof's hashes]")
    fn, sn = first - 1, second - 1  # 3
    while fn & 1:  # 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = hashes[0]  # 5
    trace.append(f"fn {fn}, sn {sn}, fr = sr = {fr.hex()}")
    for c in hashes[1:]:  # 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            why = "fn odd" if fn & 1 else "fn = sn"
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            step = (
                f"fr = SHA-256(0x01 || c || fr) = {fr.hex()}, "
                f"sr = SHA-256(0x01 || c || sr) = {sr.hex()}"
            )
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            why = "fn even, fn < sn"
            sr = node_hash(sr, c)
            step = f"sr = SHA-256(0x01 || sr || c) = {sr.hex()}"
        fn, sn = fn >> 1, sn >> 1  # 6c
        trace.append(f"c = {c.hex()}: {why}: {step}; fn {fn}, sn {sn}")
    return fr == first_root and sr == second_root and sn == 0  # 7


# 16.2 and 16.5: keys, signed notes, checkpoints and cosignatures


@dataclass(frozen=True)
class Key:
    """A verifier key: a name, a signed-note type (0x01 the log's, 0x04 a witness's), and an
    Ed25519 public key."""

    name: str
    kind: int
    public: bytes

    @property
    def id(self) -> bytes:
        return sha256(self.name.encode("utf-8") + b"\n" + bytes([self.kind]) + self.public)[:4]

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.id.hex()}+{b64(bytes([self.kind]) + self.public)}"

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def parse_vkey(text: str, kind: int) -> Key:
    parts = text.split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise Refused("unreadable", "a verifier key is <name>+<8 hex digits>+<base64>")
    name, hex_id, material = parts
    if not name or any(c.isspace() for c in name):
        raise Refused("unreadable", "a key name is not empty and has no white space")
    raw = unb64(material)
    if len(raw) != 33 or raw[0] != kind:
        raise Refused("unreadable", f"not an Ed25519 key of type {kind:#04x}")
    key = Key(name, kind, raw[1:])
    if key.id.hex() != hex_id:
        raise Refused("unreadable", "the key ID is not the one of the name and key")
    return key


def parse_private_key(text: str) -> tuple[Key, bytes]:
    """Section 16.7's private key text: the key it signs with, and its seed."""
    assert text.startswith("PRIVATE+KEY+")
    assert text.endswith("\n")
    name, hex_id, material = text[len("PRIVATE+KEY+") : -1].split("+", 2)
    raw = unb64(material)
    seed = raw[1:]
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    key = Key(name, raw[0], public.public_bytes(Encoding.Raw, PublicFormat.Raw))
    assert key.id.hex() == hex_id
    return key, seed


def sign(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str, verdict: str = "not_signed") -> tuple[str, list[SignatureLine]]:
    """16.2 step 2: the text (with its last line feed) and the signature lines."""
    if any(ord(c) < 0x20 and c != "\n" for c in note) or not note.endswith("\n"):
        raise Refused(verdict, "control characters, or no final line feed")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Refused(verdict, "no empty line")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    signatures = []
    for line in lines:
        match = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
        if match is None:
            raise Refused(verdict, f"not a signature line: {line!r}")
        raw = unb64(match.group(2), verdict)
        if len(raw) < 5:
            raise Refused(verdict, "a signature is a key ID and a signature")
        signatures.append(SignatureLine(match.group(1), raw[:4], raw[4:]))
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str


def open_checkpoint(note: str, log: Key) -> Checkpoint:
    """16.2, steps 2 to 4."""
    text, signatures = split_note(note)
    ours = [s for s in signatures if (s.name, s.key_id) == (log.name, log.id)]
    if not ours:
        raise Refused("not_signed", "the log's key did not sign it")
    for line in ours:
        if len(line.signature) != 64 or not log.verifies(line.signature, text.encode("utf-8")):
            raise Refused("not_signed", "the log's signature does not verify")
    lines = text.split("\n")
    if len(lines) != 4 or not all(lines[:3]):
        raise Refused("not_signed", "a checkpoint is three non-empty lines")
    origin, size, root = lines[:3]
    if origin != log.name or not NUMBER.fullmatch(size):
        raise Refused("not_signed", "the origin is not the key's name, or the size no number")
    digest = unb64(root, "not_signed")
    if len(digest) != 32 or (size == "0" and digest != EMPTY_ROOT):
        raise Refused("not_signed", "the root is not a 32-byte hash (the empty one for size 0)")
    return Checkpoint(origin, int(size), digest, text)


def cosigned_by(note: str, witnesses: list[Key]) -> list[str]:
    """16.5: the known witnesses whose cosignature is on the note; refused if one does not
    verify."""
    text, signatures = split_note(note)
    names = []
    for witness in witnesses:
        lines = [s for s in signatures if (s.name, s.key_id) == (witness.name, witness.id)]
        for line in lines:
            if len(line.signature) != 72:
                raise Refused("not_signed", "a cosignature is 76 bytes")
            timestamp = int.from_bytes(line.signature[:8], "big")
            message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
            if timestamp >= 2**63 or not witness.verifies(line.signature[8:], message):
                raise Refused("not_signed", f"the cosignature of {witness.name} does not verify")
        if lines:
            names.append(witness.name)
    return names


def open_witnessed(note: str, log: Key, witnesses: list[Key], quorum: int) -> Checkpoint:
    checkpoint = open_checkpoint(note, log)
    if len(cosigned_by(note, witnesses)) < quorum:
        raise Refused("not_signed", "too few of the known witnesses cosigned it")
    return checkpoint


# 16.3 and 16.4: the proofs' texts


@dataclass(frozen=True)
class InclusionProof:
    extra: bytes | None
    index: int
    hashes: list[bytes]
    note: str


def parse_inclusion(text: str) -> InclusionProof:
    head, blank, note = text.partition("\n\n")
    lines = head.split("\n")
    if not blank or lines[0] != PROOF_HEADER:
        raise Refused("unreadable", "not a c2sp.org/tlog-proof@v1")
    extra = None
    if len(lines) > 1 and lines[1].startswith("extra "):
        extra = unb64(lines[1][len("extra ") :])
        lines = [lines[0], *lines[2:]]
    if len(lines) < 2 or not lines[1].startswith("index "):
        raise Refused("unreadable", "no index line")
    number = lines[1][len("index ") :]
    if not NUMBER.fullmatch(number):
        raise Refused("unreadable", "the index is not a number")
    hashes = [unb64(line) for line in lines[2:]]
    if any(len(h) != 32 for h in hashes):
        raise Refused("unreadable", "a hash is 32 bytes")
    return InclusionProof(extra, int(number), hashes, note)


def parse_consistency(text: str) -> tuple[int, int, list[bytes]]:
    lines = text.split("\n")
    if lines[-1] != "" or len(lines) < 4 or lines[0] != CONSISTENCY_HEADER:
        raise Refused("unreadable", "not an fpic-tlog-consistency/v1")
    sizes = []
    for line, word in zip(lines[1:3], ("old ", "new "), strict=True):
        if not line.startswith(word) or not NUMBER.fullmatch(line[len(word) :]):
            raise Refused("unreadable", f"no line {word}<size>")
        sizes.append(int(line[len(word) :]))
    hashes = [unb64(line) for line in lines[3:-1]]
    if any(len(h) != 32 for h in hashes):
        raise Refused("unreadable", "a hash is 32 bytes")
    return sizes[0], sizes[1], hashes


def consistent(old: Checkpoint, new: Checkpoint, text: str) -> bool:
    first, second, hashes = parse_consistency(text)
    if (first, second) != (old.size, new.size):
        raise Refused("unreadable", "the proof is not between these two checkpoints")
    return verify_consistency(first, second, old.root, new.root, hashes, [])


# 16.6: receipts


def named_event(extra: bytes | None) -> dict[str, Any]:
    """The extra: the canonical JSON of exactly chain, hash and seq."""
    try:
        named = json.loads((extra or b"").decode("utf-8"))
    except ValueError as exc:
        raise Refused("unreadable", "the extra is not JSON") from exc
    if (
        not isinstance(named, dict)
        or set(named) != {"chain", "hash", "seq"}
        or not isinstance(named["chain"], str)
        or not CHAIN.fullmatch(named["chain"])
        or type(named["seq"]) is not int
        or named["seq"] < 1
        or not isinstance(named["hash"], str)
        or not HEX64.fullmatch(named["hash"])
        or canonical(named).encode("utf-8") != extra
    ):
        raise Refused("unreadable", "the extra does not name an event")
    return named


def check_receipt(
    text: str,
    log: Key,
    witnesses: list[Key] | None = None,
    quorum: int = 0,
    *,
    event: dict[str, Any] | None = None,
    newer: str | None = None,
    consistency: str | None = None,
) -> str:
    """The verdict of 16.6's offline check; with ``event`` (its export line), also that the
    event is the one the extra names; with ``newer`` and ``consistency``, also that the log
    only grew since."""
    try:
        found = parse_inclusion(text)
        named = named_event(found.extra)
        checkpoint = open_witnessed(found.note, log, witnesses or [], quorum)
        if not verify_inclusion(
            bytes.fromhex(named["hash"]), found.index, checkpoint.size, found.hashes,
            checkpoint.root, [],
        ):  # fmt: skip
            return "not_included"
        if event is not None and (
            event_hash(event["prev_hash"], event) != named["hash"]
            or (event["chain"], event["seq"]) != (named["chain"], named["seq"])
        ):
            return "another_event"
        if newer is not None and consistency is not None:
            later = open_witnessed(newer, log, witnesses or [], quorum)
            if later.size < checkpoint.size or not consistent(checkpoint, later, consistency):
                return "forked"
    except Refused as refused:
        return refused.verdict
    return "in_log"


def unpack_link(link: str, base: str) -> str:
    """The receipt a QR code's link holds."""
    assert link.startswith(base + "/audit/receipt?r=")
    value = link.split("?r=", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value), "base64url without padding"
    packed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return zlib.decompress(packed).decode("utf-8")


# --- (a) the worked example of section 16.9, recomputed from the document's text ---------------

DOC_TEXT = Path(__file__).resolve().parents[2].joinpath("docs", "audit-format.md")
BASE = "https://fpic.example"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  #: when fpic issues a checkpoint (not in its text)
COSIGNED_AT = int(datetime(2026, 3, 2, 9, 45, tzinfo=UTC).timestamp())


def section_16() -> str:
    text = DOC_TEXT.read_text("utf-8")
    return text[text.index("\n## 16. ") :]


def block(label: str) -> str:
    """A block of the document, with the line feed its last line ends with."""
    return doc_block(label) + "\n"


def example_events() -> list[dict[str, Any]]:
    return read_jsonl(block("log-example-export"))


def example_leaves() -> list[bytes]:
    return [bytes.fromhex(event["hash"]) for event in example_events()]


def example_keys() -> tuple[Key, bytes, Key, bytes]:
    log, log_seed = parse_private_key(block("log-example-private-key"))
    witness, witness_seed = parse_private_key(block("log-example-witness-private-key"))
    return log, log_seed, witness, witness_seed


def signed(text: str, key: Key, seed: bytes) -> str:
    return f"{text}\n\u2014 {key.name} {b64(key.id + sign(seed, text.encode('utf-8')))}\n"


def checkpoint_text(name: str, leaves: list[bytes]) -> str:
    return f"{name}\n{len(leaves)}\n{b64(mth(leaves))}\n"


def inclusion_text(event: dict[str, Any], index: int, leaves: list[bytes], note: str) -> str:
    extra = canonical({k: event[k] for k in ("chain", "hash", "seq")}).encode("utf-8")
    lines = [PROOF_HEADER, f"extra {b64(extra)}", f"index {index}"]
    lines += [b64(h) for h in path(leaves, index)]
    return "\n".join(lines) + "\n\n" + note


def consistency_text(leaves: list[bytes], m: int) -> str:
    lines = [CONSISTENCY_HEADER, f"old {m}", f"new {len(leaves)}"]
    return "\n".join([*lines, *(b64(h) for h in proof(leaves, m))]) + "\n"


def test_the_example_export_is_in_the_logs_order_and_its_chains_verify() -> None:
    events = example_events()
    assert first_break(events)[1] is None
    chains = [e["chain"] for e in events]
    assert chains == ["system", "case:1", "access", "case:1", "access", "system", "case:1"]
    # the two events of section 10, unchanged, as leaves 1 and 3
    section_10 = read_jsonl(block("example-export"))
    assert [events[1], events[3]] == section_10
    for chain in set(chains):
        seqs = [e["seq"] for e in events if e["chain"] == chain]
        assert seqs == list(range(1, len(seqs) + 1))


def test_the_example_leaves_and_roots_recompute() -> None:
    events, leaves = example_events(), example_leaves()
    rows = [line.split() for line in doc_block("log-example-leaves").split("\n")]
    assert [int(r[0]) for r in rows] == list(range(len(events)))
    for (index, chain, seq, leaf, hashed), event in zip(rows, events, strict=True):
        assert (chain, int(seq), leaf) == (event["chain"], event["seq"], event["hash"])
        assert leaf_hash(bytes.fromhex(leaf)).hex() == hashed, index
    rows = [line.split() for line in doc_block("log-example-roots").split("\n")]
    one_pass = roots_in_one_pass(leaves, range(len(leaves) + 1))
    assert [int(r[0]) for r in rows] == list(range(len(leaves) + 1))
    for size, hexed, based in rows:
        root = mth(leaves[: int(size)])
        assert (root.hex(), b64(root)) == (hexed, based)
        assert one_pass[int(size)] == root
    assert (
        rows[0][1]
        == EMPTY_ROOT.hex()
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert rows[0][2] in section_16().split("### 16.9")[0]  # the empty root, named in 16.2


def test_the_example_keys_recompute_from_their_seeds() -> None:
    log, log_seed, witness, witness_seed = example_keys()
    assert (log.name, log.kind, log_seed) == ("fpic.example/trail", ED25519, bytes(range(32)))
    assert (witness.name, witness.kind, witness_seed) == (
        "advisor.example/witness", COSIGNATURE, bytes(range(1, 33)),
    )  # fmt: skip
    assert log.vkey == doc_block("log-example-vkey")
    assert witness.vkey == doc_block("log-example-witness-vkey")
    assert parse_vkey(log.vkey, ED25519) == log
    assert parse_vkey(witness.vkey, COSIGNATURE) == witness
    section = section_16()
    assert log.public.hex() in section
    assert f"`{log.id.hex()}`" in section
    assert f"`{witness.id.hex()}`" in section


@pytest.mark.parametrize("size", [4, 7])
def test_the_example_checkpoints_recompute_byte_for_byte(size: int) -> None:
    log, seed, _witness, _seed = example_keys()
    leaves = example_leaves()[:size]
    note = block(f"log-example-checkpoint-{size}")
    assert note == signed(checkpoint_text(log.name, leaves), log, seed)
    opened = open_checkpoint(note, log)
    assert (opened.origin, opened.size, opened.root) == (log.name, size, mth(leaves))


def test_the_example_inclusion_proof_recomputes_and_verifies_step_by_step() -> None:
    log, _seed, _witness, _wseed = example_keys()
    events, leaves = example_events(), example_leaves()
    note = block("log-example-checkpoint-7")
    text = block("log-example-proof")
    assert text == inclusion_text(events[3], 3, leaves, note)
    found = parse_inclusion(text)
    trace: list[str] = []
    assert verify_inclusion(leaves[3], found.index, 7, found.hashes, mth(leaves), trace)
    assert "\n".join(trace) == doc_block("log-example-proof-steps")
    assert check_receipt(text, log, event=events[3]) == "in_log"


@pytest.mark.parametrize("old", [4, 6])
def test_the_example_consistency_proofs_recompute_and_verify_step_by_step(old: int) -> None:
    leaves = example_leaves()
    text = block(f"log-example-consistency-{old}-7")
    assert text == consistency_text(leaves, old)
    first, second, hashes = parse_consistency(text)
    trace: list[str] = []
    assert verify_consistency(first, second, mth(leaves[:old]), mth(leaves), hashes, trace)
    assert "\n".join(trace) == doc_block(f"log-example-consistency-{old}-7-steps")
    if old == 4:
        log = example_keys()[0]
        assert consistent(
            open_checkpoint(block("log-example-checkpoint-4"), log),
            open_checkpoint(block("log-example-checkpoint-7"), log),
            text,
        )


def test_the_example_cosignature_recomputes_byte_for_byte() -> None:
    log, _seed, witness, witness_seed = example_keys()
    note = block("log-example-checkpoint-7")
    text = split_note(note)[0]
    message = block("log-example-cosigned-message")
    assert message == f"cosignature/v1\ntime {COSIGNED_AT}\n{text}"
    assert f"`{COSIGNED_AT}`" in section_16()
    cosignature = witness.id + COSIGNED_AT.to_bytes(8, "big") + sign(witness_seed, message.encode())
    cosigned = block("log-example-cosigned-checkpoint")
    assert cosigned == f"{note}\u2014 {witness.name} {b64(cosignature)}\n"
    assert cosigned_by(cosigned, [witness]) == [witness.name]
    assert open_witnessed(cosigned, log, [witness], 1).size == 7


def test_the_example_receipt_recomputes_and_holds() -> None:
    log, _seed, witness, _wseed = example_keys()
    events, leaves = example_events(), example_leaves()
    receipt = block("log-example-receipt")
    assert receipt == inclusion_text(events[6], 6, leaves, block("log-example-cosigned-checkpoint"))
    found = parse_inclusion(receipt)
    assert found.extra is not None
    assert found.extra.decode("utf-8") == doc_block("log-example-receipt-extra")
    assert named_event(found.extra) == {k: events[6][k] for k in ("chain", "hash", "seq")}
    trace: list[str] = []
    assert verify_inclusion(leaves[6], 6, 7, found.hashes, mth(leaves), trace)
    assert "\n".join(trace) == doc_block("log-example-receipt-steps")
    assert check_receipt(receipt, log, [witness], 1, event=events[6]) == "in_log"
    # the receipt's log is the start of no other log than its own: from 7 to 7, nothing to add
    newer = block("log-example-cosigned-checkpoint")
    same = f"{CONSISTENCY_HEADER}\nold 7\nnew 7\n"
    assert check_receipt(receipt, log, [witness], 1, newer=newer, consistency=same) == "in_log"


def test_the_example_link_holds_the_receipt() -> None:
    link = doc_block("log-example-link")
    assert unpack_link(link, BASE) == block("log-example-receipt")


def _console(label: str) -> tuple[list[str], list[str]]:
    """A console block: the command's arguments (after ``fpic``), and the lines it printed."""
    lines = doc_block(label).split("\n")
    command = [lines.pop(0)]
    while command[-1].endswith("\\"):
        command.append(lines.pop(0))
    words = " ".join(line.rstrip("\\") for line in command).split()
    assert words[:2] == ["$", "fpic"]
    return words[2:], lines


def test_fpic_writes_the_worked_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's bytes are what fpic writes today: the same events, keys and time give the
    same export, checkpoints, proofs, cosignature, receipt and verification report."""
    from click.testing import CliRunner

    from fpic.cli import main
    from fpic.storage.db import Database
    from fpic.storage.migrate import upgrade
    from fpic.trail import audit, checkpoints, receipts
    from fpic.trail import log as merkle_log
    from fpic.trail.notes import COSIGNATURE_V1, Signer, cosign

    url = f"sqlite:///{tmp_path / 'example.sqlite3'}"
    db = Database(url)
    upgrade(db.engine)
    _key, log_seed, _witness, witness_seed = example_keys()
    signer = Signer.from_seed("fpic.example/trail", log_seed)
    advisor = Signer.from_seed("advisor.example/witness", witness_seed, COSIGNATURE_V1)
    issued = {}
    for count, event in enumerate(example_events(), start=1):
        at = datetime.strptime(event["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        with db.write_session() as session, session.begin():
            audit.append(
                session, chain=event["chain"], at=at, actor=event["actor"], role=event["role"],
                action=event["action"], outcome=event["outcome"], data=event["data"],
                case_id=event["case"], from_stage=event["from"], to_stage=event["to"],
            )  # fmt: skip
        if count in (4, 7):
            issued[count] = checkpoints.issue(db, signer, NOW)
    assert issued[4] == block("log-example-checkpoint-4")
    assert issued[7] == block("log-example-checkpoint-7")
    assert checkpoints.private_key_text(signer) == block("log-example-private-key")
    assert checkpoints.private_key_text(advisor) == block("log-example-witness-private-key")
    runner = CliRunner()
    exported = tmp_path / "trail.jsonl"
    made = runner.invoke(main, ["--database-url", url, "audit", "export", "-o", str(exported)])
    assert made.exit_code == 0, made.output
    assert exported.read_bytes().decode("utf-8") == block("log-example-export")
    key = runner.invoke(
        main,
        ["--database-url", url, "audit", "key"],
        env={checkpoints.KEY_ENV: checkpoints.private_key_text(signer)},
    )
    assert key.stdout == block("log-example-vkey")
    cosigned = cosign(issued[7], advisor, COSIGNED_AT)
    assert cosigned == block("log-example-cosigned-checkpoint")
    with db.read_session() as session:
        for old in (4, 6):
            hashes = merkle_log.consistency_proof(session, old, 7)
            text = checkpoints.consistency_text(old, 7, hashes)
            assert text == block(f"log-example-consistency-{old}-7")
        proved = receipts.receipt_for(session, "case:1", 2, issued[7], signer.verifier)
        assert proved == block("log-example-proof")
        receipt = receipts.receipt_for(session, "case:1", 3, cosigned, signer.verifier)
        assert receipt == block("log-example-receipt")
    link = doc_block("log-example-link")
    assert receipts.unpack_link_value(link.split("?r=", 1)[1]) == receipt
    assert receipts.receipt_link(f"{BASE}/audit/receipt", receipt).startswith(f"{BASE}/audit/")
    # the report of section 16.8, from files holding the document's blocks
    for name, label in [
        ("checkpoint-4", "log-example-checkpoint-4"),
        ("checkpoint-7", "log-example-checkpoint-7"),
        ("receipt", "log-example-receipt"),
        ("consistency-4-7", "log-example-consistency-4-7"),
    ]:
        (tmp_path / name).write_bytes(block(label).encode("utf-8"))
    arguments, printed = _console("log-example-verify")
    monkeypatch.chdir(tmp_path)  # the report names the files as given
    report = runner.invoke(main, ["--database-url", url, *arguments])
    assert report.exit_code == 0, report.output
    assert report.stdout.split("\n")[:-1] == printed
    db.dispose()


# --- (b) a realistic world: what fpic produces, checked by the verifier above ------------------


@dataclass
class Logged:
    """A realistic trail with a checkpoint, some more events, and a later checkpoint; both
    cosigned by a witness, a receipt of a decision in the first, and the texts in between."""

    log: Key
    witness: Key
    jsonl: str
    csv: str
    case_jsonl: str
    old: str
    new: str
    consistency: str
    receipt: str
    decision: dict[str, Any]
    world: Any


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    from fpic.accounts import passwords
    from tests.factories import CHEAP_HASHER, make_world

    scratch = tmp_path_factory.mktemp("log-format")
    with pytest.MonkeyPatch.context() as patch:  # as conftest does for each test
        patch.setattr(passwords, "_hasher", CHEAP_HASHER)
        world = make_world(f"sqlite:///{scratch / 'fpic.sqlite3'}")
        yield _log_a_realistic_world(world, scratch)
    world.db.dispose()


def _log_a_realistic_world(world: Any, scratch: Path) -> Logged:
    from click.testing import CliRunner

    from fpic.accounts.sessions import sign_in
    from fpic.cli import main
    from fpic.trail import checkpoints, receipts, witness
    from fpic.trail import log as merkle_log
    from fpic.trail.notes import COSIGNATURE_V1, Signer
    from fpic.workflow.errors import FpicError

    case_id = build_trail(world)
    signer = Signer.from_seed("fpic.test/trail", bytes(range(32)))
    advisor = Signer.from_seed("advisor.test/witness", bytes(range(1, 33)), COSIGNATURE_V1)
    (scratch / "witness").mkdir()
    follower = witness.Witness(scratch / "witness", advisor, signer.verifier)
    first = checkpoints.issue(world.db, signer, NOW)
    old = witness.cosign_next(follower, first, None, 1_772_445_600)
    checkpoints.add_cosignatures(world.db, old, signer.verifier, [advisor.verifier], NOW)
    # the log grows: a report, a refusal, a failed sign-in
    world.act(case_id, "record_monitoring_report", world.liaison, {"text": "Tercer informe."})
    with pytest.raises(FpicError):
        world.act(case_id, "close_case", world.liaison, {"text": "Cerrado."})
    with pytest.raises(FpicError):
        sign_in(world.engine, "mallory", "not the password")
    later = checkpoints.issue(world.db, signer, NOW)
    key = parse_vkey(signer.verifier.vkey, ED25519)
    sizes = open_checkpoint(old, key).size, open_checkpoint(later, key).size
    with world.db.read_session() as session:
        hashes = merkle_log.consistency_proof(session, *sizes)
    consistency = checkpoints.consistency_text(*sizes, hashes)
    new = witness.cosign_next(follower, later, consistency, 1_772_449_200)
    exports = scratch / "exports"
    exports.mkdir()
    jsonl = export(world, exports, "jsonl")
    decision = next(
        e
        for e in read_jsonl(jsonl)
        if e["chain"] == f"case:{case_id}" and e["action"] == "give_consent"
    )
    assert "decision_id" in decision["data"]["records"]
    with world.db.read_session() as session:
        receipt = receipts.receipt_for(
            session, decision["chain"], decision["seq"], old, signer.verifier
        )
    published = CliRunner().invoke(
        main,
        ["--database-url", world.db.url, "audit", "key"],
        env={checkpoints.KEY_ENV: checkpoints.private_key_text(signer)},
    )
    return Logged(
        log=parse_vkey(published.stdout.removesuffix("\n"), ED25519),
        witness=parse_vkey(advisor.verifier.vkey, COSIGNATURE),
        jsonl=jsonl,
        csv=export(world, exports, "csv"),
        case_jsonl=export(world, exports, "jsonl", "--case", str(case_id)),
        old=old,
        new=new,
        consistency=consistency,
        receipt=receipt,
        decision=decision,
        world=world,
    )


def _leaves_of(events: list[dict[str, Any]]) -> list[bytes]:
    return [bytes.fromhex(e["hash"]) for e in events]


def export_makes(text: str, reader: Any, checkpoints: list[Checkpoint]) -> bool:
    """16.1: the export's chains verify, and its first N events make each checkpoint's tree."""
    try:
        events = reader(text)
        if first_break(events)[1] is not None:
            return False
        roots = roots_in_one_pass(_leaves_of(events), [c.size for c in checkpoints])
    except (ValueError, KeyError, TypeError, AssertionError):
        return False
    return all(roots.get(c.size) == c.root for c in checkpoints)


def test_a_real_export_checkpoints_and_proofs_verify_independently(logged: Logged) -> None:
    old = open_witnessed(logged.old, logged.log, [logged.witness], 1)
    new = open_witnessed(logged.new, logged.log, [logged.witness], 1)
    assert 0 < old.size < new.size
    events = read_jsonl(logged.jsonl)
    assert len(events) == new.size  # one leaf per event, nothing else
    assert export_makes(logged.jsonl, read_jsonl, [old, new])
    assert export_makes(logged.csv, read_csv, [old, new])
    # the chains interleave in the log's order (some chain comes in more than one run), each
    # still in sequence (first_break above)
    chains = [e["chain"] for e in events]
    runs = [c for n, c in enumerate(chains) if n == 0 or chains[n - 1] != c]
    assert len(runs) > len(set(runs))
    # a one-case export is one whole chain, not the log's order
    case_events = read_jsonl(logged.case_jsonl)
    assert first_break(case_events)[1] is None
    assert _leaves_of(case_events) != _leaves_of(events)[: len(case_events)]
    assert consistent(old, new, logged.consistency)
    leaves = _leaves_of(events)
    assert parse_consistency(logged.consistency)[2] == proof(leaves[: new.size], old.size)


def test_a_real_receipt_holds_offline_and_names_its_event(logged: Logged) -> None:
    events = read_jsonl(logged.jsonl)
    found = parse_inclusion(logged.receipt)
    assert events[found.index] == logged.decision
    named = named_event(found.extra)
    assert named == {k: logged.decision[k] for k in ("chain", "hash", "seq")}
    old = open_checkpoint(found.note, logged.log)
    assert found.hashes == path(_leaves_of(events)[: old.size], found.index)  # 16.3: from an export
    assert check_receipt(
        logged.receipt, logged.log, [logged.witness], 1, event=logged.decision
    ) == ("in_log")
    assert (
        check_receipt(
            logged.receipt, logged.log, [logged.witness], 1, event=logged.decision,
            newer=logged.new, consistency=logged.consistency,
        )
        == "in_log"
    )  # fmt: skip


def test_a_real_receipt_travels_in_its_link(logged: Logged) -> None:
    from fpic.trail.receipts import receipt_link

    link = receipt_link(f"{BASE}/audit/receipt", logged.receipt)
    assert unpack_link(link, BASE) == logged.receipt


# --- (c) one byte changed: refused --------------------------------------------------------------

_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _changed(text: str) -> Iterator[tuple[int, str | None]]:
    """The text with each one of its bytes changed in turn (None: no longer UTF-8). A base64
    character becomes the next one of the alphabet, so that the text still parses and only
    the checks of hashes and signatures can tell."""
    data = text.encode("utf-8")
    for position, byte in enumerate(data):
        other = _BASE64[(_BASE64.index(byte) + 1) % len(_BASE64)] if byte in _BASE64 else byte ^ 1
        changed = data[:position] + bytes([other]) + data[position + 1 :]
        try:
            yield position, changed.decode("utf-8")
        except UnicodeDecodeError:
            yield position, None


def test_a_checkpoint_with_any_byte_changed_is_refused(logged: Logged) -> None:
    for position, note in _changed(logged.new):
        if note is None:
            continue
        try:
            open_witnessed(note, logged.log, [logged.witness], 1)
        except Refused:
            continue
        pytest.fail(f"byte {position} of the checkpoint changed, and it still opened")


def test_a_consistency_proof_with_any_byte_changed_is_refused(logged: Logged) -> None:
    old = open_checkpoint(logged.old, logged.log)
    new = open_checkpoint(logged.new, logged.log)
    for position, text in _changed(logged.consistency):
        if text is None:
            continue
        try:
            held = consistent(old, new, text)
        except Refused:
            continue
        assert not held, f"byte {position} of the consistency proof changed, and it held"


def test_a_receipt_with_any_byte_changed_is_refused(logged: Logged) -> None:
    for position, text in _changed(logged.receipt):
        if text is None:
            continue
        verdict = check_receipt(text, logged.log, [logged.witness], 1, event=logged.decision)
        assert verdict != "in_log", f"byte {position} of the receipt changed, and it held"


def test_an_export_with_any_event_changed_reordered_or_cut_is_refused(logged: Logged) -> None:
    checkpoints = [open_checkpoint(logged.old, logged.log), open_checkpoint(logged.new, logged.log)]
    lines = logged.jsonl.split("\n")[:-1]
    for n, line in enumerate(lines):  # one byte of each event, at a spread of positions
        position = (n * 7919) % len(line.encode("utf-8"))
        changed = next(t for p, t in _changed(line) if p == position)
        if changed is None:
            continue
        text = "\n".join([*lines[:n], changed, *lines[n + 1 :]]) + "\n"
        assert not export_makes(text, read_jsonl, checkpoints), f"line {n} changed"
    events = read_jsonl(logged.jsonl)
    # what the chains alone do not show: two events of different chains swapped, and the
    # last event of a chain left out
    swap = next(n for n in range(len(events) - 1) if events[n]["chain"] != events[n + 1]["chain"])
    swapped = [*lines[:swap], lines[swap + 1], lines[swap], *lines[swap + 2 :]]
    last_of = {e["chain"]: n for n, e in enumerate(events)}
    cut = min(n for n in last_of.values())
    without = [*lines[:cut], *lines[cut + 1 :]]
    for reordered in (swapped, without):
        text = "\n".join(reordered) + "\n"
        assert first_break(read_jsonl(text))[1] is None  # every chain still links up
        assert not export_makes(text, read_jsonl, checkpoints)


def test_the_extra_names_the_event_only_with_the_event_itself(logged: Logged) -> None:
    """16.6: the proof binds the hash, not the chain and seq the extra names beside it."""
    from fpic.trail import receipts
    from fpic.trail.notes import Checkpoint as FpicCheckpoint
    from fpic.trail.notes import Verifier, split_note

    found = parse_inclusion(logged.receipt)
    named = named_event(found.extra)
    other = canonical({**named, "seq": named["seq"] + 1}).encode("utf-8")
    lines = logged.receipt.split("\n")
    altered = "\n".join([lines[0], f"extra {b64(other)}", *lines[2:]])
    witnesses = [logged.witness]
    assert check_receipt(altered, logged.log, witnesses, 1) == "in_log"  # the hash is in the log
    assert check_receipt(altered, logged.log, witnesses, 1, event=logged.decision) == (
        "another_event"
    )
    # against the log, fpic finds that the event at the proof's place is another one
    signer_key = Verifier.parse(logged.log.vkey)
    with logged.world.db.read_session() as session:
        current = FpicCheckpoint.parse(split_note(logged.new)[0])
        verdict = receipts.check_against_log(session, altered, signer_key, current).verdict
    assert verdict == "relabelled"
