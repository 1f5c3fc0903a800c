"""The separation-of-duties matrix (docs/roles.md): the file is what fpic.read.roles computes from
the permission functions, and every one of its cells is what the engine really answers when
a real account of that column tries the action."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fpic.accounts.passkeys import confirm_passkey, register_passkey, revoke_passkey
from fpic.accounts.registry import (
    add_community,
    add_legacy_site,
    add_project,
    add_user,
    confirm_mandate,
    edit_community,
    edit_project,
    import_areas,
    record_mandate,
    reset_account,
    revoke_mandate,
    set_user_active,
    set_user_role,
)
from fpic.accounts.sessions import change_password
from fpic.accounts.tokens import create_token, revoke_token
from fpic.read import roles
from fpic.storage.models import ROLES
from fpic.workflow.actors import Actor
from fpic.workflow.errors import FpicError, NotFound, NotPermitted
from fpic.workflow.process import shipped_templates
from tests.factories import World
from tests.passkey_authenticator import enrol_passkey

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


def test_docs_roles_md_is_generated_from_the_permissions():
    assert DOC.read_text(encoding="utf-8") == roles.markdown(), (
        "docs/roles.md is stale: python -m fpic.read.roles > docs/roles.md"
    )


def test_the_matrix_covers_every_role_trigger_and_system_action():
    assert {p.role for p in roles.PROFILES} == set(ROLES)
    cells = sum(len(t.triggers) for t in shipped_templates().values()) * len(roles.PROFILES)
    cells += len(roles.SYSTEM_ACTION_ROLES) * len(roles.PROFILES)
    assert f"{cells} cells." in roles.markdown()


def _answer(attempt: Callable[[], Any]) -> str:
    """What the engine answered, in the matrix's terms: past the who-may checks is `yes`
    (the stage, the data or an FPIC rule may still refuse)."""
    try:
        attempt()
    except NotFound:
        return roles.NOT_FOUND
    except NotPermitted as refusal:
        code = refusal.reasons[0].code
        return roles.NEVER if code == "role_not_allowed" else code
    except FpicError:
        return roles.ALLOWED
    return roles.ALLOWED


class Cast:
    """One real account per column of the matrix, and a case of the community OWN whose
    facilitator and mediator are the columns' assigned ones."""

    def __init__(self, world: World, folder: Path) -> None:
        self.world = world
        today = world.clock.now().date()
        #: a one-park dataset, imported under a new version by each attempt that may
        self.dataset = folder / "parks.geojson"
        park = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
        self.dataset.write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"WDPAID": 1, "NAME": "Park"}, "geometry": park},
        ]}))  # fmt: skip
        own = world.add_community("ayllu-qollana", ["qu", "es"], reps=1)
        lapsed = world.register_representative(
            own, "Lapsed", today - timedelta(days=400), today - timedelta(days=1)
        )
        other = world.add_community("uma-jaqi", ["ay"], reps=1)
        other_lapsed = world.register_representative(
            other, "Other lapsed", today - timedelta(days=400), today - timedelta(days=1)
        )
        self.own = own
        self.actors: dict[str, Actor] = {
            "liaison": world.liaison,
            "auditor": world.auditor,
            "admin": world.admin,
            "state_authority": world.state_authority,
            "rep_own_mandated": own.rep_actors[0],
            "rep_own_unmandated": world.add_account("rep-lapsed", "representative", lapsed),
            "rep_other_mandated": other.rep_actors[0],
            "rep_other_unmandated": world.add_account(
                "rep-other-lapsed", "representative", other_lapsed
            ),
            "facilitator_assigned": world.facilitator,
            "facilitator_other": world.add_account("facilitator-2", "facilitator"),
            "mediator_assigned": world.mediator,
            "mediator_other": world.add_account("mediator-2", "mediator"),
        }
        self.target = world.add_account("target", "liaison")
        # a representative of OWN in no column, whose new passkeys the columns try to confirm
        keyholder = world.register_representative(
            own, "Keyholder", today - timedelta(days=30), today + timedelta(days=365)
        )
        self.keyholder = world.add_account("rep-keyholder", "representative", keyholder)
        self.names = itertools.count(1)

    def case(self, template: str) -> int:
        case_id = self.world.open_case(self.own, template=template)
        for role in ("facilitator", "mediator"):
            self.world.act(
                case_id,
                "assign_independent",
                self.own.rep_actors[0],
                {"role": role, "username": getattr(self.world, role).username},
            )
        return case_id

    def pending_mandate(self) -> int:
        world = self.world
        today = world.clock.now().date()
        return record_mandate(
            world.engine,
            world.facilitator,
            self.own.id,
            name=f"Newcomer {next(self.names)}",
            granted_by="Asamblea comunal",
            evidence="Acta 12/2026",
            resolved_on=today,
            valid_from=today,
            valid_until=today + timedelta(days=365),
        ).mandate_id

    def confirmed_mandate(self) -> int:
        mandate_id = self.pending_mandate()
        confirm_mandate(self.world.engine, self.world.facilitator, mandate_id)
        return mandate_id

    def system_attempt(self, action: str, actor: Actor) -> Callable[[], Any]:
        w, n = self.world, next(self.names)
        today = w.clock.now().date()
        attempts: dict[str, Callable[[], Any]] = {
            "add_community": lambda: add_community(w.engine, actor, {
                "slug": f"proposed-{n}", "name": "Proposed", "region": "R", "country": "PE",
                "institution": "Assembly", "content_languages": ["qu"]}),
            "add_project": lambda: add_project(w.engine, actor, {"name": "P", "proponent": "Q"}),
            "edit_community": lambda: edit_community(
                w.engine, actor, self.own.id, {"institution": f"Assembly {n}"}),
            "edit_project": lambda: edit_project(
                w.engine, actor, w.project_id, {"description": f"Described {n}"}),
            "add_legacy_site": lambda: add_legacy_site(w.engine, actor, {
                "slug": f"site-{n}", "name": "Old workings", "country": "PE",
                "former_operator": "Minera Antigua", "current_state": "Abandoned.",
                "location": "-71.9, -13.5"}),
            "import_areas": lambda: import_areas(
                w.engine, actor, self.dataset, kind="protected_area", source="Test",
                version=f"v{n}"),
            "record_mandate": lambda: record_mandate(
                w.engine, actor, self.own.id, name=f"Person {n}", granted_by="Asamblea",
                evidence="Acta", resolved_on=today, valid_from=today,
                valid_until=today + timedelta(days=30)),
            "confirm_mandate": lambda: confirm_mandate(w.engine, actor, self.pending_mandate()),
            "revoke_mandate": lambda: revoke_mandate(
                w.engine, actor, self.confirmed_mandate(), resolution="Acta 13/2026",
                effective_on=today),
            # on a template whose regime lets this role convene it, if any
            "open_case": lambda: w.engine.open_case(
                actor, project_id=w.project_id, community_id=self.own.id,
                template_id=next((t.id for t in shipped_templates().values()
                                  if actor.role in t.opened_by), "fpic-general"),
                reference=f"M-{n}"),
            "add_user": lambda: add_user(w.engine, actor, username=f"new-{n}", role="auditor"),
            "reset_account": lambda: reset_account(w.engine, actor, self.target.user_id),
            "enable_user": lambda: set_user_active(w.engine, actor, self.target.user_id, True),
            "disable_user": lambda: set_user_active(w.engine, actor, self.target.user_id, False),
            "change_role": lambda: set_user_role(
                w.engine, actor, self.target.user_id, "auditor" if n % 2 else "liaison"),
            "change_password": lambda: change_password(
                w.engine, actor, "not the current one", "Another-pass-2026"),
            "create_api_token": lambda: create_token(
                w.engine, actor, name=f"token {n}", scope="read", days=30),
            "revoke_api_token": lambda: revoke_token(w.engine, actor, 2**31 - 2),
            "register_passkey": lambda: register_passkey(
                w.engine, actor, name=f"key {n}", credential="{}", request=None,
                rp_id="localhost", origin="http://localhost"),
            "confirm_passkey": lambda: confirm_passkey(
                w.engine, actor, enrol_passkey(w.engine, self.keyholder)[0]),
            "revoke_passkey": lambda: revoke_passkey(w.engine, actor, 2**31 - 2),
        }  # fmt: skip
        return attempts[action]


@pytest.fixture
def cast(world: World, tmp_path: Path) -> Cast:
    return Cast(world, tmp_path)


@pytest.mark.parametrize("template", sorted(shipped_templates()))
def test_every_trigger_cell_is_what_the_engine_answers(cast: Cast, template: str):
    world = cast.world
    case_id = cast.case(template)
    wrong = []
    for trigger in sorted(shipped_templates()[template].triggers):
        for profile in roles.PROFILES:
            actor = cast.actors[profile.key]
            expected = roles.trigger_cell(shipped_templates()[template].triggers[trigger], profile)
            got = _answer(lambda a=actor, t=trigger: world.act(case_id, t, a, None))
            if got != expected:
                wrong.append((trigger, profile.key, expected, got))
    assert wrong == []


def test_every_system_action_cell_is_what_the_engine_answers(cast: Cast):
    cast.case("fpic-general")  # the assigned facilitator's case of the community
    wrong = []
    for action in sorted(roles.SYSTEM_ACTION_ROLES):
        for profile in roles.PROFILES:
            actor = cast.actors[profile.key]
            expected = roles.system_cell(action, profile)
            got = _answer(cast.system_attempt(action, actor))
            if got != expected:
                wrong.append((action, profile.key, expected, got))
    assert wrong == []
