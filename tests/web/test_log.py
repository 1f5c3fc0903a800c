"""The log on the web (web/log.py): what witnesses read over HTTP, the community's receipt on
the printable record, the page that checks a receipt in the reader's language, and the
cosignatures the log keeps."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fpic.read.events import decision_events
from fpic.trail import checkpoints, receipts, witness
from fpic.trail.notes import COSIGNATURE_V1, Checkpoint, Signer, split_note
from tests.factories import World, decision
from tests.web.conftest import csrf_token
from web import create_app

LOG = Signer.from_seed("fpic.test/trail", bytes(range(32)))
ADVISOR = Signer.from_seed("advisor.test/witness", bytes(range(1, 33)), COSIGNATURE_V1)


@pytest.fixture(autouse=True)
def log_key(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(checkpoints.KEY_ENV, checkpoints.private_key_text(LOG))


@pytest.fixture
def consented(world: World, community, case_at_decision: int) -> int:
    world.act(case_at_decision, "give_consent", community.rep_actors[0], decision(world, community))
    return case_at_decision


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html.decode())))


def test_the_checkpoint_key_and_consistency_proofs_are_public_plain_text(client, world) -> None:
    page = client.get("/audit/checkpoint")
    assert page.status_code == 200
    assert page.mimetype == "text/plain"
    checkpoint = checkpoints.open_witnessed(
        page.get_data(as_text=True), LOG.verifier, []
    ).checkpoint
    assert checkpoint.origin == "fpic.test/trail"
    assert client.get("/audit/key").get_data(as_text=True).strip() == LOG.verifier.vkey
    proof = client.get(f"/audit/consistency?old=3&new={checkpoint.size}")
    assert proof.status_code == 200
    parsed = checkpoints.parse_consistency(proof.get_data(as_text=True))
    assert (parsed.first, parsed.second) == (3, checkpoint.size)
    assert client.get(f"/audit/consistency?old=3&new={checkpoint.size + 5}").status_code == 404
    assert client.get("/audit/consistency?old=x&new=3").status_code == 400


def test_without_a_key_the_log_says_how_to_make_one(client, monkeypatch) -> None:
    monkeypatch.delenv(checkpoints.KEY_ENV)
    page = client.get("/audit/checkpoint")
    assert page.status_code == 503
    assert "fpic init-db" in page.get_data(as_text=True)


def test_an_events_proof_is_for_whoever_may_read_it(
    world: World, consented: int, signed_in, other_community
) -> None:
    with world.db.read_session() as session:
        seq = next(iter(decision_events(session, consented).values()))
    url = f"/audit/proof/case:{consented}/{seq}"
    auditor = signed_in("auditor").get(url)
    assert auditor.status_code == 200
    found = receipts.check_offline(auditor.get_data(as_text=True), LOG.verifier)
    assert found.holds
    stranger = signed_in(other_community.rep_actors[0].username).get(url)
    assert stranger.status_code == 404


def test_the_printed_record_carries_each_decisions_receipt_and_qr_code(
    world: World, consented: int, signed_in
) -> None:
    page = signed_in("auditor").get(f"/cases/{consented}/record")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html
    assert "receipt-qr" in html
    receipt = unescape(re.search(r'<pre class="receipt-text">(.*?)</pre>', html, re.S).group(1))
    assert receipts.check_offline(receipt, LOG.verifier).holds
    assert LOG.verifier.vkey in html


def test_the_receipt_page_checks_a_scanned_link_and_a_typed_receipt(
    world: World, consented: int, client, app: Flask
) -> None:
    with world.db.read_session() as session:
        seq = next(iter(decision_events(session, consented).values()))
        note = checkpoints.issue(world.db, LOG, world.clock.now())
        text = receipts.receipt_for(session, f"case:{consented}", seq, note, LOG.verifier)
    link = receipts.receipt_link("http://localhost/audit/receipt", text)
    scanned = client.get(link.removeprefix("http://localhost"))
    assert scanned.status_code == 200
    assert "This decision is in the log, unchanged." in _text(scanned.data)
    form = client.get("/audit/receipt")
    altered = text.replace(f"index {text.split('index ')[1].split()[0]}", "index 0", 1)
    typed = client.post(
        "/audit/receipt",
        data={"receipt": altered, "csrf_token": csrf_token(form.get_data(as_text=True))},
    )
    assert typed.status_code == 422
    assert "it was altered" in _text(typed.data)
    spanish = client.get(link.removeprefix("http://localhost"), headers={"Accept-Language": "es"})
    assert 'lang="es"' in spanish.get_data(as_text=True)
    assert "This decision is in the log" not in _text(spanish.data)


def test_a_known_witness_cosignature_is_kept_and_served(
    world: World, client, tmp_path: Path, app: Flask
) -> None:
    known = tmp_path / "witnesses"
    known.write_text(f"# the community's advisor\n{ADVISOR.verifier.vkey}\n", encoding="ascii")
    app.config["FPIC_LOG_WITNESSES"] = str(known)
    note = client.get("/audit/checkpoint").get_data(as_text=True)
    cosigned = witness.cosign_next(
        witness.Witness(tmp_path, ADVISOR, LOG.verifier), note, None, 1_790_000_000
    )
    kept = client.post("/audit/cosignature", data=cosigned.encode(), content_type="text/plain")
    assert kept.status_code == 200, kept.data
    served = client.get("/audit/checkpoint").get_data(as_text=True)
    assert served == cosigned
    again = client.post("/audit/cosignature", data=cosigned.encode(), content_type="text/plain")
    assert again.status_code == 200  # a witness that sends again is told it is kept
    stranger = Signer.from_seed("stranger.test/witness", bytes(range(3, 35)), COSIGNATURE_V1)
    (tmp_path / "stranger").mkdir()
    other = witness.cosign_next(
        witness.Witness(tmp_path / "stranger", stranger, LOG.verifier), note, None, 1
    )
    refused = client.post("/audit/cosignature", data=other.encode(), content_type="text/plain")
    assert refused.status_code == 400
    garbage = client.post("/audit/cosignature", data=b"\xff\xfe", content_type="text/plain")
    assert garbage.status_code == 400
    checkpoint = Checkpoint.parse(split_note(served)[0])
    assert checkpoint.size >= 1


def test_the_app_reads_the_key_from_the_file_beside_the_database(world: World, monkeypatch):
    monkeypatch.delenv(checkpoints.KEY_ENV)
    path = checkpoints.key_file(world.db.url, {})
    checkpoints.create_key_file(path, "beside.test/trail")
    app = create_app({"DATABASE_URL": world.db.url, "SECRET_KEY": "x"})
    note = app.test_client().get("/audit/checkpoint").get_data(as_text=True)
    assert note.startswith("beside.test/trail\n")


def test_a_log_that_no_longer_matches_its_checkpoint_issues_none_and_says_why(
    world: World, client: FlaskClient
) -> None:
    from fpic.storage.models import IssuedCheckpoint
    from fpic.trail import log
    from fpic.trail.notes import sign_checkpoint

    with world.db.read_session() as session:
        size = log.head(session).size
    wrong = sign_checkpoint(Checkpoint(LOG.name, size, bytes(32)), LOG)
    with world.db.write_session() as session, session.begin():
        session.add(IssuedCheckpoint(size=size, issued_at=world.clock.now(), note=wrong))
    page = client.get("/audit/checkpoint")
    assert page.status_code == 503
    assert "rewritten" in page.get_data(as_text=True)
