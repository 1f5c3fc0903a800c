"""Every failure becomes a page in the reader's language with the right status; never a 500
for bad input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from fpic.i18n import Reason
from fpic.workflow.engine import Busy
from fpic.workflow.errors import (
    FpicError,
    GuardRefused,
    InvalidData,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StaleCase,
    Throttled,
)
from fpic.workflow.schema import Action
from web import refusals
from web.context import is_api_request
from web.i18n import reason_text
from web.security import InvalidText

PROBLEM_JSON = "application/problem+json"

STATUS = {
    Throttled: 429,  # before NotPermitted, which it is a kind of
    NotFound: 404,
    NotPermitted: 403,
    InvalidData: 400,
    InvalidTransition: 400,
    GuardRefused: 409,
    StaleCase: 409,
    Busy: 503,
}


def status_of(error: FpicError) -> int:
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


TITLES = {
    400: lambda: _("This request cannot be handled"),
    401: lambda: _("Please sign in"),
    403: lambda: _("You may not do this"),
    404: lambda: _("Not found"),
    405: lambda: _("This request cannot be handled"),
    409: lambda: _("This case changed or the action is not possible now"),
    413: lambda: _("What you sent is too large"),
    422: lambda: _("What you sent is not valid for this action"),
    429: lambda: _("Too many tries: please wait"),
    500: lambda: _("Something went wrong on our side"),
    503: lambda: _("Busy: please try again in a moment"),
}


#: what the API answers for each refusal of the engine (RFC 9110): as the pages, but data
#: that does not pass an action's checks is 422 (400 is for a request the API cannot read)
API_STATUS = {**STATUS, InvalidData: 422, InvalidTransition: 409}


def api_status_of(error: FpicError) -> int:
    for kind, status in API_STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


#: what a refusal with no reason of its own says, per status
DETAILS = {
    401: lambda: _("Send a personal API token in the header Authorization: Bearer <token>."),
    404: lambda: _("There is nothing at this address."),
    405: lambda: _("This address does not take this method."),
    413: lambda: _("What you sent is too large"),
    500: lambda: _("Something went wrong on our side"),
}


def problem(
    status: int,
    code: str,
    reasons: Iterable[Reason] = (),
    *,
    detail: str | None = None,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
    action: Action | None = None,
) -> Response:
    """An API refusal as an RFC 9457 problem, in the request's language: ``code`` the
    refusal's code (the engine's, as on the trail), ``reasons`` each with its code; given the
    action whose data is refused, the field is called by its label, as the web form does."""
    listed = [{"code": r.code, "message": reason_text(r, action)} for r in reasons]
    if detail is None:
        detail = listed[0]["message"] if listed else DETAILS.get(status, TITLES[400])()
    body: dict[str, object] = {
        "type": url_for("api.docs", _anchor=f"problem-{code}"),
        "title": (TITLES.get(status) or TITLES[400])(),
        "status": status,
        "detail": detail,
        "code": code,
        "reasons": listed or [{"code": code, "message": detail}],
        **(extra or {}),
    }
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    code = {401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}.get(
        status, "internal_error" if status >= 500 else f"http_{status}"
    )
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return problem(status, code, headers=headers)


def error_page(status: int, reasons: Any = (), detail: str | None = None) -> tuple[str, int]:
    title = TITLES.get(status, TITLES[400])()
    return render_template(
        "errors/error.html", status=status, title=title, reasons=reasons, detail=detail
    ), status


def init_app(app: Flask) -> None:
    @app.errorhandler(FpicError)
    def engine_refusal(error: FpicError) -> Any:
        if is_api_request():  # the API records its refusals itself (web/api.py)
            return problem(api_status_of(error), error.code, error.reasons)
        # refused by the engine outside an action (reading a case one may not see): recorded
        # here; an action's refusal the engine recorded itself, and is not recorded twice
        refusals.record(error.code, error.reasons)
        return error_page(status_of(error), error.reasons)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error
        if is_api_request():
            return http_problem(error)
        if error.code == 400 and "CSRF" in (error.description or ""):
            refusals.record("csrf_failed")
            return error_page(
                400,
                detail=_(
                    "The form expired or was not sent from this site. "
                    "Reload the page and try again."
                ),
            )
        if isinstance(error, InvalidText):
            return error_page(
                400,
                detail=_(
                    "The form held text that is not valid UTF-8, so nothing was saved. Go back, "
                    "retype the text (or paste it from another program) and send it again."
                ),
            )
        return error_page(error.code)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        app.logger.exception("unexpected error")
        if is_api_request():
            return problem(500, "internal_error")
        return error_page(500)
