"""The offline check of a signed decision (fpic.trail.signatures): from an exported event alone,
with no database, a real signature verifies and every forgery is refused, naming the check it
failed. The events are made as the engine makes them (docs/audit-format.md, section 2), signed by
a software authenticator with a real P-256 key; one comes through the engine and the JSON Lines
export."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from typing import Any

import pytest

from fpic.trail import audit
from fpic.trail.signatures import (
    MEMBERS,
    b64url,
    challenge_of,
    key_fingerprint,
    signature_problem,
    signed_text,
    signer,
    unb64url,
)
from tests.factories import Community, World, decision, protocol, walk_to
from tests.passkey_authenticator import SoftAuthenticator

ORIGIN = "https://fpic.example.org"
RP_ID = "fpic.example.org"


def _event(key: SoftAuthenticator | None = None, **data: Any) -> dict[str, Any]:
    """A done consent on case 7, as the export writes it, signed by ``key``."""
    key = key or SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    body = {
        "version": 12,
        "payload": {"decided_on": "2026-03-02", "votes_for": 3, "votes_against": 0,
                    "text_original": "Ari, munayku.", "present": [4, 5, 6]},
        **data,
    }  # fmt: skip
    answer = key.sign(challenge_of(7, "give_consent", body))["response"]
    signature = {
        "credential_id": b64url(key.credential_id),
        "public_key": b64url(key.public_key),
        "authenticator_data": answer["authenticatorData"],
        "client_data_json": answer["clientDataJSON"],
        "signature": answer["signature"],
        "rp_id": key.rp_id,
        "origin": key.origin,
    }
    return {
        "chain": "case:7", "seq": 30, "at": "2026-03-02T09:00:00.000000Z", "actor": "rep-1",
        "role": "representative", "action": "give_consent", "outcome": "done", "case": 7,
        "from": "decision", "to": "agreement",
        "data": {**body, "records": {"decision_id": 2, "condition_ids": []},
                 "signature": signature},
        "prev_hash": "0" * 64, "hash": "0" * 64,
    }  # fmt: skip


def _client_data(event: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(unb64url(event["data"]["signature"]["client_data_json"]))
    return loaded


def test_a_signed_event_verifies_offline():
    event = _event()
    assert signature_problem(event) is None
    found = signer(event)
    assert found is not None
    assert found.public_key == event["data"]["signature"]["public_key"]
    assert found.fingerprint == key_fingerprint(unb64url(found.public_key))
    assert (found.rp_id, found.origin) == (RP_ID, ORIGIN)


def test_an_event_without_a_signature_has_nothing_to_check():
    event = _event()
    del event["data"]["signature"]
    assert signature_problem(event) is None
    assert signer(event) is None
    assert signature_problem({"data": "not an object"}) is None


def test_the_signed_text_is_the_canonical_json_of_case_action_and_data_but_records():
    event = _event()
    text = signed_text(7, "give_consent", event["data"]).decode("utf-8")
    assert text.startswith('{"action":"give_consent","case":7,"data":{"payload":{')
    assert '"records"' not in text
    assert '"signature"' not in text
    assert text.endswith(',"version":12}}')
    challenge = hashlib.sha256(text.encode("utf-8")).digest()
    assert unb64url(_client_data(event)["challenge"]) == challenge
    # the ids of the rows written are not signed: the engine knows them only once written
    event["data"]["records"] = {"decision_id": 99}
    assert signature_problem(event) is None


def _forge(event: dict[str, Any], forgery: str) -> dict[str, Any]:
    forged = copy.deepcopy(event)
    data, signature = forged["data"], forged["data"]["signature"]
    if forgery == "a vote changed":
        data["payload"]["votes_for"] = 2
    elif forgery == "the case changed":
        forged["case"] = 8
    elif forgery == "the action changed":
        forged["action"] = "withhold_consent"
    elif forgery == "the version changed":
        data["version"] = 13
    elif forgery == "a file added":
        data["files"] = [{"sha256": "0" * 64, "name": "minutes.pdf"}]
    elif forgery == "a byte of the signature changed":
        raw = bytearray(unb64url(signature["signature"]))
        raw[-1] ^= 0x01
        signature["signature"] = b64url(bytes(raw))
    elif forgery == "another key":
        signature["public_key"] = b64url(SoftAuthenticator(rp_id=RP_ID).public_key)
    elif forgery == "another site":
        signature["rp_id"], signature["origin"] = "evil.example", "https://evil.example"
    elif forgery == "another origin":
        signature["origin"] = "https://fpic.example.org.evil.example"
    elif forgery == "not verified by the authenticator":
        raw = bytearray(unb64url(signature["authenticator_data"]))
        raw[32] &= ~0x04
        signature["authenticator_data"] = b64url(bytes(raw))
    elif forgery == "a registration, not an assertion":
        client = _client_data(forged) | {"type": "webauthn.create"}
        signature["client_data_json"] = b64url(json.dumps(client).encode())
    elif forgery == "a member missing":
        del signature["origin"]
    elif forgery == "not base64url":
        signature["signature"] = signature["signature"] + "="
    elif forgery == "not a key":
        signature["public_key"] = b64url(b"\xa1\x01\x02")
    return forged


@pytest.mark.parametrize(
    ("forgery", "problem"),
    [
        ("a vote changed", "challenge differs"),
        ("the case changed", "challenge differs"),
        ("the action changed", "challenge differs"),
        ("the version changed", "challenge differs"),
        ("a file added", "challenge differs"),
        ("a byte of the signature changed", "does not verify"),
        ("another key", "does not verify"),
        ("another site", "origin"),
        ("another origin", "origin"),
        ("not verified by the authenticator", "(UV)"),
        ("a registration, not an assertion", "webauthn.get"),
        ("a member missing", "members"),
        ("not base64url", "base64url"),
        ("not a key", "COSE key"),
    ],
)
def test_a_forged_event_is_refused(forgery: str, problem: str):
    found = signature_problem(_forge(_event(), forgery))
    assert found is not None, forgery
    assert problem in found


def test_a_signature_made_on_another_site_says_so_and_cannot_be_passed_off_as_ours():
    """An assertion a look-alike site obtained holds together as that site's, and the event
    names that site (``rp_id``), which an auditor compares with the installation's; renamed
    to ours, its client data and authenticator data no longer match."""
    elsewhere = SoftAuthenticator(rp_id="evil.example", origin="https://evil.example")
    event = _event(elsewhere)
    assert signature_problem(event) is None
    found = signer(event)
    assert found is not None
    assert found.rp_id == "evil.example"
    event["data"]["signature"]["rp_id"] = RP_ID
    event["data"]["signature"]["origin"] = ORIGIN
    assert signature_problem(event) is not None
    event["data"]["signature"]["origin"] = "https://evil.example"
    assert signature_problem(event) == "the origin is not a page of the relying party rp_id"


def test_every_member_is_named():
    assert sorted(_event()["data"]["signature"]) == sorted(MEMBERS)


def test_a_decision_signed_through_the_engine_verifies_from_the_json_lines_export(
    world: World, community: Community
):
    from fpic.accounts.passkeys import confirm_passkey
    from fpic.workflow.signing import Assertion
    from tests.passkey_authenticator import enrol_passkey

    rep = community.rep_actors[0]
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto=protocol(signed_decisions=True))
    passkey_id, key = enrol_passkey(world.engine, rep)
    confirm_passkey(world.engine, world.facilitator, passkey_id)
    data = decision(world, community)
    version = world.case(case_id).version
    prepared = world.engine.prepare(case_id, "give_consent", rep, data, version)
    signed = Assertion(key.sign(prepared.challenge), key.rp_id, key.origin)
    world.engine.advance(case_id, "give_consent", rep, data, version, assertion=signed)
    out = io.StringIO()
    with world.db.read_session() as session:
        audit.write_jsonl(audit.export_rows(session, case_id), out)
    rows = list(audit.read_jsonl(out.getvalue().splitlines(keepends=True)))
    signed_rows = [r for r in rows if "signature" in r["data"]]
    assert [r["action"] for r in signed_rows] == ["give_consent"]
    assert all(signature_problem(r) is None for r in rows)
    tampered = copy.deepcopy(signed_rows[0])
    tampered["data"]["payload"]["text_original"] = "Mana munaykuchu."
    assert "challenge differs" in (signature_problem(tampered) or "")
    # the operator who rewrites the decision and rehashes the chain from there: every link
    # holds, the signature does not, and the trail's verifier says so (section 16.10)
    index = rows.index(signed_rows[0])
    rewritten = [*rows[:index], tampered, *rows[index + 1 :]]
    previous = rows[index - 1]["hash"] if index else audit.GENESIS
    for row in rewritten[index:]:
        row["prev_hash"] = previous
        row["hash"] = previous = audit.link_hash(
            previous, {k: v for k, v in row.items() if k not in ("hash", "prev_hash")}
        )
    result = audit.verify_rows(rewritten)
    assert result.first_break is not None
    assert result.first_break.seq == tampered["seq"]
    assert "the representative's signature" in result.first_break.problem
    with world.db.read_session() as session:
        assert audit.verify_database(session).intact  # the stored signature holds


def _doc_block(tag: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "audit-format.md").read_text("utf-8")
    start = text.index(f"```{tag}\n") + len(tag) + 4
    return text[start : text.index("```", start)]


def test_the_documents_signed_decision_verifies_and_a_changed_byte_does_not():
    """docs/audit-format.md 16.10's worked example: real bytes that verify, T and C as shown,
    the client data and authenticator data as shown; any byte of it changed is refused."""
    row = json.loads(_doc_block("json signed-decision-example"))
    assert signature_problem(row) is None
    text = _doc_block("text signed-decision-text").strip()
    assert signed_text(row["case"], row["action"], row["data"]).decode() == text
    assert hashlib.sha256(text.encode()).hexdigest() == (
        _doc_block("text signed-decision-challenge").strip()
    )
    signature = row["data"]["signature"]
    assert unb64url(signature["client_data_json"]).decode() == (
        _doc_block("text signed-decision-client-data").strip()
    )
    assert unb64url(signature["authenticator_data"]).hex() == (
        _doc_block("text signed-decision-authenticator-data").strip()
    )
    body = {k: v for k, v in row.items() if k not in ("hash", "prev_hash")}
    assert audit.link_hash(row["prev_hash"], body) == row["hash"]
    for member in ("signature", "authenticator_data", "client_data_json", "public_key"):
        spoiled = copy.deepcopy(row)
        raw = bytearray(unb64url(spoiled["data"]["signature"][member]))
        raw[len(raw) // 2] ^= 0x01
        spoiled["data"]["signature"][member] = b64url(bytes(raw))
        assert signature_problem(spoiled) is not None, member
    keys = [json.loads(line) for line in _doc_block("json signed-decision-key-events").splitlines()]
    assert [k["action"] for k in keys] == ["register_passkey", "confirm_passkey"]
    assert {k["data"]["public_key"] for k in keys} == {signature["public_key"]}
    assert keys[1]["actor"] != keys[0]["actor"]
