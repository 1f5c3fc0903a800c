"""The passkey pages without a browser: a representative registers a passkey from their account
page, the community's facilitator confirms it in the register, and a decision under a protocol
that asks for signatures goes through the signing page, carried unchanged to the action, signed
by a software authenticator answering what the page asks (static/passkey.js's part)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from fpic.accounts.passkeys import confirm_passkey
from fpic.accounts.tokens import create_token
from fpic.storage.models import PasskeyCredential
from fpic.trail import audit
from fpic.trail.signatures import b64url, signature_problem, unb64url
from tests.evidence.samples import ACCEPTED
from tests.factories import Community, World, decision, protocol, walk_to
from tests.passkey_authenticator import SoftAuthenticator, enrol_passkey
from tests.web.conftest import Browser, csrf_token, decision_form

REP = "rep-ayllu-qollana-1"


class _Inputs(HTMLParser):
    """The inputs of the page's forms and the passkey button's data attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.button: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": found.get("action", ""), "fields": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"].append((found.get("name", ""), found.get("value", "")))
        elif tag == "button" and "data-passkey" in found:
            self.button = found


def _read(html: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(html)
    return parser


def _form(page: _Inputs, action: str) -> list[tuple[str, str]]:
    return next(f["fields"] for f in page.forms if f["action"].endswith(action))


def _register(client: Browser, key: SoftAuthenticator, name: str = "my phone") -> Any:
    page = client.get("/account/passkeys")
    assert page.status_code == 200
    options = json.loads(_read(page.text).button["data-options"])
    return client.client.post(
        "/account/passkeys",
        data={
            "csrf_token": csrf_token(page.text),
            "name": name,
            "credential": json.dumps(key.register(options)),
        },
    )


def _key(world: World) -> PasskeyCredential:
    with world.db.read_session() as db:
        key = db.get(PasskeyCredential, 1)
        assert key is not None
        return key


@pytest.fixture
def signed_case(world: World, community: Community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto=protocol(signed_decisions=True))
    return case_id


def test_a_representative_registers_a_passkey_and_the_facilitator_confirms_it(
    world, community, signed_in
):
    rep = signed_in(REP)
    assert _register(rep, SoftAuthenticator()).status_code == 302
    page = rep.get("/account/passkeys").text
    assert "my phone" in page
    assert "pending confirmation" in page
    assert _key(world).status == "pending"
    # the register shows it to whoever may confirm it, with its fingerprint
    facilitator = signed_in("facilitator")
    register = facilitator.get(f"/communities/{community.slug}").text
    assert "Confirm the passkey my phone of" in register
    # its holder may not confirm it
    refused = rep.client.post(
        f"/communities/{community.slug}/passkeys/1/confirm", data={"csrf_token": csrf_token(page)}
    )
    assert refused.status_code == 403
    confirmed = facilitator.client.post(
        f"/communities/{community.slug}/passkeys/1/confirm",
        data={"csrf_token": csrf_token(register)},
    )
    assert confirmed.status_code == 302
    assert _key(world).status == "confirmed"
    assert "confirmed" in rep.get("/account/passkeys").text


def test_a_registration_is_answered_once(world, community, signed_in):
    rep = signed_in(REP)
    page = rep.get("/account/passkeys")
    options = json.loads(_read(page.text).button["data-options"])
    sent = {
        "csrf_token": csrf_token(page.text),
        "name": "my phone",
        "credential": json.dumps(SoftAuthenticator().register(options)),
    }
    assert rep.client.post("/account/passkeys", data=sent).status_code == 302
    # the same answer again (a new passkey for the same request) finds no request waiting
    sent["credential"] = json.dumps(SoftAuthenticator().register(options))
    again = rep.client.post("/account/passkeys", data=sent)
    assert again.status_code == 400
    assert "start again" in unescape(again.text)


def test_the_passkeys_page_is_a_representatives(signed_in):
    assert signed_in("liaison").get("/account/passkeys").status_code == 403


def test_a_decision_is_signed_on_its_signing_page(world, community, signed_in, signed_case):
    rep = signed_in(REP)
    key = SoftAuthenticator()
    _register(rep, key)
    with world.db.write_session() as db, db.begin():
        stored = db.get(PasskeyCredential, 1)
        assert stored is not None
        stored.confirmed_at, stored.confirmed_by_id = world.clock.now(), world.facilitator.user_id
    action = f"/cases/{signed_case}/actions/give_consent"
    form = rep.get(action).text
    # the form goes to the signing page, and asks no password: the passkey confirms the person
    assert f'action="{action}/sign"' in form
    assert 'name="password"' not in form
    sent = decision_form(world, community)
    del sent["password"]
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form)
    assert version is not None
    signing = rep.client.post(
        f"{action}/sign",
        data={**sent, "csrf_token": csrf_token(form), "version": version.group(1)},
    )
    assert signing.status_code == 200, signing.text[:500]
    assert "Sign with your passkey" in signing.text
    assert "Ari, munayku." in signing.text  # the decision, shown before it is signed
    assert '<script src="/static/passkey.js" defer></script>' in signing.text
    page = _read(signing.text)
    options = json.loads(page.button["data-options"])
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
    fields = dict(_form(page, action))
    assert fields["version"] == version.group(1)
    assert "password" not in fields
    # what static/passkey.js does: the authenticator signs, and the form is sent as it is
    answer = key.sign(unb64url(options["challenge"]))
    carried = [(k, v) for k, v in _form(page, action) if k != "assertion"]
    sent_again = MultiDict([*carried, ("assertion", json.dumps(answer))])
    done = rep.client.post(action, data=sent_again)
    assert done.status_code == 302, done.text[:800]
    assert world.case(signed_case).stage == "agreement"
    with world.db.read_session() as db:
        last = list(audit.export_rows(db, signed_case))[-1]
    assert last["action"] == "give_consent"
    assert last["data"]["signature"]["origin"] == "http://localhost"
    assert signature_problem(last) is None


def test_the_files_of_a_signed_decision_are_chosen_again_and_signed_by_their_hash(
    world, community, signed_in, signed_case
):
    rep = signed_in(REP)
    key = _confirmed(world, rep)
    action = f"/cases/{signed_case}/actions/give_consent"
    form = rep.get(action).text
    minutes = ACCEPTED["booklet.pdf"][0]
    sent = {k: v for k, v in decision_form(world, community).items() if k != "password"}
    version = str(world.case(signed_case).version)
    files = [(io.BytesIO(minutes), "minutes.pdf")]
    signing = rep.client.post(
        f"{action}/sign",
        data={**sent, "csrf_token": csrf_token(form), "version": version, "files": files},
    )
    assert signing.status_code == 200, signing.text[:500]
    assert hashlib.sha256(minutes).hexdigest() in signing.text
    page = _read(signing.text)
    assert ("files", "") in _form(page, action)  # a file input: chosen again
    options = json.loads(page.button["data-options"])
    answer = key.sign(unb64url(options["challenge"]))
    carried = MultiDict([(k, v) for k, v in _form(page, action) if k not in ("assertion", "files")])
    carried.add("assertion", json.dumps(answer))
    other = MultiDict(carried)
    other.add("files", (io.BytesIO(minutes + b"\n%changed"), "minutes.pdf"))
    refused = rep.client.post(action, data=other, content_type="multipart/form-data")
    assert refused.status_code == 400
    assert "does not match this decision" in unescape(refused.text)
    carried.add("files", (io.BytesIO(minutes), "minutes.pdf"))
    done = rep.client.post(action, data=carried, content_type="multipart/form-data")
    assert done.status_code == 302, done.text[:800]
    with world.db.read_session() as db:
        last = list(audit.export_rows(db, signed_case))[-1]
    assert [f["sha256"] for f in last["data"]["files"]] == [hashlib.sha256(minutes).hexdigest()]
    assert signature_problem(last) is None


def _confirmed(world: World, rep: Browser) -> SoftAuthenticator:
    key = SoftAuthenticator()
    _register(rep, key)
    confirm_passkey(world.engine, world.facilitator, 1)
    return key


def test_without_a_confirmed_passkey_the_signing_page_says_what_to_do(
    world, community, signed_in, signed_case
):
    rep = signed_in(REP)
    action = f"/cases/{signed_case}/actions/give_consent"
    form = rep.get(action).text
    sent = decision_form(world, community)
    signing = rep.client.post(
        f"{action}/sign",
        data={
            **sent,
            "csrf_token": csrf_token(form),
            "version": str(world.case(signed_case).version),
        },
    )
    assert signing.status_code == 200
    assert "You have no confirmed passkey to sign with" in unescape(signing.text)
    assert "data-passkey" not in signing.text
    # sent without a signature all the same: refused, with the reason, nothing recorded
    refused = rep.client.post(
        action,
        data={
            **sent,
            "csrf_token": csrf_token(form),
            "version": str(world.case(signed_case).version),
        },
    )
    assert refused.status_code == 400
    assert "sign this decision with their own passkey" in unescape(refused.text)
    assert world.case(signed_case).stage == "decision"


def test_bad_data_on_the_way_to_signing_comes_back_to_the_form(
    world, community, signed_in, signed_case
):
    rep = signed_in(REP)
    action = f"/cases/{signed_case}/actions/give_consent"
    form = rep.get(action).text
    sent = {**decision_form(world, community), "place": ""}
    refused = rep.client.post(
        f"{action}/sign",
        data={
            **sent,
            "csrf_token": csrf_token(form),
            "version": str(world.case(signed_case).version),
        },
    )
    assert refused.status_code == 400
    assert f'action="{action}/sign"' in refused.text


def test_an_api_client_gets_the_challenge_and_sends_the_signature(
    world, community, app, signed_case
):
    rep = community.rep_actors[0]
    passkey_id, key = enrol_passkey(world.engine, rep)
    confirm_passkey(world.engine, world.facilitator, passkey_id)
    secret = create_token(world.engine, rep, name="app", scope="act", days=30).secret
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    base = f"/api/v1/cases/{signed_case}"
    options = {o["trigger"]: o for o in client.get(base, headers=headers).json["options"]}
    assert options["give_consent"]["needs_signature"] is True
    assert options["give_consent"]["needs_password"] is False
    body = {"version": world.case(signed_case).version, "data": decision(world, community)}
    unsigned = client.post(f"{base}/actions/give_consent", json=body, headers=headers)
    assert (unsigned.status_code, unsigned.json["field"]) == (422, "assertion")
    asked = client.post(f"{base}/actions/give_consent/challenge", json=body, headers=headers)
    assert asked.status_code == 200, asked.json
    assert asked.json["signature_required"] is True
    assert asked.json["signed"]["data"]["version"] == body["version"] + 1
    assert asked.json["options"]["challenge"] == asked.json["challenge"]
    answer = key.sign(unb64url(asked.json["challenge"]))
    done = client.post(
        f"{base}/actions/give_consent", json={**body, "assertion": answer}, headers=headers
    )
    assert done.status_code == 200, done.json
    with world.db.read_session() as db:
        last = list(audit.export_rows(db, signed_case))[-1]
    assert signature_problem(last) is None
    assert last["data"]["signature"]["public_key"] == b64url(key.public_key)
