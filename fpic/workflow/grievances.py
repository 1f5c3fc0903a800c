"""After consent: the grievance mechanism, the conditions register, joint monitoring reviews
and the rehabilitation of the site (domain.md §5, §6).

A grievance moves through known steps with time limits set by the template (UNGP 31:
predictable), may be escalated to an independent mediator, and is closed only after a check
that the complainant suffered no retaliation. Its actions are gathered with
the process's in :mod:`fpic.workflow.actions`; the rules they trigger live in
:mod:`fpic.workflow.guards`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any

from fpic.i18n import N_
from fpic.storage.models import (
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_CHANNELS,
    Case,
    ComplainantIdentity,
    Condition,
    Grievance,
)
from fpic.workflow.effects import first_language, on_today
from fpic.workflow.errors import invalid
from fpic.workflow.evidence import evidence_fields
from fpic.workflow.guards import GuardContext
from fpic.workflow.process import Template
from fpic.workflow.schema import Action, Choice, Chooser, Field, Payload, Term, Text

#: the step a grievance must be at for each effect (UNGP 31: predictable, known stages)
STEP_BEFORE = {
    "grievance_acknowledgement": ("received",),
    "grievance_assessment": ("acknowledged",),
    "grievance_response": ("assessed", "escalated"),
    "grievance_closure": ("responded",),
}
SATISFACTION = ("yes", "no", "not_asked")
CONDITION_PROGRESS = ("in_progress", "met")
#: the hint under the "concerns" field: the people named may not assess the grievance
GRIEVANCE_CONCERNS_HINT = N_(
    "User names of the accounts it is about, comma-separated (optional): none of them may "
    "assess the grievance."
)


# --- what forms offer -----------------------------------------------------------------------


def open_conditions(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [
        Choice(str(c.id), Text(f"{c.obligated_party}: {c.text[:100]}", translate=False))
        for d in case.decisions
        for c in d.conditions
        if c.status in ("open", "in_progress")
    ]


def _any_open_condition(case: Case, template: Template, today: date) -> list[Choice]:
    return [Choice("", Text("—", translate=False)), *open_conditions(case, template, today)]


def may_escalate(grievance: Grievance) -> bool:
    """Only an open grievance, or one closed without satisfying the complainant, goes to the
    mediator, and only once."""
    reopening = grievance.status == "closed" and grievance.complainant_satisfied is False
    return grievance.escalated_at is None and (grievance.status != "closed" or reopening)


def grievances_for(effect: str) -> Chooser:
    """The case's grievances this step can be taken on, for a form to offer."""

    def chooser(case: Case, _template: Template, _today: date) -> list[Choice]:
        return [
            Choice(
                str(g.id),
                Text(
                    "#%(id)s — %(category)s: %(text)s",
                    {
                        "id": g.id,
                        "category": Term("grievance_categories", g.category),
                        "text": g.text[:80],
                    },
                    translate=False,
                ),
            )
            for g in case.grievances
            if _takes(effect, g)
        ]

    return chooser


def _takes(effect: str, grievance: Grievance) -> bool:
    if effect == "grievance_escalation":
        return may_escalate(grievance)
    steps = STEP_BEFORE.get(effect)
    return steps is None or grievance.status in steps


def _grievance_field(effect: str) -> Field:
    return Field("grievance_id", "id", N_("Grievance"), choices=grievances_for(effect))


def _grievance(ctx: GuardContext, p: Payload) -> Grievance:
    found = next((g for g in ctx.case.grievances if g.id == p["grievance_id"]), None)
    if found is None:
        raise invalid("grievance_id", N_("There is no such grievance on this case."))
    return found


def check_step(p: Payload, ctx: GuardContext) -> None:
    """The grievance exists on the case and is at the step this action takes it from."""
    grievance = _grievance(ctx, p)
    effect = ctx.trigger.effect
    if effect == "grievance_escalation" and not may_escalate(grievance):
        raise invalid(
            "grievance_id",
            N_("Only an open grievance, or one closed without satisfying the complainant, "
               "can be escalated, and only once."),
        )  # fmt: skip
    allowed = STEP_BEFORE.get(effect)
    if allowed is not None and grievance.status not in allowed:
        raise invalid(
            "grievance_id",
            N_("This grievance is at the step %(step)s; this action needs it at %(needed)s."),
            step=grievance.status,
            needed=" / ".join(allowed),
        )


# --- intake --------------------------------------------------------------------------------


def check_grievance(p: Payload, ctx: GuardContext) -> None:
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


def _seal_complainant(ctx: GuardContext, p: Payload) -> None:
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


def write_grievance(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = Grievance(
        case_id=ctx.case.id,
        received_by_id=ctx.actor.user_id,
        **{**p, "received_on": date.fromisoformat(p["received_on"])},
    )
    ctx.session.add(grievance)
    ctx.session.flush()
    sealed = ctx.sealed.get("complainant")
    if sealed is not None:
        ctx.session.add(ComplainantIdentity(grievance_id=grievance.id, **sealed))
    return {"grievance_id": grievance.id}


GRIEVANCE = Action(
    "grievance",
    (
        Field(
            "category", "choice", N_("What the grievance is about"),
            options=GRIEVANCE_CATEGORIES, vocabulary="grievance_categories",
        ),
        Field(
            "channel", "choice", N_("How it was received"),
            options=GRIEVANCE_CHANNELS, vocabulary="grievance_channels",
        ),
        Field("anonymous", "flag", N_("The complainant wants to stay anonymous")),
        Field(
            "confidential", "flag", N_("Keep the complainant's name confidential"),
            hint=N_("The proponent's staff will see what it is about, never who raised it."),
        ),
        Field("complainant", "name", N_("Complainant (unless anonymous)"), required=False),
        Field(
            "language", "language", N_("Language of the grievance (code)"),
            default=first_language,
        ),
        Field("text", "text", N_("The grievance, in the complainant's words")),
        Field("received_on", "day", N_("Received on"), past=True, default=on_today),
        Field(
            "condition_id", "id", N_("Condition concerned (if any)"), required=False,
            choices=_any_open_condition,
        ),
        Field(
            "concerns", "accounts", N_("Accounts the grievance is about"),
            hint=GRIEVANCE_CONCERNS_HINT, required=False,
        ),
        *evidence_fields(N_("Evidence: the complainant's statement, photos, documents")),
    ),
    write_grievance,
    check=check_grievance,
)  # fmt: skip


# --- the steps -----------------------------------------------------------------------------


def _by_id(ctx: GuardContext, grievance_id: int) -> Grievance:
    return next(g for g in ctx.case.grievances if g.id == grievance_id)


def write_acknowledgement(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.acknowledged_at = "acknowledged", ctx.now
    return {"grievance_id": grievance.id}


def write_response(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.responded_at, grievance.response = "responded", ctx.now, p["text"]
    return {"grievance_id": grievance.id}


def _said(effect: str, label: str) -> tuple[Field, ...]:
    """Acknowledge or respond: the grievance and what was said to the complainant."""
    return (
        _grievance_field(effect),
        Field("text", "text", label),
        Field(
            "language", "language", N_("Language (code, optional)"), required=False,
            default=first_language,
        ),
    )  # fmt: skip


ACKNOWLEDGEMENT = Action(
    "grievance_acknowledgement",
    _said("grievance_acknowledgement", N_("Message to the complainant")),
    write_acknowledgement,
    check=check_step,
)
RESPONSE = Action(
    "grievance_response",
    _said("grievance_response", N_("Response or remedy")),
    write_response,
    check=check_step,
)


def write_assessment(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.assessed_at = "assessed", ctx.now
    grievance.assessment, grievance.upheld = p["assessment"], p["upheld"]
    return {"grievance_id": grievance.id}


ASSESSMENT = Action(
    "grievance_assessment",
    (
        _grievance_field("grievance_assessment"),
        Field("assessment", "text", N_("Assessment")),
        Field("upheld", "flag", N_("The grievance is founded (upheld)")),
    ),
    write_assessment,
    check=check_step,
)


def write_escalation(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.escalated_at, grievance.mediator = (
        "escalated",
        ctx.now,
        p["mediator"],
    )
    grievance.closed_at = None
    return {"grievance_id": grievance.id}


ESCALATION = Action(
    "grievance_escalation",
    (
        _grievance_field("grievance_escalation"),
        Field("mediator", "short", N_("Independent mediator")),
        Field("text", "text", N_("Why it is escalated")),
    ),
    write_escalation,
    check=check_step,
)


def write_retaliation_check(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.retaliation_checked_at = ctx.now
    grievance.retaliation_found, grievance.retaliation_note = p["retaliation_found"], p["note"]
    return {"grievance_id": grievance.id}


RETALIATION_CHECK = Action(
    "retaliation_check",
    (
        _grievance_field("retaliation_check"),
        Field("retaliation_found", "flag", N_("Retaliation was found")),
        Field("note", "text", N_("How it was checked, and what was found")),
    ),
    write_retaliation_check,
    check=check_step,
)


def write_closure(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    grievance = _by_id(ctx, p["grievance_id"])
    grievance.status, grievance.closed_at, grievance.resolution = "closed", ctx.now, p["resolution"]
    satisfied = p["complainant_satisfied"]
    grievance.complainant_satisfied = None if satisfied == "not_asked" else satisfied == "yes"
    return {"grievance_id": grievance.id}


CLOSURE = Action(
    "grievance_closure",
    (
        _grievance_field("grievance_closure"),
        Field("resolution", "text", N_("Resolution")),
        Field(
            "complainant_satisfied", "choice", N_("Did the complainant accept it?"),
            options=SATISFACTION, vocabulary="satisfaction",
        ),
    ),
    write_closure,
    check=check_step,
)  # fmt: skip


# --- the conditions register ---------------------------------------------------------------


def check_condition(p: Payload, ctx: GuardContext) -> None:
    condition = ctx.session.get(Condition, p["condition_id"])
    if condition is None or condition.case_id != ctx.case.id:
        raise invalid("condition_id", N_("There is no such condition on this case."))
    if condition.status in ("met", "breached"):
        raise invalid(
            "condition_id",
            N_("This condition is already %(status)s; its record cannot change."),
            status=condition.status,
        )
    if ctx.trigger.effect == "condition_breach":
        p["status"] = "breached"
    ctx.found["condition"] = condition


def write_condition(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    condition: Condition = ctx.found["condition"]  # the check read it
    condition.status, condition.evidence = p["status"], p["evidence"]
    condition.status_changed_at = ctx.now
    return {"condition_id": condition.id}


CONDITION = Field("condition_id", "id", N_("Condition"), choices=open_conditions)
EVIDENCE = Field("evidence", "text", N_("Evidence"))
CONDITION_PROGRESS_ACTION = Action(
    "condition_progress",
    (
        CONDITION,
        Field(
            "status", "choice", N_("Status"),
            options=CONDITION_PROGRESS, vocabulary="condition_progress",
        ),
        EVIDENCE,
    ),
    write_condition,
    check=check_condition,
)  # fmt: skip
CONDITION_BREACH = Action(
    "condition_breach", (CONDITION, EVIDENCE), write_condition, check=check_condition
)

#: the grievance mechanism's and the conditions register's actions (fpic.workflow.actions)
ACTIONS: tuple[Action, ...] = (
    GRIEVANCE,
    ACKNOWLEDGEMENT,
    ASSESSMENT,
    RESPONSE,
    ESCALATION,
    RETALIATION_CHECK,
    CLOSURE,
    CONDITION_PROGRESS_ACTION,
    CONDITION_BREACH,
)
