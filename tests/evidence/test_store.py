"""Evidence files through the engine, on SQLite and PostgreSQL: every kind of action that
carries evidence stores its files in its own transaction, lists them with their SHA-256 on its
trail event, and ``fpic audit verify`` finds any stored file that changed."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from fpic.cli import main
from fpic.evidence.checks import check_stored
from fpic.evidence.intake import ReceivedFile, receive
from fpic.evidence.store import pieces
from fpic.storage.models import EvidenceBlob, EvidenceChunk, EvidenceFile, Grievance, TrailEvent
from fpic.workflow.errors import GuardRefused, InvalidData
from tests.evidence.samples import ACCEPTED, REFUSED
from tests.factories import Community, World, decision, disclosure, walk_to
from tests.workflow.test_statements import counted


def sent(*names: str) -> list[ReceivedFile]:
    found = [receive(io.BytesIO(ACCEPTED[name][0]), name) for name in names]
    assert all(isinstance(f, ReceivedFile) for f in found)
    return found  # type: ignore[return-value]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")


@dataclass
class Walked:
    world: World
    case_id: int
    #: trigger -> the names sent with it
    sent: dict[str, list[str]]


#: each kind of action that carries evidence, with the files it is sent with
EVIDENCE = {
    "register_disclosure": ["booklet.pdf", "presentation.wav"],
    "log_meeting": ["minutes.odt", "assembly.png", "sites.kml"],
    "give_consent": ["agreement.docx"],
    "validate_agreement": ["booklet.pdf", "photo.jpg"],
    "record_monitoring_report": ["video.mp4", "territory.geojson"],
    "confirm_rehabilitation": ["assembly.png", "photo.jpg"],
    "lodge_grievance": ["radio.mp3"],
    "withdraw_consent": ["minutes.odt"],
}


def walk_with_evidence(world: World, community: Community) -> Walked:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, files=sent(*EVIDENCE["register_disclosure"]))
    rep = community.rep_actors[0]
    today = world.clock.now().date().isoformat()
    world.act(case_id, "log_meeting", world.liaison, {
        "kind": "information", "held_on": today, "place": "Community hall",
        "languages_used": ["qu", "es"], "minutes_language": "qu",
        "minutes_original": "Tantanakuy.", "files": sent(*EVIDENCE["log_meeting"]),
    })  # fmt: skip
    world.act(case_id, "give_consent", rep,
              {**decision(world, community), "files": sent(*EVIDENCE["give_consent"])})  # fmt: skip
    world.act(case_id, "validate_agreement", rep, {
        "text": "Validated.", "signed_on": today, "signatories": ["Assembly president"],
        "files": sent(*EVIDENCE["validate_agreement"]),
    })  # fmt: skip
    world.act(case_id, "record_monitoring_report", world.liaison, {
        "text": "Springs measured.", "files": sent(*EVIDENCE["record_monitoring_report"]),
    })  # fmt: skip
    world.act(case_id, "confirm_rehabilitation", rep, {
        "text": "Pads restored.", "completed_on": today,
        "files": sent(*EVIDENCE["confirm_rehabilitation"]),
    })  # fmt: skip
    world.act(case_id, "lodge_grievance", rep, {
        "category": "impacts", "channel": "oral", "anonymous": True, "language": "qu",
        "text": "Polvo.",
        "received_on": today, "files": sent(*EVIDENCE["lodge_grievance"]),
        "files_confidential": True, "files_visible_to": ["mediator", "auditor"],
    })  # fmt: skip
    world.act(case_id, "withdraw_consent", rep, {
        "decided_on": today, "deciding_body": "Assembly", "activities_affected": ["drilling"],
        "files": sent(*EVIDENCE["withdraw_consent"]),
    })  # fmt: skip
    return Walked(world, case_id, EVIDENCE)


def listed(world: World, case_id: int) -> dict[str, list[dict[str, Any]]]:
    """trigger -> the files its last done event lists."""
    found: dict[str, list[dict[str, Any]]] = {}
    with world.db.read_session() as db:
        for event in db.scalars(
            select(TrailEvent).where(TrailEvent.chain == f"case:{case_id}").order_by(TrailEvent.seq)
        ):
            data = json.loads(event.data)
            if "files" in data:
                found[event.action] = data["files"]
    return found


def _sent(evidence: dict[str, list[str]]) -> set[str]:
    return {name for names in evidence.values() for name in names}


#: the walk's maps (the project's area, the territory): files too, but not the evidence sent
MAPS = ("record_project_area", "complete_mapping")


def walked_maps(world: World, case_id: int) -> set[str]:
    """The SHA-256 of the maps the walk recorded."""
    return {f["sha256"] for t, files in listed(world, case_id).items() if t in MAPS for f in files}


def test_every_kind_of_evidence_is_stored_listed_and_read_back(any_world, request) -> None:
    community = any_world.add_community("ayllu-sallqa", ["qu", "es"])
    walked = walk_with_evidence(any_world, community)
    on_trail = {t: f for t, f in listed(any_world, walked.case_id).items() if t not in MAPS}
    assert set(on_trail) == set(EVIDENCE)
    for trigger, names in EVIDENCE.items():
        entries = on_trail[trigger]
        assert [e["sha256"] for e in entries] == [
            hashlib.sha256(ACCEPTED[n][0]).hexdigest() for n in names
        ], trigger
        assert [e["size"] for e in entries] == [len(ACCEPTED[n][0]) for n in names]
        assert [e["media_type"] for e in entries] == [ACCEPTED[n][1] for n in names]
        if trigger == "lodge_grievance":  # confidential: the hash, never the name
            assert [e["name"] for e in entries] == [None]
            assert [e["visible_to"] for e in entries] == [["auditor", "mediator"]]
        else:
            assert [e["name"] for e in entries] == names
            assert all(e["visible_to"] is None for e in entries)
    with any_world.db.read_session() as db:
        rows = db.execute(select(EvidenceFile.sha256, EvidenceBlob.chunks).join(EvidenceBlob))
        for sha256, chunks in rows:
            content = b"".join(pieces(db.connection(), sha256, chunks))
            assert hashlib.sha256(content).hexdigest() == sha256
        # the same bytes, listed by several actions, are stored once
        distinct = {hashlib.sha256(ACCEPTED[n][0]).hexdigest() for n in _sent(EVIDENCE)}
        distinct |= walked_maps(any_world, walked.case_id)
        assert db.scalar(select(func.count()).select_from(EvidenceBlob)) == len(distinct)
        check = check_stored(db)
    assert check.intact, check.problems
    assert check.files == len(distinct)


def test_a_file_is_stored_in_pieces_of_one_mib(world: World, community: Community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    pdf, _ = ACCEPTED["booklet.pdf"]
    content = pdf + bytes(range(256)) * (10 * 1024)  # 2.5 MiB and a bit
    big = receive(io.BytesIO(content), "big.pdf")
    assert isinstance(big, ReceivedFile)
    data = {**disclosure(world, "affected_areas", ["qu"], ["written"]), "files": [big]}
    world.act(case_id, "register_disclosure", world.liaison, data)
    with world.db.read_session() as db:
        sizes = db.scalars(
            select(func.length(EvidenceChunk.data))
            .where(EvidenceChunk.sha256 == big.sha256)
            .order_by(EvidenceChunk.n)
        ).all()
        assert sizes == [1024 * 1024, 1024 * 1024, len(content) - 2 * 1024 * 1024]
        assert b"".join(pieces(db.connection(), big.sha256, 3)) == content


def _counts(world: World) -> tuple[int, int, int, int]:
    with world.db.read_session() as db:
        return (
            db.scalar(select(func.count()).select_from(EvidenceBlob)) or 0,
            db.scalar(select(func.count()).select_from(EvidenceChunk)) or 0,
            db.scalar(select(func.count()).select_from(EvidenceFile)) or 0,
            db.scalar(select(func.count()).select_from(Grievance)) or 0,
        )


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_file_refuses_the_action_and_nothing_is_written(any_world, name) -> None:
    community = any_world.add_community("ayllu-sallqa", ["qu", "es"])
    case_id = any_world.open_case(community)
    before = _counts(any_world)
    refused = receive(io.BytesIO(REFUSED[name]), name)
    with pytest.raises(InvalidData) as caught:
        any_world.act(case_id, "lodge_grievance", community.rep_actors[0], {
            "category": "impacts", "channel": "oral", "anonymous": True, "language": "qu",
        "text": "Polvo.",
            "received_on": any_world.clock.now().date().isoformat(),
            "files": [*sent("booklet.pdf"), refused],
        })  # fmt: skip
    assert caught.value.field == "files"
    assert caught.value.reasons[0].code == "file_type_refused"
    assert _counts(any_world) == before
    with any_world.db.read_session() as db:  # the refusal itself is on the case's trail
        last = db.scalars(
            select(TrailEvent).where(TrailEvent.chain == f"case:{case_id}")
            .order_by(TrailEvent.seq.desc()).limit(1)
        ).one()  # fmt: skip
        assert (last.action, last.outcome) == ("lodge_grievance", "refused")


def test_an_action_refused_by_a_guard_keeps_none_of_its_files(world, community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    before = _counts(world)
    # the majority the protocol asks for is not reached: decision_rule_met refuses
    data = {**decision(world, community, votes_for=0, votes_against=len(community.reps)),
            "files": sent("agreement.docx")}  # fmt: skip
    with pytest.raises(GuardRefused):
        world.act(case_id, "give_consent", community.rep_actors[0], data)
    assert _counts(world) == before


def test_only_files_stand_for_files(world, community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    for bad in (["booklet.pdf"], "booklet.pdf", [{"sha256": "0" * 64}]):
        data = {**disclosure(world, "affected_areas", ["qu"], ["written"]), "files": bad}
        with pytest.raises(InvalidData) as caught:
            world.act(case_id, "register_disclosure", world.liaison, data)
        assert caught.value.field == "files"


def test_at_most_twenty_files_with_one_action(world, community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    data = {**disclosure(world, "affected_areas", ["qu"], ["written"]),
            "files": sent(*["booklet.pdf"] * 21)}  # fmt: skip
    with pytest.raises(InvalidData, match="at most"):
        world.act(case_id, "register_disclosure", world.liaison, data)


def test_a_new_file_costs_three_statements_and_a_file_stored_before_two(world, community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    rep = community.rep_actors[0]
    world.act(case_id, "log_meeting", rep, _meeting(world, sent("minutes.odt")))
    with counted(world) as without:
        world.act(case_id, "log_meeting", rep, _meeting(world, []))
    with counted(world) as new:
        world.act(case_id, "log_meeting", rep, _meeting(world, sent("assembly.png")))
    # the new file: its blob (inserted unless stored), its one piece, the index row
    added = list(new)
    for statement in without:
        added.remove(statement)
    assert sorted(added) == [
        "INSERT INTO evidence_blobs (sha256,", "INSERT INTO evidence_chunks (sha256,",
        "INSERT INTO evidence_files (chain,",
    ], new  # fmt: skip
    with counted(world) as again:
        world.act(case_id, "log_meeting", rep, _meeting(world, sent("assembly.png")))
    assert len(again) == len(without) + 2  # stored already: its blob's INSERT does nothing


def _meeting(world: World, files: list[ReceivedFile]) -> dict[str, Any]:
    return {
        "kind": "information", "held_on": world.clock.now().date().isoformat(),
        "place": "Community hall", "languages_used": ["qu"], "minutes_language": "qu",
        "minutes_original": "Tantanakuy.", "files": files,
    }  # fmt: skip


# --- tampering, found by fpic audit verify -----------------------------------------------------


@pytest.fixture
def walked(world: World, community: Community) -> Walked:
    return walk_with_evidence(world, community)


def _verify(world: World) -> Any:
    return CliRunner().invoke(main, ["--database-url", world.db.url, "audit", "verify"])


def _untriggered(world: World) -> None:
    """What someone holding the database can do: drop the append-only triggers."""
    with world.db.engine.begin() as connection:
        for table in ("evidence_blobs", "evidence_chunks", "evidence_files"):
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER {table}_no_{verb}"))


def test_the_database_refuses_to_change_or_delete_a_stored_file(walked: Walked) -> None:
    for statement in (
        "UPDATE evidence_chunks SET data = X'00'",
        "DELETE FROM evidence_chunks",
        "UPDATE evidence_blobs SET size = 1",
        "DELETE FROM evidence_blobs",
    ):
        # the driver's own error (sqlite3 or psycopg), carrying the trigger's message
        with (
            pytest.raises(Exception, match="append-only"),
            walked.world.db.engine.begin() as connection,
        ):
            connection.execute(text(statement))


def test_a_changed_stored_file_is_found_and_named(walked: Walked) -> None:
    world = walked.world
    assert _verify(world).exit_code == 0
    sha256 = hashlib.sha256(ACCEPTED["agreement.docx"][0]).hexdigest()
    _untriggered(world)
    with world.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE evidence_chunks SET data = :data WHERE sha256 = :sha256"),
            {"data": ACCEPTED["agreement.docx"][0][:-1] + b"!", "sha256": sha256},
        )
    result = _verify(world)
    assert result.exit_code == 1
    assert f'BROKEN: file {sha256} "agreement.docx" (chain case:{walked.case_id}, sequence' in (
        result.stderr
    )
    assert "its content does not match its SHA-256" in result.stderr


def test_a_lost_piece_and_a_swapped_index_are_found(walked: Walked) -> None:
    world = walked.world
    sha256 = hashlib.sha256(ACCEPTED["video.mp4"][0]).hexdigest()
    other = hashlib.sha256(ACCEPTED["photo.jpg"][0]).hexdigest()
    _untriggered(world)
    with world.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM evidence_chunks WHERE sha256 = :s"), {"s": sha256})
    with world.db.read_session() as db:
        problems = check_stored(db).problems
    assert {p.sha256 for p in problems} == {sha256}
    with world.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE evidence_files SET sha256 = :other WHERE name = 'minutes.odt'"),
            {"other": other},
        )
    with world.db.read_session() as db:
        problems = check_stored(db).problems
    assert any("index of files does not agree" in p.problem for p in problems)


def test_a_refused_file_s_name_never_reaches_the_trail(world, community) -> None:
    case_id = world.open_case(community)
    secret = "Statement of Rosa Quispe Mamani.html"
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "lodge_grievance", community.rep_actors[0], {
            "category": "impacts", "channel": "oral", "anonymous": True, "language": "qu",
            "text": "Polvo.", "received_on": world.clock.now().date().isoformat(),
            "files": [receive(io.BytesIO(REFUSED["page.html"]), secret)],
            "files_confidential": True,
        })  # fmt: skip
    assert caught.value.reasons[0].params["name"] == secret  # told to the person sending it
    with world.db.read_session() as db:
        last = db.scalars(
            select(TrailEvent).where(TrailEvent.chain == f"case:{case_id}")
            .order_by(TrailEvent.seq.desc()).limit(1)
        ).one()  # fmt: skip
    assert last.outcome == "refused"
    assert "Rosa" not in last.data
    assert json.loads(last.data)["reasons"][0]["params"]["name"] == "…"


def test_a_confidential_file_made_public_in_the_index_is_found(walked: Walked) -> None:
    """Who may see a file is read from its index row: a row rewritten to publish a
    confidential file (or rename one) no longer agrees with the trail."""
    world = walked.world
    _untriggered(world)
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE evidence_files SET visible_to = NULL "
                                "WHERE media_type = 'audio/mpeg'"))  # fmt: skip
    with world.db.read_session() as db:
        problems = check_stored(db).problems
    assert [p.sha256 for p in problems] == [hashlib.sha256(ACCEPTED["radio.mp3"][0]).hexdigest()]
    assert "index of files does not agree" in problems[0].problem
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE evidence_files SET name = 'other.pdf' "
                                "WHERE name = 'booklet.pdf'"))  # fmt: skip
    with world.db.read_session() as db:
        assert len(check_stored(db).problems) > 1


def test_roles_ticked_without_confidential_publish_nothing(world, community) -> None:
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    before = _counts(world)
    data = {**disclosure(world, "affected_areas", ["qu"], ["written"]),
            "files": sent("sites.kml"), "files_visible_to": ["auditor"]}  # fmt: skip
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "register_disclosure", world.liaison, data)
    assert caught.value.field == "files_confidential"
    assert _counts(world) == before


@pytest.mark.postgres
def test_the_same_new_file_sent_with_two_cases_at_once_is_stored_once(pg_world) -> None:
    """PostgreSQL: the second transaction waits for the first's blob, then stores nothing
    more; both actions go through."""
    from concurrent.futures import ThreadPoolExecutor

    world = pg_world
    community = world.add_community("ayllu-sallqa", ["qu", "es"])
    cases = [world.open_case(community) for _ in range(2)]
    for case_id in cases:
        walk_to(world, case_id, "disclosure", community)
    content = ACCEPTED["booklet.pdf"][0] + b"% both at once\n"

    def register(case_id: int) -> int:
        data = {**disclosure(world, "affected_areas", ["qu"], ["written"]),
                "files": [receive(io.BytesIO(content), "both.pdf")]}  # fmt: skip
        return world.act(case_id, "register_disclosure", world.liaison, data).event_seq

    with ThreadPoolExecutor(2) as pool:
        seqs = list(pool.map(register, cases))
    assert all(seqs)
    with world.db.read_session() as db:
        digest = hashlib.sha256(content).hexdigest()
        assert db.scalar(select(func.count()).select_from(EvidenceBlob)
                         .where(EvidenceBlob.sha256 == digest)) == 1  # fmt: skip
        assert db.scalar(select(func.count()).select_from(EvidenceFile)
                         .where(EvidenceFile.sha256 == digest)) == 2  # fmt: skip
        assert check_stored(db).intact


def test_a_file_slipped_into_the_store_without_an_action_is_found(walked: Walked) -> None:
    """INSERT is allowed (the tables are append-only, not closed): a file stored by anyone but
    an action has no event listing it."""
    world = walked.world
    content = b"%PDF-1.4 slipped in"
    digest = hashlib.sha256(content).hexdigest()
    with world.db.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO evidence_blobs (sha256, size, chunks, media_type, stored_at) "
                 "VALUES (:s, :n, 1, 'application/pdf', '2026-03-02 09:00:00')"),
            {"s": digest, "n": len(content)},
        )  # fmt: skip
        connection.execute(
            text("INSERT INTO evidence_chunks (sha256, n, data) VALUES (:s, 0, :d)"),
            {"s": digest, "d": content},
        )
    with world.db.read_session() as db:
        problems = check_stored(db).problems
    assert [(p.sha256, p.problem) for p in problems] == [
        (digest, "it is stored but no event lists it")
    ]
