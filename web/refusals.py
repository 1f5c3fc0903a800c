"""Refusals decided in the web (permission, CSRF, form validation, a case one may not see),
handed to the engine, which alone decides how a refusal is recorded (Engine.record_refusal).

Which refusals are recorded: every refused write (any method but GET and HEAD) that reached one
of the app's routes, by anyone; and refused reads (GET) only where an access rule decided them
(the permission a view declares, a case the person may not see), for signed-in people. A read
refused by an access rule is someone looking where they may not (a neighbour's case), which the
community should see; a plain 404 for a URL that does not exist, or an anonymous visitor sent
to the sign-in page, decides nothing about anyone's data and would only let scanners fill the
trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from fpic.i18n import Reason
from fpic.trail import refusals
from web.context import api_holder, engine, is_api_request

READS = ("GET", "HEAD", "OPTIONS")


def record(error: str, reasons: Iterable[Reason] = ()) -> None:
    """Record the current request as refused, for ``error`` (a code, e.g. ``csrf_failed``)."""
    if refusals.origin().recorded:
        return  # the engine already recorded it (one event per refusal, never two)
    if is_api_request():
        # the API is answered for its token's holder, never for a session cookie sent along
        holder = api_holder()
        who = holder.actor if holder is not None else None
    else:
        who = current_user.actor if current_user.is_authenticated else None
    view_args: dict[str, Any] = request.view_args or {}
    trigger = view_args.get("trigger")
    case_id = view_args.get("case_id")
    version = _version_seen()
    engine().record_refusal(
        who,
        trigger if isinstance(trigger, str) else (request.endpoint or "-"),
        {
            "error": error,
            "reasons": [reason.as_data() for reason in reasons],
            "version_seen": int(version) if version.isdigit() and len(version) < 10 else None,
        },
        case_id=case_id if isinstance(case_id, int) and case_id < 2**31 else None,
    )


def _version_seen() -> str:
    """The case version a refused write was sent with: a form's field, or the API's JSON."""
    if request.method in READS:
        return ""
    if is_api_request():
        body = request.get_json(silent=True) if request.is_json else None
        seen = body.get("version") if isinstance(body, dict) else None
        return str(seen) if isinstance(seen, int) and not isinstance(seen, bool) else ""
    try:
        return request.form.get("version", "")
    except RequestEntityTooLarge:  # a body too large to read is refused unread
        return ""


def init_app(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        # behind a proxy, werkzeug's ProxyFix makes remote_addr the client's address
        request.environ["fpic.origin"] = refusals.begin(request.remote_addr)

    @app.after_request
    def unrecorded_write(response: Response) -> Response:
        """A refused write no handler recorded: a form that did not validate (400), or any
        other 4xx a view returned itself."""
        status = response.status_code
        if request.method not in READS and 400 <= status < 500 and request.endpoint is not None:
            record("invalid_form" if status == 400 else f"http_{status}")
        return response

    @app.teardown_request
    def finish(_: BaseException | None) -> None:
        token = request.environ.pop("fpic.origin", None)
        if token is not None:
            refusals.end(token)
