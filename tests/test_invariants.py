"""Random actions on a general-template case never break the FPIC invariants.

A Hypothesis state machine fires random triggers (every trigger of the template, valid now or
not, plus a few that do not exist) as random people (liaison, auditor, admin, each mandated
representative of the case's community, a representative of another community, one whose
mandate expired) with valid, mismatched or garbage data, lets time pass and registers missing
disclosures. Every call goes through ``Engine.advance`` with the case's current version; any
:class:`~fpic.errors.FpicError` refusal is fine. After every step:

(a) a consenting decision was only recorded when, just before the call, disclosure was complete
    for the protocol's languages × formats, the deliberation period had elapsed since the
    (shadowed) start of the clock, the recording representative held a valid mandate that day,
    and no question or integrity flag was open; all computed here, without ``fpic.guards``;
(b) the stored stage is the ``to`` stage of the last "done" event of the case chain;
(c) ``fpic.audit.verify_database`` finds the trail intact;
(d) the case version is 1 + the number of "done" events after ``open_case``;

and the model's shadows (deliberation clock, current disclosures, open questions and flags)
agree with the database, a refusal changes nothing but adds one trail event, and an activity
is recorded only under a consent that covers it.

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

from fpic import audit, registry
from fpic.actors import Actor
from fpic.engine import ActionResult
from fpic.errors import FpicError
from fpic.guards import GUARDS, Guard
from fpic.models import (
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_CHANNELS,
    ActivityRecord,
    Case,
    CaseNote,
    Condition,
    Decision,
    Disclosure,
    IntegrityFlag,
    Mandate,
    Meeting,
    Protocol,
    Question,
    Representative,
    TrailEvent,
)
from fpic.process import shipped_templates
from fpic.registry import add_representative, add_user, record_mandate
from tests.factories import CHEAP_HASHER, PASSWORD, Community, World, decision, make_world, protocol

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
)
CONSENT_STAGES = ("agreement", "monitoring")
LANGUAGES = ("qu", "es", "ay")
FORMATS = ("written", "oral", "audio", "visual")
ACTIVITIES = ("drilling", "access_road", "camp", "open_pit")
PHASES = ("exploration", "construction", "operation")
INTEGRITY_CATEGORIES = ("bribery", "force_or_threat", "gift_outside_budget", "secret_side_deal")
TRIGGERS = sorted(TEMPLATE.triggers)
ANY_TRIGGER = [*TRIGGERS, "no_such_trigger", ""]
ACTOR_NAMES = (
    "liaison",
    "auditor",
    "admin",
    "rep1",
    "rep2",
    "rep3",
    "rep_short",  # mandated when the example starts, expired 25 days later
    "rep_expired",  # of the case's community; the mandate ended before the example started
    "rep_other",  # mandated, but for another community
)
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
            with mock.patch.object(registry, "_hasher", FAST_HASHER):
                self._build_world()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        STATS["examples"] += 1

    def _build_world(self) -> None:
        self.world: World = make_world(f"sqlite:///{os.path.join(self.tmp, 'fpic.sqlite3')}")
        world = self.world
        self.community: Community = world.add_community("ayllu-qollana", ["qu", "es"], reps=3)
        other = world.add_community("uma-jaqi", ["ay"], reps=1)
        today = world.clock.now().date()
        short = self._representative(
            "short", today - timedelta(days=10), today + timedelta(days=25)
        )
        expired = self._representative(
            "expired", today - timedelta(days=400), today - timedelta(days=1)
        )
        self.actors: dict[str, Actor] = {
            "liaison": world.liaison,
            "auditor": world.auditor,
            "admin": world.admin,
            "rep1": self.community.rep_actors[0],
            "rep2": self.community.rep_actors[1],
            "rep3": self.community.rep_actors[2],
            "rep_short": short,
            "rep_expired": expired,
            "rep_other": other.rep_actors[0],
        }
        #: every representative of the case's community (members may be listed as present)
        self.members = [*self.community.reps, short.representative_id, expired.representative_id]
        self.case_id = world.open_case(self.community)
        # the model
        self.version, self.stage = 1, TEMPLATE.initial
        self.suspended_from: str | None = None
        self.protocol: dict[str, Any] | None = None
        self.disclosed: set[tuple[str, str, str]] = set()
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
        self.last_refusal: FpicError | None = None

    def _representative(self, name: str, valid_from: date, valid_until: date) -> Actor:
        world = self.world
        rep_id = add_representative(world.engine, world.admin, self.community.id, f"Rep {name}")
        record_mandate(
            world.engine,
            world.admin,
            rep_id,
            granted_by="Community assembly",
            evidence="Assembly resolution 3/2025",
            valid_from=valid_from,
            valid_until=valid_until,
        )
        username = f"rep-{name}"
        add_user(
            world.engine,
            world.admin,
            username=username,
            password=PASSWORD,
            role="representative",
            representative_id=rep_id,
        )
        return world.actor(username)

    def teardown(self) -> None:
        self.world.db.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- firing, with the checks around every call -----------------------------------------

    def fire(self, trigger: str, actor_name: str, data: Any) -> ActionResult | None:
        actor = self.actors[actor_name]
        now = self.world.clock.now()
        before = self._snapshot()
        objections = self._consent_objections(actor, now) if trigger in CONSENT_TRIGGERS else None
        STATS["calls"] += 1
        try:
            result = self.world.engine.advance(self.case_id, trigger, actor, data, self.version)
        except FpicError as refusal:
            STATS[f"refused:{refusal.code}"] += 1
            if trigger in CONSENT_TRIGGERS and self.stage == "decision":
                for reason in refusal.reasons:
                    STATS[f"consent_refused:{reason.code}"] += 1
            self.last_refusal = refusal
            self._check_refusal(trigger, refusal, before)
            return None
        STATS["done"] += 1
        STATS[f"done:{trigger}"] += 1
        self._check_success(trigger, actor, data, now, result, objections)
        return result

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
        actor: Actor,
        data: Any,
        now: datetime,
        result: ActionResult,
        objections: list[str] | None,
    ) -> None:
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
        if trigger == "record_activity_start":
            self._check_activity_covered(data)
        self._update_model(trigger, data, now, result)

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
        elif trigger == "register_disclosure":
            self.disclosed.add((data["item"], data["language"], data["format"]))
        elif trigger == "complete_disclosure":
            self.deliberation_start = now
        elif trigger == "register_material_change":
            affected = set(data.get("affected_items") or ITEMS)
            self.disclosed = {key for key in self.disclosed if key[0] not in affected}
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
        elif trigger == "review_integrity_flag":
            self.open_flags.discard(int(data["flag_id"]))
        elif trigger == "lodge_grievance":
            self.grievances.append(result.records["grievance_id"])
            if data["category"] == "process_integrity":
                self.unassessed_integrity_grievances.add(result.records["grievance_id"])
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
            else:
                mandates = s.scalars(
                    select(Mandate).where(Mandate.representative_id == rep.id)
                ).all()
                if not any(
                    m.valid_from <= today <= m.valid_until and m.revoked_on is None
                    for m in mandates
                ):
                    objections.append(f"no mandate valid on {today.isoformat()}")
        if self.open_questions:
            objections.append(f"open questions {sorted(self.open_questions)}")
        if self.open_flags:
            objections.append(f"open integrity flags {sorted(self.open_flags)}")
        if self.unassessed_integrity_grievances:
            objections.append(
                f"unassessed integrity grievances {sorted(self.unassessed_integrity_grievances)}"
            )
        return objections

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

    def build_protocol(self, data: st.DataObject) -> dict[str, Any]:
        return data.draw(protocols())

    def build_disclosure(self, data: st.DataObject) -> dict[str, Any]:
        formats = self.protocol["formats"] if self.protocol else FORMATS
        language = self._language(data)
        return {
            "item": data.draw(st.sampled_from(ITEMS)),
            "language": language,
            "format": data.draw(st.sampled_from(list(formats))),
            "title": data.draw(TEXT),
            "channel": "community hall",
            "disclosed_on": self._day(data),
            "translator": None if language == "es" else "Rosa Mamani",
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
        return {
            "category": data.draw(st.sampled_from(INTEGRITY_CATEGORIES)),
            "description": data.draw(TEXT),
        }

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
        }

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
                            "language": language,
                            "format": fmt,
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
            "mapping": ("complete_mapping", "rep1"),
            "deliberation": ("open_negotiation", "rep1"),
            "negotiation": ("convene_decision", "rep1"),
        }
        for _ in range(len(START_STAGES)):
            if self.stage == target:
                return
            if self.stage in simple:
                self.must(*simple[self.stage], note)
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
            flag = {"category": "bribery", "description": "Envelopes after the meeting."}
            flag_id = self.must("raise_integrity_flag", "liaison", flag).records["flag_id"]
            if consent("rep2", "open_flag"):
                return
            review = {"flag_id": flag_id, "resolution": "Not substantiated.", "upheld": False}
            self.must("review_integrity_flag", "rep1", review)
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
            self.must("assess_grievance", "rep1", assessed)
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
        actor = data.draw(st.sampled_from([*ACTOR_NAMES[3:], "liaison"]), label="actor")
        self.fire(trigger, actor, self.payload(trigger, data))

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
            # the model's shadows agree with what is stored
            assert (case.version, case.stage) == (self.version, self.stage)
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
    "reconsideration_request": FpicCaseMachine.build_note,
    "decline": FpicCaseMachine.build_note,
    "reopen": FpicCaseMachine.build_note,
    "restart": FpicCaseMachine.build_note,
    "state_approval": FpicCaseMachine.build_note,
    "complete_disclosure": FpicCaseMachine.build_note,
    "protocol": FpicCaseMachine.build_protocol,
    "disclosure": FpicCaseMachine.build_disclosure,
    "material_change": FpicCaseMachine.build_material_change,
    "meeting": FpicCaseMachine.build_meeting,
    "question": FpicCaseMachine.build_question,
    "answer": FpicCaseMachine.build_answer,
    "integrity_flag": FpicCaseMachine.build_integrity_flag,
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
}


def test_the_model_knows_the_template():
    """The model's lists of consenting and clock-resetting triggers match the template."""
    assert {t.effect for t in TEMPLATE.triggers.values()} <= set(BUILDERS)
    consenting = {n for n, t in TEMPLATE.triggers.items() if t.outcome in CONSENTING}
    assert consenting == set(CONSENT_TRIGGERS)
    assert set(CLOCK_RESETS) <= set(TEMPLATE.triggers)
    assert {n for n, s in TEMPLATE.stages.items() if s.consent_in_force} == set(CONSENT_STAGES)


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
    monkeypatch.setitem(GUARDS, name, Guard(name, lambda _ctx: [], needs_payload=False))


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
    _switch_off(monkeypatch, "mandated_representative")
    machine = FpicCaseMachine()
    try:
        machine.walk_to("decision", protocol(min_deliberation_days=5))
        machine.world.clock.advance(days=5)
        with pytest.raises(AssertionError, match="no mandate valid"):
            machine.fire("give_consent", "rep_expired", machine.full_decision())
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
