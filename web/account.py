"""The signed-in person's own account: changing their password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from fpic.accounts import change_password
from fpic.errors import InvalidData, NotPermitted
from fpic.registry import MAX_PASSWORD, MIN_PASSWORD
from web.auth import requires
from web.context import actor, engine
from web.forms import attach_error
from web.i18n import reason_text

bp = Blueprint("account", __name__, url_prefix="/account")


class PasswordForm(FlaskForm):
    # no length limit on the new password here: the engine's rule (and its message) decides
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(), Length(max=MAX_PASSWORD)]
    )
    new_password = PasswordField(_l("New password"), validators=[InputRequired()])
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[
            InputRequired(),
            EqualTo("new_password", message=_l("The two new passwords are not the same.")),
        ],
    )


@bp.route("/password", methods=["GET", "POST"])
@requires("own_password:change")
def password() -> Any:
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(form, 400 if form.is_submitted() else 200)
    try:
        change_password(
            engine(), actor(), form.current_password.data or "", form.new_password.data or ""
        )
    except InvalidData as bad:
        attach_error(form, bad.field, reason_text(bad.reasons[0]))
        return _page(form, 400)
    except NotPermitted as refusal:
        flash(reason_text(refusal.reasons[0]), "error")
        throttled = any(r.code == "password_throttled" for r in refusal.reasons)
        return _page(form, 429 if throttled else 403)
    _sign_out_here()
    flash(_("Your password was changed. Sign in with your new password."), "success")
    return redirect(url_for("auth.login"))


def _page(form: PasswordForm, status: int) -> tuple[str, int]:
    page = render_template(
        "account/password.html", form=form, min_length=MIN_PASSWORD, max_length=MAX_PASSWORD
    )
    return page, status


def _sign_out_here() -> None:
    """The engine already ended every session of this person; forget this one's cookie too,
    keeping only the language a visitor chose."""
    locale = session.get("locale")
    logout_user()
    session.clear()
    if locale:
        session["locale"] = locale
