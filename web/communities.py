"""Community pages: content languages, institution, representatives and their mandates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fpic.grievances import grievance_figures
from fpic.models import Case, Community, Representative
from fpic.process import shipped_templates
from web.auth import requires
from web.context import actor, engine

bp = Blueprint("communities", __name__, url_prefix="/communities")


def _visible(stmt: Any) -> Any:
    me = actor()
    if me.role == "representative":
        stmt = stmt.where(Community.id == me.community_id)
    return stmt


@bp.route("/")
@requires("community:read")
def index() -> Any:
    with engine().db.read_session() as db:
        communities = db.scalars(_visible(select(Community)).order_by(Community.name)).all()
        return render_template("communities/index.html", communities=communities)


@bp.route("/<slug>")
@requires("community:read")
def show(slug: str) -> Any:
    with engine().db.read_session() as db:
        community = db.scalar(
            _visible(select(Community))
            .where(Community.slug == slug[:80])
            .options(selectinload(Community.representatives).selectinload(Representative.mandates))
        )
        if community is None:
            abort(404)
        cases = db.scalars(
            select(Case).where(Case.community_id == community.id).order_by(Case.reference)
        ).all()
        limits = {t.id: t.grievance_days for t in shipped_templates().values()}
        figures = grievance_figures(db, engine().clock.now(), limits, community_id=community.id)
        return render_template(
            "communities/show.html", community=community, cases=cases,
            today=engine().clock.now().date(), figures=figures,
        )  # fmt: skip
