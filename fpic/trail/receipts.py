"""A community's receipt for a decision: a c2sp.org/tlog-proof that the decision's event is in
the log, whose ``extra`` names the event (docs/audit-format.md, section 16.6).

Offline, a receipt shows with the log's public key alone that the event with this hash is leaf
``index`` of a checkpoint the installation signed (and that known witnesses cosigned it).
Against the log as it is now, it also shows that the event is still there unchanged and that
the log only grew since the receipt was printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass, field

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.i18n import N_
from fpic.storage.models import TrailEvent
from fpic.trail import log
from fpic.trail.audit import canonical_json
from fpic.trail.checkpoints import (
    InclusionProof,
    check_inclusion,
    open_witnessed,
    parse_proof,
    proof_text,
)
from fpic.trail.merkle import verify_consistency
from fpic.trail.notes import Checkpoint, NoteError, Verifier

_HASH = re.compile(r"[0-9a-f]{64}")
_CHAIN = re.compile(r"system|access|case:[1-9][0-9]*")

#: what a check found, and how the web page and the command say it in the reader's language
VERDICTS = {
    "in_log": N_("This decision is in the log, unchanged."),
    "unreadable": N_("This is not a receipt fpic can read."),
    "not_signed": N_("The receipt's checkpoint is not signed by this log's key."),
    "not_included": N_("The receipt's proof does not lead to its checkpoint: it was altered."),
    "missing": N_("The decision on this receipt is no longer in the log."),
    "changed": N_("The decision in the log is not the one on this receipt: it was changed."),
    "relabelled": N_(
        "The receipt names another event than the one its proof is for: it was altered."
    ),
    "forked": N_("The log now is not the log of this receipt with events added: it was rewritten."),
}


@dataclass(frozen=True)
class ReceiptEvent:
    chain: str
    seq: int
    hash: str


def receipt_extra(chain: str, seq: int, digest: str) -> bytes:
    return canonical_json({"chain": chain, "hash": digest, "seq": seq}).encode()


def receipt_for(session: Session, chain: str, seq: int, note: str, log_key: Verifier) -> str:
    """The receipt of event ``seq`` of ``chain`` in the checkpoint ``note`` (the log's own)."""
    checkpoint = open_witnessed(note, log_key, []).checkpoint
    digest = session.scalar(
        select(TrailEvent.hash).where(TrailEvent.chain == chain, TrailEvent.seq == seq)
    )
    if digest is None:
        raise log.LogError(f"no event {seq} of chain {chain}")
    index = log.leaf_index(session, chain, seq)
    proof = log.inclusion_proof(session, index, checkpoint.size)
    return proof_text(index, proof, note, receipt_extra(chain, seq, digest))


def _event_of(proof: InclusionProof) -> ReceiptEvent:
    try:
        named = json.loads(proof.extra or b"")
    except ValueError as exc:
        raise NoteError("the receipt's extra line does not name an event") from exc
    if not isinstance(named, dict) or set(named) != {"chain", "seq", "hash"}:
        raise NoteError("the receipt's extra line names chain, seq and hash")
    chain, seq, digest = named["chain"], named["seq"], named["hash"]
    if not (
        isinstance(chain, str)
        and _CHAIN.fullmatch(chain)
        and type(seq) is int
        and seq >= 1
        and isinstance(digest, str)
        and _HASH.fullmatch(digest)
    ):
        raise NoteError("the receipt's event is not a chain, a sequence number and a hash")
    return ReceiptEvent(chain, seq, digest)


@dataclass
class ReceiptCheck:
    """What checking a receipt found. ``verdict`` is the first thing that failed (VERDICTS),
    or ``in_log``; the other fields say what was read, as far as it was read."""

    verdict: str = "unreadable"
    problem: str = ""
    event: ReceiptEvent | None = None
    index: int | None = None
    checkpoint: Checkpoint | None = None
    cosigned_by: list[str] = field(default_factory=list)
    #: checked against the log as it stands (None: checked offline only)
    current_size: int | None = None
    #: the stored event's action, outcome and time, when it was found unchanged
    recorded: dict[str, str] | None = None

    @property
    def holds(self) -> bool:
        return self.verdict == "in_log"


def check_offline(
    text: str, log_key: Verifier, witnesses: list[Verifier] | None = None, quorum: int = 0
) -> ReceiptCheck:
    """Signature, cosignatures and inclusion: what the receipt alone proves."""
    found = ReceiptCheck()
    try:
        proof = parse_proof(text)
        found.event, found.index = _event_of(proof), proof.index
    except NoteError as exc:
        found.problem = str(exc)
        return found
    try:
        witnessed = open_witnessed(proof.note, log_key, witnesses or [], quorum)
    except NoteError as exc:
        found.verdict, found.problem = "not_signed", str(exc)
        return found
    found.checkpoint, found.cosigned_by = witnessed.checkpoint, witnessed.cosigned_by
    if not check_inclusion(bytes.fromhex(found.event.hash), proof, witnessed.checkpoint):
        found.verdict = "not_included"
        found.problem = "the inclusion proof does not lead to the checkpoint's root"
        return found
    found.verdict = "in_log"
    return found


def check_against_log(
    session: Session,
    text: str,
    log_key: Verifier,
    current: Checkpoint,
    witnesses: list[Verifier] | None = None,
    quorum: int = 0,
) -> ReceiptCheck:
    """The offline checks, then: the event is still stored with the receipt's hash at the same
    place in the log, and the log of ``current`` (a checkpoint the caller opened) extends the
    receipt's."""
    found = check_offline(text, log_key, witnesses, quorum)
    if not found.holds:
        return found
    assert found.event is not None
    assert found.checkpoint is not None
    found.current_size = current.size
    event = found.event
    # the proof binds the hash to the place, not the chain and number the extra names:
    # a receipt whose extra names another event than the one at its place was altered
    at_place = log.leaf_event(session, found.index) if found.index is not None else None
    if (
        at_place is not None
        and at_place[2] == event.hash
        and at_place[:2]
        != (
            event.chain,
            event.seq,
        )
    ):
        found.verdict = "relabelled"
        found.problem = f"the proof is for event {at_place[1]} of chain {at_place[0]}"
        return found
    stored = session.execute(
        select(TrailEvent.hash, TrailEvent.action, TrailEvent.outcome, TrailEvent.at).where(
            TrailEvent.chain == event.chain, TrailEvent.seq == event.seq
        )
    ).one_or_none()
    if stored is None:
        found.verdict = "missing"
        found.problem = f"the log has no event {event.seq} of chain {event.chain}"
        return found
    try:
        index = log.leaf_index(session, event.chain, event.seq)
    except log.LogError:
        index = None
    if stored.hash != event.hash or index != found.index:
        found.verdict = "changed"
        found.problem = "the stored event is not the one the receipt names"
        return found
    found.recorded = {"action": stored.action, "outcome": stored.outcome, "at": stored.at}
    if found.checkpoint.size > current.size:
        return _forked(found)
    proof = log.consistency_proof(session, found.checkpoint.size, current.size)
    return check_growth(found, current, proof)


def check_growth(found: ReceiptCheck, current: Checkpoint, proof: list[bytes]) -> ReceiptCheck:
    """That the log of ``current`` is the receipt's log with events added (a receipt that
    held offline)."""
    assert found.checkpoint is not None
    old = found.checkpoint
    found.current_size = current.size
    if old.size > current.size or not verify_consistency(
        old.size, current.size, old.root, current.root, proof
    ):
        return _forked(found)
    return found


def _forked(found: ReceiptCheck) -> ReceiptCheck:
    found.verdict = "forked"
    found.problem = "the log now is not the receipt's log with events added"
    return found


# --- the QR code -----------------------------------------------------------------------------


def receipt_link(base_url: str, text: str) -> str:
    """The verification page's address with the receipt in it (zlib, base64url)."""
    packed = base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")
    return f"{base_url}?r={packed}"


def unpack_link_value(value: str) -> str:
    """The receipt a link's ``r`` value holds; NoteError if it holds none."""
    try:
        packed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return zlib.decompressobj().decompress(packed, 64 * 1024).decode()
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError) as exc:
        raise NoteError("the link holds no receipt") from exc


def qr_svg(content: str, title: str) -> str:
    """An SVG QR code (error correction M), to print: scaled by the page, drawn as one path;
    ``title`` is what a screen reader says of it."""
    return segno.make(content, error="m", micro=False).svg_inline(
        scale=1, omitsize=True, svgclass="receipt-qr", lineclass=None, title=title
    )
