"""Who may do what: the one place that decides by role, community, assignment and mandate.

The FPIC rules about *when* (deliberation, disclosure, integrity) are guards in
fpic/workflow/guards.py; this module answers whether a person may act at all, from facts the engine
reads in the action's own transaction (:class:`Standing`). It reads no database itself, so
the separation-of-duties matrix in docs/roles.md is generated from these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fpic.i18n import N_, Reason
from fpic.storage.models import ROLES, Case
from fpic.workflow.actors import Actor
from fpic.workflow.process import Template, Trigger

#: independent people who act on a case only once assigned to it (domain.md §3); a case
#: names each in the field of its role (``facilitator_id``, ``mediator_id``)
CASE_ASSIGNED_ROLES = ("facilitator", "mediator")
assert set(CASE_ASSIGNED_ROLES) <= set(ROLES)

ROLE_TITLES = {
    "liaison": N_("community liaison officer"),
    "representative": N_("community representative"),
    "auditor": N_("auditor"),
    "admin": N_("administrator"),
    "facilitator": N_("independent facilitator"),
    "mediator": N_("independent grievance mediator"),
    "state_authority": N_("State authority"),
}
assert set(ROLE_TITLES) == set(ROLES)

#: who may propose a community and its institution (a proposal: it confers no mandate)
COMMUNITY_PROPOSING_ROLES = ("liaison", "admin", "facilitator", "state_authority")
#: projects are the proponent's own description of what it plans
PROJECT_ROLES = ("liaison", "admin")
#: who may record, confirm or end a mandate, and change the community's entry (its institution
#: above all): only the community's side, never the proponent's;
#: the engine further requires a representative's own mandate, or a facilitator's assignment
REGISTER_ROLES = ("representative", "facilitator")
#: who may open a case at all; each template says who opens one on it (``opened_by``)
CASE_OPENING_ROLES = ("liaison", "state_authority")


def opens_cases_on(actor: Actor, template: Template) -> bool:
    """Whether the regime of ``template`` lets this person's role convene it (Peru's law: only
    the State, Ley 29785 art. 2)."""
    return actor.role in template.opened_by


USER_ADMIN_ROLES = ("admin",)
#: the installation's first account, and the installer who creates it: it adds the others
FIRST_ACCOUNT_ROLE = "admin"
assert FIRST_ACCOUNT_ROLE in USER_ADMIN_ROLES
#: every account holder may change their own password (it changes no FPIC record)
OWN_ACCOUNT_ROLES = ROLES
#: who may read a confidential complainant's identity (UNGP 31: no retaliation); the case's
#: own mediator and the community's representatives besides
COMPLAINANT_READERS = ("auditor",)


def speaks_for_a_community(role: str) -> bool:
    """An account of this role belongs to a representative in a community's register: it is
    created linked to one and is never given to, or taken from, an account by an
    administrator (the community's mandate is what it rests on)."""
    return role == "representative"


#: the proponent's own staff on a case: whose turn it is falls to the one who last acted on it
PROPONENT_CASE_ROLE = "liaison"


def assignee_of(case: Case, role: str) -> int | None:
    """The account assigned to ``case`` in ``role`` (its facilitator, its mediator), or None."""
    if role not in CASE_ASSIGNED_ROLES:
        return None
    return case.facilitator_id if role == "facilitator" else case.mediator_id


def assignment_column(role: str) -> Any:
    """The column of a case naming its assignee in ``role`` (CASE_ASSIGNED_ROLES), or None."""
    if role not in CASE_ASSIGNED_ROLES:
        return None
    return Case.facilitator_id if role == "facilitator" else Case.mediator_id


#: the roles an administrator may move an account between
ASSIGNABLE_ROLES = tuple(role for role in ROLES if not speaks_for_a_community(role))
#: who registers passkeys to sign the community's decisions with (fpic.workflow.signing): those
#: who speak for a community; someone else confirms each key (``register_refusals``)
PASSKEY_HOLDER_ROLES = tuple(role for role in ROLES if speaks_for_a_community(role))


#: changes outside any case, each with the roles that may attempt it (the one table the
#: registry, the accounts and docs/roles.md read)
SYSTEM_ACTION_ROLES: dict[str, tuple[str, ...]] = {
    "add_community": COMMUNITY_PROPOSING_ROLES,
    "add_project": PROJECT_ROLES,
    "add_legacy_site": PROJECT_ROLES,
    # a reference dataset is the same for every case: the server's administrator loads it,
    # and its SHA-256 on the system chain lets anyone check it is the publisher's file
    "import_areas": ("admin",),
    "record_mandate": REGISTER_ROLES,
    # a community's entry (its name, region, country, its own institution and the languages it
    # asks information in) is the community's once proposed: the same people as its mandates
    "edit_community": REGISTER_ROLES,
    # the proponent's own description of its project; the engine keeps what its cases' rules
    # and decisions rest on (the sector, the phases and activities they name)
    "edit_project": PROJECT_ROLES,
    "confirm_mandate": REGISTER_ROLES,
    "revoke_mandate": REGISTER_ROLES,
    "open_case": CASE_OPENING_ROLES,
    "add_user": USER_ADMIN_ROLES,
    "reset_account": USER_ADMIN_ROLES,
    "enable_user": USER_ADMIN_ROLES,
    "disable_user": USER_ADMIN_ROLES,
    "change_role": USER_ADMIN_ROLES,
    "change_password": OWN_ACCOUNT_ROLES,
    # a person's own API tokens: what a token may do is bounded by token_scope_refusal
    "create_api_token": OWN_ACCOUNT_ROLES,
    "revoke_api_token": OWN_ACCOUNT_ROLES,
    # a representative's own passkeys; a key signs only once confirmed by whoever may confirm
    # the holder's mandate, as the community's register requires
    "register_passkey": PASSKEY_HOLDER_ROLES,
    "confirm_passkey": REGISTER_ROLES,
    "revoke_passkey": PASSKEY_HOLDER_ROLES,
}
#: system actions that also need the person's standing towards the community
REGISTER_ACTIONS = (
    "record_mandate", "confirm_mandate", "revoke_mandate", "confirm_passkey", "edit_community",
)  # fmt: skip
#: what nobody confirms of their own, and what they are told
_OWN_CONFIRMATIONS = {
    "confirm_mandate": Reason(
        "own_mandate", N_("Nobody may confirm their own mandate: another person must.")
    ),
    "confirm_passkey": Reason(
        "own_passkey", N_("Nobody may confirm their own passkey: another person must.")
    ),
}


@dataclass(frozen=True)
class Standing:
    """What the database says of one person towards one case or community, read in the
    action's transaction: the facts every permission below rests on."""

    #: a representative of the community in question
    own_community: bool = False
    #: a representative holding a mandate in force today (confirmed, in period, not revoked)
    mandated: bool = False
    #: a facilitator or mediator assigned to the case (for the register: to any case of the
    #: community)
    assigned: bool = False


def represents(actor: Actor, community_id: int) -> bool:
    """A representative's account of this community (a mandate is a separate fact)."""
    return actor.role == "representative" and actor.community_id == community_id


def community_scope(actor: Actor) -> int | None:
    """The one community whose cases, register and trail this person reads; None for all.
    Every query that lists what a person may see filters by it."""
    if actor.role == "representative":
        return actor.community_id or 0  # an unlinked account sees no community at all
    return None


def reads_every_chain(actor: Actor) -> bool:
    """The system and access chains and the whole trail, beyond the cases one may read."""
    return allows(actor, "system_trail:read")


def independent_of_the_parties(actor: Actor) -> bool:
    """One of the case's independent people (a facilitator or a mediator), as against the
    proponent's staff and the community's representatives."""
    return actor.role in CASE_ASSIGNED_ROLES


def facilitates(actor: Actor) -> bool:
    """A facilitator: assigned to one of a community's cases, they may record and confirm its
    register (the caller reads the assignment; a mediator's gives no such standing)."""
    return actor.role == "facilitator"


def assigned_to(actor: Actor, case: Case) -> bool:
    """The case's facilitator or its mediator."""
    return (facilitates(actor) and case.facilitator_id == actor.user_id) or (
        actor.role == "mediator" and case.mediator_id == actor.user_id
    )


def standing_on_case(actor: Actor, case: Case, mandated: bool) -> Standing:
    own = represents(actor, case.community_id)
    return Standing(own_community=own, mandated=own and mandated, assigned=assigned_to(actor, case))


def can_read_case(actor: Actor, case: Case) -> bool:
    """Representatives see only their own community's cases; everyone else reads all."""
    scope = community_scope(actor)
    if scope is not None:
        return scope == case.community_id
    return actor.role in ROLE_TITLES


def trigger_refusals(actor: Actor, trigger: Trigger, standing: Standing) -> list[Reason]:
    """Whether this person may fire ``trigger`` on the case at all (before any FPIC rule)."""
    refusals = role_refusal(actor, trigger.roles, trigger.name)
    if refusals:
        return refusals
    if actor.role == "representative":
        if not standing.own_community:
            return [_not_own_community()]
        # ILO 169 art. 6; UNDRIP art. 19: only the community's mandated people speak for it;
        # anyone may ask a question or complain (UNGP 31: accessible)
        if trigger.speaks_for_community and not standing.mandated:
            return [_no_mandate()]
    if actor.role in CASE_ASSIGNED_ROLES and not standing.assigned:
        return [_not_assigned(actor.role)]
    return []


def register_refusals(
    actor: Actor, action: str, standing: Standing, *, holder: bool = False
) -> list[Reason]:
    """Recording, confirming or ending a mandate, and confirming a representative's passkey: a
    representative under their own mandate of the same community, or a facilitator assigned to
    one of the community's cases. Nobody confirms their own mandate or passkey (``holder``)."""
    refusals = role_refusal(actor, REGISTER_ROLES, action)
    if refusals:
        return refusals
    if actor.role == "representative":
        if not standing.own_community:
            return [_not_own_community()]
        if not standing.mandated:
            return [_no_mandate()]
        if holder and action in _OWN_CONFIRMATIONS:
            return [_OWN_CONFIRMATIONS[action]]
    elif not standing.assigned:
        return [
            Reason(
                "not_community_facilitator",
                N_("Only the facilitator of one of this community's cases may do this."),
            )
        ]
    return []


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


def can_see_complainant(actor: Actor, case: Case) -> bool:
    """A confidential complainant's identity: the community's representatives, the case's
    mediator and auditors; never the proponent's staff nor the administrator."""
    if actor.role in COMPLAINANT_READERS:
        return True
    if actor.role == "mediator":
        return assigned_to(actor, case)
    return represents(actor, case.community_id)


#: who a community may let see a confidential file (a sacred site, a complainant's statement)
#: besides its own representatives; never the administrator
FILE_READER_ROLES = ("liaison", "auditor", "facilitator", "mediator", "state_authority")


def can_see_file(actor: Actor, case: Case | None, visible_to: list[str] | None) -> bool:
    """An evidence file, for someone who may read its case (or the system chain): every such
    reader when it is not confidential; else the community's representatives and the roles
    it allowed (a facilitator or mediator only when assigned to the case)."""
    if visible_to is None:
        return True
    if case is not None and represents(actor, case.community_id):
        return True
    if actor.role not in visible_to:
        return False
    if case is None or not independent_of_the_parties(actor):
        return True
    return assigned_to(actor, case)


def _not_own_community() -> Reason:
    return Reason(
        "not_community_representative",
        N_("Only a representative of this community may do this."),
    )


def _no_mandate() -> Reason:
    return Reason(
        "no_valid_mandate",
        N_(
            "You hold no mandate from the community in force today: without one you may read "
            "the community's cases, ask questions and lodge grievances, not act in its name."
        ),
    )


def _not_assigned(role: str) -> Reason:
    return Reason(
        "not_assigned",
        N_("Only the %(role)s assigned to this case may do this."),
        {"role": role},
    )


#: what each role may reach in an interface; the engine still checks every action itself
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "dashboard:read": ROLES,
    "case:read": ROLES,
    "case:open": CASE_OPENING_ROLES,
    "case:act": ("liaison", "representative", "facilitator", "mediator", "state_authority"),
    "community:read": ROLES,
    "community:register": REGISTER_ROLES,
    "community:propose": COMMUNITY_PROPOSING_ROLES,
    "project:manage": PROJECT_ROLES,
    "trail:read": ROLES,
    "system_trail:read": ("auditor", "admin"),
    "users:manage": USER_ADMIN_ROLES,
    "own_password:change": OWN_ACCOUNT_ROLES,
    "own_tokens:manage": OWN_ACCOUNT_ROLES,
    # one's own e-mail address, time zone and notifications: no FPIC record changes
    "own_settings:change": OWN_ACCOUNT_ROLES,
    "own_passkeys:manage": PASSKEY_HOLDER_ROLES,
}

#: the interface permissions a personal API token of each scope carries, on top of its
#: holder's: a token never lets anyone do more than they may in person
TOKEN_SCOPE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ("case:read", "community:read", "trail:read"),
    "act": ("case:read", "community:read", "trail:read", "case:act"),
}


def allows(actor: Actor, permission: str) -> bool:
    return actor.role in PERMISSIONS[permission]


def permission_refusal(permission: str) -> Reason:
    """Why a page or an API route is refused to a person who does not hold ``permission``."""
    return Reason(
        "permission_denied",
        N_("Your role may not use this page (%(permission)s)."),
        {"permission": permission},
    )


def scope_carries(scope: str, permission: str) -> bool:
    """Whether a token of ``scope`` reaches ``permission`` at all; its holder must hold the
    permission too (``allows``, asked at every request: a role changed since stops it)."""
    return permission in TOKEN_SCOPE_PERMISSIONS.get(scope, ())


def token_scope_refusal(actor: Actor, scope: str) -> list[Reason]:
    """Whether this person may hold a token of ``scope``: one that acts only if they may act
    (an auditor's or an administrator's token reads, never acts)."""
    if all(allows(actor, permission) for permission in TOKEN_SCOPE_PERMISSIONS[scope]):
        return []
    return [
        Reason(
            "scope_not_allowed",
            N_("Your role (%(role)s) may not hold a token that acts; choose read only."),
            {"role": actor.role, "scope": scope},
        )
    ]
