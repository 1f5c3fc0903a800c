"""Community pages: content languages, institution, and the register of representatives (each
mandate with the community's resolution, who recorded and who confirmed it, and every
enrolment and reset of the representatives' accounts).

Recording, confirming and ending a mandate are the engine's decisions
(fpic.accounts.registry.record_mandate, confirm_mandate, revoke_mandate): the page only hides the
forms from roles that can never use them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from wtforms import DateField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from fpic.accounts.passkeys import pending_passkeys
from fpic.accounts.registry import GENDERS, confirm_mandate, record_mandate, revoke_mandate
from fpic.read.evidence import register_file, resolution_files
from fpic.read.figures import grievance_figures
from fpic.read.places import community_place, sites_around
from fpic.read.queries import visible_communities
from fpic.read.registry import community_history
from fpic.storage.models import Case, Community, Enrolment, Mandate, Representative, User
from fpic.trail.signatures import key_fingerprint
from fpic.workflow.errors import InvalidData
from fpic.workflow.permissions import allows
from web.auth import requires
from web.context import actor, engine
from web.downloads import file_response
from web.forms import attach_error, options, received_uploads, upload_hint
from web.i18n import reason_text
from web.labels import GENDER_LABELS
from web.maps import map_svg

bp = Blueprint("communities", __name__, url_prefix="/communities")


@bp.route("/")
@requires("community:read")
def index() -> Any:
    with engine().db.read_session() as db:
        communities = db.scalars(visible_communities(actor()).order_by(Community.name)).all()
        return render_template("communities/index.html", communities=communities)


class MandateForm(FlaskForm):
    """The community's resolution mandating a representative, new or already registered."""

    representative_id = SelectField(_l("Representative"), choices=[])
    name = StringField(
        _l("Name of the new representative"),
        validators=[Optional(), Length(max=200)],
        description=_l("Only for a new representative: leave it empty for one already listed."),
    )
    gender = SelectField(_l("Gender of the new representative"), choices=[])
    granted_by = StringField(
        _l("Body that passed the resolution"),
        validators=[InputRequired(), Length(max=300)],
        description=_l("The community's own institution, e.g. the community assembly."),
    )
    resolved_on = DateField(_l("Resolution passed on"), validators=[InputRequired()])
    evidence = TextAreaField(
        _l("Where the resolution is minuted"),
        validators=[InputRequired()],
        description=_l("Minute book, page, resolution number."),
    )
    valid_from = DateField(_l("Mandate from"), validators=[InputRequired()])
    valid_until = DateField(_l("Mandate until"), validators=[InputRequired()])
    files = MultipleFileField(_l("The resolution: a scan or photo of the signed minutes"))


class RevokeForm(FlaskForm):
    """The community's resolution ending a mandate, with effect from a date."""

    resolution = TextAreaField(
        _l("The community's resolution ending the mandate"),
        validators=[InputRequired()],
        description=_l("Which body resolved it, on what day, and where it is minuted."),
    )
    effective_on = DateField(
        _l("No longer in force from"),
        validators=[InputRequired()],
        description=_l("From this day on the representative no longer acts for the community."),
    )


def _community(db: Session, slug: str) -> Community:
    community = db.scalar(
        visible_communities(actor())
        .where(Community.slug == slug[:80])
        .options(
            selectinload(Community.representatives)
            .selectinload(Representative.mandates)
            .options(
                selectinload(Mandate.recorded_by),
                selectinload(Mandate.confirmed_by),
                selectinload(Mandate.revoked_by),
            )
        )
    )
    if community is None:
        abort(404)
    return community


def _mandate_form(community: Community, formdata: Any = None) -> MandateForm:
    form = MandateForm(formdata=formdata)
    form.representative_id.choices = options(
        [
            ("", _("A new representative (name below)")),
            *((r.id, r.name) for r in sorted(community.representatives, key=lambda r: r.name)),
        ]
    )
    form.gender.choices = options((g, GENDER_LABELS[g]) for g in GENDERS)
    form.files.description = upload_hint(None)
    if formdata is None:
        form.gender.data = "unspecified"
    return form


def _given(day: date | None) -> date:
    """A required date of a form that validated (InputRequired let no empty one through)."""
    assert day is not None
    return day


def _revoke_forms(
    community: Community, failed: RevokeForm | None = None, failed_id: int = 0
) -> dict[int, RevokeForm]:
    forms = {}
    for rep in community.representatives:
        for mandate in rep.mandates:
            if mandate.revoked_on is None:
                prefix = f"revoke-{mandate.id}"
                if failed is not None and failed_id == mandate.id:
                    forms[mandate.id] = failed
                else:
                    forms[mandate.id] = RevokeForm(formdata=None, prefix=prefix)
    return forms


def _enrolments(db: Session, community: Community) -> list[Enrolment]:
    """Every one-time code issued for the accounts of this community's representatives."""
    return list(
        db.scalars(
            select(Enrolment)
            .join(User, Enrolment.user_id == User.id)
            .join(Representative, User.representative_id == Representative.id)
            .where(Representative.community_id == community.id)
            .options(
                selectinload(Enrolment.user).selectinload(User.representative),
                selectinload(Enrolment.issued_by),
            )
            .order_by(Enrolment.issued_at.desc(), Enrolment.id.desc())
        )
    )


def _page(
    db: Session,
    community: Community,
    status: int = 200,
    mandate_form: MandateForm | None = None,
    revoke_forms: dict[int, RevokeForm] | None = None,
    refusal: Any = (),
) -> tuple[str, int]:
    cases = db.scalars(
        select(Case).where(Case.community_id == community.id).order_by(Case.reference)
    ).all()
    now = engine().clock.now()
    figures = grievance_figures(db, now, community_id=community.id)
    may_register = allows(actor(), "community:register")
    mandates = sorted(
        ((rep, m) for rep in community.representatives for m in rep.mandates),
        key=lambda pair: (pair[0].name, pair[1].valid_from, pair[1].id),
    )
    place = community_place(db, actor(), community)
    svg = map_svg(
        place,
        _("Map of the territory of %(community)s", community=community.name),
        _(
            "The community's territory as it signed it off, and the areas of the projects it "
            "has cases with."
        ),
        "community-map",
    )
    page = render_template(
        "communities/show.html", community=community, cases=cases, today=now.date(), now=now,
        place=place, svg=svg,
        sites=sites_around(db, community.id),
        figures=figures, mandates=mandates, enrolments=_enrolments(db, community),
        resolutions=resolution_files(db, actor(), community.id),
        may_register=may_register,
        mandate_form=(mandate_form or _mandate_form(community)) if may_register else None,
        revoke_forms=(revoke_forms or _revoke_forms(community)) if may_register else {},
        pending_keys=pending_passkeys(db, community.id) if may_register else [],
        fingerprint=key_fingerprint,
        refusal=refusal,
        history=community_history(db, actor(), community.id),
    )  # fmt: skip
    return page, status


@bp.route("/<slug>")
@requires("community:read")
def show(slug: str) -> Any:
    with engine().db.read_session() as db:
        return _page(db, _community(db, slug))


@bp.route("/<slug>/files/<int:file_id>")
@requires("community:read")
def resolution(slug: str, file_id: int) -> Any:
    """A file of the community's register (a mandate's resolution), for whoever reads it."""
    with engine().db.read_session() as db:
        community = _community(db, slug)
        found = register_file(db, actor(), community.id, file_id)
    if found is None:
        abort(404)
    return file_response(found)


@bp.route("/<slug>/mandates", methods=["POST"])
@requires("community:register")
def record(slug: str) -> Any:
    with engine().db.read_session() as db:
        community = _community(db, slug)
        form = _mandate_form(community, formdata=request.form)
        if not form.validate():
            return _page(db, community, 400, mandate_form=form)
        rep = form.representative_id.data or ""
        try:
            record_mandate(
                engine(), actor(), community.id,
                granted_by=form.granted_by.data or "", evidence=form.evidence.data or "",
                resolved_on=_given(form.resolved_on.data),
                valid_from=_given(form.valid_from.data),
                valid_until=_given(form.valid_until.data),
                representative_id=int(rep) if rep.isdigit() else None,
                name=None if rep.isdigit() else (form.name.data or None),
                gender=form.gender.data or "unspecified",
                files=received_uploads(request.files).get("files", []),
            )  # fmt: skip
        except InvalidData as bad:  # NotPermitted becomes the 403 page with its reason
            db.rollback()  # a new read transaction sees the register as it is now
            community = _community(db, slug)
            if attach_error(form, bad.field, reason_text(bad.reasons[0])):
                return _page(db, community, 400, mandate_form=form)
            return _page(db, community, 400, mandate_form=form, refusal=bad.reasons)
    flash(_("Mandate recorded. It is in force once it is confirmed."), "success")
    return redirect(url_for("communities.show", slug=slug, _anchor="h-register"))


@bp.route("/<slug>/mandates/<int:mandate_id>/confirm", methods=["POST"])
@requires("community:register")
def confirm(slug: str, mandate_id: int) -> Any:
    with engine().db.read_session() as db:
        community = _community(db, slug)
        _own_mandate(community, mandate_id)
        try:
            confirm_mandate(engine(), actor(), mandate_id)
        except InvalidData as bad:
            db.rollback()
            return _page(db, _community(db, slug), 400, refusal=bad.reasons)
    flash(_("Mandate confirmed: it is in force for its period."), "success")
    return redirect(url_for("communities.show", slug=slug, _anchor="h-register"))


@bp.route("/<slug>/mandates/<int:mandate_id>/revoke", methods=["POST"])
@requires("community:register")
def revoke(slug: str, mandate_id: int) -> Any:
    with engine().db.read_session() as db:
        community = _community(db, slug)
        _own_mandate(community, mandate_id)
        form = RevokeForm(formdata=request.form, prefix=f"revoke-{mandate_id}")
        if not form.validate():
            forms = _revoke_forms(community, form, mandate_id)
            return _page(db, community, 400, revoke_forms=forms)
        try:
            revoke_mandate(
                engine(), actor(), mandate_id,
                resolution=form.resolution.data or "", effective_on=_given(form.effective_on.data),
            )  # fmt: skip
        except InvalidData as bad:
            db.rollback()
            community = _community(db, slug)
            target = form._fields.get(bad.field)
            if target is not None:
                target.errors = [*list(target.errors or []), reason_text(bad.reasons[0])]
            forms = _revoke_forms(community, form, mandate_id)
            refusal = () if target is not None else bad.reasons
            return _page(db, community, 400, revoke_forms=forms, refusal=refusal)
    flash(_("The mandate was ended from the date the community resolved."), "success")
    return redirect(url_for("communities.show", slug=slug, _anchor="h-register"))


def _own_mandate(community: Community, mandate_id: int) -> None:
    """A mandate of another community is not found under this one's address."""
    if not any(m.id == mandate_id for rep in community.representatives for m in rep.mandates):
        abort(404)
