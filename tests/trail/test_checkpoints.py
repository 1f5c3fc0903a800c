"""The log key, signed checkpoints, witnesses and receipts (fpic/trail/checkpoints.py,
witness.py, receipts.py), on real databases: two copies of one world that then diverge stand
for a log whose operator rewrote it after showing it to someone."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fpic.storage.db import Database
from fpic.storage.models import IssuedCheckpoint
from fpic.trail import audit, checkpoints, log, receipts, witness
from fpic.trail.notes import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    Signer,
    sign_checkpoint,
    split_note,
)
from tests.factories import World, make_world

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LOG = Signer.from_seed("fpic.test/trail", bytes(range(32)))
ADVISOR = Signer.from_seed("advisor.test/witness", bytes(range(1, 33)), COSIGNATURE_V1)
LENDER = Signer.from_seed("lender.test/witness", bytes(range(2, 34)), COSIGNATURE_V1)


def _append(db: Database, values: list[str]) -> None:
    for value in values:
        with db.write_session() as session, session.begin():
            audit.append(
                session, chain=audit.SYSTEM_CHAIN, at=NOW, actor="admin", role="admin",
                action="register_note", outcome="done", data={"v": value},
            )  # fmt: skip


def _seq_of_last(db: Database) -> int:
    with db.read_session() as session:
        return audit.stored_heads(session, audit.SYSTEM_CHAIN)[audit.SYSTEM_CHAIN][0]


@pytest.fixture
def twins(tmp_path: Path) -> tuple[World, World]:
    """Two copies of one world: the same log, event for event, until a test makes them differ."""
    return make_world(f"sqlite:///{tmp_path / 'a.sqlite3'}"), make_world(
        f"sqlite:///{tmp_path / 'b.sqlite3'}"
    )


def _current(db: Database) -> Checkpoint:
    return Checkpoint.parse(split_note(checkpoints.issue(db, LOG, NOW))[0])


# --- the key -------------------------------------------------------------------------------


def test_the_key_file_is_made_once_beside_the_database_and_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'fpic.sqlite3'}"
    signer, created = checkpoints.ensure_log_key(url, "fpic.test/trail", environ={})
    path = tmp_path / "db" / checkpoints.DEFAULT_KEY_FILE
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = checkpoints.ensure_log_key(url, "other", environ={})
    assert not created_again
    assert again.verifier == signer.verifier
    with pytest.raises(FileExistsError):
        checkpoints.create_key_file(path, "fpic.test/trail")


def test_the_environment_names_the_key_or_its_file(tmp_path: Path) -> None:
    text = checkpoints.private_key_text(LOG)
    assert checkpoints.log_signer("sqlite://", {checkpoints.KEY_ENV: text}).verifier == (
        LOG.verifier
    )
    path = tmp_path / "elsewhere.key"
    path.write_text(text, encoding="ascii")
    found = checkpoints.log_signer("sqlite://", {checkpoints.KEY_FILE_ENV: str(path)})
    assert found.verifier == LOG.verifier
    with pytest.raises(checkpoints.KeyMissing):
        checkpoints.log_signer(f"sqlite:///{tmp_path / 'x.sqlite3'}", {})


def test_a_private_key_whose_id_does_not_match_is_refused() -> None:
    text = checkpoints.private_key_text(LOG)
    name, _key_id, material = text.strip()[len("PRIVATE+KEY+") :].split("+", 2)
    assert checkpoints.parse_private_key(text).verifier == LOG.verifier
    forged = f"PRIVATE+KEY+{name}+{'0' * 8}+{material}"
    with pytest.raises(NoteError, match="id does not match"):
        checkpoints.parse_private_key(forged)
    with pytest.raises(NoteError):
        checkpoints.parse_private_key("not a key")


# --- checkpoints ---------------------------------------------------------------------------


def test_a_checkpoint_is_signed_stored_once_and_names_the_logs_root(world: World) -> None:
    first = checkpoints.issue(world.db, LOG, NOW)
    assert checkpoints.issue(world.db, LOG, NOW) == first
    with world.db.read_session() as session:
        head = log.head(session)
        assert checkpoints.latest_checkpoint(session) == first
    opened = checkpoints.open_witnessed(first, LOG.verifier, []).checkpoint
    assert (opened.origin, opened.size, opened.root) == ("fpic.test/trail", head.size, head.root)
    _append(world.db, ["more"])
    second = checkpoints.issue(world.db, LOG, NOW)
    assert checkpoints.open_witnessed(second, LOG.verifier, []).checkpoint.size == head.size + 1


def test_a_stored_checkpoint_the_log_no_longer_matches_is_reported(world: World) -> None:
    with world.db.read_session() as session:
        size = log.head(session).size
    wrong = sign_checkpoint(Checkpoint(LOG.name, size, bytes(32)), LOG)
    with world.db.write_session() as session, session.begin():
        session.add(IssuedCheckpoint(size=size, issued_at=NOW, note=wrong))
    with pytest.raises(checkpoints.ForkedLog):
        checkpoints.issue(world.db, LOG, NOW)


def test_cosignatures_of_known_witnesses_are_kept_and_served(world: World, tmp_path) -> None:
    note = checkpoints.issue(world.db, LOG, NOW)
    advisor = witness.Witness(tmp_path, ADVISOR, LOG.verifier)
    cosigned = witness.cosign_next(advisor, note, None, 1_790_000_000)
    # an unknown witness's cosignature is not kept
    assert (
        checkpoints.add_cosignatures(world.db, cosigned, LOG.verifier, [LENDER.verifier], NOW) == []
    )
    added = checkpoints.add_cosignatures(world.db, cosigned, LOG.verifier, [ADVISOR.verifier], NOW)
    assert added == [ADVISOR.name]
    served = checkpoints.issue(world.db, LOG, NOW)
    assert served == cosigned
    opened = checkpoints.open_witnessed(
        served, LOG.verifier, [ADVISOR.verifier, LENDER.verifier], 1
    )
    assert opened.cosigned_by == [ADVISOR.name]
    with pytest.raises(NoteError, match="1 of the known witnesses"):
        checkpoints.open_witnessed(served, LOG.verifier, [ADVISOR.verifier, LENDER.verifier], 2)


def test_a_cosignature_on_a_checkpoint_the_log_never_issued_is_refused(world: World) -> None:
    with world.db.read_session() as session:
        size = log.head(session).size
    other = sign_checkpoint(Checkpoint(LOG.name, size, bytes(32)), LOG)
    from fpic.trail.notes import cosign

    with pytest.raises(NoteError, match="issued no such checkpoint"):
        checkpoints.add_cosignatures(
            world.db, cosign(other, ADVISOR, 1), LOG.verifier, [ADVISOR.verifier], NOW
        )


def test_proof_texts_read_back_as_written() -> None:
    proof = [bytes([n]) * 32 for n in range(5)]
    note = sign_checkpoint(Checkpoint(LOG.name, 40, bytes(32)), LOG)
    parsed = checkpoints.parse_proof(checkpoints.proof_text(17, proof, note, b"extra"))
    assert (parsed.extra, parsed.index, parsed.proof, parsed.note) == (b"extra", 17, proof, note)
    consistency = checkpoints.parse_consistency(checkpoints.consistency_text(3, 40, proof))
    assert (consistency.first, consistency.second, consistency.proof) == (3, 40, proof)
    for bad in ("", "c2sp.org/tlog-proof@v1\nindex 01\n\n" + note, "other\n\n" + note):
        with pytest.raises(NoteError):
            checkpoints.parse_proof(bad)
    with pytest.raises(NoteError):
        checkpoints.parse_consistency("fpic-tlog-consistency/v1\nold 3\n")


# --- witnesses -----------------------------------------------------------------------------


def test_a_witness_cosigns_a_log_that_grows_and_refuses_a_fork(
    twins: tuple[World, World], tmp_path: Path
) -> None:
    a, b = twins
    advisor = witness.create(tmp_path / "advisor", ADVISOR.name, LOG.verifier.vkey)
    _append(a.db, ["one", "two"])
    _append(b.db, ["one", "two"])
    common = checkpoints.issue(a.db, LOG, NOW)
    assert checkpoints.issue(b.db, LOG, NOW) == common  # the same log so far
    witness.cosign_next(advisor, common, None, 1_790_000_000)
    _append(a.db, ["three", "four"])
    _append(b.db, ["three, rewritten", "four"])
    shown = checkpoints.issue(a.db, LOG, NOW)
    forked = checkpoints.issue(b.db, LOG, NOW)
    assert shown != forked
    # a grew from what the witness saw: cosigned, with the consistency proof a serves
    size_a = _current(a.db).size
    with a.db.read_session() as session:
        proof = checkpoints.consistency_text(
            _size(common), size_a, log.consistency_proof(session, _size(common), size_a)
        )
    cosigned = witness.cosign_next(advisor, shown, proof, 1_790_000_100)
    assert split_note(cosigned)[1][-1].name == advisor.signer.name
    # the same size with another root: a fork, whatever proof comes with it
    with pytest.raises(witness.Refused) as refused:
        witness.cosign_next(advisor, forked, proof, 1_790_000_200)
    assert refused.value.kind == "forked"
    assert witness.load(tmp_path / "advisor").last_note == cosigned  # nothing moved on


def test_a_witness_refuses_a_log_that_shrank_or_a_proof_that_does_not_join(
    twins: tuple[World, World], tmp_path: Path
) -> None:
    a, b = twins
    advisor = witness.create(tmp_path / "advisor", ADVISOR.name, LOG.verifier.vkey)
    _append(a.db, ["one", "two", "three"])
    _append(b.db, ["one, rewritten"])
    first = checkpoints.issue(b.db, LOG, NOW)
    witness.cosign_next(advisor, first, None, 1)
    seen, grown = _size(first), checkpoints.issue(a.db, LOG, NOW)  # a never had b's event
    with a.db.read_session() as session:
        joined = log.consistency_proof(session, seen, _size(grown))
        other_sizes = log.consistency_proof(session, seen - 1, _size(grown))
    refusals = {
        "forked": checkpoints.consistency_text(seen, _size(grown), joined),
        "inconsistent": checkpoints.consistency_text(seen - 1, _size(grown), other_sizes),
    }
    for kind, proof in refusals.items():
        with pytest.raises(witness.Refused) as refused:
            witness.cosign_next(advisor, grown, proof, 2)
        assert refused.value.kind == kind
    with pytest.raises(witness.Refused) as refused:
        witness.cosign_next(advisor, grown, None, 2)
    assert refused.value.kind == "inconsistent"
    _append(b.db, ["two"])
    later = checkpoints.issue(b.db, LOG, NOW)
    with b.db.read_session() as session:
        proof = log.consistency_proof(session, seen, _size(later))
    witness.cosign_next(advisor, later, checkpoints.consistency_text(seen, _size(later), proof), 3)
    with pytest.raises(witness.Refused) as refused:  # back to the smaller log
        witness.cosign_next(advisor, first, None, 4)
    assert refused.value.kind == "forked"
    unsigned = sign_checkpoint(Checkpoint(LOG.name, 1, bytes(32)), ADVISOR)
    with pytest.raises(witness.Refused) as refused:
        witness.cosign_next(advisor, unsigned, None, 5)
    assert refused.value.kind == "unsigned"


def _size(note: str) -> int:
    return Checkpoint.parse(split_note(note)[0]).size


# --- receipts ------------------------------------------------------------------------------


def _receipt(db: Database, seq: int) -> str:
    note = checkpoints.issue(db, LOG, NOW)
    with db.read_session() as session:
        return receipts.receipt_for(session, audit.SYSTEM_CHAIN, seq, note, LOG.verifier)


def _check(db: Database, text: str) -> receipts.ReceiptCheck:
    current = _current(db)
    with db.read_session() as session:
        return receipts.check_against_log(session, text, LOG.verifier, current)


def test_a_receipt_holds_offline_and_against_the_log_that_grew(world: World) -> None:
    _append(world.db, ["the assembly's consent"])
    seq = _seq_of_last(world.db)
    text = _receipt(world.db, seq)
    offline = receipts.check_offline(text, LOG.verifier)
    assert offline.holds
    assert offline.event is not None
    assert offline.event.seq == seq
    _append(world.db, ["later", "and later"])
    found = _check(world.db, text)
    assert found.holds, found.problem
    assert found.current_size == _current(world.db).size
    assert found.recorded is not None
    assert found.recorded["action"] == "register_note"


def test_a_receipt_of_a_changed_missing_or_rewritten_decision_is_refused(
    twins: tuple[World, World],
) -> None:
    a, b = twins
    _append(a.db, ["consent", "after"])
    _append(b.db, ["consent, rewritten", "after"])
    consent = _seq_of_last(a.db) - 1
    assert _check(b.db, _receipt(a.db, consent)).verdict == "changed"
    _append(a.db, ["one more"])
    assert _check(b.db, _receipt(a.db, consent + 2)).verdict == "missing"


def test_a_receipt_from_a_log_that_was_later_rewritten_elsewhere_is_refused(
    twins: tuple[World, World],
) -> None:
    a, b = twins
    _append(a.db, ["consent", "a later event"])
    _append(b.db, ["consent", "a later event, rewritten"])
    consent = _seq_of_last(a.db) - 1
    # the decision itself is the same in b, at the same place; the log it was printed from
    # is not the start of b's
    assert _check(b.db, _receipt(a.db, consent)).verdict == "forked"


def test_a_receipt_altered_on_paper_is_refused(world: World) -> None:
    _append(world.db, ["consent"])
    text = _receipt(world.db, _seq_of_last(world.db))
    lines = text.split("\n")
    hash_line = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    flipped = base64.b64encode(bytes(32)).decode()
    altered = "\n".join([*lines[:hash_line], flipped, *lines[hash_line + 1 :]])
    assert receipts.check_offline(altered, LOG.verifier).verdict == "not_included"
    other_log = Signer.from_seed("fpic.test/trail", bytes(range(5, 37)))
    assert receipts.check_offline(text, other_log.verifier).verdict == "not_signed"
    assert receipts.check_offline("a photo of a cat\n", LOG.verifier).verdict == "unreadable"
    link = receipts.receipt_link("https://fpic.test/audit/receipt", text)
    assert receipts.unpack_link_value(link.split("?r=")[1]) == text
    with pytest.raises(NoteError):
        receipts.unpack_link_value("not-a-receipt")
    assert "<svg" in receipts.qr_svg(link, "QR")
