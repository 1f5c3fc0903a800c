"""How a kind of action is declared: its fields, read and checked here for every interface.

An :class:`Action` names an effect of the process templates and lists its :class:`Field`\\ s:
type, label and hint (message ids the interface translates), whether required, limits, and
choices (fixed, from the template, or computed from the case). From that one declaration

- the engine reads and checks the data a person sends (``Action.parse``), refusing bad input
  with the field named, then runs the action's own cross-field ``check``;
- the web builds and binds its form (``web/forms.py``);
- the JSON API publishes the data's JSON Schema (``data_schema``) in its OpenAPI document.

Parsers return JSON-safe values (dates as ISO text) so the cleaned data goes on the trail as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from fpic.evidence.intake import MAX_FILES, FileRefusal, ReceivedFile
from fpic.i18n import N_, Reason
from fpic.storage.models import User
from fpic.workflow.errors import InvalidData, invalid
from fpic.workflow.payloads import MAX_ID, MAX_ITEMS, MAX_SHORT, MAX_TEXT, Fields

if TYPE_CHECKING:
    from fpic.storage.models import Case
    from fpic.workflow.guards import GuardContext
    from fpic.workflow.process import Template

Kind = Literal[
    "text",  # free text, several lines
    "short",  # one line of text
    "name",  # a person's name: one line without invisible characters
    "language",  # a language code (qu, ay, es-PE)
    "languages",  # language codes
    "choice",  # one of ``options``
    "choices",  # some of ``options``
    "day",  # a date, YYYY-MM-DD
    "integer",  # a whole number between ``minimum`` and ``maximum``
    "flag",  # yes or no
    "id",  # the id of a record of the case (a question, a grievance ...)
    "ids",  # ids of records (the representatives present)
    "list",  # short texts (signatories; comma-separated in a form)
    "accounts",  # user names of existing accounts
    "records",  # a list of entries, each with the fields in ``rows``
    "files",  # evidence files, received and checked (fpic.evidence.intake)
]
#: the largest record id a form or a client can send (ids are at most 64-bit)
MAX_RECORD_ID = 2**62


@dataclass(frozen=True)
class Term:
    """A code of a vocabulary (a grievance category, a format ...) used inside a label: the
    interface shows it by its title in the reader's language."""

    vocabulary: str
    value: str


@dataclass(frozen=True)
class Text:
    """A label computed from the case: a message id and its parameters (texts, numbers or
    :class:`Term`\\ s), or, with ``translate`` false, text typed by a person shown as it is."""

    message: str
    params: Mapping[str, object] = field(default_factory=dict)
    translate: bool = True


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text | Term


#: the values a choice field accepts, fixed or read from the case's template
Options = tuple[str, ...] | Callable[["Template"], Sequence[str]]
#: the entries a form offers for a field, computed from the case (the open questions ...)
Chooser = Callable[["Case", "Template", date], list[Choice]]
#: what a form shows in a field before the person types (today, the community's institution)
Default = Callable[["Case", date], object]
#: a label or hint that depends on the case (an assembly counts differently from a council)
CaseText = Callable[["Case"], "Text | None"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    label: str
    hint: str | CaseText | None = None
    #: True, False, or decided by the case (the representatives present are required of a
    #: council's decision, not of an assembly's)
    required: bool | Callable[[Case], bool] = True
    minimum: int = 0
    maximum: int | None = None
    options: Options | None = None
    #: the vocabulary of ``options``, whose titles the interface shows
    vocabulary: str | None = None
    choices: Chooser | None = None
    default: Default | None = None
    #: the value when the field is left out
    fallback: object = None
    #: read only when another field has one of these values; otherwise it is None
    when: tuple[str, tuple[str, ...]] | None = None
    #: shown in a form only for such cases (the engine reads it whenever it is sent)
    shown: Callable[[Case], bool] | None = None
    #: a day that cannot be in the future (a meeting held, a decision taken)
    past: bool = False
    rows: tuple[Field, ...] = ()
    #: how many blank entries of ``rows`` a form offers, and at most how many it shows
    form_rows: tuple[int, int] = (1, 3)
    #: a label that depends on the case, overriding ``label`` in a form
    case_label: CaseText | None = None

    def is_required(self, case: Case | None) -> bool:
        if callable(self.required):
            return case is not None and self.required(case)
        return self.required

    def allowed(self, template: Template | None) -> tuple[str, ...] | None:
        if self.options is None:
            return None
        if callable(self.options):
            return tuple(self.options(template)) if template is not None else None
        return self.options


Payload = dict[str, Any]
Check = Callable[[Payload, "GuardContext"], Payload | None]
#: an action's input still in the shape an interface received it, read once the engine holds
#: the case: which fields a web form has, and their defaults, depend on the case, so the web
#: hands over how to read its form rather than read the case a second time (web/forms.py)
Submission = Callable[["Action", "Case", date], Mapping[str, Any]]
Writer = Callable[["GuardContext", Payload, str], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    """One kind of action: what it asks, what it checks beyond each field, what it writes."""

    effect: str
    fields: tuple[Field, ...]
    write: Writer
    #: checks across fields and against the case; may return the payload completed
    check: Check | None = None
    #: the person enters their password again (the community's decision)
    needs_password: bool = False
    #: the community's own act: where the case's protocol asks for it, the acting representative
    #: signs it with their passkey (fpic.workflow.signing)
    signed: bool = False
    #: the field holding the action's own date (a decision's, a notice's notification day):
    #: a time limit counted from the action runs from it
    dated_by: str | None = None

    def label_of(self, path: str) -> str | None:
        """The label of the field the engine names ``path`` (``conditions.0.text``)."""
        fields, label = self.fields, None
        for part in path.split("."):
            if part.isdigit():
                continue
            spec = next((f for f in fields if f.name == part), None)
            if spec is None:
                return None
            fields, label = spec.rows, spec.label
        return label

    def parse(self, data: Mapping[str, Any] | Submission | None, ctx: GuardContext) -> Payload:
        if callable(data):
            data = data(self, ctx.case, ctx.today)
        payload = read(self.fields, data, ctx, ctx.case)
        if self.check is not None:
            payload = self.check(payload, ctx) or payload
        return payload


def read(
    fields: Sequence[Field],
    data: Mapping[str, Any] | None,
    ctx: GuardContext | None,
    case: Case | None,
    prefix: str = "",
) -> Payload:
    """Every declared field read from ``data``; unknown keys are refused so a typo is never
    silently ignored."""
    f = Fields(data, {spec.name for spec in fields}, prefix=prefix)
    payload: Payload = {}
    for spec in fields:
        if spec.when is not None and payload.get(spec.when[0]) not in spec.when[1]:
            payload[spec.name] = None
            continue
        value = _read_one(f, spec, ctx, case)
        payload[spec.name] = spec.fallback if value is None and spec.fallback is not None else value
        if spec.past and ctx is not None:
            not_future(prefix + spec.name, payload[spec.name], ctx.today)
    return payload


def _read_one(f: Fields, spec: Field, ctx: GuardContext | None, case: Case | None) -> Any:
    required = spec.is_required(case)
    name, kind = spec.name, spec.kind
    if kind in ("choice", "choices"):
        allowed = spec.allowed(ctx.template if ctx is not None else None) or ()
        if kind == "choice":
            return f.choice(name, allowed, required)
        return f.choices(name, allowed, required)
    if kind == "records":
        return [
            read(spec.rows, entry, ctx, case, prefix=f"{f.prefix}{name}.{index}.")
            for index, entry in enumerate(f.records(name, required))
        ]
    if kind == "accounts":
        return _account_names(f, name, ctx)
    if kind == "files":
        return _files(f, name, required)
    return _READERS[kind](f, spec, required)


def _files(f: Fields, name: str, required: bool) -> list[ReceivedFile]:
    return received_files(f.data.get(name), f.prefix + name, required)


def received_files(sent: object, key: str, required: bool = False) -> list[ReceivedFile]:
    """Files an interface received (``fpic.evidence.intake.receive``): the first refusal among
    them refuses the action, naming the field; nothing else can stand for a file."""
    if sent is None or sent == []:
        if required:
            raise invalid(key, N_("%(field)s is required."))
        return []
    if not isinstance(sent, list) or not all(
        isinstance(one, ReceivedFile | FileRefusal) for one in sent
    ):
        raise invalid(key, N_("%(field)s must be files sent with the web form."))
    if len(sent) > MAX_FILES:
        raise invalid(key, N_("%(field)s: at most %(most)s files at once."), most=MAX_FILES)
    for one in sent:
        if isinstance(one, FileRefusal):
            params = {"field": key, **one.params}
            raise InvalidData(key, Reason(one.code, one.message, params, unrecorded=("name",)))
    return sent


_READERS: dict[str, Callable[[Fields, Field, bool], Any]] = {
    "text": lambda f, s, r: f.text(s.name, r, s.maximum or MAX_TEXT),
    "short": lambda f, s, r: f.short(s.name, r),
    "name": lambda f, s, r: f.name(s.name, r),
    "language": lambda f, s, r: f.language(s.name, r),
    "languages": lambda f, s, r: f.languages(s.name, r),
    "day": lambda f, s, r: f.day(s.name, r),
    "integer": lambda f, s, r: f.integer(s.name, r, s.minimum, s.maximum or 1_000_000),
    "flag": lambda f, s, _r: f.flag(s.name),
    "id": lambda f, s, r: f.integer(s.name, r, 1, MAX_RECORD_ID),
    "ids": lambda f, s, r: f.int_list(s.name, r),
    "list": lambda f, s, r: f.str_list(s.name, r),
}


def not_future(key: str, day: object, today: date) -> None:
    if isinstance(day, str) and date.fromisoformat(day) > today:
        raise invalid(key, N_("%(field)s cannot be in the future."))


def _account_names(f: Fields, key: str, ctx: GuardContext | None) -> list[str]:
    """User names of the accounts a flag or grievance is about: checked, so that a typo cannot
    let the person it names review it."""
    names = f.str_list(key, required=False)
    if names and ctx is not None:
        known = set(ctx.session.scalars(select(User.username).where(User.username.in_(names))))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise invalid(
                f.prefix + key,
                N_("%(field)s names no account: %(names)s."),
                names=", ".join(unknown),
            )
    return names


# --- JSON Schema -------------------------------------------------------------------------

_LANGUAGE = {"type": "string", "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", "maxLength": 300}


def data_schema(action: Action, template: Template | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the action's data. Values computed from a case (which
    questions are open) cannot be listed in a document for every case; their fields say so."""
    return _object_schema(action.fields, template)


def _object_schema(fields: Sequence[Field], template: Template | None) -> dict[str, Any]:
    # files are uploaded with a web form (multipart), which no JSON body can carry
    fields = [spec for spec in fields if spec.kind != "files"]
    properties = {spec.name: _property(spec, template) for spec in fields}
    required = [s.name for s in fields if s.required is True and s.kind != "flag" and not s.when]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _property(spec: Field, template: Template | None) -> dict[str, Any]:
    schema = _value_schema(spec, template)
    schema["title"] = spec.label
    notes = []
    if isinstance(spec.hint, str):
        notes.append(spec.hint)
    if callable(spec.required):
        notes.append("Required or not depending on the case's protocol.")
    if spec.when is not None:
        notes.append(f"Read only when {spec.when[0]} is one of: {', '.join(spec.when[1])}.")
    if spec.choices is not None and spec.kind in ("id", "ids"):
        notes.append("The case page's options list the records this may name.")
    if spec.past:
        notes.append("Not after today.")
    if notes:
        schema["description"] = " ".join(notes)
    if spec.required is not True and spec.kind not in ("records", "flag"):
        return {**schema, "type": [*_as_list(schema.get("type")), "null"]}
    return schema


def _as_list(kind: object) -> list[object]:
    return list(kind) if isinstance(kind, list) else [kind]


def _value_schema(spec: Field, template: Template | None) -> dict[str, Any]:
    kind = spec.kind
    if kind in ("text", "short", "name"):
        longest = spec.maximum or (MAX_TEXT if kind == "text" else MAX_SHORT)
        return {"type": "string", "maxLength": longest}
    if kind == "language":
        return dict(_LANGUAGE)
    if kind == "day":
        return {"type": "string", "format": "date"}
    if kind == "flag":
        return {"type": "boolean", "default": False}
    if kind == "integer":
        return {"type": "integer", "minimum": spec.minimum, "maximum": spec.maximum or 1_000_000}
    if kind == "id":
        return {"type": "integer", "minimum": 1, "maximum": MAX_RECORD_ID}
    allowed = spec.allowed(template)
    if kind == "choice":
        return {"type": "string", "enum": list(allowed)} if allowed else {"type": "string"}
    item: dict[str, Any]
    if kind == "ids":
        item = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    elif kind == "languages":
        item = dict(_LANGUAGE)
    elif kind == "choices" and allowed:
        item = {"type": "string", "enum": list(allowed)}
    elif kind == "records":
        item = _object_schema(spec.rows, template)
    else:
        item = {"type": "string", "maxLength": MAX_SHORT}
    return {"type": "array", "items": item, "maxItems": MAX_ITEMS}
