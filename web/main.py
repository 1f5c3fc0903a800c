"""The dashboard and the language switcher."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request
from flask_login import current_user

from fpic.accounts.sessions import set_locale
from fpic.read.deadlines import deadlines
from fpic.read.queries import cases_touched_by, cases_waiting_for, list_cases, trail_events
from fpic.workflow.permissions import community_scope, reads_every_chain
from fpic.workflow.turns import turns_of
from web.auth import PUBLIC, requires
from web.context import actor, engine, int_arg, local_now
from web.i18n import answer_language_offer, available_locales, switch_language
from web.security import safe_redirect_target

bp = Blueprint("main", __name__)
#: how far ahead the dashboard looks for dates to plan by (the calendar goes further)
DASHBOARD_DAYS = 90
#: what the dashboard lists as due: a template's time limits (a window closing, a stage's
#: limit) and the end of a consent's term among them
DASHBOARD_DEADLINES = (
    "condition", "grievance", "review", "mandate", "limit", "window", "consent_term",
    "deliberation",
)  # fmt: skip


@bp.route("/")
@requires("dashboard:read")
def dashboard() -> Any:
    me, now = actor(), local_now()
    with engine().db.read_session() as db:
        mine = cases_touched_by(db, me)
        if community_scope(me) is not None and not mine:
            mine = list_cases(db, me, now, per_page=10).items
        waiting = cases_waiting_for(db, me)
        overdue = list_cases(db, me, now, overdue=True, per_page=10)
        context = {
            "mine": mine,
            "waiting": waiting,
            "turns": turns_of([*mine, *waiting.items, *overdue.items]),
            "overdue": overdue,
            "due": [
                d
                for d in deadlines(db, now, me, horizon_days=DASHBOARD_DAYS)
                if d.kind in DASHBOARD_DEADLINES
            ][:10],
            "recent": trail_events(db, me, per_page=10).items if reads_every_chain(me) else [],
            "today": now.date(),
        }
        return render_template("dashboard.html", **context)


#: how far ahead the calendar looks unless asked, and at most
CALENDAR_DAYS, CALENDAR_MAX_DAYS = 90, 731


@bp.route("/calendar")
@requires("dashboard:read")
def calendar() -> Any:
    """Every date this person may plan by, month by month: overdue first, then each day."""
    me, now = actor(), local_now()
    days = min(max(int_arg("days", CALENDAR_DAYS) or CALENDAR_DAYS, 1), CALENDAR_MAX_DAYS)
    with engine().db.read_session() as db:
        items = deadlines(db, now, me, horizon_days=days)
    today = now.date()
    overdue = [d for d in items if d.overdue_on(today)]
    coming = [d for d in items if d not in overdue and d.due >= today]
    months: dict[tuple[int, int], list[Any]] = {}
    for item in coming:
        months.setdefault((item.due.year, item.due.month), []).append(item)
    return render_template(
        "calendar.html", overdue=overdue, months=months, days=days, today=today,
        choices=(30, 90, 365, CALENDAR_MAX_DAYS),
    )  # fmt: skip


@bp.route("/language", methods=["POST"])
@requires(PUBLIC)
def set_language() -> Any:
    """The header's switcher changes this session's language only; the notice it leads to
    (``keep``: yes or no) is where a signed-in person keeps it as their saved preference."""
    locale, keep = request.form.get("locale", ""), request.form.get("keep")
    if locale not in available_locales() or keep not in (None, "yes", "no"):
        abort(400)
    signed_in = bool(current_user.is_authenticated)
    saved = current_user.locale if signed_in else None
    if keep == "yes" and signed_in:
        if locale != saved:
            set_locale(engine(), current_user.actor.user_id, locale)
        saved = locale
    switch_language(locale, saved, signed_in)
    if keep is not None:
        answer_language_offer()
    return redirect(safe_redirect_target(request.form.get("next")))
