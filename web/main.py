"""The dashboard and the language switcher."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session
from flask_login import current_user

from fpic.accounts.sessions import set_locale
from fpic.read.deadlines import deadlines
from fpic.read.queries import cases_touched_by, cases_waiting_for, list_cases, trail_events
from fpic.workflow.permissions import community_scope, reads_every_chain
from web.auth import PUBLIC, requires
from web.context import actor, engine
from web.i18n import available_locales
from web.security import safe_redirect_target

bp = Blueprint("main", __name__)
#: what the dashboard lists as due: a template's time limits (a window closing, a stage's
#: limit) and the end of a consent's term among them
DASHBOARD_DEADLINES = (
    "condition", "grievance", "review", "mandate", "limit", "window", "consent_term",
)  # fmt: skip


@bp.route("/")
@requires("dashboard:read")
def dashboard() -> Any:
    me, now = actor(), engine().clock.now()
    with engine().db.read_session() as db:
        mine = cases_touched_by(db, me)
        if community_scope(me) is not None and not mine:
            mine = list_cases(db, me, now, per_page=10).items
        context = {
            "mine": mine,
            "waiting": cases_waiting_for(db, me),
            "overdue": list_cases(db, me, now, overdue=True, per_page=10),
            "due": [d for d in deadlines(db, now, me) if d.kind in DASHBOARD_DEADLINES][:10],
            "recent": trail_events(db, me, per_page=10).items if reads_every_chain(me) else [],
            "today": now.date(),
        }
        return render_template("dashboard.html", **context)


@bp.route("/language", methods=["POST"])
@requires(PUBLIC)
def set_language() -> Any:
    locale = request.form.get("locale", "")
    if locale not in available_locales():
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        set_locale(engine(), current_user.actor.user_id, locale)
    return redirect(safe_redirect_target(request.form.get("next")))
