"""The rights-holder registry and users: communities, representatives, mandates, projects.

Each change goes through ``Engine.system_action``: one transaction with its system-chain event.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fpic.actors import Actor
from fpic.engine import Engine
from fpic.errors import invalid
from fpic.i18n import N_
from fpic.models import ROLES, Community, Mandate, Project, Representative, User, UserSession
from fpic.payloads import SLUG, Fields
from fpic.permissions import REGISTRY_ROLES, USER_ADMIN_ROLES

MIN_PASSWORD = 8
MAX_PASSWORD = 128
#: the roles an administrator may move an account between: a representative's account stays
#: one, because it is tied to a registered representative and their community's mandate
ASSIGNABLE_ROLES = tuple(role for role in ROLES if role != "representative")
_hasher = PasswordHasher()  # argon2id with argon2-cffi's defaults (OWASP ASVS 5.0 floor)


def hash_password(password: str, username: str = "") -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise invalid(
            "password",
            N_("A password must have %(min)s to %(max)s characters."),
            min=MIN_PASSWORD,
            max=MAX_PASSWORD,
        )
    if password.strip().lower() in common_passwords():
        raise invalid("password", N_("This password is too common; choose another one."))
    # the first word an attacker tries for an account is its own name (ASVS 5.0 §6.2.11)
    if len(username) >= 3 and username.lower() in password.lower():
        raise invalid("password", N_("A password must not contain the user name."))
    return _hasher.hash(password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of passwords people pick most (OWASP ASVS 5.0 §6.2: refuse them)."""
    text = resources.files("fpic").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except Exception:  # argon2 raises several kinds for a mismatch or a malformed hash
        return False


def add_community(engine: Engine, actor: Actor, data: dict[str, Any]) -> int:
    f = Fields(data, {"slug", "name", "region", "country", "institution", "content_languages"})
    values = {
        "slug": f.short("slug"),
        "name": f.short("name"),
        "region": f.short("region"),
        "country": f.short("country"),
        "institution": f.short("institution"),
        "content_languages": f.languages("content_languages"),
    }
    if not SLUG.match(values["slug"] or ""):
        raise invalid("slug", N_("%(field)s may hold lower-case letters, digits, - and _."))
    if len(values["country"] or "") != 2:
        raise invalid("country", N_("%(field)s must be a two-letter country code."))

    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(Community.id).where(Community.slug == values["slug"])):
            raise invalid("slug", N_("A community with this %(field)s already exists."))
        community = Community(**values)
        session.add(community)
        session.flush()
        return {"community_id": community.id, **values}

    return engine.system_action(actor, "add_community", REGISTRY_ROLES, work)["community_id"]


def add_representative(
    engine: Engine, actor: Actor, community_id: int, name: str, gender: str = "unspecified"
) -> int:
    f = Fields({"name": name, "gender": gender}, {"name", "gender"})
    clean_name = f.short("name")
    clean_gender = f.choice("gender", ("woman", "man", "other", "unspecified"))

    def work(session: Session) -> dict[str, Any]:
        if session.get(Community, community_id) is None:
            raise invalid("community_id", N_("There is no such community."))
        rep = Representative(community_id=community_id, name=clean_name, gender=clean_gender)
        session.add(rep)
        session.flush()
        return {"representative_id": rep.id, "community_id": community_id, "name": clean_name}

    return engine.system_action(actor, "add_representative", REGISTRY_ROLES, work)[
        "representative_id"
    ]


def record_mandate(
    engine: Engine,
    actor: Actor,
    representative_id: int,
    *,
    granted_by: str,
    evidence: str,
    valid_from: date,
    valid_until: date,
) -> int:
    f = Fields({"granted_by": granted_by, "evidence": evidence}, {"granted_by", "evidence"})
    granted, proof = f.short("granted_by"), f.text("evidence")
    if valid_until < valid_from:
        raise invalid("valid_until", N_("%(field)s must not be before the start of the mandate."))

    def work(session: Session) -> dict[str, Any]:
        if session.get(Representative, representative_id) is None:
            raise invalid("representative_id", N_("There is no such representative."))
        mandate = Mandate(
            representative_id=representative_id,
            granted_by=granted,
            evidence=proof,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        session.add(mandate)
        session.flush()
        return {
            "mandate_id": mandate.id,
            "representative_id": representative_id,
            "granted_by": granted,
            "evidence": proof,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        }

    return engine.system_action(actor, "record_mandate", REGISTRY_ROLES, work)["mandate_id"]


def add_project(engine: Engine, actor: Actor, data: dict[str, Any]) -> int:
    f = Fields(
        data,
        {
            "name",
            "proponent",
            "description",
            "phases",
            "activities",
            "design_freeze_on",
            "permit_applied_on",
        },
    )
    values: dict[str, Any] = {
        "name": f.short("name"),
        "proponent": f.short("proponent"),
        "description": f.text("description", required=False) or "",
        "phases": f.str_list("phases", required=False),
        "activities": f.str_list("activities", required=False),
        "design_freeze_on": f.day("design_freeze_on", required=False),
        "permit_applied_on": f.day("permit_applied_on", required=False),
    }

    def work(session: Session) -> dict[str, Any]:
        row = {
            k: date.fromisoformat(v) if k.endswith("_on") and v else v for k, v in values.items()
        }
        project = Project(**row)
        session.add(project)
        session.flush()
        return {"project_id": project.id, **values}

    return engine.system_action(actor, "add_project", REGISTRY_ROLES, work)["project_id"]


def add_user(
    engine: Engine,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    representative_id: int | None = None,
) -> int:
    f = Fields(
        {"username": username, "role": role, "display_name": display_name},
        {"username", "role", "display_name"},
    )
    name, clean_role = f.short("username"), f.choice("role", ROLES)
    if not SLUG.match(name or ""):
        raise invalid("username", N_("%(field)s may hold lower-case letters, digits, - and _."))
    shown = f.short("display_name", required=False) or name
    if (clean_role == "representative") != (representative_id is not None):
        raise invalid(
            "representative_id",
            N_(
                "A representative's account must be linked to a registered representative, "
                "and only theirs."
            ),
        )
    digest = hash_password(password, name or "")

    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(User.id).where(User.username == name)):
            raise invalid("username", N_("This user name is already taken."))
        if representative_id is not None and session.get(Representative, representative_id) is None:
            raise invalid("representative_id", N_("There is no such representative."))
        user = User(
            username=name,
            display_name=shown,
            password_hash=digest,
            role=clean_role,
            representative_id=representative_id,
        )
        session.add(user)
        session.flush()
        return {
            "user_id": user.id,
            "username": name,
            "role": clean_role,
            "representative_id": representative_id,
        }

    return engine.system_action(actor, "add_user", USER_ADMIN_ROLES, work)["user_id"]


def bootstrap_admin(engine: Engine, username: str, password: str) -> int:
    """The first administrator, created by whoever runs the installation (no actor yet)."""
    installer = Actor(user_id=0, username="installer", role="admin")
    return add_user(
        engine,
        installer,
        username=username,
        password=password,
        role="admin",
        display_name="Administrator",
    )


def end_open_sessions(session: Session, user_id: int, at: datetime) -> int:
    """End every open session of a user inside the caller's transaction, so the change that
    calls for it (disabling, a new password or role) and the sign-out commit together."""
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=at)
    )
    return result.rowcount or 0


def set_user_active(engine: Engine, actor: Actor, user_id: int, active: bool) -> None:
    """Disable or re-enable an account; disabling ends its sessions at once."""

    def work(session: Session) -> dict[str, Any]:
        user = session.get(User, user_id)
        if user is None:
            raise invalid("user_id", N_("There is no such user."))
        if user.id == actor.user_id and not active:
            raise invalid("user_id", N_("You cannot disable your own account."))
        user.active = active
        if not active:
            end_open_sessions(session, user.id, engine.clock.now())
        return {"user_id": user.id, "username": user.username, "active": active}

    engine.system_action(actor, "enable_user" if active else "disable_user", USER_ADMIN_ROLES, work)


def set_user_role(engine: Engine, actor: Actor, user_id: int, role: str) -> None:
    """Move an account to another role; its sessions end at once, so the person signs in
    again and every page they see from then on follows the new role."""
    new_role = Fields({"role": role}, {"role"}).choice("role", ROLES)

    def work(session: Session) -> dict[str, Any]:
        user = session.get(User, user_id)
        if user is None:
            raise invalid("user_id", N_("There is no such user."))
        _check_role_change(actor, user, new_role or "")
        old_role, user.role = user.role, new_role or ""
        ended = end_open_sessions(session, user.id, engine.clock.now())
        return {
            "user_id": user.id,
            "username": user.username,
            "from_role": old_role,
            "to_role": new_role,
            "sessions_ended": ended,
        }

    engine.system_action(actor, "change_role", USER_ADMIN_ROLES, work)


def _check_role_change(actor: Actor, user: User, new_role: str) -> None:
    # a representative speaks for a community under its mandate: that is not a role to hand
    # out or take away here, it comes with the registry entry the account is linked to
    if user.role == "representative":
        raise invalid(
            "role",
            N_(
                "A representative's account cannot be given another role: it is tied to "
                "their community's mandate. Disable it and add a new account instead."
            ),
        )
    if new_role not in ASSIGNABLE_ROLES:
        raise invalid(
            "role",
            N_(
                "An account cannot become a representative's: a representative's account is "
                "added linked to the registered representative and their community's mandate."
            ),
        )
    if new_role == user.role:
        raise invalid("role", N_("This account already has this role."))
    if user.id == actor.user_id:
        # so there is always an administrator left to manage the accounts
        raise invalid(
            "role",
            N_("You cannot remove your own administrator role; another administrator can."),
        )
