"""Small helpers routes share: the engine, the signed-in person, reading query arguments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import abort, current_app, g, request, url_for
from flask_babel import get_timezone
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from fpic.accounts.tokens import TokenHolder
from fpic.workflow.actors import Actor
from fpic.workflow.engine import Engine
from fpic.workflow.payloads import EARLIEST_DAY, LATEST_DAY, MAX_ID
from fpic.workflow.permissions import allows
from fpic.workflow.signing import Assertion

#: every path of the JSON API starts with this: its answers, errors included, are JSON
API_PREFIX = "/api/"


def is_api_request() -> bool:
    """A request to the JSON API (matched to a route or not): answered as problem+json, in
    the language of Accept-Language, and never from the session cookie."""
    return request.path.startswith(API_PREFIX)


def api_holder() -> TokenHolder | None:
    """The token holder an API request authenticated as (web/api.py), if any."""
    holder = g.get("api_holder")
    return holder if isinstance(holder, TokenHolder) else None


def engine() -> Engine:
    return current_app.extensions["fpic"]


def actor() -> Actor:
    return current_user.actor


def local_now() -> datetime:
    """The engine's clock in the reader's time zone (Flask-Babel's, from their setting): its
    date is the reader's today, which deadlines are counted against."""
    return engine().clock.now().astimezone(get_timezone())


def may(permission: str) -> bool:
    """For templates: whether the signed-in person holds an interface permission
    (fpic.workflow.permissions), so no page names a role to decide what it shows."""
    return bool(current_user.is_authenticated) and allows(current_user.actor, permission)


def int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12:
        abort(400)
    return int(raw)


def date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400)
    if not EARLIEST_DAY <= day <= LATEST_DAY:  # 9999-12-31 + 1 day would overflow the filter
        abort(400)
    return day


def str_arg(name: str, max_length: int = 80) -> str | None:
    raw = request.args.get(name, "").strip()
    if len(raw) > max_length or any(ord(c) < 32 for c in raw):
        abort(400)
    return raw or None


def page_url(endpoint: str, page: int) -> str:
    """The link to another page of a list, keeping its filters. The filters travel as an
    encoded query string, never as keyword arguments of ``url_for``: a query argument named
    ``endpoint`` or ``_external`` would otherwise collide with or steer ``url_for`` itself."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    return f"{url_for(endpoint, **(request.view_args or {}))}?{urlencode([*kept, ('page', page)])}"


class DatabaseId(IntegerConverter):
    """``<int:...>`` in every route: a number no id can reach is a 404 before the view runs,
    never an overflow in the database driver (a 500)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(*args, **kwargs)


def relying_party() -> tuple[str, str]:
    """The WebAuthn relying party id and origin of this site, for every passkey ceremony:
    FPIC_WEBAUTHN_ORIGIN and FPIC_WEBAUTHN_RP_ID when configured (as they must be behind a
    proxy that changes the scheme or host), else this request's own."""
    origin = current_app.config.get("FPIC_WEBAUTHN_ORIGIN") or request.host_url.rstrip("/")
    rp_id = current_app.config.get("FPIC_WEBAUTHN_RP_ID") or urlsplit(origin).hostname or ""
    return str(rp_id), str(origin)


def sent_assertion(form: Any) -> Assertion | None:
    """The passkey's signature a form sent (the signing page's), with where it was asked."""
    raw = form.get("assertion", "")
    if not raw:
        return None
    rp_id, origin = relying_party()
    return Assertion(str(raw), rp_id, origin)
