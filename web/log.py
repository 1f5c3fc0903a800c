"""The trail's Merkle log on the web: the signed checkpoint and consistency proofs for anyone
(witnesses read them over HTTP), an event's inclusion proof for whoever may read the event,
witnesses' cosignatures, and the page that checks a community's receipt in the reader's
language (docs/audit-format.md, section 16)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext

from fpic.read.events import trail_event
from fpic.trail import checkpoints, log, receipts
from fpic.trail.notes import Checkpoint, NoteError, Signer, Verifier, split_note
from web.auth import PUBLIC, requires
from web.context import actor, engine, int_arg

bp = Blueprint("log", __name__, url_prefix="/audit")

#: the longest receipt or cosigned checkpoint read (a receipt of a log of 2^40 events is ~3 KB)
MAX_TEXT = 64 * 1024


def log_signer() -> Signer | None:
    """The installation's log key, or None while it has none (fpic init-db makes it)."""
    try:
        return checkpoints.log_signer(engine().db.url)
    except (checkpoints.KeyMissing, NoteError, OSError):
        return None


def known_witnesses() -> list[Verifier]:
    """The witnesses whose cosignatures this installation keeps: the public keys, one per line,
    in the file FPIC_LOG_WITNESSES names."""
    path = current_app.config.get("FPIC_LOG_WITNESSES") or os.environ.get("FPIC_LOG_WITNESSES")
    if not path:
        return []
    lines = Path(path).read_text(encoding="ascii").splitlines()
    return [Verifier.parse(line) for line in lines if line.strip() and not line.startswith("#")]


def _text(body: str, status: int = 200) -> Response:
    return Response(
        body, status=status, mimetype="text/plain", headers={"Cache-Control": "no-store"}
    )


def _no_key() -> Response:
    return _text(gettext("This installation has no log key yet: run fpic init-db.") + "\n", 503)


def current_note(signer: Signer) -> str:
    """The checkpoint of the log as it stands; a log that no longer matches a checkpoint it
    issued gets no new one, and the page says why (the trail was rewritten: an auditor's
    business, not an error of the page)."""
    try:
        return checkpoints.issue(engine().db, signer, engine().clock.now())
    except checkpoints.ForkedLog:
        message = gettext(
            "The log no longer matches a checkpoint it issued: the trail was rewritten. No "
            "checkpoint or receipt is issued; tell the auditors."
        )
        abort(_text(message + "\n", 503))


@bp.route("/checkpoint")
@requires(PUBLIC)
def checkpoint() -> Any:
    """The log's signed checkpoint as it stands (c2sp.org/tlog-checkpoint), with the
    cosignatures kept for it."""
    signer = log_signer()
    if signer is None:
        return _no_key()
    return _text(current_note(signer))


@bp.route("/key")
@requires(PUBLIC)
def key() -> Any:
    """The log's public key (a C2SP verifier key)."""
    signer = log_signer()
    if signer is None:
        return _no_key()
    return _text(signer.verifier.vkey + "\n")


@bp.route("/consistency")
@requires(PUBLIC)
def consistency() -> Any:
    """That the log of ``old`` events is the start of the log of ``new`` events."""
    old, new = int_arg("old"), int_arg("new")
    if old is None or new is None:
        abort(400)
    with engine().db.read_session() as db:
        try:
            proof = log.consistency_proof(db, old, new)
        except log.LogError as exc:
            return _text(str(exc) + "\n", 404)
    return _text(checkpoints.consistency_text(old, new, proof))


@bp.route("/proof/<chain>/<int:seq>")
@requires("trail:read")
def proof(chain: str, seq: int) -> Any:
    """An event's inclusion proof in the current checkpoint, shaped as a receipt, for whoever
    may read the event (404 for everyone else, as for an event that does not exist)."""
    signer = log_signer()
    if signer is None:
        return _no_key()
    note = current_note(signer)
    with engine().db.read_session() as db:
        if trail_event(db, actor(), chain, seq) is None:
            abort(404)
        return _text(receipts.receipt_for(db, chain, seq, note, signer.verifier))


@bp.route("/cosignature", methods=["POST"])
@requires(PUBLIC)
def cosignature() -> Any:
    """A witness gives back a checkpoint it cosigned; the log keeps the cosignatures of the
    witnesses it knows (FPIC_LOG_WITNESSES) that verify."""
    signer = log_signer()
    if signer is None:
        return _no_key()
    body = request.get_data(cache=False, as_text=False)[:MAX_TEXT]
    try:
        added = checkpoints.add_cosignatures(
            engine().db,
            body.decode("utf-8"),
            signer.verifier,
            known_witnesses(),
            engine().clock.now(),
        )
    except (NoteError, UnicodeDecodeError) as exc:
        return _text(str(exc) + "\n", 400)
    if not added:
        return _text("no cosignature of a witness this log knows\n", 400)
    return _text("kept: " + ", ".join(added) + "\n")


@bp.route("/receipt", methods=["GET", "POST"])
@requires(PUBLIC)
def receipt() -> Any:
    """Check a receipt (typed, pasted, or in the link its QR code holds) against the log as it
    stands, and say in the reader's language what holds."""
    text = _receipt_asked()
    if text is None:
        return render_template("log/receipt.html", found=None, text="")
    signer = log_signer()
    if signer is None:
        return _no_key()
    note = current_note(signer)
    current = Checkpoint.parse(split_note(note)[0])
    with engine().db.read_session() as db:
        found = receipts.check_against_log(db, text, signer.verifier, current, known_witnesses())
    status = 200 if found.holds else 422
    return render_template(
        "log/receipt.html",
        found=found,
        text=text,
        verdict=gettext(receipts.VERDICTS[found.verdict]),
    ), status


def _receipt_asked() -> str | None:
    if request.method == "POST":
        text = request.form.get("receipt", "")
    elif request.args.get("r"):
        try:
            text = receipts.unpack_link_value(request.args["r"][: MAX_TEXT * 2])
        except NoteError:
            text = request.args["r"]
    else:
        return None
    text = text.replace("\r\n", "\n")
    if len(text) > MAX_TEXT:
        abort(413)
    return text if text.endswith("\n") else text + "\n"


def record_receipts(decisions: dict[int, int], case_id: int) -> tuple[dict[int, Any], str | None]:
    """For the printable record: each decision's receipt in the current checkpoint, its link
    and QR code; and the log's public key (None, with no receipts, while there is no key)."""
    signer = log_signer()
    if signer is None or not decisions:
        return {}, signer.verifier.vkey if signer else None
    note = current_note(signer)
    base = url_for("log.receipt", _external=True)
    chain = f"case:{case_id}"
    title = gettext("QR code of the decision's receipt")
    found = {}
    with engine().db.read_session() as db:
        for decision_id, seq in decisions.items():
            text = receipts.receipt_for(db, chain, seq, note, signer.verifier)
            link = receipts.receipt_link(base, text)
            found[decision_id] = {"text": text, "link": link, "qr": receipts.qr_svg(link, title)}
    return found, signer.verifier.vkey
