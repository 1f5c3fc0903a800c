"""One form per effect of the process templates, built from the case it is for.

The forms only shape the input; the engine decides what is valid and names the field it
refuses, and that message is shown next to the field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import object_session
from wtforms import (
    BooleanField,
    DateField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from fpic.grievances import CONDITION_PROGRESS, SATISFACTION, STEP_BEFORE
from fpic.models import (
    CASE_ASSIGNED_ROLES,
    DECISION_RULES,
    FORMATS,
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_CHANNELS,
    INTEGRITY_CATEGORIES,
    VOTERS,
    Case,
    Representative,
    User,
)
from fpic.process import Template, Trigger
from web.labels import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    CONDITION_STATUS_LABELS,
    FORMAT_LABELS,
    GRIEVANCE_CATEGORY_LABELS,
    MEETING_LABELS,
    RULE_LABELS,
    SATISFACTION_LABELS,
    VOTER_LABELS,
    grievance_category_title,
)

NOTE_EFFECTS = {
    "note", "deferral", "suspend", "resume", "reconsideration_request", "reopen", "restart",
    "state_approval", "decline", "complete_disclosure",
}  # fmt: skip
MEETING_KINDS = ("information", "discussion", "deliberation", "negotiation", "decision",
                 "validation", "monitoring")  # fmt: skip


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ActionForm(FlaskForm):
    """Every action form carries the case version it was rendered with."""

    version = HiddenField()


class TranslationForm(Form):
    language = StringField(_l("Language of the translation (code, e.g. es)"))
    text = TextAreaField(_l("Translated text"))
    translator = StringField(_l("Translated by"))


class ConditionForm(Form):
    text = TextAreaField(_l("Condition"))
    language = StringField(_l("Language (code)"))
    obligated_party = StringField(_l("Obligated party"))
    due_on = DateField(_l("Due on"), validators=[Optional()])
    verification = StringField(_l("How it is verified"))
    due_event = StringField(_l("Or due when (an event)"))
    translation_language = StringField(_l("Language of the translation (code, e.g. es)"))
    translation_text = TextAreaField(_l("Translated text"))
    translator = StringField(_l("Translated by"))


def _note_fields() -> dict[str, Field]:
    return {
        "text": TextAreaField(_l("Record"), validators=[InputRequired()]),
        "language": StringField(_l("Language of the record (code, optional)")),
    }


def options(pairs: Any) -> list[SelectChoice]:
    """Choices for a select or checkbox list from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def _choices(values: Any, labels: dict[str, Any] | None = None) -> list[SelectChoice]:
    return options((v, (labels or {}).get(v, v.replace("_", " "))) for v in values)


def _rep_choices(case: Case, reps: list[Representative], day: date) -> list[SelectChoice]:
    return options((rep.id, rep.name + ("" if rep.mandate_on(day) else " ✗")) for rep in reps)


def _independents(case: Case, roles: tuple[str, ...], blank: bool = False) -> list[SelectChoice]:
    """Active accounts holding one of ``roles``, read in the session the case was loaded in."""
    from web.i18n import role_title

    session = object_session(case)
    assert session is not None, "the form is built inside the case's read session"
    people = session.scalars(
        select(User)
        .where(User.role.in_(roles), User.active.is_(True))
        .order_by(User.role, User.display_name, User.username)
    ).all()
    found = options(
        (u.username, f"{u.display_name} ({u.username}) — {role_title(u.role)}") for u in people
    )
    return [SelectChoice("", "—"), *found] if blank else found


def _current(user: User | None) -> str:
    return user.username if user is not None else ""


#: the hints under the "concerns" fields: the people named may not review what they are in
FLAG_CONCERNS_HINT = _l(
    "User names of the accounts it is about, comma-separated (optional): none of them may "
    "review the flag."
)
GRIEVANCE_CONCERNS_HINT = _l(
    "User names of the accounts it is about, comma-separated (optional): none of them may "
    "assess the grievance."
)


def fields_for(
    effect: str, case: Case, template: Template, reps: list[Representative], today: date
) -> dict[str, Field]:
    protocol = case.protocol
    languages = protocol.content_languages if protocol else case.community.content_languages
    formats = protocol.formats if protocol else list(FORMATS)
    project = case.project
    items = template.required_disclosure_items
    if effect in NOTE_EFFECTS:
        return _note_fields()
    if effect == "protocol":
        return {
            "deciding_body": StringField(_l("Deciding body"), validators=[InputRequired()],
                                         default=case.community.institution),
            "decision_rule": SelectField(_l("Decision rule"), choices=_choices(DECISION_RULES, RULE_LABELS)),
            "majority_percent": IntegerField(_l("Qualified majority, percentage of votes cast"), validators=[Optional()],
                                             description=_l("Only for a qualified majority, e.g. 67.")),
            "voters": SelectField(_l("Who votes"), choices=_choices(VOTERS, VOTER_LABELS)),
            "eligible_voters": IntegerField(_l("Number entitled to vote (assembly only)"), validators=[Optional()],
                                            description=_l("The community members or households entitled to vote in the assembly.")),
            "eligible_voters_source": TextAreaField(_l("Where that number comes from (assembly only)"),
                                                    description=_l("The protocol clause or the census, e.g. \"Census of households, 2025, kept by the assembly's secretary\".")),
            "quorum_percent": IntegerField(_l("Quorum, percentage of those entitled to vote"), validators=[InputRequired()],
                                           description=_l("For a council: of the representatives mandated on the day of the decision. For an assembly: of the number entitled to vote.")),
            "abstentions_count": BooleanField(_l("Abstentions count as votes cast (they then weigh like votes against)")),
            "min_deliberation_days": IntegerField(_l("Minimum deliberation days"), validators=[InputRequired()]),
            "content_languages": StringField(_l("Content languages (codes, comma-separated)"),
                                             default=", ".join(case.community.content_languages)),
            "formats": MultiCheckboxField(_l("Formats required for disclosure"), choices=_choices(FORMATS, FORMAT_LABELS)),
            "grievance_route": TextAreaField(_l("Grievance route"), validators=[InputRequired()]),
            "review_every_days": IntegerField(_l("Joint monitoring review every (days)"), validators=[Optional()], default=90),
            "source": TextAreaField(_l("Source (resolution, minutes, protocol)"), validators=[InputRequired()]),
            "facilitator": SelectField(_l("Independent facilitator the community agrees (optional)"), choices=_independents(case, ("facilitator",), blank=True), default=_current(case.facilitator)),
            "mediator": SelectField(_l("Independent grievance mediator the community agrees (optional)"), choices=_independents(case, ("mediator",), blank=True), default=_current(case.mediator)),
        }  # fmt: skip
    if effect == "independent_assignment":
        from web.i18n import role_title

        return {
            "role": SelectField(_l("Assign as"), choices=options((r, role_title(r)) for r in CASE_ASSIGNED_ROLES)),
            "username": SelectField(_l("Person (an active account of that role)"), choices=_independents(case, CASE_ASSIGNED_ROLES)),
            "text": TextAreaField(_l("How the community chose them, or why (optional)")),
        }  # fmt: skip
    if effect == "disclosure":
        return {
            "item": SelectField(_l("Item of information"), choices=options((i, _(template.item_title(i))) for i in items)),
            "language": SelectField(_l("Language"), choices=options((c, c) for c in languages)),
            "format": SelectField(_l("Format"), choices=_choices(formats, FORMAT_LABELS)),
            "title": StringField(_l("Title"), validators=[InputRequired()]),
            "channel": StringField(_l("Channel (assembly, radio, booklet ...)"), validators=[InputRequired()]),
            "disclosed_on": DateField(_l("Disclosed on"), validators=[InputRequired()], default=today),
            "translator": StringField(_l("Translator or interpreter")),
            "back_translation_attested": BooleanField(_l("Back-translation attested")),
        }  # fmt: skip
    if effect == "meeting":
        return {
            "kind": SelectField(_l("Kind of meeting"), choices=_choices(MEETING_KINDS, MEETING_LABELS)),
            "held_on": DateField(_l("Held on"), validators=[InputRequired()], default=today),
            "place": StringField(_l("Place"), validators=[InputRequired()]),
            "languages_used": StringField(_l("Languages used (codes, comma-separated)"), default=", ".join(languages)),
            "interpreter": StringField(_l("Interpreter")),
            "attendance_women": IntegerField(_l("Women attending"), validators=[Optional()], default=0),
            "attendance_men": IntegerField(_l("Men attending"), validators=[Optional()], default=0),
            "attendance_other": IntegerField(_l("Other attendees"), validators=[Optional()], default=0),
            "attendance_youth": IntegerField(_l("Of whom youth"), validators=[Optional()], default=0),
            "minutes_language": StringField(_l("Language of the minutes (code)"), default=languages[0] if languages else ""),
            "minutes_original": TextAreaField(_l("Minutes in the original language"), validators=[InputRequired()]),
            "minutes_translations": FieldList(FormField(TranslationForm), _l("Translation of the minutes"), min_entries=1, max_entries=3),
        }  # fmt: skip
    if effect == "question":
        return {
            "text": TextAreaField(_l("Question"), validators=[InputRequired()]),
            "language": StringField(_l("Language of the question (code)"), default=languages[0] if languages else ""),
        }  # fmt: skip
    if effect == "answer":
        open_questions = [
            (str(q.id), q.text[:120]) for q in case.questions if q.answered_at is None
        ]
        return {
            "question_id": SelectField(_l("Question"), choices=options(open_questions)),
            "answer": TextAreaField(_l("Answer"), validators=[InputRequired()]),
            "language": StringField(_l("Language of the answer (code)"), default=languages[0] if languages else ""),
        }  # fmt: skip
    if effect == "integrity_flag":
        return {
            "category": SelectField(_l("What happened"), choices=_choices(INTEGRITY_CATEGORIES, CATEGORY_LABELS)),
            "description": TextAreaField(_l("Description"), validators=[InputRequired()]),
            "concerns": StringField(_l("Accounts the flag is about"), description=FLAG_CONCERNS_HINT),
        }  # fmt: skip
    if effect == "resolve_integrity_flag":
        open_flags = [
            (str(f.id), f"{f.category}: {f.description[:80]}")
            for f in case.integrity_flags
            if f.resolved_at is None
        ]
        return {
            "flag_id": SelectField(_l("Integrity flag"), choices=options(open_flags)),
            "resolution": TextAreaField(_l("Outcome of the review"), validators=[InputRequired()]),
            "upheld": BooleanField(_l("The prohibited act was found to have happened (upheld)")),
        }  # fmt: skip
    if effect == "decision":
        return {
            "decided_on": DateField(_l("Decided on"), validators=[InputRequired()], default=today),
            "place": StringField(_l("Place"), validators=[InputRequired()]),
            **_counting_fields(case, reps, today),
            "dissent": TextAreaField(_l("Dissent and conditional views")),
            "scope_phases": MultiCheckboxField(_l("Phases covered"), choices=options((p, p) for p in project.phases)),
            "scope_activities": MultiCheckboxField(_l("Activities covered"), choices=options((a, a) for a in project.activities)),
            "scope_area": TextAreaField(_l("Area covered")),
            "rejected_components": StringField(_l("Components rejected (comma-separated)")),
            "text_language": StringField(_l("Language of the decision text (code)"), default=languages[0] if languages else ""),
            "text_original": TextAreaField(_l("Decision text in the original language"), validators=[InputRequired()]),
            "translations": FieldList(FormField(TranslationForm), _l("Translation of the decision"), min_entries=1, max_entries=3),
            "conditions": FieldList(FormField(ConditionForm), _l("Condition"), min_entries=3, max_entries=10),
            "password": PasswordField(_l("Your password, to confirm this decision"), validators=[InputRequired()]),
        }  # fmt: skip
    if effect == "activity":
        return {
            "activity": SelectField(_l("Activity"), choices=options((a, a) for a in project.activities)),
            "phase": SelectField(_l("Phase"), choices=[SelectChoice("", "—"), *options((p, p) for p in project.phases)]),
            "started_on": DateField(_l("Started on"), validators=[InputRequired()], default=today),
        }  # fmt: skip
    if effect == "withdrawal":
        return {
            "decided_on": DateField(_l("Decided on"), validators=[InputRequired()], default=today),
            "deciding_body": StringField(_l("Deciding body"), validators=[InputRequired()], default=case.community.institution),
            "activities_affected": MultiCheckboxField(_l("Activities affected"), choices=options((a, a) for a in project.activities)),
            "text": TextAreaField(_l("Reasons (optional)")),
            "language": StringField(_l("Language of the reasons (code, optional)")),
        }  # fmt: skip
    if effect == "agreement":
        return {
            "text": TextAreaField(_l("Record of validation and signing"), validators=[InputRequired()]),
            "language": StringField(_l("Language (code, optional)")),
            "signed_on": DateField(_l("Signed on"), validators=[InputRequired()], default=today),
            "signatories": StringField(_l("Signatories (comma-separated)"), validators=[InputRequired()]),
        }  # fmt: skip
    if effect == "material_change":
        return {
            "text": TextAreaField(_l("What changed"), validators=[InputRequired()]),
            "language": StringField(_l("Language (code, optional)")),
            "affected_items": MultiCheckboxField(_l("Information to disclose again (none: all)"), choices=options((i, _(template.item_title(i))) for i in items)),
        }  # fmt: skip
    if effect == "monitoring_report":
        return {
            "text": TextAreaField(_l("Findings of the review"), validators=[InputRequired()]),
            "language": StringField(_l("Language (code, optional)")),
            "joint": BooleanField(_l("Carried out jointly with the community's monitors")),
            "community_monitors": StringField(_l("The community's monitors")),
        }  # fmt: skip
    if effect == "rehabilitation":
        return {
            "text": TextAreaField(_l("What was restored, and how the community checked it"), validators=[InputRequired()]),
            "language": StringField(_l("Language (code, optional)")),
            "completed_on": DateField(_l("Completed on"), validators=[InputRequired()], default=today),
        }  # fmt: skip
    if effect.startswith(("grievance", "retaliation", "condition_")):
        return _after_consent_fields(effect, case, languages, today)
    raise KeyError(effect)


def _counting_fields(case: Case, reps: list[Representative], today: date) -> dict[str, Field]:
    """Who was present and how they decided, as the protocol counts it: an assembly gives the
    number present, a council ticks its representatives; consensus only where it is the rule."""
    protocol = case.protocol
    assembly = protocol is not None and protocol.voters == "assembly"
    by_consensus = protocol is None or protocol.decision_rule == "consensus"
    fields: dict[str, Field] = {}
    if assembly:
        assert protocol is not None
        fields["present_count"] = IntegerField(
            _l("Number present"), validators=[InputRequired()],
            description=_("Of the %(count)s entitled to vote under the protocol.",
                          count=protocol.eligible_voters),
        )  # fmt: skip
        fields["present"] = MultiCheckboxField(
            _l("Mandated representatives who attended (optional)"),
            choices=_rep_choices(case, reps, today),
        )
    else:
        fields["present"] = MultiCheckboxField(
            _l("Representatives present"), choices=_rep_choices(case, reps, today)
        )
    abstaining = None
    if protocol is not None and not by_consensus:
        abstaining = (
            _l("Counted as votes cast under this protocol.")
            if protocol.abstentions_count
            else _l("Not counted as votes cast under this protocol.")
        )
    votes_hint = _l("Not needed for a decision by consensus.") if by_consensus else None
    fields |= {
        "votes_for": IntegerField(_l("Votes for"), validators=[Optional()], default=0, description=votes_hint),
        "votes_against": IntegerField(_l("Votes against"), validators=[Optional()], default=0, description=votes_hint),
        "abstentions": IntegerField(_l("Abstentions"), validators=[Optional()], default=0, description=abstaining or votes_hint),
    }  # fmt: skip
    if by_consensus:
        fields["consensus"] = BooleanField(_l("Decided by consensus: no objection was raised"))
    fields["consensus_note"] = TextAreaField(
        _l("How the decision was reached"),
        description=_l("Required for a decision by consensus.") if by_consensus else None,
    )
    return fields


def _grievances_at(case: Case, effect: str) -> list[SelectChoice]:
    steps = STEP_BEFORE.get(effect)
    if effect == "grievance_escalation":
        chosen = [g for g in case.grievances if g.escalated_at is None
                  and (g.status != "closed" or g.complainant_satisfied is False)]  # fmt: skip
    else:
        chosen = [g for g in case.grievances if steps is None or g.status in steps]
    return options(
        (str(g.id), f"#{g.id} — {grievance_category_title(g.category)}: {g.text[:80]}")
        for g in chosen
    )


def _open_conditions(case: Case) -> list[SelectChoice]:
    return options(
        (str(c.id), f"{c.obligated_party}: {c.text[:100]}")
        for d in case.decisions
        for c in d.conditions
        if c.status in ("open", "in_progress")
    )


def _after_consent_fields(
    effect: str, case: Case, languages: list[str], today: date
) -> dict[str, Field]:
    first = languages[0] if languages else ""
    grievance = SelectField(_l("Grievance"), choices=_grievances_at(case, effect))
    if effect == "grievance":
        return {
            "category": SelectField(_l("What the grievance is about"), choices=_choices(GRIEVANCE_CATEGORIES, GRIEVANCE_CATEGORY_LABELS)),
            "channel": SelectField(_l("How it was received"), choices=_choices(GRIEVANCE_CHANNELS, CHANNEL_LABELS)),
            "anonymous": BooleanField(_l("The complainant wants to stay anonymous")),
            "complainant": StringField(_l("Complainant (unless anonymous)")),
            "confidential": BooleanField(_l("Keep the complainant's name confidential"), description=_l("The proponent's staff will see what it is about, never who raised it.")),
            "language": StringField(_l("Language of the grievance (code)"), default=first),
            "text": TextAreaField(_l("The grievance, in the complainant's words"), validators=[InputRequired()]),
            "received_on": DateField(_l("Received on"), validators=[InputRequired()], default=today),
            "condition_id": SelectField(_l("Condition concerned (if any)"), choices=[SelectChoice("", "—"), *_open_conditions(case)]),
            "concerns": StringField(_l("Accounts the grievance is about"), description=GRIEVANCE_CONCERNS_HINT),
        }  # fmt: skip
    if effect in ("grievance_acknowledgement", "grievance_response"):
        label = (
            _l("Message to the complainant")
            if effect == "grievance_acknowledgement"
            else _l("Response or remedy")
        )
        return {
            "grievance_id": grievance,
            "text": TextAreaField(label, validators=[InputRequired()]),
            "language": StringField(_l("Language (code, optional)"), default=first),
        }  # fmt: skip
    if effect == "grievance_assessment":
        return {
            "grievance_id": grievance,
            "assessment": TextAreaField(_l("Assessment"), validators=[InputRequired()]),
            "upheld": BooleanField(_l("The grievance is founded (upheld)")),
        }  # fmt: skip
    if effect == "grievance_escalation":
        return {
            "grievance_id": grievance,
            "mediator": StringField(_l("Independent mediator"), validators=[InputRequired()]),
            "text": TextAreaField(_l("Why it is escalated"), validators=[InputRequired()]),
        }  # fmt: skip
    if effect == "retaliation_check":
        return {
            "grievance_id": grievance,
            "retaliation_found": BooleanField(_l("Retaliation was found")),
            "note": TextAreaField(_l("How it was checked, and what was found"), validators=[InputRequired()]),
        }  # fmt: skip
    if effect == "grievance_closure":
        return {
            "grievance_id": grievance,
            "resolution": TextAreaField(_l("Resolution"), validators=[InputRequired()]),
            "complainant_satisfied": SelectField(_l("Did the complainant accept it?"), choices=_choices(SATISFACTION, SATISFACTION_LABELS)),
        }  # fmt: skip
    fields: dict[str, Field] = {
        "condition_id": SelectField(_l("Condition"), choices=_open_conditions(case))
    }
    if effect == "condition_progress":
        fields["status"] = SelectField(
            _l("Status"), choices=_choices(CONDITION_PROGRESS, CONDITION_STATUS_LABELS)
        )
    fields["evidence"] = TextAreaField(_l("Evidence"), validators=[InputRequired()])
    return fields


def form_for(trigger: Trigger, case: Case, template: Template, reps: list[Representative],
             today: date, formdata: Any = None) -> ActionForm:  # fmt: skip
    fields = fields_for(trigger.effect, case, template, reps, today)
    form_class = type(f"{trigger.effect.title()}Form", (ActionForm,), fields)
    form = form_class(formdata=formdata)
    if formdata is None:
        form.version.data = str(case.version)
    return form


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return value


def data_of(form: ActionForm) -> dict[str, Any]:
    """The form's values as engine data; blank rows of repeated groups are left out."""
    data: dict[str, Any] = {}
    for name, field in form._fields.items():
        if name in ("csrf_token", "version", "password"):
            continue
        if isinstance(field, FieldList):
            rows = [{k: _plain(v) for k, v in entry.data.items()} for entry in field.entries]
            rows = [row for row in rows if any(v not in (None, "") for v in row.values())]
            data[name] = [_condition(row) for row in rows] if name == "conditions" else rows
        elif name in ("present", "question_id", "flag_id"):
            data[name] = field.data
        else:
            data[name] = _plain(field.data)
    if "present" in data:
        data["present"] = [int(x) for x in data["present"] or [] if str(x).isdigit()]
    for key in ("question_id", "flag_id"):
        if key in data:
            raw = data[key]
            data[key] = int(raw) if raw and str(raw).isdigit() else None
    return data


def _condition(row: dict[str, Any]) -> dict[str, Any]:
    """One condition row: its translation fields become the engine's list of translations."""
    translation = {
        "language": row.pop("translation_language", None),
        "text": row.pop("translation_text", None),
        "translator": row.pop("translator", None),
    }
    row["translations"] = [translation] if any(translation.values()) else []
    return row


def field_name(engine_field: str) -> str:
    """The engine names nested fields ``conditions.0.text``; WTForms names them with dashes."""
    return engine_field.replace(".", "-")


def attach_error(form: ActionForm, engine_field: str, message: str) -> bool:
    """Put the engine's message next to its field; False when the form has no such field."""
    target = field_name(engine_field)
    for field in _all_fields(form):
        if field.name == target:
            field.errors = [*list(field.errors or []), message]
            return True
    return False


def _all_fields(form: Any) -> list[Field]:
    found: list[Field] = []
    for field in form:
        if isinstance(field, FieldList):
            for entry in field.entries:
                found.extend(_all_fields(entry.form) if isinstance(entry, FormField) else [entry])
        elif isinstance(field, FormField):
            found.extend(_all_fields(field.form))
        else:
            found.append(field)
    return found
