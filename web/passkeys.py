"""Passkeys: a representative registers their own and sees them, whoever may confirm their
mandate confirms a new one in the community's register, and a decision is signed with one where
the case's protocol asks for it (the page that shows the decision and asks the passkey to sign).

Every rule is the engine's (fpic.accounts.passkeys, fpic.workflow.signing): these routes parse,
call it and render. The WebAuthn ceremonies themselves run in the browser (static/passkey.js,
the app's one script, served from here: no CDN); every other page works without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from fpic.accounts.passkeys import (
    RegistrationRequest,
    confirm_passkey,
    passkeys_of,
    register_passkey,
    registration_request,
    revoke_passkey,
)
from fpic.read.queries import visible_communities
from fpic.storage.models import Case, Community, PasskeyCredential, Representative, User
from fpic.trail.signatures import b64url, key_fingerprint, signed_object, unb64url
from fpic.workflow.actions import ACTIONS
from fpic.workflow.errors import GuardRefused, InvalidData, InvalidTransition, StaleCase
from fpic.workflow.process import Template
from fpic.workflow.schema import Action, Term
from fpic.workflow.signing import assertion_options
from web.auth import requires
from web.cases import refused_page, sent_version
from web.context import actor, engine, relying_party
from web.forms import attach_error, submitted
from web.i18n import reason_text
from web.labels import text_of

bp = Blueprint("passkeys", __name__)

#: where a registration's challenge waits for the browser's answer: one at a time, used once
_PENDING = "passkey_registration"
#: what the signing page does not carry again: the form's own token and version, and what the
#: signing replaces or adds
_NOT_CARRIED = ("csrf_token", "version", "password", "assertion")


class PasskeyForm(FlaskForm):
    name = StringField(
        _l("Name of the passkey"),
        validators=[InputRequired(), Length(max=80)],
        description=_l("So that you can tell your keys apart, e.g. “my phone”."),
    )
    #: the browser's answer, filled in by static/passkey.js
    credential = HiddenField()


class ActForm(FlaskForm):
    """Only the CSRF token: what to act on is in the address."""


@bp.route("/account/passkeys", methods=["GET"])
@requires("own_passkeys:manage")
def index() -> Any:
    """The person's own passkeys, and the form that registers a new one."""
    return _page(PasskeyForm(formdata=None), 200)


@bp.route("/account/passkeys", methods=["POST"])
@requires("own_passkeys:manage")
def register() -> Any:
    form = PasskeyForm()
    pending = _pending(session.pop(_PENDING, None))  # used once, whatever happens next
    if not form.validate_on_submit():
        return _page(form, 400)
    rp_id, origin = relying_party()
    try:
        register_passkey(
            engine(), actor(), name=form.name.data or "", credential=form.credential.data or "",
            request=pending, rp_id=rp_id, origin=origin,
        )  # fmt: skip
    except InvalidData as bad:
        if bad.field != "name" or not attach_error(form, bad.field, reason_text(bad.reasons[0])):
            flash(reason_text(bad.reasons[0]), "error")
        return _page(form, 400)
    flash(
        _(
            "Passkey registered. It signs nothing until it is confirmed in your community's "
            "register by another mandated representative or the community's facilitator."
        ),
        "success",
    )
    return redirect(url_for("passkeys.index"))


@bp.route("/account/passkeys/<int:passkey_id>/revoke", methods=["POST"])
@requires("own_passkeys:manage")
def revoke(passkey_id: int) -> Any:
    # CSRFProtect has checked the form's token before this view runs
    try:
        revoke_passkey(engine(), actor(), passkey_id)
    except InvalidData as bad:
        flash(reason_text(bad.reasons[0]), "error")
        return _page(PasskeyForm(formdata=None), 400)
    flash(_("The passkey was revoked: it signs nothing any more."), "success")
    return redirect(url_for("passkeys.index"))


def _page(form: PasskeyForm, status: int) -> tuple[str, int]:
    """The page, with a new registration request whose challenge waits in the session."""
    rp_id, _origin = relying_party()
    with engine().db.read_session() as db:
        keys = passkeys_of(db, actor().user_id)
        asked = registration_request(db, actor(), rp_id=rp_id, now=engine().clock.now())
        session[_PENDING] = {
            "challenge": b64url(asked.challenge),
            "issued_at": asked.issued_at.isoformat(),
        }
        page = render_template(
            "account/passkeys.html", form=form, keys=keys, options=asked.options,
            fingerprint=key_fingerprint, revoke_form=ActForm(),
        )  # fmt: skip
    return page, status


def _pending(kept: Any) -> RegistrationRequest | None:
    """The registration request the session kept, if it is one."""
    try:
        challenge = unb64url(kept["challenge"])
        issued_at = datetime.fromisoformat(kept["issued_at"])
    except (TypeError, KeyError, ValueError):
        return None
    return RegistrationRequest("", challenge, issued_at)


@bp.route("/communities/<slug>/passkeys/<int:passkey_id>/confirm", methods=["POST"])
@requires("community:register")
def confirm(slug: str, passkey_id: int) -> Any:
    """A representative's new passkey confirmed, where their mandate would be."""
    with engine().db.read_session() as db:
        community = db.scalar(visible_communities(actor()).where(Community.slug == slug[:80]))
        holders = (
            select(PasskeyCredential.id)
            .join(User, PasskeyCredential.user_id == User.id)
            .join(Representative, User.representative_id == Representative.id)
            .where(PasskeyCredential.id == passkey_id)
        )
        # a key of another community's representative is not found under this one's address
        if (
            community is None
            or db.scalar(holders.where(Representative.community_id == community.id)) is None
        ):
            abort(404)
    try:
        confirm_passkey(engine(), actor(), passkey_id)
    except InvalidData as bad:  # NotPermitted becomes the 403 page with its reason
        flash(reason_text(bad.reasons[0]), "error")
        return redirect(url_for("communities.show", slug=slug, _anchor="h-passkeys"))
    flash(_("Passkey confirmed: it may now sign the community's decisions."), "success")
    return redirect(url_for("communities.show", slug=slug, _anchor="h-passkeys"))


@bp.route("/cases/<int:case_id>/actions/<trigger>/sign", methods=["POST"])
@requires("case:act")
def sign(case_id: int, trigger: str) -> Any:
    """The decision as it will be recorded, and the button that has the representative's
    passkey sign it; what the form sent is carried, unchanged, to the action's own address."""
    version = sent_version()
    try:
        prepared = engine().prepare(
            case_id, trigger, actor(), submitted(request.form, request.files), version
        )
    except (StaleCase, InvalidData, GuardRefused, InvalidTransition) as refusal:
        return refused_page(case_id, trigger, version, refusal)
    rp_id, _origin = relying_party()
    with engine().db.read_session() as db:
        case = engine().case_for(db, case_id, actor())
        template = engine().template_of(case)
        spec = template.triggers[prepared.trigger]
        action = ACTIONS[spec.effect]
        signed = signed_object(prepared.case_id, prepared.trigger, prepared.data)
        return render_template(
            "cases/sign.html", case=case, trigger=spec, prepared=prepared,
            shown=_shown(action, prepared.data["payload"]), label=_labels(action),
            names=_names(action, case, template, engine().clock.now().date()),
            files=prepared.data.get("files", []), uploads=_uploads(),
            kept=[(k, v) for k, v in request.form.items(multi=True) if k not in _NOT_CARRIED],
            options=assertion_options(prepared.challenge, prepared.keys, rp_id)
            if prepared.keys else None,
            signed_text=json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False),
            challenge=prepared.challenge.hex(),
        )  # fmt: skip


def _labels(action: Action) -> Callable[[str], str]:
    """A field's label by the engine's name of it (``conditions.0.text``), or its name."""

    def label(path: str) -> str:
        found = action.label_of(path)
        return _(found) if found else path.rsplit(".", 1)[-1]

    return label


def _shown(action: Action, payload: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the page shows of the data: each declared field, then what the checks added."""
    declared = [spec.name for spec in action.fields if spec.name in payload]
    return [(name, payload[name]) for name in declared] + [
        (name, value) for name, value in payload.items() if name not in declared
    ]


def _names(action: Action, case: Case, template: Template, today: date) -> dict[str, Any]:
    """For the fields whose values are codes or records' ids, each value's title as the form
    offers it (a representative's name for their id, a vocabulary's title for its code)."""
    found: dict[str, dict[str, str]] = {}
    for spec in action.fields:
        if spec.choices is not None:
            found[spec.name] = {
                c.value: text_of(c.label) for c in spec.choices(case, template, today)
            }
        elif spec.vocabulary is not None:
            vocabulary = spec.vocabulary
            found[spec.name] = {
                code: text_of(Term(vocabulary, code)) for code in spec.allowed(template) or ()
            }
    return found


def _uploads() -> list[str]:
    """The file inputs the form sent files with: the signing page asks for them again."""
    return sorted(k for k in request.files if any(f.filename for f in request.files.getlist(k)))
