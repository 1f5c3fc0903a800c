"""A representative's passkeys: registering one, its confirmation by someone else, revoking it.

A representative registers a passkey (on their phone) or a FIDO2 security key from their own
account, in a WebAuthn registration ceremony checked by py_webauthn: the browser asks the
authenticator to make a new key pair for this site, and the server keeps only its public key.
The key signs nothing until it is confirmed as the community's register requires, by whoever
may confirm the representative's mandate (another mandated representative of the community,
or the facilitator of one of its cases; never its holder: ``register_refusals``); its holder
may revoke it at any time (a lost phone). With a confirmed key the representative signs the
community's decisions where its protocol asks for it (fpic.workflow.signing).

Each change goes through ``Engine.system_action``: one transaction with its system-chain event,
in the shape of every account event (fpic.accounts.registry.account_event) for the key's holder,
plus ``passkey_id``, ``name``, ``credential_id`` and ``public_key`` (base64url; the public key
COSE-encoded, as signed events carry it), ``fingerprint`` and ``rp_id``. The actor of
``confirm_passkey`` is who confirmed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fpic.accounts.registry import account_event, community_standing
from fpic.i18n import N_
from fpic.storage.models import PasskeyCredential, Representative, User
from fpic.trail.signatures import b64url, key_fingerprint
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine, require_active
from fpic.workflow.errors import NotPermitted, invalid
from fpic.workflow.payloads import Fields
from fpic.workflow.permissions import SYSTEM_ACTION_ROLES, register_refusals

#: how long the browser has to answer a registration request (the challenge's life)
REGISTRATION_SECONDS = 300
#: what names the installation to the person's authenticator
RP_NAME = "fpic"


@dataclass(frozen=True)
class RegistrationRequest:
    """What the browser's ``navigator.credentials.create`` is asked (``options``, JSON in
    WebAuthn's PublicKeyCredentialCreationOptionsJSON form), and the challenge the interface
    keeps on its side, used once, until the browser answers."""

    options: str
    challenge: bytes
    issued_at: datetime


def registration_request(
    session: Session, actor: Actor, *, rp_id: str, now: datetime
) -> RegistrationRequest:
    """A new passkey for the person's own account, for the site ``rp_id``: made by their
    authenticator, which must verify them (PIN, fingerprint or face) whenever it is used; the
    keys they hold already are excluded, so one authenticator is registered once."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    user = session.get(User, actor.user_id)
    if user is None:
        raise invalid("user_id", N_("There is no such user."))
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_name=user.username,
        # the account's id, not its name: an authenticator's user handle names nobody
        user_id=f"fpic-user-{user.id}".encode("ascii"),
        user_display_name=user.display_name,
        timeout=REGISTRATION_SECONDS * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=key.credential_id)
            for key in passkeys_of(session, user.id)
            if key.revoked_at is None
        ],
    )
    return RegistrationRequest(options_to_json(options), options.challenge, now)


def register_passkey(
    engine: Engine,
    actor: Actor,
    *,
    name: str,
    credential: Mapping[str, Any] | str,
    request: RegistrationRequest | None,
    rp_id: str,
    origin: str,
) -> int:
    """Keep the public key of the passkey the browser made for ``request`` (its answer
    ``credential``: ``PublicKeyCredential.toJSON()``), for the person's own account, pending
    confirmation. Refused when there was no request, when it is older than
    ``REGISTRATION_SECONDS``, and when the answer is not a new key made for this site and
    challenge by an authenticator that verified the person."""
    clean_name = Fields({"name": name}, {"name"}).name("name")
    if clean_name is not None and len(clean_name) > 80:
        raise invalid("name", N_("%(field)s may have at most %(max)s characters."), max=80)

    def work(session: Session) -> dict[str, Any]:
        require_active(session, actor)
        now = engine.clock.now()
        if request is None or now - request.issued_at > timedelta(seconds=REGISTRATION_SECONDS):
            raise invalid(
                "credential",
                N_("The passkey was not registered in time, or the page was used twice: "
                   "start again."),
            )  # fmt: skip
        public_key, credential_id, sign_count = _verified(credential, request, rp_id, origin)
        taken = select(PasskeyCredential.id).where(PasskeyCredential.credential_id == credential_id)
        if session.scalar(taken) is not None:
            raise invalid("credential", N_("This passkey is registered already."))
        key = PasskeyCredential(
            user_id=actor.user_id,
            name=clean_name or "",
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            rp_id=rp_id,
            created_at=now,
        )
        session.add(key)
        session.flush()  # the key's id goes on the trail
        return _event(session, key)

    done = engine.system_action(
        actor, "register_passkey", SYSTEM_ACTION_ROLES["register_passkey"], work
    )
    passkey_id: int = done["passkey_id"]
    return passkey_id


def _verified(
    credential: Mapping[str, Any] | str, request: RegistrationRequest, rp_id: str, origin: str
) -> tuple[bytes, bytes, int]:
    """The new key's COSE public key, credential id and counter, as py_webauthn checked them."""
    from webauthn import verify_registration_response

    try:
        verified = verify_registration_response(
            credential=credential if isinstance(credential, str) else dict(credential),
            expected_challenge=request.challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except Exception:  # the library raises several kinds for a malformed or false answer
        raise invalid(
            "credential", N_("The passkey's registration could not be verified: try again.")
        ) from None
    return verified.credential_public_key, verified.credential_id, verified.sign_count


def confirm_passkey(engine: Engine, actor: Actor, passkey_id: int) -> None:
    """Someone who may confirm the holder's mandate confirms their new passkey (another
    mandated representative of the community, or the facilitator of one of its cases; never
    the holder): from then on it may sign the community's decisions."""

    def work(session: Session) -> dict[str, Any]:
        key = _key(session, passkey_id)
        holder = key.user
        rep = holder.representative
        if rep is None:
            raise invalid("passkey_id", N_("There is no such passkey."))
        standing = community_standing(session, actor, rep.community_id, engine.clock.now().date())
        refusals = register_refusals(
            actor, "confirm_passkey", standing, holder=holder.id == actor.user_id
        )
        if refusals:
            raise NotPermitted(*refusals)
        if key.confirmed_at is not None or key.revoked_at is not None:
            raise invalid("passkey_id", N_("This passkey is not waiting for confirmation."))
        key.confirmed_at, key.confirmed_by_id = engine.clock.now(), actor.user_id
        return _event(session, key)

    engine.system_action(actor, "confirm_passkey", SYSTEM_ACTION_ROLES["confirm_passkey"], work)


def revoke_passkey(engine: Engine, actor: Actor, passkey_id: int) -> None:
    """The holder ends one of their own passkeys at once (a lost phone): it signs nothing more.
    Another person's is as if it did not exist."""

    def work(session: Session) -> dict[str, Any]:
        require_active(session, actor)
        key = _key(session, passkey_id)
        if key.user_id != actor.user_id:
            raise invalid("passkey_id", N_("There is no such passkey of yours."))
        if key.revoked_at is not None:
            raise invalid("passkey_id", N_("This passkey has already been revoked."))
        key.revoked_at = engine.clock.now()
        return _event(session, key)

    engine.system_action(actor, "revoke_passkey", SYSTEM_ACTION_ROLES["revoke_passkey"], work)


def _key(session: Session, passkey_id: int) -> PasskeyCredential:
    key = session.get(PasskeyCredential, passkey_id) if 0 < passkey_id < 2**62 else None
    if key is None:
        raise invalid("passkey_id", N_("There is no such passkey."))
    return key


def _event(session: Session, key: PasskeyCredential) -> dict[str, Any]:
    holder = session.get(User, key.user_id)
    assert holder is not None  # the key's foreign key
    return account_event(
        holder,
        passkey_id=key.id,
        name=key.name,
        credential_id=b64url(key.credential_id),
        public_key=b64url(key.public_key),
        fingerprint=key_fingerprint(key.public_key),
        rp_id=key.rp_id,
    )


def passkeys_of(session: Session, user_id: int) -> list[PasskeyCredential]:
    """A person's own passkeys, newest first, for their account page."""
    return list(
        session.scalars(
            select(PasskeyCredential)
            .where(PasskeyCredential.user_id == user_id)
            .options(selectinload(PasskeyCredential.confirmed_by))
            .order_by(PasskeyCredential.id.desc())
        )
    )


def pending_passkeys(session: Session, community_id: int) -> list[PasskeyCredential]:
    """The passkeys of a community's representatives waiting for confirmation, oldest first,
    for the community's register (with their holders and representatives loaded)."""
    return list(
        session.scalars(
            select(PasskeyCredential)
            .join(User, PasskeyCredential.user_id == User.id)
            .join(Representative, User.representative_id == Representative.id)
            .where(
                Representative.community_id == community_id,
                PasskeyCredential.confirmed_at.is_(None),
                PasskeyCredential.revoked_at.is_(None),
            )
            .options(selectinload(PasskeyCredential.user).selectinload(User.representative))
            .order_by(PasskeyCredential.id)
        )
    )
