"""What is due or overdue. Deadlines are computed from stored dates and only ever shown:
a deadline passing never moves a case (the community's time is its own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fpic.i18n import N_
from fpic.read.figures import next_review_due, next_step_due
from fpic.storage.models import Case, Condition, Grievance, Mandate, Representative
from fpic.workflow.actors import Actor
from fpic.workflow.guards import consent_in_force
from fpic.workflow.limits import grievance_days, running_limits
from fpic.workflow.permissions import can_read_case, community_scope
from fpic.workflow.process import Stage, Template, pinned_template

SOON_DAYS = 14
#: deadlines that open something rather than require it: never overdue
DOORS = ("window", "opens", "deliberation")


@dataclass(frozen=True)
class Deadline:
    due: date
    kind: str
    message: str  #: a translatable message id
    params: dict[str, str]
    case_id: int | None = None
    case_reference: str | None = None

    def overdue_on(self, today: date) -> bool:
        # a window or a door is due on its day, never late: only a stage's limit, a step or an
        # obligation can be overdue. The end of the deliberation is a door: the community may
        # decide from that day, and is never late for taking longer
        return self.due < today and self.kind not in DOORS

    def render(self) -> str:
        return self.message % self.params


def deadlines(
    session: Session,
    now: datetime,
    actor: Actor | None = None,
    horizon_days: int = SOON_DAYS,
    case_id: int | None = None,
) -> list[Deadline]:
    """Everything due by ``now + horizon_days`` (overdue first), as ``actor`` may see it; with
    ``case_id``, that case's only. ``now`` carries the reader's time zone: its date is their
    today."""
    limit = now.date() + timedelta(days=horizon_days)
    found: list[Deadline] = []
    query = select(Case).options(selectinload(Case.protocol), selectinload(Case.decisions))
    if case_id is not None:
        query = query.where(Case.id == case_id)
    cases = session.scalars(query.order_by(Case.id)).all()
    for case in cases:
        if actor is not None and not can_read_case(actor, case):
            continue
        template = pinned_template(case)
        if template is None or template.stages[case.stage].terminal:
            continue
        found.extend(_case_deadlines(case, template, template.stages[case.stage], now))
        review = next_review_due(case, template)
        if review is not None:
            found.append(
                Deadline(
                    review,
                    "review",
                    N_("%(case)s: the joint monitoring review is due."),
                    {"case": case.reference},
                    case.id,
                    case.reference,
                )
            )
    found.extend(_condition_deadlines(session, actor, case_id))
    found.extend(_grievance_deadlines(session, actor, case_id))
    if case_id is None:
        found.extend(_mandate_deadlines(session, actor, now.date()))
    return sorted((d for d in found if d.due <= limit), key=lambda d: (d.due, d.kind))


def consents_past_their_term(session: Session, today: date) -> list[tuple[Case, date]]:
    """Every case whose consent in force had a term that ended before ``today``: the end of
    the term calls for the community's consent again (``fpic consents-expire``)."""
    cases = session.scalars(
        select(Case).options(selectinload(Case.decisions)).order_by(Case.id)
    ).all()
    found = []
    for case in cases:
        template = pinned_template(case)
        consent = consent_in_force(template, case) if template else None
        if consent is None or not consent.term_ends_on or consent.term_ends_on >= today:
            continue
        # a case on a released version with no such action keeps the term as a rule for its
        # activities only
        assert template is not None
        if any(t.effect == "reconsent_event" for t in template.triggers_from(case.stage)):
            found.append((case, consent.term_ends_on))
    return found


_LIMIT_MESSAGES = {
    "limit": N_("%(case)s: %(limit)s ends (%(source)s)."),
    "window": N_("%(case)s: %(limit)s ends (%(source)s)."),
    "opens": N_("%(case)s: %(limit)s has run its course from this day (%(source)s)."),
}


def _case_deadlines(
    case: Case, template: Template, stage: Stage, now: datetime | None = None
) -> list[Deadline]:
    """The template's time limits running in the case's stage, and the community's minimum
    deliberation period: only limits that exist (a released version's uncited ones do not)."""
    ref = {"case": case.reference}
    today = date.today() if now is None else now.date()
    result = [
        Deadline(
            due,
            template.kind_of(limit),
            _LIMIT_MESSAGES[template.kind_of(limit)],
            {**ref, "limit": limit.title, "source": limit.source or limit.default_source or ""},
            case.id,
            case.reference,
        )
        for limit, due in running_limits(template, case)
        # a window once closed, or a door once open, is no longer due
        if template.is_deadline(limit) or due >= today
    ]
    consent = consent_in_force(template, case)
    if consent is not None and consent.term_ends_on is not None:
        result.append(
            Deadline(
                consent.term_ends_on,
                "consent_term",
                N_("%(case)s: the community's consent ends; a new decision is needed to go on."),
                ref,
                case.id,
                case.reference,
            )
        )
    due = deliberation_ends(case, template, stage)
    if due is not None and due >= today:
        result.append(
            Deadline(
                due,
                "deliberation",
                N_("%(case)s: the community's minimum deliberation period ends."),
                ref,
                case.id,
                case.reference,
            )
        )
    return result


def deliberation_ends(case: Case, template: Template, stage: Stage) -> date | None:
    """The first day the community may decide, counted from complete disclosure: planned by
    from the deliberation through negotiation to the decision itself, not only while the case
    stands in the deliberation stage (nothing once a consent is in force or the case ended)."""
    started = case.deliberation_started_at
    if started is None or case.protocol is None:
        return None
    if stage.terminal or stage.loop or stage.consent_in_force:
        return None
    if not any(t.effect == "decision" for t in template.triggers.values()):
        return None
    return (started + timedelta(days=case.protocol.min_deliberation_days)).date()


def _condition_deadlines(
    session: Session, actor: Actor | None, case_id: int | None = None
) -> list[Deadline]:
    query = (
        select(Condition, Case)
        .join(Case, Case.id == Condition.case_id)
        .where(Condition.status.in_(("open", "in_progress")), Condition.due_on.is_not(None))
    )
    if case_id is not None:
        query = query.where(Case.id == case_id)
    rows = session.execute(query).all()
    return [
        Deadline(
            cond.due_on,
            "condition",
            N_("%(case)s: condition due (%(party)s): %(text)s"),
            {"case": case.reference, "party": cond.obligated_party, "text": cond.text[:80]},
            case.id,
            case.reference,
        )
        for cond, case in rows
        if cond.due_on is not None and (actor is None or can_read_case(actor, case))
    ]


GRIEVANCE_STEP_MESSAGES = {
    "acknowledge": N_("%(case)s: grievance %(number)s is to be acknowledged."),
    "assess": N_("%(case)s: grievance %(number)s is to be assessed."),
    "respond": N_("%(case)s: grievance %(number)s is to be answered."),
    "close": N_("%(case)s: grievance %(number)s is to be resolved and closed."),
}


def _grievance_deadlines(
    session: Session, actor: Actor | None, case_id: int | None = None
) -> list[Deadline]:
    query = (
        select(Grievance, Case)
        .join(Case, Case.id == Grievance.case_id)
        .options(selectinload(Case.protocol))
        .where(Grievance.status != "closed")
    )
    if case_id is not None:
        query = query.where(Case.id == case_id)
    rows = session.execute(query).all()
    found = []
    for grievance, case in rows:
        template = pinned_template(case)
        days = grievance_days(template, case) if template else {}
        due = next_step_due(grievance, days)
        if due is None or (actor is not None and not can_read_case(actor, case)):
            continue
        step, day = due
        found.append(
            Deadline(
                day,
                "grievance",
                GRIEVANCE_STEP_MESSAGES[step],
                {"case": case.reference, "number": str(grievance.id)},
                case.id,
                case.reference,
            )
        )
    return found


def _mandate_deadlines(session: Session, actor: Actor | None, today: date) -> list[Deadline]:
    rows = session.execute(
        select(Mandate, Representative)
        .join(Representative, Representative.id == Mandate.representative_id)
        .where(Mandate.valid_until >= today, Mandate.revoked_on.is_(None))
    ).all()
    return [
        Deadline(
            mandate.valid_until, "mandate", N_("The mandate of %(name)s ends."), {"name": rep.name}
        )
        for mandate, rep in rows
        if actor is None or community_scope(actor) in (None, rep.community_id)
    ]
