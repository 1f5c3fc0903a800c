"""The rights-holder registry and users: communities, representatives, mandates, projects.

Each change goes through ``Engine.system_action``: one transaction with its system-chain event.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fpic.accounts.passwords import NO_PASSWORD, hash_password
from fpic.accounts.settings import check_email
from fpic.evidence.intake import FileRefusal, ReceivedFile
from fpic.geo import AreaRefused
from fpic.i18n import N_
from fpic.storage.db import rows_changed
from fpic.storage.models import (
    ROLES,
    SECTORS,
    ApiToken,
    Case,
    Community,
    Enrolment,
    LegacySite,
    Mandate,
    Project,
    Representative,
    User,
    UserSession,
)
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine
from fpic.workflow.errors import InvalidData, NotPermitted, invalid
from fpic.workflow.guards import holds_mandate
from fpic.workflow.payloads import SLUG, Fields
from fpic.workflow.permissions import (
    ASSIGNABLE_ROLES,
    FIRST_ACCOUNT_ROLE,
    SYSTEM_ACTION_ROLES,
    Standing,
    facilitates,
    register_refusals,
    represents,
    speaks_for_a_community,
)
from fpic.workflow.places import refused_area
from fpic.workflow.schema import received_files

if TYPE_CHECKING:
    from fpic.geo.reference import Imported, Progress

#: the stored hash of an account nobody can sign in to yet (no argon2 hash looks like it)
GENDERS = ("woman", "man", "other", "unspecified")


def add_community(engine: Engine, actor: Actor, data: dict[str, Any]) -> int:
    f = Fields(data, {"slug", "name", "region", "country", "institution", "content_languages"})
    slug = f.short("slug")
    values = {
        "slug": slug,
        "name": f.name("name"),
        "region": f.short("region"),
        "country": f.short("country"),
        "institution": f.short("institution"),
        "content_languages": f.languages("content_languages"),
    }
    _check_slug_and_country(values)

    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(Community.id).where(Community.slug == values["slug"])):
            raise invalid("slug", N_("A community with this %(field)s already exists."))
        community = Community(**values)
        session.add(community)
        session.flush()
        return {"community_id": community.id, **values}

    done = engine.system_action(actor, "add_community", SYSTEM_ACTION_ROLES["add_community"], work)
    community_id: int = done["community_id"]
    return community_id


def _check_slug_and_country(values: dict[str, Any]) -> None:
    """A register entry's slug (its name in addresses) and its ISO 3166-1 country code."""
    if not SLUG.match(values["slug"] or ""):
        raise invalid("slug", N_("%(field)s may hold lower-case letters, digits, - and _."))
    if len(values["country"] or "") != 2:
        raise invalid("country", N_("%(field)s must be a two-letter country code."))


def community_standing(session: Session, actor: Actor, community_id: int, day: date) -> Standing:
    """A person's standing towards a community's register, read in the caller's transaction:
    their own mandate (a representative) or their assignment to one of its cases (a
    facilitator)."""
    own = represents(actor, community_id)
    mandated = (
        own
        and actor.representative_id is not None
        and holds_mandate(session, actor.representative_id, day)
    )
    assigned = facilitates(actor) and (
        session.scalar(
            select(Case.id)
            .where(Case.community_id == community_id, Case.facilitator_id == actor.user_id)
            .limit(1)
        )
        is not None
    )
    return Standing(own_community=own, mandated=mandated, assigned=assigned)


def _check_register(
    session: Session, engine: Engine, actor: Actor, action: str, community_id: int, **kw: bool
) -> None:
    refusals = register_refusals(
        actor,
        action,
        community_standing(session, actor, community_id, engine.clock.now().date()),
        **kw,
    )
    if refusals:
        raise NotPermitted(*refusals)


def record_mandate(
    engine: Engine,
    actor: Actor,
    community_id: int,
    *,
    granted_by: str,
    evidence: str,
    resolved_on: date,
    valid_from: date,
    valid_until: date,
    representative_id: int | None = None,
    name: str | None = None,
    gender: str = "unspecified",
    files: Sequence[ReceivedFile | FileRefusal] = (),
) -> RecordedMandate:
    """Record the community's resolution mandating a representative (a new one, by ``name``,
    or one already registered), with ``files`` attesting it (a scan of the signed minutes).
    The mandate is pending until someone independent of the proponent confirms it
    (:func:`confirm_mandate`)."""
    resolution = received_files(list(files), "files")
    dates = {"resolved_on": resolved_on, "valid_from": valid_from, "valid_until": valid_until}
    f = Fields(
        {"granted_by": granted_by, "evidence": evidence, "name": name, "gender": gender, **dates},
        {"granted_by", "evidence", "name", "gender", *dates},
    )
    for key in dates:
        f.day(key)  # the same bounds as every other date a person types
    body, minuted = f.short("granted_by"), f.text("evidence")
    new_name = f.name("name", required=representative_id is None)
    clean_gender = f.choice("gender", GENDERS)
    if valid_until < valid_from:
        raise invalid("valid_until", N_("%(field)s must not be before the start of the mandate."))
    if resolved_on > engine.clock.now().date():
        raise invalid("resolved_on", N_("%(field)s cannot be in the future."))

    def work(session: Session) -> dict[str, Any]:
        if session.get(Community, community_id) is None:
            raise invalid("community_id", N_("There is no such community."))
        _check_register(session, engine, actor, "record_mandate", community_id)
        if representative_id is None:
            rep = Representative(community_id=community_id, name=new_name, gender=clean_gender)
            session.add(rep)
            session.flush()  # the new representative's id goes on the mandate and the trail
        else:
            found = session.get(Representative, representative_id)
            if found is None or found.community_id != community_id:
                raise invalid(
                    "representative_id", N_("There is no such representative of this community.")
                )
            rep = found
        mandate = Mandate(
            representative_id=rep.id,
            granted_by=body,
            evidence=minuted,
            resolved_on=resolved_on,
            valid_from=valid_from,
            valid_until=valid_until,
            recorded_by_id=actor.user_id,
            recorded_at=engine.clock.now(),
        )
        session.add(mandate)
        session.flush()
        return {
            "mandate_id": mandate.id,
            "representative_id": rep.id,
            "community_id": community_id,
            "name": rep.name,
            "new_representative": representative_id is None,
            "granted_by": body,
            "evidence": minuted,
            "resolved_on": resolved_on.isoformat(),
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        }

    done = engine.system_action(
        actor, "record_mandate", SYSTEM_ACTION_ROLES["record_mandate"], work, resolution
    )
    return RecordedMandate(done["mandate_id"], done["representative_id"])


@dataclass(frozen=True)
class RecordedMandate:
    mandate_id: int
    representative_id: int


def confirm_mandate(engine: Engine, actor: Actor, mandate_id: int) -> None:
    """Someone the proponent does not employ confirms a recorded mandate: another mandated
    representative of the community, or the facilitator of one of its cases."""

    def work(session: Session) -> dict[str, Any]:
        mandate = _mandate(session, mandate_id)
        rep = mandate.representative
        holder = actor.representative_id == rep.id
        _check_register(session, engine, actor, "confirm_mandate", rep.community_id, holder=holder)
        if mandate.confirmed_at is not None or mandate.revoked_on is not None:
            raise invalid("mandate_id", N_("This mandate is not waiting for confirmation."))
        mandate.confirmed_at, mandate.confirmed_by_id = engine.clock.now(), actor.user_id
        return {
            "mandate_id": mandate.id,
            "representative_id": rep.id,
            "community_id": rep.community_id,
        }

    engine.system_action(actor, "confirm_mandate", SYSTEM_ACTION_ROLES["confirm_mandate"], work)


def revoke_mandate(
    engine: Engine, actor: Actor, mandate_id: int, *, resolution: str, effective_on: date
) -> None:
    """The community ends a mandate by a new resolution, with effect from a date (from that
    day on the mandate is no longer in force)."""
    text = Fields({"resolution": resolution}, {"resolution"}).text("resolution")

    def work(session: Session) -> dict[str, Any]:
        mandate = _mandate(session, mandate_id)
        rep = mandate.representative
        _check_register(session, engine, actor, "revoke_mandate", rep.community_id)
        if mandate.revoked_on is not None:
            raise invalid("mandate_id", N_("This mandate has already been ended."))
        mandate.revoked_on, mandate.revocation = effective_on, text
        mandate.revoked_by_id = actor.user_id
        return {
            "mandate_id": mandate.id,
            "representative_id": rep.id,
            "community_id": rep.community_id,
            "resolution": text,
            "effective_on": effective_on.isoformat(),
        }

    engine.system_action(actor, "revoke_mandate", SYSTEM_ACTION_ROLES["revoke_mandate"], work)


def _mandate(session: Session, mandate_id: int) -> Mandate:
    mandate = session.get(Mandate, mandate_id) if 0 < mandate_id < 2**62 else None
    if mandate is None:
        raise invalid("mandate_id", N_("There is no such mandate."))
    return mandate


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
            "sector",
            "legacy_site",
        },
    )
    site_slug = f.short("legacy_site", required=False)
    values: dict[str, Any] = {
        "name": f.name("name"),
        "proponent": f.short("proponent"),
        "description": f.text("description", required=False) or "",
        "phases": f.str_list("phases", required=False),
        "activities": f.str_list("activities", required=False),
        "design_freeze_on": f.day("design_freeze_on", required=False),
        "permit_applied_on": f.day("permit_applied_on", required=False),
        "sector": f.choice("sector", SECTORS, required=False) or "unspecified",
    }

    def work(session: Session) -> dict[str, Any]:
        row = {
            k: date.fromisoformat(v) if k.endswith("_on") and v else v for k, v in values.items()
        }
        if site_slug:
            row["legacy_site_id"] = session.scalar(
                select(LegacySite.id).where(LegacySite.slug == site_slug)
            )
            if row["legacy_site_id"] is None:
                raise invalid(
                    "legacy_site", N_("There is no legacy site %(value)s."), value=site_slug
                )
            values["legacy_site"] = site_slug
        project = Project(**row)
        session.add(project)
        session.flush()
        return {"project_id": project.id, **values}

    done = engine.system_action(actor, "add_project", SYSTEM_ACTION_ROLES["add_project"], work)
    project_id: int = done["project_id"]
    return project_id


# --- changing an entry of the register ---------------------------------------------------------

#: what a change to an entry records, and what it returns: each changed field's value before
#: and after (``{"name": {"from": "Old", "to": "New"}}``), as the trail holds them
Changes = dict[str, dict[str, Any]]
_Reader = Callable[[Fields, str], Any]

_COMMUNITY_READERS: dict[str, _Reader] = {
    "name": Fields.name,
    "region": Fields.short,
    "country": Fields.short,
    "institution": Fields.short,
    "content_languages": Fields.languages,
}
_PROJECT_READERS: dict[str, _Reader] = {
    "name": Fields.name,
    "proponent": Fields.short,
    "description": lambda f, key: f.text(key, required=False) or "",
    "phases": lambda f, key: f.str_list(key, required=False),
    "activities": lambda f, key: f.str_list(key, required=False),
    "design_freeze_on": lambda f, key: f.day(key, required=False),
    "permit_applied_on": lambda f, key: f.day(key, required=False),
    "sector": lambda f, key: f.choice(key, SECTORS, required=False) or "unspecified",
}
#: the longest text a field holds (its column): longer is refused by name, never cut
_LONGEST = {"name": 200, "region": 200, "proponent": 200, "institution": 300}
#: what a project's cases name, so a project with cases may add to them but drop none
_NAMED_BY_CASES = ("phases", "activities")


def edit_community(
    engine: Engine, actor: Actor, community_id: int, data: dict[str, Any]
) -> Changes:
    """Change a community's entry: its name, region, country, its own institution (the one
    that appoints its representatives and decides) and the languages it asks information in.
    Only the fields in ``data`` change; its address (the slug) never does.

    The entry is the community's: only its mandated representative or the facilitator of one
    of its cases may change it, as for its mandates. Whoever may propose a community (the
    proponent's liaison among them) registers it, and never rewrites it afterwards.

    The event records each changed field's old and new value; a change that changes nothing
    writes nothing."""
    found: list[Changes] = []

    def work(session: Session) -> dict[str, Any] | None:
        community = session.get(Community, community_id) if 0 < community_id < 2**62 else None
        if community is None:
            raise invalid("community_id", N_("There is no such community."))
        # who may comes first: a person refused learns nothing about what they sent
        _check_register(session, engine, actor, "edit_community", community.id)
        changes = _changes(community, _entry_values(data, _COMMUNITY_READERS))
        found.append(changes)
        if not changes:
            return None
        for key, change in changes.items():
            setattr(community, key, change["to"])
        return {"community_id": community.id, "slug": community.slug, "changes": changes}

    engine.system_action(actor, "edit_community", SYSTEM_ACTION_ROLES["edit_community"], work)
    return found[0]


def edit_project(engine: Engine, actor: Actor, project_id: int, data: dict[str, Any]) -> Changes:
    """Change a project's description: its name, proponent, description, sector, phases,
    activities, and the dates of its design freeze and permit application. Only the fields in
    ``data`` change, by those who register projects.

    Once the project has a case, its sector stays (which rules its cases follow depends on
    it: the World Heritage rule stops extractive projects) and no phase or activity leaves
    its lists (its cases' decisions and areas name them); new ones may be added. The event
    records each changed field's old and new value; a change that changes nothing writes
    nothing."""
    found: list[Changes] = []

    def work(session: Session) -> dict[str, Any] | None:
        project = session.get(Project, project_id) if 0 < project_id < 2**62 else None
        if project is None:
            raise invalid("project_id", N_("There is no such project."))
        changes = _changes(project, _entry_values(data, _PROJECT_READERS))
        found.append(changes)
        if not changes:
            return None
        _check_what_cases_rest_on(session, project.id, changes)
        for key, change in changes.items():
            new = change["to"]
            setattr(project, key, date.fromisoformat(new) if key.endswith("_on") and new else new)
        return {"project_id": project.id, "changes": changes}

    engine.system_action(actor, "edit_project", SYSTEM_ACTION_ROLES["edit_project"], work)
    return found[0]


def _entry_values(data: dict[str, Any], readers: dict[str, _Reader]) -> dict[str, Any]:
    """The fields ``data`` names, read and checked as when the entry was added."""
    f = Fields(data, set(readers))
    values = {key: read(f, key) for key, read in readers.items() if key in f.data}
    for key, longest in _LONGEST.items():
        if len(values.get(key) or "") > longest:
            raise invalid(
                key, N_("%(field)s is too long (at most %(max)s characters)."), max=longest
            )
    country = values.get("country")
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise invalid("country", N_("%(field)s must be a two-letter country code."))
    return values


def _changes(row: Community | Project, values: dict[str, Any]) -> Changes:
    """Each field whose new value differs from the stored one, as the trail records it."""
    changes: Changes = {}
    for key, new in values.items():
        old = getattr(row, key)
        old = old.isoformat() if isinstance(old, date) else old
        if old != new:
            changes[key] = {"from": old, "to": new}
    return changes


def _check_what_cases_rest_on(session: Session, project_id: int, changes: Changes) -> None:
    dropped = {
        key: sorted(set(changes[key]["from"] or []) - set(changes[key]["to"]))
        for key in _NAMED_BY_CASES
        if key in changes
    }
    if "sector" not in changes and not any(dropped.values()):
        return
    if session.scalar(select(Case.id).where(Case.project_id == project_id).limit(1)) is None:
        return
    if "sector" in changes:
        raise invalid(
            "sector",
            N_(
                "%(field)s cannot change once the project has a case: which rules its cases "
                "follow depends on it. Register a new project instead."
            ),
        )
    for key, gone in dropped.items():
        if gone:
            raise invalid(
                key,
                N_(
                    "%(field)s cannot lose %(value)s once the project has a case: its cases "
                    "and decisions name them. You may add new ones."
                ),
                value=", ".join(gone),
            )


def add_legacy_site(engine: Engine, actor: Actor, data: dict[str, Any]) -> int:
    """A legacy mine site in the register: where it is (a point or an area, GeoJSON in WGS 84,
    or ``longitude, latitude`` typed), who worked it, the hazards it left, how it stands and the
    communities around it (their slugs)."""
    f = Fields(
        data,
        {"slug", "name", "country", "former_operator", "worked", "hazards", "current_state",
         "location", "communities"},
    )  # fmt: skip
    values: dict[str, Any] = {
        "slug": f.short("slug"),
        "name": f.name("name"),
        "country": f.short("country"),
        "former_operator": f.short("former_operator"),
        "worked": f.short("worked", required=False) or "",
        "hazards": f.str_list("hazards", required=False),
        "current_state": f.text("current_state"),
    }
    _check_slug_and_country(values)
    from fpic.geo.shapes import normalised_geojson, site_location  # GEOS only when needed

    try:
        values["geojson"] = normalised_geojson(site_location(f.text("location") or "")).decode()
    except AreaRefused as refused:
        raise refused_area("location", refused.reason) from None
    slugs = f.str_list("communities", required=False)

    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(LegacySite.id).where(LegacySite.slug == values["slug"])):
            raise invalid("slug", N_("A legacy site with this %(field)s already exists."))
        communities = list(session.scalars(select(Community).where(Community.slug.in_(slugs))))
        if len(communities) != len(set(slugs)):
            raise invalid("communities", N_("%(field)s names a community not in the register."))
        site = LegacySite(**values, recorded_at=engine.clock.now(), communities=communities)
        session.add(site)
        session.flush()
        return {"legacy_site_id": site.id, **values, "communities": sorted(slugs)}

    done = engine.system_action(
        actor, "add_legacy_site", SYSTEM_ACTION_ROLES["add_legacy_site"], work
    )
    site_id: int = done["legacy_site_id"]
    return site_id


def import_areas(
    engine: Engine,
    actor: Actor,
    path: Path,
    *,
    kind: str,
    source: str,
    version: str,
    progress: Progress | None = None,
) -> Imported:
    """A reference dataset imported (fpic.geo.reference), recorded on the system chain with
    its source, version, SHA-256 and how many rows were kept, repaired and skipped."""
    from fpic.geo.reference import DatasetRefused, import_dataset  # GEOS only when needed

    found: list[Imported] = []

    def work(session: Session) -> dict[str, Any] | None:
        try:
            imported = import_dataset(
                session, path, kind=kind, source=source, version=version,
                imported_by=actor.username, now=engine.clock.now(), progress=progress,
            )  # fmt: skip
        except DatasetRefused as refused:
            raise InvalidData("file", refused.reason) from None
        found.append(imported)
        # the same file again for the same version: nothing changes, nothing goes on the trail
        return None if imported.already else imported.on_trail()

    engine.system_action(actor, "import_areas", SYSTEM_ACTION_ROLES["import_areas"], work)
    return found[0]


#: how long a one-time enrolment code may be used
ENROLMENT_DAYS = 7
#: Crockford's base32 without the look-alikes, so a code read out over a radio survives
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_GROUPS, _CODE_GROUP_LENGTH = 4, 4  # 16 characters: 80 random bits


@dataclass(frozen=True)
class IssuedCode:
    """A one-time enrolment code, shown once to whoever hands it to the person; only its
    SHA-256 is stored."""

    user_id: int
    username: str
    code: str
    expires_at: datetime


def new_code() -> str:
    chars = "".join(
        secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUPS * _CODE_GROUP_LENGTH)
    )
    n = _CODE_GROUP_LENGTH
    return "-".join(chars[i : i + n] for i in range(0, len(chars), n))


def code_digest(code: str) -> str:
    """The stored form of a code; typing it in lower case or without dashes still matches."""
    canonical = "".join(c for c in (code or "").upper() if c.isalnum())
    canonical = canonical.replace("O", "0").replace("I", "1").replace("L", "1")
    return hashlib.sha256(canonical.encode("ascii", "replace")).hexdigest()


def _issue_code(
    engine: Engine, session: Session, user: User, kind: str, actor: Actor
) -> IssuedCode:
    """A new code for ``user``; any code still unused for the account is withdrawn."""
    now = engine.clock.now()
    session.execute(
        update(Enrolment)
        .where(
            Enrolment.user_id == user.id,
            Enrolment.used_at.is_(None),
            Enrolment.withdrawn_at.is_(None),
        )
        .values(withdrawn_at=now)
    )
    code = new_code()
    expires = now + timedelta(days=ENROLMENT_DAYS)
    session.add(
        Enrolment(
            user_id=user.id,
            kind=kind,
            code_hash=code_digest(code),
            issued_at=now,
            issued_by_id=actor.user_id or None,
            expires_at=expires,
        )
    )
    return IssuedCode(user.id, user.username, code, expires)


def account_event(user: User, **more: Any) -> dict[str, Any]:
    """What the trail says of an account change; a representative's names the community, so
    the community's page and its members can see every enrolment and reset."""
    rep = user.representative
    return {
        "user_id": user.id,
        "username": user.username,
        "role": user.role,
        "representative_id": rep.id if rep else None,
        "community_id": rep.community_id if rep else None,
        **more,
    }


def add_user(
    engine: Engine,
    actor: Actor,
    *,
    username: str,
    role: str,
    display_name: str | None = None,
    representative_id: int | None = None,
    email: str | None = None,
) -> IssuedCode:
    """A new account without a password: the person chooses it with the returned one-time
    code (:func:`fpic.accounts.sessions.enrol`). Nobody sets another person's password.
    ``email``: where its notifications go (kept off the trail, as the person's own settings)."""
    f = Fields(
        {"username": username, "role": role, "display_name": display_name},
        {"username", "role", "display_name"},
    )
    # the invisible-character check first, so its message says what is wrong with the name
    name, clean_role = f.name("username"), f.choice("role", ROLES)
    if not SLUG.match(name or ""):
        raise invalid("username", N_("%(field)s may hold lower-case letters, digits, - and _."))
    shown = f.name("display_name", required=False) or name
    address = check_email(email)
    if speaks_for_a_community(clean_role or "") != (representative_id is not None):
        raise invalid(
            "representative_id",
            N_(
                "A representative's account must be linked to a registered representative, "
                "and only theirs."
            ),
        )
    issued: list[IssuedCode] = []

    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(User.id).where(User.username == name)):
            raise invalid("username", N_("This user name is already taken."))
        if representative_id is not None:
            _one_account_per_representative(session, representative_id)
        user = User(
            username=name,
            display_name=shown,
            password_hash=NO_PASSWORD,
            role=clean_role,
            representative_id=representative_id,
            email=address,
        )
        session.add(user)
        session.flush()  # the account's id goes on its code and on the trail
        code = _issue_code(engine, session, user, "enrolment", actor)
        issued.append(code)
        return account_event(user, expires_at=code.expires_at.isoformat())

    engine.system_action(actor, "add_user", SYSTEM_ACTION_ROLES["add_user"], work)
    return issued[0]


def _one_account_per_representative(session: Session, representative_id: int) -> None:
    if session.get(Representative, representative_id) is None:
        raise invalid("representative_id", N_("There is no such representative."))
    taken = session.scalar(select(User.username).where(User.representative_id == representative_id))
    if taken is not None:
        # a second login for someone who has one is how an account is shadowed: the holder's
        # own account is reset instead, which ends its password visibly
        raise invalid(
            "representative_id",
            N_(
                "This representative already has an account (%(username)s): one person, one "
                "account. Issue a new enrolment code for it instead."
            ),
            username=taken,
        )


def reset_account(engine: Engine, actor: Actor, user_id: int) -> IssuedCode:
    """A new one-time code for an account: its password stops working, and every session and
    every API token of it ends at once (whoever took the account over keeps none of them),
    so a reset can never go unnoticed by the holder."""
    issued: list[IssuedCode] = []

    def work(session: Session) -> dict[str, Any]:
        user = session.get(User, user_id) if 0 < user_id < 2**62 else None
        if user is None:
            raise invalid("user_id", N_("There is no such user."))
        if user.id == actor.user_id:
            raise invalid("user_id", N_("Change your own password on your account page."))
        user.password_hash = NO_PASSWORD
        now = engine.clock.now()
        ended = end_open_sessions(session, user.id, now)
        revoked = revoke_api_tokens(session, user.id, now)
        code = _issue_code(engine, session, user, "reset", actor)
        issued.append(code)
        return account_event(
            user,
            sessions_ended=ended,
            tokens_revoked=revoked,
            expires_at=code.expires_at.isoformat(),
        )

    engine.system_action(actor, "reset_account", SYSTEM_ACTION_ROLES["reset_account"], work)
    return issued[0]


def bootstrap_admin(engine: Engine, username: str, password: str) -> int:
    """The first administrator, created by whoever runs the installation (no actor yet), who
    chooses the password at once."""
    from fpic.accounts.sessions import enrol

    hash_password(password, username)  # a refused password leaves no account behind
    installer = Actor(user_id=0, username="installer", role=FIRST_ACCOUNT_ROLE)
    issued = add_user(
        engine, installer, username=username, role=FIRST_ACCOUNT_ROLE, display_name="Administrator"
    )
    enrol(engine, username, issued.code, password)
    return issued.user_id


def end_open_sessions(session: Session, user_id: int, at: datetime) -> int:
    """End every open session of a user inside the caller's transaction, so the change that
    calls for it (disabling, a new password or role) and the sign-out commit together."""
    return rows_changed(
        session,
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=at),
    )


def revoke_api_tokens(session: Session, user_id: int, at: datetime) -> int:
    """Revoke every API token of a user still in force, inside the caller's transaction."""
    return rows_changed(
        session,
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at),
    )


def set_user_active(engine: Engine, actor: Actor, user_id: int, active: bool) -> None:
    """Disable or re-enable an account; disabling ends its sessions at once."""

    def work(session: Session) -> dict[str, Any]:
        user = session.get(User, user_id)
        if user is None:
            raise invalid("user_id", N_("There is no such user."))
        if user.id == actor.user_id and not active:
            raise invalid("user_id", N_("You cannot disable your own account."))
        if active and user.representative_id is not None and not user.active:
            _no_other_active_account(session, user)
        user.active = active
        if not active:
            end_open_sessions(session, user.id, engine.clock.now())
        return account_event(user, active=active)

    action = "enable_user" if active else "disable_user"
    engine.system_action(actor, action, SYSTEM_ACTION_ROLES[action], work)


def _no_other_active_account(session: Session, user: User) -> None:
    other = session.scalar(
        select(User.username).where(
            User.representative_id == user.representative_id,
            User.active.is_(True),
            User.id != user.id,
        )
    )
    if other is not None:
        raise invalid(
            "user_id",
            N_("This representative already has an active account (%(username)s)."),
            username=other,
        )


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

    engine.system_action(actor, "change_role", SYSTEM_ACTION_ROLES["change_role"], work)


def _check_role_change(actor: Actor, user: User, new_role: str) -> None:
    # a representative speaks for a community under its mandate: that is not a role to hand
    # out or take away here, it comes with the registry entry the account is linked to
    if speaks_for_a_community(user.role):
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
