"""The OpenAPI document: valid OpenAPI 3.1, every API route and trigger in it, every error
documented; and the live API tested from its own document (schemathesis)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fpic.accounts.tokens import create_token
from fpic.trail.audit import verify_database
from fpic.workflow.actions import data_schema, needs_password
from fpic.workflow.process import shipped_templates
from tests.factories import World, make_world, walk_to
from web import create_app
from web.openapi import ERRORS, openapi_path

ACTIONS = "/api/v1/cases/{case_id}/actions/"


def _document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def _triggers() -> dict[str, str]:
    """Every trigger of the shipped templates and its effect."""
    return {
        name: trigger.effect
        for template in shipped_templates().values()
        for name, trigger in template.triggers.items()
    }


def test_the_document_is_valid_openapi_3_1(app: Flask):
    doc = _document(app)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_every_api_route_of_the_app_is_in_the_document_and_nothing_else(app: Flask):
    doc = _document(app)
    in_app: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if path == ACTIONS + "{trigger}":
                in_app |= {(ACTIONS + name, method.lower()) for name in _triggers()}
            else:
                in_app.add((path, method.lower()))
    in_doc = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert in_doc == in_app
    # and each documented path is one the app answers with that method
    adapter = app.url_map.bind("localhost")
    for path, method in in_doc:
        endpoint, _args = adapter.match(path.replace("{case_id}", "1"), method=method.upper())
        assert endpoint.startswith("api.")


def test_one_path_per_trigger_whose_data_is_the_effect_s_schema(app: Flask):
    doc = _document(app)
    triggers = _triggers()
    assert len(triggers) == len({n for t in shipped_templates().values() for n in t.triggers})
    having = Counter(n for t in shipped_templates().values() for n in t.triggers)
    templates = {n: t for t in shipped_templates().values() for n in t.triggers if having[n] == 1}
    for name, effect in triggers.items():
        operation = doc["paths"][ACTIONS + name]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        # the declaration's schema, with the choices its template gives (items of information)
        ref = body["properties"]["data"]["$ref"]
        component = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert component == data_schema(effect, templates.get(name))
        assert ("password" in body["required"]) == needs_password(effect)
        assert body["additionalProperties"] is False
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def _statuses_of(doc: dict[str, Any], path: str, method: str) -> set[int]:
    return {int(s) for s in doc["paths"][path][method]["responses"] if s.isdigit()}


def test_every_error_response_is_documented_as_a_problem(app: Flask):
    doc = _document(app)
    problem = {"$ref": "#/components/schemas/Problem"}
    for status, (name, _description) in ERRORS.items():
        content = doc["components"]["responses"][name]["content"]
        assert content == {"application/problem+json": {"schema": problem}}, status
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = _statuses_of(doc, path, method)
            assert {200, 405, 500} <= statuses, (path, method)
            if operation.get("security") != []:
                assert {401, 403, 503} <= statuses, (path, method)
            if "{case_id}" in path:
                assert 404 in statuses, (path, method)
            if path.startswith(ACTIONS):
                assert {400, 409, 413, 422, 429} <= statuses, (path, method)
            if any(p["$ref"].endswith(("/limit", "/cursor")) for p in operation.get(
                    "parameters", [])):  # fmt: skip
                assert 400 in statuses, (path, method)
    schemas = doc["components"]["schemas"]
    assert {"Problem", "Case", "CaseDetail", "Option", "TrailEvent", "Community"} <= set(schemas)
    assert set(schemas["Problem"]["required"]) >= {"type", "title", "status", "detail", "code"}
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_reference_page_shows_every_operation_from_local_files_only(app: Flask):
    doc = _document(app)
    page = app.test_client().get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    for item in doc["paths"].values():
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in page.text
    assert "<script" not in page.text
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)
    for code in ("unauthenticated", "insufficient_scope", "stale_case", "guard_refused"):
        assert f'id="problem-{code}"' in page.text


def test_the_tokens_page_links_the_reference(signed_in):
    page = signed_in("auditor").get("/account/tokens")
    assert page.status_code == 200
    assert 'href="/api/v1/docs"' in page.text


# --- the live API against its own document ---------------------------------------------------


@dataclass
class Live:
    world: World
    app: Flask
    case_id: int
    secret: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A liaison's act token on a realistic case: a community with mandated representatives
    and a case walked to its decision stage."""
    world = make_world(f"sqlite:///{tmp_path_factory.mktemp('live') / 'fpic.sqlite3'}")
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    world.add_community("uma-jaqi", ["ay", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )
    secret = create_token(world.engine, world.liaison, name="fuzz", scope="act", days=30).secret
    yield Live(world, app, case_id, secret)
    world.db.dispose()


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
    response_headers_conformance,
]
#: examples per operation; 63 operations, so about 400 requests in all
EXAMPLES = 6


def test_the_live_api_conforms_to_its_own_document(live: Live):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", live.app)
    headers = {"Authorization": f"Bearer {live.secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {
        f"{method.upper()} {path}"
        for path, item in _document(live.app)["paths"].items()
        for method in item
    }
    # schemathesis leaves out the document it was loaded from; everything else is tested
    assert {op.label for op in operations} == documented - {"GET /api/v1/openapi.json"}
    ran: list[int] = []
    for operation in operations:
        strategy = operation.as_strategy()
        if "{case_id}" in operation.path:
            # half on the real case (to reach the engine's checks), half on any id
            strategy = st.one_of(
                strategy, operation.as_strategy(path_parameters={"case_id": live.case_id})
            )

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            if isinstance(case.body, dict) and case.path_parameters.get("case_id") == live.case_id:
                # the version the liaison sees, so the data reaches the engine's checks
                case.body["version"] = live.world.case(live.case_id).version
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
            ran.append(response.status_code)

        run()
    assert len(ran) >= len(operations)
    # the examples reached past authentication into the engine: reads, refusals, data checks
    assert {200, 400, 403, 404, 409, 422} <= set(ran)
    with live.world.db.read_session() as db:
        assert verify_database(db).intact  # every refusal it provoked is on a sound trail
