"""Adding and changing the register's entries: a community (its name, region, country, its own
institution and the languages it asks information in) and a project.

Who may is the engine's decision (fpic.accounts.registry): whoever may propose a community
registers one, and from then on only its mandated representative or the facilitator of one of
its cases changes its entry, as for its mandates; projects are the proponent's own description,
added and changed by its liaison and the administrator. The pages ask the same rule before
showing a form, so nobody fills in a form they could never send. Every change is an event on
the system chain, shown in the History of the community's or the project's page.
"""

from __future__ import annotations

import re
from typing import Any

from babel import Locale
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import Field, Form, SelectField, StringField, TextAreaField
from wtforms.validators import StopValidation
from wtforms.widgets import DateInput

from fpic.accounts import registry
from fpic.i18n import N_, Reason
from fpic.read.queries import visible_communities
from fpic.read.registry import community_edit_refusals
from fpic.storage.models import SECTORS, Community, Project
from fpic.workflow.errors import InvalidData, NotPermitted
from web.auth import requires
from web.context import actor, engine
from web.forms import options
from web.i18n import reason_text
from web.labels import sector_title

bp = Blueprint("registry", __name__)

#: each field of an entry (and of the mandate events in a community's history) by its title
FIELD_TITLES = {
    "slug": _l("Short name in addresses"),
    "name": _l("Name"),
    "region": _l("Region"),
    "country": _l("Country"),
    "institution": _l("Representative institution"),
    "content_languages": _l("Content languages"),
    "proponent": _l("Proponent"),
    "description": _l("Description"),
    "sector": _l("Sector"),
    "phases": _l("Phases"),
    "activities": _l("Activities"),
    "design_freeze_on": _l("Design freeze"),
    "permit_applied_on": _l("Permit applied for"),
    "legacy_site": _l("Legacy mine site it restores"),
    "granted_by": _l("Body that passed the resolution"),
    "resolved_on": _l("Resolution passed on"),
    "valid_from": _l("Mandate from"),
    "valid_until": _l("Mandate until"),
    "resolution": _l("The community's resolution ending the mandate"),
    "effective_on": _l("No longer in force from"),
}
#: the addresses of this module's pages: no community may take one as its slug
RESERVED_SLUGS = ("new",)
#: CLDR's territory codes that name no country (groupings, unknown, private use)
_NOT_COUNTRIES = ("EU", "EZ", "QO", "UN", "XA", "XB", "ZZ")


@bp.app_template_global()
def registry_field(name: str) -> str:
    """A field of an entry by its title, in the reader's language."""
    title = FIELD_TITLES.get(name)
    return str(title) if title is not None else name.replace("_", " ")


@bp.app_template_global()
def country_name(code: str) -> str:
    """``PE`` → "Peru (PE)" in the reader's language; an unknown code as it is."""
    name = _reader().territories.get(code.upper()) if code else None
    return f"{name} ({code})" if name else code


def _reader() -> Locale:
    return get_locale() or Locale.parse("en")


class Required:
    """A field that must be filled in, refused in the words the engine uses (the field by its
    label), and marked as required on the form."""

    field_flags = {"required": True}

    def __call__(self, form: Form, field: Field) -> None:
        if not (field.data or "").strip():
            raise StopValidation(
                reason_text(Reason("invalid_data", N_("%(field)s is required."), _named(field)))
            )


def _named(field: Field) -> dict[str, str]:
    return {"field": f"“{field.label.text}”"}


class NotReserved:
    """A slug that is one of this module's addresses (``/communities/new``) would hide the
    community's page behind the page that adds one."""

    def __call__(self, form: Form, field: Field) -> None:
        if (field.data or "").strip() in RESERVED_SLUGS:
            raise StopValidation(
                _("%(field)s cannot be “%(value)s”: choose another.", **_named(field),
                  value=field.data.strip())
            )  # fmt: skip


class CommunityForm(FlaskForm):
    slug = StringField(
        FIELD_TITLES["slug"],
        validators=[Required(), NotReserved()],
        description=_l(
            "Lower-case letters, digits, - and _, e.g. ayllu-qollana. It is part of the "
            "community's address and cannot change later."
        ),
    )
    name = StringField(FIELD_TITLES["name"], validators=[Required()])
    region = StringField(FIELD_TITLES["region"], validators=[Required()])
    country = SelectField(
        FIELD_TITLES["country"], choices=[], validators=[Required()], validate_choice=False
    )
    institution = StringField(
        FIELD_TITLES["institution"],
        validators=[Required()],
        description=_l(
            "The community's own institution that appoints its representatives and decides, "
            "e.g. the community assembly."
        ),
    )
    content_languages = StringField(
        FIELD_TITLES["content_languages"],
        validators=[Required()],
        description=_l(
            "The languages the community asks to be informed in, by their ISO 639 codes "
            "separated by commas, e.g. qu, es."
        ),
    )


class ProjectForm(FlaskForm):
    name = StringField(FIELD_TITLES["name"], validators=[Required()])
    proponent = StringField(
        FIELD_TITLES["proponent"],
        validators=[Required()],
        description=_l("The company or public body that plans the project."),
    )
    description = TextAreaField(FIELD_TITLES["description"])
    sector = SelectField(FIELD_TITLES["sector"], choices=[], validate_choice=False)
    phases = StringField(
        FIELD_TITLES["phases"],
        description=_l("Separated by commas, e.g. exploration, construction, operation."),
    )
    activities = StringField(
        FIELD_TITLES["activities"],
        description=_l("Separated by commas, e.g. drilling, access_road, camp."),
    )
    design_freeze_on = StringField(
        FIELD_TITLES["design_freeze_on"],
        widget=DateInput(),
        description=_l(
            "When the project's design is to be fixed: consent is sought before it (and "
            "before the permit application) to be prior."
        ),
    )
    permit_applied_on = StringField(FIELD_TITLES["permit_applied_on"], widget=DateInput())


# --- communities -------------------------------------------------------------------------------


@bp.route("/communities/new", methods=["GET", "POST"])
@requires("community:propose")
def new_community() -> Any:
    form = _community_form(None)
    if request.method == "POST" and form.validate():
        slug = (form.slug.data or "").strip()
        try:
            registry.add_community(engine(), actor(), {"slug": slug, **_community_data(form)})
        except InvalidData as bad:
            return _community_page(form, None, bad)
        flash(_("Community %(name)s registered.", name=form.name.data), "success")
        return redirect(url_for("communities.show", slug=slug))
    return _community_page(form, None)


@bp.route("/communities/<slug>/edit", methods=["GET", "POST"])
@requires("community:register")
def edit_community(slug: str) -> Any:
    with engine().db.read_session() as db:
        community = _editable_community(db, slug)
    form = _community_form(community)
    if request.method == "POST" and form.validate():
        try:
            changed = registry.edit_community(
                engine(), actor(), community.id, _community_data(form)
            )
        except InvalidData as bad:  # NotPermitted becomes the 403 page with its reason
            return _community_page(form, community, bad)
        _say_saved(changed)
        return redirect(url_for("communities.show", slug=community.slug, _anchor="h-history"))
    return _community_page(form, community)


def _editable_community(db: Session, slug: str) -> Community:
    """The community, if this person reads it (else 404) and may change its entry today (else
    the 403 page says why: the engine's own rule, asked before a form is filled in)."""
    community = db.scalar(visible_communities(actor()).where(Community.slug == slug[:80]))
    if community is None:
        abort(404)
    refusals = community_edit_refusals(db, actor(), community.id, engine().clock.now().date())
    if refusals:
        raise NotPermitted(*refusals)
    return community


def _community_form(community: Community | None) -> CommunityForm:
    """The form, filled in with the entry as it is (on a POST, with what was sent)."""
    initial = None
    if community is not None:
        initial = {
            "name": community.name,
            "region": community.region,
            "country": community.country,
            "institution": community.institution,
            "content_languages": ", ".join(community.content_languages or []),
        }
    form = CommunityForm(data=initial)
    if community is not None:
        del form.slug  # a community's address never changes
    form.country.choices = _countries(community.country if community else None)
    return form


def _countries(current: str | None) -> Any:
    """Every country by its name in the reader's language, its ISO 3166-1 code the value."""
    named = _reader().territories
    codes = [c for c in map(str, named) if len(c) == 2 and c.isalpha() and c not in _NOT_COUNTRIES]
    pairs = sorted(((c, f"{named[c]} ({c})") for c in codes), key=lambda p: p[1].casefold())
    if current and current not in codes:  # a code stored as typed keeps its place
        pairs.insert(0, (current, current))
    return options([("", _("Choose a country")), *pairs])


def _community_data(form: CommunityForm) -> dict[str, Any]:
    return {
        "name": form.name.data or "",
        "region": form.region.data or "",
        "country": form.country.data or "",
        "institution": form.institution.data or "",
        # "qu es", "qu; es" and "qu, es" all mean two languages
        "content_languages": [c for c in re.split(r"[\s,;]+", form.content_languages.data or "")
                              if c],
    }  # fmt: skip


def _community_page(
    form: CommunityForm, community: Community | None, bad: InvalidData | None = None
) -> tuple[str, int]:
    refusal = () if bad is None or _attach(form, bad) else bad.reasons
    page = render_template("communities/form.html", form=form, community=community, refusal=refusal)
    return page, 400 if request.method == "POST" else 200


# --- projects ----------------------------------------------------------------------------------


@bp.route("/projects/new", methods=["GET", "POST"])
@requires("project:manage")
def new_project() -> Any:
    form = _project_form(None)
    if request.method == "POST" and form.validate():
        try:
            project_id = registry.add_project(engine(), actor(), _project_data(form))
        except InvalidData as bad:
            return _project_page(form, None, bad)
        flash(_("Project %(name)s registered.", name=form.name.data), "success")
        return redirect(url_for("places.project", project_id=project_id))
    return _project_page(form, None)


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@requires("project:manage")
def edit_project(project_id: int) -> Any:
    with engine().db.read_session() as db:
        project = db.get(Project, project_id)
    if project is None:
        abort(404)
    form = _project_form(project)
    if request.method == "POST" and form.validate():
        try:
            changed = registry.edit_project(engine(), actor(), project.id, _project_data(form))
        except InvalidData as bad:
            return _project_page(form, project, bad)
        _say_saved(changed)
        return redirect(url_for("places.project", project_id=project.id, _anchor="h-history"))
    return _project_page(form, project)


def _project_form(project: Project | None) -> ProjectForm:
    initial = None
    if project is not None:
        initial = {
            "name": project.name,
            "proponent": project.proponent,
            "description": project.description,
            "sector": project.sector,
            "phases": ", ".join(project.phases or []),
            "activities": ", ".join(project.activities or []),
            "design_freeze_on": _iso(project.design_freeze_on),
            "permit_applied_on": _iso(project.permit_applied_on),
        }
    form = ProjectForm(data=initial)
    form.sector.choices = options((s, sector_title(s)) for s in SECTORS)
    if project is None and request.method != "POST":
        form.sector.data = "unspecified"
    return form


def _iso(day: Any) -> str:
    return day.isoformat() if day is not None else ""


def _project_data(form: ProjectForm) -> dict[str, Any]:
    """What the form sent, as typed: the engine reads lists and dates the same way for the
    web, the CLI and the API."""
    return {
        "name": form.name.data or "",
        "proponent": form.proponent.data or "",
        "description": form.description.data or "",
        "sector": form.sector.data or "",
        "phases": form.phases.data or "",
        "activities": form.activities.data or "",
        "design_freeze_on": (form.design_freeze_on.data or "").strip(),
        "permit_applied_on": (form.permit_applied_on.data or "").strip(),
    }


def _project_page(
    form: ProjectForm, project: Project | None, bad: InvalidData | None = None
) -> tuple[str, int]:
    refusal = () if bad is None or _attach(form, bad) else bad.reasons
    page = render_template("places/project_form.html", form=form, project=project, refusal=refusal)
    return page, 400 if request.method == "POST" else 200


# --- both --------------------------------------------------------------------------------------


def _attach(form: FlaskForm, bad: InvalidData) -> bool:
    """The engine's refusal next to the field it names, calling the field by its label; False
    when the form has no such field (the page then says it above the form)."""
    target = form._fields.get(bad.field)
    if target is None:
        return False
    reason = bad.reasons[0]
    named = Reason(reason.code, reason.message, {**reason.params, **_named(target)})
    target.errors = [*list(target.errors or []), reason_text(named)]
    return True


def _say_saved(changed: registry.Changes) -> None:
    if changed:
        titles = ", ".join(registry_field(key) for key in changed)
        flash(_("Saved. Changed: %(fields)s.", fields=titles), "success")
    else:
        flash(_("Nothing was changed: the entry already says this."), "success")
