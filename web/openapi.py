"""The OpenAPI 3.1 document of the JSON API, generated from the app's own routes.

Each route under /api/v1 is described by the entry of its endpoint in OPERATIONS (a route
without one stops generation: nothing is served undocumented); the action route becomes one
path per trigger of the shipped templates, its ``data`` the JSON Schema of the trigger's
effect (fpic.workflow.actions). The same document is served as JSON and rendered for people.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from fpic.workflow.actions import ACTIONS, data_schema, needs_password
from fpic.workflow.payloads import MAX_ID
from fpic.workflow.process import Template, Trigger, shipped_templates

API_PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
#: every code a problem may carry, with what it means (listed in the document and the page)
PROBLEM_CODES = {
    "unauthenticated": "No token, or one unknown, expired, revoked or of a disabled account.",
    "insufficient_scope": "The token's scope does not carry this (a read token cannot act).",
    "not_permitted": "The token's holder may not do this (role, community, mandate).",
    "not_found": "No such case for this person (another community's case is not found), "
    "or nothing at this address.",
    "invalid_parameter": "A query parameter is not valid; `field` names it.",
    "invalid_data": "The request body or the action's data is not valid; `field` names it.",
    "invalid_transition": "Not an action of this case's process, or not at its stage.",
    "guard_refused": "An FPIC rule forbids the action now; `reasons` says which.",
    "stale_case": "The case changed since the version sent; `version` is the current one.",
    "throttled": "Too many wrong passwords for this account; wait.",
    "busy": "The database is busy; try again in a moment.",
    "method_not_allowed": "This address does not take this method.",
    "internal_error": "Something went wrong on the server.",
    "http_<status>": "Any other refusal of the HTTP layer, e.g. `http_413`: too large.",
}
#: the error responses: status -> (component name, description)
ERRORS = {
    400: ("BadRequest", "The request cannot be read: a parameter or the body is malformed."),
    401: ("Unauthenticated", "No valid personal API token."),
    403: ("Forbidden", "The token's scope or its holder's standing does not allow this."),
    404: ("NotFound", "No such case for this person, or no such address."),
    405: ("MethodNotAllowed", "This address does not take this method."),
    409: ("Conflict", "Stale case version, an FPIC rule refusing it now, or the wrong stage."),
    413: ("TooLarge", "The request body is too large."),
    422: ("Unprocessable", "The action's data does not pass its checks; `field` names it."),
    429: ("TooManyRequests", "Too many wrong passwords for this account."),
    500: ("ServerError", "Something went wrong on the server."),
    503: ("Unavailable", "The database is busy."),
}
#: what every operation under the bearer scheme may answer besides its own errors
COMMON_ERRORS = (401, 403, 405, 500, 503)


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str
    response: str  #: the component schema of a 200 answer ("" for the HTML page)
    errors: tuple[int, ...] = ()
    parameters: tuple[str, ...] = ()
    public: bool = False
    tags: tuple[str, ...] = field(default=("cases",))
    media_type: str = "application/json"


OPERATIONS: dict[str, Operation] = {
    "api.cases": Operation(
        "List cases",
        "The cases the token's holder may see (a representative: their community's), newest "
        "first, filtered as the web list, in pages: pass `next` back as `cursor`.",
        "CaseList",
        (400,),
        ("stage", "community", "project", "overdue", "limit", "cursor"),
    ),
    "api.case": Operation(
        "Read a case",
        "The case, its evidence (the counts of the case page) and its options: every action "
        "of its stage, whether its holder may do it now, and if not, why not.",
        "CaseDetail",
        (404,),
        ("case_id",),
    ),
    "api.trail": Operation(
        "Read a case's trail",
        "The events of the case's chain, oldest first, exactly as the trail export writes "
        "them (docs/audit-format.md), in pages.",
        "TrailPage",
        (400, 404),
        ("case_id", "limit", "cursor"),
        tags=("trail",),
    ),
    "api.communities": Operation(
        "List communities",
        "The communities the token's holder reads (a representative: their own).",
        "CommunityList",
        tags=("communities",),
    ),
    "api.act": Operation(
        "Do an action",
        "",
        "ActionResult",
        (400, 404, 409, 413, 422, 429),
        ("case_id",),
        tags=("actions",),
    ),
    "api.challenge": Operation(
        "Get what to sign for an action",
        "Where a case's protocol asks its representatives to sign the community's decisions "
        "with their own passkey (an option's `needs_signature`), the action is sent with "
        "`assertion`: a WebAuthn assertion over this `challenge` by one of the holder's "
        "confirmed passkeys. This checks the action with this data as the action itself would "
        "(nothing is written) and answers what is signed: `signed`, the object whose canonical "
        "JSON's SHA-256 is `challenge` (docs/audit-format.md), and `options`, the "
        "PublicKeyCredentialRequestOptionsJSON to give `navigator.credentials.get`. Needs a "
        "token of scope `act`.",
        "Challenge",
        (400, 404, 409, 413, 422, 429),
        ("case_id", "trigger"),
        tags=("actions",),
    ),
    "api.openapi_json": Operation(
        "This document",
        "The OpenAPI document of this API (needs no token).",
        "",
        public=True,
        tags=("about",),
    ),
    "api.docs": Operation(
        "The API reference",
        "This document as a page for people (needs no token).",
        "",
        public=True,
        tags=("about",),
        media_type="text/html",
    ),
}

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")


def openapi_path(rule: str) -> str:
    """``/api/v1/cases/<int:case_id>`` -> ``/api/v1/cases/{case_id}``."""
    return _CONVERTER.sub(r"{\1}", rule)


def document(app: Flask, triggers: Mapping[str, Trigger]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, Any]] = {}  # the actions' data schemas, one component each
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(API_PREFIX + "/"):
            continue
        operation = OPERATIONS[rule.endpoint]  # a KeyError here: an undocumented route
        path = openapi_path(rule.rule)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if rule.endpoint == "api.act":
            for name, trigger in sorted(triggers.items()):
                paths[path.replace("{trigger}", name)] = {
                    "post": _action(operation, rule.endpoint, name, trigger, data)
                }
            continue
        for method in methods:
            paths.setdefault(path, {})[method.lower()] = _operation(operation, rule.endpoint)
        if rule.endpoint == "api.challenge":
            paths[path]["post"]["requestBody"] = _request(_CHALLENGE_REQUEST)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "fpic API",
            "version": "1",
            "summary": "Cases of Free, Prior and Informed Consent processes and their trail.",
            "description": (
                "Authenticate with a personal API token (create one on your account's page "
                "/account/tokens): `Authorization: Bearer fpic_...`. A `read` token reads what "
                "its holder may read; an `act` token also acts, as its holder may. Errors are "
                "`application/problem+json` (RFC 9457) with the extension members `code`, "
                "`reasons` and, for invalid data, `field`; their texts follow Accept-Language "
                "(en, es, fr, pt-BR, id)."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "cases"},
            {"name": "actions"},
            {"name": "trail"},
            {"name": "communities"},
            {"name": "about"},
        ],
        "paths": paths,
        "components": _components(data),
    }


def _operation(operation: Operation, endpoint: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "operationId": endpoint.removeprefix("api."),
        "summary": operation.summary,
        "description": operation.description,
        "tags": list(operation.tags),
        "responses": {"200": _success(operation)},
    }
    if operation.parameters:
        answer["parameters"] = [
            {"$ref": f"#/components/parameters/{name}"} for name in operation.parameters
        ]
    errors = set(operation.errors) | ({405, 500} if operation.public else set(COMMON_ERRORS))
    for status in sorted(errors):
        answer["responses"][str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    if operation.public:
        answer["security"] = []
    return answer


def _success(operation: Operation) -> dict[str, Any]:
    if operation.media_type == "text/html":
        html = {"text/html": {"schema": {"type": "string"}}}
        return {"description": "The page.", "content": html}
    schema = (
        {"$ref": f"#/components/schemas/{operation.response}"}
        if operation.response
        else {"type": "object"}
    )
    return {"description": "Done.", "content": {"application/json": {"schema": schema}}}


def _template_with(trigger_name: str) -> Template | None:
    """The one shipped template that has the trigger, whose choices (its items of information)
    the schema then lists; a trigger several templates share gets none listed, as they differ."""
    having = [t for t in shipped_templates().values() if trigger_name in t.triggers]
    return having[0] if len(having) == 1 else None


def data_component(trigger_name: str, trigger: Trigger, found: dict[str, dict[str, Any]]) -> str:
    """The name of the component holding the data schema of ``trigger``'s effect, added to
    ``found``: one per effect (``NoteData``), or per effect and template where the template's
    choices make it differ (``MaterialChangeFpicGeneralData``)."""
    template = _template_with(trigger_name)
    schema = data_schema(trigger.effect, template)
    parts = [trigger.effect]
    if template is not None and schema != data_schema(trigger.effect):
        parts.append(template.id)
    name = "".join(w.capitalize() for p in parts for w in re.split(r"[-_]", p)) + "Data"
    found.setdefault(name, schema)
    return name


def _action(
    operation: Operation,
    endpoint: str,
    name: str,
    trigger: Trigger,
    data: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    answer = _operation(operation, endpoint)
    answer["operationId"] = f"act_{name}"
    answer["summary"] = trigger.title
    password = needs_password(trigger.effect)
    signed = ACTIONS[trigger.effect].signed
    answer["description"] = (
        f"{trigger.description.strip()}\n\nThe engine's `advance` with the trigger `{name}` "
        f"(effect `{trigger.effect}`), as the page's form: the same permission, FPIC rules and "
        "trail event. Needs a token of scope `act`."
        + (" Asks the holder's password again (`password`)." if password else "")
        + (
            " Where the case's protocol asks for it (the option's `needs_signature`), it is "
            "signed with the holder's passkey instead: `assertion`, over the `challenge` of "
            "`.../challenge`; the password is then not checked."
            if signed
            else ""
        )
    )
    request_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "version": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "The case version you saw; another one is a 409 stale_case.",
            },
            "data": {"$ref": f"#/components/schemas/{data_component(name, trigger, data)}"},
            "password": {
                "type": "string",
                "minLength": 1,
                "description": "Your password, asked again"
                + ("." if password else ": not asked for this action."),
            },
        },
        "required": ["version", "password"] if password else ["version"],
        "additionalProperties": False,
    }
    if signed:
        request_schema["properties"]["assertion"] = {
            "type": "object",
            "description": "The passkey's answer to `navigator.credentials.get` for the "
            "challenge (`PublicKeyCredential.toJSON()`: `id`, `rawId`, `type`, `response` "
            "with `clientDataJSON`, `authenticatorData`, `signature`, bytes in base64url); "
            "only where the case's protocol asks for signed decisions.",
        }
    answer["requestBody"] = _request(request_schema)
    return answer


def _request(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


#: the body of a challenge request: an action request without its confirmation
_CHALLENGE_REQUEST = {
    "type": "object",
    "properties": {
        "version": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                    "description": "The case version you saw; another one is a 409 stale_case."},
        "data": {"type": "object", "description": "The action's data, as the action takes it."},
    },
    "required": ["version"],
    "additionalProperties": False,
}  # fmt: skip


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _components(data: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    responses = {name: _problem_response(text) for name, text in ERRORS.values()}
    responses["Unauthenticated"]["headers"] = {
        "WWW-Authenticate": {
            "description": 'The Bearer challenge, e.g. `Bearer realm="fpic"`.',
            "schema": {"type": "string"},
        }
    }
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token (`fpic_...`), scope read or act.",
            }
        },
        "parameters": _parameters(),
        "responses": responses,
        "schemas": _schemas() | dict(sorted(data.items())),
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


def _parameters() -> dict[str, Any]:
    an_id = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return {
        "case_id": {"name": "case_id", "in": "path", "required": True, "schema": an_id},
        "trigger": {"name": "trigger", "in": "path", "required": True,
                    "description": "The action's trigger (an option's `trigger`).",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 60}},
        "stage": _query("stage", "Only cases at this stage (its name).",
                        {"type": "string", "minLength": 1, "maxLength": 60}),
        "community": _query("community", "Only this community's cases (its id).", an_id),
        "project": _query("project", "Only this project's cases (its id).", an_id),
        "overdue": _query("overdue", "Only cases whose stage outlived its planned days.",
                          {"type": "boolean"}),
        "limit": _query("limit", "How many items a page holds (default 25).",
                        {"type": "integer", "minimum": 1, "maximum": 100}),
        "cursor": _query("cursor", "The `next` of the previous page; opaque.",
                         {"type": "string"}),
    }  # fmt: skip


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


STRING, INTEGER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
TIME = {"type": "string", "description": "UTC, as the trail writes it: 2026-03-02T09:07:12.345678Z"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _page(item: str) -> dict[str, Any]:
    return _object(
        {
            "items": _list(_ref(item)),
            "limit": INTEGER,
            "next": {"type": ["string", "null"], "description": "Pass as `cursor`; null: last."},
        }
    )


def _schemas() -> dict[str, Any]:
    named = _object({"id": INTEGER, "name": STRING})
    reason = _object({"code": STRING, "message": STRING}, optional=("code",))
    case = {
        "id": INTEGER,
        "reference": STRING,
        "stage": STRING,
        "stage_title": STRING,
        "version": INTEGER,
        "template": _object({"id": STRING, "version": STRING}),
        "community": named,
        "project": named,
        "opened_at": TIME,
        "updated_at": TIME,
        "stage_entered_at": TIME,
        "overdue": BOOLEAN,
        "href": STRING,
    }
    return {
        "Problem": {
            **_object(
                {
                    "type": {"type": "string", "format": "uri-reference"},
                    "title": STRING,
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": STRING,
                    "code": {
                        "type": "string",
                        "description": "The refusal's code, as on the trail: "
                        + ", ".join(f"`{code}`" for code in PROBLEM_CODES),
                    },
                    "reasons": _list(_ref("Reason")),
                    "field": STRING,
                    "version": {**INTEGER, "description": "stale_case: the case's version now"},
                },
                optional=("field", "version"),
            ),
            "description": "RFC 9457 problem details, in the language of Accept-Language.",
        },
        "Reason": reason,
        "Case": _object(case),
        "CaseList": _page("Case"),
        "CaseDetail": _object(
            {
                **case,
                "evidence": _ref("Evidence"),
                "options": _list(_ref("Option")),
                "trail": STRING,
            }
        ),
        "Evidence": _object(
            {
                "disclosures": _object(
                    {
                        "items": _list(STRING),
                        "languages": _list(STRING),
                        "formats": _list(STRING),
                        "required": INTEGER,
                        "disclosed": INTEGER,
                    }
                ),
                "meetings": INTEGER,
                "questions": _object({"total": INTEGER, "answered": INTEGER}),
                "integrity_flags": _object({"total": INTEGER, "open": INTEGER}),
                "decisions": _list(
                    _object({"id": INTEGER, "outcome": STRING, "decided_on": STRING})
                ),
                "grievances": _object(
                    {
                        "total": INTEGER,
                        "open": INTEGER,
                        "overdue": INTEGER,
                        "escalated": INTEGER,
                        "upheld": INTEGER,
                    }
                ),
            }
        ),
        "Option": _object(
            {
                "trigger": STRING,
                "title": STRING,
                "allowed": BOOLEAN,
                "changes_stage": BOOLEAN,
                "needs_password": BOOLEAN,
                "needs_signature": BOOLEAN,
                "reasons": _list(_ref("Reason")),
                "href": STRING,
            }
        ),
        "TrailEvent": _object(
            {
                "chain": STRING,
                "seq": INTEGER,
                "at": TIME,
                "actor": STRING,
                "role": STRING,
                "action": STRING,
                "outcome": {"type": "string", "enum": ["done", "refused"]},
                "case": {"type": ["integer", "null"]},
                "from": {"type": ["string", "null"]},
                "to": {"type": ["string", "null"]},
                "data": {"type": "object"},
                "prev_hash": STRING,
                "hash": STRING,
            }
        ),
        "TrailPage": _page("TrailEvent"),
        "Challenge": _object(
            {
                "case_id": INTEGER,
                "trigger": STRING,
                "version": {**INTEGER, "description": "The version to send the action with."},
                "signature_required": {
                    **BOOLEAN,
                    "description": "Whether the case's protocol asks for a signature.",
                },
                "signed": {
                    "type": "object",
                    "description": "`case`, `action` and `data`: the trail event's data to "
                    "be, but for `records`, the ids of the rows the action will write.",
                },
                "challenge": {
                    **STRING,
                    "description": "SHA-256 of the canonical JSON of `signed`, in base64url.",
                },
                "options": {
                    "type": "object",
                    "description": "PublicKeyCredentialRequestOptionsJSON: the challenge and "
                    "the holder's confirmed passkeys, user verification required.",
                },
            }
        ),
        "Community": _object(
            {
                "id": INTEGER,
                "slug": STRING,
                "name": STRING,
                "region": STRING,
                "country": STRING,
                "institution": STRING,
                "content_languages": _list(STRING),
            }
        ),
        "CommunityList": _object({"items": _list(_ref("Community"))}),
        "ActionResult": _object(
            {
                "case_id": INTEGER,
                "stage": STRING,
                "version": INTEGER,
                "event": _object({"chain": STRING, "seq": INTEGER}),
                "records": {"type": "object"},
                "href": STRING,
            }
        ),
    }
