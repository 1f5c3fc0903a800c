"""Signed notes, checkpoints and cosignatures (issue 19, items 2 and 4): the C2SP specifications'
own example verifies, and a changed text, an unknown key or a forged cosignature does not."""

from __future__ import annotations

import pytest

from fpic.trail.merkle import MemoryNodes, root
from fpic.trail.notes import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    cosign,
    cosigned_at,
    open_checkpoint,
    sign_checkpoint,
    sign_note,
    split_note,
    verify_note,
)

# c2sp.org/signed-note, "Example"
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3m"
    "FXmRKuwHjG1Yu72IneyaQM=\n"
)
SEED = bytes(range(32))


def test_the_specifications_example_verifies_with_its_verifier_key():
    verifier = Verifier.parse(SPEC_VKEY)
    assert verifier.vkey == SPEC_VKEY
    assert verify_note(SPEC_NOTE, [verifier]) == "This is an example message.\n"
    changed = SPEC_NOTE.replace("example message", "exemplary message")
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(changed, [verifier])


def test_a_verifier_key_whose_id_does_not_match_is_refused():
    with pytest.raises(NoteError, match="does not match"):
        Verifier.parse(SPEC_VKEY.replace("+530d903a+", "+530d903b+"))
    with pytest.raises(NoteError):
        Verifier.parse("example.com/foo")


def test_signatures_of_unknown_keys_are_ignored_but_one_known_is_needed():
    log = Signer.from_seed("fpic.example/trail", SEED)
    other = Signer.generate("fpic.example/trail")  # same name, another key: another id
    note = sign_note("hello\n", log)
    both = note + other.line(other.private.sign(b"hello\n"))
    assert verify_note(both, [log.verifier]) == "hello\n"
    with pytest.raises(NoteError, match="no known key"):
        verify_note(note, [other.verifier])


def test_a_checkpoint_is_the_trees_origin_size_and_root():
    nodes = MemoryNodes()
    for n in range(5):
        nodes.append(f"event {n}".encode())
    log = Signer.from_seed("fpic.example/trail", SEED)
    checkpoint = Checkpoint("fpic.example/trail", 5, root(nodes, 5))
    note = sign_checkpoint(checkpoint, log)
    lines = note.split("\n")
    assert lines[:3] == ["fpic.example/trail", "5", checkpoint.text.split("\n")[2]]
    assert lines[3] == ""
    assert lines[4].startswith("\u2014 fpic.example/trail ")
    assert open_checkpoint(note, log.verifier) == checkpoint
    with pytest.raises(NoteError):
        open_checkpoint(note.replace("\n5\n", "\n6\n", 1), log.verifier)


@pytest.mark.parametrize(
    "text",
    ["origin\n05\nAAAA\n", "origin\n5\n", "origin\n5\nnot base64!\n", "origin\n5\nAAAA\n"],
)
def test_a_malformed_checkpoint_is_refused(text):
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_a_witness_cosignature_verifies_and_a_forged_one_does_not():
    log = Signer.from_seed("fpic.example/trail", SEED)
    witness = Signer.generate("lender.example/witness", COSIGNATURE_V1)
    note = sign_checkpoint(Checkpoint("fpic.example/trail", 1, bytes(32)), log)
    cosigned = cosign(note, witness, 1_765_000_000)
    assert cosigned_at(cosigned, witness.verifier) == 1_765_000_000
    assert open_checkpoint(cosigned, log.verifier).size == 1  # the log's signature still holds
    assert len(split_note(cosigned)[1]) == 2
    # the same line under another time, or on another checkpoint, does not verify
    forged = cosigned.replace("\n1\n", "\n2\n", 1)
    with pytest.raises(NoteError, match="cosignature"):
        cosigned_at(forged, witness.verifier)
    assert cosigned_at(note, witness.verifier) is None
    with pytest.raises(NoteError, match="0x04"):
        cosign(note, log, 1)


def test_a_checkpoint_of_another_origin_or_an_empty_tree_with_a_root_is_refused():
    log = Signer.from_seed("fpic.example/trail", SEED)
    other_origin = sign_checkpoint(Checkpoint("elsewhere.example/trail", 3, bytes(32)), log)
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(other_origin, log.verifier)
    made_up = sign_checkpoint(Checkpoint("fpic.example/trail", 0, bytes(32)), log)
    with pytest.raises(NoteError, match="empty tree"):
        open_checkpoint(made_up, log.verifier)
    empty = sign_checkpoint(Checkpoint("fpic.example/trail", 0, root(MemoryNodes(), 0)), log)
    assert open_checkpoint(empty, log.verifier).size == 0


def test_a_malformed_cosignature_of_a_known_witness_refuses_the_note():
    log = Signer.from_seed("fpic.example/trail", SEED)
    witness = Signer.from_seed("lender.example/witness", bytes(range(1, 33)), COSIGNATURE_V1)
    note = sign_checkpoint(Checkpoint("fpic.example/trail", 1, bytes(32)), log)
    short = note + witness.line(bytes(40))  # its name and key id, not 72 bytes after them
    with pytest.raises(NoteError, match="malformed"):
        cosigned_at(short, witness.verifier)
    late = note + witness.line((2**63).to_bytes(8, "big") + bytes(64))
    with pytest.raises(NoteError, match="malformed"):
        cosigned_at(late, witness.verifier)
