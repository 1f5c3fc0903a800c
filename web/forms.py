"""The action forms, built from each action's declaration (fpic.workflow.schema,
fpic.workflow.actions).

A form only shapes the input: it sends what was typed, as typed, to the engine, which reads and
checks it with the same declaration the JSON API uses, so the web and the API accept and refuse
the same input with the same message, shown next to the field it names.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in 3.2, not yet in types-WTForms
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, DateInput, ListWidget, NumberInput

from fpic.storage.models import Case
from fpic.workflow.actions import ACTIONS
from fpic.workflow.process import Template, Trigger
from fpic.workflow.schema import Choice, Term, Text
from fpic.workflow.schema import Field as Declared
from web.labels import text_of


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
_MULTIPLE = ("choices", "list", "ids")


class _Shape:
    """What one form is built for: the case, its template and the day."""

    def __init__(self, case: Case, template: Template, today: date) -> None:
        self.case, self.template, self.today = case, template, today

    def fields(self, declared: tuple[Declared, ...]) -> dict[str, Field]:
        return {
            spec.name: self.field(spec)
            for spec in declared
            if spec.shown is None or spec.shown(self.case)
        }

    def field(self, spec: Declared) -> Field:
        label = _case_text(spec.case_label(self.case)) if spec.case_label else _l(spec.label)
        kwargs: dict[str, Any] = {
            "description": self.hint(spec),
            "validators": [InputRequired()] if spec.is_required(self.case) else [],
        }
        if spec.default is not None:
            kwargs["default"] = spec.default(self.case, self.today)
        if spec.kind == "records":
            row = type(f"{spec.name.title()}Row", (Form,), self.fields(spec.rows))
            low, high = spec.form_rows
            return FieldList(FormField(row), label, min_entries=low, max_entries=high)
        if spec.kind == "flag":
            return BooleanField(label, description=kwargs["description"])
        choices = self.choices(spec)
        if choices is not None and spec.kind in _MULTIPLE:
            return MultiCheckboxField(label, choices=choices, **kwargs)
        if choices is not None:
            return SelectField(label, choices=choices, **kwargs)
        if spec.kind == "text":
            return TextAreaField(label, **kwargs)
        widget = _WIDGETS.get(spec.kind)
        if widget is not None:
            kwargs["widget"] = widget
        return StringField(label, **kwargs)

    def hint(self, spec: Declared) -> Any:
        if spec.hint is None:
            return None
        if isinstance(spec.hint, str):
            return _l(spec.hint)
        return _case_text(spec.hint(self.case))

    def choices(self, spec: Declared) -> list[SelectChoice] | None:
        if spec.choices is not None:
            found = spec.choices(self.case, self.template, self.today)
        elif spec.kind in ("choice", "choices"):
            allowed = spec.allowed(self.template) or ()
            found = [Choice(v, Term(spec.vocabulary or "", v)) for v in allowed]
        else:
            return None
        return [SelectChoice(c.value, _Label(c.label)) for c in found]


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
    trigger: Trigger, case: Case, template: Template, today: date, formdata: Any = None
) -> ActionForm:
    """The form of ``trigger``'s action for ``case``: its declared fields, and the password
    field where the action asks it again."""
    action = ACTIONS[trigger.effect]
    fields = _Shape(case, template, today).fields(action.fields)
    if action.needs_password:
        fields["password"] = PasswordField(
            _l("Your password, to confirm this decision"), validators=[InputRequired()]
        )
    form_class = type(f"{trigger.effect.title()}Form", (ActionForm,), fields)
    form = form_class(formdata=formdata)
    if formdata is None:
        form.version.data = str(case.version)
    return form


def data_of(form: ActionForm) -> dict[str, Any]:
    """The form's values, as typed, for the engine; blank entries of lists are left out."""
    return {
        name: _value(field)
        for name, field in form._fields.items()
        if name not in ("csrf_token", "version", "password")
    }


def _value(field: Field) -> Any:
    if isinstance(field, FieldList):
        rows = [_value(entry) for entry in field.entries]
        return [row for row in rows if not _blank(row)]
    if isinstance(field, FormField):
        return {name: _value(sub) for name, sub in field.form._fields.items()}
    return field.data


def _blank(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_blank(v) for v in value.values())
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return value in (None, "", False)


def csrf_holds(form: FlaskForm) -> bool:
    """Only the CSRF token is checked in the web; every other check is the engine's."""
    token = getattr(form, "csrf_token", None)
    return token is None or token.validate(form)


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
