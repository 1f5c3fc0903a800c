"""Languages of the interface: the locale, and rendering engine texts in it.

The locale comes from the person's saved preference, else their explicit choice this session,
else the browser's Accept-Language, else English. Content languages (qu, ay, iu ...) are a
different thing: they are the community's, and are shown by name in the reader's language.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel import Locale, UnknownLocaleError
from flask import Flask, current_app, g, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from fpic.i18n import N_, Reason
from fpic.i18n.catalogs import compiled_directory
from fpic.storage.models import Case
from fpic.workflow.permissions import ROLE_TITLES
from fpic.workflow.process import shipped_templates
from fpic.workflow.schema import Action
from web.context import is_api_request
from web.extensions import babel
from web.labels import GLOBALS
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


def select_locale() -> str:
    locales = available_locales()
    if is_api_request():
        # the API speaks the language each request asks for; a session cookie sent along
        # with a token decides nothing, not even the language
        return request.accept_languages.best_match(locales) or "en"
    if current_user and current_user.is_authenticated and current_user.locale in locales:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in locales:
        return chosen
    return request.accept_languages.best_match(locales) or "en"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(compiled_directory()))
    app.config.setdefault("FPIC_LOCALES", LOCALES)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters.update(
        reason=reason_text,
        when=format_when,
        day=format_day,
        language_name=language_name,
        file_size=file_size,
    )
    app.jinja_env.globals.update(
        available_locales=available_locales,
        LOCALE_NAMES=LOCALE_NAMES,
        html_lang=html_lang,
        role_title=role_title,
        stage_title=stage_title,
        action_title=action_title,
        deadline_text=deadline_text,
        **GLOBALS,
        **MAP_GLOBALS,
    )


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


def reason_text(reason: Reason, action: Action | None = None) -> str:
    """A guard's or the engine's reason in the reader's language; given the action it refuses
    the data of, the field it names is called by its label."""
    params = {k: _param(v) for k, v in reason.params.items()}
    label = action.label_of(str(params["field"])) if action and "field" in params else None
    if label is not None:
        params["field"] = "“" + _(label) + "”"
    if "role" in params:
        params["role"] = role_title(str(params["role"]))
    params = _template_texts(params)
    try:
        return _(reason.message, **params)
    except (KeyError, ValueError, TypeError):
        return reason.render()


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


def format_day(day: date | str | None) -> str:
    if day is None:
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return format_date(day, "medium")


def language_name(code: str) -> str:
    """``qu`` → "Quechua" (or "quechua" in Spanish) where Babel knows it; else the code."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(str(get_locale() or "en"))
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    return f"{name} ({code})" if name else code
