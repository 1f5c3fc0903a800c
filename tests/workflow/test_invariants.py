"""Random actions on a general-template case never break the FPIC invariants.

A Hypothesis state machine fires random triggers (every trigger of the template, valid now or
not, plus a few that do not exist) as random people (liaison, auditor, admin, State authority,
the case's facilitator and mediator, a facilitator and a mediator not assigned to it, each
mandated representative of the case's community, a representative of another community, one
whose mandate expired, one whose mandate was recorded and never confirmed) with valid,
mismatched or garbage data, lets time pass and registers missing disclosures. The case's
facilitator and mediator are assigned by the community's representative at the start. Every
call goes through ``Engine.advance`` with the case's current version; any
:class:`~fpic.workflow.errors.FpicError` refusal is fine. After every step:

(a) a consenting decision was only recorded when, just before the call, disclosure was complete
    for the protocol's languages × formats, the deliberation period had elapsed since the
    (shadowed) start of the clock, the recording representative was of the case's community
    and held a mandate in force that day (confirmed, within its period, not revoked), and no
    question, integrity flag or process-integrity grievance was open; all computed here,
    without ``fpic.workflow.guards``, and checked again on the stored decisions;
(b) the stored stage is the ``to`` stage of the last "done" event of the case chain;
(c) ``fpic.trail.audit.verify_database`` finds the trail intact;
(d) the case version is 1 + the number of "done" events after ``open_case``;

and around every call the model's own restatement of who may act (issue #12: the role in the
template's roles; a representative of the case's community, else NotFound; a mandate in force
today unless the trigger is ``without_mandate``; a facilitator or mediator assigned to the
case; written out here, not taken from ``fpic.workflow.permissions``) predicts the engine's answer
exactly: refused with ``role_not_allowed``, ``no_valid_mandate``, ``not_assigned`` or NotFound
when the model says so, never for those reasons otherwise, and never let through. An integrity
flag is reviewed, and a process-integrity grievance assessed, only by the case's facilitator or
mediator and never by an account the record names; only a representative assigns them once the
community has a mandated one. The model's shadows (deliberation clock, current disclosures,
open questions and flags, the assigned people) agree with the database, a refusal changes
nothing but adds one trail event, and an activity is recorded only under a consent that
covers it.

``FPIC_HYPOTHESIS_EXAMPLES`` sets the number of examples (default 25, 40 steps each).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from fpic.accounts import passwords
from fpic.accounts.registry import confirm_mandate, record_mandate
from fpic.storage.models import (
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_CHANNELS,
    ROLES,
    ActivityRecord,
    Case,
    CaseNote,
    Condition,
    Decision,
    Disclosure,
    Grievance,
    IntegrityFlag,
    Mandate,
    Meeting,
    Protocol,
    Question,
    Representative,
    TrailEvent,
    User,
)
from fpic.trail import audit
from fpic.workflow import engine as fpic_engine
from fpic.workflow.actors import Actor
from fpic.workflow.engine import ActionResult
from fpic.workflow.errors import FpicError, InvalidTransition, NotFound, NotPermitted
from fpic.workflow.guards import GUARDS, Guard
from fpic.workflow.permissions import CASE_ASSIGNED_ROLES
from fpic.workflow.process import shipped_templates
from tests.factories import (
    CHEAP_HASHER,
    PASSWORD,
    Community,
    World,
    decision,
    make_world,
    project_area,
    protocol,
    territory,
)

TEMPLATE = shipped_templates()["fpic-general"]
ITEMS = TEMPLATE.required_disclosure_items
#: domain.md: the outcomes under which a consent is in force (written out, not imported)
CONSENTING = ("CONSENT", "CONSENT_WITH_CONDITIONS", "PARTIAL")
CONSENT_TRIGGERS = ("give_consent", "give_consent_with_conditions", "give_partial_consent")
#: triggers after which the deliberation clock must start again (a later complete_disclosure)
CLOCK_RESETS = (
    "request_more_information",
    "defer_decision",
    "reopen_case",
    "restart_process",
    "register_material_change",
    "register_reconsent_event",
)
CONSENT_STAGES = ("agreement", "monitoring")
LANGUAGES = ("qu", "es", "ay")
FORMATS = ("written", "oral", "audio", "visual")
ACTIVITIES = ("drilling", "access_road", "camp", "open_pit")
PHASES = ("exploration", "construction", "operation")
INTEGRITY_CATEGORIES = ("bribery", "force_or_threat", "gift_outside_budget", "secret_side_deal")
TRIGGERS = sorted(TEMPLATE.triggers)
ANY_TRIGGER = [*TRIGGERS, "no_such_trigger", ""]
#: the people who act, with their roles (every role of fpic.storage.models.ROLES)
ACTOR_ROLES = {
    "liaison": "liaison",
    "auditor": "auditor",
    "admin": "admin",
    "state_authority": "state_authority",
    "facilitator": "facilitator",  # assigned to the case by the community at the start
    "facilitator_other": "facilitator",  # never assigned to the case
    "mediator": "mediator",  # assigned to the case by the community at the start
    "mediator_other": "mediator",  # never assigned to the case
    "rep1": "representative",
    "rep2": "representative",
    "rep3": "representative",
    "rep_short": "representative",  # mandated when the example starts, expired 25 days later
    "rep_expired": "representative",  # the mandate ended before the example started
    "rep_pending": "representative",  # the mandate was recorded, never confirmed
    "rep_other": "representative",  # mandated, but for another community
}
ACTOR_NAMES = tuple(ACTOR_ROLES)
REPRESENTATIVES = tuple(n for n, role in ACTOR_ROLES.items() if role == "representative")
#: issue #12, written out: the independent people act on a case only once assigned to it
INDEPENDENT_ROLES = ("facilitator", "mediator")
#: the only triggers a representative of the community fires without a mandate in force
WITHOUT_MANDATE = ("ask_question", "lodge_grievance")
#: the refusals of who may (before any FPIC rule), as the engine codes them
PERMISSION_CODES = ("role_not_allowed", "no_valid_mandate", "not_assigned")
#: whom flags and grievances name in ``concerns`` ("nobody" names no account: refused)
CONCERNABLE = ("facilitator", "mediator", "liaison", "rep1", "facilitator_other", "nobody")
START_STAGES = (
    "screening",
    "rights_holders",
    "mapping",
    "protocol",
    "disclosure",
    "deliberation",
    "negotiation",
    "decision",
    "decision",
    "agreement",
    "agreement",
    "agreement",
    "monitoring",
    "monitoring",
)
#: attempts to jump ahead while walking to the start stage
TRICKS = (
    "early_completion",
    "early_consent",
    "expired_consent",
    "open_flag",
    "open_integrity_grievance",
    "open_question",
)
#: how long the case's community mandated its three representatives (factories: from 30 days
#: before the example starts)
COMMUNITY_MANDATE_DAYS = 3650
MAX_EXAMPLES = max(1, int(os.environ.get("FPIC_HYPOTHESIS_EXAMPLES") or 25))
STEPS = 40
STATS: Counter[str] = Counter()
FAST_HASHER = CHEAP_HASHER

TEXT = st.one_of(
    st.sampled_from(
        [
            "Recorded in the field.",
            "Ayllu tantanakuypi rimanakurqayku.",
            "La asamblea pidió más información.",
            "  spaces around  ",
        ]
    ),
    st.text(min_size=1, max_size=24),
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.dates().map(date.isoformat),
)
VALUE = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=3),
    st.dictionaries(st.text(max_size=4), SCALAR, max_size=2),
)
FIELD_NAMES = st.sampled_from(
    [
        "text",
        "item",
        "language",
        "format",
        "question_id",
        "flag_id",
        "present",
        "votes_for",
        "decided_on",
        "formats",
        "content_languages",
        "upheld",
        "affected_items",
        "conditions",
        "translations",
    ]
)
GARBAGE = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.lists(VALUE, max_size=3),
    st.dictionaries(st.one_of(FIELD_NAMES, st.text(max_size=6)), VALUE, max_size=4),
    st.just({"text": "\ud800"}),
    st.just({"text": "bell\x07"}),
)


def _some(options: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(options), min_size=1, max_size=2, unique=True)


@st.composite
def protocols(draw: st.DrawFn) -> dict[str, Any]:
    rule_ = draw(st.sampled_from(["consensus", "simple_majority", "qualified_majority"]))
    overrides: dict[str, Any] = {
        "decision_rule": rule_,
        "quorum_percent": draw(st.integers(1, 100)),
        "min_deliberation_days": draw(st.one_of(st.integers(0, 3), st.integers(0, 45))),
        "content_languages": draw(_some(LANGUAGES)),
        "formats": draw(_some(FORMATS)),
    }
    if rule_ == "qualified_majority":
        overrides["majority_percent"] = draw(st.integers(51, 100))
    return protocol(**overrides)


class FpicCaseMachine(RuleBasedStateMachine):
    """One case of the general template in a fresh SQLite world, and a model of it."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="fpic-invariants-")
        # nobody signs in here: a cheap password hash makes a world per example affordable
        try:
            with mock.patch.object(passwords, "_hasher", FAST_HASHER):
                self._build_world()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        STATS["examples"] += 1

    def _build_world(self) -> None:
        self.world: World = make_world(f"sqlite:///{os.path.join(self.tmp, 'fpic.sqlite3')}")
        world = self.world
        self.community: Community = world.add_community(
            "ayllu-qollana", ["qu", "es"], reps=3, mandate_days=COMMUNITY_MANDATE_DAYS
        )
        other = world.add_community("uma-jaqi", ["ay"], reps=1)
        today = world.clock.now().date()
        #: the model of the register: each representative of the case's community, with the
        #: mandate recorded for them (first day, last day, confirmed); written out here
        self.mandates: dict[str, tuple[date, date, bool]] = {
            name: (today - timedelta(days=30), today + timedelta(days=COMMUNITY_MANDATE_DAYS), True)
            for name in ("rep1", "rep2", "rep3")
        }
        self.mandates["rep_short"] = (today - timedelta(days=10), today + timedelta(days=25), True)
        self.mandates["rep_expired"] = (
            today - timedelta(days=400),
            today - timedelta(days=1),
            True,
        )
        self.mandates["rep_pending"] = (
            today - timedelta(days=5),
            today + timedelta(days=365),
            False,
        )
        self.actors: dict[str, Actor] = {
            "liaison": world.liaison,
            "auditor": world.auditor,
            "admin": world.admin,
            "state_authority": world.state_authority,
            "facilitator": world.facilitator,
            "facilitator_other": world.add_account("facilitator-other", "facilitator"),
            "mediator": world.mediator,
            "mediator_other": world.add_account("mediator-other", "mediator"),
            "rep1": self.community.rep_actors[0],
            "rep2": self.community.rep_actors[1],
            "rep3": self.community.rep_actors[2],
            **{name: self._representative(name) for name in ("rep_short", "rep_expired")},
            "rep_pending": self._representative("rep_pending", confirm=False),
            "rep_other": other.rep_actors[0],
        }
        assert {n: a.role for n, a in self.actors.items()} == ACTOR_ROLES
        self._check_register()
        #: every representative of the case's community (members may be listed as present)
        self.members = [self.actors[name].representative_id for name in self.mandates]
        self.case_id = world.open_case(self.community)
        # where the project is, so that the case is screened (every rule of the decision
        # that reads a screening then holds; the area is changed only with the case)
        world.act(self.case_id, "record_project_area", world.liaison, project_area())
        # the model
        self.version, self.stage = 2, TEMPLATE.initial
        #: who is assigned to the case as facilitator and mediator (user ids)
        self.assigned: dict[str, int | None] = dict.fromkeys(INDEPENDENT_ROLES)
        self.suspended_from: str | None = None
        self.protocol: dict[str, Any] | None = None
        self.disclosed: set[tuple[str, str, str]] = set()
        #: the items a pending request for reconsideration's new proposal changes
        self.proposal: set[str] = set()
        self.deliberation_start: datetime | None = None
        self.questions: list[int] = []
        self.open_questions: set[int] = set()
        self.flags: list[int] = []
        self.open_flags: set[int] = set()
        self.grievances: list[int] = []
        #: process-integrity grievances not yet assessed: each one blocks consent
        self.unassessed_integrity_grievances: set[int] = set()
        self.conditions: list[int] = []
        self.verified_consents: set[int] = set()
        #: (decision id, activities, phases) of the consents, in order
        self.consents: list[tuple[int, list[str], list[str]]] = []
        #: what each integrity flag and grievance names in ``concerns`` (user names), and
        #: each grievance's category
        self.flag_concerns: dict[int, frozenset[str]] = {}
        self.grievance_facts: dict[int, tuple[str, frozenset[str]]] = {}
        self.last_refusal: FpicError | None = None
        # the community's representative chooses the case's independent people
        for role in INDEPENDENT_ROLES:
            chosen = {"role": role, "username": self.actors[role].username}
            self.must("assign_independent", "rep1", chosen)

    def _representative(self, name: str, confirm: bool = True) -> Actor:
        """Recorded by a mandated representative of the community from the assembly's
        resolution and, unless told not to, confirmed by the facilitator of its registration
        case; the period is the model's."""
        world = self.world
        valid_from, valid_until, _ = self.mandates[name]
        recorded = record_mandate(
            world.engine,
            self.community.rep_actors[0],
            self.community.id,
            name=f"Rep {name}",
            granted_by="Community assembly",
            evidence="Assembly resolution 3/2025",
            resolved_on=valid_from,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        if confirm:
            confirm_mandate(world.engine, world.facilitator, recorded.mandate_id)
        username = f"rep-{name.removeprefix('rep_')}"
        return world.add_account(username, "representative", recorded.representative_id)

    def _check_register(self) -> None:
        """The stored register is the model's (the factories' periods did not drift)."""
        with self.world.db.read_session() as s:
            for name, (valid_from, valid_until, confirmed) in self.mandates.items():
                stored = s.scalars(
                    select(Mandate).where(
                        Mandate.representative_id == self.actors[name].representative_id
                    )
                ).all()
                assert [
                    (m.valid_from, m.valid_until, m.confirmed_at is not None, m.revoked_on)
                    for m in stored
                ] == [(valid_from, valid_until, confirmed, None)], name

    def teardown(self) -> None:
        self.world.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- firing, with the checks around every call -----------------------------------------

    def fire(self, trigger: str, actor_name: str, data: Any) -> ActionResult | None:
        actor = self.actors[actor_name]
        now = self.world.clock.now()
        before = self._snapshot()
        objections = self._consent_objections(actor, now) if trigger in CONSENT_TRIGGERS else None
        barred = self.who_may_not(trigger, actor_name, now.date())
        STATS["calls"] += 1
        STATS[f"model:{barred[0] if barred else 'may'}"] += 1
        try:
            result = self.world.engine.advance(
                self.case_id, trigger, actor, data, self.version, confirmation=PASSWORD
            )
        except FpicError as refusal:
            STATS[f"refused:{refusal.code}"] += 1
            if trigger in CONSENT_TRIGGERS and self.stage == "decision":
                for reason in refusal.reasons:
                    STATS[f"consent_refused:{reason.code}"] += 1
            self.last_refusal = refusal
            self._check_refused_as_predicted(trigger, actor_name, barred, refusal)
            self._check_refusal(trigger, refusal, before)
            return None
        STATS["done"] += 1
        STATS[f"done:{trigger}"] += 1
        self._check_success(trigger, actor_name, data, now, result, objections, barred)
        return result

    # --- who may: the model's own restatement of issue #12 ---------------------------------

    def mandated(self, actor_name: str, day: date) -> bool:
        """A mandate in force on ``day``: confirmed, and ``day`` within its period (nothing
        is revoked here)."""
        if actor_name not in self.mandates:
            return False
        valid_from, valid_until, confirmed = self.mandates[actor_name]
        return confirmed and valid_from <= day <= valid_until

    def who_may_not(self, trigger: str, actor_name: str, day: date) -> tuple[str, str] | None:
        """Why this person may not fire ``trigger`` on the case at all, before any FPIC rule
        (the code the engine must answer, and the model's reason); None when they may."""
        actor = self.actors[actor_name]
        if actor.role == "representative" and actor_name not in self.mandates:
            return "not_found", "a representative of another community does not see the case"
        spec = TEMPLATE.triggers.get(trigger)
        if spec is None:
            return "unknown_trigger", f"the template has no trigger {trigger!r}"
        if actor.role not in spec.roles:
            return "role_not_allowed", f"{actor.role} is not among {', '.join(spec.roles)}"
        if (
            actor.role == "representative"
            and trigger not in WITHOUT_MANDATE
            and not self.mandated(actor_name, day)
        ):
            return "no_valid_mandate", f"no mandate in force on {day.isoformat()}"
        if actor.role in INDEPENDENT_ROLES and self.assigned[actor.role] != actor.user_id:
            return "not_assigned", f"not the {actor.role} assigned to the case"
        return None

    def _check_refused_as_predicted(
        self, trigger: str, actor_name: str, barred: tuple[str, str] | None, refusal: FpicError
    ) -> None:
        codes = [reason.code for reason in refusal.reasons]
        said = f"{trigger} by {actor_name}: the engine said {refusal.code} {codes}"
        if barred is None:
            assert not isinstance(refusal, NotFound | NotPermitted), (
                f"{said}, though the model lets this person"
            )
            return
        code, why = barred
        if code == "not_found":
            as_predicted = isinstance(refusal, NotFound)
        elif code == "unknown_trigger":
            as_predicted = isinstance(refusal, InvalidTransition)
        else:
            as_predicted = isinstance(refusal, NotPermitted) and codes == [code]
        assert as_predicted, f"{said}; the model expects {code} ({why})"
        STATS[f"barred:{code}"] += 1

    def _snapshot(self) -> tuple[Any, ...]:
        """The case row and everything an action may write: a refusal must change none of it."""

        def count(model: Any, *where: Any) -> Any:
            return (
                select(func.count())
                .select_from(model)
                .where(model.case_id == self.case_id, *where)
                .scalar_subquery()
            )

        with self.world.db.read_session() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            row = (
                case.facilitator_id,
                case.mediator_id,
                case.stage,
                case.version,
                case.updated_at,
                case.stage_entered_at,
                case.deliberation_started_at,
                case.suspended_from,
                case.withheld_at,
                case.reconsideration_requested_at,
                case.state_approved_without_agreement,
            )
            counts = s.execute(
                select(
                    count(Protocol),
                    count(Disclosure),
                    count(Disclosure, Disclosure.superseded_at.is_not(None)),
                    count(Meeting),
                    count(Question),
                    count(Question, Question.answered_at.is_not(None)),
                    count(IntegrityFlag),
                    count(IntegrityFlag, IntegrityFlag.resolved_at.is_not(None)),
                    count(Grievance),
                    count(Grievance, Grievance.assessed_at.is_not(None)),
                    count(Decision),
                    count(Condition),
                    count(ActivityRecord),
                    count(CaseNote),
                    select(func.count()).select_from(TrailEvent).scalar_subquery(),
                )
            ).one()
        return (row, tuple(counts))

    def _last_event(self) -> TrailEvent:
        with self.world.db.read_session() as s:
            event = s.scalars(select(TrailEvent).order_by(TrailEvent.id.desc()).limit(1)).one()
            s.expunge(event)
            return event

    def _check_refusal(self, trigger: str, refusal: FpicError, before: tuple[Any, ...]) -> None:
        (row, counts), (row_after, counts_after) = before, self._snapshot()
        assert row_after == row, f"refused {trigger} ({refusal.code}) changed the case"
        assert counts_after[:-1] == counts[:-1], f"refused {trigger} ({refusal.code}) wrote rows"
        assert counts_after[-1] == counts[-1] + 1, "a refusal adds exactly one trail event"
        event = self._last_event()
        data = json.loads(event.data)
        assert (event.outcome, event.action) == ("refused", trigger[:60])
        assert data["error"] == refusal.code
        assert data["version_seen"] == self.version

    def _check_success(
        self,
        trigger: str,
        actor_name: str,
        data: Any,
        now: datetime,
        result: ActionResult,
        objections: list[str] | None,
        barred: tuple[str, str] | None,
    ) -> None:
        actor = self.actors[actor_name]
        spec = TEMPLATE.triggers[trigger]
        assert result.version == self.version + 1
        expected_stage = {"=": self.stage, "@suspended_from": self.suspended_from}.get(
            spec.dest, spec.dest
        )
        assert result.stage == expected_stage, (trigger, self.stage, result.stage)
        event = self._last_event()
        assert (event.outcome, event.action, event.seq) == ("done", trigger, result.event_seq)
        assert (event.from_stage, event.to_stage) == (self.stage, result.stage)
        assert json.loads(event.data)["version"] == result.version
        if objections is not None:
            # (a) the FPIC preconditions of consent held just before the call
            assert not objections, f"{trigger} by {actor.username} succeeded: {objections}"
            with self.world.db.read_session() as s:
                recorded = s.get(Decision, result.records["decision_id"])
                assert recorded is not None
                assert recorded.outcome == spec.outcome
                assert recorded.recorded_at == now
                assert recorded.recorded_by_id == actor.user_id
                self.consents.append(
                    (recorded.id, list(recorded.scope_activities), list(recorded.scope_phases))
                )
            self.verified_consents.add(result.records["decision_id"])
            STATS["consents_verified"] += 1
        if trigger == "review_integrity_flag":
            flag_id = result.records["flag_id"]
            self._check_independent(actor_name, f"reviewed integrity flag {flag_id}")
            self._check_not_named(actor_name, self.flag_concerns[flag_id], f"flag {flag_id}")
        elif trigger == "assess_grievance":
            grievance_id = result.records["grievance_id"]
            category, concerns = self.grievance_facts[grievance_id]
            if category == "process_integrity":
                what = f"assessed process-integrity grievance {grievance_id}"
                self._check_independent(actor_name, what)
                self._check_not_named(actor_name, concerns, f"grievance {grievance_id}")
        elif trigger == "assign_independent":
            self._check_assignment(actor_name, data, now.date(), result)
        # who may: nobody the model bars goes through
        assert barred is None, (
            f"{trigger} by {actor_name} went through; the model refuses it: "
            f"{barred[0]} ({barred[1]})"
        )
        if trigger == "record_activity_start":
            self._check_activity_covered(data)
        self._update_model(trigger, data, now, result)

    def _check_independent(self, actor_name: str, what: str) -> None:
        """Integrity is judged by the case's own facilitator or mediator: never the
        proponent's liaison, a representative, or an independent of another case."""
        actor = self.actors[actor_name]
        judge = actor.role in INDEPENDENT_ROLES and self.assigned[actor.role] == actor.user_id
        assert judge, (
            f"{actor_name} ({actor.role}) {what}: only the case's facilitator or mediator may"
        )
        STATS["integrity_judged_independently"] += 1

    def _check_not_named(self, actor_name: str, concerns: frozenset[str], what: str) -> None:
        username = self.actors[actor_name].username
        assert username not in concerns, f"{actor_name} judged {what}, which names them"

    def _check_assignment(
        self, actor_name: str, data: dict[str, Any], day: date, result: ActionResult
    ) -> None:
        """The community chooses its independent people: once one of its representatives
        holds a mandate in force, nobody else assigns them."""
        role = self.actors[actor_name].role
        assert role == "representative" or not any(self.mandated(n, day) for n in self.mandates), (
            f"{actor_name} ({role}) assigned the case's {data['role']} though the community "
            "has a mandated representative"
        )
        accounts = {a.username: a for a in self.actors.values()}
        chosen = accounts[data["username"]]
        assert chosen.role == data["role"], f"a {chosen.role} assigned as {data['role']}"
        assert result.records == {"role": chosen.role, "user_id": chosen.user_id}

    def _check_activity_covered(self, data: dict[str, Any]) -> None:
        """No project activity without a consent in force that covers it."""
        assert self.stage in CONSENT_STAGES, f"activity recorded at stage {self.stage}"
        assert self.consents, "activity recorded without any consent"
        _, activities, phases = self.consents[-1]
        assert data["activity"].strip() in activities
        phase = (data.get("phase") or "").strip()
        assert not phase or not phases or phase in phases

    def _update_model(self, trigger: str, data: Any, now: datetime, result: ActionResult) -> None:
        if trigger == "suspend_process":
            self.suspended_from = self.stage
        elif trigger == "resume_process":
            self.suspended_from = None
        elif trigger == "agree_protocol":
            self.protocol = dict(data)
        elif trigger in ("register_disclosure", "register_disclosures"):
            for item in data.get("items") or [data.get("item")]:
                for language in data["languages"]:
                    for fmt in data["formats"]:
                        self.disclosed.add((item, language, fmt))
        elif trigger == "complete_disclosure":
            self.deliberation_start = now
        elif trigger in ("register_material_change", "register_reconsent_event"):
            affected = set(data.get("affected_items") or ITEMS)
            self.disclosed = {key for key in self.disclosed if key[0] not in affected}
        elif trigger == "request_reconsideration":
            self.proposal = set(data["proposal_items"])
        elif trigger == "reopen_case":
            # the new proposal a pending request made is presented again
            self.disclosed = {key for key in self.disclosed if key[0] not in self.proposal}
            self.proposal = set()
        elif trigger == "restart_process":
            self.disclosed = set()
        elif trigger == "ask_question":
            self.questions.append(result.records["question_id"])
            self.open_questions.add(result.records["question_id"])
        elif trigger == "answer_question":
            self.open_questions.discard(int(data["question_id"]))
        elif trigger == "raise_integrity_flag":
            self.flags.append(result.records["flag_id"])
            self.open_flags.add(result.records["flag_id"])
            self.flag_concerns[result.records["flag_id"]] = frozenset(data.get("concerns") or ())
        elif trigger == "review_integrity_flag":
            self.open_flags.discard(int(data["flag_id"]))
        elif trigger == "lodge_grievance":
            self.grievances.append(result.records["grievance_id"])
            concerns = frozenset(data.get("concerns") or ())
            self.grievance_facts[result.records["grievance_id"]] = (data["category"], concerns)
            if data["category"] == "process_integrity":
                self.unassessed_integrity_grievances.add(result.records["grievance_id"])
        elif trigger == "assign_independent":
            self.assigned[result.records["role"]] = result.records["user_id"]
        elif trigger == "assess_grievance":
            self.unassessed_integrity_grievances.discard(int(data["grievance_id"]))
        if "condition_ids" in result.records:
            self.conditions.extend(result.records["condition_ids"])
        if trigger in CLOCK_RESETS:
            self.deliberation_start = None
        self.version, self.stage = result.version, result.stage

    def _consent_objections(self, actor: Actor, now: datetime) -> list[str]:
        """What forbids a consent now, worked out from the model and the stored rows."""
        objections = []
        today = now.date()
        with self.world.db.read_session() as s:
            agreed = s.scalars(select(Protocol).where(Protocol.case_id == self.case_id)).first()
            if agreed is None:
                objections.append("no protocol")
            else:
                required = {
                    (item, language, fmt)
                    for item in ITEMS
                    for language in agreed.content_languages
                    for fmt in agreed.formats
                }
                if required - self.disclosed:
                    objections.append(f"{len(required - self.disclosed)} disclosures missing")
                if self.deliberation_start is None:
                    objections.append("deliberation not started")
                elif now < self.deliberation_start + timedelta(days=agreed.min_deliberation_days):
                    objections.append(
                        f"deliberation running since {self.deliberation_start.isoformat()} "
                        f"({agreed.min_deliberation_days} days)"
                    )
            community_id = s.scalar(select(Case.community_id).where(Case.id == self.case_id))
            rep = (
                s.get(Representative, actor.representative_id)
                if actor.representative_id is not None
                else None
            )
            if rep is None or rep.community_id != community_id:
                objections.append("not a representative of the case's community")
            elif not self._in_force(s, rep.id, today):
                objections.append(
                    f"no mandate valid on {today.isoformat()} (confirmed, in period, not revoked)"
                )
        if self.open_questions:
            objections.append(f"open questions {sorted(self.open_questions)}")
        if self.open_flags:
            objections.append(f"open integrity flags {sorted(self.open_flags)}")
        if self.unassessed_integrity_grievances:
            objections.append(
                f"unassessed integrity grievances {sorted(self.unassessed_integrity_grievances)}"
            )
        return objections

    @staticmethod
    def _in_force(s: Any, representative_id: int, day: date) -> bool:
        """From the stored register: some mandate of this representative is confirmed, covers
        ``day`` and was not ended by the community on or before it."""
        mandates = s.scalars(
            select(Mandate).where(Mandate.representative_id == representative_id)
        ).all()
        return any(
            m.confirmed_at is not None
            and m.valid_from <= day <= m.valid_until
            and (m.revoked_on is None or day < m.revoked_on)
            for m in mandates
        )

    # --- data builders ---------------------------------------------------------------------

    def _day(self, data: st.DataObject) -> str:
        """Today or a few days back; now and then tomorrow (which must be refused)."""
        back = data.draw(st.integers(-1, 3), label="days back")
        return (self.world.clock.now().date() - timedelta(days=back)).isoformat()

    def _language(self, data: st.DataObject) -> str:
        languages = self.protocol["content_languages"] if self.protocol else LANGUAGES
        return data.draw(st.sampled_from(list(languages)))

    def build_note(self, data: st.DataObject) -> dict[str, Any]:
        note: dict[str, Any] = {"text": data.draw(TEXT)}
        if data.draw(st.booleans()):
            note["language"] = self._language(data)
        return note

    def build_project_area(self, data: st.DataObject) -> dict[str, Any]:
        # the same area again, or none (refused): the project is only this case's
        return project_area() if data.draw(st.booleans()) else {"text": data.draw(TEXT)}

    def build_screening(self, data: st.DataObject) -> dict[str, Any]:
        return {"buffer_km": data.draw(st.integers(0, 100))}

    def build_territory(self, data: st.DataObject) -> dict[str, Any]:
        return territory() if data.draw(st.booleans()) else self.build_note(data)

    def build_assessment(self, data: st.DataObject) -> dict[str, Any]:
        # the world has no protected area: every assessment is refused
        return {"protected_area": "1:1", "assessed_by": "Ana Quispe", "text": data.draw(TEXT)}

    def build_protocol(self, data: st.DataObject) -> dict[str, Any]:
        return data.draw(protocols())

    def build_disclosure(self, data: st.DataObject) -> dict[str, Any]:
        formats = self.protocol["formats"] if self.protocol else FORMATS
        language = self._language(data)
        return {
            "item": data.draw(st.sampled_from(ITEMS)),
            "languages": [language],
            "formats": data.draw(st.lists(st.sampled_from(list(formats)), min_size=1, unique=True)),
            "title": data.draw(TEXT),
            "channel": "community hall",
            "disclosed_on": self._day(data),
            "translator": None if language == "es" else "Rosa Mamani",
        }

    def build_disclosure_package(self, data: st.DataObject) -> dict[str, Any]:
        """Several items at once (issue 20): the model counts each as a disclosure of its own."""
        single = self.build_disclosure(data)
        del single["item"]
        items = data.draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=4, unique=True))
        return {**single, "items": items}

    def build_reconsideration_request(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "text": data.draw(TEXT),
            "proposal_items": data.draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=3)),
        }

    def build_reconsent_event(self, data: st.DataObject) -> dict[str, Any]:
        event = data.draw(st.sampled_from(("change_of_control", "new_phase", "expiry")))
        return {
            "event": event,
            "happened_on": self._day(data),
            "affected_items": data.draw(
                st.lists(st.sampled_from(ITEMS), min_size=event != "expiry", max_size=3)
            ),
            "text": data.draw(TEXT),
        }

    def build_material_change(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "text": data.draw(TEXT),
            "affected_items": data.draw(st.lists(st.sampled_from(ITEMS), max_size=3)),
        }

    def build_meeting(self, data: st.DataObject) -> dict[str, Any]:
        language = self._language(data)
        return {
            "kind": "assembly",
            "held_on": self._day(data),
            "place": "Community hall",
            "languages_used": [language],
            "interpreter": "Rosa Mamani",
            "attendance_women": data.draw(st.integers(0, 200)),
            "attendance_men": data.draw(st.integers(0, 200)),
            "minutes_language": language,
            "minutes_original": data.draw(TEXT),
        }

    def build_question(self, data: st.DataObject) -> dict[str, Any]:
        return {"text": data.draw(TEXT), "language": self._language(data)}

    def build_answer(self, data: st.DataObject) -> dict[str, Any]:
        ids = st.sampled_from(self.questions) if self.questions else st.integers(1, 5)
        return {
            "question_id": data.draw(ids),
            "answer": data.draw(TEXT),
            "language": self._language(data),
        }

    def build_integrity_flag(self, data: st.DataObject) -> dict[str, Any]:
        flag = {
            "category": data.draw(st.sampled_from(INTEGRITY_CATEGORIES)),
            "description": data.draw(TEXT),
        }
        return flag | self._concerns(data)

    def _concerns(self, data: st.DataObject) -> dict[str, Any]:
        """Often nobody; else one or two of the people who might judge it (or no account)."""
        if data.draw(st.booleans(), label="names nobody"):
            return {}
        names = data.draw(_some(CONCERNABLE), label="concerns")
        return {
            "concerns": [
                self.actors[n].username if n in self.actors else "no-such-account" for n in names
            ]
        }

    def build_assignment(self, data: st.DataObject) -> dict[str, Any]:
        """The case's own facilitator or mediator again (the others are never assigned), or
        someone without that role, which must be refused."""
        assignment = {
            "role": data.draw(st.sampled_from(INDEPENDENT_ROLES), label="role"),
            "username": self.actors[
                data.draw(st.sampled_from(["facilitator", "mediator", "liaison", "rep1"]))
            ].username,
        }
        if data.draw(st.booleans()):
            assignment["text"] = data.draw(TEXT)
        return assignment

    def build_resolve(self, data: st.DataObject) -> dict[str, Any]:
        ids = st.sampled_from(self.flags) if self.flags else st.integers(1, 5)
        return {
            "flag_id": data.draw(ids),
            "resolution": data.draw(TEXT),
            "upheld": data.draw(st.booleans()),
        }

    def _grievance_id(self, data: st.DataObject) -> int:
        ids = st.sampled_from(self.grievances) if self.grievances else st.integers(1, 5)
        return data.draw(ids, label="grievance")

    def build_grievance(self, data: st.DataObject) -> dict[str, Any]:
        anonymous = data.draw(st.booleans(), label="anonymous")
        return {
            "category": data.draw(st.sampled_from(GRIEVANCE_CATEGORIES)),
            "channel": data.draw(st.sampled_from(GRIEVANCE_CHANNELS)),
            "anonymous": anonymous,
            # now and then a name with an anonymous grievance, which must be refused
            "complainant": None if anonymous and data.draw(st.booleans()) else data.draw(TEXT),
            "language": self._language(data),
            "text": data.draw(TEXT),
            "received_on": self._day(data),
        } | self._concerns(data)

    def build_grievance_step(self, data: st.DataObject) -> dict[str, Any]:
        return {"grievance_id": self._grievance_id(data), "text": data.draw(TEXT)}

    def build_grievance_assessment(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "grievance_id": self._grievance_id(data),
            "assessment": data.draw(TEXT),
            "upheld": data.draw(st.booleans()),
        }

    def build_escalation(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "grievance_id": self._grievance_id(data),
            "mediator": data.draw(TEXT),
            "text": data.draw(TEXT),
        }

    def build_retaliation_check(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "grievance_id": self._grievance_id(data),
            "retaliation_found": data.draw(st.booleans()),
            "note": data.draw(TEXT),
        }

    def build_grievance_closure(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "grievance_id": self._grievance_id(data),
            "resolution": data.draw(TEXT),
            "complainant_satisfied": data.draw(st.sampled_from(("yes", "no", "not_asked"))),
        }

    def build_condition_report(self, data: st.DataObject) -> dict[str, Any]:
        ids = st.sampled_from(self.conditions) if self.conditions else st.integers(1, 5)
        report = {"condition_id": data.draw(ids, label="condition"), "evidence": data.draw(TEXT)}
        if data.draw(st.booleans(), label="progress (not a breach)"):
            report["status"] = data.draw(st.sampled_from(("in_progress", "met")))
        return report

    def build_monitoring_report(self, data: st.DataObject) -> dict[str, Any]:
        report = self.build_note(data)
        if data.draw(st.booleans(), label="joint review"):
            # now and then without naming the community's monitors, which must be refused
            report["joint"] = True
            if data.draw(st.booleans()):
                report["community_monitors"] = data.draw(TEXT)
        return report

    def build_rehabilitation(self, data: st.DataObject) -> dict[str, Any]:
        return {"text": data.draw(TEXT), "completed_on": self._day(data)}

    def build_decision(self, data: st.DataObject) -> dict[str, Any]:
        day = self._day(data)
        if data.draw(st.booleans(), label="decision that passes any rule"):
            return self.full_decision(decided_on=day)
        present = data.draw(st.lists(st.sampled_from(self.members), unique=True))
        votes_for = data.draw(st.integers(0, len(present)))
        votes_against = data.draw(st.integers(0, len(present) - votes_for))
        return decision(
            self.world,
            self.community,
            decided_on=day,
            present=present,
            votes_for=votes_for,
            votes_against=votes_against,
            consensus=data.draw(st.booleans()),
            consensus_note=data.draw(st.sampled_from([None, "Agreed without objection."])),
            scope_activities=data.draw(st.lists(st.sampled_from(ACTIVITIES), unique=True)),
            scope_phases=data.draw(st.lists(st.sampled_from(PHASES), unique=True)),
            rejected_components=data.draw(st.lists(st.sampled_from(ACTIVITIES), max_size=1)),
            conditions=[self._condition(day)] if data.draw(st.booleans()) else [],
        )

    def full_decision(self, **overrides: Any) -> dict[str, Any]:
        """Every member present and in favour: meets any quorum and decision rule."""
        # consensus is recorded only where the protocol decides by it (elsewhere it is refused)
        by_consensus = self.protocol is None or self.protocol["decision_rule"] == "consensus"
        fields = {
            "present": self.members,
            # the three whose mandates never lapse: the others may not be entitled on the day
            "votes_for": len(self.community.reps),
            "consensus": by_consensus,
            "consensus_note": "Agreed in the assembly; no one raised an objection.",
            "rejected_components": ["open_pit"],
            "conditions": [self._condition(self.world.clock.now().date().isoformat())],
            **overrides,
        }
        return decision(self.world, self.community, **fields)

    def _condition(self, day: str) -> dict[str, Any]:
        return {
            "text": "Water monitoring with the community every quarter.",
            "language": "es",
            "obligated_party": "Andes Copper S.A.",
            "due_on": day,
            "verification": "Joint monitoring report",
        }

    def build_activity(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "activity": data.draw(st.sampled_from(ACTIVITIES)),
            "phase": data.draw(st.sampled_from([None, *PHASES])),
            "started_on": self._day(data),
        }

    def build_withdrawal(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "text": data.draw(TEXT),
            "decided_on": self._day(data),
            "deciding_body": "Community assembly",
            "activities_affected": data.draw(st.lists(st.sampled_from(ACTIVITIES), min_size=1)),
        }

    def build_agreement(self, data: st.DataObject) -> dict[str, Any]:
        return {
            "text": "Agreement validated by the assembly.",
            "signed_on": self._day(data),
            "signatories": ["Assembly president", "Andes Copper S.A."],
        }

    def payload(self, trigger: str, data: st.DataObject) -> Any:
        """Mostly valid data for the trigger's effect; sometimes another effect's; or garbage."""
        spec = TEMPLATE.triggers.get(trigger)
        effect = spec.effect if spec else "note"
        kind = data.draw(st.sampled_from(["own"] * 6 + ["other", "garbage"]), label="data kind")
        if kind == "garbage":
            return data.draw(GARBAGE, label="garbage")
        if kind == "other":
            effect = data.draw(st.sampled_from(sorted(BUILDERS)), label="other effect")
        return BUILDERS[effect](self, data)

    # --- walking along the main path -------------------------------------------------------

    def disclose_missing(self) -> None:
        assert self.protocol is not None
        for item in ITEMS:
            for language in self.protocol["content_languages"]:
                for fmt in self.protocol["formats"]:
                    if (item, language, fmt) in self.disclosed:
                        continue
                    self.fire(
                        "register_disclosure",
                        "liaison",
                        {
                            "item": item,
                            "languages": [language],
                            "formats": [fmt],
                            "title": f"{item} ({language}, {fmt})",
                            "channel": "community hall",
                            "disclosed_on": self.world.clock.now().date().isoformat(),
                        },
                    )

    def must(self, trigger: str, actor_name: str, data: Any) -> ActionResult:
        result = self.fire(trigger, actor_name, data)
        assert result is not None, f"walking: {trigger} refused: {self.last_refusal}"
        return result

    def walk_to(
        self, target: str, agreed: dict[str, Any], tricks: frozenset[str] = frozenset()
    ) -> None:
        """Along the main path to ``target``; ``tricks`` try to jump ahead on the way (a sound
        engine refuses each, a broken one lets the case run on and a check catches it)."""
        note = {"text": "Recorded in the field."}
        simple = {
            "screening": ("screen_in", "liaison"),
            "rights_holders": ("confirm_rights_holders", "liaison"),
            "mapping": ("complete_mapping", "rep1", territory()),
            "deliberation": ("open_negotiation", "rep1"),
            "negotiation": ("convene_decision", "rep1"),
        }
        for _ in range(len(START_STAGES)):
            if self.stage == target:
                return
            if self.stage in simple:
                trigger, who, *data = simple[self.stage]
                self.must(trigger, who, data[0] if data else note)
            elif self.stage == "protocol":
                self.must("agree_protocol", "rep1", agreed)
            elif self.stage == "disclosure":
                if "early_completion" in tricks:
                    STATS["trick:early_completion"] += 1
                    if self.fire("complete_disclosure", "liaison", note):
                        continue
                self.disclose_missing()
                self.must("complete_disclosure", "liaison", note)
            elif self.stage == "decision":
                self._decide(tricks)
            elif self.stage == "agreement":
                day = self.world.clock.now().date().isoformat()
                self.must(
                    "validate_agreement",
                    "rep3",
                    {"text": "Validated.", "signed_on": day, "signatories": ["President"]},
                )
            else:
                raise AssertionError(f"the walk has no way on from {self.stage}")
        assert self.stage == target

    def _decide(self, tricks: frozenset[str]) -> None:
        def consent(actor_name: str, trick: str) -> bool:
            STATS[f"trick:{trick}"] += 1
            return self.fire("give_consent", actor_name, self.full_decision()) is not None

        assert self.protocol is not None
        if "early_consent" in tricks and consent("rep2", "early_consent"):
            return
        self.world.clock.advance(days=self.protocol["min_deliberation_days"])
        if "expired_consent" in tricks and consent("rep_expired", "expired_consent"):
            return
        if "open_flag" in tricks:
            flag = {
                "category": "bribery",
                "description": "Envelopes after the meeting, handed over by the facilitator.",
                "concerns": [self.actors["facilitator"].username],
            }
            flag_id = self.must("raise_integrity_flag", "liaison", flag).records["flag_id"]
            if consent("rep2", "open_flag"):
                return
            review = {"flag_id": flag_id, "resolution": "Not substantiated.", "upheld": False}
            # the person it names clears it: refused (a check fails if it goes through)
            self.fire("review_integrity_flag", "facilitator", review)
            self.must("review_integrity_flag", "mediator", review)
        if "open_integrity_grievance" in tricks:
            complaint = {
                "category": "process_integrity",
                "channel": "anonymous_box",
                "anonymous": True,
                "language": "qu",
                "text": "Votos comprados con víveres.",
                "received_on": self.world.clock.now().date().isoformat(),
            }
            lodged = self.must("lodge_grievance", "rep3", complaint)
            grievance = {"grievance_id": lodged.records["grievance_id"]}
            if consent("rep2", "open_integrity_grievance"):
                return
            self.must("acknowledge_grievance", "liaison", {**grievance, "text": "Received."})
            assessed = {**grievance, "assessment": "No evidence found.", "upheld": False}
            # the proponent's liaison clears it: refused (a check fails if it goes through)
            self.fire("assess_grievance", "liaison", assessed)
            self.must("assess_grievance", "facilitator", assessed)
        if "open_question" in tricks:
            asked = {"text": "Who pays for the water?", "language": "qu"}
            question_id = self.must("ask_question", "rep1", asked).records["question_id"]
            if consent("rep2", "open_question"):
                return
            answer = {"question_id": question_id, "answer": "The company.", "language": "qu"}
            self.must("answer_question", "liaison", answer)
        self.must("give_consent", "rep2", self.full_decision())

    # --- the rules -------------------------------------------------------------------------

    @initialize(
        start=st.sampled_from(START_STAGES),
        agreed=protocols(),
        tricks=st.fixed_dictionaries({t: st.booleans() for t in TRICKS}).map(
            lambda chosen: frozenset(t for t, on in chosen.items() if on)
        ),
    )
    def start_somewhere(self, start: str, agreed: dict[str, Any], tricks: frozenset[str]) -> None:
        self.walk_to(start, agreed, tricks)
        STATS[f"start:{start}"] += 1

    @rule(data=st.data())
    def act_anyhow(self, data: st.DataObject) -> None:
        """Any trigger of the template (or none), by anyone, with any data."""
        trigger = data.draw(st.sampled_from(ANY_TRIGGER), label="trigger")
        actor = data.draw(st.sampled_from(ACTOR_NAMES), label="actor")
        self.fire(trigger, actor, self.payload(trigger, data))

    @precondition(lambda self: bool(TEMPLATE.triggers_from(self.stage)))
    @rule(data=st.data())
    def act_in_stage(self, data: st.DataObject) -> None:
        """A trigger of the current stage, mostly by someone of a role allowed to fire it."""
        names = sorted(t.name for t in TEMPLATE.triggers_from(self.stage))
        trigger = data.draw(st.sampled_from(names), label="trigger")
        roles = TEMPLATE.triggers[trigger].roles
        fitting = [n for n in ACTOR_NAMES if self.actors[n].role in roles]
        anyone = data.draw(st.integers(0, 4), label="anyone") == 0
        actor = data.draw(st.sampled_from(list(ACTOR_NAMES) if anyone else fitting), label="actor")
        self.fire(trigger, actor, self.payload(trigger, data))

    @rule(data=st.data())
    def try_to_consent(self, data: st.DataObject) -> None:
        """A consent attempt by some representative (or the liaison): the property's target."""
        trigger = data.draw(st.sampled_from(CONSENT_TRIGGERS), label="trigger")
        actor = data.draw(
            st.sampled_from([*REPRESENTATIVES, "liaison", "facilitator", "state_authority"]),
            label="actor",
        )
        self.fire(trigger, actor, self.payload(trigger, data))

    @rule(data=st.data())
    def judge_integrity(self, data: st.DataObject) -> None:
        """Someone reviews a flag or assesses a grievance: mostly one the model has."""
        trigger = data.draw(
            st.sampled_from(["review_integrity_flag", "assess_grievance"]), label="trigger"
        )
        actor = data.draw(st.sampled_from(ACTOR_NAMES), label="actor")
        self.fire(trigger, actor, self.payload(trigger, data))

    @rule(data=st.data())
    def ask_what_may_be_done(self, data: st.DataObject) -> None:
        """What one person may do now (``Engine.options``, what an interface shows): every
        trigger of the stage that the model bars carries exactly its refusal, the others
        none of who may's."""
        actor_name = data.draw(st.sampled_from(ACTOR_NAMES), label="actor")
        actor = self.actors[actor_name]
        with self.world.db.read_session() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            options = self.world.engine.options(s, case, actor)
        assert sorted(o.trigger.name for o in options) == sorted(
            t.name for t in TEMPLATE.triggers_from(self.stage)
        )
        day = self.world.clock.now().date()
        for option in options:
            name = option.trigger.name
            codes = [reason.code for reason in option.reasons]
            barred = self.who_may_not(name, actor_name, day)
            if barred is not None and barred[0] == "not_found":
                # an interface never shows another community's case; the engine's answer
                # would still refuse them
                assert codes, f"{name} offered to {actor_name}"
            elif barred is not None:
                assert codes == [barred[0]], f"{name} for {actor_name}: {codes}, model {barred}"
            else:
                assert not set(codes) & set(PERMISSION_CODES), f"{name} for {actor_name}: {codes}"
            STATS["options_checked"] += 1

    @rule(days=st.integers(0, 40), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.world.clock.advance(days=days, hours=hours)

    @precondition(lambda self: self.stage == "disclosure" and self.protocol is not None)
    @rule()
    def disclose_everything_missing(self) -> None:
        self.disclose_missing()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def case_trail_and_model_agree(self) -> None:
        STATS["checks"] += 1
        with self.world.db.read_session() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            done = s.execute(
                select(TrailEvent.action, TrailEvent.to_stage)
                .where(
                    TrailEvent.chain == audit.case_chain(self.case_id),
                    TrailEvent.outcome == "done",
                )
                .order_by(TrailEvent.seq)
            ).all()
            assert done[0].action == "open_case"
            # (b) the stored stage is where the last completed action left the case
            assert case.stage == done[-1].to_stage
            # (d) one version per completed action
            assert case.version == 1 + len(done[1:])
            # (c) the trail verifies
            verification = audit.verify_database(s)
            assert verification.intact, verification.breaks
            # (a) every consenting decision on record was checked when it was made
            consents = set(
                s.scalars(
                    select(Decision.id).where(
                        Decision.case_id == self.case_id, Decision.outcome.in_(CONSENTING)
                    )
                )
            )
            assert consents == self.verified_consents
            # ... and each by a representative of the case's community holding a mandate in
            # force on the day it was recorded (read back from the stored rows)
            for recorded in s.scalars(select(Decision).where(Decision.id.in_(consents))):
                user = s.get(User, recorded.recorded_by_id)
                assert user is not None
                rep = s.get(Representative, user.representative_id or 0)
                assert rep is not None, f"consent {recorded.id} by {user.username}"
                assert rep.community_id == case.community_id, user.username
                assert self._in_force(s, rep.id, recorded.recorded_at.date()), user.username
            # the model's shadows agree with what is stored
            assert (case.version, case.stage) == (self.version, self.stage)
            assert (case.facilitator_id, case.mediator_id) == (
                self.assigned["facilitator"],
                self.assigned["mediator"],
            )
            assert case.deliberation_started_at == self.deliberation_start
            current = {
                (d.item, d.language, d.format)
                for d in s.scalars(
                    select(Disclosure).where(
                        Disclosure.case_id == self.case_id, Disclosure.superseded_at.is_(None)
                    )
                )
            }
            assert current == self.disclosed
            open_questions = set(
                s.scalars(
                    select(Question.id).where(
                        Question.case_id == self.case_id, Question.answered_at.is_(None)
                    )
                )
            )
            assert open_questions == self.open_questions
            open_flags = set(
                s.scalars(
                    select(IntegrityFlag.id).where(
                        IntegrityFlag.case_id == self.case_id, IntegrityFlag.resolved_at.is_(None)
                    )
                )
            )
            assert open_flags == self.open_flags


BUILDERS = {
    "note": FpicCaseMachine.build_note,
    "deferral": FpicCaseMachine.build_note,
    "suspend": FpicCaseMachine.build_note,
    "resume": FpicCaseMachine.build_note,
    "reconsideration_request": FpicCaseMachine.build_reconsideration_request,
    "reconsent_event": FpicCaseMachine.build_reconsent_event,
    "decline": FpicCaseMachine.build_note,
    "reopen": FpicCaseMachine.build_note,
    "restart": FpicCaseMachine.build_note,
    "state_approval": FpicCaseMachine.build_note,
    "complete_disclosure": FpicCaseMachine.build_note,
    "protocol": FpicCaseMachine.build_protocol,
    "disclosure": FpicCaseMachine.build_disclosure,
    "disclosure_package": FpicCaseMachine.build_disclosure_package,
    "material_change": FpicCaseMachine.build_material_change,
    "meeting": FpicCaseMachine.build_meeting,
    "question": FpicCaseMachine.build_question,
    "answer": FpicCaseMachine.build_answer,
    "integrity_flag": FpicCaseMachine.build_integrity_flag,
    "independent_assignment": FpicCaseMachine.build_assignment,
    "resolve_integrity_flag": FpicCaseMachine.build_resolve,
    "decision": FpicCaseMachine.build_decision,
    "activity": FpicCaseMachine.build_activity,
    "withdrawal": FpicCaseMachine.build_withdrawal,
    "agreement": FpicCaseMachine.build_agreement,
    "grievance": FpicCaseMachine.build_grievance,
    "grievance_acknowledgement": FpicCaseMachine.build_grievance_step,
    "grievance_response": FpicCaseMachine.build_grievance_step,
    "grievance_assessment": FpicCaseMachine.build_grievance_assessment,
    "grievance_escalation": FpicCaseMachine.build_escalation,
    "retaliation_check": FpicCaseMachine.build_retaliation_check,
    "grievance_closure": FpicCaseMachine.build_grievance_closure,
    "condition_progress": FpicCaseMachine.build_condition_report,
    "condition_breach": FpicCaseMachine.build_condition_report,
    "monitoring_report": FpicCaseMachine.build_monitoring_report,
    "rehabilitation": FpicCaseMachine.build_rehabilitation,
    "project_area": FpicCaseMachine.build_project_area,
    "screening": FpicCaseMachine.build_screening,
    "territory": FpicCaseMachine.build_territory,
    "compatibility_assessment": FpicCaseMachine.build_assessment,
}


def test_the_model_knows_the_template():
    """The model's lists of consenting and clock-resetting triggers match the template."""
    assert {t.effect for t in TEMPLATE.triggers.values()} <= set(BUILDERS)
    consenting = {n for n, t in TEMPLATE.triggers.items() if t.outcome in CONSENTING}
    assert consenting == set(CONSENT_TRIGGERS)
    assert set(CLOCK_RESETS) <= set(TEMPLATE.triggers)
    assert {n for n, s in TEMPLATE.stages.items() if s.consent_in_force} == set(CONSENT_STAGES)


def test_the_model_knows_who_may():
    """The model's restatement of issue #12 rests on facts that match the code: every role
    acts in the machine, the independent roles are the case-assigned ones, exactly the
    ``without_mandate`` triggers need no mandate, and integrity is judged by independents."""
    assert set(ACTOR_ROLES.values()) == set(ROLES)
    assert set(INDEPENDENT_ROLES) == set(CASE_ASSIGNED_ROLES)
    without = {n for n, t in TEMPLATE.triggers.items() if not t.speaks_for_community}
    assert without == set(WITHOUT_MANDATE)
    assert all(set(t.roles) <= set(ROLES) for t in TEMPLATE.triggers.values())
    assert set(TEMPLATE.triggers["review_integrity_flag"].roles) <= set(INDEPENDENT_ROLES)
    assert "not_concerned" in TEMPLATE.triggers["review_integrity_flag"].guards
    assert "integrity_judged_independently" in TEMPLATE.triggers["assess_grievance"].guards
    assert "chosen_by_community" in TEMPLATE.triggers["assign_independent"].guards
    assert TEMPLATE.triggers["assign_independent"].effect == "independent_assignment"
    assert set(CONCERNABLE) - {"nobody"} <= set(ACTOR_ROLES)


@pytest.mark.slow
def test_random_actions_keep_the_fpic_invariants():
    STATS.clear()
    run_state_machine_as_test(
        FpicCaseMachine,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    summary = ", ".join(f"{key}={value}" for key, value in sorted(STATS.items()))
    print(f"\nFPIC state machine: {summary}")
    assert STATS["checks"] >= STATS["examples"] > 0


# --- the checks above are real: they fail when a guard is switched off ----------------------


def _switch_off(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    assert name in GUARDS, f"no guard {name}: switching it off would prove nothing"
    monkeypatch.setitem(GUARDS, name, Guard(name, lambda _ctx: [], needs_payload=False))


def _switch_off_mandate_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every representative of the case's community counts as mandated (the engine reads the
    mandate into the person's standing, fpic.workflow.engine.Engine.standing)."""
    assert callable(fpic_engine.holds_mandate)
    monkeypatch.setattr(fpic_engine, "holds_mandate", lambda *_args: True)


def test_the_model_catches_a_consent_inside_the_deliberation_period(monkeypatch):
    _switch_off(monkeypatch, "deliberation_period_elapsed")
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=30))
        machine.world.clock.advance(days=29)
        with pytest.raises(AssertionError, match="deliberation running"):
            machine.fire("give_consent", "rep2", machine.full_decision())
    finally:
        machine.teardown()


def test_the_model_catches_a_consent_by_an_expired_mandate(monkeypatch):
    _switch_off_mandate_check(monkeypatch)
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=5))
        machine.world.clock.advance(days=5)
        with pytest.raises(AssertionError, match="no mandate valid"):
            machine.fire("give_consent", "rep_expired", machine.full_decision())
    finally:
        machine.teardown()


def test_the_model_catches_a_consent_by_an_unconfirmed_mandate(monkeypatch):
    _switch_off_mandate_check(monkeypatch)
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=0))
        with pytest.raises(AssertionError, match="no mandate valid"):
            machine.fire("give_consent", "rep_pending", machine.full_decision())
    finally:
        machine.teardown()


def test_the_model_catches_a_consent_after_a_material_change(monkeypatch):
    _switch_off(monkeypatch, "disclosure_complete")
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=0))
        assert machine.fire("register_material_change", "liaison", {"text": "New pit."})
        # disclosure is declared complete again without disclosing the changed items
        assert machine.fire("complete_disclosure", "liaison", {"text": "Done."})
        assert machine.fire("open_negotiation", "rep1", {"text": "Ready."})
        assert machine.fire("convene_decision", "rep1", {"text": "Assembly."})
        with pytest.raises(AssertionError, match="disclosures missing"):
            machine.fire("give_consent", "rep2", machine.full_decision())
    finally:
        machine.teardown()


def test_the_model_catches_a_liaison_clearing_an_integrity_grievance(monkeypatch):
    _switch_off(monkeypatch, "integrity_judged_independently")
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=0))
        complaint = {
            "category": "process_integrity",
            "channel": "anonymous_box",
            "anonymous": True,
            "language": "qu",
            "text": "Votos comprados con víveres.",
            "received_on": machine.world.clock.now().date().isoformat(),
        }
        lodged = machine.fire("lodge_grievance", "rep3", complaint)
        assert lodged is not None
        grievance = {"grievance_id": lodged.records["grievance_id"]}
        assert machine.fire("acknowledge_grievance", "liaison", {**grievance, "text": "Seen."})
        cleared = {**grievance, "assessment": "No evidence found.", "upheld": False}
        with pytest.raises(AssertionError, match=r"liaison .* assessed process-integrity"):
            machine.fire("assess_grievance", "liaison", cleared)
    finally:
        machine.teardown()


def test_the_model_catches_a_permission_hole(monkeypatch):
    """With who may switched off in the engine, a representative whose mandate was never
    confirmed suspends the process in the community's name; the model's prediction (and
    nothing else) catches it."""
    monkeypatch.setattr(fpic_engine, "trigger_refusals", lambda *_args: [])
    machine = FpicCaseMachine()
    try:
        with pytest.raises(AssertionError, match="went through; the model refuses it: no_valid"):
            machine.fire("suspend_process", "rep_pending", {"text": "We pause."})
    finally:
        machine.teardown()
