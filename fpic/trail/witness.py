"""A witness: someone outside the installation (an auditor, a lender, the community's
advisor) who cosigns a checkpoint only once it has checked that the log only grew since the
last checkpoint it cosigned (c2sp.org/tlog-witness's rule, run by hand or from cron).

Its state is a directory: ``witness.key`` (its private key, cosignature type 0x04), the log's
public key it was told to follow (``log.vkey``) and the last checkpoint it cosigned
(``checkpoint``). It reads checkpoints and consistency proofs from files or from the log's
pages (``/audit/checkpoint`` and ``/audit/consistency``) over HTTP.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fpic.trail.checkpoints import (
    check_consistency,
    create_key_file,
    load_key_file,
    parse_consistency,
)
from fpic.trail.notes import COSIGNATURE_V1, Checkpoint, NoteError, Signer, Verifier, cosign
from fpic.trail.notes import open_checkpoint as _open

KEY_FILE = "witness.key"
LOG_KEY_FILE = "log.vkey"
LAST_FILE = "checkpoint"
_MAX_BYTES = 1 << 20


class Refused(ValueError):
    """The witness will not cosign; ``kind`` says why: forked (two checkpoints for one size, or
    a smaller one), inconsistent (the proof does not join the two), unsigned (not the log's
    signature), unreachable (the source cannot be read)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Witness:
    directory: Path
    signer: Signer
    log_key: Verifier

    @property
    def last_note(self) -> str | None:
        path = self.directory / LAST_FILE
        return path.read_text(encoding="utf-8") if path.exists() else None

    @property
    def last(self) -> Checkpoint | None:
        note = self.last_note
        return None if note is None else _open(note, self.log_key)


def create(directory: Path, name: str, log_vkey: str) -> Witness:
    """A new witness named ``name`` that follows the log whose public key is ``log_vkey``."""
    log_key = Verifier.parse(log_vkey)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / KEY_FILE).exists():
        raise FileExistsError(str(directory / KEY_FILE))
    signer = create_key_file(directory / KEY_FILE, name, COSIGNATURE_V1)
    (directory / LOG_KEY_FILE).write_text(log_key.vkey + "\n", encoding="ascii")
    return Witness(directory, signer, log_key)


def load(directory: Path) -> Witness:
    signer = load_key_file(directory / KEY_FILE)
    if signer.kind != COSIGNATURE_V1:
        raise NoteError("a witness's key is of type 0x04 (tlog-cosignature)")
    log_key = Verifier.parse((directory / LOG_KEY_FILE).read_text(encoding="ascii"))
    return Witness(directory, signer, log_key)


def read_source(source: str) -> str:
    """A file's text, or a page's (http or https)."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=30) as response:
                body: bytes = response.read(_MAX_BYTES)
                return body.decode("utf-8")
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
            raise Refused("unreachable", f"{source}: {exc}") from exc
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused("unreachable", f"{source}: {exc}") from exc


def consistency_source(log_url: str, old: int, new: int) -> str:
    query = urllib.parse.urlencode({"old": old, "new": new})
    return f"{log_url.rstrip('/')}/audit/consistency?{query}"


def cosign_next(witness: Witness, note: str, consistency: str | None, now: int) -> str:
    """The checkpoint ``note`` cosigned, once it extends the last one cosigned; the state moves
    on to it. ``consistency`` is the proof's text (needless for the first checkpoint and for
    the same one again)."""
    try:
        new = _open(note, witness.log_key)
    except NoteError as exc:
        raise Refused("unsigned", str(exc)) from exc
    last = witness.last
    if last is not None:
        if new.size < last.size or (new.size == last.size and new.root != last.root):
            raise Refused(
                "forked",
                f"the log signed a checkpoint of {new.size} events that does not extend the "
                f"one of {last.size} this witness cosigned",
            )
        if new.size > last.size:
            if consistency is None:
                raise Refused("inconsistent", "a consistency proof is needed")
            try:
                proof = parse_consistency(consistency)
            except NoteError as exc:
                raise Refused("inconsistent", str(exc)) from exc
            if (proof.first, proof.second) != (last.size, new.size):
                raise Refused(
                    "inconsistent",
                    f"the consistency proof is from {proof.first} to {proof.second} events, "
                    f"not from {last.size} to {new.size}",
                )
            if not check_consistency(last, new, proof):
                raise Refused(
                    "forked",
                    f"the checkpoint of {new.size} events is not the one of {last.size} "
                    "with events added",
                )
    cosigned = cosign(note, witness.signer, now)
    state = witness.directory / LAST_FILE
    spare = state.with_suffix(".new")
    spare.write_text(cosigned, encoding="utf-8")
    spare.replace(state)
    return cosigned


def submit(log_url: str, cosigned: str) -> None:
    """Give the log the cosigned checkpoint (its /audit/cosignature page keeps it)."""
    request = urllib.request.Request(
        f"{log_url.rstrip('/')}/audit/cosignature",
        data=cosigned.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read(_MAX_BYTES)
    except urllib.error.HTTPError as exc:
        raise Refused(
            "unreachable", f"{log_url}: {exc.code} {exc.read(2000).decode(errors='replace')}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Refused("unreachable", f"{log_url}: {exc}") from exc
