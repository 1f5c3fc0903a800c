"""The commands of the trail's Merkle log: the installation's key, checkpoints, proofs, receipts
and witnesses (docs/audit-format.md, section 16). Everything a verifier runs here reads files
alone, unless it says it reads the database."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from fpic.cli_base import Context, _, pass_context
from fpic.trail import audit, checkpoints, log, receipts, witness
from fpic.trail.notes import Checkpoint, NoteError, Signer, Verifier, split_note
from fpic.workflow.clock import SystemClock


def _signer(ctx: Context) -> Signer:
    try:
        return checkpoints.log_signer(ctx.db.url)
    except checkpoints.KeyMissing as missing:
        raise click.ClickException(
            _(
                "There is no log key at %(where)s: run fpic init-db, or set %(env)s or "
                "%(file_env)s.",
                where=missing.where,
                env=checkpoints.KEY_ENV,
                file_env=checkpoints.KEY_FILE_ENV,
            )
        ) from None
    except NoteError as exc:
        raise click.ClickException(
            _("The log key cannot be read: %(problem)s", problem=str(exc))
        ) from exc


def ensure_key(ctx: Context, origin: str | None) -> None:
    """Create the installation's log key if it has none, and say where it is."""
    try:
        signer, created = checkpoints.ensure_log_key(ctx.db.url, origin)
    except (NoteError, OSError) as exc:
        raise click.ClickException(
            _("The log key cannot be made: %(problem)s", problem=str(exc))
        ) from exc
    where = checkpoints.key_file(ctx.db.url)
    if created:
        click.echo(_("Log key created in %(file)s (keep it secret, and back it up).", file=where))
    click.echo(_("Log public key: %(vkey)s", vkey=signer.verifier.vkey))


def _text(path: Path | str) -> str:
    try:
        if str(path) == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc


def _vkey(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Verifier | None:
    if value is None:
        return None
    try:
        return Verifier.parse(_text(value[1:]) if value.startswith("@") else value)
    except NoteError as exc:
        raise click.BadParameter(str(exc)) from exc


def _vkeys(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Verifier]:
    return [key for key in (_vkey(ctx, param, v) for v in values) if key is not None]


#: a file a command reads (a checkpoint, a proof)
A_FILE = click.Path(dir_okay=False, path_type=Path)

LOG_KEY = click.option(
    "--log-key",
    "log_key",
    metavar="VKEY",
    callback=_vkey,
    help="The log's public key (fpic audit key), or @FILE holding it.",
)
WITNESSES = click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="VKEY",
    callback=_vkeys,
    help="A witness's public key, or @FILE (repeatable).",
)
QUORUM = click.option(
    "--quorum",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="How many of the --witness keys must have cosigned each checkpoint.",
)


@click.command("key")
@pass_context
def audit_key(ctx: Context) -> None:
    """Print the log's public key (a C2SP verifier key): give it to whoever verifies."""
    click.echo(_signer(ctx).verifier.vkey)


@click.command("checkpoint")
@pass_context
def audit_checkpoint(ctx: Context) -> None:
    """Print the log's signed checkpoint (C2SP tlog-checkpoint) as it stands, and keep it."""
    try:
        click.echo(checkpoints.issue(ctx.db, _signer(ctx), SystemClock().now()), nl=False)
    except checkpoints.ForkedLog as exc:
        raise click.ClickException(str(exc)) from exc


def _opened(note: str, log_key: Verifier, witnesses: list[Verifier], quorum: int) -> Checkpoint:
    return _witnessed(note, log_key, witnesses, quorum).checkpoint


def _witnessed(
    note: str, log_key: Verifier, witnesses: list[Verifier], quorum: int
) -> checkpoints.Witnessed:
    try:
        return checkpoints.open_witnessed(note, log_key, witnesses, quorum)
    except NoteError as exc:
        raise click.ClickException(
            _("The checkpoint does not verify: %(problem)s", problem=str(exc))
        ) from exc


@click.command("prove")
@click.option("--case", "case_id", type=int, help="The event's case (its chain case:ID).")
@click.option("--chain", help="The event's chain: system, access or case:ID.")
@click.option("--seq", type=click.IntRange(min=1), help="The event's sequence number.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=A_FILE,
    help="Prove inclusion in this checkpoint (default: a new one of the log as it stands).",
)
@click.option(
    "--old",
    "old_file",
    type=A_FILE,
    help="With --new: prove that this checkpoint's log is the start of --new's.",
)
@click.option("--new", "new_file", type=A_FILE)
@pass_context
def audit_prove(
    ctx: Context,
    case_id: int | None,
    chain: str | None,
    seq: int | None,
    checkpoint_file: Path | None,
    old_file: Path | None,
    new_file: Path | None,
) -> None:
    """Print an inclusion proof of an event (C2SP tlog-proof, naming the event in its extra
    line), or a consistency proof between two checkpoints (--old, --new)."""
    signer = _signer(ctx)
    if old_file is not None or new_file is not None:
        if old_file is None or new_file is None:
            raise click.UsageError(_("A consistency proof needs both --old and --new."))
        old = _opened(_text(old_file), signer.verifier, [], 0)
        new = _opened(_text(new_file), signer.verifier, [], 0)
        with ctx.db.read_session() as session:
            try:
                proof = log.consistency_proof(session, old.size, new.size)
            except log.LogError as exc:
                raise click.ClickException(str(exc)) from exc
        click.echo(checkpoints.consistency_text(old.size, new.size, proof), nl=False)
        return
    if (case_id is None) == (chain is None) or seq is None:
        raise click.UsageError(_("Name the event: --case or --chain, and --seq."))
    chain = audit.case_chain(case_id) if case_id is not None else chain
    assert chain is not None
    if checkpoint_file is not None:
        note = _text(checkpoint_file)
        _opened(note, signer.verifier, [], 0)
    else:
        note = checkpoints.issue(ctx.db, signer, SystemClock().now())
    with ctx.db.read_session() as session:
        try:
            click.echo(receipts.receipt_for(session, chain, seq, note, signer.verifier), nl=False)
        except log.LogError as exc:
            raise click.ClickException(str(exc)) from exc


def verify_log_files(
    export_file: Path | None,
    log_key: Verifier,
    checkpoint_files: tuple[Path, ...],
    proof_file: Path | None,
    consistency_file: Path | None,
    witnesses: list[Verifier],
    quorum: int,
) -> None:
    """``fpic audit verify`` with the log's key: checkpoints' signatures (and their known
    witnesses' cosignatures), an inclusion proof, a consistency proof between the two
    checkpoints given, and that an export's events, in its order, make each checkpoint's tree.
    From files alone; exits 1 at the first failure."""
    witnessed = sorted(
        (_witnessed(_text(f), log_key, witnesses, quorum) for f in checkpoint_files),
        key=lambda w: w.checkpoint.size,
    )
    for one in witnessed:
        click.echo(_("Checkpoint of %(size)s events: signed by the log.", size=one.checkpoint.size))
        if one.cosigned_by:
            click.echo(_("Cosigned by: %(names)s.", names=", ".join(one.cosigned_by)))
    opened = [one.checkpoint for one in witnessed]
    if proof_file is not None:
        _verify_inclusion(_text(proof_file), log_key, witnesses, quorum)
    if consistency_file is not None:
        _verify_consistency(_text(consistency_file), opened)
    if export_file is not None and opened:
        _verify_export_trees(export_file, opened)


def _fail(message: str) -> None:
    click.echo(_("FAILED: %(problem)s", problem=message), err=True)
    sys.exit(1)


def _verify_inclusion(text: str, log_key: Verifier, witnesses: list[Verifier], quorum: int) -> None:
    found = receipts.check_offline(text, log_key, witnesses, quorum)
    if not found.holds:
        _fail(found.problem)
    assert found.event is not None
    assert found.checkpoint is not None
    click.echo(
        _(
            "Inclusion: event %(seq)s of %(chain)s (hash %(hash)s) is leaf %(index)s of the "
            "checkpoint of %(size)s events.",
            seq=found.event.seq,
            chain=found.event.chain,
            hash=found.event.hash,
            index=found.index,
            size=found.checkpoint.size,
        )
    )


def _verify_consistency(text: str, opened: list[Checkpoint]) -> None:
    if len(opened) != 2:
        raise click.UsageError(_("A consistency proof is checked between two --checkpoint files."))
    try:
        proof = checkpoints.parse_consistency(text)
    except NoteError as exc:
        _fail(str(exc))
        return
    old, new = opened
    if not checkpoints.check_consistency(old, new, proof):
        _fail(
            _(
                "the checkpoint of %(new)s events does not extend the one of %(old)s: the log "
                "was rewritten or forked.",
                new=new.size,
                old=old.size,
            )
        )
    click.echo(
        _(
            "Consistency: the log of %(new)s events is the log of %(old)s with events added.",
            new=new.size,
            old=old.size,
        )
    )


def _verify_export_trees(path: Path, opened: list[Checkpoint]) -> None:
    try:
        with path.open(encoding="utf-8", newline="\n") as stream:
            rows = audit.read_export(stream)
            roots = checkpoints.roots_of(
                (row.get("hash") for row in rows), (c.size for c in opened)
            )
    except (OSError, UnicodeDecodeError, audit.ExportFormatError) as exc:
        raise click.ClickException(str(exc)) from exc
    for checkpoint in opened:
        if roots[checkpoint.size] != checkpoint.root:
            _fail(
                _(
                    "the first %(size)s events of the export do not make the checkpoint's "
                    "tree: an event was changed, left out, added or put out of the log's order.",
                    size=checkpoint.size,
                )
            )
        click.echo(
            _(
                "Export: its first %(size)s events make the tree the checkpoint signs.",
                size=checkpoint.size,
            )
        )


def verify_stored_log(session: Session, events: int) -> str:
    """The database's log against its events: one leaf per event, in the stored order, making
    the tree whose frontier the log's head keeps; what to tell. Exits 1 if not."""
    head = log.head(session)
    with click.progressbar(length=head.size, label=_("Verifying the log"), file=sys.stderr) as bar:
        rebuilt = log.rebuild(_counted(log.leaves(session), bar))
    if rebuilt.size != events or head.size != events:
        _fail(
            _(
                "the Merkle log has %(leaves)s leaves for %(events)s events.",
                leaves=rebuilt.size,
                events=events,
            )
        )
    if rebuilt.root != head.root:
        _fail(_("the Merkle log's stored tree is not the tree of the stored events."))
    return _(
        "Merkle log: %(size)s leaves, one for each event; root %(root)s.",
        size=head.size,
        root=head.root.hex(),
    )


def _counted(leaves: Iterator[tuple[int, str, int, str]], bar: Any) -> Iterator[str]:
    for _index, _chain, _seq, digest in leaves:
        bar.update(1)
        yield digest


# --- receipts --------------------------------------------------------------------------------


def verdict_text(verdict: str) -> str:
    return _(receipts.VERDICTS[verdict])


@click.command("verify-receipt")
@click.argument("receipt", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@LOG_KEY
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=A_FILE,
    help="Offline: a newer checkpoint (from a witness, say) the log must have grown to.",
)
@click.option(
    "--consistency",
    "consistency_file",
    type=A_FILE,
    help="Offline: the consistency proof from the receipt's checkpoint to --checkpoint.",
)
@WITNESSES
@QUORUM
@pass_context
def audit_verify_receipt(
    ctx: Context,
    receipt: Path,
    log_key: Verifier | None,
    checkpoint_file: Path | None,
    consistency_file: Path | None,
    witnesses: list[Verifier],
    quorum: int,
) -> None:
    """Check a community's receipt (the text under its QR code, or the link the code holds):
    with --log-key, from files alone (signature, witnesses, the decision's inclusion, and with
    --checkpoint and --consistency that the log only grew since); without, against this
    installation's log as it stands (the decision still there unchanged, the log only grown).
    Exit 0 when it holds, 1 saying what failed."""
    text = _receipt_text(_text(receipt))
    if log_key is not None:
        # with a newer checkpoint, its witnesses are the ones that count: the receipt's was
        # issued when it was printed, before any witness could see it
        later = checkpoint_file is not None
        found = receipts.check_offline(text, log_key, witnesses, 0 if later else quorum)
        if found.holds and checkpoint_file is not None:
            if consistency_file is None:
                raise click.UsageError(_("--checkpoint needs --consistency."))
            newer = _opened(_text(checkpoint_file), log_key, witnesses, quorum)
            try:
                proof = checkpoints.parse_consistency(_text(consistency_file))
            except NoteError as exc:
                raise click.ClickException(str(exc)) from exc
            if (proof.first, proof.second) != (
                found.checkpoint.size if found.checkpoint else 0,
                newer.size,
            ):
                raise click.ClickException(
                    _("The consistency proof is not between these two checkpoints.")
                )
            found = receipts.check_growth(found, newer, proof.proof)
    else:
        signer = _signer(ctx)
        note = checkpoints.issue(ctx.db, signer, SystemClock().now())
        current = Checkpoint.parse(split_note(note)[0])
        with ctx.db.read_session() as session:
            found = receipts.check_against_log(
                session, text, signer.verifier, current, witnesses, quorum
            )
    _report_receipt(found)
    if not found.holds:
        sys.exit(1)


def _receipt_text(text: str) -> str:
    """The receipt itself, from its text or from the verification link the QR code holds."""
    stripped = text.strip()
    if stripped.startswith(("http://", "https://")) and "?r=" in stripped:
        try:
            return receipts.unpack_link_value(stripped.split("?r=", 1)[1].split("&")[0])
        except NoteError as exc:
            raise click.ClickException(str(exc)) from exc
    return text


def _report_receipt(found: receipts.ReceiptCheck) -> None:
    event = found.event
    if event is not None:
        click.echo(_("Event %(seq)s of %(chain)s, hash %(hash)s.", seq=event.seq,
                     chain=event.chain, hash=event.hash))  # fmt: skip
    if found.checkpoint is not None:
        click.echo(_("Receipt's checkpoint: %(size)s events.", size=found.checkpoint.size))
    if found.cosigned_by:
        click.echo(_("Cosigned by: %(names)s.", names=", ".join(found.cosigned_by)))
    if found.current_size is not None and found.holds:
        click.echo(
            _(
                "The log has grown from %(old)s to %(new)s events and kept it.",
                old=found.checkpoint.size if found.checkpoint else 0,
                new=found.current_size,
            )
        )
    if found.recorded is not None:
        click.echo(_("Recorded: %(action)s (%(outcome)s) at %(at)s.", **found.recorded))
    elif found.holds:
        click.echo(
            _(
                "Checked offline: the proof is for the event's hash; its chain and number are "
                "as the receipt names them until it is checked against the log."
            )
        )
    message = verdict_text(found.verdict)
    if found.holds:
        click.echo(message)
    else:
        click.echo(_("FAILED: %(problem)s", problem=message), err=True)
        if found.problem:
            click.echo(f"  {found.problem}", err=True)


# --- witnesses -------------------------------------------------------------------------------


@click.group("witness")
def witness_group() -> None:
    """Witness a log: cosign its checkpoints only while it only grows (run on your machine)."""


@witness_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The witness's name, e.g. lender.example/witness.")
@click.option("--log-key", "log_vkey", required=True, metavar="VKEY",
              help="The public key of the log to follow (fpic audit key), or @FILE.")  # fmt: skip
def witness_init(directory: Path, name: str, log_vkey: str) -> None:
    """Create a witness in DIRECTORY (its key, the log it follows) and print its public key."""
    try:
        vkey = _text(log_vkey[1:]) if log_vkey.startswith("@") else log_vkey
        made = witness.create(directory, name, vkey)
    except FileExistsError:
        raise click.ClickException(_("%(dir)s already holds a witness.", dir=directory)) from None
    except (NoteError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("Witness public key: %(vkey)s", vkey=made.signer.verifier.vkey))


@witness_group.command("cosign")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("source")
@click.option(
    "--consistency",
    "consistency_source",
    help="The consistency proof's file (default, for a log's address: its /audit/consistency).",
)
@click.option(
    "--submit", is_flag=True, help="Send the cosigned checkpoint back to the log's address."
)
def witness_cosign(
    directory: Path, source: str, consistency_source: str | None, submit: bool
) -> None:
    """Read the log's checkpoint from SOURCE (a file, or the log's address such as
    https://fpic.example.org), check that it extends the last one this witness cosigned, and
    print it cosigned. Exit 1, cosigning nothing, if the log forked or shrank."""
    try:
        found = witness.load(directory)
    except (NoteError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    address = source.rstrip("/") if source.startswith(("http://", "https://")) else None
    try:
        note = witness.read_source(f"{address}/audit/checkpoint" if address else source)
        consistency = None
        last = found.last
        if last is not None:
            from fpic.trail.notes import open_checkpoint

            new_size = open_checkpoint(note, found.log_key).size
            if new_size > last.size:
                where = consistency_source or (
                    witness.consistency_source(address, last.size, new_size) if address else None
                )
                consistency = witness.read_source(where) if where else None
        cosigned = witness.cosign_next(found, note, consistency, int(time.time()))
    except witness.Refused as refusal:
        click.echo(_("REFUSED: %(problem)s", problem=str(refusal)), err=True)
        sys.exit(1)
    except NoteError as exc:
        click.echo(_("REFUSED: %(problem)s", problem=str(exc)), err=True)
        sys.exit(1)
    click.echo(cosigned, nl=False)
    if submit:
        if address is None:
            raise click.UsageError(_("--submit needs the log's address as SOURCE."))
        try:
            witness.submit(address, cosigned)
        except witness.Refused as refusal:
            raise click.ClickException(str(refusal)) from refusal
        click.echo(_("Sent to %(address)s.", address=address), err=True)
