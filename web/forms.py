"""The action forms, built from each action's declaration (fpic.workflow.schema,
fpic.workflow.actions).

A form only shapes the input: it sends what was typed, as typed, to the engine, which reads and
checks it with the same declaration the JSON API uses, so the web and the API accept and refuse
the same input with the same message, shown next to the field it names.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import escape
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    MultipleFileField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in 3.2, not yet in types-WTForms
from wtforms.form import BaseForm
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, DateInput, ListWidget, NumberInput

from fpic.evidence.intake import MAX_FILES, FileRefusal, ReceivedFile, max_file_size, receive
from fpic.storage.models import Case
from fpic.workflow.actions import ACTIONS
from fpic.workflow.effects import content_languages
from fpic.workflow.process import Template, Trigger
from fpic.workflow.schema import Action, Choice, Submission, Term, Text
from fpic.workflow.schema import Field as Declared
from fpic.workflow.signing import asks_password
from web.i18n import field_label_of
from web.labels import language_name, text_of


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ActionForm(FlaskForm):
    """Every action form carries the case version it was rendered with."""

    version = HiddenField()


def options(pairs: Any) -> list[SelectChoice]:
    """Choices for a select or checkbox list from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


#: what a field of each kind is typed into; numbers and dates stay text until the engine reads
#: them, so a form and the API get the same message for the same bad input
_WIDGETS: dict[str, Any] = {"day": DateInput(), "integer": NumberInput()}
_MULTIPLE = ("choices", "list", "ids", "languages")
#: what a checkbox sends for "no" (WTForms' BooleanField.false_values)
_FALSE = ("false", "")


def _input_of(spec: Declared) -> str:
    """The kind of input a declared field becomes: rows, a checkbox, a list to tick, a list
    to pick one from, or text typed in. The form and the reading of what it sent share it."""
    if spec.kind in ("records", "flag"):
        return spec.kind
    if spec.kind == "files":
        return "upload"
    if spec.choices is not None or spec.kind in ("choice", "choices"):
        return "ticked" if spec.kind in _MULTIPLE else "picked"
    return "typed"


def _shown(fields: tuple[Declared, ...], case: Case) -> list[Declared]:
    return [spec for spec in fields if spec.shown is None or spec.shown(case)]


class _Shape:
    """What one form is built for: the case, its template and the day."""

    def __init__(self, case: Case, template: Template, today: date) -> None:
        self.case, self.template, self.today = case, template, today

    def fields(self, declared: tuple[Declared, ...]) -> dict[str, Field]:
        return {spec.name: self.field(spec) for spec in _shown(declared, self.case)}

    def field(self, spec: Declared) -> Field:
        label = _case_text(spec.case_label(self.case)) if spec.case_label else _l(spec.label)
        kwargs: dict[str, Any] = {
            "description": self.hint(spec),
            "validators": [InputRequired()] if spec.is_required(self.case) else [],
        }
        if spec.when is not None:
            # read only when another field has one of these values: web/static/fpic.js hides
            # it otherwise (a qualified majority's share under consensus), and without script
            # its label and hint say when it applies
            controller, values = spec.when
            kwargs["render_kw"] = {"data-when": controller, "data-when-values": " ".join(values)}
        if spec.default is not None:
            kwargs["default"] = spec.default(self.case, self.today)
        shape = _input_of(spec)
        if shape == "upload":
            return MultipleFileField(label, description=upload_hint(kwargs["description"]))
        if shape == "records":
            row = type(f"{spec.name.title()}Row", (Form,), self.fields(spec.rows))
            low, high = spec.form_rows
            return FieldList(FormField(row), label, min_entries=low, max_entries=high)
        if shape == "flag":
            return BooleanField(label, description=kwargs["description"])
        if shape == "ticked":
            return MultiCheckboxField(label, choices=self.choices(spec), **kwargs)
        if shape == "picked":
            return SelectField(label, choices=self.choices(spec), **kwargs)
        if spec.kind == "text":
            return TextAreaField(label, **kwargs)
        widget = _WIDGETS.get(spec.kind)
        if widget is not None:
            kwargs["widget"] = widget
        return StringField(label, **kwargs)

    def hint(self, spec: Declared) -> Any:
        hint = self.declared_hint(spec)
        if spec.kind not in ("language", "languages") or spec.choices is not None:
            return hint
        # a field that asks for codes names the community's languages with theirs
        known = _LanguagesHint(content_languages(self.case))
        return known if hint is None else _Joined(hint, known)

    def declared_hint(self, spec: Declared) -> Any:
        if spec.hint is None:
            return None
        if isinstance(spec.hint, str):
            return _l(spec.hint)
        return _case_text(spec.hint(self.case))

    def choices(self, spec: Declared) -> list[SelectChoice]:
        if spec.choices is not None:
            found = spec.choices(self.case, self.template, self.today)
        else:
            allowed = spec.allowed(self.template) or ()
            found = [Choice(v, Term(spec.vocabulary or "", v)) for v in allowed]
        return [SelectChoice(c.value, _Label(c.label)) for c in found]


def upload_hint(hint: Any) -> Any:
    limits = _l(
        "Up to %(count)s files, each at most %(size)s MB: PDF, ODF or Office documents, "
        "images, audio, video, GeoJSON or KML maps.",
        count=MAX_FILES,
        size=max(1, round(upload_limit() / (1024 * 1024))),
    )
    return limits if hint is None else _Joined(hint, limits)


class _Joined:
    """Two hints shown one after the other, each translated when shown."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def __str__(self) -> str:
        return " ".join(str(part) for part in self.parts)

    def __html__(self) -> str:
        return escape(str(self))


class _LanguagesHint:
    """The community's languages by name and code, in the reader's language when shown."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes

    def __str__(self) -> str:
        if not self.codes:
            return str(_l("A language code such as qu, ay or iu."))
        names = ", ".join(language_name(code) for code in self.codes)
        return str(_l("The community's languages: %(languages)s.", languages=names))

    def __html__(self) -> str:
        return escape(str(self))


def upload_limit() -> int:
    """The largest file kept: the app's FPIC_MAX_FILE_SIZE, else the operator's (intake)."""
    configured = current_app.config.get("FPIC_MAX_FILE_SIZE")
    return int(configured) if configured else max_file_size()


class _Label:
    """A choice's label, rendered in the reader's language when the page is."""

    def __init__(self, label: Text | Term) -> None:
        self.label = label

    def __str__(self) -> str:
        return text_of(self.label)

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))


def _case_text(text: Text | None) -> Any:
    return _Label(text) if text is not None else None


def form_for(
    trigger: Trigger,
    case: Case,
    template: Template,
    today: date,
    formdata: Any = None,
    prefill: Any = None,
) -> ActionForm:
    """The form of ``trigger``'s action for ``case``: its declared fields, and the password
    field where the action asks it again (not where the representative signs it with their
    passkey instead: fpic.workflow.signing); ``prefill`` (a MultiDict: a link's query) sets the
    first values of named fields (a missing cell of the disclosure matrix links to the form
    with its item, language and format chosen)."""
    action = ACTIONS[trigger.effect]
    fields = _Shape(case, template, today).fields(action.fields)
    if asks_password(action, case):
        fields["password"] = PasswordField(
            _l("Your password, to confirm this decision"), validators=[InputRequired()]
        )
    form_class = type(f"{trigger.effect.title()}Form", (ActionForm,), fields)
    form = form_class(formdata=formdata, data=_first_values(action, prefill) or None)
    if formdata is None:
        form.version.data = str(case.version)
    return form


def _first_values(action: Action, prefill: Any) -> dict[str, Any]:
    """The values a link gives the action's top-level inputs: a list for a list to tick."""
    if not prefill:
        return {}
    found: dict[str, Any] = {}
    for spec in action.fields:
        shape = _input_of(spec)
        if spec.name not in prefill or shape in ("records", "flag", "upload"):
            continue
        found[spec.name] = prefill.getlist(spec.name) if shape == "ticked" else prefill[spec.name]
    return found


def submitted(formdata: Any, files: Any = None) -> Submission:
    """What an action's form sent, for the engine to read once it holds the case, the way the
    form's own fields would read it (``form_for``), with the values as typed. No form is built
    and the case is not read a second time for an action that goes through; the form is built
    only for a page to show.

    Files are received here, before the engine's transaction: each is read once, hashed and
    checked (fpic.evidence.intake), so the case is not held while a large file is read; a
    refused one reaches the engine as a refusal, which refuses the action naming its field."""
    uploads = received_uploads(files)

    def read(action: Action, case: Case, today: date) -> dict[str, Any]:
        return _Sent(formdata, case, today, uploads).values(action.fields, "")

    return read


def received_uploads(files: Any) -> dict[str, list[ReceivedFile | FileRefusal]]:
    """Each file input's files, read and checked (fpic.evidence.intake.receive)."""
    if not files:
        return {}
    limit = upload_limit()
    return {
        key: [receive(sent.stream, sent.filename, limit) for sent in sent_files]
        for key in files
        # a file input left empty sends one part with no name
        if (sent_files := [sent for sent in files.getlist(key) if sent.filename])
    }


class _Sent:
    """A form submission read field by field as WTForms reads it into the form's fields."""

    def __init__(
        self,
        formdata: Any,
        case: Case,
        today: date,
        uploads: dict[str, list[ReceivedFile | FileRefusal]] | None = None,
    ) -> None:
        self.formdata, self.case, self.today = formdata, case, today
        self.uploads = uploads or {}

    def values(self, declared: tuple[Declared, ...], prefix: str) -> dict[str, Any]:
        return {
            spec.name: self.value(spec, prefix + spec.name) for spec in _shown(declared, self.case)
        }

    def value(self, spec: Declared, name: str) -> Any:
        shape = _input_of(spec)
        if shape == "upload":
            return self.uploads.get(name, [])
        if shape == "records":
            return self.rows(spec, name)
        sent = self.formdata.getlist(name)
        if shape == "flag":
            return bool(sent) and sent[0] not in _FALSE
        if shape == "ticked":
            return list(sent)
        if sent:
            return sent[0]
        default = spec.default(self.case, self.today) if spec.default is not None else None
        return str(default) if shape == "picked" and default is not None else default

    def rows(self, spec: Declared, name: str) -> list[Any]:
        """Rows as a FieldList reads them: the numbers sent, in order, up to the most a form
        shows, then blank rows up to the fewest it shows; rows left blank are left out."""
        prefix = f"{name}-"
        numbers = sorted(
            {
                int(number)
                for key in self.formdata
                if key.startswith(prefix)
                and (number := key[len(prefix) :].split("-", 1)[0]).isdecimal()
            }
        )
        fewest, most = spec.form_rows
        if most:
            numbers = numbers[:most]
        numbers += range(len(numbers), fewest)
        rows = [self.values(spec.rows, f"{name}-{number}-") for number in numbers]
        return [row for row in rows if not _blank(row)]


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return value in (None, "", False)


def field_name(engine_field: str) -> str:
    """The engine names nested fields ``conditions.0.text``; WTForms names them with dashes."""
    return engine_field.replace(".", "-")


def attach_error(form: Any, engine_field: str, message: str) -> bool:
    """Put the engine's message next to its field, the field called by its label; False when
    the form has no such field."""
    target = field_name(engine_field)
    for field in _all_fields(form):
        if field.name == target:
            labelled = field_label_of(message, str(field.label.text)) if field.label else message
            field.errors = [*list(field.errors or []), labelled]
            return True
    return False


def form_errors(form: Any) -> list[tuple[str, str]]:
    """Each error of a form and the id of the input it is about, in the form's order, for the
    summary at the top of the page (a box of checkboxes: its first box)."""
    if not isinstance(form, BaseForm):
        return []
    found = []
    for field in _all_fields(form):
        if field.type in ("HiddenField", "CSRFTokenField"):
            continue
        boxes = isinstance(field, MultiCheckboxField) and bool(field.choices)
        target = f"{field.id}-0" if boxes else field.id
        label = str(field.label.text) if field.label else ""
        for error in field.errors or []:
            text = str(error)
            # WTForms' own messages ("This field is required.") do not say which field
            found.append((target, text if not label or label in text else f"{label}: {text}"))
    return found


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
