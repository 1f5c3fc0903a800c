"""Languages of the interface: the locale, and rendering engine texts in it.

The locale comes from the language a signed-in person chose for this session, else their saved
preference, else the language chosen in this browser (kept at sign-in), else the browser's
Accept-Language, else English. Choosing a language in the header never changes a saved
preference by itself: a signed-in person whose saved one differs is asked whether to keep the
new one for next time. Content languages (qu, ay, iu ...) are a different thing: they are the
community's, and are shown by name in the reader's language (web/labels.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel import dates
from flask import Flask, current_app, g, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from fpic.accounts.settings import known_time_zones
from fpic.i18n import N_, Reason
from fpic.i18n.catalogs import compiled_directory
from fpic.storage.models import Case
from fpic.workflow.actions import ACTIONS
from fpic.workflow.permissions import ROLE_TITLES
from fpic.workflow.process import shipped_templates
from fpic.workflow.schema import Action, Term
from fpic.workflow.schema import Field as Declared
from web import labels
from web.context import is_api_request
from web.extensions import babel
from web.labels import GLOBALS, language_name, term_title
from web.maps import GLOBALS as MAP_GLOBALS

LOCALES = ("en", "es", "fr", "pt_BR", "id", "fil")
LOCALE_NAMES = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "pt_BR": "Português (Brasil)",
    "id": "Bahasa Indonesia",
    "fil": "Filipino",
}


def available_locales() -> tuple[str, ...]:
    return tuple(current_app.config["FPIC_LOCALES"])


#: the language chosen in this browser, signed in or not: kept when a person signs in
CHOSEN = "locale"
#: the language a signed-in person chose for this session only, over their saved preference
#: (dropped at sign-in, so the next person on a shared computer gets their own)
THIS_SESSION = "locale_this_session"
#: the language a signed-in person is asked whether to keep as their saved preference
OFFERED = "locale_offered"


def select_locale() -> str:
    locales = available_locales()
    if is_api_request():
        # the API speaks the language each request asks for; a session cookie sent along
        # with a token decides nothing, not even the language
        return request.accept_languages.best_match(locales) or "en"
    if current_user and current_user.is_authenticated:
        if session.get(THIS_SESSION) in locales:
            return str(session[THIS_SESSION])
        if current_user.locale in locales:
            return str(current_user.locale)
    chosen = session.get(CHOSEN)
    if chosen in locales:
        return str(chosen)
    return request.accept_languages.best_match(locales) or "en"


def switch_language(locale: str, saved: str | None, signed_in: bool) -> None:
    """The session speaks ``locale`` from now on; a signed-in person whose saved preference
    (``saved``) is another language is asked whether to keep it (``language_offer``)."""
    session[CHOSEN] = locale
    if not signed_in:
        return
    if locale == saved:
        session.pop(THIS_SESSION, None)
        session.pop(OFFERED, None)
    else:
        session[THIS_SESSION] = session[OFFERED] = locale


def answer_language_offer() -> None:
    """The person said whether to keep the language: either way, not asked again."""
    session.pop(OFFERED, None)


def language_offer() -> str | None:
    """The language the signed-in reader switched to and may keep for next time, if any."""
    if not (current_user and current_user.is_authenticated):
        return None
    offered = session.get(OFFERED)
    if offered in available_locales() and offered != current_user.locale:
        return str(offered)
    return None


def select_timezone() -> str:
    """The signed-in person's time zone (their setting), else the installation's; the API
    answers in UTC, as its ISO timestamps say."""
    zone = getattr(current_user, "time_zone", None) if not is_api_request() else None
    if zone in known_time_zones():  # and not one this server's zone database lost since
        return str(zone)
    return str(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled_directory()))
    app.config.setdefault("FPIC_LOCALES", LOCALES)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(
        reason=reason_text,
        when=format_when,
        day=format_day,
        month_name=format_month,
        language_name=language_name,
        file_size=file_size,
    )
    app.jinja_env.filters.update(
        phase_title=labels.phase_title, activity_title=labels.activity_title
    )
    app.jinja_env.globals.update(
        available_locales=available_locales,
        LOCALE_NAMES=LOCALE_NAMES,
        html_lang=html_lang,
        role_title=role_title,
        stage_title=stage_title,
        action_title=action_title,
        deadline_text=deadline_text,
        language_offer=language_offer,
        **GLOBALS,
        **MAP_GLOBALS,
    )
    # a refused event's reasons call its field by the label of the action it refused
    app.jinja_env.globals["event_reasons"] = event_reasons
    # the summary of a form's errors (base.html); web.forms renders messages with this module
    from web.forms import form_errors

    app.jinja_env.globals["form_errors"] = form_errors


SYSTEM_ACTIONS = {
    "open_case": N_("Open the case"),
    "sign_in": N_("Sign in"),
    "sign_out": N_("Sign out"),
    "add_user": N_("Add a user"),
    "change_password": N_("Change a password"),
    "change_role": N_("Change a user's role"),
    "disable_user": N_("Disable a user account"),
    "enable_user": N_("Enable a user account"),
    "add_community": N_("Register a community"),
    "add_representative": N_("Register a representative"),
    "record_mandate": N_("Record a mandate"),
    "confirm_mandate": N_("Confirm a mandate"),
    "revoke_mandate": N_("End a mandate"),
    "reset_account": N_("Issue a new enrolment code (reset)"),
    "enrol": N_("Choose a password with an enrolment code"),
    "add_project": N_("Register a project"),
    "edit_community": N_("Change a community's entry"),
    "edit_project": N_("Change a project"),
    "add_legacy_site": N_("Register a legacy mine site"),
    "import_areas": N_("Import a dataset of protected areas or habitats"),
    "create_api_token": N_("Create an API token"),
    "revoke_api_token": N_("Revoke an API token"),
    "register_passkey": N_("Register a passkey"),
    "confirm_passkey": N_("Confirm a representative's passkey"),
    "revoke_passkey": N_("Revoke a passkey"),
}


def file_size(size: int) -> str:
    """A file's size in the reader's number format: bytes, kB or MB (1 kB = 1,000 bytes)."""
    if size < 1000:
        return _("%(size)s bytes", size=size)
    if size < 1_000_000:
        return _("%(size)s kB", size=format_decimal(round(size / 1000, 1)))
    return _("%(size)s MB", size=format_decimal(round(size / 1_000_000, 1)))


def stage_title(case: Any, stage: str | None = None) -> str:
    """A stage's title from the case's process template, in the reader's language."""
    template = shipped_templates().get(case.template_id)
    name = stage or case.stage
    if template is None or name not in template.stages:
        return name or ""
    return _(template.stages[name].title)


def action_title(action: str, case: Any = None) -> str:
    """An action's title in the reader's language: a trigger's as the template of the case it
    was done on calls it (``case``: the case or its id), since two templates may give one
    trigger name different titles (the Native Title Act's consent is the native title parties'
    agreement)."""
    if action in SYSTEM_ACTIONS:
        return _(SYSTEM_ACTIONS[action])
    templates = shipped_templates()
    own = templates.get(_template_id_of(case) or "") if case is not None else None
    if own is not None and action in own.triggers:
        return _(own.triggers[action].title)
    for template in templates.values():
        if action in template.triggers:
            return _(template.triggers[action].title)
    return action


def _template_id_of(case: Any) -> str | None:
    """The template id of a case, or of the case with this id (read once per request)."""
    if not isinstance(case, int):
        return getattr(case, "template_id", None)
    known: dict[int, str | None] = g.setdefault("case_templates", {})
    if case not in known:
        from web.context import engine

        with engine().db.read_session() as db:
            known[case] = db.scalar(select(Case.template_id).where(Case.id == case))
    return known[case]


#: parameters that carry a text of a process template (a limit's or a trigger's title): its
#: translation is in the catalog like the template's other texts
TEMPLATE_TEXTS = ("limit", "step")


def _template_texts(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _(str(v)) if k in TEMPLATE_TEXTS else v for k, v in params.items()}


def deadline_text(item: Any) -> str:
    return _(item.message, **_template_texts(item.params))


def role_title(role: str) -> str:
    return _(ROLE_TITLES[role]) if role in ROLE_TITLES else role


def html_lang() -> str:
    return str(get_locale() or "en").replace("_", "-")


@dataclass(frozen=True)
class ReasonOf(Reason):
    """A reason with the action whose data it refused, read back from the trail: shown, it
    calls its field by the field's label."""

    action: Action | None = None


def reason_text(reason: Reason, action: Action | None = None, label: str | None = None) -> str:
    """A guard's or the engine's reason in the reader's language. The field it names is called
    by its label: ``label`` (already in the reader's language: a form's field), else the label
    the action it refuses the data of declares; the codes it lists by their titles."""
    params = {k: _param(v) for k, v in reason.params.items()}
    action = action or getattr(reason, "action", None)
    spec = _declared(action, str(params["field"])) if action and "field" in params else None
    if label is None and spec is not None:
        label = _(spec.label)
    if label is not None and "field" in params:
        params["field"] = "“" + str(label) + "”"
    # a person reads the options by their titles; an API client needs the codes it may send
    if spec is not None and spec.vocabulary and "options" in params and not is_api_request():
        params["options"] = ", ".join(
            term_title(Term(spec.vocabulary, code.strip()))
            for code in str(params["options"]).split(",")
        )
    if "role" in params:
        params["role"] = role_title(str(params["role"]))
    params = _template_texts(params)
    try:
        text = _(reason.message, **params)
    except (KeyError, ValueError, TypeError):
        return reason.render()
    if label is None and "field" in params:
        # a page that then shows the message next to its field calls the field by its label
        # (``field_label_of``): the reason is known here, not where the message is placed
        g.setdefault("unlabelled_reasons", {})[text] = reason
    return text


def field_label_of(message: str, label: str) -> str:
    """``message`` rendered again calling its field ``label``, if ``reason_text`` rendered it
    from a reason naming the field by its key (a registry's or an account's form)."""
    reason = g.get("unlabelled_reasons", {}).get(message)
    return reason_text(reason, label=label) if reason is not None else message


def _declared(action: Action, path: str) -> Declared | None:
    """The declared field the engine names ``path`` (``conditions.0.language``)."""
    fields, found = action.fields, None
    for part in path.split("."):
        if part.isdigit():
            continue
        found = next((f for f in fields if f.name == part), None)
        if found is None:
            return None
        fields = found.rows
    return found


def event_reasons(event: Any) -> list[Reason]:
    """The reasons a refused trail event carries, each with the action it refused, so that a
    field it names is called by its label (the action as the case's template declares it)."""
    reasons = labels.event_reasons(event)
    if not any("field" in r.params for r in reasons):
        return reasons
    action = _action_of(event)
    if action is None:
        return reasons
    return [ReasonOf(r.code, r.message, r.params, r.unrecorded, action) for r in reasons]


def _action_of(event: Any) -> Action | None:
    case_id, trigger = getattr(event, "case_id", None), getattr(event, "action", None)
    if case_id is None or not trigger:
        return None
    template = shipped_templates().get(_template_id_of(case_id) or "")
    spec = template.triggers.get(trigger) if template is not None else None
    return ACTIONS.get(spec.effect) if spec is not None else None


def _param(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return format_date(date.fromisoformat(value), "medium")
        except ValueError:
            return value
    return value


def format_when(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return format_datetime(moment, "medium")


def format_month(day: date) -> str:
    """The month and year of ``day`` as a calendar's heading ("December 2026", "diciembre de
    2026"): CLDR's year-month skeleton in the reader's language."""
    return dates.format_skeleton("yMMMM", day, locale=get_locale())


def format_day(day: date | str | None) -> str:
    if day is None:
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return format_date(day, "medium")
