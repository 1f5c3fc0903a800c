"""Every refusal is an event, wherever it is decided, and floods are counted, not dropped
(issue 13, items 1 and 2): one test per refusal path, the flood, the lock-out that ends, and the
decision's confirmation password under the sign-in throttle."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fpic.accounts.sessions import THROTTLE_FAILURES, sign_in
from fpic.storage.models import TrailEvent
from fpic.trail import audit
from fpic.trail.refusals import WINDOW
from fpic.workflow.errors import NotPermitted
from tests.factories import PASSWORD, World
from tests.web.conftest import Browser, csrf_token, decision_form

ATTACKER = {"REMOTE_ADDR": "203.0.113.7"}
OWNER = {"REMOTE_ADDR": "198.51.100.20"}


def _events(world: World, chain: str | None = None) -> list[TrailEvent]:
    with world.db.read_session() as db:
        query = select(TrailEvent).order_by(TrailEvent.id)
        if chain is not None:
            query = query.where(TrailEvent.chain == chain)
        return list(db.scalars(query))


def _last(world: World) -> tuple[TrailEvent, dict[str, Any]]:
    event = _events(world)[-1]
    return event, json.loads(event.data)


def _post_action(browser: Browser, world: World, case_id: int, trigger: str, data: dict) -> Any:
    fields = {
        "csrf_token": csrf_token(browser.get("/login").text),
        "version": str(world.case(case_id).version),
        **data,
    }
    return browser.client.post(f"/cases/{case_id}/actions/{trigger}", data=fields)


# --- one test per refusal path -----------------------------------------------------------


def test_the_permission_decorator_records_its_403_on_the_case_chain(
    world, signed_in, community, case_at_decision
):
    auditor = signed_in("auditor")
    before = len(_events(world))
    response = _post_action(
        auditor,
        world,
        case_at_decision,
        "give_consent",
        decision_form(world, community),
    )
    assert response.status_code == 403
    assert len(_events(world)) == before + 1
    event, data = _last(world)
    assert (event.chain, event.actor, event.action, event.outcome) == (
        audit.case_chain(case_at_decision),
        "auditor",
        "give_consent",
        "refused",
    )
    assert data["error"] == "not_permitted"
    assert data["reasons"][0]["code"] == "permission_denied"
    assert data["version_seen"] == world.case(case_at_decision).version


def test_a_refused_read_by_the_permission_decorator_is_recorded_too(world, signed_in):
    assert signed_in("auditor").get("/admin/users").status_code == 403
    event, data = _last(world)
    assert (event.chain, event.actor, event.action) == ("system", "auditor", "admin.users")
    assert data["error"] == "not_permitted"


def test_another_communitys_case_is_a_404_recorded_on_the_system_chain(
    world, signed_in, community, other_community, case_at_decision
):
    outsider = signed_in("rep-uma-jaqi-1")
    case_events = len(_events(world, audit.case_chain(case_at_decision)))
    response = _post_action(
        outsider, world, case_at_decision, "ask_question", {"text": "Why?", "language": "ay"}
    )
    assert response.status_code == 404
    event, data = _last(world)
    assert (event.chain, event.actor, event.action, event.case_id) == (
        "system",
        "rep-uma-jaqi-1",
        "ask_question",
        None,
    )
    assert (data["error"], data["case_id"]) == ("not_found", case_at_decision)
    # the neighbour's case chain does not even learn that someone tried
    assert len(_events(world, audit.case_chain(case_at_decision))) == case_events
    # reading it is a refusal decided by the same rule, and recorded the same way
    assert outsider.get(f"/cases/{case_at_decision}").status_code == 404
    event, data = _last(world)
    assert (event.chain, event.action, data["case_id"]) == (
        "system",
        "cases.show",
        case_at_decision,
    )


def test_a_wrong_confirmation_password_is_recorded_and_counts_like_a_failed_sign_in(
    world, signed_in, community, case_at_decision
):
    rep = signed_in("rep-ayllu-qollana-1")
    response = _post_action(
        rep,
        world,
        case_at_decision,
        "give_consent",
        decision_form(world, community, password="not mine"),
    )
    assert response.status_code == 400
    assert "Your password is not right." in response.text
    event, data = _last(world)
    assert (event.chain, event.actor, event.action) == (
        audit.case_chain(case_at_decision),
        "rep-ayllu-qollana-1",
        "confirm_password",
    )
    assert (data["trigger"], data["reasons"][0]["code"]) == ("give_consent", "wrong_password")


def test_a_csrf_failure_is_recorded_on_the_case_chain(
    world, signed_in, community, case_at_decision
):
    liaison = signed_in("liaison")
    response = liaison.client.post(
        f"/cases/{case_at_decision}/actions/ask_question",
        data={"version": "1", "text": "Why?", "language": "qu"},
    )
    assert response.status_code == 400
    event, data = _last(world)
    assert (event.chain, event.actor, event.action) == (
        audit.case_chain(case_at_decision),
        "liaison",
        "ask_question",
    )
    assert data["error"] == "csrf_failed"


def test_an_invalid_form_is_recorded_once_as_the_engine_refused_it(
    world, signed_in, community, case_at_decision
):
    # the form checks nothing but the CSRF token: the engine reads the data, refuses it and
    # records the refusal, exactly as for the same data sent through the API
    liaison = signed_in("liaison")
    before = len(_events(world))
    response = _post_action(
        liaison, world, case_at_decision, "ask_question", {"text": "", "language": "qu"}
    )
    assert response.status_code == 400
    assert len(_events(world)) == before + 1
    event, data = _last(world)
    assert (event.chain, event.action, data["error"]) == (
        audit.case_chain(case_at_decision),
        "ask_question",
        "invalid_data",
    )


def test_an_engine_refusal_is_recorded_once(world, signed_in, community, case_at_decision):
    # the liaison may act on cases (the decorator lets it through); the engine refuses the
    # community's decision to the proponent's side
    liaison = signed_in("liaison")
    before = len(_events(world))
    response = _post_action(
        liaison,
        world,
        case_at_decision,
        "give_consent",
        decision_form(world, community),
    )
    assert response.status_code == 403
    assert len(_events(world)) == before + 1  # not also by the web's error handler
    event, data = _last(world)
    assert (event.chain, event.action, data["error"]) == (
        audit.case_chain(case_at_decision),
        "give_consent",
        "not_permitted",
    )


# --- the confirmation password -----------------------------------------------------------


def test_the_confirmation_answers_alike_right_or_wrong_until_the_action_is_checked(
    world, signed_in, community, case_at_decision
):
    rep = signed_in("rep-ayllu-qollana-1")
    stale = {"version": "1"}  # the case moved on since: the action itself is refused
    answers = []
    for password in (PASSWORD, "not mine"):
        fields = {**decision_form(world, community, password=password), **stale}
        response = rep.client.post(
            f"/cases/{case_at_decision}/actions/give_consent",
            data={"csrf_token": csrf_token(rep.get("/login").text), **fields},
        )
        answers.append(response.status_code)
    assert answers == [409, 409]
    # the wrong password was never checked, so it counts for nothing
    assert not [e for e in _events(world) if e.action == "confirm_password"]


def test_the_confirmation_is_throttled_with_sign_in(
    world, signed_in, app, community, case_at_decision
):
    rep = signed_in("rep-ayllu-qollana-1")
    for _ in range(THROTTLE_FAILURES):
        wrong = decision_form(world, community, password="not mine")
        assert _post_action(rep, world, case_at_decision, "give_consent", wrong).status_code == 400
    right = decision_form(world, community)
    response = _post_action(rep, world, case_at_decision, "give_consent", right)
    assert response.status_code == 429  # even the right password waits
    assert "Too many wrong passwords" in response.text
    assert Browser(app.test_client()).login("rep-ayllu-qollana-1").status_code == 429
    world.clock.advance(minutes=16)
    response = _post_action(rep, world, case_at_decision, "give_consent", right)
    assert response.status_code == 302, response.text[:400]


# --- floods ------------------------------------------------------------------------------


def test_throttled_tries_never_extend_the_lock_out(world):
    for _ in range(THROTTLE_FAILURES):
        with pytest.raises(NotPermitted):
            sign_in(world.engine, "liaison", "wrong password here")
    for _ in range(7):  # a try every two minutes, as an attacker keeping the lock would
        world.clock.advance(minutes=2)
        with pytest.raises(NotPermitted) as refused:
            sign_in(world.engine, "liaison", "wrong password here")
        assert {r.code for r in refused.value.reasons} == {"sign_in_throttled"}
    world.clock.advance(minutes=1, seconds=1)  # 15 minutes after the fifth failure
    assert sign_in(world.engine, "liaison", PASSWORD).actor.username == "liaison"


def _access_growth(world: World, since: int) -> list[TrailEvent]:
    return [e for e in _events(world, audit.ACCESS_CHAIN) if e.id > since]


def test_a_flood_of_failed_sign_ins_grows_the_trail_by_windows_and_the_owner_signs_in(
    world: World, app: Flask
):
    flood = 3000
    attacker = app.test_client()
    attacker.environ_base.update(ATTACKER)
    token = csrf_token(attacker.get("/login").text)
    start = max((e.id for e in _events(world)), default=0)
    statuses: dict[int, int] = {}
    for n in range(flood):
        name = "liaison" if n % 2 else f"guess-{n}"  # one account, and names sprayed
        response = attacker.post(
            "/login", data={"username": name, "password": "hunter2!", "csrf_token": token}
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        world.clock.advance(seconds=1)  # 3,000 s: four windows of 15 minutes
    assert set(statuses) <= {401, 429}
    world.clock.advance(seconds=WINDOW.total_seconds())
    owner = Browser(app.test_client())
    owner.client.environ_base.update(OWNER)
    assert owner.login("liaison").status_code == 302  # and this closes the last window
    grown = _access_growth(world, start)
    one_by_one = [e for e in grown if e.action == "sign_in" and e.outcome == "refused"]
    windows = [json.loads(e.data) for e in grown if e.action == "refused_repeatedly"]
    assert len(one_by_one) + sum(w["count"] for w in windows) == flood
    windows_crossed = int(flood // WINDOW.total_seconds()) + 1
    # per window: the address's first refusals (100), a summary per counted name (at most
    # the address limit's share) and one for the address
    assert len(grown) <= windows_crossed * 110, len(grown)
    print(f"\nflood: {flood} refused sign-ins -> {len(grown) - 1} access events")
    assert {w["window_end"] > w["window_start"] for w in windows} == {True}


def test_a_signed_in_flood_is_counted_on_the_chain_it_would_have_gone_to(
    world: World, signed_in, community, other_community, case_at_decision
):
    flood = 1500
    outsider = signed_in("rep-uma-jaqi-1")
    token = csrf_token(outsider.get("/login").text)
    start = max(e.id for e in _events(world))
    for _ in range(flood):
        response = outsider.client.post(
            f"/cases/{case_at_decision}/actions/ask_question",
            data={"csrf_token": token, "version": "1", "text": "Why?", "language": "ay"},
        )
        assert response.status_code == 404
        world.clock.advance(seconds=1)
    world.clock.advance(seconds=WINDOW.total_seconds())
    world.engine.close_refusal_windows()
    grown = [e for e in _events(world) if e.id > start]
    assert {e.chain for e in grown} == {"system"}
    one_by_one = [e for e in grown if e.action == "ask_question"]
    windows = [json.loads(e.data) for e in grown if e.action == "refused_repeatedly"]
    assert len(one_by_one) + sum(w["count"] for w in windows) == flood
    assert len(grown) <= 3 * (50 + 1)  # two or three windows: 50 each, then one summary
    print(f"\nsigned-in flood: {flood} refused writes -> {len(grown)} system events")
