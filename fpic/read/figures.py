"""What the grievance mechanism publishes and what it waits on (UNGP 31: transparent,
predictable): the step each open grievance waits on, the next joint monitoring review, and
the figures over a case's or a community's grievances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fpic.storage.models import Case, Grievance
from fpic.workflow.limits import grievance_days
from fpic.workflow.process import Template, pinned_template

#: which time limit of the template (fpic.workflow.process.GRIEVANCE_DAYS) each open step waits on
NEXT_LIMIT = {
    "received": "acknowledge",
    "acknowledged": "assess",
    "assessed": "respond",
    "escalated": "respond",
    "responded": "close",
}


def next_review_due(case: Case, template: Template) -> date | None:
    """When the next joint monitoring review is due, where the stage has such reviews."""
    reviewed = any(t.effect == "monitoring_report" for t in template.triggers_from(case.stage))
    if not reviewed or case.protocol is None:
        return None
    since = case.last_review_at or case.stage_entered_at
    return (since + timedelta(days=case.protocol.review_every_days)).date()


# --- what is due, and the figures ----------------------------------------------------------


def next_step_due(grievance: Grievance, limits: Mapping[str, int]) -> tuple[str, date] | None:
    """The step an open grievance waits on and the day it is due; None once closed."""
    limit = NEXT_LIMIT.get(grievance.status)
    if limit is None or limit not in limits:  # no time limit exists for that step
        return None
    return limit, grievance.received_on + timedelta(days=limits[limit])


@dataclass
class GrievanceFigures:
    """Statistics the mechanism publishes (UNGP 31: transparent)."""

    total: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    anonymous: int = 0
    upheld: int = 0
    escalated: int = 0
    retaliation_found: int = 0
    overdue: int = 0
    satisfied: int = 0
    not_satisfied: int = 0
    closing_days: list[int] = field(default_factory=list)

    @property
    def open(self) -> int:
        return self.total - self.by_status["closed"]

    @property
    def median_days_to_close(self) -> float | None:
        days = sorted(self.closing_days)
        if not days:
            return None
        middle = len(days) // 2
        return float(days[middle]) if len(days) % 2 else (days[middle - 1] + days[middle]) / 2


def grievance_figures(
    session: Session,
    now: datetime,
    *,
    case_id: int | None = None,
    community_id: int | None = None,
) -> GrievanceFigures:
    """Figures over one case's or one community's grievances, each counted against the time
    limits of its case (its template's version, and the numbers its protocol set)."""
    query = (
        select(Grievance, Case)
        .join(Case, Case.id == Grievance.case_id)
        .options(selectinload(Case.protocol))
    )
    if case_id is not None:
        query = query.where(Grievance.case_id == case_id)
    if community_id is not None:
        query = query.where(Case.community_id == community_id)
    figures = GrievanceFigures()
    limits: dict[int, Mapping[str, int]] = {}
    for grievance, case in session.execute(query):
        if case.id not in limits:
            template = pinned_template(case)
            limits[case.id] = grievance_days(template, case) if template else {}
        _count(figures, grievance, now.date(), limits[case.id])
    return figures


def _count(
    figures: GrievanceFigures, g: Grievance, today: date, limits: Mapping[str, int] | None
) -> None:
    figures.total += 1
    figures.by_category[g.category] += 1
    figures.by_status[g.status] += 1
    figures.anonymous += g.anonymous
    figures.upheld += bool(g.upheld)
    figures.escalated += g.escalated_at is not None
    figures.retaliation_found += bool(g.retaliation_found)
    figures.satisfied += g.complainant_satisfied is True
    figures.not_satisfied += g.complainant_satisfied is False
    due = next_step_due(g, limits) if limits else None
    figures.overdue += due is not None and due[1] < today
    if g.closed_at is not None:
        figures.closing_days.append((g.closed_at.date() - g.received_on).days)
