"""After consent: the grievance mechanism, the conditions register, joint monitoring reviews
and the rehabilitation of the site (domain.md §5, §6).

A grievance moves through known steps with time limits set by the template (UNGP 31:
predictable), may be escalated to an independent mediator, and is closed only after a check
that the complainant suffered no retaliation. The effects here are registered with the others
in :mod:`fpic.effects`; the rules they trigger live in :mod:`fpic.guards`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.effects import _not_future, _note, account_names, effect
from fpic.errors import invalid
from fpic.guards import GuardContext
from fpic.i18n import N_
from fpic.models import (
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_CHANNELS,
    Case,
    ComplainantIdentity,
    Condition,
    Grievance,
)
from fpic.payloads import Fields
from fpic.process import Template

#: the step a grievance must be at for each effect (UNGP 31: predictable, known stages)
STEP_BEFORE = {
    "grievance_acknowledgement": ("received",),
    "grievance_assessment": ("acknowledged",),
    "grievance_response": ("assessed", "escalated"),
    "grievance_closure": ("responded",),
}
#: which time limit of the template (fpic.process.GRIEVANCE_DAYS) each open step waits on
NEXT_LIMIT = {
    "received": "acknowledge",
    "acknowledged": "assess",
    "assessed": "respond",
    "escalated": "respond",
    "responded": "close",
}
SATISFACTION = ("yes", "no", "not_asked")
CONDITION_PROGRESS = ("in_progress", "met")


def _grievance(ctx: GuardContext, f: Fields) -> Grievance:
    wanted = f.integer("grievance_id", minimum=1, maximum=2**62)
    found = next((g for g in ctx.case.grievances if g.id == wanted), None)
    if found is None:
        raise invalid("grievance_id", N_("There is no such grievance on this case."))
    return found


def _at_step(ctx: GuardContext, grievance: Grievance) -> None:
    allowed = STEP_BEFORE.get(ctx.trigger.effect)
    if allowed is not None and grievance.status not in allowed:
        raise invalid(
            "grievance_id",
            N_("This grievance is at the step %(step)s; this action needs it at %(needed)s."),
            step=grievance.status,
            needed=" / ".join(allowed),
        )


# --- intake --------------------------------------------------------------------------------


def parse_grievance(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(
        data,
        {
            "category",
            "channel",
            "anonymous",
            "complainant",
            "language",
            "text",
            "received_on",
            "condition_id",
            "confidential",
            "concerns",
        },
    )
    p = {
        "category": f.choice("category", GRIEVANCE_CATEGORIES),
        "channel": f.choice("channel", GRIEVANCE_CHANNELS),
        "anonymous": f.flag("anonymous"),
        "confidential": f.flag("confidential"),
        "complainant": f.name("complainant", required=False),
        "language": f.language("language"),
        "text": f.text("text"),
        "received_on": f.day("received_on"),
        "condition_id": f.integer("condition_id", required=False, minimum=1, maximum=2**62),
        "concerns": account_names(ctx, f, "concerns"),
    }
    _not_future("received_on", p["received_on"], ctx)
    if p["anonymous"] and p["complainant"]:
        raise invalid("complainant", N_("An anonymous grievance names no complainant."))
    if not p["anonymous"] and not p["complainant"]:
        raise invalid("complainant", N_("Name the complainant, or mark the grievance anonymous."))
    if p["anonymous"] and p["confidential"]:
        raise invalid(
            "confidential",
            N_("An anonymous grievance has no name to keep confidential; choose one of the two."),
        )
    if p["confidential"]:
        _seal_complainant(ctx, p)
    if p["condition_id"] is not None:
        condition = ctx.session.get(Condition, p["condition_id"])
        if condition is None or condition.case_id != ctx.case.id:
            raise invalid("condition_id", N_("There is no such condition on this case."))
    return p


def _seal_complainant(ctx: GuardContext, p: dict[str, Any]) -> None:
    """Keep a confidential complainant's name off the trail and out of the proponent's reach
    (UNGP 31: no retaliation): the payload, which the trail stores, carries a salted SHA-256
    commitment; the name and salt go to a table only the permitted roles read
    (docs/audit-format.md, "Confidential complainants")."""
    name = p["complainant"]
    salt = secrets.token_bytes(16)
    p["complainant"] = None
    p["complainant_commitment"] = complainant_commitment(salt, name)
    ctx.sealed["complainant"] = {"name": name, "salt": salt.hex()}


def complainant_commitment(salt: bytes, name: str) -> str:
    """SHA-256 over the 16 salt bytes followed by the name's UTF-8 bytes, in hex."""
    return hashlib.sha256(salt + name.encode("utf-8")).hexdigest()


@effect("grievance", parse_grievance)
def write_grievance(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = Grievance(
        case_id=ctx.case.id,
        received_by_id=ctx.actor.user_id,
        **{**p, "received_on": date.fromisoformat(p["received_on"])},
    )
    ctx.session.add(grievance)
    ctx.case.grievances.append(grievance)
    ctx.session.flush()
    sealed = ctx.sealed.get("complainant")
    if sealed is not None:
        ctx.session.add(ComplainantIdentity(grievance_id=grievance.id, **sealed))
    return {"grievance_id": grievance.id}


# --- the steps -----------------------------------------------------------------------------


def parse_step(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    """Acknowledge or respond: the grievance and what was said to the complainant."""
    f = Fields(data, {"grievance_id", "text", "language"})
    grievance = _grievance(ctx, f)
    _at_step(ctx, grievance)
    return {
        "grievance_id": grievance.id,
        "text": f.text("text"),
        "language": f.language("language", required=False),
    }


@effect("grievance_acknowledgement", parse_step)
def write_acknowledgement(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.acknowledged_at = "acknowledged", ctx.now
    return {"grievance_id": grievance.id}


@effect("grievance_response", parse_step)
def write_response(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.responded_at, grievance.response = "responded", ctx.now, p["text"]
    return {"grievance_id": grievance.id}


def parse_assessment(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"grievance_id", "assessment", "upheld"})
    grievance = _grievance(ctx, f)
    _at_step(ctx, grievance)
    return {
        "grievance_id": grievance.id,
        "assessment": f.text("assessment"),
        "upheld": f.flag("upheld"),
    }


@effect("grievance_assessment", parse_assessment)
def write_assessment(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.assessed_at = "assessed", ctx.now
    grievance.assessment, grievance.upheld = p["assessment"], p["upheld"]
    return {"grievance_id": grievance.id}


def parse_escalation(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"grievance_id", "mediator", "text"})
    grievance = _grievance(ctx, f)
    reopening = grievance.status == "closed" and grievance.complainant_satisfied is False
    if grievance.escalated_at is not None or (grievance.status == "closed" and not reopening):
        raise invalid(
            "grievance_id",
            N_("Only an open grievance, or one closed without satisfying the complainant, "
               "can be escalated, and only once."),
        )  # fmt: skip
    return {"grievance_id": grievance.id, "mediator": f.short("mediator"), "text": f.text("text")}


@effect("grievance_escalation", parse_escalation)
def write_escalation(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.escalated_at, grievance.mediator = (
        "escalated",
        ctx.now,
        p["mediator"],
    )
    grievance.closed_at = None
    return {"grievance_id": grievance.id}


def parse_retaliation_check(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"grievance_id", "retaliation_found", "note"})
    grievance = _grievance(ctx, f)
    return {
        "grievance_id": grievance.id,
        "retaliation_found": f.flag("retaliation_found"),
        "note": f.text("note"),
    }


@effect("retaliation_check", parse_retaliation_check)
def write_retaliation_check(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.retaliation_checked_at = ctx.now
    grievance.retaliation_found, grievance.retaliation_note = p["retaliation_found"], p["note"]
    return {"grievance_id": grievance.id}


def parse_closure(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"grievance_id", "resolution", "complainant_satisfied"})
    grievance = _grievance(ctx, f)
    _at_step(ctx, grievance)
    return {
        "grievance_id": grievance.id,
        "resolution": f.text("resolution"),
        "complainant_satisfied": f.choice("complainant_satisfied", SATISFACTION),
    }


@effect("grievance_closure", parse_closure)
def write_closure(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.closed_at, grievance.resolution = "closed", ctx.now, p["resolution"]
    satisfied = p["complainant_satisfied"]
    grievance.complainant_satisfied = None if satisfied == "not_asked" else satisfied == "yes"
    return {"grievance_id": grievance.id}


def _by_id(ctx: GuardContext, grievance_id: int) -> Grievance:
    return next(g for g in ctx.case.grievances if g.id == grievance_id)


# --- the conditions register ---------------------------------------------------------------


def _condition(ctx: GuardContext, f: Fields) -> Condition:
    wanted = f.integer("condition_id", minimum=1, maximum=2**62)
    condition = ctx.session.get(Condition, wanted)
    if condition is None or condition.case_id != ctx.case.id:
        raise invalid("condition_id", N_("There is no such condition on this case."))
    if condition.status in ("met", "breached"):
        raise invalid(
            "condition_id",
            N_("This condition is already %(status)s; its record cannot change."),
            status=condition.status,
        )
    return condition


def parse_condition_progress(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"condition_id", "status", "evidence"})
    condition = _condition(ctx, f)
    return {
        "condition_id": condition.id,
        "status": f.choice("status", CONDITION_PROGRESS),
        "evidence": f.text("evidence"),
    }


def parse_condition_breach(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"condition_id", "evidence"})
    condition = _condition(ctx, f)
    return {"condition_id": condition.id, "status": "breached", "evidence": f.text("evidence")}


def _write_condition(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    condition = ctx.session.get(Condition, p["condition_id"])
    assert condition is not None  # parse checked it
    condition.status, condition.evidence = p["status"], p["evidence"]
    condition.status_changed_at = ctx.now
    return {"condition_id": condition.id}


effect("condition_progress", parse_condition_progress)(_write_condition)
effect("condition_breach", parse_condition_breach)(_write_condition)


# --- monitoring and rehabilitation ---------------------------------------------------------


def parse_monitoring_report(data: Mapping[str, Any] | None, _ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language", "joint", "community_monitors"})
    p = {
        "text": f.text("text"),
        "language": f.language("language", required=False),
        "joint": f.flag("joint"),
        "community_monitors": f.short("community_monitors", required=False),
    }
    if p["joint"] and not p["community_monitors"]:
        raise invalid("community_monitors", N_("Name the community's monitors of a joint review."))
    return p


@effect("monitoring_report", parse_monitoring_report)
def write_monitoring_report(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    ctx.case.last_review_at = ctx.now
    return _note(ctx, ctx.trigger.name, p)


def parse_rehabilitation(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language", "completed_on"})
    p = {
        "text": f.text("text"),
        "language": f.language("language", required=False),
        "completed_on": f.day("completed_on"),
    }
    _not_future("completed_on", p["completed_on"], ctx)
    return p


@effect("rehabilitation", parse_rehabilitation)
def write_rehabilitation(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    ctx.case.rehabilitation_confirmed_at = ctx.now
    return _note(ctx, ctx.trigger.name, p)


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
    if limit is None:
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
    limits_of: Mapping[str, Mapping[str, int]],
    *,
    case_id: int | None = None,
    community_id: int | None = None,
) -> GrievanceFigures:
    """Figures over one case's or one community's grievances (``limits_of``: per template id)."""
    query = select(Grievance, Case.template_id).join(Case, Case.id == Grievance.case_id)
    if case_id is not None:
        query = query.where(Grievance.case_id == case_id)
    if community_id is not None:
        query = query.where(Case.community_id == community_id)
    figures = GrievanceFigures()
    for grievance, template_id in session.execute(query):
        _count(figures, grievance, now.date(), limits_of.get(template_id))
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
