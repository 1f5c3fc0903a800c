"""Large, realistic and valid datasets, fast: ``python bench/generate.py --cases N --events M``.

The people and places (administrator, liaison officers, auditor, projects, communities with
mandated representatives) are registered through the engine itself, so the system chain is
the real one. Cases are then written in bulk (executemany on SQLite, COPY on PostgreSQL): each
walks the general template's main path for a number of events drawn at random (screening,
mapping, the protocol, every disclosure in each agreed language and format, deliberation,
negotiation, the decision), some stop early, decline, or are suspended by the community, and a
few carry a refused attempt. Every case writes what the engine would: the case row, its notes,
protocol and disclosures, its trail events hashed with fpic.trail.audit's own functions, and its
chain head, so ``fpic audit verify`` accepts the result.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Table, select, text

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CHEAP_HASHER, PASSWORD, Stopwatch
from fpic.accounts import passwords, registry
from fpic.accounts.sessions import enrol
from fpic.storage.db import Base, Database
from fpic.storage.migrate import upgrade
from fpic.storage.models import ChainHead
from fpic.trail import audit, log
from fpic.workflow.clock import FrozenClock
from fpic.workflow.engine import Engine, user_actor
from fpic.workflow.errors import StaleCase
from fpic.workflow.process import Template, shipped_templates

TEMPLATE_ID = "fpic-general"
HISTORY = timedelta(days=3 * 365)
CHUNK_CASES = 2000
REFUSED_RATE = 0.02
PROTOCOL_DAYS = 30
#: the communities, as the engine's registry would hold them
LANGUAGE_SETS = (["qu", "es"], ["ay", "es"], ["gn", "es"], ["shp", "es"], ["es"], ["qu"])
FORMAT_SETS = (["written"], ["written", "oral"])
PROJECTS = (
    ("Cerro Verde copper exploration", "Andes Copper S.A."),
    ("Rio Blanco hydroelectric dam", "Hidro Sur S.A."),
    ("Pampa Alta wind farm", "Viento Andino S.A.C."),
)
NOTES = {
    "screen_in": "Screening memo: the concession overlaps customary grazing land and springs.",
    "screen_out": "Field investigation found no customary use of the area.",
    "confirm_rights_holders": "Rights-holders and their assembly registered with mandates.",
    "complete_mapping": "Land-use maps signed off by the assembly.",
    "complete_disclosure": "Every item disclosed in each agreed language and format.",
    "open_negotiation": "The assembly asked to open negotiation after its deliberation.",
    "convene_decision": "The assembly convened to decide on the date it chose.",
    "suspend_process": "The assembly paused the process for the planting season.",
    "resume_process": "The assembly resumed the process.",
    "decline_to_engage": "The assembly declined to engage with the proponent.",
}
SUSPENDABLE = {
    "screening", "rights_holders", "mapping", "protocol", "disclosure", "deliberation",
    "negotiation", "decision",
}  # fmt: skip
DECLINABLE = {"rights_holders", "mapping", "protocol", "disclosure", "deliberation", "negotiation"}


# --- who and where -------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    role: str


@dataclass(frozen=True)
class Place:
    """A community with its mandated representatives and the liaison officer who works there."""

    id: int
    slug: str
    languages: list[str]
    reps: list[Person]
    liaison: Person


@dataclass
class Directory:
    project_ids: list[int]
    places: list[Place]
    auditor: Person
    liaisons: list[Person]


@dataclass
class Dataset:
    url: str
    cases: int
    events: int
    seconds: float
    directory: Directory


@contextmanager
def cheap_passwords() -> Iterator[None]:
    previous = passwords._hasher
    passwords._hasher = CHEAP_HASHER
    try:
        yield
    finally:
        passwords._hasher = previous


def seed_directory(db: Database, communities: int, start: datetime, until: date) -> Directory:
    """People and places through the engine, so the system chain is what fpic itself writes."""
    engine = Engine(db, FrozenClock(start))
    with cheap_passwords():
        registry.bootstrap_admin(engine, "admin", PASSWORD)
        admin = _actor(db, "admin")
        auditor = _person(db, engine, admin, "auditor", "auditor")
        facilitator = _actor(db, _person(db, engine, admin, "facilitator", "facilitator").username)
        liaisons = [
            _person(db, engine, admin, f"liaison-{n + 1}", "liaison")
            for n in range(max(1, communities // 20))
        ]
        projects = [
            registry.add_project(
                engine,
                admin,
                {"name": name, "proponent": who, "phases": ["exploration", "construction"]},
            )
            for name, who in PROJECTS
        ]
        places = [
            _place(
                db,
                engine,
                admin,
                facilitator,
                projects[0],
                n,
                liaisons[n % len(liaisons)],
                start.date(),
                until,
            )
            for n in range(communities)
        ]
    return Directory(projects, places, auditor, liaisons)


def _actor(db: Database, username: str) -> Any:
    with db.read_session() as session:
        return user_actor(session, username)


def _person(
    db: Database, engine: Engine, admin: Any, username: str, role: str, rep_id: int | None = None
) -> Person:
    issued = registry.add_user(
        engine, admin, username=username, role=role, representative_id=rep_id
    )
    enrol(engine, username, issued.code, PASSWORD)
    return Person(issued.user_id, username, role)


def _place(
    db: Database,
    engine: Engine,
    admin: Any,
    facilitator: Any,
    project_id: int,
    n: int,
    liaison: Person,
    start: date,
    until: date,
) -> Place:
    """A community registered as fpic requires: the facilitator of its first case, proposed
    while nobody holds its mandate, records and confirms each representative's mandate."""
    slug = f"community-{n + 1:03d}"
    languages = LANGUAGE_SETS[n % len(LANGUAGE_SETS)]
    community_id = registry.add_community(
        engine,
        admin,
        {
            "slug": slug,
            "name": f"Ayllu {n + 1}",
            "region": "Altiplano",
            "country": "PE",
            "institution": "Community assembly",
            "content_languages": languages,
        },
    )
    proposer = _actor(db, liaison.username)
    registration = engine.open_case(
        proposer,
        project_id=project_id,
        community_id=community_id,
        template_id=TEMPLATE_ID,
        reference=f"REG-{slug}",
    )
    engine.advance(
        registration.case_id,
        "assign_independent",
        proposer,
        {"role": "facilitator", "username": facilitator.username},
        registration.version,
    )
    reps = []
    for k in range(3):
        recorded = registry.record_mandate(
            engine,
            facilitator,
            community_id,
            name=f"Representative {k + 1} of {slug}",
            gender="woman",
            granted_by="Community assembly",
            evidence="Assembly resolution 3/2023",
            resolved_on=start - timedelta(days=31),
            valid_from=start - timedelta(days=30),
            valid_until=until,
        )
        registry.confirm_mandate(engine, facilitator, recorded.mandate_id)
        reps.append(
            _person(
                db, engine, admin, f"rep-{slug}-{k + 1}", "representative",
                recorded.representative_id,
            )
        )  # fmt: skip
    return Place(community_id, slug, languages, reps, liaison)


# --- what a case went through --------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    trigger: str
    who: str  #: "liaison" or "rep"
    effect: str  #: open, note, protocol, disclosure, complete_disclosure, suspend, resume, ...
    dest: str | None  #: None: the stage stays; "@back": where the case was suspended from
    disclosure: tuple[str, str, str] | None = None
    refused: bool = False


OPEN = Step("open_case", "liaison", "open", "screening")
SUSPEND = Step("suspend_process", "rep", "suspend", "suspended")
RESUME = Step("resume_process", "rep", "resume", "@back")
DECLINE = Step("decline_to_engage", "rep", "decline", "withheld")
SCREEN_OUT = Step("screen_out", "liaison", "note", "not_required")


def main_path(items: Sequence[str], languages: list[str], formats: list[str]) -> list[Step]:
    """The general template from screening to the decision, every disclosure included."""
    return [
        Step("screen_in", "liaison", "note", "rights_holders"),
        Step("confirm_rights_holders", "liaison", "note", "mapping"),
        Step("complete_mapping", "rep", "note", "protocol"),
        Step("agree_protocol", "rep", "protocol", "disclosure"),
        *(
            Step("register_disclosure", "liaison", "disclosure", None, (i, lang, fmt))
            for i in items
            for lang in languages
            for fmt in formats
        ),
        Step("complete_disclosure", "liaison", "complete_disclosure", "deliberation"),
        Step("open_negotiation", "rep", "note", "negotiation"),
        Step("convene_decision", "rep", "note", "decision"),
    ]


def plan_case(rng: random.Random, events: int, path: list[Step]) -> list[Step]:
    """``events`` steps along ``path``; past its end the community suspends and resumes."""
    steps, stage, back, done = [OPEN], "screening", "", 0
    while len(steps) < events:
        last = len(steps) == events - 1
        step = _ending(rng, stage) if last else None
        if step is None and done and not last and rng.random() < REFUSED_RATE:
            step = Step(path[min(done, len(path) - 1)].trigger, "rep", "note", None, refused=True)
        if step is None:
            if done < len(path):
                step, done = path[done], done + 1
            else:
                step = RESUME if stage == "suspended" else SUSPEND
        steps.append(step)
        if not step.refused:
            stage, back = _next_stage(step, stage, back)
    return steps


def _ending(rng: random.Random, stage: str) -> Step | None:
    """Some cases end otherwise than by walking on: screened out, declined, suspended."""
    draw = rng.random()
    if stage == "screening" and draw < 0.15:
        return SCREEN_OUT
    if stage in DECLINABLE and draw < 0.04:
        return DECLINE
    if stage in SUSPENDABLE and draw < 0.10:
        return SUSPEND
    return None


def _next_stage(step: Step, stage: str, back: str) -> tuple[str, str]:
    if step.dest is None:
        return stage, back
    if step.dest == "@back":
        return back, ""
    if step.dest == "suspended":
        return "suspended", stage
    return step.dest, back


# --- writing a case ------------------------------------------------------------------------


@dataclass
class Ids:
    """The next free id of each table (ids on the trail are given out later, in time order)."""

    case: int = 1
    note: int = 1
    protocol: int = 1
    disclosure: int = 1


@dataclass
class Rows:
    cases: list[dict[str, Any]] = field(default_factory=list)
    case_notes: list[dict[str, Any]] = field(default_factory=list)
    protocols: list[dict[str, Any]] = field(default_factory=list)
    disclosures: list[dict[str, Any]] = field(default_factory=list)
    trail_events: list[dict[str, Any]] = field(default_factory=list)
    chain_heads: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CaseWriter:
    """Turns a planned case into the rows the engine would have written, hashed and chained."""

    template: Template
    directory: Directory
    now: datetime
    rng: random.Random
    ids: Ids = field(default_factory=Ids)
    place: Place | None = None
    formats: list[str] = field(default_factory=list)

    def write(
        self, rows: Rows, steps: list[Step], place: Place, formats: list[str], opened: datetime
    ) -> None:
        self.place, self.formats = place, formats
        case_id, self.ids.case = self.ids.case, self.ids.case + 1
        case = self._case_row(case_id, place, opened)
        times = self._times(steps, opened)
        chain, prev, stage, back = audit.case_chain(case_id), audit.GENESIS, "", ""
        for seq, (step, at) in enumerate(zip(steps, times, strict=True), start=1):
            person = place.liaison if step.who == "liaison" else self.rng.choice(place.reps)
            if step.refused:
                body = self._refusal(case, step, person, seq, at, stage)
            else:
                new_stage, new_back = _next_stage(step, stage, back)
                if step.effect != "open":
                    case["version"] += 1
                data = self._effect(rows, case, step, person, at, stage, new_stage)
                body = self._body(case, step, person, seq, at, stage or None, new_stage, data)
                self._move(case, step, at, stage, new_stage, back)
                stage, back = new_stage, new_back
            prev = self._link(rows, body, prev)
        case["stage"] = stage
        rows.cases.append(case)
        rows.chain_heads.append({"chain": chain, "seq": len(steps), "hash": prev})

    def _case_row(self, case_id: int, place: Place, opened: datetime) -> dict[str, Any]:
        return {
            "id": case_id,
            "reference": f"FPIC-{opened.year}-{case_id:06d}",
            "project_id": self.directory.project_ids[case_id % len(self.directory.project_ids)],
            "community_id": place.id,
            "template_id": self.template.id,
            "template_version": self.template.version,
            "template_hash": self.template.content_hash,
            "stage": "screening",
            "version": 1,
            "opened_at": opened,
            "updated_at": opened,
            "stage_entered_at": opened,
            "deliberation_started_at": None,
            "suspended_from": None,
            "withheld_at": None,
            "reconsideration_requested_at": None,
            "state_approved_without_agreement": False,
            "facilitator_id": None,
            "mediator_id": None,
            "last_review_at": None,
            "rehabilitation_confirmed_at": None,
            "screening": None,
            "milestones": {},
        }

    def _times(self, steps: list[Step], opened: datetime) -> list[datetime]:
        """Days between steps as a process would take them, squeezed to end before now."""
        gaps = [0.0]
        for before, step in itertools.pairwise(steps):
            if step.effect == "disclosure" or step.refused:
                gaps.append(self.rng.uniform(0.02, 2))
            elif before.effect == "complete_disclosure":
                gaps.append(PROTOCOL_DAYS + self.rng.uniform(0, 10))
            else:
                gaps.append(self.rng.uniform(1, 20))
        room = (self.now - timedelta(hours=1) - opened).total_seconds() / 86400
        squeeze = min(1.0, room / max(sum(gaps), 1e-9))
        times, at = [], opened
        for gap in gaps:
            at += timedelta(days=gap * squeeze, microseconds=self.rng.randrange(1_000_000))
            times.append(at)
        return times

    def _effect(
        self,
        rows: Rows,
        case: dict[str, Any],
        step: Step,
        person: Person,
        at: datetime,
        stage: str,
        new_stage: str,
    ) -> dict[str, Any]:
        if step.effect == "open":
            return self._opening(case)
        if step.effect == "protocol":
            payload, records = self._protocol(rows, case, person, at)
        elif step.effect == "disclosure":
            payload, records = self._disclosure(rows, case, step, at)
        else:
            extra = {"suspended_from": stage} if step.effect == "suspend" else {}
            payload = {"text": NOTES.get(step.trigger, "Recorded in the field."), "language": None}
            records = {"note_id": self._note(rows, case, step, person, at, payload, extra)}
        return {"version": case["version"], "payload": payload, "records": records}

    def _opening(self, case: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": 1,
            "reference": case["reference"],
            "project_id": case["project_id"],
            "community_id": case["community_id"],
            "template": {
                "id": self.template.id,
                "version": self.template.version,
                "hash": self.template.content_hash,
            },
            "late_start_dates": [],
        }

    def _note(
        self,
        rows: Rows,
        case: dict[str, Any],
        step: Step,
        person: Person,
        at: datetime,
        payload: dict[str, Any],
        extra: dict[str, Any],
    ) -> int:
        note_id, self.ids.note = self.ids.note, self.ids.note + 1
        rows.case_notes.append(
            {
                "id": note_id,
                "case_id": case["id"],
                "kind": step.trigger,
                "text": payload["text"],
                "language": None,
                "data": extra,
                "recorded_at": at,
                "recorded_by_id": person.id,
            }
        )
        return note_id

    def _protocol(
        self, rows: Rows, case: dict[str, Any], person: Person, at: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.place is not None
        payload = {
            "deciding_body": "Community assembly",
            "decision_rule": "simple_majority",
            "majority_percent": None,
            "quorum_percent": 60,
            "voters": "representatives",
            "eligible_voters": None,
            "eligible_voters_source": None,
            "abstentions_count": False,
            "min_deliberation_days": PROTOCOL_DAYS,
            "content_languages": self.place.languages,
            "formats": self.formats,
            "grievance_route": "Complaints to the assembly's grievance committee.",
            "review_every_days": 90,
            "time_limits": {},
            "source": "Assembly resolution of the month before",
            "signed_decisions": False,
        }
        protocol_id, self.ids.protocol = self.ids.protocol, self.ids.protocol + 1
        rows.protocols.append(
            {
                "id": protocol_id,
                "case_id": case["id"],
                **payload,
                "agreed_at": at,
                "agreed_by_id": person.id,
            }
        )
        return payload, {"protocol_id": protocol_id}

    def _disclosure(
        self, rows: Rows, case: dict[str, Any], step: Step, at: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        assert step.disclosure is not None
        item, language, fmt = step.disclosure
        # the engine's shape: one action may disclose an item in several cells; here, one
        payload = {
            "item": item,
            "languages": [language],
            "formats": [fmt],
            "title": f"{self.template.item_title(item)} ({language}, {fmt})",
            "channel": "community hall",
            "disclosed_on": at.date().isoformat(),
            "translator": None if language == "es" else "Rosa Mamani",
            "back_translation_attested": False,
        }
        disclosure_id, self.ids.disclosure = self.ids.disclosure, self.ids.disclosure + 1
        rows.disclosures.append(
            {
                "id": disclosure_id,
                "case_id": case["id"],
                **{k: v for k, v in payload.items() if k not in ("languages", "formats")},
                "language": language,
                "format": fmt,
                "disclosed_on": at.date(),
                "version": 1,
                "recorded_at": at,
                "superseded_at": None,
            }
        )
        written = {"disclosure_id": disclosure_id, "language": language, "format": fmt}
        return payload, {"disclosures": [written | {"version": 1}]}

    def _move(
        self, case: dict[str, Any], step: Step, at: datetime, stage: str, new: str, back: str
    ) -> None:
        """The case columns the step's effect and transition change."""
        case["updated_at"] = at
        if new != stage:
            case["stage_entered_at"] = at
        if step.effect == "complete_disclosure":
            case["deliberation_started_at"] = at
        elif step.effect == "suspend":
            case["suspended_from"] = stage
        elif step.effect == "resume":
            case["suspended_from"] = None
        elif step.effect == "decline":
            case["withheld_at"] = at

    def _refusal(
        self,
        case: dict[str, Any],
        step: Step,
        person: Person,
        seq: int,
        at: datetime,
        stage: str,
    ) -> dict[str, Any]:
        """Someone acted on a page that was out of date: the engine refused and said why."""
        seen = case["version"] - 1
        reason = StaleCase(case["id"], seen, case["version"]).reasons[0].as_data()
        data = {"error": "stale_case", "reasons": [reason], "version_seen": seen}
        body = self._body(case, step, person, seq, at, stage, stage, data)
        body["outcome"] = "refused"
        return body

    def _body(
        self,
        case: dict[str, Any],
        step: Step,
        person: Person,
        seq: int,
        at: datetime,
        from_stage: str | None,
        to_stage: str,
        data: dict[str, Any],
    ) -> dict[str, Any]:
        return {
            "chain": audit.case_chain(case["id"]),
            "seq": seq,
            "at": audit.format_time(at),
            "actor": person.username,
            "role": person.role,
            "action": step.trigger,
            "outcome": "done",
            "case": case["id"],
            "from": from_stage,
            "to": to_stage,
            "data": data,
        }

    def _link(self, rows: Rows, body: dict[str, Any], prev: str) -> str:
        """Hash the event exactly as fpic.trail.audit does, and keep it as the stored row."""
        digest = audit.link_hash(prev, audit.event_body(body))
        rows.trail_events.append(
            {
                "chain": body["chain"],
                "seq": body["seq"],
                "at": body["at"],
                "actor": body["actor"],
                "actor_role": body["role"],
                "action": body["action"],
                "outcome": body["outcome"],
                "case_id": body["case"],
                "from_stage": body["from"],
                "to_stage": body["to"],
                "data": audit.canonical_json(body["data"]),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        return digest


# --- bulk writing --------------------------------------------------------------------------


class Sink:
    """Bulk inserts through the driver: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.sqlite = db.engine.dialect.name == "sqlite"
        self.raw = db.engine.raw_connection()
        self.driver: Any = self.raw.driver_connection
        if self.sqlite:
            # durability is not what is measured while loading; the pages and WAL stay as set
            self.driver.execute("PRAGMA synchronous=OFF")
            self.driver.execute("PRAGMA cache_size=-262144")
        self.converters: dict[str, list[Callable[[Any], Any]]] = {}

    def write(self, rows: Rows) -> None:
        if self.sqlite:
            self.driver.execute("BEGIN")
        for name in ("cases", "case_notes", "protocols", "disclosures", "trail_events"):
            self._insert(Base.metadata.tables[name], getattr(rows, name))
        self._insert(Base.metadata.tables["chain_heads"], rows.chain_heads)
        self._log(rows.trail_events)
        if self.sqlite:
            self.driver.execute("COMMIT")
        else:
            self.driver.commit()

    def _log(self, events: list[dict[str, Any]]) -> None:
        """The events join the Merkle log in the same transaction, as the engine's writes do
        (fpic/trail/log.py): leaves and completed subtrees inserted, the head moved."""
        mark = "?" if self.sqlite else "%s"
        cursor = self.driver.cursor()
        cursor.execute(f"SELECT size, frontier FROM merkle_log WHERE id = {mark}", (log.LOG_ID,))
        frontier = log.Frontier.stored(*cursor.fetchone())
        nodes = log.node_rows(frontier, [(e["chain"], e["seq"], e["hash"]) for e in events])
        self._insert(Base.metadata.tables["merkle_nodes"], nodes)
        cursor.execute(
            f"UPDATE merkle_log SET size = {mark}, frontier = {mark} WHERE id = {mark}",
            (frontier.size, frontier.text, log.LOG_ID),
        )
        cursor.close()

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        names = [c.name for c in table.columns]
        convert = self._converters(table)
        values = [[f(row[n]) for n, f in zip(names, convert, strict=True)] for row in rows]
        if self.sqlite:
            marks = ", ".join("?" for _ in names)
            self.driver.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", values
            )
            return
        with (
            self.driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy,
        ):
            for value in values:
                copy.write_row(value)

    def _converters(self, table: Table) -> list[Callable[[Any], Any]]:
        if table.name not in self.converters:
            self.converters[table.name] = [
                self._converter(type(c.type).__name__) for c in table.columns
            ]
        return self.converters[table.name]

    def _converter(self, kind: str) -> Callable[[Any], Any]:
        """Values as SQLAlchemy would bind them (naive UTC; SQLite keeps text and integers)."""
        if kind == "UTCDateTime":
            if self.sqlite:
                return lambda v: None if v is None else _naive(v).isoformat(" ", "microseconds")
            return lambda v: None if v is None else _naive(v)
        if kind == "JSON":
            return json.dumps
        if self.sqlite and kind == "Date":
            return lambda v: None if v is None else v.isoformat()
        if self.sqlite and kind == "Boolean":
            return lambda v: None if v is None else int(v)
        return _same

    def finish(self) -> None:
        """PostgreSQL: sequences past the ids given out here; statistics for the planner."""
        if not self.sqlite:
            with self.driver.cursor() as cursor:
                for name in ("cases", "case_notes", "protocols", "disclosures", "trail_events"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"
                    )
            self.driver.commit()
            self.driver.autocommit = True
            self.driver.execute("VACUUM ANALYZE")  # as autovacuum would, for insert-only tables
        self.raw.close()


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _same(value: Any) -> Any:
    return value


# --- the whole dataset ---------------------------------------------------------------------


def event_budgets(rng: random.Random, cases: int, events: int) -> list[int]:
    """Events per case, spread around the mean, summing exactly to ``events``."""
    if events < cases:
        raise ValueError("every case has at least its opening event")
    # exponential: many cases still early on, a long tail that reaches the decision
    mean = events / cases
    budgets = [1 + min(round(rng.expovariate(1 / max(mean - 1, 1e-9))), 40 * round(mean))
               for _ in range(cases)]  # fmt: skip
    gap = events - sum(budgets)
    step = 1 if gap > 0 else -1
    while gap:
        i = rng.randrange(cases)
        if budgets[i] + step >= 1:
            budgets[i] += step
            gap -= step
    return budgets


def generate(url: str, cases: int, events: int, seed: int = 7, progress: bool = True) -> Dataset:
    """Migrate an empty database at ``url`` and fill it; ``events`` counts every chain."""
    clock = Stopwatch()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - HISTORY
    db = Database(url)
    try:
        upgrade(db.engine)
        communities = max(3, min(200, cases // 1000))
        directory = seed_directory(
            db, communities, start - timedelta(days=60), (now + HISTORY).date()
        )
        system_events = _system_events(db)
        budgets = event_budgets(rng, cases, max(cases, events - system_events))
        _write_cases(db, directory, budgets, start, now, rng, progress)
        total = system_events + sum(budgets)
    finally:
        db.dispose()
    return Dataset(url, cases, total, clock.seconds, directory)


def _system_events(db: Database) -> int:
    with db.read_session() as session:
        head = session.scalar(select(ChainHead).where(ChainHead.chain == audit.SYSTEM_CHAIN))
        return head.seq if head else 0


def _write_cases(
    db: Database,
    directory: Directory,
    budgets: list[int],
    start: datetime,
    now: datetime,
    rng: random.Random,
    progress: bool,
) -> None:
    template = shipped_templates()[TEMPLATE_ID]
    # the communities' registration cases came first, through the engine
    writer = CaseWriter(template, directory, now, rng, ids=Ids(case=_next_case_id(db)))
    sink = Sink(db)
    event_id = _next_event_id(db)
    span = (now - start).total_seconds()
    with click.progressbar(
        length=sum(budgets), label="Generating", file=sys.stderr if progress else _Null()
    ) as bar:
        for first in range(0, len(budgets), CHUNK_CASES):
            rows = Rows()
            for index in range(first, min(first + CHUNK_CASES, len(budgets))):
                place = directory.places[rng.randrange(len(directory.places))]
                formats = FORMAT_SETS[index % len(FORMAT_SETS)]
                path = main_path(template.required_disclosure_items, place.languages, formats)
                opened = start + timedelta(seconds=span * index / len(budgets))
                writer.write(rows, plan_case(rng, budgets[index], path), place, formats, opened)
            event_id = _order_events(rows, event_id)
            sink.write(rows)
            bar.update(len(rows.trail_events))
    sink.finish()


def _next_case_id(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM cases")).scalar_one())


def _next_event_id(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM trail_events")) or 0) + 1


def _order_events(rows: Rows, first_id: int) -> int:
    """Ids in time order, as a running system would have given them out."""
    rows.trail_events.sort(key=lambda row: row["at"])
    for offset, row in enumerate(rows.trail_events):
        row["id"] = first_id + offset
    return first_id + len(rows.trail_events)


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@click.command()
@click.option("--url", required=True, help="An empty database: sqlite:///file or postgresql://")
@click.option("--cases", default=100_000, show_default=True)
@click.option("--events", default=1_000_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
def main(url: str, cases: int, events: int, seed: int) -> None:
    """Fill an empty database with realistic cases and a trail that verifies."""
    dataset = generate(url, cases, events, seed)
    click.echo(
        f"{dataset.cases} cases, {dataset.events} events in {dataset.seconds:.1f} s "
        f"({dataset.events / dataset.seconds:,.0f} events/s)"
    )


if __name__ == "__main__":
    main()
