"""The authorisation matrix: every route of the app × every role, with the exact status each
one must get, and nothing written by a request that is refused."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from fpic.accounts.registry import add_legacy_site, record_mandate
from fpic.accounts.tokens import create_token
from fpic.storage.models import EvidenceFile, Mandate, Project, TrailEvent, User, UserSession
from fpic.trail import audit
from fpic.trail.checkpoints import ensure_log_key
from fpic.workflow.permissions import PERMISSIONS
from tests.factories import PASSWORD, World, evidence_files, make_world, walk_to
from tests.passkey_authenticator import enrol_passkey
from tests.web.conftest import Browser, csrf_token, decision_form, snapshot
from web import create_app
from web.auth import PUBLIC

ROLES = (
    "anonymous",
    "liaison",
    "rep_own",
    "rep_other",
    "auditor",
    "admin",
    "facilitator",
    "mediator",
    "state_authority",
)
USERNAMES = {
    "liaison": "liaison",
    "rep_own": "rep-ayllu-qollana-1",  # a mandated representative of the case's community
    "rep_other": "rep-uma-jaqi-1",  # a representative of another community
    "auditor": "auditor",
    "admin": "admin",
    # assigned to each community's registration case, so it may change their registers
    "facilitator": "facilitator",
    "mediator": "mediator",  # assigned to no case
    "state_authority": "state-authority",
}
LOGIN = "to /login"  # a 302 redirect to the sign-in page
MANDATES = itertools.count(1)


@dataclass
class Matrix:
    world: World
    app: Flask
    case_id: int  #: a case of ayllu-qollana standing at the decision stage
    slug: str  #: ayllu-qollana
    spare_user_id: int  #: an account the admin may enable (already active) and reset

    def fresh_case(self) -> int:
        """A new case at the decision stage, for requests that change a case."""
        community = self.world.communities["ayllu-qollana"]
        case_id = self.world.open_case(community)
        walk_to(self.world, case_id, "decision", community)
        return case_id

    def fresh_token(self) -> int:
        """An active API token of the liaison's, for requests that revoke one."""
        issued = create_token(self.world.engine, self.world.liaison, name="matrix",
                              scope="read", days=30)  # fmt: skip
        return issued.token_id

    def fresh_mandate(self) -> int:
        """A pending mandate of a new representative of ayllu-qollana (recorded by the
        facilitator), for requests that confirm or end one: nobody in the table holds it."""
        community = self.world.communities["ayllu-qollana"]
        today = self.world.clock.now().date()
        recorded = record_mandate(
            self.world.engine,
            self.world.facilitator,
            community.id,
            name=f"Matrix representative {next(MANDATES)}",
            granted_by="Community assembly",
            evidence="Assembly resolution 20/2026",
            resolved_on=today,
            valid_from=today,
            valid_until=today + timedelta(days=365),
        )
        return recorded.mandate_id

    def fresh_passkey(self, holder: int) -> int:
        """A new passkey, pending confirmation, of the ``holder``-th representative of
        ayllu-qollana (0: the table's own representative; 1: someone in no column)."""
        community = self.world.communities["ayllu-qollana"]
        return enrol_passkey(self.world.engine, community.rep_actors[holder])[0]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    path = tmp_path_factory.mktemp("matrix") / "fpic.sqlite3"
    world = make_world(f"sqlite:///{path}")
    own = world.add_community("ayllu-qollana", ["qu", "es"])
    world.add_community("uma-jaqi", ["ay", "es"])
    case_id = world.open_case(own)
    walk_to(world, case_id, "decision", own, files=evidence_files())
    today = world.clock.now().date()
    record_mandate(  # a resolution with its scan: the register's file
        world.engine, world.facilitator, own.id, name="Matrix representative with a scan",
        granted_by="Community assembly", evidence="Assembly resolution 21/2026",
        resolved_on=today, valid_from=today, valid_until=today + timedelta(days=365),
        files=evidence_files()[:1],
    )  # fmt: skip
    spare = world.add_account("spare", "liaison").user_id
    add_legacy_site(world.engine, world.liaison, {
        "slug": "old-workings", "name": "Old workings", "country": "PE",
        "former_operator": "Minera Antigua", "current_state": "Abandoned in 1970.",
        "location": "-71.9, -13.5", "communities": [own.slug],
    })  # fmt: skip
    ensure_log_key(world.db.url, "matrix.test/trail")  # as fpic init-db makes it
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )
    yield Matrix(world, app, case_id, own.slug, spare)
    world.db.dispose()


# --- the table -----------------------------------------------------------------------------


def _question(m: Matrix, case_id: int) -> dict[str, Any]:
    return {"text": "Who pays for the access road?", "language": "qu"}


def _decision(m: Matrix, case_id: int) -> dict[str, Any]:
    return decision_form(m.world, m.world.communities["ayllu-qollana"])


def _read_token(m: Matrix, case_id: int) -> dict[str, Any]:
    return {"name": "matrix", "scope": "read", "days": "30"}


def _new_case(m: Matrix, case_id: int) -> dict[str, Any]:
    return {
        "reference": "MATRIX-1",
        "project_id": str(m.world.project_id),
        "community_id": str(m.world.communities["ayllu-qollana"].id),
        "template_id": "fpic-general",
    }


def _new_user(m: Matrix, target: int) -> dict[str, Any]:
    return {
        "username": "added-by-matrix",
        "display_name": "Added by the matrix",
        "role": "auditor",
        "representative_id": "",
    }


def _mandate(m: Matrix, target: int) -> dict[str, Any]:
    today = m.world.clock.now().date()
    return {
        "representative_id": "",
        "name": f"Matrix representative {next(MANDATES)}",
        "gender": "unspecified",
        "granted_by": "Community assembly",
        "resolved_on": today.isoformat(),
        "evidence": "Assembly resolution 21/2026",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
    }


def _revocation(m: Matrix, mandate_id: int) -> dict[str, Any]:
    return {
        f"revoke-{mandate_id}-resolution": "Assembly resolution 22/2026",
        f"revoke-{mandate_id}-effective_on": m.world.clock.now().date().isoformat(),
    }


ENTRIES = itertools.count(1)


def _new_community(m: Matrix, target: int) -> dict[str, Any]:
    n = next(ENTRIES)
    return {"slug": f"matrix-community-{n}", "name": f"Matrix community {n}", "region": "R",
            "country": "PE", "institution": "Assembly", "content_languages": "qu"}  # fmt: skip


def _community_entry(m: Matrix, target: int) -> dict[str, Any]:
    # a new institution each time, so each change allowed is one event
    institution = f"Community assembly ({next(ENTRIES)})"
    return {"name": "Ayllu Qollana", "region": "Test region", "country": "PE",
            "institution": institution, "content_languages": "qu, es"}  # fmt: skip


def _new_project(m: Matrix, target: int) -> dict[str, Any]:
    return {"name": f"Matrix project {next(ENTRIES)}", "proponent": "Matrix S.A.",
            "sector": "mining"}  # fmt: skip


def _project_entry(m: Matrix, target: int) -> dict[str, Any]:
    # the project as it is, with a new description: its cases keep what they rest on
    with m.world.db.read_session() as db:
        p = db.get(Project, m.world.project_id)
        assert p is not None
        return {"name": p.name, "proponent": p.proponent, "sector": p.sector,
                "description": f"Described {next(ENTRIES)}", "phases": ", ".join(p.phases),
                "activities": ", ".join(p.activities),
                "design_freeze_on": str(p.design_freeze_on or ""),
                "permit_applied_on": str(p.permit_applied_on or "")}  # fmt: skip


VISITORS = itertools.count(1)


def _enrolment(m: Matrix, target: int) -> dict[str, Any]:
    # a new name each time: five failures for one name throttle it
    return {
        "username": f"enrolling-{next(VISITORS)}",
        "code": "AAAA-BBBB-CCCC-DDDD",
        "new_password": "a long enough password",
        "new_password_again": "a long enough password",
    }


def _same_password(m: Matrix, case_id: int) -> dict[str, Any]:
    # the new password is the old one, so the accounts still sign in for the next cells
    return {"current_password": PASSWORD, "new_password": PASSWORD, "new_password_again": PASSWORD}


def _unchanged_settings(m: Matrix, case_id: int) -> dict[str, Any]:
    # as the accounts have them, so the next cells see the same accounts
    return {"email": "", "time_zone": "", "notify": "y"}


def _other_role(m: Matrix, case_id: int) -> dict[str, Any]:
    with m.world.db.read_session() as db:
        role = db.scalar(select(User.role).where(User.id == m.spare_user_id))
    return {"role": "auditor" if role == "liaison" else "liaison"}


@dataclass(frozen=True)
class Route:
    name: str
    endpoint: str
    method: str
    #: URL arguments: "case" (the shared case), "fresh case", or a literal value
    args: tuple[tuple[str, Any], ...]
    query: tuple[tuple[str, Any], ...]
    data: Callable[[Matrix, int], dict[str, Any]] | None
    #: statuses for anonymous, liaison, rep_own, rep_other, auditor, admin
    expected: tuple[Any, ...]
    #: a permitted request writes (a case action, a new case, a user change)
    writes: bool = False


def route(
    name: str,
    endpoint: str,
    expected: tuple[Any, ...],
    method: str = "GET",
    args: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    data: Callable[[Matrix, int], dict[str, Any]] | None = None,
    writes: bool = False,
) -> Route:
    assert len(expected) == len(ROLES)
    return Route(
        name,
        endpoint,
        method,
        tuple((args or {}).items()),
        tuple((query or {}).items()),
        data,
        expected,
        writes,
    )


# anonymous, liaison, rep_own, rep_other, auditor, admin, facilitator, mediator, State authority
EVERYONE = (200,) * len(ROLES)
EVERYONE_SIGNED_IN = (LOGIN, 200, 200, 200, 200, 200, 200, 200, 200)
CASE_READERS = (LOGIN, 200, 200, 404, 200, 200, 200, 200, 200)
CASE_ACTORS = (LOGIN, 200, 200, 404, 403, 403, 200, 200, 200)
ADMIN_ONLY_PAGE = (LOGIN, 403, 403, 403, 403, 200, 403, 403, 403)
API_WITHOUT_TOKEN = (401,) * len(ROLES)
ADMIN_ONLY_CHANGE = (LOGIN, 403, 403, 403, 403, 302, 403, 403, 403)
#: the community's side: its own mandated representative and the facilitator of its case
REGISTER_CHANGE = (LOGIN, 403, 302, 404, 403, 403, 302, 403, 403)
#: a representative's own passkeys
REPRESENTATIVES_PAGE = (LOGIN, 403, 200, 200, 403, 403, 403, 403, 403)
ROUTES = [
    route("sign-in page", "auth.login", EVERYONE),
    route(
        "sign-in with wrong credentials",
        "auth.login",
        (401,) * len(ROLES),
        method="POST",
        # a new name each time: five failures for one name throttle it
        # (tests/accounts/test_accounts.py)
        data=lambda m, c: {"username": f"visitor-{next(VISITORS)}", "password": "not it"},
    ),
    route("enrolment page", "auth.enrol", EVERYONE),
    route(
        "enrolment with a wrong code",
        "auth.enrol",
        (400,) * len(ROLES),
        method="POST",
        data=_enrolment,
    ),
    route("sign-out", "auth.logout", (LOGIN,) * len(ROLES), method="POST"),
    route(
        "language switch",
        "main.set_language",
        (302,) * len(ROLES),
        method="POST",
        data=lambda m, c: {"locale": "en", "next": "/"},
    ),
    route("dashboard", "main.dashboard", EVERYONE_SIGNED_IN),
    route("calendar of dates to plan by", "main.calendar", EVERYONE_SIGNED_IN),
    route("case list", "cases.index", EVERYONE_SIGNED_IN),
    # everyone who reads cases searches them; each finds only the cases they may read
    route("search", "search.results", EVERYONE_SIGNED_IN, query={"q": "cerro"}),
    # the State opens the cases of the regimes that make it the convener (Peru's law)
    route("open-a-case form", "cases.new", (LOGIN, 200, 403, 403, 403, 403, 403, 403, 200)),
    route(
        "open a case",
        "cases.new",
        # the general process is not one the State convenes: not among its choices
        (LOGIN, 302, 403, 403, 403, 403, 403, 403, 400),
        method="POST",
        data=_new_case,
        writes=True,
    ),
    route("case page", "cases.show", CASE_READERS, args={"case_id": "case"}),
    route(
        "unknown case page",
        "cases.show",
        (LOGIN, 404, 404, 404, 404, 404, 404, 404, 404),
        args={"case_id": 999999},
    ),
    route(
        "action form",
        "cases.act",
        CASE_ACTORS,
        args={"case_id": "case", "trigger": "ask_question"},
    ),
    route(
        "unknown action form",
        "cases.act",
        (LOGIN, 404, 404, 404, 403, 403, 404, 404, 404),
        args={"case_id": "case", "trigger": "no_such_action"},
    ),
    route(
        "case action",
        "cases.act",
        (LOGIN, 302, 302, 404, 403, 403, 403, 403, 403),
        method="POST",
        args={"case_id": "fresh case", "trigger": "ask_question"},
        data=_question,
        writes=True,
    ),
    route(
        "decision",
        "cases.act",
        (LOGIN, 403, 302, 404, 403, 403, 403, 403, 403),
        method="POST",
        args={"case_id": "fresh case", "trigger": "give_consent"},
        data=_decision,
        writes=True,
    ),
    route("decision record", "cases.record", CASE_READERS, args={"case_id": "case"}),
    route("community list", "communities.index", EVERYONE_SIGNED_IN),
    route("project list", "places.projects", EVERYONE_SIGNED_IN),
    route(
        "project landscape", "places.project", EVERYONE_SIGNED_IN, args={"project_id": "project"}
    ),
    route("legacy site list", "places.legacy_sites", EVERYONE_SIGNED_IN),
    route("legacy site", "places.legacy_site", EVERYONE_SIGNED_IN, args={"slug": "site"}),
    route("community page", "communities.show", CASE_READERS, args={"slug": "slug"}),
    # the register's entries: whoever may propose a community registers one; its entry is then
    # the community's (REGISTER_CHANGE); projects are the proponent's (liaison, administrator)
    route(
        "register-a-community form",
        "registry.new_community",
        (LOGIN, 200, 403, 403, 403, 200, 200, 403, 200),
    ),
    route(
        "register a community",
        "registry.new_community",
        (LOGIN, 302, 403, 403, 403, 302, 302, 403, 302),
        method="POST",
        data=_new_community,
        writes=True,
    ),
    route(
        "community entry form",
        "registry.edit_community",
        (LOGIN, 403, 200, 404, 403, 403, 200, 403, 403),
        args={"slug": "slug"},
    ),
    route(
        "change a community's entry",
        "registry.edit_community",
        REGISTER_CHANGE,
        method="POST",
        args={"slug": "slug"},
        data=_community_entry,
        writes=True,
    ),
    route(
        "register-a-project form",
        "registry.new_project",
        (LOGIN, 200, 403, 403, 403, 200, 403, 403, 403),
    ),
    route(
        "register a project",
        "registry.new_project",
        (LOGIN, 302, 403, 403, 403, 302, 403, 403, 403),
        method="POST",
        data=_new_project,
        writes=True,
    ),
    route(
        "project form",
        "registry.edit_project",
        (LOGIN, 200, 403, 403, 403, 200, 403, 403, 403),
        args={"project_id": "project"},
    ),
    route(
        "change a project",
        "registry.edit_project",
        (LOGIN, 302, 403, 403, 403, 302, 403, 403, 403),
        method="POST",
        args={"project_id": "project"},
        data=_project_entry,
        writes=True,
    ),
    route(
        "record a mandate",
        "communities.record",
        REGISTER_CHANGE,
        method="POST",
        args={"slug": "slug"},
        data=_mandate,
        writes=True,
    ),
    route(
        "confirm a mandate",
        "communities.confirm",
        REGISTER_CHANGE,
        method="POST",
        args={"slug": "slug", "mandate_id": "fresh mandate"},
        writes=True,
    ),
    route(
        "end a mandate",
        "communities.revoke",
        REGISTER_CHANGE,
        method="POST",
        args={"slug": "slug", "mandate_id": "fresh mandate"},
        data=_revocation,
        writes=True,
    ),
    route("trail", "audit.trail", EVERYONE_SIGNED_IN),
    route("trail of the case", "audit.trail", CASE_READERS, query={"case": "case"}),
    route(
        "an event of the case's trail",
        "audit.event",
        CASE_READERS,
        args={"chain": "case chain", "seq": 1},
    ),
    # the system and access chains: those who read every chain; a 404 for everyone else, as
    # for an event that does not exist
    route(
        "an event of the access chain",
        "audit.event",
        (LOGIN, 404, 404, 404, 200, 200, 404, 404, 404),
        args={"chain": "access", "seq": 1},
    ),
    route("verify every chain", "audit.verify", (LOGIN, 403, 403, 403, 200, 200, 403, 403, 403)),
    route("export", "audit.export", EVERYONE_SIGNED_IN, query={"format": "jsonl"}),
    route(
        "export of the case",
        "audit.export",
        CASE_READERS,
        query={"format": "csv", "case": "case"},
    ),
    route("evidence bundle", "audit.bundle", EVERYONE_SIGNED_IN),
    route("evidence bundle of the case", "audit.bundle", CASE_READERS, query={"case": "case"}),
    # a community's cases: those who read them (a representative: their own community's)
    route(
        "export of a community",
        "audit.export",
        CASE_READERS,
        query={"format": "jsonl", "community": "community"},
    ),
    route("bundle of a community", "audit.bundle", CASE_READERS, query={"community": "community"}),
    # the sign-ins (the access chain): those who read every chain
    route("sign-ins and access", "audit.access", (LOGIN, 403, 403, 403, 200, 200, 403, 403, 403)),
    # the Merkle log: what a witness or a community reads without an account, and the one page
    # that names an event (its inclusion proof), for whoever may read the event
    route("the log's checkpoint", "log.checkpoint", EVERYONE),
    route("the log's public key", "log.key", EVERYONE),
    route("a consistency proof", "log.consistency", EVERYONE, query={"old": 1, "new": 2}),
    route(
        "an event's inclusion proof",
        "log.proof",
        CASE_READERS,
        args={"chain": "case chain", "seq": 1},
    ),
    route(
        "an access event's inclusion proof",
        "log.proof",
        (LOGIN, 404, 404, 404, 200, 200, 404, 404, 404),
        args={"chain": "access", "seq": 1},
    ),
    # not a cosigned checkpoint: refused for everyone alike
    route("a witness's cosignature", "log.cosignature", (400,) * len(ROLES), method="POST"),
    route("the receipt page", "log.receipt", EVERYONE),
    route(
        "a receipt checked",
        "log.receipt",
        (422,) * len(ROLES),
        method="POST",
        data=lambda m, c: {"receipt": "not a receipt"},
    ),
    route(
        "a file of the case",
        "cases.evidence_file",
        CASE_READERS,
        args={"case_id": "case", "file_id": "case file"},
    ),
    route(
        "a file of the community's register",
        "communities.resolution",
        (LOGIN, 200, 200, 404, 200, 200, 200, 200, 200),
        args={"slug": "slug", "file_id": "register file"},
    ),
    route("users page", "admin.users", ADMIN_ONLY_PAGE),
    route(
        # the one-time code is shown on the page that answers (never in a flash cookie)
        "add a user",
        "admin.users",
        ADMIN_ONLY_PAGE,
        method="POST",
        data=_new_user,
        writes=True,
    ),
    route(
        "enable a user",
        "admin.set_active",
        ADMIN_ONLY_CHANGE,
        method="POST",
        args={"user_id": "spare"},
        data=lambda m, c: {"active": "1"},
        writes=True,
    ),
    route(
        "change a role",
        "admin.set_role",
        ADMIN_ONLY_CHANGE,
        method="POST",
        args={"user_id": "spare"},
        data=_other_role,
        writes=True,
    ),
    route(
        "reset an account",
        "admin.reset",
        ADMIN_ONLY_PAGE,
        method="POST",
        args={"user_id": "spare"},
        writes=True,
    ),
    route("password page", "account.password", EVERYONE_SIGNED_IN),
    route(
        # a changed password ends the person's sessions and sends them to sign in again
        "password change",
        "account.password",
        (LOGIN,) * len(ROLES),
        method="POST",
        data=_same_password,
        writes=True,
    ),
    route("API tokens page", "account.tokens", EVERYONE_SIGNED_IN),
    route(
        "create an API token",
        "account.tokens",
        (LOGIN, *(201,) * (len(ROLES) - 1)),
        method="POST",
        data=_read_token,
        writes=True,
    ),
    route(
        # only the holder revokes a token; anyone else's try is as if it did not exist
        "revoke an API token",
        "account.revoke",
        (LOGIN, 302, 400, 400, 400, 400, 400, 400, 400),
        method="POST",
        args={"token_id": "fresh token"},
        writes=True,
    ),
    route("settings page", "account.settings", EVERYONE_SIGNED_IN),
    route(
        # one's own address, time zone and notifications: saved, and not on the trail
        "save one's settings",
        "account.settings",
        (LOGIN, *(302,) * (len(ROLES) - 1)),
        method="POST",
        data=_unchanged_settings,
    ),
    route("passkeys page", "passkeys.index", REPRESENTATIVES_PAGE),
    route(
        # no registration request waits in a session that never asked the browser for one
        "register a passkey",
        "passkeys.register",
        (LOGIN, 403, 400, 400, 403, 403, 403, 403, 403),
        method="POST",
        data=lambda m, c: {"name": "matrix", "credential": "{}"},
    ),
    route(
        # only the holder revokes a passkey; anyone else's try is as if it did not exist
        "revoke a passkey",
        "passkeys.revoke",
        (LOGIN, 403, 302, 400, 403, 403, 403, 403, 403),
        method="POST",
        args={"passkey_id": "fresh own passkey"},
        writes=True,
    ),
    route(
        "confirm a passkey",
        "passkeys.confirm",
        REGISTER_CHANGE,
        method="POST",
        args={"slug": "slug", "passkey_id": "fresh pending passkey"},
        writes=True,
    ),
    route(
        # the page that has a decision signed: it shows what would be recorded, writes nothing
        "signing page of a decision",
        "passkeys.sign",
        (LOGIN, 403, 200, 404, 403, 403, 403, 403, 403),
        method="POST",
        args={"case_id": "fresh case", "trigger": "give_consent"},
        data=_decision,
    ),
    # the JSON API answers a token, never a session cookie: every signed-in browser is 401
    route("API case list", "api.cases", API_WITHOUT_TOKEN),
    route("API case", "api.case", API_WITHOUT_TOKEN, args={"case_id": "case"}),
    route("API trail", "api.trail", API_WITHOUT_TOKEN, args={"case_id": "case"}),
    route("API communities", "api.communities", API_WITHOUT_TOKEN),
    route(
        "API action",
        "api.act",
        API_WITHOUT_TOKEN,
        method="POST",
        args={"case_id": "case", "trigger": "ask_question"},
        data=_question,
    ),
    route(
        "API challenge of an action",
        "api.challenge",
        API_WITHOUT_TOKEN,
        method="POST",
        args={"case_id": "case", "trigger": "give_consent"},
        data=_decision,
    ),
    route("API document", "api.openapi_json", EVERYONE),
    route("API reference", "api.docs", EVERYONE),
    route(
        "static file",
        "static",
        EVERYONE,
        args={"filename": "fpic.css"},
    ),
]
CELLS = [
    (r, role, expected) for r in ROUTES for role, expected in zip(ROLES, r.expected, strict=True)
]


def _first_file(m: Matrix, case_id: int | None) -> int:
    with m.world.db.read_session() as db:
        where = (
            EvidenceFile.case_id.is_(None) if case_id is None else EvidenceFile.case_id == case_id
        )
        return db.scalar(select(func.min(EvidenceFile.id)).where(where))


def _concrete(m: Matrix, r: Route) -> tuple[str, int]:
    """The URL of a route for the real case, community, user and mandate, and the case (or
    mandate) it acts on."""
    case_id = m.fresh_case() if ("case_id", "fresh case") in r.args else m.case_id
    mandate_id = m.fresh_mandate() if ("mandate_id", "fresh mandate") in r.args else 0
    token_id = m.fresh_token() if ("token_id", "fresh token") in r.args else 0
    own_key = m.fresh_passkey(0) if ("passkey_id", "fresh own passkey") in r.args else 0
    pending_key = m.fresh_passkey(1) if ("passkey_id", "fresh pending passkey") in r.args else 0
    named = {
        "fresh own passkey": own_key,
        "fresh pending passkey": pending_key,
        "fresh token": token_id,
        "case": case_id,
        "case chain": audit.case_chain(case_id),
        "fresh case": case_id,
        "slug": m.slug,
        "community": m.world.communities[m.slug].id,
        "site": "old-workings",
        "project": m.world.project_id,
        "spare": m.spare_user_id,
        "fresh mandate": mandate_id,
        "case file": _first_file(m, case_id),
        "register file": _first_file(m, None),
    }
    args = {k: named.get(v, v) if isinstance(v, str) else v for k, v in r.args}
    query = {k: named.get(v, v) for k, v in r.query}
    url = m.app.url_map.bind("localhost").build(r.endpoint, {**args, **query})
    return url, mandate_id or case_id


def _client(m: Matrix, role: str) -> FlaskClient:
    browser = Browser(m.app.test_client())
    if role == "anonymous":
        browser.get("/login")  # a session with a CSRF token, as a visitor would have
    else:
        response = browser.login(USERNAMES[role])
        assert response.status_code == 302, response.text[:300]
    return browser.client


def _status(response: Any) -> Any:
    if response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login":
        return LOGIN
    return response.status_code


@pytest.mark.parametrize(
    ("r", "role", "expected"),
    CELLS,
    ids=[f"{r.name}-{role}" for r, role, _ in CELLS],
)
def test_each_role_gets_exactly_the_expected_answer_from_each_route(
    matrix: Matrix, r: Route, role: str, expected: Any
):
    url, case_id = _concrete(matrix, r)
    client = _client(matrix, role)
    before = snapshot(matrix.world)
    if r.method == "GET":
        response = client.get(url)
    else:
        fields = {"csrf_token": csrf_token(client.get("/login").text)}
        if r.endpoint in ("cases.act", "passkeys.sign"):
            fields["version"] = str(matrix.world.case(case_id).version)
        fields.update(r.data(matrix, case_id) if r.data else {})
        response = client.post(url, data=fields)
    response.close()
    got = _status(response)
    assert got == expected, (r.method, url, role, response.status_code, response.text[:400])
    after = snapshot(matrix.world)
    if role == "anonymous" or (isinstance(expected, int) and expected >= 400):
        assert after == before, f"{role} was refused {r.method} {url} but something was written"
    elif r.writes:
        assert after["trail_done"] == before["trail_done"] + 1, "a permitted change is recorded"


def test_the_matrix_covers_every_route_and_method_of_the_app(matrix: Matrix):
    in_app = {
        (rule.endpoint, method)
        for rule in matrix.app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    in_table = {(r.endpoint, r.method) for r in ROUTES}
    assert in_app == in_table


def test_the_matrix_checks_every_role_on_every_route():
    assert len(CELLS) == len(ROUTES) * len(ROLES)
    assert {role for _, role, _ in CELLS} == set(ROLES)


def test_every_view_declares_the_permission_it_needs(matrix: Matrix):
    for rule in matrix.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = matrix.app.view_functions[rule.endpoint]
        permission = getattr(view, "fpic_permission", None)
        assert permission is not None, f"{rule.endpoint} declares no permission"
        assert permission == PUBLIC or permission in PERMISSIONS, (rule.endpoint, permission)


def test_only_sign_in_enrolment_sign_out_language_api_description_and_log_are_public(
    matrix: Matrix,
):
    public = {
        endpoint
        for endpoint, view in matrix.app.view_functions.items()
        if getattr(view, "fpic_permission", None) == PUBLIC
    }
    # and the API's description, which holds no one's data (the shipped templates' actions);
    # and what the log publishes so that nobody has to trust it: its checkpoint, public key
    # and consistency proofs (sizes and hashes, nobody's data), a witness's cosignature, and
    # the page that checks a receipt its holder brings
    assert public == {
        "auth.login",
        "auth.enrol",
        "auth.logout",
        "main.set_language",
        "api.openapi_json",
        "api.docs",
        "log.checkpoint",
        "log.key",
        "log.consistency",
        "log.cosignature",
        "log.receipt",
    }


# --- CSRF ----------------------------------------------------------------------------------


def _everything(world: World) -> dict[str, int]:
    """A snapshot that also counts refused attempts and sessions: a CSRF refusal writes its
    refused event and nothing else."""
    counts = snapshot(world)
    with world.db.read_session() as db:
        counts["trail_all"] = db.scalar(select(func.count()).select_from(TrailEvent)) or 0
        counts["sessions"] = db.scalar(select(func.count()).select_from(UserSession)) or 0
        counts["locales"] = db.scalar(select(func.count()).where(User.locale.is_not(None))) or 0
    return counts


CSRF_POSTS = {
    "sign-in": (None, "/login", lambda w, c: {"username": "liaison", "password": PASSWORD}),
    "case action": (
        "liaison",
        "/cases/{case}/actions/ask_question",
        lambda w, c: {"version": str(w.case(c).version), "text": "Why?", "language": "qu"},
    ),
    "language switch": ("liaison", "/language", lambda w, c: {"locale": "es", "next": "/"}),
    "sign-out": ("liaison", "/logout", lambda w, c: {}),
    "password change": (
        "liaison",
        "/account/password",
        lambda w, c: {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
        },
    ),
    "role change": ("admin", "/admin/users/{liaison}/role", lambda w, c: {"role": "auditor"}),
    "settings": (
        "liaison",
        "/account/settings",
        lambda w, c: {"email": "liaison@example.org", "time_zone": "America/Lima", "notify": "y"},
    ),
    "add a user": (
        "admin",
        "/admin/users",
        lambda w, c: {"username": "no-token", "role": "auditor", "representative_id": ""},
    ),
    "enable a user": ("admin", "/admin/users/{liaison}/active", lambda w, c: {"active": "0"}),
    "reset an account": ("admin", "/admin/users/{liaison}/reset", lambda w, c: {}),
    "enrolment": (
        None,
        "/enrol",
        lambda w, c: {
            "username": "liaison",
            "code": "AAAA-BBBB-CCCC-DDDD",
            "new_password": "a brand new passphrase",
            "new_password_again": "a brand new passphrase",
        },
    ),
    "record a mandate": (
        "facilitator",
        "/communities/ayllu-qollana/mandates",
        lambda w, c: {
            "representative_id": "",
            "name": "No token",
            "gender": "unspecified",
            "granted_by": "Community assembly",
            "resolved_on": w.clock.now().date().isoformat(),
            "evidence": "Resolution 1",
            "valid_from": w.clock.now().date().isoformat(),
            "valid_until": w.clock.now().date().isoformat(),
        },
    ),
    "confirm a mandate": (
        "facilitator",
        "/communities/ayllu-qollana/mandates/{mandate}/confirm",
        lambda w, c: {},
    ),
    "end a mandate": (
        "rep-ayllu-qollana-1",
        "/communities/ayllu-qollana/mandates/{mandate}/revoke",
        lambda w, c: {
            "resolution": "Resolution 2",
            "effective_on": w.clock.now().date().isoformat(),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(CSRF_POSTS))
def test_a_post_without_csrf_token_is_refused_recorded_and_writes_nothing_else(
    name, app, browser, signed_in, world, case_at_decision
):
    username, url, data = CSRF_POSTS[name]
    client = signed_in(username).client if username else browser.client
    before = _everything(world)
    with world.db.read_session() as db:
        mandate = db.scalar(select(Mandate.id).order_by(Mandate.id.desc()))
    target = url.format(case=case_at_decision, liaison=world.liaison.user_id, mandate=mandate)
    response = client.post(target, data=data(world, case_at_decision))
    assert response.status_code == 400
    assert "The form expired or was not sent from this site" in response.text
    assert _everything(world) == {**before, "trail_all": before["trail_all"] + 1}
    with world.db.read_session() as db:
        last = db.scalars(select(TrailEvent).order_by(TrailEvent.id.desc())).first()
    assert last is not None
    assert (last.outcome, last.actor) == ("refused", username or "-")
    assert '"error":"csrf_failed"' in last.data
    if username:  # the session was not ended either
        assert client.get("/").status_code == 200
