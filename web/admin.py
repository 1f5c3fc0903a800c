"""User administration: administrators manage accounts and cannot touch any decision.

Nobody sets another person's password: adding an account or resetting one issues a one-time
enrolment code, shown once on the page that answers the request (never flashed, so it does
not sit in the session cookie), with which the person chooses their own password.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from fpic.accounts.passwords import NO_PASSWORD
from fpic.accounts.registry import (
    IssuedCode,
    add_user,
    reset_account,
    set_user_active,
    set_user_role,
)
from fpic.storage.models import ROLES, Representative, User
from fpic.workflow.errors import InvalidData, NotPermitted
from fpic.workflow.permissions import ASSIGNABLE_ROLES
from web.auth import requires
from web.context import actor, engine
from web.forms import attach_error, options
from web.i18n import reason_text

bp = Blueprint("admin", __name__, url_prefix="/admin")


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[InputRequired(), Length(max=80)])
    display_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    email = StringField(
        _l("E-mail address (for notifications)"), validators=[Optional(), Length(max=254)]
    )
    role = SelectField(_l("Role"), choices=[])
    representative_id = SelectField(
        _l("Registered representative (for a representative)"), choices=[], validators=[Optional()]
    )


@bp.route("/users", methods=["GET", "POST"])
@requires("users:manage")
def users() -> Any:
    form = _user_form()
    if request.method != "POST":
        return _page(form, 200)
    if form.validate():
        rep = form.representative_id.data
        try:
            issued = add_user(
                engine(),
                actor(),
                username=form.username.data or "",
                role=form.role.data or "",
                display_name=form.display_name.data or None,
                representative_id=int(rep) if rep and rep.isdigit() else None,
                email=form.email.data or None,
            )
        except InvalidData as bad:
            if not attach_error(form, bad.field, reason_text(bad.reasons[0])):
                form.username.errors = [reason_text(bad.reasons[0])]
        except NotPermitted as refusal:
            return _page(form, 403, refusal=refusal.reasons)
        else:
            # a page, not a redirect: a flashed code would travel in the session cookie
            return _page(_user_form(formdata=None), 200, issued=issued, added=True)
    return _page(form, 400)


def _user_form(formdata: Any = "request") -> UserForm:
    from web.i18n import role_title

    with engine().db.read_session() as db:
        reps = db.scalars(
            select(Representative)
            .options(selectinload(Representative.community))
            .order_by(Representative.name)
        ).all()
        form = UserForm() if formdata == "request" else UserForm(formdata=None)
        form.role.choices = options((r, role_title(r)) for r in ROLES)
        form.representative_id.choices = options(
            [("", "—"), *((r.id, f"{r.name} — {r.community.name}") for r in reps)]
        )
    return form


def _page(
    form: UserForm,
    status: int,
    issued: IssuedCode | None = None,
    added: bool = False,
    refusal: Any = (),
) -> tuple[str, int]:
    with engine().db.read_session() as db:
        people = db.scalars(
            select(User)
            .options(selectinload(User.representative).selectinload(Representative.community))
            .order_by(User.role, User.username)
        ).all()
        page = render_template(
            "admin/users.html", people=people, form=form, assignable_roles=ASSIGNABLE_ROLES,
            issued=issued, added=added, refusal=refusal, no_password=NO_PASSWORD,
        )  # fmt: skip
    return page, status


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@requires("users:manage")
def set_active(user_id: int) -> Any:
    active = request.form.get("active") == "1"
    try:
        set_user_active(engine(), actor(), user_id, active)
    except InvalidData as bad:
        return _page(_user_form(formdata=None), 400, refusal=bad.reasons)
    flash(
        _("Account enabled.") if active else _("Account disabled; its sessions ended."), "success"
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@requires("users:manage")
def set_role(user_id: int) -> Any:
    from web.i18n import role_title

    role = request.form.get("role", "")
    try:
        set_user_role(engine(), actor(), user_id, role)
    except InvalidData as bad:
        # shown above the list of accounts, in the reader's language, with nothing changed
        flash(reason_text(bad.reasons[0]), "error")
        return _page(_user_form(formdata=None), 400)
    message = _("Role changed to %(role)s; the account's sessions ended.", role=role_title(role))
    flash(message, "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/reset", methods=["POST"])
@requires("users:manage")
def reset(user_id: int) -> Any:
    """A new enrolment code: the account's password stops working and its sessions end."""
    try:
        issued = reset_account(engine(), actor(), user_id)
    except InvalidData as bad:
        return _page(_user_form(formdata=None), 400, refusal=bad.reasons)
    except NotPermitted as refusal:
        return _page(_user_form(formdata=None), 403, refusal=refusal.reasons)
    return _page(_user_form(formdata=None), 200, issued=issued)
