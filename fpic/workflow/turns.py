"""Whose turn it is on a case, and what comes next.

A person opening a case should not have to know the template to find the step that moves it
on. Every stage's *main step* is read from the template itself, so each template (and each one
added later) gets it without a declaration:

- the stage-changing triggers that lead forward on the main path: to a later stage that is
  neither a loop (suspension, withholding ...) nor terminal;
- at a stage where the community decides, every one of its decisions, withholding consent and
  deferring included: the right to say no is as much the next step as consent is (UNDRIP
  art. 32(2); FAO 2016, phase 5);
- in a loop stage (suspended, withheld, withdrawn ...) none: the case waits on nobody, and
  no page may present reopening what a community stopped as the step that is due.

Everything else a person may do is grouped (the process, evidence and meetings, grievances,
exceptional steps), and an action with nothing to act on (a grievance step on a case with no
grievance at that step, answering when no question is open) is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.i18n import N_
from fpic.storage.models import Case, Representative, TrailEvent, User
from fpic.trail import audit
from fpic.workflow import grievances
from fpic.workflow.guards import mandate_held
from fpic.workflow.permissions import (
    CASE_ASSIGNED_ROLES,
    PROPONENT_CASE_ROLE,
    assignee_of,
    speaks_for_a_community,
)
from fpic.workflow.process import Template, Trigger, pinned_template

if TYPE_CHECKING:
    from fpic.workflow.engine import Option
    from fpic.workflow.schema import Action

#: the groups of a case's actions, in the order a page lists them, with their titles
GROUPS: dict[str, str] = {
    "process": N_("The process"),
    "evidence": N_("Evidence and meetings"),
    "grievances": N_("Grievances and conditions"),
    "exceptional": N_("Exceptional steps"),
}
#: the effects that record the community's decision: at a stage offering one, all of them are
#: the main step together
DECISION_EFFECTS = frozenset({"decision"})


@dataclass(frozen=True)
class Turn:
    """The main step of the case's current stage and the roles that take it (none: the stage
    waits on nobody, e.g. monitoring, or the case is closed)."""

    stage: str
    steps: tuple[Trigger, ...]
    roles: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.steps)

    @property
    def deciding(self) -> bool:
        """The step is the community's decision, whichever it takes."""
        return any(t.effect in DECISION_EFFECTS for t in self.steps)


@dataclass(frozen=True)
class Offered:
    """One of the case's actions as a page lists it: the engine's option, its group and
    whether it is (part of) the main step."""

    option: Option
    group: str
    main: bool


def main_steps(template: Template, stage: str) -> tuple[Trigger, ...]:
    """The trigger(s) that move a case standing at ``stage`` on (module docstring)."""
    triggers = template.triggers_from(stage)
    if template.stages[stage].terminal or template.stages[stage].loop:
        return ()
    deciding = tuple(t for t in triggers if t.effect in DECISION_EFFECTS and t.changes_stage)
    if deciding:
        return deciding
    order = list(template.stages)
    return tuple(
        t for t in triggers if _forward(template, t) and order.index(t.dest) > order.index(stage)
    )


def whose_turn(template: Template, stage: str) -> Turn:
    steps = main_steps(template, stage)
    roles: list[str] = []
    for trigger in steps:
        roles.extend(r for r in trigger.roles if r not in roles)
    return Turn(stage, steps, tuple(roles))


def turns_of(cases: Iterable[Case]) -> dict[int, Turn]:
    """Whose turn it is on each case of a list, by case id (from each case's own template
    version; none for a case whose version is not installed)."""
    found = {}
    for case in cases:
        template = pinned_template(case)
        if template is not None:
            found[case.id] = whose_turn(template, case.stage)
    return found


def group_of(template: Template, trigger: Trigger, action: Action, turn: Turn) -> str:
    if trigger.name in turn.names:
        return "process"
    if action.effect in _GRIEVANCE_EFFECTS:
        return "grievances"
    if not trigger.changes_stage:
        return "evidence"
    if _forward(template, trigger) or template.stages[turn.stage].loop:
        return "process"
    return "exceptional"


def arrange(
    template: Template,
    case: Case,
    options: Iterable[Option],
    actions: dict[str, Action],
    today: date,
) -> list[Offered]:
    """The case's options in page order (the main step first, then by group), without those
    that have nothing to act on."""
    turn = whose_turn(template, case.stage)
    offered = [
        Offered(o, group_of(template, o.trigger, actions[o.trigger.effect], turn),
                o.trigger.name in turn.names)
        for o in options
        if applies(actions[o.trigger.effect], case, template, today)
    ]  # fmt: skip
    rank = {name: n for n, name in enumerate(GROUPS)}
    return sorted(offered, key=lambda o: (not o.main, rank[o.group]))


def applies(action: Action, case: Case, template: Template, today: date) -> bool:
    """False when the action must name something of the case (a grievance at this step, an
    open question, a condition) and the case has none to offer."""
    return all(
        any(choice.value for choice in spec.choices(case, template, today))
        for spec in action.fields
        if spec.kind == "id" and spec.choices is not None and spec.is_required(case)
    )


# --- the people ---------------------------------------------------------------------------


def people_whose_turn(session: Session, case: Case, turn: Turn, today: date) -> list[User]:
    """The active accounts that can take the main step: the community's representatives under
    a mandate in force, the case's facilitator or mediator, the liaison officer who last acted
    on the case (every liaison officer while none has), and the regime's State authorities.
    One SELECT per role concerned."""
    found: dict[int, User] = {}
    for role in turn.roles:
        for user in _people_in(session, case, role, today):
            found.setdefault(user.id, user)
    return sorted(found.values(), key=lambda u: u.display_name)


def _people_in(session: Session, case: Case, role: str, today: date) -> Sequence[User]:
    active = select(User).where(User.active, User.role == role)
    if speaks_for_a_community(role):
        mandated = mandate_held(Representative.id, today)
        query = (
            active.join(Representative, User.representative_id == Representative.id)
            .where(Representative.community_id == case.community_id)
            .where(mandated)
        )
        return session.scalars(query).all()
    if role in CASE_ASSIGNED_ROLES:
        assigned = assignee_of(case, role)
        return session.scalars(active.where(User.id == assigned)).all() if assigned else []
    if role == PROPONENT_CASE_ROLE:
        last = (
            select(TrailEvent.actor)
            .where(TrailEvent.chain == audit.case_chain(case.id))
            .where(TrailEvent.actor_role == role, TrailEvent.outcome == "done")
            .order_by(TrailEvent.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        known = session.scalars(active.where(User.username == last)).all()
        if known:
            return known
    return session.scalars(active).all()


# --- reading the template -----------------------------------------------------------------


def _forward(template: Template, trigger: Trigger) -> bool:
    """A stage change along the main path (not into a loop or an end)."""
    if not trigger.changes_stage or trigger.dest.startswith("@"):
        return False
    dest = template.stages[trigger.dest]
    return not (dest.loop or dest.terminal)


_GRIEVANCE_EFFECTS = frozenset(action.effect for action in grievances.ACTIONS)
