"""Decisions signed with a representative's own passkey (WebAuthn), checked from the trail alone.

When a case's protocol asks for it (``signed_decisions``), the engine records a decision, a
withdrawal of consent, a refusal to engage or a new protocol only with a WebAuthn assertion by
a confirmed passkey of the representative who acts, over a challenge derived from the event's
own data (fpic/workflow/signing.py); the event then carries the assertion and the key's public
key in ``data.signature``. The private key never leaves the representative's authenticator
(their phone's passkey, a FIDO2 security key), so nobody holding the server's credentials can
make such a signature. This module checks one exported event (docs/audit-format.md, section 2)
with nothing else: no database, no network, no fpic installation. The engine checks every
signed event with it before recording it, so an event fpic wrote always passes.

``signature_problem(row)`` returns None for an event whose ``data`` has no member
``signature`` (nothing to check) and for one whose signature holds; otherwise a short English
text naming the first check that failed. The checks, in order:

1. ``data.signature`` is a JSON object with exactly these seven members, each a string:
   ``credential_id``, ``public_key``, ``authenticator_data``, ``client_data_json`` and
   ``signature`` -- each the base64url encoding of bytes (RFC 4648 section 5: alphabet
   ``A-Z a-z 0-9 - _``, no ``=`` padding, no white space; decoded as such) -- and ``rp_id``
   (the WebAuthn relying party id: the site's domain, e.g. ``fpic.example.org``) and
   ``origin`` (the web origin the browser signed on, e.g. ``https://fpic.example.org``).
2. The signed text T is the canonical JSON (section 3) of the object with exactly three
   members ``{"action": A, "case": K, "data": D}``: A is the event's ``action``, K its ``case``
   and D its ``data`` without the members ``signature`` and ``records`` (``records`` holds the
   ids of the rows the action wrote, known only once it was written; every other member of
   ``data`` -- ``version``, ``payload``, ``files`` when present -- is signed). T is encoded as
   UTF-8. The challenge C is the 32 bytes of SHA-256(T). For example, for case 7, action
   ``give_consent`` and data ``{"version": 12, "payload": {...}, "records": {...}}``, T is
   ``{"action":"give_consent","case":7,"data":{"payload":{...},"version":12}}``.
3. The bytes of ``client_data_json`` are UTF-8 text of a JSON object (the browser's
   CollectedClientData, WebAuthn Level 2 section 5.8.1) whose member ``type`` is exactly the
   string ``webauthn.get``, whose member ``challenge`` is a string that base64url-decodes to
   exactly C (browsers write it without padding), whose member ``origin`` is exactly the
   string ``signature.origin``, and whose member ``crossOrigin``, if present, is not ``true``
   (the page that asked was not framed by another site).
4. ``origin`` is ``https://`` or ``http://`` followed by a host name and optionally ``:`` and
   a port, nothing else; the host equals ``rp_id`` or ends with ``.`` followed by ``rp_id``
   (a browser signs for a relying party only on its own site).
5. The bytes of ``authenticator_data`` number at least 37. Bytes 0 to 31 equal SHA-256 of the
   UTF-8 bytes of ``rp_id``. In byte 32 (the flags) bit 0 (UP: a person was present) and bit 2
   (UV: the authenticator verified them, by PIN, fingerprint or face) are both set. Bytes 33
   to 36 are the authenticator's signature counter, big-endian; it is not checked here (the
   engine compares it with the counter it stores when it records the event).
6. The bytes of ``public_key`` are a COSE_Key (RFC 9052 section 7, CBOR) of a kind WebAuthn
   uses: EC2 (ES256: P-256 with SHA-256, COSE alg -7, and ES384, ES512), OKP (EdDSA on
   Ed25519, alg -8) or RSA (RS256 alg -257, PS256 alg -37, ...). The bytes of ``signature``
   are a valid signature by that key, with the algorithm its ``alg`` names, over the bytes of
   ``authenticator_data`` followed by the 32 bytes of SHA-256 of the bytes of
   ``client_data_json`` (ECDSA signatures DER-encoded, as WebAuthn specifies). Decoding the
   key and checking the signature are py_webauthn's (``decode_credential_public_key``,
   ``verify_signature``) over PyCA's cryptography: nothing of the cryptography is written here.

``credential_id`` is not covered by the signature: it names the key. Who holds the key is on
the system chain: the ``register_passkey`` event whose ``credential_id`` and ``public_key``
are the same, for the representative's account, and the ``confirm_passkey`` event by which
someone other than its holder confirmed it. A verifier reporting who signed matches the
signature's key against those events (``signer`` gives it, with its fingerprint).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fpic.trail.audit import canonical_json

#: the member of an event's data that carries the signature
SIGNATURE = "signature"
#: the members of an event's data the signature does not cover: itself, and the ids of the
#: rows the action wrote (known only once written)
UNSIGNED = (SIGNATURE, "records")
#: the members of ``data.signature``, in the order the trail's documentation lists them
MEMBERS = (
    "credential_id",
    "public_key",
    "authenticator_data",
    "client_data_json",
    "signature",
    "rp_id",
    "origin",
)
#: the members that hold bytes, base64url-encoded
BINARY = MEMBERS[:5]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_ORIGIN = re.compile(r"(?:https|http)://([A-Za-z0-9.-]+)(?::[0-9]{1,5})?")
_UP, _UV = 0x01, 0x04


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5), as WebAuthn writes bytes in JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The bytes of an unpadded base64url text; ValueError for anything else."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def signed_object(case_id: object, action: object, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a signature covers: the event's case, action and data but for ``UNSIGNED``."""
    return {
        "case": case_id,
        "action": action,
        "data": {key: value for key, value in data.items() if key not in UNSIGNED},
    }


def signed_text(case_id: object, action: object, data: Mapping[str, Any]) -> bytes:
    """The UTF-8 canonical JSON of :func:`signed_object` (check 2 above)."""
    return canonical_json(signed_object(case_id, action, data)).encode("utf-8")


def challenge_of(case_id: object, action: object, data: Mapping[str, Any]) -> bytes:
    """The WebAuthn challenge of an event: SHA-256 of its signed text (32 bytes)."""
    return hashlib.sha256(signed_text(case_id, action, data)).digest()


def key_fingerprint(public_key: bytes) -> str:
    """A key's fingerprint for people to compare: SHA-256 of its COSE bytes, in hex, the first
    16 bytes in groups of four digits (the register and the account page show it)."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


@dataclass(frozen=True)
class Signer:
    """The key that signed an event, as the event names it."""

    credential_id: str
    public_key: str
    fingerprint: str
    rp_id: str
    origin: str


def signer(row: Mapping[str, Any]) -> Signer | None:
    """The key a signed event names (base64url, as on the trail), and its fingerprint; None for
    an event without a well-formed signature. Says nothing of whether the signature holds:
    that is :func:`signature_problem`."""
    try:
        member = _member(row.get("data"))
        if member is None:
            return None
        parts = _parts(member)
    except _Problem:
        return None
    return Signer(
        member["credential_id"],
        member["public_key"],
        key_fingerprint(parts["public_key"]),
        member["rp_id"],
        member["origin"],
    )


class _Problem(Exception):
    pass


def signature_problem(row: Mapping[str, Any]) -> str | None:
    """None if the event carries no signature or its signature holds; else what is wrong."""
    try:
        member = _member(row.get("data"))
        if member is None:
            return None
        _check(row, member, _parts(member))
    except _Problem as problem:
        return str(problem)
    return None


def _member(data: object) -> dict[str, Any] | None:
    if not isinstance(data, dict) or SIGNATURE not in data:
        return None
    member = data[SIGNATURE]
    if not isinstance(member, dict):
        raise _Problem("the signature is not an object")
    return member


def _parts(member: dict[str, Any]) -> dict[str, bytes]:
    if set(member) != set(MEMBERS):
        raise _Problem(f"the signature's members are not exactly {', '.join(MEMBERS)}")
    if not all(isinstance(member[key], str) for key in MEMBERS):
        raise _Problem("a member of the signature is not a string")
    parts = {}
    for key in BINARY:
        try:
            parts[key] = unb64url(member[key])
        except ValueError:
            raise _Problem(f"the signature's {key} is not base64url") from None
    return parts


def _check(row: Mapping[str, Any], member: dict[str, Any], parts: dict[str, bytes]) -> None:
    data = row.get("data")
    assert isinstance(data, dict)  # _member found the signature in it
    try:
        challenge = challenge_of(row.get("case"), row.get("action"), data)
    except ValueError:
        raise _Problem("the event's data has no canonical form") from None
    rp_id, origin = member["rp_id"], member["origin"]
    _check_client_data(parts["client_data_json"], challenge, origin)
    _check_origin(origin, rp_id)
    _check_authenticator_data(parts["authenticator_data"], rp_id)
    _check_signature(parts)


def _check_client_data(raw: bytes, challenge: bytes, origin: str) -> None:
    try:
        client = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Problem("client_data_json is not UTF-8 JSON") from None
    if not isinstance(client, dict):
        raise _Problem("client_data_json is not a JSON object")
    if client.get("type") != "webauthn.get":
        raise _Problem('client_data_json is not of type "webauthn.get"')
    sent = client.get("challenge")
    try:
        signed_challenge = unb64url(sent if isinstance(sent, str) else "")
    except ValueError:
        raise _Problem("client_data_json's challenge is not base64url") from None
    if signed_challenge != challenge:
        raise _Problem("the signature is not over this event's data (challenge differs)")
    if client.get("origin") != origin:
        raise _Problem("client_data_json's origin is not the signature's origin")
    if client.get("crossOrigin") is True:
        raise _Problem("the signature was asked for from a page framed by another site")


def _check_origin(origin: str, rp_id: str) -> None:
    found = _ORIGIN.fullmatch(origin)
    host = found.group(1) if found else ""
    if not rp_id or not (host == rp_id or host.endswith("." + rp_id)):
        raise _Problem("the origin is not a page of the relying party rp_id")


def _check_authenticator_data(raw: bytes, rp_id: str) -> None:
    if len(raw) < 37:
        raise _Problem("authenticator_data is shorter than 37 bytes")
    if raw[:32] != hashlib.sha256(rp_id.encode("utf-8")).digest():
        raise _Problem("authenticator_data is not for the relying party rp_id")
    flags = raw[32]
    if not flags & _UP:
        raise _Problem("the authenticator does not say a person was present (UP)")
    if not flags & _UV:
        raise _Problem("the authenticator did not verify the person (UV)")


def _check_signature(parts: dict[str, bytes]) -> None:
    # py_webauthn's own helpers over PyCA's cryptography: loaded only for a signed event
    from cryptography.exceptions import InvalidSignature
    from webauthn.helpers import (
        decode_credential_public_key,
        decoded_public_key_to_cryptography,
        verify_signature,
    )

    try:
        decoded = decode_credential_public_key(parts["public_key"])
        key = decoded_public_key_to_cryptography(decoded)
    except Exception:  # any malformed CBOR or unknown key type: the library raises many kinds
        raise _Problem("public_key is not a COSE key WebAuthn uses") from None
    signed = parts["authenticator_data"] + hashlib.sha256(parts["client_data_json"]).digest()
    try:
        verify_signature(
            public_key=key, signature_alg=decoded.alg, signature=parts["signature"], data=signed
        )
    except InvalidSignature:
        raise _Problem("the signature does not verify with public_key") from None
    except Exception:  # an algorithm the key names but cannot use, a malformed signature
        raise _Problem("the signature cannot be checked with public_key") from None
