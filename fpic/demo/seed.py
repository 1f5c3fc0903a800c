"""Demo data: communities in four regions with their own languages, a case standing in every
stage of each shipped template, and users for every role. Seeded once; running again is a no-op.

Cases are walked through the real engine on a clock that starts in the past, so every record
and every trail event is exactly what a real process would have produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from fpic.accounts.passwords import one_shared_password
from fpic.accounts.registry import (
    add_community,
    add_legacy_site,
    add_project,
    add_user,
    bootstrap_admin,
    confirm_mandate,
    import_areas,
    record_mandate,
)
from fpic.accounts.sessions import enrol
from fpic.demo.evidence import DemoFiles
from fpic.demo.places import (
    DEMO_SOURCE,
    DEMO_VERSION,
    LEGACY_SITE,
    PROJECT_AREAS,
    TERRITORIES,
    dataset_files,
)
from fpic.i18n import N_
from fpic.storage.db import Database
from fpic.storage.models import Case, Community, Project, TrailEvent, User
from fpic.trail import audit
from fpic.workflow.actors import Actor
from fpic.workflow.clock import FrozenClock
from fpic.workflow.engine import Engine, user_actor
from fpic.workflow.permissions import opens_cases_on
from fpic.workflow.places import strict_overlaps
from fpic.workflow.process import Template, shipped_templates

DEMO_PASSWORD = "fpic-demo"
DISCLOSE = "@disclose"  #: register every required item in every language and format
WAIT = "@wait"  #: let the community's deliberation period pass
FLAG_UPHELD = "@flag_upheld"  #: raise an integrity flag and have the community uphold it
MONTHS = "@months:"  #: so many months pass ("@months:7")
_STAGE_AND_VERSION = select(Case.stage, Case.version).where(Case.id == bindparam("case_id"))

Progress = Callable[[list[Any], str], Iterable[Any]]


@dataclass(frozen=True)
class DemoCommunity:
    slug: str
    name: str
    region: str
    country: str
    institution: str
    languages: tuple[str, ...]
    formats: tuple[str, ...]
    rule: str
    majority: int | None
    representatives: tuple[tuple[str, str], ...]
    project: str
    #: an assembly votes: (households entitled to vote, where that number comes from)
    assembly: tuple[int, str] | None = None
    quorum: int = 60
    #: the tally of the assembly's vote in favour: (present, for, against, abstaining)
    tally: tuple[int, int, int, int] | None = None


COMMUNITIES = (
    DemoCommunity(
        "ayllu-qollana",
        "Ayllu Qollana",
        "Cusco, Peru",
        "PE",
        "Asamblea comunal del Ayllu Qollana",
        ("qu", "es"),
        ("written", "oral"),
        "consensus",
        None,
        (
            ("Juana Quispe Huamán", "woman"),
            ("Mario Ccori Mamani", "man"),
            ("Lucía Condori Apaza", "woman"),
        ),
        "copper",
    ),
    DemoCommunity(
        "uma-jaqi",
        "Comunidad Uma Jaqi",
        "Altiplano, La Paz, Bolivia",
        "BO",
        "Consejo de mallkus y mama t'allas",
        ("ay", "es"),
        ("written", "oral"),
        "simple_majority",
        None,
        (
            ("Felipa Choque Limachi", "woman"),
            ("Román Layme Ticona", "man"),
            ("Sabina Mamani Alanoca", "woman"),
            ("Ernesto Poma Quispe", "man"),
        ),
        "lithium",
        # the households decide in their general assembly (jach'a tantachawi), one vote each
        assembly=(
            180,
            "Padrón comunal de familias (census of households), 2025, kept by the secretary of "
            "the Consejo de mallkus y mama t'allas; the protocol's clause 4",
        ),
        quorum=50,
        tally=(96, 61, 22, 13),
    ),
    DemoCommunity(
        "qurluqtuq",
        "Qurluqtuq (Kugluktuk) Inuit",
        "Kitikmeot, Nunavut, Canada",
        "CA",
        "Hunters and Trappers Organization and community assembly",
        ("iu", "en"),
        ("written", "oral", "audio"),
        "qualified_majority",
        67,
        (
            ("ᐊᓂᑕ ᑲᑉᐸᓐ Anita Kapakatoak", "woman"),
            ("Joseph Niptanatiak", "man"),
            ("Martha Angohiatok", "woman"),
        ),
        "road",
    ),
    DemoCommunity(
        "vunamami",
        "Vunamami clans",
        "East New Britain, Papua New Guinea",
        "PG",
        "Council of clan leaders (luluai)",
        ("tpi", "en"),
        ("oral", "visual"),
        "consensus",
        None,
        (("Grace ToVurvur", "woman"), ("Peter IaKarai", "man")),
        "gold",
    ),
    DemoCommunity(
        "tuwali-hungduan",
        "Tuwali Ifugao of Hungduan",
        "Ifugao, Cordillera Administrative Region, Philippines",
        "PH",
        "Council of Elders (amammaduwa)",
        ("ifk", "fil"),
        ("written", "oral"),
        "consensus",
        None,
        (("Rosalina Bumidang", "woman"), ("Manuel Dulnuan", "man"), ("Teresita Gumangan", "woman")),
        "hydro",
    ),
    # fabricated demo data: no such claim group, corporation or mining lease exists
    DemoCommunity(
        "warlu-pilanyi",
        "Warlu Pilanyi native title claim group (demo)",
        "Pilbara, Western Australia",
        "AU",
        "Warlu Pilanyi Aboriginal Corporation (demo)",
        ("en", "rop"),
        ("oral", "written"),
        "consensus",
        None,
        (("Nancy Wirrilangu (demo)", "woman"), ("Clifford Jabaljarri (demo)", "man")),
        "iron",
    ),
)

PROJECTS = {
    "copper": {
        "name": "Cerro Qollana copper exploration",
        "proponent": "Andes Copper S.A.",
        "description": "Exploration drilling and a possible open-pit copper mine.",
        "phases": ["exploration", "construction", "operation", "closure"],
        "activities": [
            "drilling",
            "access_road",
            "exploration_camp",
            "open_pit",
            "tailings_facility",
        ],
        "design_freeze_on": "2028-03-31",
        "sector": "mining",
    },
    # fabricated demo data: its area reaches a demo World Heritage property and a demo
    # category II national park, which is what the screening's rules are shown on
    "copper-extension": {
        "name": "Cerro Qollana northern extension (demo)",
        "proponent": "Andes Copper S.A.",
        "description": "DEMO DATA, fabricated: an open pit north of the exploration area, "
        "reaching into a national park and a World Heritage property.",
        "phases": ["exploration", "operation"],
        "activities": ["drilling", "open_pit"],
        "sector": "mining",
    },
    "survey": {
        "name": "Qollana south airborne survey (demo)",
        "proponent": "Andes Copper S.A.",
        "description": "DEMO DATA, fabricated: a survey licence on the high puna far from "
        "any community's territory.",
        "phases": ["exploration"],
        "activities": ["airborne_survey"],
        "sector": "mining",
    },
    "lithium": {
        "name": "Salar Jach'a lithium brine pilot",
        "proponent": "Litio Andino S.R.L.",
        "description": "A pilot brine extraction plant on the salt flat's edge.",
        "phases": ["pilot", "operation"],
        "activities": ["brine_wells", "evaporation_ponds", "water_abstraction"],
        "sector": "mining",
    },
    "road": {
        "name": "Kitikmeot all-season road",
        "proponent": "Arctic Corridor Ltd.",
        "description": "An all-season road to a proposed zinc deposit across caribou range.",
        "phases": ["survey", "construction", "operation"],
        "activities": ["geotechnical_survey", "quarrying", "road_construction"],
        "sector": "infrastructure",
    },
    "gold": {
        "name": "Gazelle Peninsula gold exploration",
        "proponent": "Pacific Ridge Mining",
        "description": "Trenching and drilling on customary land.",
        "phases": ["exploration"],
        "activities": ["trenching", "drilling"],
        "sector": "mining",
    },
    "hydro": {
        "name": "Hungduan run-of-river mini-hydro",
        "proponent": "Cordillera Power Corp.",
        "description": "A 4 MW mini-hydro plant near the rice terraces.",
        "phases": ["construction", "operation"],
        "activities": ["weir_construction", "penstock", "powerhouse"],
        "sector": "energy",
    },
    # fabricated demo data: a geophysical survey on the salt flat's southern edge, far from
    # the Uma Jaqi's lands, where informed consultation suffices (IFC PS7 ¶10)
    "lithium-south": {
        "name": "Salar sur geophysical survey (demo)",
        "proponent": "Litio Andino S.R.L.",
        "description": "DEMO DATA, fabricated: seismic lines on the salt flat's southern edge.",
        "phases": ["survey"],
        "activities": ["seismic_lines"],
        "sector": "mining",
    },
    # fabricated demo data: no such lease or company exists
    "iron": {
        "name": "Warlu Creek iron ore mining lease (demo)",
        "proponent": "Pilbara Ridge Resources Pty Ltd (demo)",
        "description": "DEMO DATA, fabricated: a mining lease applied for over the claim "
        "group's country, a future act under the Native Title Act's right to negotiate.",
        "phases": ["exploration", "mining"],
        "activities": ["drilling", "haul_road", "open_pit"],
        "sector": "mining",
    },
    # fabricated demo data: no such project, fund or site record exists
    "restoration": {
        "name": "Warangoi alluvial gold workings restoration (demo)",
        "proponent": "East New Britain Provincial Government, Legacy Mine Sites Fund (demo)",
        "description": "DEMO DATA, fabricated: restoring an abandoned alluvial gold working "
        "near the Vunamami clans' land: backfilling the pits, treating the water that drains "
        "them and replanting the gardens, then monitoring the site with the clans.",
        "phases": ["works", "post_closure"],
        "activities": ["earthworks", "water_treatment", "revegetation"],
        "sector": "restoration",
        "legacy_site": LEGACY_SITE["slug"],
    },
}

# Which community's cases follow which template, and where each case should stand.
GENERAL_MAIN = [
    "screen_in",
    "confirm_rights_holders",
    "complete_mapping",
    "agree_protocol",
    DISCLOSE,
    "complete_disclosure",
    WAIT,
    "open_negotiation",
    "convene_decision",
    "give_consent_with_conditions",
    "validate_agreement",
    "confirm_rehabilitation",
    "close_case",
]
GENERAL_BRANCHES: dict[str, tuple[str, list[str]]] = {
    "not_required": ("screening", ["screen_out"]),
    "suspended": ("negotiation", ["suspend_process"]),
    "withheld": ("decision", ["withhold_consent"]),
    "withdrawn": ("monitoring", ["withdraw_consent"]),
    "invalidated": ("negotiation", [FLAG_UPHELD, "invalidate_process"]),
    "abandoned": ("mapping", ["abandon"]),
}


@dataclass(frozen=True)
class Plan:
    template: str
    main: list[str]
    branches: dict[str, tuple[str, list[str]]]
    communities: tuple[str, ...]
    #: the key in PROJECTS of the project the plan's cases are about, when not the community's
    #: own (a restoration of a legacy site near it)
    project: str | None = None
    #: the stages the plan's cases stand in; every stage of the template when None
    stages: tuple[str, ...] | None = None


_GENERAL = shipped_templates()["fpic-general"]
PLANS = [
    Plan(
        "fpic-general",
        GENERAL_MAIN,
        GENERAL_BRANCHES,
        ("ayllu-qollana", "uma-jaqi", "qurluqtuq", "vunamami"),
        stages=tuple(s for s in _GENERAL.stages if s != "not_required"),
    ),
    # screening out needs a project far from every territory (guard no_territory_overlap)
    Plan(
        "fpic-general", GENERAL_MAIN, GENERAL_BRANCHES, ("ayllu-qollana",),
        project="survey", stages=("not_required",),
    ),
    # the mining case whose map shows what a World Heritage property and a category II park
    # block: it stands at the decision, where consent is refused with the reason
    Plan(
        "fpic-general", GENERAL_MAIN, GENERAL_BRANCHES, ("ayllu-qollana",),
        project="copper-extension", stages=("decision",),
    ),
]  # fmt: skip


def seed(db: Database, now: datetime | None = None, progress: Progress | None = None) -> bool:
    """Create the demo data unless it is there; True when something was created."""
    with db.read_session() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return False
    now = now or datetime.now(UTC)
    start = now - timedelta(days=420)
    engine = Engine(db, FrozenClock(start))
    # every demo account has DEMO_PASSWORD: hashed once at argon2's full cost, not once each
    with one_shared_password(DEMO_PASSWORD):
        people = _seed_people(engine)
        jobs = [(plan, stage) for plan in _plans() for stage in _targets(plan)]
        steps: Iterable[Any] = progress(jobs, N_("Walking demo cases")) if progress else jobs
        for number, (plan, stage) in enumerate(steps, start=1):
            slug = plan.communities[number % len(plan.communities)]
            clock = FrozenClock(start + timedelta(days=number * 3))
            walker = _Walker(Engine(db, clock), clock, people, slug, plan)
            walker.walk_to(stage, reference=f"DEMO-{number:03d}")
    return True


def _plans() -> list[Plan]:
    known = shipped_templates()
    return [plan for plan in PLANS + _extra_plans() if plan.template in known]


def _extra_plans() -> list[Plan]:
    """Plans for other shipped templates, declared beside them in fpic.demo.plans."""
    try:
        from fpic.demo.plans import PLANS as more
    except ImportError:
        return []
    return list(more)


def _targets(plan: Plan) -> list[str]:
    if plan.stages is not None:
        return list(plan.stages)
    return list(shipped_templates()[plan.template].stages)


@dataclass
class _People:
    admin: Actor
    liaison: Actor
    #: the independent people and the State, by role
    independents: dict[str, Actor]
    reps: dict[str, list[int]]
    rep_actor: dict[str, Actor]
    projects: dict[str, int]
    communities: dict[str, int]


#: accounts besides the representatives': (user name, role, display name)
STAFF = (
    ("liaison", "liaison", "Daniela Rojas (community liaison officer)"),
    ("auditor", "auditor", "Kwame Mensah (independent auditor)"),
    ("facilitator", "facilitator", "Ana Lucía Torres (independent facilitator, an NGO)"),
    ("mediator", "mediator", "Samuel Tjapaltjarri (independent grievance mediator)"),
    ("state-authority", "state_authority", "Maria Dulawan (NCIP provincial officer)"),
)


def _account(
    engine: Engine, admin: Actor, username: str, role: str, display: str, rep: int | None = None
) -> Actor:
    """Made as every account is: a one-time code, with which the person (here the demo)
    chooses the password."""
    issued = add_user(
        engine,
        admin,
        username=username,
        role=role,
        display_name=display,
        representative_id=rep,
    )
    enrol(engine, username, issued.code, DEMO_PASSWORD)
    with engine.db.read_session() as session:
        return user_actor(session, username)


def _seed_people(engine: Engine) -> _People:
    bootstrap_admin(engine, "admin", DEMO_PASSWORD)
    with engine.db.read_session() as session:
        admin = user_actor(session, "admin")
    staff = {role: _account(engine, admin, name, role, shown) for name, role, shown in STAFF}
    liaison = staff.pop("liaison")
    staff.pop("auditor")
    communities = {
        c.slug: add_community(
            engine,
            liaison,  # a proposal: it confers no mandate on anyone
            {
                "slug": c.slug,
                "name": c.name,
                "region": c.region,
                "country": c.country,
                "institution": c.institution,
                "content_languages": list(c.languages),
            },
        )
        for c in COMMUNITIES
    }
    _seed_places(engine, admin, liaison)
    projects = {key: add_project(engine, liaison, data) for key, data in PROJECTS.items()}
    return _People(admin, liaison, staff, {}, {}, projects, communities)


def _seed_places(engine: Engine, admin: Actor, liaison: Actor) -> None:
    """The demo's reference datasets, as an administrator imports them, and its legacy site."""
    for kind, path in dataset_files():
        import_areas(engine, admin, path, kind=kind, source=DEMO_SOURCE, version=DEMO_VERSION)
    add_legacy_site(engine, liaison, LEGACY_SITE)


class _Walker:
    """Drives one demo case along its plan with realistic data for each effect."""

    def __init__(
        self, engine: Engine, clock: FrozenClock, people: _People, slug: str, plan: Plan
    ) -> None:
        self.engine, self.clock, self.people, self.plan = engine, clock, people, plan
        self.community = next(c for c in COMMUNITIES if c.slug == slug)
        self.template: Template = shipped_templates()[plan.template]
        self.case_id = 0
        self.files = _FILES

    @property
    def rep(self) -> Actor:
        return self.people.rep_actor[self.community.slug]

    def walk_to(self, stage: str, reference: str) -> None:
        if self.plan.project is not None:
            from dataclasses import replace

            # the plan's project for the whole walk: the decision's scope, the activities
            # started and the withdrawal name its phases and activities
            self.community = replace(self.community, project=self.plan.project)
        # whoever the template says convenes the process: the State under Peru's law
        opener = (
            self.people.liaison
            if opens_cases_on(self.people.liaison, self.template)
            else self.people.independents["state_authority"]
        )
        result = self.engine.open_case(
            opener,
            project_id=self.people.projects[self.community.project],
            community_id=self.people.communities[self.community.slug],
            template_id=self.plan.template,
            reference=reference,
        )
        self.case_id = result.case_id
        self._independents()
        self._screen()
        via, extra = self.plan.branches.get(stage, (stage, []))
        for step in self.plan.main:
            if self._stage() == via:
                break
            self._do(step)
        for step in extra:
            self._do(step)
        if self._stage() != stage:
            raise RuntimeError(f"demo case {reference} reached {self._stage()}, not {stage}")

    def _independents(self) -> None:
        """The case's facilitator and mediator. For a community nobody speaks for yet, the
        liaison proposes the facilitator, who then records and confirms the first mandate
        from the assembly's resolution; from then on the community chooses."""
        slug = self.community.slug
        facilitator = self.people.independents["facilitator"]
        mediator = self.people.independents["mediator"]
        first = slug not in self.people.rep_actor
        self._fire(
            "assign_independent",
            {"role": "facilitator", "username": facilitator.username},
            actor=self.people.liaison if first else self.rep,
        )
        if first:
            self._register_community(facilitator)
        self._fire(
            "assign_independent",
            {"role": "mediator", "username": mediator.username},
            actor=self.rep,
        )

    def _screen(self) -> None:
        """Where the project is, recorded by the first case of the project and screened again
        by each later one (only templates that screen do)."""
        project = self.community.project
        if "record_project_area" not in self.template.triggers or project not in PROJECT_AREAS:
            return
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            recorded = case.current_area_id is not None
        if recorded:
            self._fire("screen_project", {"text": "Screened against the latest datasets."})
            return
        self._fire(
            "record_project_area",
            {
                "coordinates": PROJECT_AREAS[project],
                "text": "From the map in the exploration permit application.",
            },
        )

    def _register_community(self, facilitator: Actor) -> None:
        c, engine = self.community, self.engine
        today = self.clock.now().date()
        ids: list[int] = []
        for number, (name, gender) in enumerate(c.representatives, start=1):
            # the first mandate is recorded by the facilitator; the others by the first
            # representative, once mandated, and confirmed by the facilitator
            recorder = facilitator if number == 1 else self.rep
            recorded = record_mandate(
                engine,
                recorder,
                self.people.communities[c.slug],
                name=name,
                gender=gender,
                granted_by=c.institution,
                evidence=f"Resolution {number}/{today.year} of the {c.institution} appointing "
                f"{name}; minute book, page {10 + number}",
                resolved_on=today - timedelta(days=12),
                valid_from=today - timedelta(days=10),
                valid_until=today + timedelta(days=3 * 365),
                files=self.files.signed(
                    f"resolution-{c.slug}-{number}.pdf", f"Resolution {number}: {name}"
                ),
            )
            confirm_mandate(engine, facilitator, recorded.mandate_id)
            ids.append(recorded.representative_id)
            if number == 1:
                self.people.rep_actor[c.slug] = _account(
                    engine, self.people.admin, f"rep-{c.slug}", "representative", name, ids[0]
                )
        self.people.reps[c.slug] = ids

    def _stage(self) -> str:
        return str(self._case_now()[0])

    def _version(self) -> int:
        return int(self._case_now()[1])

    def _case_now(self) -> tuple[Any, ...]:
        """The case's stage and version, as a person reloading the page would see them (one
        SELECT: the demo fires about a thousand actions, each after reading the version)."""
        row = self.engine.db.read_row(_STAGE_AND_VERSION, {"case_id": self.case_id})
        assert row is not None
        return row

    def _do(self, step: str) -> None:
        self.clock.advance(days=2)
        if step == DISCLOSE:
            self._meeting("information")
            self._question_and_answer()
            self._disclose_everything()
        elif step == WAIT:
            self.clock.advance(days=self._protocol_days() + 1)
        elif step.startswith(MONTHS):  # a statute's months pass (NTA s 35: six)
            self.clock.advance(days=31 * int(step.removeprefix(MONTHS)))
        elif step == FLAG_UPHELD:
            self._flag_upheld()
        else:
            self._fire(step)
            if self.template.stages[self._stage()].consent_in_force:
                self._after_consent()

    def _fire(
        self, name: str, data: dict[str, Any] | None = None, actor: Actor | None = None
    ) -> None:
        self.clock.advance(minutes=7)
        trigger = self.template.triggers[name]
        actor = actor or self._actor_for(trigger.roles)
        if data is None:
            data = self._data_for(trigger.effect, name)
        self.engine.advance(
            self.case_id, name, actor, data, self._version(), confirmation=DEMO_PASSWORD
        )

    def _actor_for(self, roles: tuple[str, ...]) -> Actor:
        """Who fires a trigger in the demo: the proponent's side where it may, else the State,
        else the community, else the case's independent people."""
        for role in ("liaison", "state_authority", "representative", "facilitator", "mediator"):
            if role in roles:
                if role == "liaison":
                    return self.people.liaison
                if role == "representative":
                    return self.rep
                return self.people.independents[role]
        raise RuntimeError(f"no demo person holds any of {roles}")

    def _today(self) -> str:
        return self.clock.now().date().isoformat()

    def _protocol_days(self) -> int:
        return 21 if self.community.rule == "consensus" else 30

    def _data_for(self, effect: str, name: str) -> dict[str, Any]:
        c = self.community
        title = self.template.triggers[name].title
        if effect == "protocol":
            return {
                "deciding_body": c.institution,
                "decision_rule": c.rule,
                "majority_percent": c.majority,
                "quorum_percent": c.quorum,
                **self._voters(),
                "min_deliberation_days": self._protocol_days(),
                "content_languages": list(c.languages),
                "formats": list(c.formats),
                "grievance_route": f"Complaints to the {c.institution}, orally or in writing, "
                f"in {' or '.join(c.languages)}; anonymous complaints through "
                "the community's representatives.",
                "source": f"Minutes of the {c.institution}, first assembly on {self._today()}",
            }
        if effect == "decision":
            decided = self._decision(name)
            if self.plan.project == "restoration" and decided.get("conditions"):
                decided["conditions"][1]["text"] = (
                    "Hand the old workings back to the clans planted with food trees, the end "
                    "land use agreed, and keep the backfill stable through the wet seasons."
                )
            return decided
        if effect == "agreement":
            return {
                "text": "The assembly validated the written agreement in both languages.",
                "signed_on": self._today(),
                "signatories": [c.representatives[0][0], "Proponent's country manager"],
                "files": self.files.signed("agreement-signed.pdf", "Convenio / Agreement"),
            }
        if effect == "rehabilitation":
            return {
                "text": "Pits backfilled, the drainage water clear at the creek mouth and the "
                "gardens replanted; the clan leaders walked the site with their monitors."
                if self.plan.project == "restoration"
                else "Drill pads levelled, topsoil back and native grass seeded; the "
                "assembly walked the site with its monitors.",
                "completed_on": self._today(),
                "files": self.files.photos(),
            }
        if effect == "withdrawal":
            return {
                "text": "Water in the springs above the camp dried up; the community "
                "withdraws its consent until the cause is found.",
                "decided_on": self._today(),
                "deciding_body": c.institution,
                "activities_affected": list(PROJECTS[c.project]["activities"][:2]),
            }
        if effect == "financial_assurance":  # a restoration's: in force for ten years
            return {
                "provider": PROJECTS[c.project]["proponent"],
                "instrument": "trust_fund",
                "amount": 4_800_000,
                "currency": "PGK",
                "covers": "Backfilling the pits, treating the drainage water and replanting the "
                "gardens, and ten years of post-closure monitoring and care with the clans.",
                "valid_until": (self.clock.now() + timedelta(days=3652)).date().isoformat(),
                "estimate": "Independent closure cost estimate by a registered engineer not "
                "employed by the fund, reviewed by the clans' technical adviser (demo).",
                "files": self.files.signed("trust-deed.pdf", "Trust deed (demo)"),
            }
        if effect == "notice":
            return {
                "notified_on": self._today(),
                "text": f"{title}: given to the community's institution and published.",
                "files": self.files.signed("notice.pdf", "Notice (demo)"),
            }
        if effect == "state_decision":
            return {
                "decided_on": self._today(),
                "body": "The competent State body (demo)",
                "determination": title,
                "reasons": "Recorded with the reasons the body gave, which weigh the views of "
                "the community recorded on this case.",
                "rights_measures": "The measures agreed with the community, and those the body "
                "adopts to guarantee its collective rights.",
            }
        if effect == "bond":  # NCIP AO 3 §23: kind and amount as the agreement sets them
            return {
                "kind": "surety",
                "amount": "PHP 5,000,000",
                "posted_on": self._today(),
                "text": "Surety bond with an NCIP-accredited bonding company, as the "
                "memorandum of agreement sets (demo).",
            }
        if effect == "non_overlap":  # NCIP AO 3 §15
            return {
                "issued_on": self._today(),
                "concurrence": "Commissioner for the Cordillera (demo)",
                "undertaking": True,
                "text": "The field-based investigation found no ancestral domain in the area.",
            }
        if effect == "reconsideration_request":
            return {
                "text": "A new proposal: the works move away from the place the community "
                "named in its reasons.",
                "proposal_items": list(self.template.required_disclosure_items[:1]),
            }
        if effect == "condition_progress":  # the first condition still open is met
            with self.engine.db.read_session() as session:
                case = session.get(Case, self.case_id)
                assert case is not None
                open_ids = [
                    cond.id
                    for d in case.decisions
                    for cond in d.conditions
                    if cond.status in ("open", "in_progress")
                ]
            return {
                "condition_id": open_ids[0],
                "status": "met",
                "evidence": "Checked on a joint site walk with the community's monitors.",
            }
        note: dict[str, Any] = {
            "text": f"{title}. Recorded by the field team with the community's agreement."
        }
        if name == "complete_mapping":  # the territory, and its sacred sites for its own eyes
            note |= {
                "coordinates": TERRITORIES[c.slug],
                "files": self.files.sacred_sites(),
                "files_confidential": True,
                "files_visible_to": ["facilitator"],
            }
        return note

    def _voters(self) -> dict[str, Any]:
        c = self.community
        if c.assembly is None:
            return {"voters": "representatives", "abstentions_count": False}
        eligible, source = c.assembly
        return {
            "voters": "assembly",
            "deciding_body": f"Jach'a tantachawi (general assembly of the households of {c.name})",
            "eligible_voters": eligible,
            "eligible_voters_source": source,
            # the community's rule: who abstains has not voted
            "abstentions_count": False,
        }

    def _counting(self, consenting: bool) -> dict[str, Any]:
        """Who was present and how they decided, as the community's protocol counts it."""
        c = self.community
        reps = self.people.reps[c.slug]
        if c.rule == "consensus":
            note = (
                "Agreed after two days of discussion; the facilitator asked three times in both "
                "languages whether anyone objected, and no one did."
                if consenting
                else "After two days of discussion no one spoke for the project; the assembly "
                "agreed without objection to withhold its consent."
            )
            return {"present": reps, "consensus": True, "consensus_note": note}
        if c.tally is not None:
            present, for_, against, abstaining = c.tally
            if not consenting:
                for_, against = against, for_
            return {
                "present": reps,
                "present_count": present,
                "votes_for": for_,
                "votes_against": against,
                "abstentions": abstaining,
                "consensus_note": "Vote by raised hands, one per household, counted by two "
                "tellers named by the assembly.",
            }
        return {
            "present": reps,
            "votes_for": len(reps) if consenting else 0,
            "votes_against": 0 if consenting else len(reps),
        }

    def _decision(self, name: str) -> dict[str, Any]:
        c = self.community
        outcome = self.template.triggers[name].outcome
        consenting = outcome in ("CONSENT", "CONSENT_WITH_CONDITIONS", "PARTIAL")
        project = PROJECTS[c.project]
        data: dict[str, Any] = {
            "decided_on": self._today(),
            "place": f"Assembly hall, {c.name}",
            **self._counting(consenting),
            "dissent": "Two elders asked that the sacred spring be excluded from any works.",
            "scope_phases": list(project["phases"][:1]),
            "scope_activities": list(project["activities"][:2]),
            "text_language": c.languages[0],
            "text_original": _ORIGINAL_TEXT.get(c.languages[0], "The assembly decided."),
            "files": self.files.signed("resolution-signed.pdf", "Resolución de la asamblea"),
            "translations": [
                {
                    "language": c.languages[1],
                    "text": "The assembly decided as recorded.",
                    "translator": "Community interpreter",
                }
            ],
        }
        if outcome == "CONSENT_WITH_CONDITIONS":
            due = (self.clock.now() + timedelta(days=120)).date().isoformat()
            data["conditions"] = [
                {
                    "text": "Independent water monitoring at the three springs, with community "
                    "monitors trained and paid.",
                    "language": c.languages[1],
                    "obligated_party": PROJECTS[c.project]["proponent"],
                    "due_on": due,
                    "verification": "Joint quarterly monitoring report",
                },
                {
                    "text": "Restore the drilling pads and access tracks to pasture at closure.",
                    "language": c.languages[1],
                    "obligated_party": PROJECTS[c.project]["proponent"],
                    "due_on": None,
                    "verification": "Site inspection with the assembly",
                },
            ]
        return data

    def _meeting(self, kind: str) -> None:
        c = self.community
        self._fire(
            "log_meeting",
            {
                "kind": kind,
                "held_on": self._today(),
                "place": f"Community hall, {c.name}",
                "languages_used": list(c.languages),
                "interpreter": "Community interpreter",
                "attendance_women": 41,
                "attendance_men": 37,
                "attendance_youth": 12,
                "minutes_language": c.languages[0],
                "minutes_original": _ORIGINAL_TEXT.get(c.languages[0], "Minutes."),
                "files": self.files.minutes(
                    c.languages[0], _ORIGINAL_TEXT.get(c.languages[0], "Minutes.")
                ),
                "minutes_translations": [
                    {
                        "language": c.languages[1],
                        "text": "The proponent presented the project; questions "
                        "were asked about water and land.",
                        "translator": "Community interpreter",
                    }
                ],
            },
        )

    def _question_and_answer(self) -> None:
        c = self.community
        self._fire(
            "ask_question",
            {"text": "What happens to the springs if you drill here?", "language": c.languages[1]},
        )
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            question_id = case.questions[-1].id
        self._fire(
            "answer_question",
            {
                "question_id": question_id,
                "language": c.languages[1],
                "answer": "Drilling uses closed water circuits; the hydrogeology study and the "
                "monitoring plan are in the impact assessment you received.",
            },
        )

    def _disclose_everything(self) -> None:
        """Each item in each language, in every agreed format at once (one form), as the
        community's interpreter presented it."""
        c = self.community
        for item in self._items_to_disclose():
            for language in c.languages:
                self._fire(
                    "register_disclosure",
                    {
                        "item": item,
                        "languages": [language],
                        "formats": list(c.formats),
                        "title": f"{item.replace('_', ' ').capitalize()} ({language})",
                        "channel": " and ".join(
                            "community assembly" if fmt == "oral" else "printed booklet"
                            for fmt in c.formats
                        ),
                        "disclosed_on": self._today(),
                        "translator": None if language in ("es", "en") else "Community interpreter",
                        "back_translation_attested": language not in ("es", "en"),
                        "files": self.files.disclosure(
                            item, item.replace("_", " ").capitalize(), language, list(c.formats)
                        ),
                    },
                )

    def _items_to_disclose(self) -> list[str]:
        """The template's required items, and what the screening calls for: an item on
        biodiversity where the project reaches critical habitat (recorded first: a
        strictly protected area's compatibility assessment)."""
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            strict = strict_overlaps(case)
            findings = (case.screening or {}).get("findings", [])
        for area in strict:
            self._fire(
                "record_compatibility_assessment",
                {
                    "protected_area": area["ref"],
                    "assessed_by": "Independent ecologist commissioned with the community (demo)",
                    "text": f"{area['name']}: the project as designed is not compatible with "
                    "the park's conservation objectives; the pit would remove puna grassland "
                    "inside it.",
                },
            )
        items = list(self.template.required_disclosure_items)
        habitat = self.template.critical_habitat_item
        if habitat and any(
            f["kind"] == "critical_habitat" and f["relation"] != "near" for f in findings
        ):
            items.append(habitat)
        return items

    def _flag_upheld(self) -> None:
        self._fire(
            "raise_integrity_flag",
            {
                "category": "gift_outside_budget",
                "description": "Cash gifts to two families before the assembly, outside the "
                "agreed budget.",
            },
        )
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            flag_id = case.integrity_flags[-1].id
        self._fire(
            "review_integrity_flag",
            {
                "flag_id": flag_id,
                "upheld": True,
                "resolution": "The assembly heard both families and the field team: upheld.",
            },
        )

    def _after_consent(self) -> None:
        # the stage of implementation and joint monitoring, whatever a template calls it
        offered = {t.name for t in self.template.triggers_from(self._stage())}
        if {"record_monitoring_report", "record_activity_start"} <= offered:
            project = PROJECTS[self.community.project]
            self._fire(
                "record_activity_start",
                {
                    "activity": project["activities"][0],
                    "phase": project["phases"][0],
                    "started_on": self._today(),
                },
            )
            self._grievance()

    def _grievance(self) -> None:
        """A complaint about the activity just started, acknowledged and under assessment."""
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            if case is None or case.grievances:
                return
        language = next((c for c in self.community.languages if c in _COMPLAINT), "en")
        self.clock.advance(days=3)
        self._fire(
            "lodge_grievance",
            {
                "category": "impacts",
                "channel": "through_representative",
                "anonymous": True,
                "language": language,
                "text": _COMPLAINT[language],
                "received_on": self._today(),
                # the complainant's own statement, for the mediator and the community only
                "files": self.files.statement(_COMPLAINT[language]),
                "files_confidential": True,
                "files_visible_to": ["mediator"],
            },
        )
        with self.engine.db.read_session() as session:
            case = session.get(Case, self.case_id)
            assert case is not None
            grievance_id = case.grievances[-1].id
        self._fire(
            "acknowledge_grievance",
            {"grievance_id": grievance_id, "text": "Received; a joint visit is planned."},
        )


#: generated once per run of the demo (fpic.demo.evidence)
_FILES = DemoFiles()

_COMPLAINT = {
    "es": "El polvo de los camiones cubre las chacras y el agua del canal.",
    "fil": "Tinatakpan ng alikabok mula sa mga trak ang mga palayan at ang tubig.",
    "en": "Dust from the trucks covers the gardens and the water of the creek.",
}
_ORIGINAL_TEXT = {
    "qu": "Ayllu tantanakuypi llapa runakuna rimanakurqayku, yakunchikta waqaychanapaq.",
    "ay": "Jach'a tantachäwinxa taqi jaqinakampi amtasiwayi, umasa jark'aqasiñataki.",
    "iu": "ᓄᓇᓕᒻᒥ ᑲᑎᖅᓱᐃᓂᖅ ᐊᖏᖃᑎᒌᒃᑐᑦ ᐊᐃᑉᐸᕆᔭᐅᔪᓐᓇᖅᑐᑦ ᑐᒃᑐᐃᑦ ᐊᖁᑎᖓᑦ ᓴᐳᒻᒥᔭᐅᓂᐊᖅᑐᑦ.",
    "tpi": "Ol lida bilong ol klen i bung na tok orait, tasol wara i mas stap klin.",
    "ifk": "Inammung di amammaduwa ya nun-ahhinnan hi bale di ili.",
}


def print_case_trail(session: Session, echo: Callable[[str], None]) -> None:
    """A summary of the demo cases and the trail of the most advanced one."""
    counts = session.execute(
        select(Case.template_id, Case.stage, func.count())
        .group_by(Case.template_id, Case.stage)
        .order_by(Case.template_id, Case.stage)
    ).all()
    echo("Cases by stage:")
    for template_id, stage, count in counts:
        echo(f"  {template_id:<16} {stage:<22} {count}")
    case = session.scalar(select(Case).where(Case.stage == "monitoring").order_by(Case.id))
    if case is None:
        return
    echo(f"\nDecision trail of {case.reference} ({case.community.name}):")
    events = list(_events(session, case.id))
    skipped = 0
    for index, event in enumerate(events):
        before = events[index - 1].action if index else None
        after = events[index + 1].action if index + 1 < len(events) else None
        if before == event.action == after:
            skipped += 1  # a run of one action shows its first and last event
            continue
        if skipped:
            echo(f"      ... {skipped} more {event.action} events")
            skipped = 0
        move = f"{event.from_stage or '-'} -> {event.to_stage}"
        mark = "" if event.outcome == "done" else f" [{event.outcome}]"
        echo(f"  {event.seq:>3} {event.at[:16]}  {event.actor:<24} {event.action:<30} {move}{mark}")
    heads = audit.stored_heads(session)
    echo(f"\nTrail head (keep it outside the system): {audit.trail_head(heads)}")


def _events(session: Session, case_id: int) -> Iterator[TrailEvent]:
    yield from session.scalars(
        select(TrailEvent).where(TrailEvent.chain == f"case:{case_id}").order_by(TrailEvent.seq)
    )


__all__ = ["DEMO_PASSWORD", "Community", "Project", "print_case_trail", "seed"]
