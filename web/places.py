"""Where projects are: the projects and their landscape, and the register of legacy mine sites."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.read.places import landscape, legacy_site_place
from fpic.read.registry import project_history
from fpic.storage.models import LegacySite, Project
from web.auth import requires
from web.context import actor, engine
from web.maps import map_svg

bp = Blueprint("places", __name__)


@bp.route("/projects/")
@requires("case:read")
def projects() -> Any:
    with engine().db.read_session() as db:
        rows = db.scalars(select(Project).order_by(Project.name)).all()
        return render_template("places/projects.html", projects=rows)


@bp.route("/projects/<int:project_id>")
@requires("case:read")
def project(project_id: int) -> Any:
    """A project's landscape: every case it has, with every community, on one map."""
    with engine().db.read_session() as db:
        found = db.get(Project, project_id)
        if found is None:
            abort(404)
        view = landscape(db, actor(), found)
        svg = map_svg(
            view.place,
            _("Map of %(project)s", project=found.name),
            _(
                "The project's area, the territories of the communities it has cases with, and "
                "the protected areas and habitats its screenings found."
            ),
            "project-map",
        )
        return render_template(
            "places/project.html", project=found, view=view, svg=svg,
            site=_site(db, found.legacy_site_id),
            history=project_history(db, actor(), found.id),
        )  # fmt: skip


def _site(db: Session, site_id: int | None) -> LegacySite | None:
    return db.get(LegacySite, site_id) if site_id is not None else None


@bp.route("/legacy-sites/")
@requires("community:read")
def legacy_sites() -> Any:
    with engine().db.read_session() as db:
        sites = db.scalars(select(LegacySite).order_by(LegacySite.name)).all()
        return render_template("places/sites.html", sites=sites)


@bp.route("/legacy-sites/<slug>")
@requires("community:read")
def legacy_site(slug: str) -> Any:
    with engine().db.read_session() as db:
        site = db.scalar(select(LegacySite).where(LegacySite.slug == slug))
        if site is None:
            abort(404)
        place = legacy_site_place(db, actor(), site)
        svg = map_svg(
            place,
            _("Map of %(site)s", site=site.name),
            _("The legacy mine site and the territories of the communities around it."),
            "site-map",
        )
        restorations = db.scalars(
            select(Project).where(Project.legacy_site_id == site.id).order_by(Project.name)
        ).all()
        return render_template(
            "places/site.html", site=site, place=place, svg=svg, restorations=restorations
        )
