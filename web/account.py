"""The signed-in person's own account: changing their password, their API tokens, and their
settings (e-mail address, time zone, notifications)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from fpic.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD
from fpic.accounts.sessions import change_password
from fpic.accounts.settings import (
    MAX_EMAIL,
    REGIONS,
    SettingsRefused,
    change_settings,
    current_settings,
    utc_offset,
    zones_by_region,
)
from fpic.accounts.tokens import (
    MAX_DAYS,
    MIN_DAYS,
    IssuedToken,
    create_token,
    revoke_token,
    token_status,
)
from fpic.accounts.tokens import tokens_of as tokens_of_person
from fpic.workflow.errors import InvalidData, NotPermitted
from web.auth import requires
from web.context import actor, engine, may
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


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[InputRequired(), Length(max=80)],
        description=_l("What the token is for, e.g. the program that will use it."),
    )
    scope = SelectField(_l("What it may do"), choices=[])
    # no range here: the engine's rule (and its message) decides
    days = IntegerField(
        _l("Valid for (days)"),
        default=90,
        validators=[InputRequired()],
        description=_l("From %(min)s to %(max)s days; then it stops working.", min=MIN_DAYS,
                       max=MAX_DAYS),
    )  # fmt: skip


class RevokeForm(FlaskForm):
    """Only the CSRF token: which token to revoke is in the address."""


def _scope_choices() -> list[tuple[str, str]]:
    choices = [("read", _("Read only: cases, their trail, communities"))]
    if may("case:act"):  # the engine refuses an act token to anyone else, whatever is sent
        choices.append(("act", _("Read and act: do actions on cases, as you may")))
    return choices


@bp.route("/tokens", methods=["GET", "POST"])
@requires("own_tokens:manage")
def tokens() -> Any:
    """A person's own API tokens: create one (its secret is shown once), list, revoke."""
    form = TokenForm()
    form.scope.choices = _scope_choices()
    if not form.validate_on_submit():
        return _tokens_page(form, None, 400 if form.is_submitted() else 200)
    try:
        issued = create_token(
            engine(), actor(), name=form.name.data or "", scope=form.scope.data or "",
            days=form.days.data or 0,
        )  # fmt: skip
    except InvalidData as bad:
        attach_error(form, bad.field, reason_text(bad.reasons[0]))
        return _tokens_page(form, None, 400)
    except NotPermitted as refusal:
        flash(reason_text(refusal.reasons[0]), "error")
        return _tokens_page(form, None, 403)
    # shown on this answer only, never stored nor redirected to: the page is not cached
    return _tokens_page(TokenForm(formdata=None, scope=form.scope.data), issued, 201)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("own_tokens:manage")
def revoke(token_id: int) -> Any:
    # CSRFProtect has checked the form's token before this view runs
    try:
        revoke_token(engine(), actor(), token_id)
    except InvalidData as bad:
        flash(reason_text(bad.reasons[0]), "error")
        form = TokenForm(formdata=None)
        form.scope.choices = _scope_choices()
        return _tokens_page(form, None, 400)
    flash(_("The token was revoked: it no longer works."), "success")
    return redirect(url_for("account.tokens"))


def _tokens_page(form: TokenForm, issued: IssuedToken | None, status: int) -> tuple[str, int]:
    form.scope.choices = _scope_choices()
    now = engine().clock.now()
    with engine().db.read_session() as db:
        rows = [(t, token_status(t, now)) for t in tokens_of_person(db, actor().user_id)]
        page = render_template(
            "account/tokens.html", form=form, tokens=rows, issued=issued,
            revoke_form=RevokeForm(),
        )  # fmt: skip
    return page, status


# --- settings ----------------------------------------------------------------------------------


class SettingsForm(FlaskForm):
    email = StringField(
        _l("E-mail address"),
        validators=[Length(max=MAX_EMAIL)],
        description=_l("Where your notifications go. Without an address you get none."),
    )
    # any value reaches the engine, whose message names what is wrong with it
    time_zone = SelectField(
        _l("Time zone"),
        choices=[],
        validate_choice=False,
        description=_l("Every date and time is shown to you in it, on every page and e-mail."),
    )
    notify = BooleanField(
        _l("E-mail me when it is my turn on a case, and before each deadline"),
        description=_l("Each e-mail is in your language and links to the case."),
    )


@bp.route("/settings", methods=["GET", "POST"])
@requires("own_settings:change")
def settings() -> Any:
    """A person's own e-mail address, time zone and notifications (not on the trail: they
    decide nothing; fpic.accounts.settings)."""
    form = SettingsForm()
    if not form.is_submitted():
        saved = current_settings(engine(), actor())
        form = SettingsForm(
            formdata=None, email=saved.email or "", time_zone=saved.time_zone or "",
            notify=saved.notify,
        )  # fmt: skip
        return _settings_page(form, 200)
    if not form.validate():
        return _settings_page(form, 400)
    try:
        change_settings(
            engine(), actor(), email=form.email.data, time_zone=form.time_zone.data,
            notify=bool(form.notify.data),
        )  # fmt: skip
    except SettingsRefused as bad:
        for problem in bad.problems:
            attach_error(form, problem.field, reason_text(problem.reasons[0]))
        return _settings_page(form, 400)
    except NotPermitted as refusal:
        flash(reason_text(refusal.reasons[0]), "error")
        return _settings_page(form, 403)
    flash(_("Your settings were saved."), "success")
    return redirect(url_for("account.settings"))


def _settings_page(form: SettingsForm, status: int) -> tuple[str, int]:
    now = engine().clock.now()
    default = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    groups: dict[str, list[tuple[str, str]]] = {
        _("Default"): [("", _("The installation's time zone (%(zone)s)", zone=default))]
    }
    listed = {""}
    for region, names in zones_by_region().items():
        groups[_(REGIONS[region])] = [
            (name, f"{name.replace('_', ' ')} ({utc_offset(name, now)})") for name in names
        ]
        listed.update(names)
    chosen = form.time_zone.data or ""
    if chosen not in listed:  # an older name, or one just refused: kept in view
        groups[_("Your choice")] = [(chosen, chosen)]
    form.time_zone.choices = groups
    page = render_template("account/settings.html", form=form, now=now)
    return page, status
