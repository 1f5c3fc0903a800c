"""Reminders of the deadlines coming: each queued once per person and reminder day.

``fpic notify`` queues them before it sends: for every deadline of a case that
``fpic.read.deadlines`` lists, due within the reminder days (7 and 1 by default, counted in
each person's own time zone), one message per person concerned. Its dedupe key names the
deadline, the reminder day and the person, so running it every minute queues each once; a
deadline first seen 3 days ahead gets the 7-day reminder then, and the 1-day one the day before.

Who is concerned is read from the case's template, as whose turn it is (fpic.workflow.turns):

- a condition's due date: whoever may report on the condition's progress (the proponent's
  liaison officer, or the State under Peru's law) and the community's representatives, who
  verify it;
- a grievance's next step: whoever may take that step (acknowledging is the liaison officer's,
  or the State's; assessing and closing also the community's and the independent mediator's);
- a joint monitoring review: whoever may record a monitoring report (both parties);
- every other deadline of a case (a stage's time limit, a window, the deliberation's end, the
  consent's term): the people whose turn it is; at a stage where it is nobody's (monitoring,
  a suspension), the parties who may record a monitoring report.

A deadline of no case (a representative's mandate ending) is not sent: it names no account,
and the community's register shows it (``fpic deadlines`` lists it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.accounts.settings import zone_of
from fpic.notify import outbox
from fpic.read.deadlines import GRIEVANCE_STEP_MESSAGES, Deadline, deadlines
from fpic.storage.db import Database
from fpic.storage.models import Case, User
from fpic.workflow.process import Template, pinned_template
from fpic.workflow.turns import Turn, people_whose_turn, whose_turn

DEFAULT_REMIND_DAYS = (7, 1)
#: the effects of the steps that meet a deadline of each kind: whoever may take one is reminded
KIND_EFFECTS = {
    "condition": ("condition_progress", "condition_breach"),
    "review": ("monitoring_report",),
}
GRIEVANCE_STEP_EFFECTS = {
    "acknowledge": "grievance_acknowledgement",
    "assess": "grievance_assessment",
    "respond": "grievance_response",
    "close": "grievance_closure",
}
_GRIEVANCE_STEPS = {message: step for step, message in GRIEVANCE_STEP_MESSAGES.items()}
#: where it is nobody's turn, a deadline of the case is its parties': who may record a
#: monitoring report
PARTIES_EFFECTS = ("monitoring_report",)


def queue_reminders(
    db: Database, now: datetime, remind_days: Sequence[int] = DEFAULT_REMIND_DAYS
) -> int:
    """Queue the reminders due at ``now`` that are not queued yet; returns how many were new.
    Read in a read transaction, written in one short write transaction."""
    with db.read_session() as session:
        rows = planned(session, now, remind_days)
    if not rows:
        return 0
    with db.write_session() as session, session.begin():
        return outbox.queue_once(session.connection(), rows)


def planned(session: Session, now: datetime, remind_days: Sequence[int]) -> list[dict[str, Any]]:
    """The outbox rows of every reminder due at ``now`` (queued or not yet)."""
    # a day more than the longest: where the person's today is already tomorrow in UTC
    items = [
        d
        for d in deadlines(session, now, horizon_days=max(remind_days) + 1)
        if d.case_id is not None
    ]
    cases = {
        case.id: case
        for case in session.scalars(select(Case).where(Case.id.in_({d.case_id for d in items})))
    }
    found: dict[tuple[int, tuple[str, ...]], list[User]] = {}
    rows = []
    for item in items:
        case = cases.get(item.case_id or 0)
        template = pinned_template(case) if case is not None else None
        if case is None or template is None:
            continue
        roles = concerned_roles(template, case.stage, item)
        if (case.id, roles) not in found:
            turn = Turn(case.stage, (), roles)
            found[case.id, roles] = people_whose_turn(session, case, turn, now.date())
        for user in found[case.id, roles]:
            before = reminder_day(item.due, _today_of(user, now), remind_days)
            if before is not None and outbox.wants_mail(user):
                rows.append(_row(item, user, before, now))
    return rows


def concerned_roles(template: Template, stage: str, item: Deadline) -> tuple[str, ...]:
    """The roles a deadline of a case standing at ``stage`` concerns (module docstring)."""
    if item.kind == "grievance":
        step = _GRIEVANCE_STEPS.get(item.message, "acknowledge")
        return _roles_of(template, (GRIEVANCE_STEP_EFFECTS[step],))
    if item.kind in KIND_EFFECTS:
        return _roles_of(template, KIND_EFFECTS[item.kind])
    return whose_turn(template, stage).roles or _roles_of(template, PARTIES_EFFECTS)


def _roles_of(template: Template, effects: Sequence[str]) -> tuple[str, ...]:
    roles: list[str] = []
    for trigger in template.triggers.values():
        if trigger.effect in effects:
            roles.extend(r for r in trigger.roles if r not in roles)
    return tuple(roles)


def reminder_day(due: date, today: date, remind_days: Sequence[int]) -> int | None:
    """Which reminder is due today: the smallest of ``remind_days`` not below the days left
    (7 from a week before, 1 on the last day and the day itself); None when the deadline is
    past or further than all of them."""
    left = (due - today).days
    if left < 0:
        return None
    return min((n for n in remind_days if n >= left), default=None)


def _today_of(user: User, now: datetime) -> date:
    return now.astimezone(zone_of(user.time_zone)).date()


def _row(item: Deadline, user: User, before: int, now: datetime) -> dict[str, Any]:
    params = {
        "kind": item.kind,
        "message": item.message,
        "params": {k: str(v) for k, v in item.params.items()},
        "due": item.due.isoformat(),
        "days_before": before,
    }
    # the deadline itself (what it is, whose case, which day): a new due date is a new
    # deadline and is reminded of again
    what = json.dumps(
        [item.kind, item.case_id, item.due.isoformat(), item.message, params["params"]],
        sort_keys=True,
    )
    key = f"deadline:{hashlib.sha256(what.encode()).hexdigest()[:32]}:{before}:{user.id}"
    return outbox.new_row(user.id, "deadline", item.case_id, params, key, now)
