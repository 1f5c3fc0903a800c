"""The community's decisions signed by its representative's own passkey (WebAuthn).

A community's protocol may ask (``Protocol.signed_decisions``) that its representatives sign its
decisions themselves: then the actions declared ``signed`` (consent, withholding, declining to
engage, withdrawal, and a new protocol) are recorded only with a WebAuthn assertion by a
confirmed passkey of the person who records them, over a challenge derived from the very data
the trail event will hold. The event carries the assertion and the key's public key, so anyone
can check it from the exported trail alone (fpic/trail/signatures.py, which says byte by byte
what is signed and checked), and nobody holding the server's credentials can make one.

Every rule of it is here, asked by the engine in the action's transaction whatever the interface
(web, API): which action on which case needs a signature (:func:`signature_required`), what it is
over (:func:`event_data`, :func:`challenge`), and whether an assertion is one
(:func:`verify`: py_webauthn's ``verify_authentication_response`` against the acting person's
confirmed key, with user verification required, then the offline check of the event to be).
Registering and confirming the keys is the register's business (fpic/accounts/passkeys.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.evidence.store import Listed
from fpic.i18n import N_, Reason
from fpic.storage.models import PasskeyCredential
from fpic.trail.signatures import SIGNATURE, b64url, challenge_of, signature_problem
from fpic.workflow.actors import Actor
from fpic.workflow.errors import InvalidData

if TYPE_CHECKING:
    from fpic.storage.models import Case
    from fpic.workflow.schema import Action, Payload

#: the field a refusal names: what the person sends is the assertion
FIELD = "assertion"


@dataclass(frozen=True)
class Assertion:
    """What an authenticator answered to ``navigator.credentials.get``, as JSON (``id``,
    ``rawId``, ``type`` and ``response`` with ``clientDataJSON``, ``authenticatorData``,
    ``signature`` and ``userHandle``, bytes in base64url: the browser's
    ``PublicKeyCredential.toJSON()``), and where it was asked: the relying party id (the site's
    domain) and the page's origin, as the interface that served the page knows them."""

    credential: Mapping[str, Any] | str
    rp_id: str
    origin: str


def signature_required(action: Action, case: Case) -> bool:
    """Whether ``action`` on ``case`` is recorded only with the acting representative's
    signature: an action declared ``signed``, on a case whose protocol (as it stands before the
    action: a protocol asking for it is replaced only by a signed one) asks for it."""
    return action.signed and bool(case.signs_decisions)


def asks_password(action: Action, case: Case) -> bool:
    """Whether the person enters their password again: an action declared ``needs_password``,
    unless it is signed (the passkey's own check of the person, by PIN, fingerprint or face,
    confirms them better, and no password travels through the signing page)."""
    return action.needs_password and not signature_required(action, case)


def event_data(version: int, payload: Payload, listed: Sequence[Listed]) -> dict[str, Any]:
    """The data of a done action's trail event but for the ids of the rows it writes
    (``records``, added once written) and the signature: what a signature covers. The case's
    ``version`` after the action is part of it, so an assertion signs one action once."""
    data: dict[str, Any] = {"version": version, "payload": payload}
    if listed:  # the files by their hashes (docs/audit-format.md, section 12)
        data["files"] = [f.on_trail() for f in listed]
    return data


def challenge(case_id: int, trigger: str, data: Mapping[str, Any]) -> bytes:
    """The WebAuthn challenge of the event to be recorded (fpic.trail.signatures)."""
    return challenge_of(case_id, trigger, data)


def confirmed_keys(session: Session, user_id: int) -> list[PasskeyCredential]:
    """The person's passkeys that may sign: confirmed and not revoked."""
    return list(
        session.scalars(
            select(PasskeyCredential)
            .where(
                PasskeyCredential.user_id == user_id,
                PasskeyCredential.confirmed_at.is_not(None),
                PasskeyCredential.revoked_at.is_(None),
            )
            .order_by(PasskeyCredential.id)
        )
    )


#: how long the browser has to get the person's signature
SIGNING_SECONDS = 300


def assertion_options(challenge: bytes, keys: Sequence[bytes], rp_id: str) -> str:
    """What the browser's ``navigator.credentials.get`` is asked to sign ``challenge`` with one
    of ``keys`` (credential ids), the person verified: JSON in WebAuthn's
    PublicKeyCredentialRequestOptionsJSON form."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import (
        PublicKeyCredentialDescriptor,
        UserVerificationRequirement,
    )

    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=SIGNING_SECONDS * 1000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=key) for key in keys],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def verify(
    session: Session, actor: Actor, assertion: Assertion, expected: bytes, now: datetime
) -> dict[str, str]:
    """The event's ``signature`` member if ``assertion`` is a signature over ``expected`` by a
    confirmed passkey of ``actor``, with the person verified by the authenticator; else the
    refusal says why. The key's counter and last use are updated in the caller's transaction."""
    # py_webauthn costs a quarter of a second to load: only a signed action loads it
    from webauthn import verify_authentication_response
    from webauthn.helpers import parse_authentication_credential_json
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse

    try:
        credential = parse_authentication_credential_json(
            assertion.credential
            if isinstance(assertion.credential, str)
            else dict(assertion.credential)
        )
    except Exception:  # the library raises several kinds for malformed JSON
        raise _unreadable() from None
    key = session.scalar(
        select(PasskeyCredential).where(
            PasskeyCredential.credential_id == credential.raw_id,
            PasskeyCredential.user_id == actor.user_id,
        )
    )
    if key is None or key.revoked_at is not None or key.rp_id != assertion.rp_id:
        raise _refused("passkey_unknown", N_("This passkey is not one of yours registered here."))
    if key.confirmed_at is None:
        raise _refused(
            "passkey_unconfirmed",
            N_(
                "Your passkey is not confirmed yet: whoever may confirm your mandate must "
                "confirm it in the community's register before it can sign."
            ),
        )
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=expected,
            expected_rp_id=assertion.rp_id,
            expected_origin=assertion.origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse:
        raise _mismatch() from None
    key.sign_count, key.last_used_at = verified.new_sign_count, now
    response = credential.response
    return {
        "credential_id": b64url(key.credential_id),
        "public_key": b64url(key.public_key),
        "authenticator_data": b64url(response.authenticator_data),
        "client_data_json": b64url(response.client_data_json),
        "signature": b64url(response.signature),
        "rp_id": assertion.rp_id,
        "origin": assertion.origin,
    }


def check_recorded(case_id: int, trigger: str, data: dict[str, Any]) -> None:
    """The event about to be recorded, checked as an auditor will check it from the trail
    (fpic.trail.signatures): a signed event fpic writes always verifies offline."""
    if SIGNATURE in data and signature_problem({"case": case_id, "action": trigger, "data": data}):
        raise _mismatch()


def signature_missing() -> InvalidData:
    return _refused(
        "signature_required",
        N_(
            "The community's protocol asks its representatives to sign this decision with their "
            "own passkey: it is recorded only with your signature."
        ),
    )


def _mismatch() -> InvalidData:
    return _refused(
        "signature_invalid",
        N_("The passkey's signature does not match this decision: nothing was recorded."),
    )


def _unreadable() -> InvalidData:
    return _refused("signature_unreadable", N_("The passkey's answer could not be read."))


def _refused(code: str, message: str) -> InvalidData:
    return InvalidData(FIELD, Reason(code, message, {"field": FIELD}))
