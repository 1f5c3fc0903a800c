"""Who may do what: the one place that decides by role and community.

The FPIC rules about *when* (mandates, deliberation, disclosure) are guards in fpic/guards.py;
this module only answers whether a person's role and community allow an action at all.
"""

from __future__ import annotations

from fpic.actors import Actor
from fpic.i18n import N_, Reason
from fpic.models import Case
from fpic.process import Trigger

ROLE_TITLES = {
    "liaison": N_("community liaison officer"),
    "representative": N_("community representative"),
    "auditor": N_("auditor"),
    "admin": N_("administrator"),
}
#: who may register communities, representatives' mandates and projects
REGISTRY_ROLES = ("liaison", "admin")
CASE_OPENING_ROLES = ("liaison",)
USER_ADMIN_ROLES = ("admin",)
#: every account holder may change their own password (it changes no FPIC record)
OWN_ACCOUNT_ROLES = ("liaison", "representative", "auditor", "admin")


def can_read_case(actor: Actor, case: Case) -> bool:
    """Representatives see only their own community's cases; everyone else reads all."""
    if actor.role == "representative":
        return actor.community_id == case.community_id
    return actor.role in ROLE_TITLES


def trigger_refusals(actor: Actor, trigger: Trigger) -> list[Reason]:
    return role_refusal(actor, trigger.roles, trigger.name)


def role_refusal(actor: Actor, allowed: tuple[str, ...], action: str) -> list[Reason]:
    if actor.role in allowed:
        return []
    return [
        Reason(
            "role_not_allowed",
            N_("Your role (%(role)s) may not do this."),
            {"role": actor.role, "action": action},
        )
    ]


#: what each role may reach in an interface; the engine still checks every action itself
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "dashboard:read": ("liaison", "representative", "auditor", "admin"),
    "case:read": ("liaison", "representative", "auditor", "admin"),
    "case:open": CASE_OPENING_ROLES,
    "case:act": ("liaison", "representative"),
    "community:read": ("liaison", "representative", "auditor", "admin"),
    "trail:read": ("liaison", "representative", "auditor", "admin"),
    "system_trail:read": ("auditor", "admin"),
    "users:manage": USER_ADMIN_ROLES,
    "own_password:change": OWN_ACCOUNT_ROLES,
}


def allows(actor: Actor, permission: str) -> bool:
    return actor.role in PERMISSIONS[permission]
