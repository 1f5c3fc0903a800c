"""What each action writes: a parser for its data and a writer for its records.

Templates name an effect per trigger. ``parse`` cleans the person's data (refusing bad input
with the field named) and returns it in JSON-safe form for the trail; ``apply`` writes the
records inside the action's transaction and returns their ids for the trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from fpic.errors import invalid
from fpic.guards import GuardContext, consent_in_force, mandated_representatives
from fpic.i18n import N_
from fpic.models import (
    DECISION_RULES,
    FORMATS,
    INTEGRITY_CATEGORIES,
    VOTERS,
    ActivityRecord,
    CaseNote,
    Condition,
    Decision,
    Disclosure,
    IntegrityFlag,
    Meeting,
    Protocol,
    Question,
    Representative,
    User,
)
from fpic.payloads import Fields

Parser = Callable[[Mapping[str, Any] | None, GuardContext], dict[str, Any]]
Writer = Callable[[GuardContext, dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class Effect:
    name: str
    parse: Parser
    apply: Writer


EFFECTS: dict[str, Effect] = {}


def effect(name: str, parse: Parser) -> Callable[[Writer], Writer]:
    def register(apply: Writer) -> Writer:
        EFFECTS[name] = Effect(name, parse, apply)
        return apply

    return register


def _note(ctx: GuardContext, kind: str, p: dict[str, Any], **data: Any) -> dict[str, Any]:
    note = CaseNote(
        case_id=ctx.case.id,
        kind=kind,
        text=p.get("text") or "",
        language=p.get("language"),
        data={k: v for k, v in p.items() if k not in ("text", "language")} | data,
        recorded_at=ctx.now,
        recorded_by_id=ctx.actor.user_id,
    )
    ctx.session.add(note)
    ctx.session.flush()  # the note id goes on the trail
    return {"note_id": note.id}


def _restart_clock(ctx: GuardContext) -> None:
    ctx.case.deliberation_started_at = None


# --- generic notes -------------------------------------------------------------------------


def parse_note(data: Mapping[str, Any] | None, _ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language"})
    return {"text": f.text("text"), "language": f.language("language", required=False)}


@effect("note", parse_note)
def write_note(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    return _note(ctx, ctx.trigger.name, p)


@effect("deferral", parse_note)
def write_deferral(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """More information is asked for: back to disclosure, and the clock starts again later."""
    _restart_clock(ctx)
    return _note(ctx, ctx.trigger.name, p)


@effect("suspend", parse_note)
def write_suspension(ctx: GuardContext, p: dict[str, Any], from_stage: str) -> dict[str, Any]:
    ctx.case.suspended_from = from_stage
    return _note(ctx, ctx.trigger.name, p, suspended_from=from_stage)


@effect("resume", parse_note)
def write_resumption(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    ctx.case.suspended_from = None
    return _note(ctx, ctx.trigger.name, p)


@effect("reconsideration_request", parse_note)
def write_reconsideration_request(
    ctx: GuardContext, p: dict[str, Any], _from: str
) -> dict[str, Any]:
    ctx.case.reconsideration_requested_at = ctx.now
    return _note(ctx, ctx.trigger.name, p)


@effect("decline", parse_note)
def write_declining(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """Declining to engage counts as no consent (TNC-HRG): the case stands as withheld."""
    ctx.case.withheld_at = ctx.now
    return _note(ctx, ctx.trigger.name, p)


@effect("reopen", parse_note)
def write_reopening(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    ctx.case.withheld_at = None
    ctx.case.reconsideration_requested_at = None
    _restart_clock(ctx)
    return _note(ctx, ctx.trigger.name, p)


@effect("restart", parse_note)
def write_restart(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """After invalidation the process is redone: every disclosure must be made again."""
    for disclosure in ctx.case.disclosures:
        if disclosure.superseded_at is None:
            disclosure.superseded_at = ctx.now
    _restart_clock(ctx)
    return _note(ctx, ctx.trigger.name, p)


@effect("state_approval", parse_note)
def write_state_approval(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    ctx.case.state_approved_without_agreement = True
    return _note(ctx, ctx.trigger.name, p)


# --- protocol ------------------------------------------------------------------------------


def parse_protocol(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(
        data,
        {
            "deciding_body",
            "decision_rule",
            "majority_percent",
            "quorum_percent",
            "voters",
            "eligible_voters",
            "eligible_voters_source",
            "abstentions_count",
            "min_deliberation_days",
            "content_languages",
            "formats",
            "grievance_route",
            "review_every_days",
            "source",
            "facilitator",
            "mediator",
        },
    )
    rule = f.choice("decision_rule", DECISION_RULES)
    # a council of the mandated representatives unless the protocol says an assembly votes
    voters = f.choice("voters", VOTERS, required=False) or "representatives"
    p = {
        "deciding_body": f.short("deciding_body"),
        "decision_rule": rule,
        # only a qualified majority has a share of its own; a figure left in the form for
        # another rule would be shown as if it applied
        "majority_percent": f.integer("majority_percent", required=False, minimum=51, maximum=100)
        if rule == "qualified_majority"
        else None,
        "quorum_percent": f.integer("quorum_percent", minimum=1, maximum=100),
        "voters": voters,
        # a council's size is the number of mandates valid on the day of the decision, so only
        # an assembly states how many are entitled to vote, and from which census or clause
        "eligible_voters": f.integer(
            "eligible_voters", required=False, minimum=1, maximum=10_000_000
        )
        if voters == "assembly"
        else None,
        "eligible_voters_source": f.text("eligible_voters_source", required=False)
        if voters == "assembly"
        else None,
        "abstentions_count": f.flag("abstentions_count"),
        "min_deliberation_days": f.integer("min_deliberation_days", maximum=3650),
        "content_languages": f.languages("content_languages"),
        "formats": f.choices("formats", FORMATS),
        "grievance_route": f.text("grievance_route"),
        # 90 days unless the community agreed otherwise: a quarterly joint review
        "review_every_days": f.integer("review_every_days", required=False, minimum=7, maximum=730)
        or 90,
        "source": f.text("source"),
        # the community agrees in its protocol who its independent people are
        "facilitator": _independent(ctx, f, "facilitator", required=False),
        "mediator": _independent(ctx, f, "mediator", required=False),
    }
    if rule == "qualified_majority" and p["majority_percent"] is None:
        raise invalid("majority_percent", N_("%(field)s is required for a qualified majority."))
    if voters == "assembly" and p["eligible_voters"] is None:
        raise invalid(
            "eligible_voters",
            N_(
                "%(field)s is required when an assembly votes: how many members or households "
                "are entitled to vote."
            ),
        )
    if voters == "assembly" and not p["eligible_voters_source"]:
        raise invalid(
            "eligible_voters_source",
            N_(
                "%(field)s is required when an assembly votes: the protocol clause or the census "
                "the number comes from."
            ),
        )
    return p


@effect("protocol", parse_protocol)
def write_protocol(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    protocol = ctx.case.protocol
    if protocol is None:
        protocol = Protocol(case_id=ctx.case.id)
        ctx.session.add(protocol)
        ctx.case.protocol = protocol
    independents = {key: p[key] for key in INDEPENDENT_FIELDS}
    for key, value in p.items():
        if key not in INDEPENDENT_FIELDS:
            setattr(protocol, key, value)
    protocol.agreed_at, protocol.agreed_by_id = ctx.now, ctx.actor.user_id
    assigned = {role: _assign(ctx, role, name) for role, name in independents.items() if name}
    ctx.session.flush()
    return {"protocol_id": protocol.id} | {f"{role}_id": uid for role, uid in assigned.items()}


# --- the case's independent people ---------------------------------------------------------

INDEPENDENT_FIELDS = ("facilitator", "mediator")


def _independent(
    ctx: GuardContext, f: Fields, role: str, required: bool = True, key: str | None = None
) -> str | None:
    """The user name of an active account holding ``role`` (checked in the transaction)."""
    key = key or role
    name = f.short(key, required)
    if name is None:
        return None
    found = ctx.session.scalar(
        select(User.id).where(User.username == name, User.role == role, User.active.is_(True))
    )
    if found is None:
        raise invalid(key, N_("%(field)s must name an active account with that role."))
    return name


def _assign(ctx: GuardContext, role: str, username: str) -> int:
    user_id = ctx.session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None  # parse checked it
    setattr(ctx.case, f"{role}_id", user_id)
    return user_id


def parse_assignment(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"role", "username", "text"})
    role = f.choice("role", INDEPENDENT_FIELDS) or ""
    username = _independent(ctx, f, role, key="username")
    return {"role": role, "username": username, "text": f.text("text", required=False)}


@effect("independent_assignment", parse_assignment)
def write_assignment(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """The trail names who assigned whom: a proposal by the proponent or the State before
    anyone held the community's mandate stays visible after the community agrees."""
    return {"role": p["role"], "user_id": _assign(ctx, p["role"], p["username"])}


# --- disclosure ----------------------------------------------------------------------------


def parse_disclosure(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(
        data,
        {
            "item",
            "language",
            "format",
            "title",
            "channel",
            "disclosed_on",
            "translator",
            "back_translation_attested",
        },
    )
    p = {
        "item": f.choice("item", ctx.template.required_disclosure_items),
        "language": f.language("language"),
        "format": f.choice("format", FORMATS),
        "title": f.short("title"),
        "channel": f.short("channel"),
        "disclosed_on": f.day("disclosed_on"),
        "translator": f.short("translator", required=False),
        "back_translation_attested": f.flag("back_translation_attested"),
    }
    _not_future("disclosed_on", p["disclosed_on"], ctx)
    return p


def _not_future(key: str, day: str | None, ctx: GuardContext) -> None:
    if day is not None and date.fromisoformat(day) > ctx.today:
        raise invalid(key, N_("%(field)s cannot be in the future."))


@effect("disclosure", parse_disclosure)
def write_disclosure(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    same = [
        d
        for d in ctx.case.disclosures
        if (d.item, d.language, d.format) == (p["item"], p["language"], p["format"])
    ]
    for earlier in same:
        if earlier.superseded_at is None:
            earlier.superseded_at = ctx.now  # a new version replaces the old one
    disclosure = Disclosure(
        case_id=ctx.case.id,
        version=len(same) + 1,
        recorded_at=ctx.now,
        **{**p, "disclosed_on": date.fromisoformat(p["disclosed_on"])},
    )
    ctx.session.add(disclosure)
    ctx.case.disclosures.append(disclosure)
    ctx.session.flush()
    return {"disclosure_id": disclosure.id, "version": disclosure.version}


@effect("complete_disclosure", parse_note)
def write_disclosure_completion(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """The deliberation clock starts now: the protocol's minimum days run from here."""
    ctx.case.deliberation_started_at = ctx.now
    return _note(ctx, ctx.trigger.name, p)


def parse_material_change(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language", "affected_items"})
    items = f.choices("affected_items", ctx.template.required_disclosure_items, required=False)
    return {
        "text": f.text("text"),
        "language": f.language("language", required=False),
        "affected_items": items or list(ctx.template.required_disclosure_items),
    }


@effect("material_change", parse_material_change)
def write_material_change(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    """A change to what was disclosed: those items must be disclosed again, clock restarts."""
    superseded = []
    for disclosure in ctx.case.disclosures:
        if disclosure.item in p["affected_items"] and disclosure.superseded_at is None:
            disclosure.superseded_at = ctx.now
            superseded.append(disclosure.id)
    _restart_clock(ctx)
    return _note(ctx, ctx.trigger.name, p) | {"superseded_disclosure_ids": superseded}


# --- meetings and questions ----------------------------------------------------------------


def _translations(f: Fields, key: str) -> list[dict[str, Any]]:
    cleaned = []
    for index, entry in enumerate(f.records(key, required=False)):
        t = Fields(entry, {"language", "text", "translator"}, prefix=f"{f.prefix}{key}.{index}.")
        cleaned.append(
            {
                "language": t.language("language"),
                "text": t.text("text"),
                "translator": t.short("translator"),
            }
        )
    return cleaned


def parse_meeting(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(
        data,
        {
            "kind",
            "held_on",
            "place",
            "languages_used",
            "interpreter",
            "attendance_women",
            "attendance_men",
            "attendance_other",
            "attendance_youth",
            "minutes_language",
            "minutes_original",
            "minutes_translations",
        },
    )
    p = {
        "kind": f.short("kind"),
        "held_on": f.day("held_on"),
        "place": f.short("place"),
        "languages_used": f.languages("languages_used"),
        "interpreter": f.short("interpreter", required=False),
        "attendance_women": f.integer("attendance_women", required=False) or 0,
        "attendance_men": f.integer("attendance_men", required=False) or 0,
        "attendance_other": f.integer("attendance_other", required=False) or 0,
        "attendance_youth": f.integer("attendance_youth", required=False) or 0,
        "minutes_language": f.language("minutes_language"),
        "minutes_original": f.text("minutes_original"),
        "minutes_translations": _translations(f, "minutes_translations"),
    }
    _not_future("held_on", p["held_on"], ctx)
    return p


@effect("meeting", parse_meeting)
def write_meeting(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    meeting = Meeting(
        case_id=ctx.case.id,
        recorded_at=ctx.now,
        **{**p, "held_on": date.fromisoformat(p["held_on"])},
    )
    ctx.session.add(meeting)
    ctx.case.meetings.append(meeting)
    ctx.session.flush()
    return {"meeting_id": meeting.id}


def parse_question(data: Mapping[str, Any] | None, _ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language"})
    return {"text": f.text("text"), "language": f.language("language")}


@effect("question", parse_question)
def write_question(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    question = Question(case_id=ctx.case.id, asked_at=ctx.now, **p)
    ctx.session.add(question)
    ctx.case.questions.append(question)
    ctx.session.flush()
    return {"question_id": question.id}


def parse_answer(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"question_id", "answer", "language"})
    p = {
        "question_id": f.integer("question_id", minimum=1, maximum=2**62),
        "answer": f.text("answer"),
        "language": f.language("language"),
    }
    question = _question(ctx, p["question_id"])
    if question is None:
        raise invalid("question_id", N_("There is no such question on this case."))
    if question.answered_at is not None:
        raise invalid("question_id", N_("This question has already been answered."))
    return p


def _question(ctx: GuardContext, question_id: int) -> Question | None:
    return next((q for q in ctx.case.questions if q.id == question_id), None)


@effect("answer", parse_answer)
def write_answer(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    question = _question(ctx, p["question_id"])
    assert question is not None
    question.answer, question.answer_language = p["answer"], p["language"]
    question.answered_at = ctx.now
    return {"question_id": question.id}


# --- integrity -----------------------------------------------------------------------------


def parse_flag(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"category", "description", "concerns"})
    return {
        "category": f.choice("category", INTEGRITY_CATEGORIES),
        "description": f.text("description"),
        "concerns": account_names(ctx, f, "concerns"),
    }


def account_names(ctx: GuardContext, f: Fields, key: str) -> list[str]:
    """User names of the accounts a flag or grievance is about: checked, so that a typo cannot
    let the person it names review it."""
    names = f.str_list(key, required=False)
    if names:
        known = set(ctx.session.scalars(select(User.username).where(User.username.in_(names))))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise invalid(
                key, N_("%(field)s names no account: %(names)s."), names=", ".join(unknown)
            )
    return names


@effect("integrity_flag", parse_flag)
def write_flag(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    flag = IntegrityFlag(
        case_id=ctx.case.id, raised_at=ctx.now, raised_by_id=ctx.actor.user_id, **p
    )
    ctx.session.add(flag)
    ctx.case.integrity_flags.append(flag)
    ctx.session.flush()
    return {"flag_id": flag.id}


def parse_flag_review(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"flag_id", "resolution", "upheld"})
    p = {
        "flag_id": f.integer("flag_id", minimum=1, maximum=2**62),
        "resolution": f.text("resolution"),
        "upheld": f.flag("upheld"),
    }
    flag = next((x for x in ctx.case.integrity_flags if x.id == p["flag_id"]), None)
    if flag is None:
        raise invalid("flag_id", N_("There is no such integrity flag on this case."))
    if flag.resolved_at is not None:
        raise invalid("flag_id", N_("This integrity flag has already been reviewed."))
    return p


@effect("resolve_integrity_flag", parse_flag_review)
def write_flag_review(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    flag = next(x for x in ctx.case.integrity_flags if x.id == p["flag_id"])
    flag.resolution, flag.upheld, flag.resolved_at = p["resolution"], p["upheld"], ctx.now
    return {"flag_id": flag.id}


# --- decision ------------------------------------------------------------------------------


def parse_decision(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(
        data,
        {
            "decided_on",
            "place",
            "present",
            "present_count",
            "votes_for",
            "votes_against",
            "abstentions",
            "consensus",
            "consensus_note",
            "dissent",
            "scope_phases",
            "scope_activities",
            "scope_area",
            "rejected_components",
            "text_language",
            "text_original",
            "translations",
            "conditions",
        },
    )
    protocol = ctx.case.protocol
    voters = protocol.voters if protocol else "representatives"
    p = {
        "decided_on": f.day("decided_on"),
        "place": f.short("place"),
        # a council is counted from the representatives ticked; at an assembly the mandated
        # representatives who attended may be listed, and the count is of the people present
        "present": f.int_list("present", required=voters == "representatives"),
        "votes_for": f.integer("votes_for", required=False) or 0,
        "votes_against": f.integer("votes_against", required=False) or 0,
        "abstentions": f.integer("abstentions", required=False) or 0,
        "consensus": f.flag("consensus"),
        "consensus_note": f.text("consensus_note", required=False),
        "dissent": f.text("dissent", required=False),
        "scope_phases": f.str_list("scope_phases", required=False),
        "scope_activities": f.str_list("scope_activities", required=False),
        "scope_area": f.text("scope_area", required=False),
        "rejected_components": f.str_list("rejected_components", required=False),
        "text_language": f.language("text_language"),
        "text_original": f.text("text_original"),
        "translations": _translations(f, "translations"),
        "conditions": _conditions(f),
    }
    _not_future("decided_on", p["decided_on"], ctx)
    members = {
        r.id
        for r in ctx.session.query(Representative.id).filter(
            Representative.community_id == ctx.case.community_id
        )
    }
    strangers = [r for r in p["present"] if r not in members]
    if strangers:
        raise invalid(
            "present", N_("%(field)s lists people who are not representatives of this community.")
        )
    if p["consensus"] and protocol is not None and protocol.decision_rule != "consensus":
        raise invalid(
            "consensus",
            N_("%(field)s applies only when the protocol decides by consensus: record the vote."),
        )
    p |= _attendance(f, ctx, voters, p["present"], date.fromisoformat(p["decided_on"]))
    votes = p["votes_for"] + p["votes_against"] + p["abstentions"]
    if votes > p["present_count"]:
        raise invalid(
            "votes_for",
            N_("More votes are recorded (%(votes)s) than people present (%(present)s)."),
            votes=votes,
            present=p["present_count"],
        )
    return p


def _attendance(
    f: Fields, ctx: GuardContext, voters: str, present: list[int], day: date
) -> dict[str, Any]:
    """Who voted, how many were entitled to vote and how many of them were present."""
    given = f.integer("present_count", required=False, maximum=10_000_000)
    if voters == "assembly":
        protocol = ctx.case.protocol
        assert protocol is not None  # an assembly votes only under a protocol saying so
        assert protocol.eligible_voters is not None  # required with it
        eligible = protocol.eligible_voters
        if given is None:
            raise invalid(
                "present_count",
                N_("%(field)s is required: how many of those entitled to vote were present."),
            )
        if given > eligible:
            raise invalid(
                "present_count",
                N_("%(field)s is more than the %(eligible)s entitled to vote under the protocol."),
                eligible=eligible,
            )
        return {"voters": voters, "eligible": eligible, "present_count": given}
    # a council: only the representatives whose mandate is valid that day are entitled
    mandated = set(mandated_representatives(ctx.session, ctx.case.community_id, day))
    counted = len([r for r in present if r in mandated])
    if given is not None and given != counted:
        raise invalid(
            "present_count",
            N_("%(field)s must match the mandated representatives listed as present (%(count)s)."),
            count=counted,
        )
    return {"voters": voters, "eligible": len(mandated), "present_count": counted}


def _conditions(f: Fields) -> list[dict[str, Any]]:
    cleaned = []
    for index, entry in enumerate(f.records("conditions", required=False)):
        c = Fields(
            entry,
            {
                "text",
                "language",
                "translations",
                "obligated_party",
                "due_on",
                "due_event",
                "verification",
            },
            prefix=f"conditions.{index}.",
        )
        cleaned.append(
            {
                "text": c.text("text"),
                "language": c.language("language"),
                "obligated_party": c.short("obligated_party"),
                "due_on": c.day("due_on", required=False),
                "due_event": c.text("due_event", required=False),
                "translations": _translations(c, "translations"),
                "verification": c.text("verification"),
            }
        )
    return cleaned


@effect("decision", parse_decision)
def write_decision(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    protocol = ctx.case.protocol
    outcome = ctx.trigger.outcome or ""
    decision = Decision(
        case_id=ctx.case.id,
        outcome=outcome,
        decided_on=date.fromisoformat(p["decided_on"]),
        recorded_at=ctx.now,
        recorded_by_id=ctx.actor.user_id,
        place=p["place"],
        deciding_body=protocol.deciding_body if protocol else "",
        decision_rule=protocol.decision_rule if protocol else "",
        present_representative_ids=p["present"],
        **{
            k: p[k]
            for k in (
                "voters",
                "eligible",
                "present_count",
                "consensus",
                "votes_for",
                "votes_against",
                "abstentions",
                "consensus_note",
                "dissent",
                "scope_phases",
                "scope_activities",
                "scope_area",
                "rejected_components",
                "text_language",
                "text_original",
                "translations",
            )
        },
        disclosure_ids=[d.id for d in ctx.case.disclosures if d.superseded_at is None],
    )
    ctx.session.add(decision)
    ctx.case.decisions.append(decision)
    ctx.session.flush()
    for c in p["conditions"]:
        due = date.fromisoformat(c["due_on"]) if c["due_on"] else None
        ctx.session.add(
            Condition(decision_id=decision.id, case_id=ctx.case.id, **{**c, "due_on": due})
        )
    if outcome in ("WITHHELD", "DECLINED_TO_ENGAGE"):
        ctx.case.withheld_at = ctx.now
    if outcome == "DEFERRED_MORE_INFO":
        _restart_clock(ctx)
    ctx.session.flush()
    return {"decision_id": decision.id, "condition_ids": [c.id for c in decision.conditions]}


# --- after consent -------------------------------------------------------------------------


def parse_activity(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"activity", "phase", "started_on"})
    p = {
        "activity": f.short("activity"),
        "phase": f.short("phase", required=False),
        "started_on": f.day("started_on"),
    }
    _not_future("started_on", p["started_on"], ctx)
    return p


@effect("activity", parse_activity)
def write_activity(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    consent = consent_in_force(ctx.template, ctx.case)
    assert consent is not None  # the consent_covers_activity guard ran
    record = ActivityRecord(
        case_id=ctx.case.id,
        activity=p["activity"],
        phase=p["phase"],
        started_on=date.fromisoformat(p["started_on"]),
        decision_id=consent.id,
        recorded_at=ctx.now,
    )
    ctx.session.add(record)
    ctx.case.activities.append(record)
    ctx.session.flush()
    return {"activity_id": record.id, "decision_id": consent.id}


def parse_withdrawal(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language", "decided_on", "deciding_body", "activities_affected"})
    p = {
        "text": f.text("text", required=False),
        "language": f.language("language", False),
        "decided_on": f.day("decided_on"),
        "deciding_body": f.short("deciding_body"),
        "activities_affected": f.str_list("activities_affected"),
    }
    _not_future("decided_on", p["decided_on"], ctx)
    return p


@effect("withdrawal", parse_withdrawal)
def write_withdrawal(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    return _note(ctx, ctx.trigger.name, p)


def parse_agreement(data: Mapping[str, Any] | None, ctx: GuardContext) -> dict[str, Any]:
    f = Fields(data, {"text", "language", "signed_on", "signatories"})
    p = {
        "text": f.text("text"),
        "language": f.language("language", False),
        "signed_on": f.day("signed_on"),
        "signatories": f.str_list("signatories"),
    }
    _not_future("signed_on", p["signed_on"], ctx)
    return p


@effect("agreement", parse_agreement)
def write_agreement(ctx: GuardContext, p: dict[str, Any], _from: str) -> dict[str, Any]:
    return _note(ctx, ctx.trigger.name, p)


# The grievance mechanism and the conditions register register their effects here too.
from fpic import grievances as _grievances  # noqa: E402, F401
