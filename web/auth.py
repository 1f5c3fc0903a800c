"""Sign-in and sign-out with server-side sessions, and the permission every view declares."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from fpic.accounts import sessions as accounts
from fpic.accounts.sessions import actor_for_session, sign_in, sign_out
from fpic.workflow.actors import Actor
from fpic.workflow.errors import InvalidData, NotPermitted
from fpic.workflow.permissions import PERMISSIONS, allows, permission_refusal
from web import refusals
from web.context import engine
from web.extensions import login_manager
from web.i18n import reason_text
from web.security import safe_redirect_target

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "public"


class SignedInUser(UserMixin):
    """What Flask-Login keeps: the session token (its id) and the person behind it."""

    def __init__(
        self,
        token: str,
        actor: Actor,
        display_name: str,
        locale: str | None,
        time_zone: str | None = None,
    ) -> None:
        self.token, self.actor = token, actor
        self.display_name, self.locale = display_name, locale
        self.time_zone = time_zone  #: their IANA zone (web.i18n's timezone selector)

    def get_id(self) -> str:
        return self.token


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.session_protection = None  # server-side sessions already bind the token

    @login_manager.user_loader
    def load(token: str) -> SignedInUser | None:
        found = actor_for_session(engine(), token)
        if found is None:
            return None
        return SignedInUser(token, found.actor, found.display_name, found.locale, found.time_zone)


def requires(permission: str) -> Callable[[F], F]:
    """Declare the permission a view needs; every view has one (tests walk the URL map)."""
    if permission != PUBLIC and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if permission != PUBLIC:
                if not current_user.is_authenticated:
                    if request.method not in refusals.READS:  # a write refused: recorded
                        refusals.record("sign_in_required")
                    return login_manager.unauthorized()
                if not allows(current_user.actor, permission):
                    refusals.record("not_permitted", [permission_refusal(permission)])
                    abort(403)
            return view(*args, **kwargs)

        guarded.fpic_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


class SignInForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login() -> Any:
    form = SignInForm()
    if form.validate_on_submit():
        try:
            signed = sign_in(engine(), form.username.data or "", form.password.data or "")
        except NotPermitted as refusal:
            throttled = any(r.code == "sign_in_throttled" for r in refusal.reasons)
            if throttled:
                flash(reason_text(refusal.reasons[0]), "error")
            else:
                flash(_("The user name or the password is not right."), "error")
            return render_template("login.html", form=form), 429 if throttled else 401
        locale = session.get("locale")
        session.clear()  # a new session at sign-in: nothing from before carries over
        if locale:
            session["locale"] = locale
        login_user(SignedInUser(signed.token, signed.actor, "", signed.locale))
        return redirect(safe_redirect_target(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


class EnrolForm(FlaskForm):
    username = StringField(_l("User name"), validators=[InputRequired(), Length(max=80)])
    code = StringField(
        _l("One-time enrolment code"),
        validators=[InputRequired(), Length(max=40)],
        description=_l(
            "The code you were given, such as ABCD-EFGH-JKMN-PQRS; small letters and missing "
            "dashes do not matter."
        ),
    )
    # no length limit here: the engine's password rules (and their messages) decide
    new_password = PasswordField(_l("Your new password"), validators=[InputRequired()])
    new_password_again = PasswordField(
        _l("Your new password again"),
        validators=[
            InputRequired(),
            EqualTo("new_password", message=_l("The two new passwords are not the same.")),
        ],
    )


@bp.route("/enrol", methods=["GET", "POST"])
@requires(PUBLIC)
def enrol() -> Any:
    """A person chooses their own password with the one-time code they were given."""
    from fpic.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD

    form = EnrolForm()

    def page(status: int) -> tuple[str, int]:
        return render_template(
            "enrol.html", form=form, min_length=MIN_PASSWORD, max_length=MAX_PASSWORD
        ), status

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    try:
        accounts.enrol(
            engine(),
            form.username.data or "",
            form.code.data or "",
            form.new_password.data or "",
        )
    except InvalidData as bad:  # the password rules name the field "password"
        form.new_password.errors = [reason_text(bad.reasons[0])]
        return page(400)
    except NotPermitted as refusal:
        flash(reason_text(refusal.reasons[0]), "error")
        throttled = any(r.code == "sign_in_throttled" for r in refusal.reasons)
        return page(429 if throttled else 400)
    flash(_("Your password is set. Sign in with it now."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/logout", methods=["POST"])
@requires(PUBLIC)
def logout() -> Any:
    if current_user.is_authenticated:
        sign_out(engine(), current_user.token)
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
