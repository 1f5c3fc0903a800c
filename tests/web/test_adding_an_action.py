"""The worked example of docs/architecture.md, "Add an action": one declaration plus a trigger
in a template's TOML, and the action works through the engine, the web form and the JSON API,
with its schema in the OpenAPI document and its event on the trail. Nothing else is edited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import fpic.workflow.process
from fpic.accounts.tokens import create_token
from fpic.i18n import N_
from fpic.storage.models import CaseNote, TrailEvent
from fpic.workflow.actions import ACTIONS
from fpic.workflow.effects import first_language, on_today, record_note
from fpic.workflow.guards import GuardContext
from fpic.workflow.process import shipped_templates
from fpic.workflow.schema import Action, Field, Payload
from tests.factories import Community, World, walk_to
from tests.web.conftest import field_errors

ROOT = Path(__file__).resolve().parents[2]
TRIGGER = "record_site_visit"


# --- the example, as docs/architecture.md gives it ------------------------------------------


def write_site_visit(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


SITE_VISIT = Action(
    "site_visit",
    (
        Field("visited_on", "day", N_("Visited on"), past=True, default=on_today),
        Field("monitors", "list", N_("The community's monitors (comma-separated)")),
        Field("text", "text", N_("What they found")),
        Field(
            "language", "language", N_("Language of the findings (code)"),
            default=first_language,
        ),
        Field("photos_taken", "flag", N_("Photographs were taken")),
    ),
    write_site_visit,
)  # fmt: skip

TOML = """
[triggers.record_site_visit]
title = "Record a site visit by the community's monitors"
description = "The monitors' findings, in the community's language."
source = ["monitoring"]
dest = "="
roles = ["representative", "liaison"]
effect = "site_visit"
"""


def test_the_example_is_the_one_the_docs_give() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    # the same declaration and the same trigger
    for line in (
        'Action(\n    "site_visit",',
        '"visited_on", "day"',
        '"text", "text", N_("What they found")',
    ):
        assert line.replace("\n", "") in doc.replace("\n", ""), line
    for line in TOML.strip().splitlines():
        assert line in doc, line


@pytest.fixture
def with_site_visits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The declaration added to the actions, the trigger to a copy of the general template."""
    monkeypatch.setitem(ACTIONS, "site_visit", SITE_VISIT)
    general = dict(fpic.workflow.process._shipped_files())["fpic/workflow/processes/general.toml"]
    extended = general.replace('id = "fpic-general"', 'id = "with-site-visits"') + TOML
    files = [*fpic.workflow.process._shipped_files(), ("with-site-visits.toml", extended)]
    monkeypatch.setattr(fpic.workflow.process, "_shipped_files", lambda: files)
    shipped_templates.cache_clear()
    yield
    monkeypatch.undo()
    shipped_templates.cache_clear()


def _case_in_monitoring(world: World, community: Community) -> int:
    case_id = world.open_case(community, template="with-site-visits")
    walk_to(world, case_id, "monitoring", community)
    return case_id


def _data(world: World) -> dict[str, Any]:
    return {
        "visited_on": world.clock.now().date().isoformat(),
        "monitors": ["Rosa Mamani", "Julián Condori"],
        "text": "Unu pukyuqa ch'uyallaraqmi.",
        "language": "qu",
        "photos_taken": True,
    }


def _events(world: World, case_id: int) -> list[TrailEvent]:
    with world.db.read_session() as db:
        return list(
            db.scalars(
                select(TrailEvent)
                .where(TrailEvent.case_id == case_id, TrailEvent.action == TRIGGER)
                .order_by(TrailEvent.id)
            )
        )


def test_the_new_action_works_through_the_engine_the_form_and_the_api(
    with_site_visits: None, app: Flask, world: World, community: Community, signed_in: Any
) -> None:
    case_id = _case_in_monitoring(world, community)
    rep = community.rep_actors[0]
    # the engine: offered to the representative, recorded, on the trail
    with world.db.read_session() as db:
        case = world.engine.case_for(db, case_id, rep)
        offered = {o.trigger.name: o.allowed for o in world.engine.options(db, case, rep)}
    assert offered[TRIGGER] is True
    world.act(case_id, TRIGGER, rep, _data(world))
    # the web form: its fields, its refusal next to the field, then done
    browser = signed_in(rep.username)
    page = browser.get(f"/cases/{case_id}/actions/{TRIGGER}").text
    for name in ("visited_on", "monitors", "text", "language", "photos_taken"):
        assert f'name="{name}"' in page, name
    form = {**_data(world), "monitors": "Rosa Mamani, Julián Condori", "photos_taken": "y"}
    refused = browser.submit(f"/cases/{case_id}/actions/{TRIGGER}", {**form, "text": " "})
    assert refused.status_code == 400
    assert field_errors(refused.text, "text") == ["“What they found” is required."]
    done = browser.submit(f"/cases/{case_id}/actions/{TRIGGER}", form)
    assert done.status_code == 302
    # the API: the path and the schema in the OpenAPI document, the same refusal, then done
    doc = app.test_client().get("/api/v1/openapi.json").json
    body = doc["paths"][f"/api/v1/cases/{{case_id}}/actions/{TRIGGER}"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["properties"]["data"]["$ref"]
    assert ref == "#/components/schemas/SiteVisitData"
    data_schema = doc["components"]["schemas"]["SiteVisitData"]
    assert set(data_schema["properties"]) == {
        "visited_on", "monitors", "text", "language", "photos_taken",
    }  # fmt: skip
    assert set(data_schema["required"]) == {"visited_on", "monitors", "text", "language"}
    secret = create_token(world.engine, rep, name="monitoring app", scope="act", days=30).secret
    client, headers = app.test_client(), {"Authorization": f"Bearer {secret}"}
    url = f"/api/v1/cases/{case_id}/actions/{TRIGGER}"
    version = world.case(case_id).version
    bad = {"version": version, "data": {**_data(world), "text": " "}}
    problem = client.post(url, json=bad, headers=headers).json
    assert (problem["field"], problem["detail"]) == ("text", "“What they found” is required.")
    good = client.post(url, json={"version": version, "data": _data(world)}, headers=headers)
    assert good.status_code == 200, good.text
    # three site visits on the record and on the trail, each with the monitors' findings
    with world.db.read_session() as db:
        notes = db.scalars(select(CaseNote).where(CaseNote.kind == TRIGGER)).all()
        assert [n.text for n in notes] == ["Unu pukyuqa ch'uyallaraqmi."] * 3
        assert all(n.data["monitors"] == ["Rosa Mamani", "Julián Condori"] for n in notes)
    outcomes = [e.outcome for e in _events(world, case_id)]
    assert outcomes.count("done") == 3
    assert outcomes.count("refused") == 2
