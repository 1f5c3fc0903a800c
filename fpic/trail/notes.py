"""Signed notes, checkpoints and cosignatures, as the C2SP specifications define them:
c2sp.org/signed-note (Ed25519 signatures, type 0x01), c2sp.org/tlog-checkpoint (origin, tree
size, root hash) and c2sp.org/tlog-cosignature (a witness's timestamped Ed25519 cosignature,
type 0x04). A checkpoint fpic signs names the size and root of the trail's Merkle tree
(fpic.trail.merkle); anyone holding the installation's verifier key checks it with any
implementation of those specifications.

Ed25519 is the ``cryptography`` package's (OpenSSL's): well kept, and the one PyCA maintains.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  #: a note signature (c2sp.org/signed-note)
COSIGNATURE_V1 = 0x04  #: a witness's timestamped cosignature (c2sp.org/tlog-cosignature)
MAX_SIGNATURES = 64  #: more signature lines than this and the note is refused (the spec: ≥ 16)
_SIGNATURE_LINE = re.compile(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)\n")


class NoteError(ValueError):
    """A note, key or checkpoint that is not well formed, or whose signature does not verify."""


def key_id(name: str, kind: int, public: bytes) -> bytes:
    """SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name is non-empty, without spaces or '+': {name!r}")


@dataclass(frozen=True)
class Verifier:
    """A public key as a vkey names it: ``<name>+<hex key id>+<base64(type || key)>``."""

    name: str
    kind: int
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.kind, self.public)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.kind]) + self.public).decode()
        return f"{self.name}+{self.id.hex()}+{material}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<key id>+<key>")
        name, hex_id, material = parts
        _check_name(name)
        try:
            raw = base64.b64decode(material, validate=True)
            given = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("the verifier key's id or key is not hex or base64") from exc
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1) or len(given) != 4:
            raise NoteError("not an Ed25519 note or cosignature verifier key")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.id != given:
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private Ed25519 key under a name (the installation's, or a witness's)."""

    name: str
    private: Ed25519PrivateKey
    kind: int = ED25519

    @classmethod
    def generate(cls, name: str, kind: int = ED25519) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate(), kind)

    @classmethod
    def from_seed(cls, name: str, seed: bytes, kind: int = ED25519) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed), kind)

    @property
    def verifier(self) -> Verifier:
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.kind, public)

    def line(self, signature: bytes) -> str:
        encoded = base64.b64encode(self.verifier.id + signature).decode()
        return f"\u2014 {self.name} {encoded}\n"


@dataclass(frozen=True)
class Signature:
    name: str
    id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The text (with its final newline) and the signature lines of a signed note."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("a note holds no control characters but newlines")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a note is its text, a blank line, then its signature lines")
    text, lines = note[: cut + 1], note[cut + 2 :]
    signatures = []
    position = 0
    while position < len(lines):
        match = _SIGNATURE_LINE.match(lines, position)
        if match is None:
            raise NoteError("a signature line is '— <key name> <base64>'")
        name, encoded = match.groups()
        raw = base64.b64decode(encoded)
        if len(raw) < 5:
            raise NoteError("a signature holds its key id and its signature")
        signatures.append(Signature(name, raw[:4], raw[4:]))
        position = match.end()
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note has 1 to {MAX_SIGNATURES} signatures")
    return text, signatures


def sign_note(text: str, signer: Signer) -> str:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    signature = signer.private.sign(text.encode())
    return f"{text}\n{signer.line(signature)}"


def verify_note(note: str, verifiers: list[Verifier]) -> str:
    """The note's text if a known key signed it and every known key's signature verifies;
    signatures of unknown keys are ignored (c2sp.org/signed-note)."""
    text, signatures = split_note(note)
    known = {(v.name, v.id): v for v in verifiers if v.kind == ED25519}
    verified = 0
    for s in signatures:
        verifier = known.get((s.name, s.id))
        if verifier is None:
            continue
        if not verifier.verifies(text.encode(), s.signature):
            raise NoteError(f"the signature of {s.name} does not verify")
        verified += 1
    if not verified:
        raise NoteError("no known key signed this note")
    return text


# --- checkpoints (c2sp.org/tlog-checkpoint) --------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    @property
    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is origin, tree size and root hash, one per line")
        origin, size, root = lines[0], lines[1], lines[2]
        if not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise NoteError("a checkpoint's tree size is a decimal number without leading zeros")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError("a checkpoint's root hash is base64") from exc
        if len(digest) != 32:
            raise NoteError("a checkpoint's root hash is 32 bytes")
        return cls(origin, int(size), digest)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    return sign_note(checkpoint.text, signer)


def open_checkpoint(note: str, log: Verifier) -> Checkpoint:
    """The checkpoint a signed note holds, once the log's own signature verifies, its origin is
    the log key's name (c2sp.org/tlog-proof: the origin is the log's), and a tree of no leaves
    has the empty tree's root (RFC 9162 §2.1.1)."""
    checkpoint = Checkpoint.parse(verify_note(note, [log]))
    if checkpoint.origin != log.name:
        raise NoteError(f"the checkpoint's origin is not {log.name}")
    if checkpoint.size == 0 and checkpoint.root != hashlib.sha256(b"").digest():
        raise NoteError("a checkpoint of no events has the empty tree's root")
    return checkpoint


# --- cosignatures (c2sp.org/tlog-cosignature, Ed25519, type 0x04) ----------------------------


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(note: str, witness: Signer, timestamp: int) -> str:
    """The note with the witness's cosignature line added (a witness checks consistency with
    what it cosigned before calling this: fpic.trail.witness)."""
    if witness.kind != COSIGNATURE_V1:
        raise NoteError("a cosigner's key is of type 0x04")
    if not 0 <= timestamp < 2**63:
        raise NoteError("a cosignature's time is a POSIX timestamp")
    text, _signatures = split_note(note)
    signature = witness.private.sign(_cosigned_message(text, timestamp))
    return note + witness.line(timestamp.to_bytes(8, "big") + signature)


def cosigned_at(note: str, witness: Verifier) -> int | None:
    """When ``witness`` cosigned the note, if its cosignature is there and verifies."""
    text, signatures = split_note(note)
    for s in signatures:
        if (s.name, s.id) != (witness.name, witness.id):
            continue
        timestamp = int.from_bytes(s.signature[:8], "big")
        if len(s.signature) != 72 or timestamp >= 2**63:
            raise NoteError(f"the cosignature of {witness.name} is malformed")
        if witness.verifies(_cosigned_message(text, timestamp), s.signature[8:]):
            return timestamp
        raise NoteError(f"the cosignature of {witness.name} does not verify")
    return None
