"""A software WebAuthn authenticator for tests: an EC P-256 key (PyCA's cryptography) that
answers registration and authentication requests with real authenticator data, client data
JSON and ES256 signatures, in the JSON form browsers send (``PublicKeyCredential.toJSON()``).

Registration uses the ``none`` attestation format (a packed attestation statement with no
statement at all: what passkeys send when the site asks for no attestation).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

from fpic.accounts.passkeys import register_passkey, registration_request
from fpic.trail.signatures import b64url
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine

UP, UV, AT = 0x01, 0x04, 0x40


@dataclass
class SoftAuthenticator:
    """One passkey, for one site (``rp_id``), used from pages of ``origin``."""

    rp_id: str = "localhost"
    origin: str = "http://localhost"
    #: the signature counter it reports; 0 stays 0, as most passkeys do
    counter: int = 0
    #: whether it says it verified the person (PIN, fingerprint)
    verifies: bool = True
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))

    @property
    def public_key(self) -> bytes:
        """The COSE_Key of the public key (EC2, P-256, ES256), as authenticators encode it."""
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _flags(self, extra: int = 0) -> bytes:
        return bytes([UP | (UV if self.verifies else 0) | extra])

    def _counted(self) -> bytes:
        if self.counter:
            self.counter += 1
        return self.counter.to_bytes(4, "big")

    def _client_data(self, kind: str, challenge: bytes, origin: str | None = None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": b64url(challenge),
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def register(self, options: str | dict[str, Any]) -> dict[str, Any]:
        """The answer to ``navigator.credentials.create`` with these options (JSON)."""
        found = json.loads(options) if isinstance(options, str) else options
        challenge = _unb64(found["challenge"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + self._flags(AT)
            + self.counter.to_bytes(4, "big")
            + bytes(16)  # AAGUID: none said
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.public_key
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(self._client_data("webauthn.create", challenge)),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def sign(
        self, challenge: bytes, *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """The answer to ``navigator.credentials.get`` for ``challenge``: an assertion."""
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + self._flags()
            + self._counted()
        )
        client_data = self._client_data("webauthn.get", challenge, origin)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def enrol_passkey(
    engine: Engine,
    actor: Actor,
    authenticator: SoftAuthenticator | None = None,
    name: str = "phone",
) -> tuple[int, SoftAuthenticator]:
    """A passkey registered for ``actor`` the way the account page does it (a registration
    request, the authenticator's answer, the engine's check): its id, pending confirmation."""
    key = authenticator or SoftAuthenticator()
    with engine.db.read_session() as session:
        request = registration_request(session, actor, rp_id=key.rp_id, now=engine.clock.now())
    passkey_id = register_passkey(
        engine, actor, name=name, credential=key.register(request.options), request=request,
        rp_id=key.rp_id, origin=key.origin,
    )  # fmt: skip
    return passkey_id, key
