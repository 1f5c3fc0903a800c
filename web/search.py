"""Search: the cases a person may see that hold the words asked for (fpic.read.search)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from fpic.read.search import search_cases
from web.auth import requires
from web.context import actor, engine, int_arg
from web.i18n import reason_text

bp = Blueprint("search", __name__)


@bp.route("/search")
@requires("case:read")
def results() -> Any:
    """The search page: its form alone until something is asked; then a page of hits, or why
    the query was not run (nothing to look for, too long), with the form to try again."""
    if "q" not in request.args:
        return render_template("search/results.html", query="", result=None, problem=None)
    query = request.args.get("q", "")
    with engine().db.read_session() as db:
        result = search_cases(db, actor(), query, page=int_arg("page", 1) or 1)
        problem = reason_text(result.problem) if result.problem else None
        page = render_template("search/results.html", query=query, result=result, problem=problem)
    return page, 400 if problem else 200
