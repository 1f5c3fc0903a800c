"""The log's commands, walked as the people they are for would walk them: an auditor holding
only a checkpoint and an export; a community holding only its printed receipt; a witness on its
own machine; and an operator who rewrote the log after showing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fpic.cli import main
from fpic.cli_base import _translations
from fpic.trail import checkpoints
from tests.factories import World, decision, make_world, walk_to


def run(url: str, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["--database-url", url, *args], env=env)


@pytest.fixture
def decided(tmp_path: Path) -> tuple[World, int]:
    """A world whose community gave its consent, with the installation's log key made as
    fpic init-db makes it."""
    world = make_world(f"sqlite:///{tmp_path / 'fpic.sqlite3'}")
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    world.act(case_id, "give_consent", community.rep_actors[0], decision(world, community))
    result = run(world.db.url, "init-db", "--log-origin", "fpic.test/trail")
    assert result.exit_code == 0, result.output
    assert "Log public key: fpic.test/trail+" in result.output
    return world, case_id


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _key(world: World) -> str:
    result = run(world.db.url, "audit", "key")
    assert result.exit_code == 0, result.output
    return result.output.strip()


def _decision_seq(world: World, case_id: int) -> int:
    from fpic.read.events import decision_events

    with world.db.read_session() as session:
        return next(iter(decision_events(session, case_id).values()))


def test_an_auditor_with_a_checkpoint_and_an_export_checks_the_whole_log(decided, tmp_path):
    world, case_id = decided
    url, key = world.db.url, _key(world)
    old = _write(tmp_path / "old.checkpoint", run(url, "audit", "checkpoint").output)
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    new = _write(tmp_path / "new.checkpoint", run(url, "audit", "checkpoint").output)
    export = tmp_path / "trail.jsonl"
    assert run(url, "audit", "export", "--output", str(export)).exit_code == 0
    proved = run(url, "audit", "prove", "--old", str(old), "--new", str(new))
    assert proved.exit_code == 0, proved.output
    consistency = _write(tmp_path / "proof.txt", proved.output)
    # from here on, files alone: the database is gone
    Path(world.db.engine.url.database).unlink()
    result = run(
        "sqlite:///" + str(tmp_path / "nothing.sqlite3"), "audit", "verify", str(export),
        "--log-key", key, "--checkpoint", str(old), "--checkpoint", str(new),
        "--consistency", str(consistency),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Consistency: the log of" in result.output
    assert result.output.count("make the tree the checkpoint signs") == 2
    # an export with one event changed no longer makes the checkpoint's tree
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    spoiled = _write(tmp_path / "spoiled.jsonl", "".join(lines[:3] + lines[4:]))
    result = run(url, "audit", "verify", str(spoiled), "--log-key", key, "--checkpoint", str(new))
    assert result.exit_code == 1


def test_a_community_with_its_printed_receipt_checks_its_decision(decided, tmp_path):
    world, case_id = decided
    url, key = world.db.url, _key(world)
    seq = _decision_seq(world, case_id)
    printed = run(url, "audit", "prove", "--case", str(case_id), "--seq", str(seq))
    assert printed.exit_code == 0, printed.output
    receipt = _write(tmp_path / "receipt.txt", printed.output)
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    # against the log as it stands now
    result = run(url, "audit", "verify-receipt", str(receipt))
    assert result.exit_code == 0, result.output
    assert "This decision is in the log, unchanged." in result.output
    # offline, with the public key printed on the record, and a newer checkpoint and proof
    newer = _write(tmp_path / "newer", run(url, "audit", "checkpoint").output)
    proof = _write(
        tmp_path / "c.txt",
        run(
            url, "audit", "prove", "--old", str(_checkpoint_of(receipt)), "--new", str(newer)
        ).output,
    )
    result = run(
        url, "audit", "verify-receipt", str(receipt), "--log-key", key,
        "--checkpoint", str(newer), "--consistency", str(proof),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "has grown from" in result.output
    # in Spanish for a reader whose terminal is in Spanish
    _translations.cache_clear()
    try:
        result = run(url, "audit", "verify-receipt", str(receipt), env={"LANGUAGE": "es_PE"})
    finally:
        _translations.cache_clear()
    assert "Esta decisión está en el registro, sin cambios." in result.output


def _checkpoint_of(receipt: Path) -> Path:
    note = receipt.read_text(encoding="utf-8").split("\n\n", 1)[1]
    return _write(receipt.with_suffix(".checkpoint"), note)


def test_a_receipt_of_a_decision_the_operator_rewrote_is_refused(decided, tmp_path):
    """The operator copies the database before the decision was logged, records another
    decision in the copy and serves that: the community's receipt says so."""
    world, case_id = decided
    seq = _decision_seq(world, case_id)
    receipt = _write(
        tmp_path / "receipt.txt",
        run(world.db.url, "audit", "prove", "--case", str(case_id), "--seq", str(seq)).output,
    )
    rewritten = _rewritten_log(world, case_id, tmp_path)
    result = run(rewritten, "audit", "verify-receipt", str(receipt))
    assert result.exit_code == 1
    assert "it was changed" in result.output


def test_a_witness_refuses_the_rewritten_log(decided, tmp_path):
    world, case_id = decided
    key = _key(world)
    witness_dir = tmp_path / "advisor"
    made = run(world.db.url, "witness", "init", str(witness_dir), "--name",
               "advisor.test/witness", "--log-key", key)  # fmt: skip
    assert made.exit_code == 0, made.output
    shown = _write(tmp_path / "shown", run(world.db.url, "audit", "checkpoint").output)
    cosigned = run(world.db.url, "witness", "cosign", str(witness_dir), str(shown))
    assert cosigned.exit_code == 0, cosigned.output
    assert "— advisor.test/witness " in cosigned.output
    rewritten = _rewritten_log(world, case_id, tmp_path)
    forked = _write(tmp_path / "forked", run(rewritten, "audit", "checkpoint").output)
    refused = run(world.db.url, "witness", "cosign", str(witness_dir), str(forked))
    assert refused.exit_code == 1
    assert "REFUSED" in refused.output


def _rewritten_log(world: World, case_id: int, tmp_path: Path) -> str:
    """A copy of the database as it was before the decision, where the community 'withheld'
    instead, with the same log key: what an operator holding everything could serve."""
    source = tmp_path / "before.sqlite3"
    fresh = make_world(f"sqlite:///{source}")
    community = fresh.add_community("ayllu-qollana", ["qu", "es"])
    assert fresh.open_case(community) == case_id
    walk_to(fresh, case_id, "decision", community)
    no = decision(fresh, community, votes_for=0, votes_against=len(community.reps))
    fresh.act(case_id, "withhold_consent", community.rep_actors[0], no)
    # the same directory: the same key file (checkpoints.DEFAULT_KEY_FILE) signs its checkpoints
    assert (tmp_path / checkpoints.DEFAULT_KEY_FILE).exists()
    return fresh.db.url


def _activity(world: World) -> dict:
    day = world.clock.now().date().isoformat()
    return {"activity": "drilling", "phase": "exploration", "started_on": day}


def test_a_receipt_relies_on_the_witnesses_of_a_newer_checkpoint(decided, tmp_path):
    """The receipt's checkpoint was issued when the record was printed, before any witness saw
    it: the quorum is asked of the newer checkpoint the community got from its advisor."""
    world, case_id = decided
    url, key = world.db.url, _key(world)
    seq = _decision_seq(world, case_id)
    receipt = _write(
        tmp_path / "receipt.txt",
        run(url, "audit", "prove", "--case", str(case_id), "--seq", str(seq)).output,
    )
    advisor = tmp_path / "advisor"
    made = run(url, "witness", "init", str(advisor), "--name", "advisor.test/w", "--log-key", key)
    witness_key = made.output.strip().rsplit(" ", 1)[1]
    first = _write(tmp_path / "first", run(url, "audit", "checkpoint").output)
    assert run(url, "witness", "cosign", str(advisor), str(first)).exit_code == 0
    world.act(case_id, "record_activity_start", world.liaison, _activity(world))
    newer = _write(tmp_path / "newer", run(url, "audit", "checkpoint").output)
    joined = _write(
        tmp_path / "joined",
        run(url, "audit", "prove", "--old", str(first), "--new", str(newer)).output,
    )
    cosigned = run(url, "witness", "cosign", str(advisor), str(newer), "--consistency", str(joined))
    assert cosigned.exit_code == 0, cosigned.output
    witnessed = _write(tmp_path / "witnessed", cosigned.output)
    proof = _write(
        tmp_path / "proof",
        run(
            url, "audit", "prove", "--old", str(_checkpoint_of(receipt)), "--new", str(newer)
        ).output,
    )
    checked = run(
        url, "audit", "verify-receipt", str(receipt), "--log-key", key, "--witness", witness_key,
        "--quorum", "1", "--checkpoint", str(witnessed), "--consistency", str(proof),
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    unwitnessed = run(
        url, "audit", "verify-receipt", str(receipt), "--log-key", key, "--witness", witness_key,
        "--quorum", "1", "--checkpoint", str(newer), "--consistency", str(proof),
    )  # fmt: skip
    assert unwitnessed.exit_code == 1
