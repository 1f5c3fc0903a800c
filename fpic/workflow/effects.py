"""What each action of the process asks and writes: one declaration per kind of action.

Each :class:`~fpic.workflow.schema.Action` below lists its fields (read and checked by
:mod:`fpic.workflow.schema`), the checks across its fields, and the writer that records it inside
the
action's transaction and returns the ids for the trail. Templates name these by their effect;
:mod:`fpic.workflow.actions` gathers them with those of :mod:`fpic.workflow.grievances`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import object_session

from fpic.i18n import N_
from fpic.storage.db import table_of
from fpic.storage.models import (
    DECISION_RULES,
    FORMATS,
    INTEGRITY_CATEGORIES,
    VOTERS,
    ActivityRecord,
    Case,
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
from fpic.workflow.errors import invalid
from fpic.workflow.evidence import evidence_fields
from fpic.workflow.guards import GuardContext, community_roll, consent_in_force
from fpic.workflow.permissions import CASE_ASSIGNED_ROLES
from fpic.workflow.process import Limit, Template, pinned_template
from fpic.workflow.schema import (
    Action,
    CaseText,
    Choice,
    Chooser,
    Default,
    Field,
    Payload,
    Term,
    Text,
)

MEETING_KINDS = (
    "information",
    "discussion",
    "deliberation",
    "negotiation",
    "decision",
    "validation",
    "monitoring",
)
#: the protocol names the community's choice of each independent person in a field of that
#: role's name
INDEPENDENT_FIELDS = CASE_ASSIGNED_ROLES


# --- what forms offer, computed from the case ----------------------------------------------


def content_languages(case: Case) -> list[str]:
    """The languages agreed in the protocol, or before it the community's own."""
    return case.protocol.content_languages if case.protocol else case.community.content_languages


def first_language(case: Case, _today: date) -> str:
    languages = content_languages(case)
    return languages[0] if languages else ""


def _all_languages(case: Case, _today: date) -> str:
    return ", ".join(content_languages(case))


def on_today(_case: Case, today: date) -> date:
    return today


def _institution(case: Case, _today: date) -> str:
    return case.community.institution


def language_choices(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [Choice(code, Term("languages", code)) for code in content_languages(case)]


def _formats_agreed(case: Case, _template: Template, _today: date) -> list[Choice]:
    formats = case.protocol.formats if case.protocol else list(FORMATS)
    return [Choice(f, Term("formats", f)) for f in formats]


def disclosure_items(template: Template) -> tuple[str, ...]:
    return template.disclosure_items


def items_field(name: str, label: str, required: bool = True) -> Field:
    """A field naming items of information of the case's template (those a change makes
    disclose again, those a new proposal changes)."""
    return Field(
        name, "choices", label, required=required, fallback=None if required else [],
        options=disclosure_items, choices=item_choices,
    )  # fmt: skip


def item_choices(_case: Case, template: Template, _today: date) -> list[Choice]:
    return [Choice(i, Text(template.item_title(i))) for i in template.disclosure_items]


def _phases(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [Choice(p, Term("phases", p)) for p in case.project.phases]


def _activities(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [Choice(a, Term("activities", a)) for a in case.project.activities]


def _meeting_kinds(_case: Case, _template: Template, _today: date) -> list[Choice]:
    return [Choice(k, Term("meeting_kinds", k)) for k in MEETING_KINDS]


def _open_questions(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [
        Choice(str(q.id), Text(q.text[:120], translate=False))
        for q in case.questions
        if q.answered_at is None
    ]


def _open_flags(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [
        Choice(
            str(f.id),
            Text(
                "%(category)s: %(text)s",
                {"category": Term("integrity_categories", f.category), "text": f.description[:80]},
                translate=False,
            ),
        )
        for f in case.integrity_flags
        if f.resolved_at is None
    ]


def _representatives(case: Case, _template: Template, today: date) -> list[Choice]:
    """The community's representatives; one without a mandate in force today is marked ✗."""
    session = object_session(case)
    assert session is not None, "a form is built inside the case's read session"
    reps = session.scalars(
        select(Representative)
        .where(Representative.community_id == case.community_id)
        .order_by(Representative.name)
    )
    return [
        Choice(str(r.id), Text(r.name + ("" if r.mandate_on(today) else " ✗"), translate=False))
        for r in reps
    ]


def _accounts_of(case: Case, roles: tuple[str, ...]) -> list[Choice]:
    """Active accounts holding one of ``roles``, read in the session the case was loaded in."""
    session = object_session(case)
    assert session is not None, "a form is built inside the case's read session"
    people = session.scalars(
        select(User)
        .where(User.role.in_(roles), User.active.is_(True))
        .order_by(User.role, User.display_name, User.username)
    )
    return [
        Choice(
            u.username,
            Text(
                "%(name)s (%(username)s) — %(role)s",
                {"name": u.display_name, "username": u.username, "role": Term("roles", u.role)},
                translate=False,
            ),
        )
        for u in people
    ]


def _blank(choices: list[Choice]) -> list[Choice]:
    return [Choice("", Text("—", translate=False)), *choices]


def _people_in(role: str) -> Chooser:
    """The active accounts of ``role`` a protocol may name, or nobody."""

    def chooser(case: Case, _template: Template, _today: date) -> list[Choice]:
        return _blank(_accounts_of(case, (role,)))

    return chooser


def _independents(case: Case, _template: Template, _today: date) -> list[Choice]:
    return _accounts_of(case, CASE_ASSIGNED_ROLES)


def _assigned_now(role: str) -> Default:
    """The form shows who holds ``role`` on the case now."""

    def default(case: Case, _today: date) -> str:
        person = getattr(case, role)
        return person.username if person is not None else ""

    return default


def _translation_rows() -> tuple[Field, ...]:
    return (
        Field("language", "language", N_("Language of the translation (code, e.g. es)")),
        Field("text", "text", N_("Translated text")),
        Field("translator", "short", N_("Translated by")),
    )


def _language(label: str, required: bool = True) -> Field:
    return Field("language", "language", label, required=required, default=first_language)


# --- records every action may write ----------------------------------------------------------


def record_note(ctx: GuardContext, kind: str, p: Payload, **data: Any) -> dict[str, Any]:
    """A note on the case: the text, and the rest of the action's data as it was given. One
    Core INSERT: a note is written once and never changed, and only its id goes on."""
    note_id = (
        ctx.session.connection()
        .execute(
            _INSERT_NOTE,
            {
                "case_id": ctx.case.id,
                "kind": kind,
                "text": p.get("text") or "",
                "language": p.get("language"),
                "data": {k: v for k, v in p.items() if k not in ("text", "language")} | data,
                "recorded_at": ctx.now,
                "recorded_by_id": ctx.actor.user_id,
            },
        )
        .scalar_one()
    )
    return {"note_id": note_id}


_NOTES = table_of(CaseNote)
_INSERT_NOTE = insert(_NOTES).returning(_NOTES.c.id)


def _restart_clock(ctx: GuardContext) -> None:
    """Before any record of the case is read: reading one flushes the case's changes, and a
    change made after that would cost the case a second UPDATE."""
    ctx.case.deliberation_started_at = None


# --- notes that move the case ----------------------------------------------------------------

NOTE_FIELDS = (
    Field("text", "text", N_("Record")),
    Field("language", "language", N_("Language of the record (code, optional)"), required=False),
    *evidence_fields(N_("Attached: maps, memos, letters, photos")),
)


def write_note(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


def write_deferral(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """More information is asked for: back to disclosure, and the clock starts again later."""
    _restart_clock(ctx)
    return record_note(ctx, ctx.trigger.name, p)


def write_suspension(ctx: GuardContext, p: Payload, from_stage: str) -> dict[str, Any]:
    ctx.case.suspended_from = from_stage
    return record_note(ctx, ctx.trigger.name, p, suspended_from=from_stage)


def write_resumption(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    ctx.case.suspended_from = None
    return record_note(ctx, ctx.trigger.name, p)


def write_reconsideration_request(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    ctx.case.reconsideration_requested_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


RECONSIDERATION_REQUEST_FIELDS = (
    Field("text", "text", N_("The new proposal, and how it answers the community's reasons")),
    Field("language", "language", N_("Language (code, optional)"), required=False),
    # the new proposal is disclosed before the community can decide again (NCIP AO 3 §27)
    items_field("proposal_items", N_("Items of information the new proposal changes")),
    *evidence_fields(N_("The request and the new proposal")),
)


def write_declining(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """Declining to engage counts as no consent (TNC-HRG): the case stands as withheld."""
    ctx.case.withheld_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


def write_reopening(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """Back to disclosure: the items a pending request's new proposal changes are disclosed
    again before the community decides again."""
    requested = ctx.case.reconsideration_requested_at is not None
    ctx.case.withheld_at = None
    ctx.case.reconsideration_requested_at = None
    _restart_clock(ctx)
    superseded = _supersede(ctx, _proposal_items(ctx)) if requested else []
    return record_note(ctx, ctx.trigger.name, p) | {"superseded_disclosure_ids": superseded}


def _proposal_items(ctx: GuardContext) -> list[str]:
    """The items the latest request for reconsideration names (read only on reopening)."""
    kinds = [
        t.name for t in ctx.template.triggers.values() if t.effect == "reconsideration_request"
    ]
    data = ctx.session.scalar(
        select(CaseNote.data)
        .where(CaseNote.case_id == ctx.case.id, CaseNote.kind.in_(kinds))
        .order_by(CaseNote.id.desc())
        .limit(1)
    )
    return list((data or {}).get("proposal_items") or [])


def _supersede(ctx: GuardContext, items: list[str] | tuple[str, ...]) -> list[int]:
    if not items:  # nothing to present again: the disclosures are not read
        return []
    superseded = []
    for disclosure in ctx.case.disclosures:
        if disclosure.item in items and disclosure.superseded_at is None:
            disclosure.superseded_at = ctx.now
            superseded.append(disclosure.id)
    return superseded


def write_restart(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """After invalidation the process is redone: every disclosure must be made again."""
    _restart_clock(ctx)
    for disclosure in ctx.case.disclosures:
        if disclosure.superseded_at is None:
            disclosure.superseded_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


def write_state_approval(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    ctx.case.state_approved_without_agreement = True
    return record_note(ctx, ctx.trigger.name, p)


def write_disclosure_completion(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """The deliberation clock starts now: the protocol's minimum days run from here."""
    ctx.case.deliberation_started_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


NOTES = (
    Action("note", NOTE_FIELDS, write_note),
    Action("deferral", NOTE_FIELDS, write_deferral),
    Action("suspend", NOTE_FIELDS, write_suspension),
    Action("resume", NOTE_FIELDS, write_resumption),
    Action(
        "reconsideration_request", RECONSIDERATION_REQUEST_FIELDS, write_reconsideration_request
    ),
    # declining to engage is the community's decision too: signed where its protocol says so
    Action("decline", NOTE_FIELDS, write_declining, signed=True),
    Action("reopen", NOTE_FIELDS, write_reopening),
    Action("restart", NOTE_FIELDS, write_restart),
    Action("state_approval", NOTE_FIELDS, write_state_approval),
    Action("complete_disclosure", NOTE_FIELDS, write_disclosure_completion),
)


# --- protocol --------------------------------------------------------------------------------


def _agreed_limit_names(template: Template) -> list[str]:
    return [limit.name for limit in template.agreed_limits]


def _agreed_limits(_case: Case, template: Template, _today: date) -> list[Choice]:
    return [Choice(limit.name, _agreed_limit_label(limit)) for limit in template.agreed_limits]


def _agreed_limit_label(limit: Limit) -> Text:
    if limit.amount is None:
        return Text(N_("%(limit)s (no default)"), {"limit": Text(limit.title)})
    return Text(
        N_("%(limit)s (default: %(amount)s %(unit)s)"),
        {
            "limit": Text(limit.title),
            "amount": limit.amount,
            "unit": Term("time_units", limit.unit),
        },
    )


def _agrees_limits(case: Case) -> bool:
    template = pinned_template(case)
    return template is not None and bool(template.agreed_limits)


def check_protocol(p: Payload, ctx: GuardContext) -> None:
    if p["decision_rule"] == "qualified_majority" and p["majority_percent"] is None:
        raise invalid("majority_percent", N_("%(field)s is required for a qualified majority."))
    if p["voters"] == "assembly" and p["eligible_voters"] is None:
        raise invalid(
            "eligible_voters",
            N_(
                "%(field)s is required when an assembly votes: how many members or households "
                "are entitled to vote."
            ),
        )
    if p["voters"] == "assembly" and not p["eligible_voters_source"]:
        raise invalid(
            "eligible_voters_source",
            N_(
                "%(field)s is required when an assembly votes: the protocol clause or the census "
                "the number comes from."
            ),
        )
    # the community agrees in its protocol who its independent people are
    for role in INDEPENDENT_FIELDS:
        _check_independent(ctx, role, p[role], role)
    agreed: dict[str, int] = {}
    for row in p["time_limits"]:
        if row["limit"] in agreed:
            raise invalid("time_limits", N_("%(field)s names the same time limit twice."))
        agreed[row["limit"]] = row["amount"]
    p["time_limits"] = agreed


def _check_independent(ctx: GuardContext, role: str, name: str | None, key: str) -> None:
    """The user name of an active account holding ``role`` (checked in the transaction)."""
    if name is None:
        return
    found = ctx.session.scalar(
        select(User.id).where(User.username == name, User.role == role, User.active.is_(True))
    )
    if found is None:
        raise invalid(key, N_("%(field)s must name an active account with that role."))
    ctx.found[("account", role, name)] = found


def write_protocol(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
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


ASSEMBLY = ("assembly",)

PROTOCOL = Action(
    "protocol",
    (
        Field("deciding_body", "short", N_("Deciding body"), default=_institution),
        Field(
            "decision_rule", "choice", N_("Decision rule"),
            options=DECISION_RULES, vocabulary="decision_rules",
        ),
        # only a qualified majority has a share of its own; a figure left in the form for
        # another rule would be shown as if it applied
        Field(
            "majority_percent", "integer", N_("Qualified majority, percentage of votes cast"),
            hint=N_("Only for a qualified majority, e.g. 67."), required=False,
            minimum=51, maximum=100, when=("decision_rule", ("qualified_majority",)),
        ),
        Field(
            "quorum_percent", "integer", N_("Quorum, percentage of those entitled to vote"),
            hint=N_(
                "For a council: of the representatives mandated on the day of the decision. "
                "For an assembly: of the number entitled to vote."
            ),
            minimum=1, maximum=100,
        ),
        # a council of the mandated representatives unless the protocol says an assembly votes
        Field(
            "voters", "choice", N_("Who votes"), required=False, options=VOTERS,
            vocabulary="voters", fallback="representatives",
        ),
        # a council's size is the number of mandates valid on the day of the decision, so only
        # an assembly states how many are entitled to vote, and from which census or clause
        Field(
            "eligible_voters", "integer", N_("Number entitled to vote (assembly only)"),
            hint=N_("The community members or households entitled to vote in the assembly."),
            required=False, minimum=1, maximum=10_000_000, when=("voters", ASSEMBLY),
        ),
        Field(
            "eligible_voters_source", "text",
            N_("Where that number comes from (assembly only)"),
            hint=N_(
                'The protocol clause or the census, e.g. "Census of households, 2025, kept by '
                "the assembly's secretary\"."
            ),
            required=False, when=("voters", ASSEMBLY),
        ),
        Field(
            "abstentions_count", "flag",
            N_("Abstentions count as votes cast (they then weigh like votes against)"),
        ),
        Field("min_deliberation_days", "integer", N_("Minimum deliberation days"), maximum=3650),
        Field(
            "content_languages", "languages", N_("Content languages (codes, comma-separated)"),
            default=lambda case, _today: ", ".join(case.community.content_languages),
        ),
        Field(
            "formats", "choices", N_("Formats required for disclosure"),
            options=FORMATS, vocabulary="formats",
        ),
        Field("grievance_route", "text", N_("Grievance route")),
        # 90 days unless the community agreed otherwise: a quarterly joint review
        Field(
            "review_every_days", "integer", N_("Joint monitoring review every (days)"),
            required=False, minimum=7, maximum=730, fallback=90, default=lambda _c, _t: 90,
        ),
        Field(
            "time_limits", "records", N_("Time limit the community sets"), required=False,
            hint=N_("Left out, a time limit keeps the default the process states."),
            rows=(
                Field(
                    "limit", "choice", N_("Time limit"), options=_agreed_limit_names,
                    choices=_agreed_limits,
                ),
                Field("amount", "integer", N_("Days or months"), minimum=1, maximum=3650),
            ),
            form_rows=(0, 8), shown=_agrees_limits,
        ),
        Field("source", "text", N_("Source (resolution, minutes, protocol)")),
        Field(
            "signed_decisions", "flag",
            N_("The representatives sign the community's decisions with their own passkey"),
            hint=N_(
                "Consent, withholding, withdrawal and any new protocol are then recorded only "
                "with the signature of the representative who records them, made on their own "
                "phone or security key: nobody running the server can make it."
            ),
        ),
        Field(
            "facilitator", "short", N_("Independent facilitator the community agrees (optional)"),
            required=False, choices=_people_in("facilitator"),
            default=_assigned_now("facilitator"),
        ),
        Field(
            "mediator", "short",
            N_("Independent grievance mediator the community agrees (optional)"),
            required=False, choices=_people_in("mediator"), default=_assigned_now("mediator"),
        ),
    ),
    write_protocol,
    check=check_protocol,
    # a protocol that asks for signed decisions is changed only by a signed one
    signed=True,
)  # fmt: skip


# --- the case's independent people ---------------------------------------------------------


def _assign(ctx: GuardContext, role: str, username: str) -> int:
    user_id: int = ctx.found[("account", role, username)]  # the check read it
    setattr(ctx.case, f"{role}_id", user_id)
    return user_id


def check_assignment(p: Payload, ctx: GuardContext) -> None:
    _check_independent(ctx, p["role"], p["username"], "username")


def write_assignment(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """The trail names who assigned whom: a proposal by the proponent or the State before
    anyone held the community's mandate stays visible after the community agrees."""
    return {"role": p["role"], "user_id": _assign(ctx, p["role"], p["username"])}


ASSIGNMENT = Action(
    "independent_assignment",
    (
        Field("role", "choice", N_("Assign as"), options=INDEPENDENT_FIELDS, vocabulary="roles"),
        Field(
            "username", "short", N_("Person (an active account of that role)"),
            choices=_independents,
        ),
        Field(
            "text", "text", N_("How the community chose them, or why (optional)"),
            required=False,
        ),
    ),
    write_assignment,
    check=check_assignment,
)  # fmt: skip


# --- disclosure ----------------------------------------------------------------------------


def write_disclosure(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """One item disclosed in each language and format given: a new version of each of those
    cells, which supersedes the one in force."""
    return {"disclosures": _disclose(ctx, [p["item"]], p)}


def write_disclosure_package(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """Several items disclosed together (one booklet, one assembly), each in every language
    and format given: what one disclosure each would write, in one action."""
    return {"disclosures": _disclose(ctx, p["items"], p)}


def _disclose(ctx: GuardContext, items: list[str], p: Payload) -> list[dict[str, Any]]:
    """A new version of each cell (item, language, format). Only those items' versions are
    read, in one statement, and the new ones are written with Core: a case's disclosures
    number dozens, and loading them all for each action cost more than the rest of it."""
    connection = ctx.session.connection()
    items = list(dict.fromkeys(items))
    versions: dict[tuple[str, str, str], list[Any]] = {}
    for row in connection.execute(_ITEM_VERSIONS, {"case_id": ctx.case.id, "items": items}):
        versions.setdefault((row.item, row.language, row.format), []).append(row)
    # each cell once, whatever was ticked twice
    cells = list(
        dict.fromkeys(
            (item, lang, fmt) for item in items for lang in p["languages"] for fmt in p["formats"]
        )
    )
    current = [r.id for cell in cells for r in versions.get(cell, []) if r.superseded_at is None]
    if current:  # a new version replaces the old one
        connection.execute(_SUPERSEDE_DISCLOSURES, {"ids": current, "at": ctx.now})
    common = {k: v for k, v in p.items() if k not in ("item", "items", "languages", "formats")}
    common |= {"disclosed_on": date.fromisoformat(p["disclosed_on"])}
    rows: list[dict[str, Any]] = [
        {**common, "item": item, "language": language, "format": fmt, "case_id": ctx.case.id,
         "version": len(versions.get((item, language, fmt), [])) + 1, "recorded_at": ctx.now}
        for item, language, fmt in cells
    ]  # fmt: skip
    # every cell in one INSERT (no order promised back: each id is matched by its cell)
    ids = {
        (r.item, r.language, r.format): r.id for r in connection.execute(_INSERT_DISCLOSURE, rows)
    }
    written = []
    for new in rows:
        cell = (new["item"], new["language"], new["format"])
        entry = {"disclosure_id": ids[cell], "language": new["language"], "format": new["format"]}
        if len(items) > 1:
            entry["item"] = new["item"]
        written.append({**entry, "version": new["version"]})
    # the case's collection, if a guard loaded it, no longer says what the rows hold
    ctx.session.expire(ctx.case, ["disclosures"])
    return written


_DISCLOSURES = table_of(Disclosure)
_ITEM_VERSIONS = select(
    _DISCLOSURES.c.id,
    _DISCLOSURES.c.item,
    _DISCLOSURES.c.language,
    _DISCLOSURES.c.format,
    _DISCLOSURES.c.superseded_at,
).where(
    _DISCLOSURES.c.case_id == bindparam("case_id"),
    _DISCLOSURES.c.item.in_(bindparam("items", expanding=True)),
)
_SUPERSEDE_DISCLOSURES = (
    update(_DISCLOSURES)
    .where(_DISCLOSURES.c.id.in_(bindparam("ids", expanding=True)))
    .values(superseded_at=bindparam("at"))
)
_INSERT_DISCLOSURE = insert(_DISCLOSURES).returning(
    _DISCLOSURES.c.id, _DISCLOSURES.c.item, _DISCLOSURES.c.language, _DISCLOSURES.c.format
)


#: how, when and by whom the information was shared: alike for one item and for several
_HOW_DISCLOSED = (
    Field("channel", "short", N_("Channel (assembly, radio, booklet ...)")),
    Field("disclosed_on", "day", N_("Disclosed on"), past=True, default=on_today),
    Field("translator", "short", N_("Translator or interpreter"), required=False),
    Field("back_translation_attested", "flag", N_("Back-translation attested")),
)

DISCLOSURE = Action(
    "disclosure",
    (
        Field(
            "item", "choice", N_("Item of information"),
            options=disclosure_items, choices=item_choices,
        ),
        # one form for several cells of the matrix: a version for each language and format
        Field("languages", "languages", N_("Languages"), choices=language_choices),
        Field(
            "formats", "choices", N_("Formats"),
            options=FORMATS, vocabulary="formats", choices=_formats_agreed,
        ),
        Field("title", "short", N_("Title")),
        *_HOW_DISCLOSED,
        *evidence_fields(
            N_("The item as disclosed: documents, recordings, images"),
            hint=N_("One file may serve every language and format ticked, or send one each."),
        ),
    ),
    write_disclosure,
)  # fmt: skip


def _missing_items(case: Case, _today: date) -> list[str]:
    """The items of information not yet disclosed in every agreed language and format: what a
    package form offers ticked."""
    template = pinned_template(case)
    if template is None or case.protocol is None:
        return []
    agreed = case.protocol
    cells = {(lang, fmt) for lang in agreed.content_languages for fmt in agreed.formats}
    done: dict[str, set[tuple[str, str]]] = {}
    for d in case.disclosures:
        if d.superseded_at is None:
            done.setdefault(d.item, set()).add((d.language, d.format))
    return [i for i in template.required_disclosure_items if not cells <= done.get(i, set())]


def _agreed_languages(case: Case, _today: date) -> list[str]:
    return list(content_languages(case))


def _agreed_formats(case: Case, _today: date) -> list[str]:
    return list(case.protocol.formats) if case.protocol else []


DISCLOSURE_PACKAGE = Action(
    "disclosure_package",
    (
        Field(
            "items", "choices", N_("Items of information"),
            options=disclosure_items, choices=item_choices, default=_missing_items,
            hint=N_("Those not yet disclosed in every agreed language and format are ticked."),
        ),
        Field(
            "languages", "languages", N_("Languages"), choices=language_choices,
            default=_agreed_languages,
        ),
        Field(
            "formats", "choices", N_("Formats"),
            options=FORMATS, vocabulary="formats", choices=_formats_agreed,
            default=_agreed_formats,
        ),
        Field(
            "title", "short", N_("Title"),
            hint=N_("The booklet, session or broadcast, e.g. “Information booklet, Quechua "
                    "edition”."),
        ),
        *_HOW_DISCLOSED,
        *evidence_fields(
            N_("The information as disclosed: documents, recordings, images"),
            hint=N_("One file may hold every item, language and format ticked."),
        ),
    ),
    write_disclosure_package,
)  # fmt: skip


def write_material_change(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    """A change to what was disclosed: those items must be disclosed again, clock restarts.
    Declared with the project's area it may change, in fpic.workflow.places; an event that
    calls for consent again (RECONSENT_EVENT) writes the same."""
    _restart_clock(ctx)
    superseded = _supersede(ctx, p["affected_items"])
    return record_note(ctx, ctx.trigger.name, p) | {"superseded_disclosure_ids": superseded}


# --- meetings and questions ----------------------------------------------------------------


def write_meeting(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    meeting = Meeting(
        case_id=ctx.case.id,
        recorded_at=ctx.now,
        **{**p, "held_on": date.fromisoformat(p["held_on"])},
    )
    ctx.session.add(meeting)
    ctx.session.flush()
    return {"meeting_id": meeting.id}


def _attendance(name: str, label: str) -> Field:
    return Field(
        name, "integer", label, required=False, fallback=0, default=lambda _case, _today: 0
    )


MEETING = Action(
    "meeting",
    (
        Field("kind", "short", N_("Kind of meeting"), choices=_meeting_kinds),
        Field("held_on", "day", N_("Held on"), past=True, default=on_today),
        Field("place", "short", N_("Place")),
        Field(
            "languages_used", "languages", N_("Languages used (codes, comma-separated)"),
            default=_all_languages,
        ),
        Field("interpreter", "short", N_("Interpreter"), required=False),
        _attendance("attendance_women", N_("Women attending")),
        _attendance("attendance_men", N_("Men attending")),
        _attendance("attendance_other", N_("Other attendees")),
        _attendance("attendance_youth", N_("Of whom youth")),
        Field(
            "minutes_language", "language", N_("Language of the minutes (code)"),
            default=first_language,
        ),
        Field("minutes_original", "text", N_("Minutes in the original language")),
        Field(
            "minutes_translations", "records", N_("Translation of the minutes"),
            required=False, rows=_translation_rows(), form_rows=(1, 3),
        ),
        *evidence_fields(N_("Signed minutes, attendance sheets, recordings, photos")),
    ),
    write_meeting,
)  # fmt: skip


def write_question(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    question = Question(case_id=ctx.case.id, asked_at=ctx.now, **p)
    ctx.session.add(question)
    ctx.session.flush()
    return {"question_id": question.id}


QUESTION = Action(
    "question",
    (Field("text", "text", N_("Question")), _language(N_("Language of the question (code)"))),
    write_question,
)


def _question(ctx: GuardContext, question_id: int) -> Question | None:
    return next((q for q in ctx.case.questions if q.id == question_id), None)


def check_answer(p: Payload, ctx: GuardContext) -> None:
    question = _question(ctx, p["question_id"])
    if question is None:
        raise invalid("question_id", N_("There is no such question on this case."))
    if question.answered_at is not None:
        raise invalid("question_id", N_("This question has already been answered."))


def write_answer(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    question = _question(ctx, p["question_id"])
    assert question is not None
    question.answer, question.answer_language = p["answer"], p["language"]
    question.answered_at = ctx.now
    return {"question_id": question.id}


ANSWER = Action(
    "answer",
    (
        Field("question_id", "id", N_("Question"), choices=_open_questions),
        Field("answer", "text", N_("Answer")),
        _language(N_("Language of the answer (code)")),
    ),
    write_answer,
    check=check_answer,
)


# --- integrity -----------------------------------------------------------------------------

#: the hint under the "concerns" field: the people named may not review what they are in
FLAG_CONCERNS_HINT = N_(
    "User names of the accounts it is about, comma-separated (optional): none of them may "
    "review the flag."
)


def write_flag(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    flag = IntegrityFlag(
        case_id=ctx.case.id, raised_at=ctx.now, raised_by_id=ctx.actor.user_id, **p
    )
    ctx.session.add(flag)
    ctx.session.flush()
    return {"flag_id": flag.id}


FLAG = Action(
    "integrity_flag",
    (
        Field(
            "category", "choice", N_("What happened"),
            options=INTEGRITY_CATEGORIES, vocabulary="integrity_categories",
        ),
        Field("description", "text", N_("Description")),
        Field(
            "concerns", "accounts", N_("Accounts the flag is about"), hint=FLAG_CONCERNS_HINT,
            required=False,
        ),
    ),
    write_flag,
)  # fmt: skip


def check_flag_review(p: Payload, ctx: GuardContext) -> None:
    flag = next((x for x in ctx.case.integrity_flags if x.id == p["flag_id"]), None)
    if flag is None:
        raise invalid("flag_id", N_("There is no such integrity flag on this case."))
    if flag.resolved_at is not None:
        raise invalid("flag_id", N_("This integrity flag has already been reviewed."))


def write_flag_review(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    flag = next(x for x in ctx.case.integrity_flags if x.id == p["flag_id"])
    flag.resolution, flag.upheld, flag.resolved_at = p["resolution"], p["upheld"], ctx.now
    return {"flag_id": flag.id}


FLAG_REVIEW = Action(
    "resolve_integrity_flag",
    (
        Field("flag_id", "id", N_("Integrity flag"), choices=_open_flags),
        Field("resolution", "text", N_("Outcome of the review")),
        Field("upheld", "flag", N_("The prohibited act was found to have happened (upheld)")),
    ),
    write_flag_review,
    check=check_flag_review,
)


# --- decision ------------------------------------------------------------------------------


def _assembly(case: Case) -> bool:
    return case.protocol is not None and case.protocol.voters == "assembly"


def _by_consensus(case: Case) -> bool:
    return case.protocol is None or case.protocol.decision_rule == "consensus"


def _council(case: Case) -> bool:
    return not _assembly(case)


def _present_count_hint(case: Case) -> Text | None:
    if case.protocol is None:
        return None
    return Text(
        N_("Of the %(count)s entitled to vote under the protocol."),
        {"count": case.protocol.eligible_voters},
    )


def _present_label(case: Case) -> Text:
    if _assembly(case):
        return Text(N_("Mandated representatives who attended (optional)"))
    return Text(N_("Representatives present"))


def _votes_hint(case: Case) -> Text | None:
    return Text(N_("Not needed for a decision by consensus.")) if _by_consensus(case) else None


def _abstentions_hint(case: Case) -> Text | None:
    if case.protocol is None or _by_consensus(case):
        return _votes_hint(case)
    if case.protocol.abstentions_count:
        return Text(N_("Counted as votes cast under this protocol."))
    return Text(N_("Not counted as votes cast under this protocol."))


def _consensus_note_hint(case: Case) -> Text | None:
    return Text(N_("Required for a decision by consensus.")) if _by_consensus(case) else None


def _votes(name: str, label: str, hint: CaseText) -> Field:
    return Field(
        name, "integer", label, hint=hint, required=False, fallback=0,
        default=lambda _case, _today: 0,
    )  # fmt: skip


CONDITION_ROWS = (
    Field("text", "text", N_("Condition")),
    Field("language", "language", N_("Language (code)")),
    Field("obligated_party", "short", N_("Obligated party")),
    Field("due_on", "day", N_("Due on"), required=False),
    Field("verification", "text", N_("How it is verified")),
    Field("due_event", "text", N_("Or due when (an event)"), required=False),
    Field(
        "translations", "records", N_("Translation of the condition"), required=False,
        rows=_translation_rows(), form_rows=(1, 1),
    ),
)  # fmt: skip


#: the events a consent may name as calling for it again; the end of its term always does
RECONSENT_EVENTS = ("change_of_control", "new_phase", "area_expansion", "expiry")
NAMED_RECONSENT_EVENTS = RECONSENT_EVENTS[:-1]


def check_decision(p: Payload, ctx: GuardContext) -> None:
    if p["term_ends_on"] and p["term_ends_on"] <= p["decided_on"]:
        raise invalid("term_ends_on", N_("%(field)s must be after the day of the decision."))
    protocol = ctx.case.protocol
    roll = community_roll(ctx.session, ctx.case.community_id, date.fromisoformat(p["decided_on"]))
    if any(r not in roll for r in p["present"]):
        raise invalid(
            "present", N_("%(field)s lists people who are not representatives of this community.")
        )
    if p["consensus"] and protocol is not None and protocol.decision_rule != "consensus":
        raise invalid(
            "consensus",
            N_("%(field)s applies only when the protocol decides by consensus: record the vote."),
        )
    p |= _attendance_counted(p, ctx, {r for r, mandated in roll.items() if mandated})
    votes = p["votes_for"] + p["votes_against"] + p["abstentions"]
    if votes > p["present_count"]:
        raise invalid(
            "votes_for",
            N_("More votes are recorded (%(votes)s) than people present (%(present)s)."),
            votes=votes,
            present=p["present_count"],
        )


def _attendance_counted(p: Payload, ctx: GuardContext, mandated: set[int]) -> Payload:
    """Who voted, how many were entitled to vote and how many of them were present
    (``mandated``: the representatives whose mandate was in force on the day)."""
    given = p.pop("present_count")
    if _assembly(ctx.case):
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
        return {"voters": "assembly", "eligible": eligible, "present_count": given}
    # a council: only the representatives whose mandate is valid that day are entitled
    counted = len([r for r in p["present"] if r in mandated])
    if given is not None and given != counted:
        raise invalid(
            "present_count",
            N_("%(field)s must match the mandated representatives listed as present (%(count)s)."),
            count=counted,
        )
    return {"voters": "representatives", "eligible": len(mandated), "present_count": counted}


def write_decision(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    outcome = ctx.trigger.outcome or ""
    # the case's changes first: reading its protocol and disclosures flushes them, in the
    # case's one UPDATE
    if outcome in ("WITHHELD", "DECLINED_TO_ENGAGE"):
        ctx.case.withheld_at = ctx.now
    if outcome == "DEFERRED_MORE_INFO":
        _restart_clock(ctx)
    protocol = ctx.case.protocol
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
                "reconsent_on",
            )
        },
        term_ends_on=date.fromisoformat(p["term_ends_on"]) if p["term_ends_on"] else None,
        disclosure_ids=[d.id for d in ctx.case.disclosures if d.superseded_at is None],
    )
    ctx.session.add(decision)
    ctx.session.flush()
    conditions = [
        Condition(
            decision_id=decision.id,
            case_id=ctx.case.id,
            **{**c, "due_on": date.fromisoformat(c["due_on"]) if c["due_on"] else None},
        )
        for c in p["conditions"]
    ]
    ctx.session.add_all(conditions)
    ctx.session.flush()
    return {"decision_id": decision.id, "condition_ids": [c.id for c in conditions]}


DECISION = Action(
    "decision",
    (
        Field("decided_on", "day", N_("Decided on"), past=True, default=on_today),
        Field("place", "short", N_("Place")),
        # an assembly gives the number present, a council ticks its representatives
        Field(
            "present_count", "integer", N_("Number present"), hint=_present_count_hint,
            required=False, maximum=10_000_000, shown=_assembly,
        ),
        # a council is counted from the representatives ticked; at an assembly the mandated
        # representatives who attended may be listed, and the count is of the people present
        Field(
            "present", "ids", N_("Representatives present"), case_label=_present_label,
            required=_council, choices=_representatives,
        ),
        _votes("votes_for", N_("Votes for"), _votes_hint),
        _votes("votes_against", N_("Votes against"), _votes_hint),
        _votes("abstentions", N_("Abstentions"), _abstentions_hint),
        Field(
            "consensus", "flag", N_("Decided by consensus: no objection was raised"),
            shown=_by_consensus,
        ),
        Field(
            "consensus_note", "text", N_("How the decision was reached"),
            hint=_consensus_note_hint, required=False,
        ),
        Field("dissent", "text", N_("Dissent and conditional views"), required=False),
        Field("scope_phases", "list", N_("Phases covered"), required=False, choices=_phases),
        Field(
            "scope_activities", "list", N_("Activities covered"), required=False,
            choices=_activities,
        ),
        Field("scope_area", "text", N_("Area covered"), required=False),
        Field(
            "rejected_components", "list", N_("Components rejected (comma-separated)"),
            required=False,
        ),
        Field(
            "text_language", "language", N_("Language of the decision text (code)"),
            default=first_language,
        ),
        Field("text_original", "text", N_("Decision text in the original language")),
        Field(
            "translations", "records", N_("Translation of the decision"), required=False,
            rows=_translation_rows(), form_rows=(1, 3),
        ),
        Field(
            "conditions", "records", N_("Condition"), required=False, rows=CONDITION_ROWS,
            form_rows=(3, 10),
        ),
        Field(
            "term_ends_on", "day", N_("Consent in force until (optional)"), required=False,
            hint=N_("After this day no activity may start under this consent."),
        ),
        Field(
            "reconsent_on", "choices", N_("Events that call for the community's consent again"),
            required=False, options=NAMED_RECONSENT_EVENTS, vocabulary="reconsent_events",
        ),
        *evidence_fields(N_("The decision's minutes or resolution, signed")),
    ),
    write_decision,
    check=check_decision,
    dated_by="decided_on",
    # the community's decision is weighty enough to ask the person's password again (or, where
    # its protocol says so, the representative's signature)
    needs_password=True,
    signed=True,
)  # fmt: skip


# --- after consent -------------------------------------------------------------------------


def write_activity(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
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
    ctx.session.flush()
    return {"activity_id": record.id, "decision_id": consent.id}


def _blank_phase(case: Case, template: Template, today: date) -> list[Choice]:
    return _blank(_phases(case, template, today))


ACTIVITY = Action(
    "activity",
    (
        Field("activity", "short", N_("Activity"), choices=_activities),
        Field("phase", "short", N_("Phase"), required=False, choices=_blank_phase),
        Field("started_on", "day", N_("Started on"), past=True, default=on_today),
    ),
    write_activity,
    dated_by="started_on",
)


def check_reconsent_event(p: Payload, _ctx: GuardContext) -> None:
    # what changed is presented again (a new operator, phase or area); at the end of a term
    # nothing need have changed
    if p["event"] != "expiry" and not p["affected_items"]:
        raise invalid(
            "affected_items", N_("%(field)s: name what the community must be told again.")
        )


RECONSENT_EVENT = Action(
    "reconsent_event",
    (
        Field(
            "event", "choice", N_("Event"), options=RECONSENT_EVENTS, vocabulary="reconsent_events"
        ),
        Field("happened_on", "day", N_("Happened on"), past=True, default=on_today),
        items_field("affected_items", N_("Items of information to disclose again"), False),
        Field("text", "text", N_("What happened (the new operator, phase or area)")),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        *evidence_fields(N_("Deeds, notices or maps showing the event")),
    ),
    # the consent no longer covers what happens next: as a material change, the items the event
    # changes are disclosed again and the community deliberates and decides anew
    write_material_change,
    check=check_reconsent_event,
    dated_by="happened_on",
)  # fmt: skip


def write_withdrawal(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


WITHDRAWAL = Action(
    "withdrawal",
    (
        Field("decided_on", "day", N_("Decided on"), past=True, default=on_today),
        Field("deciding_body", "short", N_("Deciding body"), default=_institution),
        Field("activities_affected", "list", N_("Activities affected"), choices=_activities),
        Field("text", "text", N_("Reasons (optional)"), required=False),
        Field(
            "language", "language", N_("Language of the reasons (code, optional)"),
            required=False,
        ),
        *evidence_fields(N_("The community's resolution")),
    ),
    write_withdrawal,
    dated_by="decided_on",
    signed=True,
)  # fmt: skip


def write_agreement(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


AGREEMENT = Action(
    "agreement",
    (
        Field("text", "text", N_("Record of validation and signing")),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        Field("signed_on", "day", N_("Signed on"), past=True, default=on_today),
        Field("signatories", "list", N_("Signatories (comma-separated)")),
        *evidence_fields(N_("The signed agreement")),
    ),
    write_agreement,
    dated_by="signed_on",
)


def check_monitoring_report(p: Payload, _ctx: GuardContext) -> None:
    if p["joint"] and not p["community_monitors"]:
        raise invalid("community_monitors", N_("Name the community's monitors of a joint review."))


def write_monitoring_report(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    ctx.case.last_review_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


MONITORING_REPORT = Action(
    "monitoring_report",
    (
        Field("text", "text", N_("Findings of the review")),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        Field("joint", "flag", N_("Carried out jointly with the community's monitors")),
        Field("community_monitors", "short", N_("The community's monitors"), required=False),
        *evidence_fields(N_("The monitoring report, photos, measurements")),
    ),
    write_monitoring_report,
    check=check_monitoring_report,
)


def write_rehabilitation(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    ctx.case.rehabilitation_confirmed_at = ctx.now
    return record_note(ctx, ctx.trigger.name, p)


REHABILITATION = Action(
    "rehabilitation",
    (
        Field("text", "text", N_("What was restored, and how the community checked it")),
        Field("language", "language", N_("Language (code, optional)"), required=False),
        Field("completed_on", "day", N_("Completed on"), past=True, default=on_today),
        *evidence_fields(N_("Photos and reports of the rehabilitation")),
    ),
    write_rehabilitation,
)

#: the actions of the process; fpic.workflow.actions gathers them with the grievance mechanism's
ACTIONS: tuple[Action, ...] = (
    *NOTES,
    PROTOCOL,
    ASSIGNMENT,
    DISCLOSURE,
    DISCLOSURE_PACKAGE,
    MEETING,
    QUESTION,
    ANSWER,
    FLAG,
    FLAG_REVIEW,
    DECISION,
    ACTIVITY,
    RECONSENT_EVENT,
    WITHDRAWAL,
    AGREEMENT,
    MONITORING_REPORT,
    REHABILITATION,
)
