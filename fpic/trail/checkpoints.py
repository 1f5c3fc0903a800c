"""The installation's log key, the checkpoints it signs, witnesses' cosignatures, and the
proofs in their text forms (docs/audit-format.md, section 16).

The private key is kept outside the database, so that whoever can read or restore the
database cannot sign a checkpoint: in the environment variable ``FPIC_LOG_KEY``, or in the file
``FPIC_LOG_KEY_FILE`` names (default: ``fpic-log.key`` beside an SQLite database, else in the
working directory). Its text is Go's ``golang.org/x/mod/sumdb/note`` private-key form,
``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || Ed25519 seed)>``; the key's name is the
log's origin, the first line of every checkpoint.

An inclusion proof is a c2sp.org/tlog-proof; a consistency proof has the form
:func:`consistency_text` writes (no C2SP format exists for one).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fpic.storage.db import Database
from fpic.storage.models import Cosignature, IssuedCheckpoint
from fpic.trail import log, merkle
from fpic.trail.notes import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    cosigned_at,
    open_checkpoint,
    sign_checkpoint,
    split_note,
)

KEY_ENV = "FPIC_LOG_KEY"
KEY_FILE_ENV = "FPIC_LOG_KEY_FILE"
DEFAULT_KEY_FILE = "fpic-log.key"
_PRIVATE_PREFIX = "PRIVATE+KEY+"
PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_HEADER = "fpic-tlog-consistency/v1"


class KeyMissing(LookupError):
    """No log key where the configuration says it is (``where`` names the place)."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


# --- the log key -----------------------------------------------------------------------------


def key_file(database_url: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the key file is, for a database (the environment variable first)."""
    if environ.get(KEY_FILE_ENV):
        return Path(environ[KEY_FILE_ENV])
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).parent / DEFAULT_KEY_FILE
    return Path(DEFAULT_KEY_FILE)


def private_key_text(signer: Signer) -> str:
    seed = signer.private.private_bytes_raw()
    material = base64.b64encode(bytes([signer.kind]) + seed).decode()
    return f"{_PRIVATE_PREFIX}{signer.name}+{signer.verifier.id.hex()}+{material}\n"


def parse_private_key(text: str) -> Signer:
    if not text.startswith(_PRIVATE_PREFIX):
        raise NoteError("a private key starts with PRIVATE+KEY+")
    parts = text.strip()[len(_PRIVATE_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise NoteError("a private key is PRIVATE+KEY+<name>+<key id>+<key>")
    name, hex_id, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
        given = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the private key's id or key is not hex or base64") from exc
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError("not an Ed25519 private key")
    signer = Signer.from_seed(name, raw[1:], raw[0])
    if signer.verifier.id != given:
        raise NoteError("the private key's id does not match its name and key")
    return signer


def default_origin() -> str:
    """An origin naming this machine, for a key created without one."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"
    return f"{host}/fpic-trail"


def create_key_file(path: Path, origin: str, kind: int = ED25519) -> Signer:
    """Write a new private key to ``path``, readable by its owner only; never overwrites."""
    signer = Signer.generate(origin, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(private_key_text(signer))
    return signer


def load_key_file(path: Path) -> Signer:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyMissing(str(path)) from None
    except UnicodeDecodeError as exc:
        raise NoteError(f"{path} is not a private key") from exc
    return parse_private_key(text)


def log_signer(database_url: str, environ: Mapping[str, str] = os.environ) -> Signer:
    """The installation's log key, as configured."""
    if environ.get(KEY_ENV):
        return parse_private_key(environ[KEY_ENV])
    return load_key_file(key_file(database_url, environ))


def ensure_log_key(
    database_url: str, origin: str | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[Signer, bool]:
    """The log key, created in its file first if there is none; and whether it was created."""
    try:
        return log_signer(database_url, environ), False
    except KeyMissing as missing:
        return create_key_file(Path(missing.where), origin or default_origin()), True


# --- checkpoints -----------------------------------------------------------------------------


class ForkedLog(ValueError):
    """The log's stored checkpoint for a size names another root than the log has now."""


def issue(db: Database, signer: Signer, now: datetime) -> str:
    """The signed checkpoint of the log as it stands, with every cosignature stored for it;
    stored the first time it is issued (one per size)."""
    size = 0
    try:
        with db.write_session() as session, session.begin():
            size = log.head(session).size
            stored = _stored_note(session, size)
            if stored is None:
                root = log.root_at(session, size)
                note = sign_checkpoint(Checkpoint(signer.name, size, root), signer)
                session.add(IssuedCheckpoint(size=size, issued_at=now, note=note))
                return note
    except IntegrityError:  # another worker issued this size first
        with db.read_session() as session:
            stored = _stored_note(session, size)
    assert stored is not None
    _check_unforked(db, signer, stored, size)
    return stored


def _check_unforked(db: Database, signer: Signer, note: str, size: int) -> None:
    checkpoint = open_checkpoint(note, signer.verifier)
    with db.read_session() as session:
        if log.root_at(session, size) != checkpoint.root:
            raise ForkedLog(f"the checkpoint issued for {size} events names another root")


def _stored_note(session: Session, size: int) -> str | None:
    note = session.scalar(select(IssuedCheckpoint.note).where(IssuedCheckpoint.size == size))
    if note is None:
        return None
    lines = session.scalars(
        select(Cosignature.line).where(Cosignature.size == size).order_by(Cosignature.witness)
    ).all()
    return note + "".join(lines)


def latest_checkpoint(session: Session) -> str | None:
    size = session.scalar(select(IssuedCheckpoint.size).order_by(IssuedCheckpoint.size.desc()))
    return None if size is None else _stored_note(session, size)


def add_cosignatures(
    db: Database, note: str, log_key: Verifier, witnesses: list[Verifier], now: datetime
) -> list[str]:
    """Keep the cosignatures of known witnesses on a checkpoint this log issued; returns the
    names of the known witnesses whose cosignature verifies (kept now, or already). A
    cosignature that does not verify, or one on a checkpoint the log never issued, is refused
    (NoteError)."""
    checkpoint = open_checkpoint(note, log_key)
    added = []
    with db.write_session() as session, session.begin():
        issued = session.scalar(
            select(IssuedCheckpoint.note).where(IssuedCheckpoint.size == checkpoint.size)
        )
        if issued is None or split_note(issued)[0] != checkpoint.text:
            raise NoteError("this log issued no such checkpoint")
        _text, signatures = split_note(note)
        for witness in witnesses:
            if cosigned_at(note, witness) is None:
                continue
            label = f"{witness.name}+{witness.id.hex()}"
            added.append(witness.name)  # kept now, or kept already: a witness may send again
            line = next(
                _line(s.name, s.id + s.signature)
                for s in signatures
                if (s.name, s.id) == (witness.name, witness.id)
            )
            if session.get(Cosignature, (checkpoint.size, label)) is None:
                session.add(
                    Cosignature(size=checkpoint.size, witness=label, line=line, added_at=now)
                )
    return added


def _line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint opened with the log's key, and the known witnesses that cosigned it."""

    checkpoint: Checkpoint
    cosigned_by: list[str]


def open_witnessed(
    note: str, log_key: Verifier, witnesses: list[Verifier], quorum: int = 0
) -> Witnessed:
    """The checkpoint, once the log's signature verifies and at least ``quorum`` of the known
    ``witnesses`` cosigned it (a cosignature that does not verify is refused outright)."""
    checkpoint = open_checkpoint(note, log_key)
    cosigned = [w.name for w in witnesses if cosigned_at(note, w) is not None]
    if len(cosigned) < quorum:
        raise NoteError(
            f"{len(cosigned)} of the known witnesses cosigned this checkpoint; {quorum} needed"
        )
    return Witnessed(checkpoint, cosigned)


# --- proofs as text --------------------------------------------------------------------------


def proof_text(index: int, proof: list[bytes], note: str, extra: bytes | None = None) -> str:
    """A c2sp.org/tlog-proof: that leaf ``index`` is in the checkpointed tree."""
    lines = [PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {base64.b64encode(extra).decode()}")
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + note


@dataclass(frozen=True)
class InclusionProof:
    extra: bytes | None
    index: int
    proof: list[bytes]
    note: str


_NUMBER = re.compile(r"0|[1-9][0-9]*")


def _hash_line(line: str) -> bytes:
    try:
        digest = base64.b64decode(line, validate=True)
    except binascii.Error as exc:
        raise NoteError(f"not a base64 hash: {line[:50]!r}") from exc
    if len(digest) != 32:
        raise NoteError("a proof's hashes are 32 bytes each")
    return digest


def parse_proof(text: str) -> InclusionProof:
    text = text.replace("\r\n", "\n")
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise NoteError("a tlog proof is its lines, a blank line, then the checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise NoteError(f"a tlog proof starts with {PROOF_HEADER}")
    position, extra = 1, None
    if len(lines) > 1 and lines[1].startswith("extra "):
        try:
            extra = base64.b64decode(lines[1][6:], validate=True)
        except binascii.Error as exc:
            raise NoteError("the extra line is not base64") from exc
        position = 2
    if len(lines) <= position or not lines[position].startswith("index "):
        raise NoteError("a tlog proof names the leaf's index")
    number = lines[position][6:]
    if not _NUMBER.fullmatch(number):
        raise NoteError("the index is a decimal number without leading zeros")
    proof = [_hash_line(line) for line in lines[position + 1 :]]
    return InclusionProof(extra, int(number), proof, note)


def consistency_text(first: int, second: int, proof: list[bytes]) -> str:
    lines = [CONSISTENCY_HEADER, f"old {first}", f"new {second}"]
    lines += [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[bytes]


def parse_consistency(text: str) -> ConsistencyProof:
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if lines[0] != CONSISTENCY_HEADER:
        raise NoteError(f"a consistency proof starts with {CONSISTENCY_HEADER}")
    sizes = []
    for line, word in zip(lines[1:3], ("old", "new"), strict=False):
        if not line.startswith(word + " ") or not _NUMBER.fullmatch(line[len(word) + 1 :]):
            raise NoteError(f"a consistency proof's line '{word} <tree size>' is missing")
        sizes.append(int(line[len(word) + 1 :]))
    if len(sizes) != 2:
        raise NoteError("a consistency proof names the old and the new tree size")
    return ConsistencyProof(sizes[0], sizes[1], [_hash_line(line) for line in lines[3:]])


def check_inclusion(leaf: bytes, proof: InclusionProof, checkpoint: Checkpoint) -> bool:
    return merkle.verify_inclusion(leaf, proof.index, checkpoint.size, proof.proof, checkpoint.root)


def check_consistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof) -> bool:
    if (proof.first, proof.second) != (old.size, new.size):
        return False
    return merkle.verify_consistency(old.size, new.size, old.root, new.root, proof.proof)


def roots_of(digests: Iterable[object], sizes: Iterable[int]) -> dict[int, bytes | None]:
    """The root of the tree over the first n events' hashes (given in log order) for each n
    in ``sizes``; None for a size beyond the events given or past a value that is not a hash."""
    wanted = sorted(set(sizes))
    roots: dict[int, bytes | None] = dict.fromkeys(wanted)
    frontier = log.Frontier(0, [])
    if 0 in roots:
        roots[0] = frontier.root
    for digest in digests:
        if not wanted or frontier.size >= wanted[-1]:
            break
        if not isinstance(digest, str) or not _HEX_HASH.fullmatch(digest):
            break
        frontier.append(bytes.fromhex(digest))
        if frontier.size in roots:
            roots[frontier.size] = frontier.root
    return roots


_HEX_HASH = re.compile(r"[0-9a-f]{64}")
