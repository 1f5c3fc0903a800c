"""Realistic cases for tests: a community with mandated representatives, users for every role,
a project, and helpers that walk a case along the general template."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from fpic.accounts import passwords
from fpic.accounts.registry import (
    add_community,
    add_project,
    add_user,
    bootstrap_admin,
    confirm_mandate,
    record_mandate,
)
from fpic.accounts.sessions import enrol
from fpic.demo import evidence as demo_evidence
from fpic.evidence.intake import ReceivedFile
from fpic.storage.db import Base, Database
from fpic.storage.models import CONSENTING_OUTCOMES, Case, Project
from fpic.workflow.actors import Actor
from fpic.workflow.clock import FrozenClock
from fpic.workflow.engine import ActionResult, Engine, user_actor
from fpic.workflow.process import shipped_templates

PASSWORD = "correct horse battery"
#: argon2id at a token cost: tests make many accounts and only one test looks at the real cost
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Community:
    id: int
    slug: str
    reps: list[int]  #: representative ids, all mandated
    rep_actors: list[Actor]  #: one signed-in account per representative
    #: the case the community's register was first recorded under (its facilitator's)
    registration_case: int = 0


@dataclass
class World:
    db: Database
    engine: Engine
    clock: FrozenClock
    admin: Actor
    liaison: Actor
    auditor: Actor
    facilitator: Actor
    mediator: Actor
    state_authority: Actor
    project_id: int
    communities: dict[str, Community] = field(default_factory=dict)
    _refs: int = 0

    def actor(self, username: str) -> Actor:
        with self.db.read_session() as session:
            return user_actor(session, username)

    def add_account(self, username: str, role: str, representative_id: int | None = None) -> Actor:
        """An account made the only way there is: the administrator issues a one-time code
        and the person chooses their own password with it."""
        issued = add_user(
            self.engine,
            self.admin,
            username=username,
            role=role,
            representative_id=representative_id,
        )
        enrol(self.engine, username, issued.code, PASSWORD)
        return self.actor(username)

    def register_representative(
        self,
        community: Community,
        name: str,
        start: date,
        end: date,
        *,
        gender: str = "woman",
        confirm: bool = True,
    ) -> int:
        """One more representative of ``community`` from the assembly's resolution, recorded
        by the facilitator of its registration case and, unless told not to, confirmed."""
        recorded = record_mandate(
            self.engine,
            self.facilitator,
            community.id,
            name=name,
            gender=gender,
            granted_by="Asamblea comunal",
            evidence="Acta de asamblea 3/2026, libro de actas p. 40",
            resolved_on=min(start, self.clock.now().date()),
            valid_from=start,
            valid_until=end,
        )
        if confirm:
            confirm_mandate(self.engine, self.facilitator, recorded.mandate_id)
        return recorded.representative_id

    def add_community(
        self, slug: str, languages: list[str], reps: int = 3, mandate_days: int = 3650
    ) -> Community:
        """A community proposed by the liaison and registered the community's way: the
        facilitator of its first case (proposed while nobody held its mandate) records each
        representative's mandate from the assembly's resolution and confirms it."""
        community_id = add_community(
            self.engine,
            self.liaison,
            {
                "slug": slug,
                "name": slug.replace("-", " ").title(),
                "region": "Test region",
                "country": "PE",
                "institution": "Community assembly",
                "content_languages": languages,
            },
        )
        registration = self.engine.open_case(
            self.liaison,
            project_id=self.project_id,
            community_id=community_id,
            template_id="fpic-general",
            reference=f"REG-{slug}"[:40],
        )
        self.act(
            registration.case_id,
            "assign_independent",
            self.liaison,
            {"role": "facilitator", "username": self.facilitator.username},
        )
        today = self.clock.now().date()
        rep_ids, actors = [], []
        for n in range(reps):
            recorded = record_mandate(
                self.engine,
                self.facilitator,
                community_id,
                name=f"Representative {n + 1} of {slug}",
                gender="woman" if n % 2 else "man",
                granted_by="Community assembly",
                evidence="Assembly resolution 7/2026, minute book p. 12",
                resolved_on=today - timedelta(days=31),
                valid_from=today - timedelta(days=30),
                valid_until=today + timedelta(days=mandate_days),
            )
            confirm_mandate(self.engine, self.facilitator, recorded.mandate_id)
            rep_ids.append(recorded.representative_id)
            actors.append(
                self.add_account(
                    f"rep-{slug}-{n + 1}", "representative", recorded.representative_id
                )
            )
        community = Community(community_id, slug, rep_ids, actors, registration.case_id)
        self.communities[slug] = community
        return community

    def walker(self, who: str, community: Community) -> Actor:
        """The person MAIN_PATHS names for a step: "rep" is the community's first
        representative, any other name a role of the world."""
        return community.rep_actors[0] if who == "rep" else getattr(self, who)

    def ensure_independent(self, case_id: int, community: Community, role: str) -> Actor:
        """The world's facilitator or mediator, assigned to the case by the community's
        representative if not yet."""
        person: Actor = getattr(self, role)
        if getattr(self.case(case_id), f"{role}_id") != person.user_id:
            self.act(
                case_id,
                "assign_independent",
                community.rep_actors[0],
                {"role": role, "username": person.username},
            )
        return person

    def review_flag(
        self, case_id: int, community: Community, flag_id: int, upheld: bool, resolution: str
    ) -> ActionResult:
        """An integrity flag reviewed by the case's facilitator (never the community's
        representative nor the liaison)."""
        facilitator = self.ensure_independent(case_id, community, "facilitator")
        return self.act(
            case_id,
            "review_integrity_flag",
            facilitator,
            {"flag_id": flag_id, "resolution": resolution, "upheld": upheld},
        )

    def open_case(
        self, community: Community, template: str = "fpic-general", project_id: int | None = None
    ) -> int:
        self._refs += 1
        # whoever the template says convenes the process: the State under Peru's law
        opened_by = shipped_templates()[template].opened_by
        result = self.engine.open_case(
            self.liaison if "liaison" in opened_by else self.state_authority,
            project_id=project_id or self.project_id,
            community_id=community.id,
            template_id=template,
            reference=f"T-{self._refs:04d}",
        )
        return result.case_id

    def case(self, case_id: int) -> Case:
        with self.db.read_session() as session:
            case = session.get(Case, case_id)
            assert case is not None
            return case

    def act(
        self, case_id: int, trigger: str, actor: Actor, data: dict[str, Any] | None = None
    ) -> ActionResult:
        """Fire with the current version, as a person who just loaded the page would, giving
        their password where the action asks it again (every test account has PASSWORD)."""
        return self.engine.advance(
            case_id, trigger, actor, data, self.case(case_id).version, confirmation=PASSWORD
        )


def make_world(url: str, start: date = date(2026, 3, 2)) -> World:
    """Everyone but the communities, and one project, on a new database at ``url``.

    On SQLite the database is a copy of one built the same way once per process (migrations
    and six accounts are most of a world's cost, and most tests need one)."""
    clock = FrozenClock(datetime(start.year, start.month, start.day, 9, 0, tzinfo=UTC))
    target = make_url(url)
    if target.get_backend_name() != "sqlite" or not target.database:
        return _build_world(url, clock)
    key = (start, passwords._hasher)
    if key not in _BUILT:
        _BUILT[key] = _built_once(clock)
    Path(target.database).write_bytes(_BUILT[key])
    return _world_on(Database(url), clock)


#: the bytes of a world's SQLite file, by start date and password hasher
_BUILT: dict[tuple[date, object], bytes] = {}


def _built_once(clock: FrozenClock) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "world.sqlite3")
        world = _build_world(f"sqlite:///{path}", clock)
        with world.db.engine.connect() as connection:
            # everything into the main file, so a copy of it alone is the whole database
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        world.db.dispose()
        return path.read_bytes()


def _build_world(url: str, clock: FrozenClock) -> World:
    from fpic.storage.migrate import upgrade

    db = Database(url)
    upgrade(db.engine)
    engine = Engine(db, clock)
    bootstrap_admin(engine, "admin", PASSWORD)
    with db.read_session() as session:
        admin = user_actor(session, "admin")
    for role in PEOPLE:
        issued = add_user(engine, admin, username=role.replace("_", "-"), role=role)
        enrol(engine, issued.username, issued.code, PASSWORD)
    add_project(
        engine,
        admin,
        {
            "name": "Cerro Verde copper exploration",
            "proponent": "Andes Copper S.A.",
            "phases": ["exploration", "construction", "operation"],
            "activities": ["drilling", "access_road", "camp", "open_pit"],
            "design_freeze_on": "2027-06-30",
        },
    )
    return _world_on(db, clock)


PEOPLE = ("liaison", "auditor", "facilitator", "mediator", "state_authority")


def _world_on(db: Database, clock: FrozenClock) -> World:
    with db.read_session() as session:
        names = ["admin", *(role.replace("_", "-") for role in PEOPLE)]
        people = [user_actor(session, name) for name in names]
        project_id = session.scalar(select(Project.id))
    assert project_id is not None
    admin, liaison, auditor, facilitator, mediator, state_authority = people
    return World(
        db, Engine(db, clock), clock, admin, liaison, auditor, facilitator, mediator,
        state_authority, project_id,
    )  # fmt: skip


# --- walking a case along the general template -----------------------------------------------

PROTOCOL = {
    "deciding_body": "Community assembly",
    "decision_rule": "simple_majority",
    "quorum_percent": 60,
    "min_deliberation_days": 30,
    "content_languages": ["qu", "es"],
    "formats": ["written", "oral"],
    "grievance_route": "Complaints to the assembly's grievance committee, in Quechua or Spanish.",
    "source": "Assembly resolution 12/2026 of 14 March 2026",
}


def protocol(**overrides: Any) -> dict[str, Any]:
    return {**PROTOCOL, **overrides}


def evidence_files() -> list[ReceivedFile]:
    """A disclosure's files as an upload brings them: a booklet (PDF) and a recording (WAV)."""
    return [
        demo_evidence.received("booklet.pdf", demo_evidence.pdf("Proyecto", ["Resumen."])),
        demo_evidence.received("presentacion.wav", demo_evidence.wav(0.1)),
    ]


def disclose_everything(
    world: World, case_id: int, files: list[ReceivedFile] | None = None
) -> None:
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.protocol is not None
        template_id = case.template_id
        languages, formats = case.protocol.content_languages, case.protocol.formats
    template = shipped_templates()[template_id]
    # the proponent discloses, or the State where it runs the process (Peru)
    roles = template.triggers["register_disclosure"].roles
    discloser = world.liaison if "liaison" in roles else world.state_authority
    for item in template.required_disclosure_items:
        for language in languages:  # every format at once; a translator for each language
            data = disclosure(world, item, [language], list(formats))
            if files:
                data["files"] = files
            world.act(case_id, "register_disclosure", discloser, data)


def disclosure(
    world: World, item: str, languages: list[str], formats: list[str], **overrides: Any
) -> dict[str, Any]:
    """One item disclosed today in these languages and formats, through an interpreter
    unless the language is Spanish."""
    return {
        "item": item,
        "languages": languages,
        "formats": formats,
        "title": f"{item} ({', '.join(languages)}; {', '.join(formats)})",
        "channel": "Assembly in the community hall",
        "disclosed_on": world.clock.now().date().isoformat(),
        "translator": None if languages == ["es"] else "Rosa Mamani Quispe",
        **overrides,
    }


def decision(world: World, community: Community, **overrides: Any) -> dict[str, Any]:
    present = community.reps
    return {
        "decided_on": world.clock.now().date().isoformat(),
        "place": "Community hall",
        "present": present,
        "votes_for": len(present),
        "votes_against": 0,
        "abstentions": 0,
        "scope_phases": ["exploration"],
        "scope_activities": ["drilling", "camp"],
        "text_language": "qu",
        "text_original": "Ayllu tantanakuypi sumaqta rimanakurqayku.",
        "translations": [
            {"language": "es", "text": "La asamblea acordó.", "translator": "Rosa Mamani"}
        ],
        **overrides,
    }


def walk_to(
    world: World,
    case_id: int,
    stage: str,
    community: Community,
    proto: dict[str, Any] | None = None,
    files: list[ReceivedFile] | None = None,
) -> None:
    """Drive a general-template case forward along the main path until it stands at ``stage``
    (under ``proto``, by default :func:`protocol`; ``files`` with every disclosure)."""
    rep = community.rep_actors[0]
    note = {"text": "Recorded in the field."}
    steps: list[tuple[str, Any, Any]] = [
        ("screen", None, None),
        ("screen_in", world.liaison, note),
        ("confirm_rights_holders", world.liaison, note),
        ("complete_mapping", rep, territory()),
        ("agree_protocol", rep, proto or protocol()),
        ("disclose", None, None),
        ("complete_disclosure", world.liaison, None),
        ("wait", None, None),
        ("open_negotiation", rep, note),
        ("convene_decision", rep, note),
        ("give_consent", rep, None),
        (
            "validate_agreement",
            rep,
            {
                "text": "Agreement validated by the assembly.",
                "signed_on": None,
                "signatories": ["Assembly president"],
            },
        ),
    ]
    for trigger, actor, data in steps:
        if world.case(case_id).stage == stage:
            return
        if trigger == "screen":
            screen(world, case_id)
        elif trigger == "disclose":
            disclose_everything(world, case_id, files)
        elif trigger == "wait":
            world.clock.advance(days=(proto or PROTOCOL)["min_deliberation_days"] + 1)
        elif trigger == "complete_disclosure":
            world.act(case_id, trigger, actor, {"text": "All items disclosed."})
        elif trigger == "give_consent":
            world.act(case_id, trigger, actor, decision(world, community))
        elif trigger == "validate_agreement":
            world.act(
                case_id, trigger, actor, {**data, "signed_on": world.clock.now().date().isoformat()}
            )
        else:
            world.act(case_id, trigger, actor, data)
    assert world.case(case_id).stage == stage, world.case(case_id).stage


# --- where the project is ------------------------------------------------------------------

#: the world's project: drill pads and a camp on a hillside above Cusco, about 4 by 4.5 km
PROJECT_AREA = """-71.98, -13.56
-71.94, -13.56
-71.94, -13.52
-71.98, -13.52"""
#: the community's territory as its assembly mapped it: around the project, with a hole (a
#: neighbour's enclave)
TERRITORY = """-72.02, -13.62
-71.88, -13.62
-71.88, -13.46
-72.02, -13.46

-71.91, -13.50
-71.89, -13.50
-71.89, -13.48
-71.91, -13.48"""


def project_area(**overrides: Any) -> dict[str, Any]:
    return {"coordinates": PROJECT_AREA, "text": "From the exploration permit's map.", **overrides}


def territory(**overrides: Any) -> dict[str, Any]:
    return {"text": "Maps signed off by the assembly.", "coordinates": TERRITORY, **overrides}


def screen(world: World, case_id: int) -> None:
    """Record the world's project area if nobody has, else screen the case against it."""
    if world.case(case_id).current_area_id is None:
        world.act(case_id, "record_project_area", world.liaison, project_area())
    else:
        world.act(case_id, "screen_project", world.liaison, {})


#: the main path of each shipped template: (trigger, who fires it); "@screen", "@disclose" and
#: "@wait" are helper steps (record or screen the project's area; register every disclosure;
#: let the deliberation period run out)
MAIN_PATHS: dict[str, list[tuple[str, str]]] = {
    "fpic-general": [
        ("@screen", ""),
        ("screen_in", "liaison"),
        ("confirm_rights_holders", "liaison"),
        ("complete_mapping", "rep"),
        ("agree_protocol", "rep"),
        ("@disclose", ""),
        ("complete_disclosure", "liaison"),
        ("@wait", ""),
        ("open_negotiation", "rep"),
        ("convene_decision", "rep"),
        ("give_consent", "rep"),
        ("validate_agreement", "rep"),
    ],
    "ncip-ao3-2012": [
        ("hold_pre_fbi_conference", "liaison"),
        ("require_fpic", "state_authority"),
        ("hold_pre_fpic_conference", "liaison"),
        ("agree_protocol", "rep"),
        ("@disclose", ""),
        ("complete_disclosure", "liaison"),
        ("@wait", ""),
        ("convene_decision_meeting", "rep"),
        ("give_consent", "rep"),
        ("draft_moa", "liaison"),
        ("sign_moa", "rep"),
        ("record_certification_precondition", "state_authority"),
    ],
    "pe-consulta-previa-2012": [
        ("identify_measure", "state_authority"),
        ("confirm_peoples", "state_authority"),
        ("agree_consultation_plan", "rep"),
        ("deliver_proposed_measure", "state_authority"),
        ("@disclose", ""),
        ("close_information", "state_authority"),
        ("@wait", ""),
        ("deliver_evaluation_result", "rep"),
        ("record_total_agreement", "rep"),
        ("sign_acta", "rep"),
        ("decide_with_agreement", "state_authority"),
    ],
    "ifc-ps7-2012": [
        ("@screen", ""),
        ("require_fpic", "liaison"),
        ("confirm_engagement_plan", "liaison"),
        ("agree_protocol", "rep"),
        ("record_external_experts", "liaison"),
        ("@disclose", ""),
        ("complete_disclosure", "liaison"),
        ("@wait", ""),
        ("open_negotiation", "rep"),
        ("convene_decision", "rep"),
        ("give_consent", "rep"),
        ("sign_agreement", "rep"),
        ("adopt_plan", "liaison"),
    ],
    "au-nta-right-to-negotiate": [
        ("@screen", ""),
        ("give_s29_notice", "state_authority"),
        ("agree_protocol", "rep"),
        ("@disclose", ""),
        ("complete_disclosure", "liaison"),
        ("@wait", ""),
        ("convene_decision", "rep"),
        ("give_consent", "rep"),
        ("sign_s31_agreement", "rep"),
    ],
    "legacy-restoration": [
        ("confirm_rights_holders", "liaison"),
        ("agree_protocol", "rep"),
        ("@disclose", ""),
        ("complete_disclosure", "liaison"),
        ("@wait", ""),
        ("convene_decision", "rep"),
        ("give_consent", "rep"),
        ("record_financial_assurance", "liaison"),
        ("start_works", "liaison"),
        ("complete_works", "liaison"),
    ],
}


NOTE = {"text": "Recorded by the FPIC team in the community hall."}


def step_data(
    world: World,
    community: Community,
    template_id: str,
    trigger: str,
    proto: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Realistic data for one step of a main path, by the kind of action it records."""
    today = world.clock.now().date().isoformat()
    effect = shipped_templates()[template_id].triggers[trigger].effect
    by_effect: dict[str, Any] = {
        "territory": territory,
        "project_area": project_area,
        "protocol": lambda: proto or PROTOCOL,
        "decision": lambda: decision(world, community, **_tally(community, template_id, trigger)),
        "financial_assurance": lambda: financial_assurance(world),
        "complete_disclosure": lambda: {"text": "All items disclosed."},
        "agreement": lambda: {
            "text": "Agreement validated by the assembly of Qollana.",
            "signed_on": today,
            "signatories": ["Assembly president", "Andes Copper S.A. country manager"],
        },
        "withdrawal": lambda: {
            "text": "The spring above the camp dried up.",
            "decided_on": today,
            "deciding_body": "Community assembly",
            "activities_affected": ["drilling"],
        },
        "notice": lambda: {"notified_on": today, "text": "Notice published and served."},
        "state_decision": lambda: state_decision(world),
        "bond": lambda: bond(world),
        "non_overlap": lambda: {
            "issued_on": today,
            "concurrence": "Commissioner for the region",
            "undertaking": True,
            "text": "The field-based investigation found no ancestral domain in the area.",
        },
    }
    return by_effect[effect]() if effect in by_effect else NOTE


def _tally(community: Community, template_id: str, trigger: str) -> dict[str, Any]:
    """Everyone for a consent, everyone against any other decision."""
    if shipped_templates()[template_id].triggers[trigger].outcome in CONSENTING_OUTCOMES:
        return {}
    return {"votes_for": 0, "votes_against": len(community.reps)}


def state_decision(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "decided_on": world.clock.now().date().isoformat(),
        "body": "Regional authority",
        "determination": "Issued as requested.",
        "reasons": "The record shows every step the rules require.",
        **overrides,
    }


def bond(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "cash",
        "amount": "PHP 2,000,000",
        "posted_on": world.clock.now().date().isoformat(),
        "text": "Cash bond with the NCIP regional office, as section 9 of the agreement sets.",
        **overrides,
    }


def advance_along(
    world: World,
    community: Community,
    case_id: int,
    stage: str,
    proto: dict[str, Any] | None = None,
    data: Callable[[str], dict[str, Any] | None] | None = None,
) -> int:
    """Drive a case along its template's main path (MAIN_PATHS) until it stands at ``stage``;
    ``data`` may give a step's data instead of :func:`step_data`."""
    template_id = world.case(case_id).template_id
    template = shipped_templates()[template_id]
    path = MAIN_PATHS[template_id]
    for index, (trigger, who) in enumerate(path):
        current = world.case(case_id).stage
        if current == stage:
            return case_id
        # from where the case stands: a step (or the helper steps before one) whose trigger
        # cannot be done at this stage was done before
        then = next(t for t, _ in path[index:] if not t.startswith("@"))
        if current not in template.triggers[then].sources:
            continue
        if trigger == "@screen":
            screen(world, case_id)
        elif trigger == "@disclose":
            disclose_everything(world, case_id)
        elif trigger == "@wait":
            # one day more than the minimum, so the walk never depends on the boundary
            world.clock.advance(days=(proto or PROTOCOL)["min_deliberation_days"] + 1)
        else:
            given = data(trigger) if data else None
            payload = given or step_data(world, community, template_id, trigger, proto)
            world.act(case_id, trigger, world.walker(who, community), payload)
    assert world.case(case_id).stage == stage, world.case(case_id).stage
    return case_id


def case_at(
    world: World,
    community: Community,
    template_id: str,
    stage: str,
    proto: dict[str, Any] | None = None,
) -> int:
    """A new case on ``template_id`` walked along its main path until it stands at ``stage``."""
    case_id = world.open_case(community, template=template_id)
    return advance_along(world, community, case_id, stage, proto)


def financial_assurance(world: World, **overrides: Any) -> dict[str, Any]:
    """A restoration's financial assurance, in force for ten years from today."""
    return {
        "provider": "Provincial Government, Legacy Sites Fund",
        "instrument": "trust_fund",
        "amount": 4_800_000,
        "currency": "PGK",
        "covers": "The restoration works and ten years of post-closure monitoring and care.",
        "valid_until": (world.clock.now() + timedelta(days=3650)).date().isoformat(),
        "estimate": "Independent closure cost estimate by a registered engineer.",
        **overrides,
    }


#: what a refused attempt writes: the trail (its events, chain heads and the Merkle log over
#: them, with the checkpoints any reader may issue) and the refusal counters; plus the schema's
#: version. Every other table is business: a refusal leaves it as it was.
TRAIL_TABLES = (
    "trail_events", "chain_heads", "merkle_nodes", "merkle_log", "checkpoints", "cosignatures",
    "refusal_windows", "alembic_version",
)  # fmt: skip


def business_rows(world: World) -> dict[str, int]:
    """Row counts of every table but TRAIL_TABLES."""
    with world.db.read_session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name not in TRAIL_TABLES
        }
