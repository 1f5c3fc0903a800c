"""A decision signed with the representative's passkey, in a real browser: Chromium's virtual
authenticator (the DevTools Protocol's WebAuthn domain) stands for the phone. The representative
registers a passkey on their account page, the community's facilitator confirms it in the
register, and the representative records consent on its signing page; the trail event carries
the signature, which the offline check accepts.

WebAuthn needs a secure context and a relying party that is a domain: http://localhost is both,
http://127.0.0.1 is only the first (an IP address is no relying party id), so these pages are
opened at localhost."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import expect

from fpic.storage.models import PasskeyCredential
from fpic.trail import audit
from fpic.trail.signatures import b64url, signature_problem
from tests.browser.conftest import LiveServer, PageFactory, fill_assembly_vote, sign_in
from tests.browser.test_walkthrough import current_stage, do_action
from tests.factories import Community, protocol, walk_to

SLUG = "ayllu-qollana"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def test_a_representative_enrols_a_passkey_and_signs_a_consent(
    live_server: LiveServer, community: Community, new_page: PageFactory
) -> None:
    world = live_server.world
    base = f"http://localhost:{live_server.server.server_port}"
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto=protocol(signed_decisions=True))

    # --- the representative's phone: a virtual authenticator that verifies them
    rep = new_page("representative")
    devtools = rep.context.new_cdp_session(rep)
    devtools.send("WebAuthn.enable")
    phone = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    sign_in(rep, base, f"rep-{SLUG}-1")
    rep.get_by_role("link", name="Passkeys").click()
    rep.get_by_label("Name of the passkey").fill("My phone")
    rep.get_by_role("button", name="Register a passkey").click()
    expect(rep.locator(".flash.success")).to_contain_text("Passkey registered.")
    expect(rep.get_by_role("cell", name="pending confirmation")).to_be_visible()
    kept = devtools.send("WebAuthn.getCredentials", {"authenticatorId": phone["authenticatorId"]})
    [made] = kept["credentials"]  # the private key is on the phone; the server has the public one
    with world.db.read_session() as db:
        [stored] = db.query(PasskeyCredential).all()
    assert stored.credential_id == base64.b64decode(made["credentialId"])
    assert stored.rp_id == "localhost"

    # --- the community's facilitator confirms it in the register
    facilitator = new_page("facilitator")
    sign_in(facilitator, base, "facilitator")
    facilitator.goto(f"{base}/communities/{SLUG}")
    facilitator.get_by_role("button", name=re.compile(r"^Confirm the passkey My phone")).click()
    expect(facilitator.locator(".flash.success")).to_contain_text("Passkey confirmed")

    # --- the representative records consent, reads it again, and signs it with the phone
    rep.goto(f"{base}/cases/{case_id}")
    do_action(rep, "Record consent")
    expect(rep.get_by_label("Your password, to confirm this decision")).to_have_count(0)
    fill_assembly_vote(rep, SLUG)
    rep.get_by_label("Decision text in the original language").fill("Ari, munayku.")
    rep.get_by_role("button", name="Record consent", exact=True).click()
    expect(rep.get_by_role("heading", level=1)).to_have_text("Sign: Record consent")
    signed = rep.get_by_role("region", name="What you sign")
    expect(signed).to_contain_text("Ari, munayku.")
    expect(signed).to_contain_text("Casa comunal de Qollana")
    rep.get_by_role("button", name="Sign with your passkey").click()
    expect(rep.locator(".flash.success")).to_have_text("Done: Record consent.")
    assert current_stage(rep) == "Agreement and validation"

    # --- the trail holds the signature, and the trail alone proves it
    with world.db.read_session() as db:
        event = list(audit.export_rows(db, case_id))[-1]
    assert (event["action"], event["outcome"]) == ("give_consent", "done")
    signature = event["data"]["signature"]
    assert signature["credential_id"] == b64url(stored.credential_id)
    assert signature["public_key"] == b64url(stored.public_key)
    assert (signature["rp_id"], signature["origin"]) == ("localhost", base)
    assert event["data"]["payload"]["text_original"] == "Ari, munayku."
    assert signature_problem(event) is None
