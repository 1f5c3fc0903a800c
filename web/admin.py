"""User administration: administrators manage accounts and cannot touch any decision."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length, Optional

from fpic.errors import InvalidData
from fpic.models import ROLES, Representative, User
from fpic.registry import ASSIGNABLE_ROLES, add_user, set_user_active, set_user_role
from web.auth import requires
from web.context import actor, engine
from web.forms import attach_error, options

bp = Blueprint("admin", __name__, url_prefix="/admin")


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[InputRequired(), Length(max=80)])
    display_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[])
    representative_id = SelectField(
        _l("Registered representative (for a representative)"), choices=[], validators=[Optional()]
    )
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=128)])


@bp.route("/users", methods=["GET", "POST"])
@requires("users:manage")
def users() -> Any:
    from web.i18n import reason_text

    form = _user_form()
    if request.method != "POST":
        return _page(form, 200)
    if form.validate():
        rep = form.representative_id.data
        try:
            add_user(
                engine(),
                actor(),
                username=form.username.data or "",
                password=form.password.data or "",
                role=form.role.data or "",
                display_name=form.display_name.data or None,
                representative_id=int(rep) if rep and rep.isdigit() else None,
            )
        except InvalidData as bad:
            if not attach_error(form, bad.field, reason_text(bad.reasons[0])):
                form.username.errors = [reason_text(bad.reasons[0])]
        else:
            flash(_("User %(name)s added.", name=form.username.data), "success")
            return redirect(url_for("admin.users"))
    return _page(form, 400)


def _user_form() -> UserForm:
    from web.i18n import role_title

    with engine().db.read_session() as db:
        reps = db.scalars(select(Representative).order_by(Representative.name)).all()
        form = UserForm()
        form.role.choices = options((r, role_title(r)) for r in ROLES)
        form.representative_id.choices = options([("", "—"), *((r.id, r.name) for r in reps)])
    return form


def _page(form: UserForm, status: int) -> tuple[str, int]:
    with engine().db.read_session() as db:
        people = db.scalars(select(User).order_by(User.role, User.username)).all()
        page = render_template(
            "admin/users.html", people=people, form=form, assignable_roles=ASSIGNABLE_ROLES
        )
    return page, status


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@requires("users:manage")
def set_active(user_id: int) -> Any:
    active = request.form.get("active") == "1"
    set_user_active(engine(), actor(), user_id, active)
    flash(
        _("Account enabled.") if active else _("Account disabled; its sessions ended."), "success"
    )
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@requires("users:manage")
def set_role(user_id: int) -> Any:
    from web.i18n import reason_text, role_title

    role = request.form.get("role", "")
    try:
        set_user_role(engine(), actor(), user_id, role)
    except InvalidData as bad:
        # shown above the list of accounts, in the reader's language, with nothing changed
        flash(reason_text(bad.reasons[0]), "error")
        return _page(_user_form(), 400)
    message = _("Role changed to %(role)s; the account's sessions ended.", role=role_title(role))
    flash(message, "success")
    return redirect(url_for("admin.users"))
