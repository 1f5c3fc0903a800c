"""The JSON API: bearer tokens only, the web's visibility, the engine's actions and refusals
(the same trail events), problem+json errors in the request's language."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select

from fpic.accounts.registry import set_user_active, set_user_role
from fpic.accounts.tokens import create_token, revoke_token
from fpic.i18n import Reason
from fpic.storage.models import ApiToken, TrailEvent
from fpic.trail import audit
from fpic.workflow.actions import ACTIONS
from fpic.workflow.actors import Actor
from tests.factories import PASSWORD, Community, World, make_world, walk_to
from tests.web.conftest import decision_form
from web import create_app
from web.i18n import reason_text

PROBLEM = "application/problem+json"


class Api:
    """A program using the API with one token."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client, self.secret = client, secret

    def headers(self, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **more}

    def get(self, url: str, **headers: str) -> Any:
        return self.client.get(url, headers=self.headers(**headers))

    def act(self, case_id: int, trigger: str, body: Any, **headers: str) -> Any:
        return self.client.post(
            f"/api/v1/cases/{case_id}/actions/{trigger}", json=body, headers=self.headers(**headers)
        )


@pytest.fixture
def api(app: Flask, world: World) -> Callable[..., Api]:
    def make(actor: Actor, scope: str = "act", days: int = 30) -> Api:
        issued = create_token(world.engine, actor, name="test", scope=scope, days=days)
        return Api(app.test_client(), issued.secret)

    return make


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("/api/v1/docs#problem-")
    assert body["reasons"]
    return body


def _refusals(world: World) -> list[TrailEvent]:
    with world.db.read_session() as db:
        return list(
            db.scalars(
                select(TrailEvent).where(TrailEvent.outcome == "refused").order_by(TrailEvent.id)
            )
        )


# --- authentication ----------------------------------------------------------------------


def test_a_request_without_a_token_is_401_even_with_a_session_cookie(app, world, signed_in):
    browser = signed_in("liaison")
    assert browser.get("/cases/").status_code == 200  # the cookie is good for the pages
    response = browser.client.get("/api/v1/cases")
    body = _problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="fpic"'
    assert "Authorization: Bearer" in body["detail"]
    # a write with the cookie and no token: refused on the access chain as a visitor's, and
    # no CSRF token is asked (so none was the reason)
    before = len(_refusals(world))
    response = browser.client.post("/api/v1/cases/1/actions/ask_question", json={"version": 1})
    _problem(response, 401, "unauthenticated")
    (event,) = _refusals(world)[before:]
    assert (event.chain, event.actor, event.action) == ("access", "-", "ask_question")
    assert json.loads(event.data)["error"] == "unauthenticated"


def test_an_unknown_token_is_401_invalid_token(app):
    response = app.test_client().get(
        "/api/v1/cases", headers={"Authorization": "Bearer fpic_not-a-token"}
    )
    _problem(response, 401, "unauthenticated")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_revoked_and_disabled_tokens_are_401(world, api):
    expiring, revoked = api(world.liaison, days=1), api(world.liaison)
    assert expiring.get("/api/v1/cases").status_code == 200
    with world.db.read_session() as db:
        revoked_id = max(db.scalars(select(ApiToken.id)))
    revoke_token(world.engine, world.liaison, revoked_id)
    _problem(revoked.get("/api/v1/cases"), 401, "unauthenticated")
    assert expiring.get("/api/v1/cases").status_code == 200
    world.clock.advance(days=1)
    _problem(expiring.get("/api/v1/cases"), 401, "unauthenticated")
    disabled = api(world.facilitator)
    assert disabled.get("/api/v1/communities").status_code == 200
    set_user_active(world.engine, world.admin, world.facilitator.user_id, False)
    _problem(disabled.get("/api/v1/communities"), 401, "unauthenticated")


def test_api_answers_set_no_cookie(world, api, case_at_decision):
    reader = api(world.liaison)
    for url in ("/api/v1/cases", f"/api/v1/cases/{case_at_decision}", "/api/v1/nothing"):
        assert "Set-Cookie" not in reader.get(url).headers


# --- reading ------------------------------------------------------------------------------


def test_the_case_list_pages_through_every_visible_case_with_an_opaque_cursor(
    world, api, community, other_community
):
    own = [world.open_case(community) for _ in range(4)]
    other = [world.open_case(other_community) for _ in range(2)]
    reader = api(world.liaison, scope="read")
    seen, url, pages = [], "/api/v1/cases?limit=2", 0
    while url:
        body = reader.get(url).json
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        pages += 1
        url = f"/api/v1/cases?limit=2&cursor={body['next']}" if body["next"] else ""
    everything = set(own) | set(other) | {community.registration_case,
                                          other_community.registration_case}  # fmt: skip
    assert seen == sorted(everything, reverse=True)  # newest first, each once
    assert pages == 4
    assert str(max(everything)) not in (reader.get("/api/v1/cases?limit=1").json["next"] or "")


def test_a_representative_s_token_sees_only_their_community(world, api, community, other_community):
    mine = world.open_case(community)
    theirs = world.open_case(other_community)
    rep = api(community.rep_actors[0], scope="read")
    ids = {item["id"] for item in rep.get("/api/v1/cases?limit=100").json["items"]}
    assert ids == {mine, community.registration_case}
    assert rep.get(f"/api/v1/cases?community={other_community.id}").json["items"] == []
    before = len(_refusals(world))
    body = _problem(rep.get(f"/api/v1/cases/{theirs}"), 404, "not_found")
    assert body["reasons"][0]["code"] == "case_not_found"
    _problem(rep.get(f"/api/v1/cases/{theirs}/trail"), 404, "not_found")
    # looking at a neighbour's case is recorded, as on the pages (system chain: not theirs)
    events = _refusals(world)[before:]
    assert [(e.chain, e.actor) for e in events] == [("system", rep_name(community))] * 2
    assert [json.loads(e.data)["case_id"] for e in events] == [theirs, theirs]
    communities = rep.get("/api/v1/communities").json["items"]
    assert [c["id"] for c in communities] == [community.id]


def rep_name(community: Community) -> str:
    return community.rep_actors[0].username


def test_filters_are_the_web_list_s(world, api, community, case_at_decision):
    reader = api(world.auditor, scope="read")
    at_decision = reader.get("/api/v1/cases?stage=decision").json["items"]
    assert [c["id"] for c in at_decision] == [case_at_decision]
    assert reader.get(f"/api/v1/cases?project={world.project_id}&overdue=false").status_code == 200
    for bad in (
        "limit=0",
        "limit=101",
        "cursor=%%%",
        "community=abc",
        "overdue=yes",
        "cursor=c2VxOjE",
    ):  # a trail cursor is not a case cursor
        body = _problem(reader.get(f"/api/v1/cases?{bad}"), 400, "invalid_parameter")
        assert body["field"] == bad.split("=")[0]  # fmt: skip


def test_a_case_shows_its_evidence_and_options_with_reasons(world, api, community,
                                                             case_at_decision):  # fmt: skip
    rep = api(community.rep_actors[0])
    body = rep.get(f"/api/v1/cases/{case_at_decision}").json
    assert body["stage"] == "decision"
    assert body["version"] == world.case(case_at_decision).version
    disclosures = body["evidence"]["disclosures"]
    assert disclosures["languages"] == ["qu", "es"]
    assert disclosures["required"] == disclosures["disclosed"] > 0
    assert body["evidence"]["grievances"]["total"] == 0
    options = {o["trigger"]: o for o in body["options"]}
    assert options["give_consent"]["allowed"] is True
    assert options["give_consent"]["needs_password"] is True
    assert options["give_consent"]["href"].endswith("/actions/give_consent")
    liaison = api(world.liaison).get(f"/api/v1/cases/{case_at_decision}").json
    refused = {o["trigger"]: o for o in liaison["options"]}["give_consent"]
    assert refused["allowed"] is False
    assert refused["reasons"][0]["code"] == "role_not_allowed"
    assert refused["reasons"][0]["message"]


def test_the_trail_is_the_case_s_chain_as_exported(world, api, case_at_decision):
    reader = api(world.auditor, scope="read")
    events, url = [], f"/api/v1/cases/{case_at_decision}/trail?limit=7"
    while url:
        body = reader.get(url).json
        events += body["items"]
        url = f"{url.split('&')[0]}&cursor={body['next']}" if body["next"] else ""
    with world.db.read_session() as db:
        exported = list(audit.export_rows(db, case_at_decision))
    assert events == exported


# --- acting --------------------------------------------------------------------------------


QUESTION = {"text": "Who pays for the access road?", "language": "qu"}


def test_a_read_token_cannot_act(world, api, community, case_at_decision):
    reader = api(community.rep_actors[0], scope="read")
    version = world.case(case_at_decision).version
    before = len(_refusals(world))
    response = reader.act(case_at_decision, "ask_question", {"version": version, "data": QUESTION})
    _problem(response, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert world.case(case_at_decision).version == version
    (event,) = _refusals(world)[before:]
    assert (event.chain, event.action) == (f"case:{case_at_decision}", "ask_question")
    assert json.loads(event.data)["error"] == "insufficient_scope"
    assert json.loads(event.data)["version_seen"] == version


def test_an_auditor_s_token_never_acts(world, api, case_at_decision):
    reader = api(world.auditor, scope="read")
    response = reader.act(case_at_decision, "ask_question", {"version": 1, "data": QUESTION})
    _problem(response, 403, "insufficient_scope")


def test_the_act_route_asks_the_holder_s_permission_again(world, api, case_at_decision):
    actor = api(world.liaison)  # an act token, then the person becomes an auditor
    set_user_role(world.engine, world.admin, world.liaison.user_id, "auditor")
    version = world.case(case_at_decision).version
    response = actor.act(case_at_decision, "ask_question", {"version": version, "data": QUESTION})
    body = _problem(response, 403, "not_permitted")
    assert body["reasons"][0]["code"] == "permission_denied"
    assert world.case(case_at_decision).version == version


def test_an_action_goes_through_and_answers_its_trail_event(world, api, community,
                                                              case_at_decision):  # fmt: skip
    rep = api(community.rep_actors[0])
    version = world.case(case_at_decision).version
    response = rep.act(case_at_decision, "ask_question", {"version": version, "data": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json
    assert body["version"] == version + 1
    with world.db.read_session() as db:
        event = db.scalars(
            select(TrailEvent).where(
                TrailEvent.chain == body["event"]["chain"], TrailEvent.seq == body["event"]["seq"]
            )
        ).one()
    assert (event.action, event.outcome, event.actor) == (
        "ask_question",
        "done",
        rep_name(community),
    )
    assert json.loads(event.data)["payload"]["text"] == QUESTION["text"]


def test_a_stale_version_is_409_with_the_current_version(world, api, community, case_at_decision):
    rep = api(community.rep_actors[0])
    version = world.case(case_at_decision).version
    assert rep.act(case_at_decision, "ask_question",
                   {"version": version, "data": QUESTION}).status_code == 200  # fmt: skip
    before = len(_refusals(world))
    body = _problem(
        rep.act(case_at_decision, "ask_question", {"version": version, "data": QUESTION}),
        409,
        "stale_case",
    )
    assert body["version"] == version + 1
    (event,) = _refusals(world)[before:]  # recorded by the engine, once
    assert json.loads(event.data)["error"] == "stale_case"


def test_a_guard_refusal_is_409_with_its_reasons_and_recorded(world, api, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = api(world.liaison)
    version = world.case(case_id).version
    before = len(_refusals(world))
    body = _problem(
        liaison.act(case_id, "complete_disclosure",
                    {"version": version, "data": {"text": "All disclosed."}}),
        409,
        "guard_refused",
    )  # fmt: skip
    assert all(r["code"] and r["message"] for r in body["reasons"])
    (event,) = _refusals(world)[before:]
    recorded = json.loads(event.data)
    assert recorded["error"] == "guard_refused"
    assert [r["code"] for r in recorded["reasons"]] == [r["code"] for r in body["reasons"]]


def test_invalid_data_is_422_naming_the_field_in_the_reader_s_language(
    app, world, api, community, case_at_decision
):
    rep = api(community.rep_actors[0])
    version = world.case(case_at_decision).version
    bad = {"version": version, "data": {"text": "Why?", "language": "not a language"}}
    english = _problem(rep.act(case_at_decision, "ask_question", bad), 422, "invalid_data")
    assert english["field"] == "language"
    spanish = _problem(
        rep.act(case_at_decision, "ask_question", bad, **{"Accept-Language": "es-PE,es;q=0.9"}),
        422,
        "invalid_data",
    )
    assert spanish["field"] == "language"
    assert spanish["detail"] != english["detail"]
    with app.test_request_context(), force_locale("es"):
        reason = Reason(
            "invalid_data", "%(field)s must be a language code such as qu, ay or iu.",
            {"field": "language"},
        )  # fmt: skip
        # the field called by its label, as the web form calls it
        assert spanish["detail"] == reason_text(reason, ACTIONS["question"])
    assert spanish["title"] != english["title"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": QUESTION}, "version"),
        ({"version": True, "data": QUESTION}, "version"),
        ({"version": "3", "data": QUESTION}, "version"),
        ({"version": 3, "data": ["text"]}, "data"),
        ({"version": 3, "data": QUESTION, "extra": 1}, "extra"),
        ([1, 2], "body"),
    ],
)
def test_a_malformed_request_is_400_naming_the_member(world, api, case_at_decision, body, field):
    before = len(_refusals(world))
    response = api(world.liaison).act(case_at_decision, "ask_question", body)
    assert _problem(response, 400, "invalid_data")["field"] == field
    assert len(_refusals(world)) == before + 1  # a refused write is recorded


def test_a_decision_asks_the_password_again(world, api, community, case_at_decision):
    rep = api(community.rep_actors[0])
    version = world.case(case_at_decision).version
    data = decision_data(world, community)
    missing = _problem(
        rep.act(case_at_decision, "give_consent", {"version": version, "data": data}),
        422,
        "invalid_data",
    )
    assert missing["field"] == "password"
    before = len(_refusals(world))
    wrong = _problem(
        rep.act(case_at_decision, "give_consent",
                {"version": version, "data": data, "password": "not my password"}),
        422,
        "invalid_data",
    )  # fmt: skip
    assert (wrong["field"], wrong["reasons"][0]["code"]) == ("password", "wrong_password")
    (event,) = _refusals(world)[before:]
    assert event.action == "confirm_password"  # counted like a failed sign-in
    done = rep.act(case_at_decision, "give_consent",
                   {"version": version, "data": data, "password": PASSWORD})  # fmt: skip
    assert done.status_code == 200, done.text
    assert world.case(case_at_decision).stage != "decision"


def decision_data(world: World, community: Community) -> dict[str, Any]:
    """The decision form's fields as the API takes them: typed JSON, not form text."""
    form = decision_form(world, community)
    return {
        "decided_on": form["decided_on"],
        "place": form["place"],
        "present": [int(r) for r in form["present"]],
        "votes_for": int(form["votes_for"]),
        "votes_against": int(form["votes_against"]),
        "abstentions": int(form["abstentions"]),
        "scope_phases": form["scope_phases"],
        "scope_activities": form["scope_activities"],
        "text_language": form["text_language"],
        "text_original": form["text_original"],
    }


def _event_without_position(event: TrailEvent) -> dict[str, Any]:
    row = audit.row_of(event)
    for key in ("seq", "at", "prev_hash", "hash"):
        row.pop(key)
    return row


def _twin(tmp_path, name: str) -> tuple[World, Community, int, Flask]:
    world = make_world(f"sqlite:///{tmp_path / name}")
    community = world.add_community("ayllu-qollana", ["qu", "es"])
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    app = create_app(
        {"DATABASE_URL": world.db.url, "SECRET_KEY": "test-secret", "FPIC_CLOCK": world.clock}
    )
    return world, community, case_id, app


def test_an_api_decision_is_the_very_same_trail_event_as_the_web_form_s(tmp_path):
    """Two identical worlds; the same decision, once through the web form and once through
    the API: the events are equal in every field but their position and hashes."""
    from tests.web.conftest import Browser

    web_world, web_community, web_case, web_app = _twin(tmp_path, "web.sqlite3")
    api_world, api_community, api_case, api_app = _twin(tmp_path, "api.sqlite3")
    try:
        browser = Browser(web_app.test_client())
        assert browser.login(web_community.rep_actors[0].username).status_code == 302
        url = f"/cases/{web_case}/actions/give_consent"
        response = browser.submit(url, decision_form(web_world, web_community))
        assert response.status_code == 302, response.text[:800]

        rep = api_community.rep_actors[0]
        issued = create_token(api_world.engine, rep, name="app", scope="act", days=30)
        client = Api(api_app.test_client(), issued.secret)
        body = {"version": api_world.case(api_case).version,
                "data": decision_data(api_world, api_community), "password": PASSWORD}  # fmt: skip
        response = client.act(api_case, "give_consent", body)
        assert response.status_code == 200, response.text

        def last_done(world: World, case_id: int) -> TrailEvent:
            with world.db.read_session() as db:
                return db.scalars(
                    select(TrailEvent)
                    .where(TrailEvent.chain == audit.case_chain(case_id),
                           TrailEvent.outcome == "done")
                    .order_by(TrailEvent.seq.desc())
                ).first()  # fmt: skip

        from_web = _event_without_position(last_done(web_world, web_case))
        from_api = _event_without_position(last_done(api_world, api_case))
        assert from_web["action"] == "give_consent"
        assert from_api == from_web
    finally:
        web_world.db.dispose()
        api_world.db.dispose()


def test_an_unknown_trigger_is_refused_by_the_engine_and_recorded(world, api, case_at_decision):
    before = len(_refusals(world))
    version = world.case(case_at_decision).version
    response = api(world.liaison).act(case_at_decision, "no_such_action", {"version": version})
    body = _problem(response, 409, "invalid_transition")
    assert body["reasons"][0]["code"] == "unknown_trigger"
    assert len(_refusals(world)) == before + 1


def test_every_api_error_is_problem_json(world, api):
    reader = api(world.liaison)
    _problem(reader.get("/api/v1/nowhere"), 404, "not_found")
    response = reader.client.put("/api/v1/cases", headers=reader.headers())
    _problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    _problem(reader.get("/api/v1/cases/99999999999999"), 404, "not_found")
    spanish = _problem(reader.get("/api/v1/nowhere", **{"Accept-Language": "es"}), 404,
                       "not_found")  # fmt: skip
    assert spanish["title"] != "Not found"


def test_a_server_error_is_problem_json(app, world, api, monkeypatch):
    import web.api

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(web.api, "visible_communities", broken)
    app.logger.disabled = True
    _problem(api(world.liaison).get("/api/v1/communities"), 500, "internal_error")


def test_the_tokens_page_shows_the_secret_once_and_refuses_an_auditor_an_act_token(
    world, signed_in
):
    liaison = signed_in("liaison")
    created = liaison.submit("/account/tokens", {"name": "sync", "scope": "act", "days": "30"})
    assert created.status_code == 201
    secret = re.search(r'<code class="secret">(fpic_[^<]+)</code>', created.text)
    assert secret is not None
    assert liaison.get("/api/v1/cases", headers={"Authorization": f"Bearer {secret.group(1)}"}
                       ).status_code == 200  # fmt: skip
    again = liaison.get("/account/tokens")
    assert "sync" in again.text
    assert secret.group(1) not in again.text
    auditor = signed_in("auditor")
    refused = auditor.submit("/account/tokens", {"name": "x", "scope": "act", "days": "30"})
    assert refused.status_code == 400  # the form does not even offer it
    with world.db.read_session() as db:
        assert list(db.scalars(select(ApiToken.scope).where(
            ApiToken.user_id == world.auditor.user_id))) == []  # fmt: skip


def test_a_json_body_carries_no_file_and_the_trail_lists_the_web_s(world, api, community):
    """docs/api.md: files come with the web's forms; the API's trail shows their hashes."""
    from tests.evidence.test_store import sent

    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    client = api(world.liaison)
    case = client.get(f"/api/v1/cases/{case_id}").json
    body = {"version": case["version"], "data": {
        "item": "affected_areas", "languages": ["qu"], "formats": ["written"], "title": "Mapa",
        "channel": "Asamblea", "disclosed_on": world.clock.now().date().isoformat(),
        "files": ["mapa.pdf"],
    }}  # fmt: skip
    refused = _problem(client.act(case_id, "register_disclosure", body), 422, "invalid_data")
    assert refused["field"] == "files"
    data = {**body["data"], "files": sent("booklet.pdf")}
    world.act(case_id, "register_disclosure", world.liaison, data)
    events = client.get(f"/api/v1/cases/{case_id}/trail").json["items"]
    (listed,) = [
        e["data"]["files"]
        for e in events
        if e["action"] == "register_disclosure" and "files" in e["data"]
    ]
    assert [f["name"] for f in listed] == ["booklet.pdf"]
    assert listed[0]["sha256"] == sent("booklet.pdf")[0].sha256
