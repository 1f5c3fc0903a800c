"""The JSON API, /api/v1: the same engine calls as the pages, authenticated by a personal API
token (``Authorization: Bearer fpic_...``) and nothing else.

No cookie is read and no CSRF token asked: a browser never sends the Authorization header by
itself, so a token request cannot be forged from another site, and a session cookie sent
along decides nothing. Every refusal is a problem (RFC 9457, web/errors.py) and is recorded
on the trail as the pages' are (web/refusals.py); the engine records its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from fpic.accounts.tokens import TokenHolder, holder_of
from fpic.i18n import N_, Reason
from fpic.read.figures import grievance_figures
from fpic.read.queries import (
    case_events_after,
    cases_after,
    disclosure_matrix,
    filtered_cases,
    is_overdue,
    visible_communities,
)
from fpic.storage.models import Case, Community
from fpic.trail import audit
from fpic.trail.signatures import b64url, signed_object
from fpic.workflow.actions import ACTIONS
from fpic.workflow.engine import Option
from fpic.workflow.errors import FpicError, InvalidData, NotFound, StaleCase
from fpic.workflow.payloads import MAX_ID
from fpic.workflow.permissions import (
    PERMISSIONS,
    TOKEN_SCOPE_PERMISSIONS,
    allows,
    permission_refusal,
    scope_carries,
)
from fpic.workflow.process import Trigger, shipped_templates
from fpic.workflow.signing import Assertion, asks_password, assertion_options, signature_required
from web import openapi, refusals
from web.auth import PUBLIC
from web.context import api_holder, engine, relying_party
from web.errors import api_status_of, problem
from web.i18n import action_title, reason_text, stage_title

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LIMIT, MAX_LIMIT = 25, 100
#: how long a stage name a filter may carry (the longest a case row holds)
MAX_STAGE = 60


def shipped_triggers() -> dict[str, Trigger]:
    """Every trigger of the shipped templates by name (a name means one action, with one
    effect, in every template that has it)."""
    found: dict[str, Trigger] = {}
    for template in shipped_templates().values():
        for name, trigger in template.triggers.items():
            found.setdefault(name, trigger)
    return found


# --- authentication and refusals --------------------------------------------------------


def refuse(
    status: int,
    code: str,
    reasons: list[Reason],
    *,
    access_rule: bool = False,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A refusal decided here, recorded as the pages record theirs: every refused write, and
    a refused read when an access rule decided it for a token's holder."""
    if request.method not in refusals.READS or (access_rule and api_holder() is not None):
        refusals.record(code, reasons)
    return problem(status, code, reasons, field=field, headers=headers)


def _bearer() -> str | None:
    scheme, _space, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _unauthenticated(sent: bool) -> Response:
    challenge = 'Bearer realm="fpic"' + (', error="invalid_token"' if sent else "")
    reason = (
        Reason(
            "invalid_token",
            N_("This API token is unknown, expired or revoked, or its account is disabled."),
        )
        if sent
        else Reason(
            "unauthenticated",
            N_("Send a personal API token in the header Authorization: Bearer <token>."),
        )
    )
    return refuse(401, "unauthenticated", [reason], headers={"WWW-Authenticate": challenge})


def api_view(permission: str) -> Callable[[F], F]:
    """Authenticate the request by its token and check the permission the view declares:
    the token's scope must carry it and its holder must hold it."""
    if permission != PUBLIC and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if permission != PUBLIC:
                secret = _bearer()
                holder = holder_of(engine(), secret) if secret is not None else None
                if holder is None:
                    return _unauthenticated(secret is not None)
                g.api_holder = holder
                if not scope_carries(holder.scope, permission):
                    return refuse(
                        403,
                        "insufficient_scope",
                        [_scope_reason(holder.scope)],
                        access_rule=True,
                        headers={
                            "WWW-Authenticate": 'Bearer realm="fpic", error="insufficient_scope"'
                        },
                    )
                if not allows(holder.actor, permission):
                    return refuse(
                        403, "not_permitted", [permission_refusal(permission)], access_rule=True
                    )
            return view(*args, **kwargs)

        guarded.fpic_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def _scope_reason(scope: str) -> Reason:
    return Reason(
        "insufficient_scope",
        N_("This token may only read (scope %(scope)s); create a token with the scope act."),
        {"scope": scope},
    )


def _holder() -> TokenHolder:
    holder = api_holder()
    assert holder is not None  # api_view authenticated the request
    return holder


# --- reading query arguments ------------------------------------------------------------


class BadArgument(Exception):
    def __init__(self, name: str, reason: Reason) -> None:
        super().__init__(name)
        self.name, self.reason = name, reason


def _bad(name: str) -> BadArgument:
    return BadArgument(
        name,
        Reason(
            "invalid_parameter",
            N_("The parameter %(parameter)s is not valid here."),
            {"parameter": name},
        ),
    )


def _id_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw[:12]) <= MAX_ID:
        raise _bad(name)
    return int(raw)


def _limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw[:4]) <= MAX_LIMIT:
        raise _bad("limit")
    return int(raw)


def _bool_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise _bad(name)
    return raw == "true"


def _stage_arg() -> str | None:
    raw = request.args.get("stage")
    if raw is None:
        return None
    if not raw or len(raw) > MAX_STAGE or not raw.isprintable():
        raise _bad("stage")
    return raw


def encode_cursor(kind: str, after: int) -> str:
    """An opaque continuation: clients pass it back, never build it."""
    return base64.urlsafe_b64encode(f"{kind}:{after}".encode()).decode().rstrip("=")


def _cursor_arg(kind: str) -> int | None:
    raw = request.args.get("cursor")
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad("cursor") from None
    prefix, _colon, number = text.partition(":")
    if prefix != kind or not number.isdigit() or not 0 < int(number[:12]) <= MAX_ID:
        raise _bad("cursor")
    return int(number)


def _bad_argument(bad: BadArgument) -> Response:
    return problem(400, "invalid_parameter", [bad.reason], field=bad.name)


# --- what the API says about a case ------------------------------------------------------


def case_summary(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.reference,
        "stage": case.stage,
        "stage_title": stage_title(case),
        "version": case.version,
        "template": {"id": case.template_id, "version": case.template_version},
        "community": {"id": case.community_id, "name": case.community.name},
        "project": {"id": case.project_id, "name": case.project.name},
        "opened_at": audit.format_time(case.opened_at),
        "updated_at": audit.format_time(case.updated_at),
        "stage_entered_at": audit.format_time(case.stage_entered_at),
        "overdue": is_overdue(case, engine().clock.now()),
        "href": url_for("api.case", case_id=case.id),
    }


def evidence(db: Session, case: Case) -> dict[str, Any]:
    """The counts the case page shows: the disclosure matrix, meetings, questions, integrity
    flags, decisions and conditions, grievances."""
    template = engine().template_of(case)
    protocol = case.protocol
    languages = protocol.content_languages if protocol else []
    formats = protocol.formats if protocol else []
    matrix = disclosure_matrix(
        template.required_disclosure_items, languages, formats, case.disclosures
    )
    cells = [cell for _item, row in matrix for _lang, fmts in row for cell in fmts]
    figures = grievance_figures(db, engine().clock.now(), case_id=case.id)
    return {
        "disclosures": {
            "items": list(template.required_disclosure_items),
            "languages": list(languages),
            "formats": list(formats),
            "required": len(cells),
            "disclosed": sum(cell is not None for cell in cells),
        },
        "meetings": len(case.meetings),
        "questions": {
            "total": len(case.questions),
            "answered": sum(q.answered_at is not None for q in case.questions),
        },
        "integrity_flags": {
            "total": len(case.integrity_flags),
            "open": sum(f.resolved_at is None for f in case.integrity_flags),
        },
        "decisions": [
            {"id": d.id, "outcome": d.outcome, "decided_on": d.decided_on.isoformat()}
            for d in case.decisions
        ],
        "grievances": {
            "total": figures.total,
            "open": figures.open,
            "overdue": figures.overdue,
            "escalated": figures.escalated,
            "upheld": figures.upheld,
        },
    }


def option_of(case: Case, option: Option) -> dict[str, Any]:
    trigger = option.trigger
    action = ACTIONS[trigger.effect]
    return {
        "trigger": trigger.name,
        "title": action_title(trigger.name, case),
        "allowed": option.allowed,
        "changes_stage": trigger.changes_stage,
        "needs_password": asks_password(action, case),
        "needs_signature": signature_required(action, case),
        "reasons": [{"code": r.code, "message": reason_text(r)} for r in option.reasons],
        "href": url_for("api.act", case_id=case.id, trigger=trigger.name),
    }


# --- routes ----------------------------------------------------------------------------


@bp.get("/cases")
@api_view("case:read")
def cases() -> Any:
    """The cases the token's holder may see, newest first, filtered as the web list."""
    holder = _holder()
    try:
        stage, overdue = _stage_arg(), _bool_arg("overdue")
        community_id, project_id = _id_arg("community"), _id_arg("project")
        limit, after = _limit_arg(), _cursor_arg("case")
    except BadArgument as bad:
        return _bad_argument(bad)
    now = engine().clock.now()
    with engine().db.read_session() as db:
        matching = filtered_cases(
            holder.actor, now, stage=stage, community_id=community_id,
            project_id=project_id, overdue=overdue, session=db,
        )  # fmt: skip
        rows, last = cases_after(db, matching, after, limit)
        items = [case_summary(case) for case in rows]
    return jsonify(
        {"items": items, "limit": limit, "next": encode_cursor("case", last) if last else None}
    )


def _readable(db: Session, case_id: int) -> Case | Response:
    try:
        return engine().case_for(db, case_id, _holder().actor)
    except NotFound as missing:
        return refuse(404, missing.code, list(missing.reasons), access_rule=True)


@bp.get("/cases/<int:case_id>")
@api_view("case:read")
def case(case_id: int) -> Any:
    """A case, its evidence, and what its holder may do now (and why not the rest)."""
    with engine().db.read_session() as db:
        found = _readable(db, case_id)
        if isinstance(found, Response):
            return found
        options = engine().options(db, found, _holder().actor)
        return jsonify(
            {
                **case_summary(found),
                "evidence": evidence(db, found),
                "options": [option_of(found, option) for option in options],
                "trail": url_for("api.trail", case_id=found.id),
            }
        )


@bp.get("/cases/<int:case_id>/trail")
@api_view("trail:read")
def trail(case_id: int) -> Any:
    """The case's chain, oldest first, as the trail export writes each event."""
    try:
        limit, after = _limit_arg(), _cursor_arg("seq")
    except BadArgument as bad:
        return _bad_argument(bad)
    with engine().db.read_session() as db:
        found = _readable(db, case_id)
        if isinstance(found, Response):
            return found
        rows, last = case_events_after(db, found.id, after, limit)
        events = [audit.row_of(event) for event in rows]
    return jsonify(
        {"items": events, "limit": limit, "next": encode_cursor("seq", last) if last else None}
    )


@bp.get("/communities")
@api_view("community:read")
def communities() -> Any:
    with engine().db.read_session() as db:
        rows = db.scalars(visible_communities(_holder().actor).order_by(Community.name)).all()
        items = [
            {
                "id": c.id,
                "slug": c.slug,
                "name": c.name,
                "region": c.region,
                "country": c.country,
                "institution": c.institution,
                "content_languages": list(c.content_languages),
            }
            for c in rows
        ]
    return jsonify({"items": items})


@bp.post("/cases/<int:case_id>/actions/<trigger>")
@api_view("case:act")
def act(case_id: int, trigger: str) -> Any:
    """Fire ``trigger`` on the case: the engine's ``advance``, as the page's form does."""
    holder = _holder()
    body = _json_body()
    if isinstance(body, Response):
        return body
    read = _version_and_data(body)
    if isinstance(read, Response):
        return read
    version, data = read
    password, assertion = body.get("password"), body.get("assertion")
    if password is not None and not isinstance(password, str):
        return _malformed("password", N_("password must be text."))
    if assertion is not None and not isinstance(assertion, dict):
        return _malformed("assertion", N_("assertion must be the passkey's answer, a JSON object."))
    signed = None if assertion is None else Assertion(assertion, *relying_party())
    try:
        # the engine refuses an action declared with needs_password without the right one, and
        # where the protocol asks for it a decision without its representative's signature
        done = engine().advance(case_id, trigger, holder.actor, data, version, password, signed)
    except FpicError as refusal:  # recorded by the engine, as every refusal of an action
        return _action_problem(trigger, refusal)
    return jsonify(
        {
            "case_id": done.case_id,
            "stage": done.stage,
            "version": done.version,
            "event": {"chain": audit.case_chain(done.case_id), "seq": done.event_seq},
            "records": done.records,
            "href": url_for("api.case", case_id=done.case_id),
        }
    )


@bp.post("/cases/<int:case_id>/actions/<trigger>/challenge")
@api_view("case:act")
def challenge(case_id: int, trigger: str) -> Any:
    """What the token's holder signs with their passkey to do ``trigger`` with this data:
    the engine's ``prepare`` (the same checks as the action, nothing written)."""
    holder = _holder()
    body = _json_body(("version", "data"))
    if isinstance(body, Response):
        return body
    read = _version_and_data(body)
    if isinstance(read, Response):
        return read
    version, data = read
    try:
        prepared = engine().prepare(case_id, trigger, holder.actor, data, version)
    except FpicError as refusal:  # recorded by the engine, as every refusal of an action
        return _action_problem(trigger, refusal)
    rp_id, _origin = relying_party()
    options = assertion_options(prepared.challenge, prepared.keys, rp_id)
    return jsonify(
        {
            "case_id": prepared.case_id,
            "trigger": prepared.trigger,
            "version": prepared.version,
            "signature_required": prepared.signature_required,
            "signed": signed_object(prepared.case_id, prepared.trigger, prepared.data),
            "challenge": b64url(prepared.challenge),
            "options": json.loads(options),
        }
    )


def _version_and_data(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | Response:
    """The case version an action request says it saw, and the action's data."""
    version, data = body.get("version"), body.get("data", {})
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version <= MAX_ID:
        return _malformed("version", N_("version must be the case version you saw (a number)."))
    if not isinstance(data, dict):
        return _malformed("data", N_("data must be an object holding the action's fields."))
    return version, data


def _action_problem(trigger: str, refusal: FpicError) -> Response:
    """The problem that answers an action (or its challenge) the engine refused."""
    if isinstance(refusal, StaleCase):
        return problem(409, refusal.code, list(refusal.reasons), extra={"version": refusal.actual})
    if isinstance(refusal, InvalidData):
        spec = shipped_triggers().get(trigger)
        action = ACTIONS[spec.effect] if spec is not None else None
        return problem(422, refusal.code, list(refusal.reasons), field=refusal.field, action=action)
    return problem(api_status_of(refusal), refusal.code, list(refusal.reasons))


#: the members of an action request
ACTION_MEMBERS = ("version", "data", "password", "assertion")


def _json_body(members: tuple[str, ...] = ACTION_MEMBERS) -> dict[str, Any] | Response:
    if not request.is_json:
        return _malformed("body", N_("Send the request body as application/json."))
    try:
        body = request.get_json(silent=True)
    except HTTPException as error:  # too large: refused before it is read
        return refuse(error.code or 400, f"http_{error.code}", [])
    if not isinstance(body, dict):
        return _malformed("body", N_("The request body must be a JSON object."))
    unknown = sorted(set(body) - set(members))
    if unknown:
        return _malformed(unknown[0][:80], N_("%(field)s is not a member of an action request."))
    return body


def _malformed(field: str, message: str) -> Response:
    reason = Reason("invalid_data", message, {"field": field})
    return refuse(400, "invalid_data", [reason], field=field)


# --- the description of the API --------------------------------------------------------


def document() -> dict[str, Any]:
    """The OpenAPI document, generated once per app from its routes (web/openapi.py)."""
    cached = current_app.extensions.get("fpic_openapi")
    if cached is None:
        cached = openapi.document(current_app, shipped_triggers())
        current_app.extensions["fpic_openapi"] = cached
    return cached


@bp.get("/openapi.json")
@api_view(PUBLIC)
def openapi_json() -> Any:
    return jsonify(document())


@bp.get("/docs")
@api_view(PUBLIC)
def docs() -> Any:
    """The API reference for people, rendered from the same document."""
    doc = document()
    operations = [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]
    return render_template(
        "api/docs.html",
        doc=doc,
        # the actions share their parameters and answers: the page lists those once
        others=[entry for entry in operations if "actions" not in entry[2]["tags"]],
        actions=[(path, op) for path, _m, op in operations if "actions" in op["tags"]],
        scopes=TOKEN_SCOPE_PERMISSIONS,
        problem_codes=openapi.PROBLEM_CODES,
        title=_("API reference"),
    )
