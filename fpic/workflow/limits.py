"""Time limits: how a limit a template declares is counted, and when it ends for a case.

A limit counts days (calendar or working, or "unspecified" where the text does not say which)
or months, from the day a case entered a stage or from the day a named action records (its own
date when it has one: the notification day of a notice, the date of a decision). The number is
the template's, or, for a limit the community agrees in its protocol, the protocol's. Nothing
here moves a case: guards refuse an action outside a window, and the dashboard shows what is due.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpic.storage.models import Case, Protocol
    from fpic.workflow.process import Limit, Template, Trigger


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day (a
    month after 31 January is 28 or 29 February)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_working_days(day: date, days: int) -> date:
    """``days`` working days after ``day``, Monday to Friday: public holidays differ by place
    and year, so they are not counted out (the limit may end a holiday early, never late)."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def amount_of(limit: Limit, protocol: Protocol | None) -> int | None:
    """The number of days or months: the community's protocol's, for a limit it agrees, else the
    template's (None: a limit the community has not set and that has no default)."""
    if limit.protocol and protocol is not None:
        agreed = (protocol.time_limits or {}).get(limit.name)
        if isinstance(agreed, int) and not isinstance(agreed, bool):
            return agreed
    return limit.amount


def end_of(limit: Limit, start: date, protocol: Protocol | None) -> date | None:
    """The last day of the limit counted from ``start``: an "unspecified" day type is counted in
    calendar days, the shorter reading, and says so wherever it is shown."""
    amount = amount_of(limit, protocol)
    if amount is None:
        return None
    if limit.unit == "months":
        return add_months(start, amount)
    if limit.day_type == "working":
        return add_working_days(start, amount)
    return start + timedelta(days=amount)


def start_of(limit: Limit, case: Case) -> date | None:
    """The day ``limit`` runs from on ``case``, or None while it has not started."""
    if limit.from_stage_entry:
        if case.stage not in limit.stages or case.stage_entered_at is None:
            return None
        return case.stage_entered_at.date()
    days = [(case.milestones or {}).get(t) for t in limit.counted_from]
    found = [date.fromisoformat(d) for d in days if d]
    return max(found) if found else None


def due_on(limit: Limit, case: Case) -> date | None:
    start = start_of(limit, case)
    if start is None:
        return None
    return end_of(limit, start, case.protocol if limit.protocol else None)


def milestone_day(dated_by: str | None, payload: dict[str, Any], today: date) -> str:
    """The day an action marks as a milestone: its own date when it has one, else today."""
    own = payload.get(dated_by) if dated_by else None
    return own if isinstance(own, str) else today.isoformat()


def mark_milestone(
    template: Template,
    trigger: Trigger,
    case: Case,
    dated_by: str | None,
    payload: dict[str, Any],
    today: date,
) -> None:
    """Remember the day of an action some limit or rule counts from (a new dict: the ORM then
    sees the change and sends it in the case's one UPDATE)."""
    if trigger.name not in template.milestones:
        return
    case.milestones = {
        **(case.milestones or {}),
        trigger.name: milestone_day(dated_by, payload, today),
    }


def running_limits(template: Template, case: Case) -> list[tuple[Limit, date]]:
    """The limits that exist (cited, or set by the protocol) and run while the case stands in
    its stage, each with its last day."""
    found = []
    for limit in template.limits.values():
        if not limit.exists or case.stage not in limit.stages:
            continue
        due = due_on(limit, case)
        if due is not None:
            found.append((limit, due))
    return found


def overdue_on(template: Template, case: Case, today: date) -> bool:
    """Whether a deadline that exists has passed (advisory: nothing moves the case)."""
    return any(
        due < today and template.is_deadline(limit) for limit, due in running_limits(template, case)
    )


def grievance_days(template: Template, case: Case) -> dict[str, int]:
    """The days each step of a grievance on ``case`` is due in: the protocol's numbers for the
    steps the community sets, else the template's defaults; none for a step without a limit."""
    days = {}
    for step, limit in template.grievance_limits.items():
        amount = amount_of(limit, case.protocol if limit.protocol else None)
        if limit.exists and amount is not None:
            days[step] = amount
    return days
