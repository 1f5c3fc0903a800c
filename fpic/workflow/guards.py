"""The FPIC rules, each a pure function from the situation to the reasons it forbids an action.

An empty list means the rule is satisfied. Templates name these functions; this module is the
only place where a rule is decided. Guards marked ``needs_payload`` look at the data of the
action itself (the tally, the conditions) and are skipped when the engine only asks what a
person could do now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fpic.i18n import N_, Reason
from fpic.storage.models import (
    CONSENTING_OUTCOMES,
    Case,
    Decision,
    Grievance,
    IntegrityFlag,
    Mandate,
    Protocol,
    Representative,
)
from fpic.workflow.actors import Actor
from fpic.workflow.limits import due_on
from fpic.workflow.permissions import independent_of_the_parties, represents
from fpic.workflow.process import Limit, Template, Trigger


@dataclass
class GuardContext:
    session: Session
    template: Template
    case: Case
    actor: Actor
    trigger: Trigger
    now: datetime
    #: the cleaned data of the action; None when only asking what may be done
    payload: dict[str, Any] | None = None
    #: data the action stores that must never reach the trail (a confidential complainant's
    #: name): the payload carries only a commitment to it
    sealed: dict[str, Any] = field(default_factory=dict)
    #: what an action's check read, for its writer: each row is read once per action
    found: dict[Any, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.date()


GuardFn = Callable[[GuardContext], list[Reason]]


@dataclass(frozen=True)
class Guard:
    name: str
    check: GuardFn
    needs_payload: bool


GUARDS: dict[str, Guard] = {}


def guard(needs_payload: bool = False) -> Callable[[GuardFn], GuardFn]:
    def register(fn: GuardFn) -> GuardFn:
        GUARDS[fn.__name__] = Guard(fn.__name__, fn, needs_payload)
        return fn

    return register


def evaluate(ctx: GuardContext) -> list[Reason]:
    """All reasons against ``ctx.trigger`` now (payload guards only when there is a payload):
    its time limits and the actions it must follow, then its named rules."""
    reasons: list[Reason] = time_limit_reasons(ctx)
    for name in ctx.trigger.guards:
        rule = GUARDS[name]
        if rule.needs_payload and ctx.payload is None:
            continue
        reasons.extend(rule.check(ctx))
    return reasons


# --- Time limits: a trigger's windows, and the actions it must follow -------------------------


def _limit_params(limit: Limit, ends: date) -> dict[str, Any]:
    # the limit's title is a text of the template: the interface translates it
    source = limit.source or limit.default_source or ""
    return {"limit": limit.title, "source": source, "ends": ends.isoformat()}


def time_limit_reasons(ctx: GuardContext) -> list[Reason]:
    """``within``: refused after the limit's last day; ``not_before``: refused before it;
    ``after``: refused until the named action is on the case."""
    reasons = []
    for name in ctx.trigger.within + ctx.trigger.not_before:
        limit = ctx.template.limits[name]
        ends = due_on(limit, ctx.case)
        if ends is None:
            reasons.append(
                Reason(
                    "limit_not_started",
                    N_("The time limit %(limit)s has not started on this case."),
                    {"limit": limit.title},
                )
            )
        elif name in ctx.trigger.within and ctx.today > ends:
            reasons.append(
                Reason(
                    "limit_passed",
                    N_("The time limit %(limit)s ended on %(ends)s (%(source)s)."),
                    _limit_params(limit, ends),
                )
            )
        elif name in ctx.trigger.not_before and ctx.today <= ends:
            # "after", "at least" and "later than" so many months: from the day after the last
            # day of the limit, so that a window of the community's and the door it holds shut
            # never share a day
            reasons.append(
                Reason(
                    "limit_running",
                    N_("Not before %(ends)s, when the time limit %(limit)s ends (%(source)s)."),
                    _limit_params(limit, ends + timedelta(days=1)),  # the first day it may
                )
            )
    recorded = ctx.case.milestones or {}
    for name in ctx.trigger.after:
        if name not in recorded:
            reasons.append(
                Reason(
                    "step_missing",
                    N_("%(step)s must be recorded first."),
                    {"step": ctx.template.triggers[name].title},
                )
            )
    return reasons


# --- Free ----------------------------------------------------------------------------------


def mandate_in_force(day: date | ColumnElement[date]) -> ColumnElement[bool]:
    """SQL for "this mandate is in force on ``day``": the one definition the queries use,
    mirroring :meth:`fpic.storage.models.Mandate.in_force_on`."""
    return and_(
        Mandate.confirmed_at.is_not(None),
        Mandate.valid_from <= day,
        Mandate.valid_until >= day,
        or_(Mandate.revoked_on.is_(None), Mandate.revoked_on > day),
    )


def mandated_representatives(session: Session, community_id: int, day: date) -> list[int]:
    """Ids of the community's representatives whose mandate is in force on ``day``."""
    return list(
        session.scalars(
            select(Representative.id)
            .where(Representative.community_id == community_id)
            .where(mandate_held(Representative.id, day))
            .order_by(Representative.id)
        )
    )


def community_roll(session: Session, community_id: int, day: date) -> dict[int, bool]:
    """Every representative of the community, each with whether their mandate is in force
    on ``day``, in one statement (a decision checks both who is a representative and who is
    entitled to vote)."""
    rows = session.execute(
        select(Representative.id, mandate_held(Representative.id, day)).where(
            Representative.community_id == community_id
        )
    )
    return {rep_id: bool(mandated) for rep_id, mandated in rows}


def holds_mandate(
    session: Session, representative_id: int, day: date, read: bool | None = None
) -> bool:
    """Whether the representative holds a mandate in force on ``day``, read in the action's
    transaction so a revocation that commits first wins: ``mandate_held`` as one EXISTS, or
    its value as the engine already ``read`` it in the statement that locked the case."""
    if read is not None:
        return read
    return bool(session.scalar(select(mandate_held(representative_id, day))))


def mandate_held(
    representative_id: int | ColumnElement[int] | InstrumentedAttribute[int],
    day: date | ColumnElement[date],
) -> ColumnElement[bool]:
    """SQL for "this representative holds a mandate in force on ``day``"."""
    return (
        exists().where(Mandate.representative_id == representative_id).where(mandate_in_force(day))
    )


def _open_integrity_grievances(case: Case) -> list[Grievance]:
    return [
        g
        for g in case.grievances
        if g.category == "process_integrity" and g.upheld is None and g.status != "closed"
    ]


@guard()
def no_open_integrity_flag(ctx: GuardContext) -> list[Reason]:
    """An open suspicion of a prohibited act (NCIP-AO3 §65), or a process-integrity grievance
    not yet assessed (domain.md §6), blocks consent until it is reviewed."""
    reasons = []
    open_flags = [f for f in ctx.case.integrity_flags if f.resolved_at is None]
    if open_flags:
        reasons.append(
            Reason(
                "open_integrity_flag",
                N_(
                    "%(count)s integrity flag(s) are still open (%(categories)s); they must be "
                    "reviewed before the community can consent."
                ),
                {
                    "count": len(open_flags),
                    "categories": ", ".join(sorted({f.category for f in open_flags})),
                },
            )
        )
    grievances = _open_integrity_grievances(ctx.case)
    if grievances:
        reasons.append(
            Reason(
                "open_integrity_grievance",
                N_(
                    "%(count)s grievance(s) about the integrity of the process are not yet "
                    "assessed; they must be before the community can consent."
                ),
                {"count": len(grievances)},
            )
        )
    return reasons


@guard(needs_payload=True)
def not_concerned(ctx: GuardContext) -> list[Reason]:
    """Nobody reviews an integrity flag that names them, nor one they raised themselves
    (NCIP-AO3 §65; a judge in their own cause is no review)."""
    assert ctx.payload is not None
    flag = next((f for f in ctx.case.integrity_flags if f.id == ctx.payload.get("flag_id")), None)
    if flag is None:
        return []
    if flag.raised_by_id == ctx.actor.user_id:
        return [Reason("own_flag", N_("You raised this flag: someone else must review it."))]
    return [_named_in_it()] if _concerns(ctx, flag) else []


@guard(needs_payload=True)
def integrity_judged_independently(ctx: GuardContext) -> list[Reason]:
    """A process-integrity grievance is assessed by the case's facilitator or mediator: never
    by the proponent's liaison or a representative. No grievance is assessed by a person it
    names (domain.md §3, §6)."""
    assert ctx.payload is not None
    wanted = ctx.payload.get("grievance_id")
    grievance = next((g for g in ctx.case.grievances if g.id == wanted), None)
    if grievance is None:
        return []
    if grievance.category != "process_integrity":
        return [_named_in_it()] if _concerns(ctx, grievance) else []
    if not independent_of_the_parties(ctx.actor):
        return [
            Reason(
                "integrity_needs_independent",
                N_(
                    "A grievance about the integrity of the process is assessed by the case's "
                    "independent facilitator or mediator."
                ),
            )
        ]
    return [_named_in_it()] if _concerns(ctx, grievance) else []


def _concerns(ctx: GuardContext, record: IntegrityFlag | Grievance) -> bool:
    return ctx.actor.username in (record.concerns or [])


def _named_in_it() -> Reason:
    return Reason(
        "assessor_concerned",
        N_("You are named in it: someone else must review it."),
    )


@guard()
def chosen_by_community(ctx: GuardContext) -> list[Reason]:
    """The community agrees who its facilitator and mediator are. Only while nobody holds
    its mandate (the first representatives need someone independent to confirm them) may
    the proponent or the State propose one; every assignment is on the trail."""
    if represents(ctx.actor, ctx.case.community_id):
        return []
    if mandated_representatives(ctx.session, ctx.case.community_id, ctx.today):
        return [
            Reason(
                "community_chooses_independents",
                N_(
                    "The community has mandated representatives: only they choose its "
                    "facilitator and mediator."
                ),
            )
        ]
    return []


@guard()
def community_registered(ctx: GuardContext) -> list[Reason]:
    """Rights-holders are identified only when someone holds a valid mandate (EMRIP18 ¶23)."""
    if mandated_representatives(ctx.session, ctx.case.community_id, ctx.today):
        return []
    return [
        Reason(
            "no_mandated_representatives",
            N_("No representative of this community holds a mandate valid on %(day)s."),
            {"day": ctx.today.isoformat()},
        )
    ]


# --- Prior ---------------------------------------------------------------------------------


@guard()
def protocol_agreed(ctx: GuardContext) -> list[Reason]:
    if ctx.case.protocol is not None:
        return []
    return [Reason("no_protocol", N_("The community has not agreed the process (protocol) yet."))]


@guard()
def deliberation_period_elapsed(ctx: GuardContext) -> list[Reason]:
    """No decision before complete disclosure plus the protocol's minimum deliberation days."""
    protocol, started = ctx.case.protocol, ctx.case.deliberation_started_at
    if protocol is None or started is None:
        return [
            Reason(
                "deliberation_not_started",
                N_("The deliberation period has not started: disclosure is not complete."),
            )
        ]
    ends = started + timedelta(days=protocol.min_deliberation_days)
    if ctx.now < ends:
        return [
            Reason(
                "deliberation_period_running",
                N_("The community's deliberation period ends on %(ends)s."),
                {"ends": ends.date().isoformat()},
            )
        ]
    decided_on = (ctx.payload or {}).get("decided_on")
    # the decision is dated by when the community took it, which may be before it is recorded
    if decided_on and date.fromisoformat(decided_on) < ends.date():
        return [
            Reason(
                "decided_during_deliberation",
                N_(
                    "The decision is dated %(day)s, before the community's deliberation period "
                    "ended on %(ends)s."
                ),
                {"day": decided_on, "ends": ends.date().isoformat()},
            )
        ]
    return []


@guard(needs_payload=True)
def consent_covers_activity(ctx: GuardContext) -> list[Reason]:
    """No project activity without a valid consent covering it (PS7 ¶15; IPRA §59)."""
    assert ctx.payload is not None
    activity, phase = ctx.payload["activity"], ctx.payload.get("phase")
    consent = consent_in_force(ctx.template, ctx.case)
    if consent is None:
        return [
            Reason(
                "no_consent_in_force", N_("No consent of the community is in force for this case.")
            )
        ]
    if activity not in consent.scope_activities:
        return [
            Reason(
                "activity_not_consented",
                N_("The community's consent does not cover the activity %(activity)s."),
                {"activity": activity},
            )
        ]
    if phase and consent.scope_phases and phase not in consent.scope_phases:
        return [
            Reason(
                "phase_not_consented",
                N_("The community's consent does not cover the phase %(phase)s."),
                {"phase": phase},
            )
        ]
    started = ctx.payload.get("started_on")
    if consent.term_ends_on is not None and started and started > consent.term_ends_on.isoformat():
        return [
            Reason(
                "consent_term_ended",
                N_("The community's consent was in force until %(ends)s."),
                {"ends": consent.term_ends_on.isoformat()},
            )
        ]
    return []


@guard(needs_payload=True)
def calls_for_reconsent(ctx: GuardContext) -> list[Reason]:
    """An event returns the case for consent again when the consent names it, or when the
    consent's term has ended (the community said how long its consent lasts)."""
    assert ctx.payload is not None
    event, consent = ctx.payload["event"], consent_in_force(ctx.template, ctx.case)
    if consent is None:
        return [
            Reason(
                "no_consent_in_force", N_("No consent of the community is in force for this case.")
            )
        ]
    if event == "expiry":
        if consent.term_ends_on is not None and ctx.payload["happened_on"] > (
            consent.term_ends_on.isoformat()
        ):
            return []
        return [
            Reason(
                "consent_term_running",
                N_("The community's consent has no term that ended by that day."),
            )
        ]
    if event in consent.reconsent_on:
        return []
    return [
        Reason(
            "not_a_reconsent_event",
            N_(
                "The community's consent does not name this event as one that calls for its "
                "consent again: register a material change if it changes what was disclosed."
            ),
        )
    ]


def consent_in_force(template: Template, case: Case) -> Decision | None:
    """The consenting decision in force, if the case stands where a consent holds."""
    if not template.stages[case.stage].consent_in_force:
        return None
    for decision in reversed(case.decisions):
        if decision.outcome in CONSENTING_OUTCOMES:
            return decision
    return None


# --- Informed ------------------------------------------------------------------------------


def missing_disclosures(
    template: Template, case: Case, items: tuple[str, ...] | None = None
) -> list[tuple[str, str, str]]:
    """Every required item (or each of ``items``) × content language × format with no current
    disclosure."""
    protocol = case.protocol
    if protocol is None:
        return []
    present = {(d.item, d.language, d.format) for d in case.disclosures if d.superseded_at is None}
    return [
        (item, language, fmt)
        for item in (template.required_disclosure_items if items is None else items)
        for language in protocol.content_languages
        for fmt in protocol.formats
        if (item, language, fmt) not in present
    ]


@guard()
def disclosure_complete(ctx: GuardContext) -> list[Reason]:
    if ctx.case.protocol is None:
        return protocol_agreed(ctx)
    missing = missing_disclosures(ctx.template, ctx.case)
    if not missing:
        return []
    shown = "; ".join(f"{i} ({lang}, {fmt})" for i, lang, fmt in missing[:5])
    return [
        Reason(
            "disclosure_incomplete",
            N_(
                "Disclosure is incomplete: %(count)s item(s) missing in a required language and "
                "format, e.g. %(missing)s."
            ),
            {"count": len(missing), "missing": shown},
        )
    ]


@guard()
def questions_answered(ctx: GuardContext) -> list[Reason]:
    open_questions = [q for q in ctx.case.questions if q.answered_at is None]
    if not open_questions:
        return []
    return [
        Reason(
            "questions_unanswered",
            N_("%(count)s question(s) from the community are still unanswered."),
            {"count": len(open_questions)},
        )
    ]


# --- Consent -------------------------------------------------------------------------------


@guard(needs_payload=True)
def decision_rule_met(ctx: GuardContext) -> list[Reason]:
    """Quorum over those entitled to vote, then the protocol's rule for consent."""
    protocol = ctx.case.protocol
    if protocol is None:
        return protocol_agreed(ctx)
    assert ctx.payload is not None
    return counting_reasons(protocol, ctx.payload, ctx.trigger.outcome in CONSENTING_OUTCOMES)


def counting_reasons(protocol: Protocol, p: Mapping[str, Any], consenting: bool) -> list[Reason]:
    """The counting rules, from the protocol and a decision's cleaned data alone.

    ``p["eligible"]`` and ``p["present_count"]`` are counted by the decision's parser: the
    representatives mandated on the day and those of them present, or the assembly's number
    entitled to vote from the protocol and the number present. Every outcome needs the quorum
    (a "no" is taken by the same body as a "yes"); only a consent needs the rule.
    """
    reasons: list[Reason] = []
    eligible, present = p["eligible"], p["present_count"]
    if not eligible or present * 100 < protocol.quorum_percent * eligible:
        message = (
            N_(
                "Quorum not met: %(present)s of %(total)s entitled to vote present, "
                "%(quorum)s%% required."
            )
            if protocol.voters == "assembly"
            else N_(
                "Quorum not met: %(present)s of %(total)s mandated representatives present, "
                "%(quorum)s%% required."
            )
        )
        params = {"present": present, "total": eligible, "quorum": protocol.quorum_percent}
        reasons.append(Reason("quorum_not_met", message, params))
    if consenting:
        reasons.extend(_rule_reasons(protocol, p))
    return reasons


def _rule_reasons(protocol: Protocol, p: Mapping[str, Any]) -> list[Reason]:
    rule = protocol.decision_rule
    if rule == "consensus":
        # consensus: the record says no objection was raised, and how the decision was reached
        if not p["consensus"] or p["votes_against"]:
            return [
                Reason(
                    "no_consensus",
                    N_("The protocol requires consensus, and the record does not show one."),
                )
            ]
        if not p["consensus_note"]:
            return [
                Reason(
                    "no_consensus_note",
                    N_(
                        "A decision by consensus must say how it was reached and that no "
                        "objection was raised (the consensus note)."
                    ),
                )
            ]
        return []
    # the votes cast: abstentions only where the protocol counts them (then they weigh as a no)
    cast = p["votes_for"] + p["votes_against"]
    if protocol.abstentions_count:
        cast += p["abstentions"]
    if rule == "simple_majority":
        needed = 50
        enough = p["votes_for"] * 100 > needed * cast  # more than half
    else:
        needed = protocol.majority_percent or 67
        enough = p["votes_for"] * 100 >= needed * cast  # at least the share agreed
    if cast and enough:
        return []
    return [
        Reason(
            "majority_not_reached",
            N_(
                "The protocol requires %(rule)s (%(needed)s%% of votes cast); %(for)s of %(cast)s "
                "votes were in favour."
            ),
            {"rule": rule, "needed": needed, "for": p["votes_for"], "cast": cast},
        )
    ]


@guard(needs_payload=True)
def conditions_stated(ctx: GuardContext) -> list[Reason]:
    assert ctx.payload is not None
    if ctx.payload.get("conditions"):
        return []
    return [Reason("no_conditions", N_("Consent with conditions needs at least one condition."))]


@guard(needs_payload=True)
def scope_stated(ctx: GuardContext) -> list[Reason]:
    """Consent names its phases and activities: blanket consent is not enough (EMRIP18 ¶43)."""
    assert ctx.payload is not None
    reasons = []
    if not ctx.payload.get("scope_activities"):
        reasons.append(Reason("no_scope", N_("A consent must state the activities it covers.")))
    if ctx.trigger.outcome == "PARTIAL" and not ctx.payload.get("rejected_components"):
        reasons.append(
            Reason(
                "no_rejected_components",
                N_("A partial consent must state the components the community rejects."),
            )
        )
    return reasons


# --- Loops ---------------------------------------------------------------------------------


@guard()
def within_reconsideration_window(ctx: GuardContext) -> list[Reason]:
    withheld = ctx.case.withheld_at
    if withheld is None:
        return [Reason("not_withheld", N_("Consent has not been withheld on this case."))]
    # a released version's window, counted from when the decision was recorded; a template now
    # declares it as a limit counted from the decision's own date (``within``)
    ends = withheld + timedelta(days=ctx.template.reconsideration_days or 0)
    if ctx.now <= ends:
        return []
    return [
        Reason(
            "reconsideration_window_closed",
            N_("The window to ask for reconsideration closed on %(ends)s."),
            {"ends": ends.date().isoformat()},
        )
    ]


@guard()
def reconsideration_not_requested(ctx: GuardContext) -> list[Reason]:
    if ctx.case.reconsideration_requested_at is None:
        return []
    return [
        Reason(
            "reconsideration_already_requested", N_("Reconsideration was already requested once.")
        )
    ]


@guard()
def upheld_integrity_finding(ctx: GuardContext) -> list[Reason]:
    """An upheld integrity flag or process-integrity grievance can invalidate the process."""
    if any(flag.upheld for flag in ctx.case.integrity_flags):
        return []
    if any(g.upheld and g.category == "process_integrity" for g in ctx.case.grievances):
        return []
    return [
        Reason(
            "no_upheld_finding", N_("Only an upheld integrity finding can invalidate the process.")
        )
    ]


@guard(needs_payload=True)
def retaliation_checked(ctx: GuardContext) -> list[Reason]:
    """A grievance is closed only after checking the complainant suffered no retaliation
    (UNGP 31: rights-compatible)."""
    assert ctx.payload is not None
    wanted = ctx.payload.get("grievance_id")
    grievance = next((g for g in ctx.case.grievances if g.id == wanted), None)
    if grievance is None or grievance.retaliation_checked_at is not None:
        return []
    return [
        Reason(
            "retaliation_not_checked",
            N_("Check that the complainant suffered no retaliation before closing the grievance."),
        )
    ]


@guard()
def rehabilitation_confirmed(ctx: GuardContext) -> list[Reason]:
    """A case closes only once the community confirms the agreed rehabilitation of the site
    (restoring the land is part of the agreement, not an afterthought)."""
    if ctx.case.rehabilitation_confirmed_at is not None:
        return []
    return [
        Reason(
            "rehabilitation_not_confirmed",
            N_("The community has not confirmed the agreed rehabilitation of the site."),
        )
    ]


# --- Where: what a screening of the project's area found (fpic.geo.screening) ---------------

#: the IUCN categories whose overlap calls for a compatibility assessment before disclosure
#: completes (IUCN WCC-2000 Recommendation 2.82; ICMM 2003 position statement)
STRICT_CATEGORIES = ("Ia", "Ib", "II", "III", "IV")
#: what a project does is extractive unless its sector says otherwise: ICMM's 2003 commitment
#: not to explore or mine in World Heritage properties
NOT_EXTRACTIVE = ("infrastructure", "energy", "agriculture_forestry", "conservation", "restoration")
#: a shared boundary is not an overlap of land, but it is never far enough to rule FPIC out
IN_CONTACT = ("overlaps", "touches")
Finding = dict[str, Any]


def findings_of(case: Case) -> list[Finding]:
    """What the case's latest screening found (fpic.geo.screening.Finding.summary)."""
    return list((case.screening or {}).get("findings", []))


# the rules, one predicate each: the guards below enforce them, and the case page says which
# of them each finding calls for (calls_for) from the same predicates


def requires_fpic(case: Case, f: Finding) -> bool:
    """The case's own community's territory reached: another community's calls for a case
    with that community, not for this one."""
    return (
        f["kind"] == "territory"
        and f["relation"] in IN_CONTACT
        and f.get("community_id") == case.community_id
    )


def heritage_no_go(template: Template, case: Case, f: Finding) -> bool:
    return (
        template.world_heritage_no_go
        and f["kind"] == "protected_area"
        and bool(f.get("world_heritage"))
        and f["relation"] in IN_CONTACT
        and case.project.sector not in NOT_EXTRACTIVE
    )


def needs_assessment(f: Finding) -> bool:
    return (
        f["kind"] == "protected_area"
        and f["relation"] in IN_CONTACT
        and f.get("category") in STRICT_CATEGORIES
    )


def needs_habitat_item(template: Template, f: Finding) -> bool:
    return (
        template.critical_habitat_item is not None
        and f["kind"] == "critical_habitat"
        and f["relation"] in IN_CONTACT
    )


def calls_for(template: Template, case: Case, f: Finding) -> list[str]:
    """What a finding calls for under the case's template, as message ids."""
    said = []
    if requires_fpic(case, f):
        said.append(N_("FPIC is required: it cannot be screened out"))
    if heritage_no_go(template, case, f):
        said.append(N_("No consent to an extractive project (ICMM, 2003)"))
    if needs_assessment(f):
        said.append(N_("A compatibility assessment before disclosure completes"))
    if needs_habitat_item(template, f):
        said.append(N_("An item on biodiversity and ecosystem services in the disclosure"))
    return said


def _screening_reasons(case: Case) -> list[Reason]:
    if case.current_area_id is None:
        return [
            Reason(
                "no_project_area",
                N_("The project's area is not recorded: record it so the case can be screened."),
            )
        ]
    screening = case.screening
    if screening is None or screening.get("area_id") != case.current_area_id:
        return [
            Reason(
                "screening_out_of_date",
                N_(
                    "The project's area changed after this case was screened: screen it again "
                    "(once disclosure has begun, by registering a material change)."
                ),
            )
        ]
    return []


@guard()
def screening_current(ctx: GuardContext) -> list[Reason]:
    """The case was screened against the project's area as it is now."""
    return _screening_reasons(ctx.case)


@guard()
def no_territory_overlap(ctx: GuardContext) -> list[Reason]:
    """FPIC cannot be screened out of a project whose area reaches the community's territory
    (PS7 ¶13; UNDRIP art. 32): its territory as recorded now, even on another case since this
    one was screened."""
    reasons = _screening_reasons(ctx.case)
    if reasons:
        return reasons
    from fpic.geo.screening import territory_contact  # geometry only when screening out

    found = territory_contact(ctx.session, ctx.case.project_id, ctx.case.community_id)
    if found is None:
        return []
    name, relation = found
    said = {
        "overlaps": N_("The project's area overlaps the territory of %(name)s: FPIC is required."),
        "touches": N_(
            "The project's area shares a boundary with the territory of %(name)s: FPIC is required."
        ),
    }
    return [Reason("territory_overlap", said[relation], {"name": name})]


@guard()
def no_world_heritage_overlap(ctx: GuardContext) -> list[Reason]:
    """No consent to an extractive project in a World Heritage property, unless the template
    says otherwise (ICMM 2003: members will not explore or mine in World Heritage properties)."""
    said = {
        "overlaps": N_(
            "The project's area overlaps the World Heritage property %(name)s: an extractive "
            "project there cannot be consented (ICMM, 2003)."
        ),
        "touches": N_(
            "The project's area shares a boundary with the World Heritage property %(name)s: "
            "an extractive project there cannot be consented (ICMM, 2003)."
        ),
    }
    # the project's sector is read only for a case whose screening found a property
    return [
        Reason("world_heritage_overlap", said[f["relation"]], {"name": f["name"]})
        for f in findings_of(ctx.case)
        if f.get("world_heritage") and heritage_no_go(ctx.template, ctx.case, f)
    ]


@guard()
def protected_areas_assessed(ctx: GuardContext) -> list[Reason]:
    """A protected area of IUCN category I to IV that the project reaches needs a recorded
    compatibility assessment, against the area screened, before disclosure completes."""
    strict = [f for f in findings_of(ctx.case) if needs_assessment(f)]
    if not strict:
        return []
    assessed = assessed_areas(ctx.case)
    return [
        Reason(
            "compatibility_not_assessed",
            N_(
                "The project's area reaches %(name)s, a protected area of IUCN category "
                "%(category)s: record an assessment of the project's compatibility with the "
                "area's conservation objectives."
            ),
            {"name": f["name"], "category": f["category"]},
        )
        for f in strict
        if f["ref"] not in assessed
    ]


def assessed_areas(case: Case) -> set[str]:
    """The protected areas whose compatibility assessment was recorded against the project's
    area as the case's latest screening had it."""
    area_id = (case.screening or {}).get("area_id")
    return {
        str(n.data.get("protected_area"))
        for n in case.notes
        if n.kind == "record_compatibility_assessment" and n.data.get("area_id") == area_id
    }


@guard()
def critical_habitat_disclosed(ctx: GuardContext) -> list[Reason]:
    """Where the project reaches critical habitat (IFC PS6 ¶16), the disclosure package has an
    item on biodiversity and ecosystem services, in every agreed language and format."""
    habitat = [f for f in findings_of(ctx.case) if needs_habitat_item(ctx.template, f)]
    item = ctx.template.critical_habitat_item
    if not habitat or item is None or ctx.case.protocol is None:
        return []
    missing = missing_disclosures(ctx.template, ctx.case, (item,))
    if not missing:
        return []
    return [
        Reason(
            "critical_habitat_not_disclosed",
            N_(
                "The project's area reaches critical habitat (%(name)s): disclose %(item)s in "
                "every agreed language and format (%(count)s missing)."
            ),
            {
                "name": habitat[0]["name"],
                "item": ctx.template.item_title(item),
                "count": len(missing),
            },
        )
    ]
