"""The role model (fpic/workflow/permissions.py) and how the engine enforces it: for every trigger
of
every shipped template, each role the trigger does not list is refused and nothing is written;
auditors change nothing; a representative never reaches another community's case; a disabled
account cannot act."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from fpic.accounts import passwords, registry
from fpic.accounts.registry import add_project
from fpic.accounts.sessions import actor_for_session, sign_in
from fpic.i18n import Reason
from fpic.read import queries
from fpic.storage.models import ROLES, Case, TrailEvent
from fpic.trail import audit
from fpic.trail.refusals import Limits
from fpic.workflow.actors import Actor
from fpic.workflow.engine import user_actor
from fpic.workflow.errors import InvalidData, NotFound, NotPermitted
from fpic.workflow.permissions import (
    PERMISSIONS,
    ROLE_TITLES,
    Standing,
    allows,
    can_read_case,
    role_refusal,
    trigger_refusals,
)
from fpic.workflow.process import Template, Trigger, shipped_templates
from tests.factories import (
    CHEAP_HASHER,
    PASSWORD,
    PROJECT_AREA,
    Community,
    World,
    business_rows,
    case_at,
    disclose_everything,
    make_world,
    project_area,
    step_data,
)
from tests.factories import protocol as general_protocol

GENERAL = "fpic-general"
NCIP = "ncip-ao3-2012"
RESTORATION = "legacy-restoration"
TEMPLATES: dict[str, Template] = shipped_templates()
NOTE = {"text": "Recorded by the FPIC team in the community hall."}
#: one language and one format keep the walks short; the roles do not depend on them
PROTOCOL = general_protocol(content_languages=["qu"], formats=["oral"])


#: loop stages: (main-path stage to start from, trigger the community fires to get there)
PERU, IFC, NTA = "pe-consulta-previa-2012", "ifc-ps7-2012", "au-nta-right-to-negotiate"
#: how to reach each loop stage: from which main-path stage (or "@far": a case on a project far
#: from the community's lands, its area screened), by which steps, fired by whom ("@months" lets
#: that many months pass)
LOOPS: dict[str, dict[str, tuple[str, tuple[tuple[str, str], ...]]]] = {
    GENERAL: {
        "suspended": ("screening", (("suspend_process", "rep"),)),
        "withheld": ("rights_holders", (("decline_to_engage", "rep"),)),
        "withdrawn": ("agreement", (("withdraw_consent", "rep"),)),
        "invalidated": ("disclosure", (("invalidate_process", "rep"),)),
        "not_required": ("@far", (("screen_out", "liaison"),)),
    },
    NCIP: {
        "suspended": ("field_investigation", (("suspend_process", "rep"),)),
        "non_consent": ("field_investigation", (("decline_to_engage", "rep"),)),
        "withdrawn": ("moa_negotiation", (("withdraw_consent", "rep"),)),
        "invalidated": ("second_assembly", (("invalidate_process", "rep"),)),
        "non_overlap": ("field_investigation", (("issue_non_overlap", "state_authority"),)),
    },
    RESTORATION: {
        "suspended": ("rights_holders", (("suspend_process", "rep"),)),
        "withheld": ("rights_holders", (("decline_to_engage", "rep"),)),
        "withdrawn": ("assurance", (("withdraw_consent", "rep"),)),
        "invalidated": ("disclosure", (("invalidate_process", "rep"),)),
    },
    PERU: {
        "no_consultation": ("identify_measure", (("find_no_direct_effect", "state_authority"),)),
        "suspended": ("preparatory", (("suspend_process", "rep"),)),
        "acta_no_agreement": ("dialogue", (("record_no_agreement", "rep"),)),
        "decision_no_agreement": (
            "dialogue", (("record_no_agreement", "rep"), ("sign_acta_no_agreement", "rep")),
        ),
        "decided_without_agreement": ("dialogue", (
            ("record_no_agreement", "rep"), ("sign_acta_no_agreement", "rep"),
            ("decide_without_agreement", "state_authority"),
        )),
        "withdrawn": ("implementation", (("withdraw_consent", "rep"),)),
        "invalidated": ("information", (("invalidate_process", "rep"),)),
    },
    IFC: {
        "icp_consultation": ("@far", (("route_icp_only", "liaison"),)),
        "icp_plan": ("@far", (
            ("route_icp_only", "liaison"), ("agree_consultation_process", "rep"),
            ("@disclose", ""), ("document_icp", "liaison"),
        )),
        "icp_implementation": ("@far", (
            ("route_icp_only", "liaison"), ("agree_consultation_process", "rep"),
            ("@disclose", ""), ("document_icp", "liaison"), ("adopt_icp_plan", "liaison"),
        )),
        "suspended": ("identification", (("suspend_process", "rep"),)),
        "withheld": ("engagement_plan", (("decline_to_engage", "rep"),)),
        "not_proceeding": ("engagement_plan", (
            ("decline_to_engage", "rep"), ("record_relocation_not_consented", "rep"),
        )),
        "withdrawn": ("plan", (("withdraw_consent", "rep"),)),
        "invalidated": ("disclosure", (("invalidate_process", "rep"),)),
    },
    NTA: {
        "ilua_covered": ("proposed_act", (("record_ilua_coverage", "state_authority"),)),
        "expedited_window": (
            "proposed_act", (("give_s29_notice_expedited", "state_authority"),),
        ),
        "expedited_inquiry": ("proposed_act", (
            ("give_s29_notice_expedited", "state_authority"),
            ("object_to_expedited_procedure", "rep"),
        )),
        "expedited_cleared": ("proposed_act", (
            ("give_s29_notice_expedited", "state_authority"), ("@months", "5"),
            ("record_no_objection", "state_authority"),
        )),
        "withheld": ("notified", (("decline_to_engage", "rep"),)),
        "arbitral_inquiry": (
            "notified", (("@months", "7"), ("apply_for_determination", "liaison")),
        ),
        "act_must_not_be_done": ("notified", (
            ("@months", "7"), ("apply_for_determination", "liaison"),
            ("determine_act_must_not_be_done", "state_authority"),
        )),
        "act_may_be_done": ("notified", (
            ("@months", "7"), ("apply_for_determination", "liaison"),
            ("determine_act_may_be_done", "state_authority"),
        )),
        "overruled": ("notified", (
            ("@months", "7"), ("apply_for_determination", "liaison"),
            ("determine_act_must_not_be_done", "state_authority"),
            ("overrule_determination", "state_authority"),
        )),
        "suspended": ("negotiation", (("suspend_process", "rep"),)),
        "withdrawn": ("agreement_in_force", (("withdraw_consent", "rep"),)),
        "invalidated": ("negotiation", (("invalidate_process", "rep"),)),
    },
}  # fmt: skip


def _stage_for(template: Template, trigger: Trigger) -> str:
    """The earliest stage the trigger can be fired from: the cheapest case to build."""
    order = list(template.stages)
    return min(trigger.sources, key=order.index)


def _matrix(listed: bool) -> list[Any]:
    return [
        pytest.param(tid, trigger.name, role, id=f"{tid}:{trigger.name}:{role}")
        for tid, template in sorted(TEMPLATES.items())
        for trigger in template.triggers.values()
        for role in ROLES
        if (role in trigger.roles) == listed
    ]


REFUSED = _matrix(listed=False)
LISTED = _matrix(listed=True)
EVERY_TRIGGER = [
    pytest.param(tid, trigger.name, id=f"{tid}:{trigger.name}")
    for tid, template in sorted(TEMPLATES.items())
    for trigger in template.triggers.values()
]
EVERY_SOURCE_STAGE = sorted(
    {
        (tid, _stage_for(t, trigger))
        for tid, t in TEMPLATES.items()
        for trigger in t.triggers.values()
    }
)


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


@dataclass
class Site:
    """One world shared by the module: refusals must not change a case, so cases are reused."""

    world: World
    home: Community
    neighbour: Community
    cases: dict[tuple[str, str], int] = field(default_factory=dict)

    def actor(self, role: str) -> Actor:
        return {
            "liaison": self.world.liaison,
            "representative": self.home.rep_actors[0],
            "auditor": self.world.auditor,
            "admin": self.world.admin,
            "facilitator": self.world.facilitator,
            "mediator": self.world.mediator,
            "state_authority": self.world.state_authority,
        }[role]

    def case_at(self, template: str, stage: str) -> int:
        if (template, stage) not in self.cases:
            self.cases[template, stage] = self._build(template, stage)
        assert self.world.case(self.cases[template, stage]).stage == stage
        return self.cases[template, stage]

    def _build(self, template: str, stage: str) -> int:
        world = self.world
        if stage not in LOOPS[template]:
            return self._walk(template, stage)
        start, steps = LOOPS[template][stage]
        case_id = self._far_case(template) if start == "@far" else self._walk(template, start)
        for trigger, who in steps:
            if trigger == "@months":
                world.clock.advance(days=31 * int(who))
            elif trigger == "@disclose":
                disclose_everything(world, case_id)
            else:
                if trigger == "invalidate_process":
                    self._upheld_flag(case_id)
                data = step_data(world, self.home, template, trigger, PROTOCOL)
                world.act(case_id, trigger, world.walker(who, self.home), data)
        return case_id

    def _far_case(self, template: str) -> int:
        """A case on a project far from the community's lands (its territory may be mapped by
        another case of this module's world), its area recorded and screened."""
        world = self.world
        far = add_project(world.engine, world.admin, {
            "name": f"Quebrada Honda quarry ({template})", "proponent": "Andes Copper S.A.",
            "phases": ["exploration"], "activities": ["drilling"],
        })  # fmt: skip
        case_id = world.open_case(self.home, template=template, project_id=far)
        moved = "\n".join(f"{float(x) + 2:.2f}, {y}" for x, y in (
            line.split(", ") for line in PROJECT_AREA.splitlines()
        ))  # fmt: skip
        world.act(case_id, "record_project_area", world.liaison, project_area(coordinates=moved))
        return case_id

    def _walk(self, template: str, stage: str) -> int:
        return case_at(self.world, self.home, template, stage, PROTOCOL)

    def _upheld_flag(self, case_id: int) -> None:
        world, rep = self.world, self.home.rep_actors[0]
        world.act(
            case_id,
            "raise_integrity_flag",
            rep,
            {"category": "bribery", "description": "Cash offered to the assembly secretary."},
        )
        with world.db.read_session() as session:
            case = session.get(Case, case_id)
            assert case is not None
            flag_id = case.integrity_flags[-1].id
        world.review_flag(case_id, self.home, flag_id, True, "Upheld after hearing both sides.")


@pytest.fixture(scope="module", autouse=True)
def _cheap_password_hashing_for_the_module() -> Iterator[None]:
    """The shared site below is built once per module, before the per-test fixture applies."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", CHEAP_HASHER)
        yield


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    world = make_world(f"sqlite:///{tmp_path_factory.mktemp('roles') / 'fpic.sqlite3'}")
    home = world.add_community("ayllu-qollana", ["qu", "es"])
    neighbour = world.add_community("jach-a-marka-machaqa", ["ay", "es"], reps=1)
    # one outsider tries every trigger of both templates in one frozen minute, and each
    # refusal must be its own event here: the flood limits are tested in tests/test_refusals.py
    world.engine.limits = Limits(account=100_000)
    yield Site(world, home, neighbour)
    world.db.dispose()


@dataclass(frozen=True)
class Snapshot:
    case: tuple[Any, ...]
    rows: dict[str, int]
    case_events: list[int]
    system_events: list[int]


def _snapshot(world: World, case_id: int) -> Snapshot:
    case = world.case(case_id)
    with world.db.read_session() as session:
        case_events = [e.id for e in queries.case_events(session, case_id)]
        system_events = list(
            session.scalars(
                select(TrailEvent.id)
                .where(TrailEvent.chain == audit.SYSTEM_CHAIN)
                .order_by(TrailEvent.seq)
            )
        )
    return Snapshot(
        (case.stage, case.version, case.updated_at, case.stage_entered_at),
        business_rows(world),
        case_events,
        system_events,
    )


def _event(world: World, event_id: int) -> tuple[TrailEvent, dict[str, Any]]:
    with world.db.read_session() as session:
        event = session.get(TrailEvent, event_id)
        assert event is not None
        return event, json.loads(event.data)


def _summary(reasons: tuple[Reason, ...] | list[Reason]) -> list[tuple[str, dict[str, Any]]]:
    return [(r.code, dict(r.params)) for r in reasons]


# --- the role model --------------------------------------------------------------------------


def test_role_titles_name_every_role_and_only_those():
    assert (
        set(ROLE_TITLES)
        == set(ROLES)
        == {
            "liaison",
            "representative",
            "auditor",
            "admin",
            "facilitator",
            "mediator",
            "state_authority",
        }
    )
    assert all(isinstance(t, str) and t.strip() for t in ROLE_TITLES.values())


#: the interface permissions as the domain expects them: auditors read, only staff of the
#: proponent open cases, only the community and the liaison act on a case
EVERYONE = set(ROLES)
EXPECTED_PERMISSIONS: dict[str, set[str]] = {
    "dashboard:read": EVERYONE,
    "case:read": EVERYONE,
    # each template says who opens a case on it (Peru: the State only)
    "case:open": {"liaison", "state_authority"},
    "case:act": {"liaison", "representative", "facilitator", "mediator", "state_authority"},
    "community:read": EVERYONE,
    # the register is the community's: never the proponent's staff or the administrator
    "community:register": {"representative", "facilitator"},
    # proposing a community confers no mandate; changing its entry is the register's
    "community:propose": {"liaison", "admin", "facilitator", "state_authority"},
    # the proponent's own description of what it plans
    "project:manage": {"liaison", "admin"},
    "trail:read": EVERYONE,
    "system_trail:read": {"auditor", "admin"},
    "users:manage": {"admin"},
    "own_password:change": EVERYONE,
    # everyone manages their own API tokens; what a token may do is its holder's (an
    # auditor's can never act: tests/accounts/test_tokens.py)
    "own_tokens:manage": EVERYONE,
    # one's own e-mail address, time zone and notifications
    "own_settings:change": EVERYONE,
    # the passkey that signs the community's decisions: a representative's own
    "own_passkeys:manage": {"representative"},
}


def test_permissions_table_has_exactly_the_expected_permissions():
    assert set(PERMISSIONS) == set(EXPECTED_PERMISSIONS)


@pytest.mark.parametrize(
    ("permission", "role"),
    [pytest.param(p, r, id=f"{p}:{r}") for p in sorted(EXPECTED_PERMISSIONS) for r in ROLES],
)
def test_allows(permission, role):
    actor = Actor(user_id=7, username=f"{role}-mamani", role=role)
    assert allows(actor, permission) is (role in EXPECTED_PERMISSIONS[permission])


def test_an_unknown_permission_is_an_error_not_a_silent_no():
    with pytest.raises(KeyError):
        allows(Actor(user_id=1, username="admin", role="admin"), "case:delete")


def test_auditor_permissions_are_all_reading():
    # an auditor's own password and API tokens are theirs to manage: they change no record
    # of any process, and an auditor's token only reads
    granted = {p for p, roles in PERMISSIONS.items() if "auditor" in roles} - {
        "own_password:change",
        "own_tokens:manage",
        "own_settings:change",
    }
    assert granted == {
        "dashboard:read",
        "case:read",
        "community:read",
        "trail:read",
        "system_trail:read",
    }
    assert all(p.endswith(":read") for p in granted)


def test_case_act_matches_the_roles_the_templates_let_act():
    acting = {
        role for t in TEMPLATES.values() for trig in t.triggers.values() for role in trig.roles
    }
    assert acting == set(PERMISSIONS["case:act"])


def test_role_refusal_names_the_role_and_the_action():
    auditor = Actor(user_id=3, username="auditor", role="auditor")
    assert role_refusal(auditor, ("auditor", "admin"), "read_system_trail") == []
    refusal = role_refusal(auditor, ("liaison",), "open_case")
    assert _summary(refusal) == [("role_not_allowed", {"role": "auditor", "action": "open_case"})]
    assert refusal[0].message == "Your role (%(role)s) may not do this."
    assert refusal[0].render() == "Your role (auditor) may not do this."


def test_trigger_refusals_use_the_triggers_roles():
    give = TEMPLATES[GENERAL].triggers["give_consent"]
    rep = Actor(user_id=9, username="rep", role="representative", representative_id=1)
    liaison = Actor(user_id=2, username="liaison", role="liaison")
    mandated = Standing(own_community=True, mandated=True)
    assert trigger_refusals(rep, give, mandated) == []
    assert _summary(trigger_refusals(rep, give, Standing(own_community=True))) == [
        ("no_valid_mandate", {})
    ]
    assert _summary(trigger_refusals(liaison, give, Standing())) == [
        ("role_not_allowed", {"role": "liaison", "action": "give_consent"})
    ]


def test_an_unknown_role_gets_nothing(site):
    stranger = Actor(user_id=99, username="visitor", role="visitor")
    assert not any(allows(stranger, p) for p in PERMISSIONS)
    assert _summary(role_refusal(stranger, tuple(ROLES), "open_case")) == [
        ("role_not_allowed", {"role": "visitor", "action": "open_case"})
    ]
    case_id = site.case_at(GENERAL, "screening")
    with site.world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert not can_read_case(stranger, case)


# --- the engine: every role a trigger does not list is refused, and nothing is written --------


@pytest.mark.parametrize(("template_id", "trigger_name", "role"), REFUSED)
def test_role_not_listed_is_refused_and_nothing_is_written(site, template_id, trigger_name, role):
    world = site.world
    stage = _stage_for(TEMPLATES[template_id], TEMPLATES[template_id].triggers[trigger_name])
    case_id = site.case_at(template_id, stage)
    actor = site.actor(role)
    before = _snapshot(world, case_id)
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, trigger_name, actor, NOTE)
    assert _summary(caught.value.reasons) == [
        ("role_not_allowed", {"role": role, "action": trigger_name})
    ]
    after = _snapshot(world, case_id)
    assert after.case == before.case
    assert after.rows == before.rows
    assert after.system_events == before.system_events
    assert after.case_events[:-1] == before.case_events
    event, data = _event(world, after.case_events[-1])
    assert (event.action, event.outcome, event.actor, event.actor_role) == (
        trigger_name,
        "refused",
        actor.username,
        role,
    )
    assert (data["error"], data["version_seen"]) == ("not_permitted", before.case[1])


@pytest.mark.parametrize(("template_id", "trigger_name", "role"), LISTED)
def test_role_listed_is_offered_the_trigger(site, template_id, trigger_name, role):
    """The control for the matrix above: the same case and trigger, not refused by role."""
    stage = _stage_for(TEMPLATES[template_id], TEMPLATES[template_id].triggers[trigger_name])
    case_id = site.case_at(template_id, stage)
    with site.world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        options = {
            o.trigger.name: o for o in site.world.engine.options(session, case, site.actor(role))
        }
    assert trigger_name in options
    assert not options[trigger_name].role_refused


# --- auditors change nothing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("template_id", "stage"), [pytest.param(t, s, id=f"{t}:{s}") for t, s in EVERY_SOURCE_STAGE]
)
def test_auditor_is_offered_nothing_at_any_stage(site, template_id, stage):
    case_id = site.case_at(template_id, stage)
    with site.world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        options = site.world.engine.options(session, case, site.world.auditor)
    assert options
    assert all(o.role_refused and not o.allowed for o in options)


def _registry_attempts(site: Site) -> dict[str, Any]:
    world = site.world
    return {
        "open_case": lambda a: world.engine.open_case(
            a,
            project_id=world.project_id,
            community_id=site.home.id,
            template_id=GENERAL,
            reference="AUD-2026-01",
        ),
        "add_community": lambda a: registry.add_community(
            world.engine,
            a,
            {
                "slug": "ayllu-kallapa",
                "name": "Ayllu Kallapa",
                "region": "La Paz",
                "country": "BO",
                "institution": "Jach'a Tantachawi",
                "content_languages": ["ay", "es"],
            },
        ),
        "record_mandate": lambda a: registry.record_mandate(
            world.engine,
            a,
            site.home.id,
            name="Sabina Ccama Huanca",
            granted_by="Community assembly",
            evidence="Assembly resolution 9/2026",
            resolved_on=date(2026, 2, 28),
            valid_from=date(2026, 3, 1),
            valid_until=date(2028, 2, 29),
        ),
        "add_project": lambda a: registry.add_project(
            world.engine,
            a,
            {"name": "Qollana access road", "proponent": "Andes Copper S.A."},
        ),
        "add_user": lambda a: registry.add_user(
            world.engine, a, username="auditor-two", role="auditor"
        ),
        "disable_user": lambda a: registry.set_user_active(
            world.engine, a, world.liaison.user_id, False
        ),
    }


@pytest.mark.parametrize(
    "action",
    [
        "open_case",
        "add_community",
        "record_mandate",
        "add_project",
        "add_user",
        "disable_user",
    ],
)
def test_auditor_cannot_open_cases_or_change_the_registry(site, action):
    world = site.world
    rows = business_rows(world)
    with pytest.raises(NotPermitted) as caught:
        _registry_attempts(site)[action](world.auditor)
    assert [(code, params["role"]) for code, params in _summary(caught.value.reasons)] == [
        ("role_not_allowed", "auditor")
    ]
    assert business_rows(world) == rows
    assert world.actor("liaison").user_id == world.liaison.user_id


# --- a representative never reaches another community's case --------------------------------


@pytest.mark.parametrize(("template_id", "trigger_name"), EVERY_TRIGGER)
def test_representative_of_another_community_cannot_act_on_the_case(
    site, template_id, trigger_name
):
    """The engine answers as if the case did not exist (it never confirms another's case)."""
    world = site.world
    stage = _stage_for(TEMPLATES[template_id], TEMPLATES[template_id].triggers[trigger_name])
    case_id = site.case_at(template_id, stage)
    outsider = site.neighbour.rep_actors[0]
    before = _snapshot(world, case_id)
    with pytest.raises(NotFound) as caught:
        world.act(case_id, trigger_name, outsider, NOTE)
    assert _summary(caught.value.reasons) == [("case_not_found", {"case": str(case_id)})]
    after = _snapshot(world, case_id)
    assert (after.case, after.rows, after.case_events) == (
        before.case,
        before.rows,
        before.case_events,
    )
    assert after.system_events[:-1] == before.system_events
    event, data = _event(world, after.system_events[-1])
    assert (event.action, event.outcome, event.actor, event.case_id) == (
        trigger_name,
        "refused",
        outsider.username,
        None,
    )
    assert (data["error"], data["case_id"]) == ("not_found", case_id)


def test_representative_of_another_community_cannot_even_read_the_case(site):
    world = site.world
    case_id = site.case_at(NCIP, "decision_meeting")
    outsider = site.neighbour.rep_actors[0]
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert not can_read_case(outsider, case)
        assert can_read_case(site.home.rep_actors[0], case)
        with pytest.raises(NotFound):
            world.engine.case_for(session, case_id, outsider)
        visible = queries.list_cases(session, outsider, world.clock.now()).items
    assert case_id not in {c.id for c in visible}


# --- a disabled account cannot act -----------------------------------------------------------


@pytest.mark.parametrize("role", ["liaison", "representative"])
def test_disabled_account_is_refused_everywhere_an_actor_comes_from(world, community, role):
    username = "liaison" if role == "liaison" else community.rep_actors[0].username
    signed_in = sign_in(world.engine, username, PASSWORD)
    assert actor_for_session(world.engine, signed_in.token) is not None
    registry.set_user_active(world.engine, world.admin, signed_in.actor.user_id, False)
    with world.db.read_session() as session, pytest.raises(NotFound) as caught:
        user_actor(session, username)
    assert _summary(caught.value.reasons) == [("user_not_found", {"user": username})]
    assert actor_for_session(world.engine, signed_in.token) is None
    with pytest.raises(NotPermitted) as refused:
        sign_in(world.engine, username, PASSWORD)
    assert _summary(refused.value.reasons) == [("sign_in_failed", {})]
    registry.set_user_active(world.engine, world.admin, signed_in.actor.user_id, True)
    assert world.actor(username) == signed_in.actor
    assert actor_for_session(world.engine, signed_in.token) is None  # re-enabling: sign in anew


@pytest.mark.parametrize("role", ["liaison", "representative", "auditor"])
def test_only_an_administrator_disables_accounts(world, community, role):
    actor = {
        "liaison": world.liaison,
        "representative": community.rep_actors[0],
        "auditor": world.auditor,
    }[role]
    target = community.rep_actors[1]
    with pytest.raises(NotPermitted) as caught:
        registry.set_user_active(world.engine, actor, target.user_id, False)
    assert _summary(caught.value.reasons) == [
        ("role_not_allowed", {"role": role, "action": "disable_user"})
    ]
    assert world.actor(target.username) == target


def test_an_administrator_cannot_disable_their_own_account(world):
    with pytest.raises(InvalidData) as caught:
        registry.set_user_active(world.engine, world.admin, world.admin.user_id, False)
    assert caught.value.field == "user_id"
    assert world.actor("admin") == world.admin
