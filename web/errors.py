"""Every failure becomes a page in the reader's language with the right status; never a 500
for bad input."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from fpic.engine import Busy
from fpic.errors import (
    FpicError,
    GuardRefused,
    InvalidData,
    InvalidTransition,
    NotFound,
    NotPermitted,
    StaleCase,
    Throttled,
)
from web import refusals
from web.security import InvalidText

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
    500: lambda: _("Something went wrong on our side"),
    503: lambda: _("Busy: please try again in a moment"),
}


def error_page(status: int, reasons: Any = (), detail: str | None = None) -> tuple[str, int]:
    title = TITLES.get(status, TITLES[400])()
    return render_template(
        "errors/error.html", status=status, title=title, reasons=reasons, detail=detail
    ), status


def init_app(app: Flask) -> None:
    @app.errorhandler(FpicError)
    def engine_refusal(error: FpicError) -> tuple[str, int]:
        # refused by the engine outside an action (reading a case one may not see): recorded
        # here; an action's refusal the engine recorded itself, and is not recorded twice
        refusals.record(error.code, error.reasons)
        return error_page(status_of(error), error.reasons)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error
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
    def unexpected(error: Exception) -> tuple[str, int]:
        app.logger.exception("unexpected error")
        return error_page(500)
