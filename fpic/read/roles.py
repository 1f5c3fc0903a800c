"""The separation-of-duties matrix: who may fire each trigger and system action, computed
from the permission functions themselves (fpic/workflow/permissions.py), printed in docs/roles.md.

``python -m fpic.read.roles`` writes the Markdown; tests/read/test_roles_matrix.py checks that
the file is current and walks every cell through the engine with real accounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fpic.i18n import Reason
from fpic.storage.models import Case
from fpic.workflow.actors import Actor
from fpic.workflow.permissions import (
    REGISTER_ACTIONS,
    SYSTEM_ACTION_ROLES,
    Standing,
    can_read_case,
    register_refusals,
    role_refusal,
    standing_on_case,
    trigger_refusals,
)
from fpic.workflow.process import Template, Trigger, shipped_templates

#: the community the matrix's case belongs to, and another one
OWN, OTHER = 1, 2
#: the account id of the person in each column (the case's independents have this id)
ME, SOMEONE_ELSE = 10, 11


@dataclass(frozen=True)
class Profile:
    """One column: a role, and where relevant the person's relation to the case."""

    key: str
    role: str
    label: str
    community_id: int | None = None
    mandated: bool = False
    assigned: bool = False

    def actor(self) -> Actor:
        return Actor(
            user_id=ME,
            username=self.key,
            role=self.role,
            representative_id=ME if self.role == "representative" else None,
            community_id=self.community_id,
        )


PROFILES = (
    Profile("liaison", "liaison", "liaison"),
    Profile("auditor", "auditor", "auditor"),
    Profile("admin", "admin", "admin"),
    Profile("state_authority", "state_authority", "State authority"),
    Profile("rep_own_mandated", "representative", "rep., own, mandate", OWN, mandated=True),
    Profile("rep_own_unmandated", "representative", "rep., own, no mandate", OWN),
    Profile("rep_other_mandated", "representative", "rep., other, mandate", OTHER, mandated=True),
    Profile("rep_other_unmandated", "representative", "rep., other, no mandate", OTHER),
    Profile("facilitator_assigned", "facilitator", "facilitator, assigned", assigned=True),
    Profile("facilitator_other", "facilitator", "facilitator, not assigned"),
    Profile("mediator_assigned", "mediator", "mediator, assigned", assigned=True),
    Profile("mediator_other", "mediator", "mediator, not assigned"),
)
ALLOWED = "yes"
NOT_FOUND = "404"


def _case(profile: Profile) -> Case:
    """A case of the community OWN whose independents are the column's person when
    ``assigned`` (a transient row: nothing is read or written)."""
    mine = ME if profile.assigned else SOMEONE_ELSE
    return Case(community_id=OWN, facilitator_id=mine, mediator_id=mine)


def trigger_cell(trigger: Trigger, profile: Profile) -> str:
    """What the engine answers this column for this trigger, before any FPIC rule (guard)."""
    actor, case = profile.actor(), _case(profile)
    if not can_read_case(actor, case):
        return NOT_FOUND
    standing = standing_on_case(actor, case, profile.mandated)
    return _cell(trigger_refusals(actor, trigger, standing))


def system_cell(action: str, profile: Profile) -> str:
    """The same for a change outside any case; for the register, towards community OWN."""
    actor = profile.actor()
    refusals = role_refusal(actor, SYSTEM_ACTION_ROLES[action], action)
    if not refusals and action in REGISTER_ACTIONS:
        standing = Standing(
            own_community=profile.community_id == OWN,
            mandated=profile.community_id == OWN and profile.mandated,
            assigned=profile.assigned and profile.role == "facilitator",
        )
        refusals = register_refusals(actor, action, standing)
    return _cell(refusals)


#: the refusal every role outside a trigger's list gets: shown as a dash to keep rows legible
NEVER = "—"


def _cell(refusals: list[Reason]) -> str:
    if not refusals:
        return ALLOWED
    return NEVER if refusals[0].code == "role_not_allowed" else refusals[0].code


def trigger_rows(template: Template) -> Iterator[tuple[str, list[str]]]:
    for name, trigger in sorted(template.triggers.items()):
        yield name, [trigger_cell(trigger, p) for p in PROFILES]


def system_rows() -> Iterator[tuple[str, list[str]]]:
    for action in sorted(SYSTEM_ACTION_ROLES):
        yield action, [system_cell(action, p) for p in PROFILES]


def markdown() -> str:
    lines = [
        "# Who may do what: the separation-of-duties matrix",
        "",
        "Generated from `fpic/workflow/permissions.py` by",
        "`python -m fpic.read.roles > docs/roles.md`;",
        "`tests/read/test_roles_matrix.py` fails when this file is stale and fires every cell",
        "through the engine with real accounts. A cell says `yes` when the engine lets the",
        "person try (the FPIC rules, the guards, may still refuse the action at that stage),",
        "`404` when the case is not theirs to see, and otherwise the code of the refusal.",
        "",
        "Columns: *own* and *other* are the case's community and another one; a *mandate* is",
        "one in force today (recorded from the community's resolution, confirmed by someone",
        "the proponent does not employ, within its period, not revoked); *assigned* is the",
        "case's own facilitator or mediator (for the register: a case of that community).",
        "",
        "Refusal codes: `—` (`role_not_allowed`: the role may never do this),",
        "`not_community_representative` (not of this community), `no_valid_mandate` (no",
        "mandate in force: a representative may still read, ask questions and lodge",
        "grievances), `not_assigned` (not this case's facilitator or mediator),",
        "`not_community_facilitator` (not the facilitator of a case of this community).",
        "Nobody confirms their own mandate (`own_mandate`), whatever the column says.",
        "",
    ]
    header = "| action | " + " | ".join(p.label for p in PROFILES) + " |"
    rule = "|---|" + "---|" * len(PROFILES)
    count = 0
    for template in shipped_templates().values():
        lines += [f"## Template `{template.id}` {template.version}", "", header, rule]
        for name, cells in trigger_rows(template):
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
            count += len(cells)
        lines.append("")
    lines += ["## System actions (outside any case)", "", header, rule]
    for name, cells in system_rows():
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
        count += len(cells)
    lines += ["", f"{count} cells.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
