"""The grievance mechanism and the conditions register through the web interface: intake by a
representative, each step by the right role through its form, the case page and the
community's figures; a condition declared breached."""

from __future__ import annotations

from html import unescape

import pytest

from fpic.storage.models import Case, Condition, Grievance
from tests.factories import World, decision, walk_to
from tests.web.conftest import field_errors, snapshot


@pytest.fixture
def monitored_case(world: World, community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "monitoring", community)
    return case_id


def _only_grievance(world: World) -> Grievance:
    with world.db.read_session() as session:
        [grievance] = session.query(Grievance).all()
        return grievance


def _url(case_id: int, trigger: str) -> str:
    return f"/cases/{case_id}/actions/{trigger}"


def test_a_grievance_from_intake_to_closure_through_the_forms(world, signed_in, monitored_case):
    rep = signed_in("rep-ayllu-qollana-1")
    liaison = signed_in("liaison")
    response = rep.submit(
        _url(monitored_case, "lodge_grievance"),
        {
            "category": "impacts",
            "channel": "oral",
            "anonymous": "y",
            "language": "qu",
            "text": "Yakuqa qhillichasqa; ñuqanchikpa chakranchik chakichkan.",
            "received_on": world.clock.now().date().isoformat(),
            "condition_id": "",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    gid = str(_only_grievance(world).id)
    steps = [
        (liaison, "acknowledge_grievance", {"text": "Recibido; visita.", "language": "es"}),
        (rep, "assess_grievance", {"assessment": "Confirmed at the canal.", "upheld": "y"}),
        (liaison, "respond_to_grievance", {"text": "Canal cleaned.", "language": "es"}),
        (rep, "check_retaliation", {"note": "Asked at the assembly; none."}),
        (
            liaison,
            "close_grievance",
            {"resolution": "Canal clean since May.", "complainant_satisfied": "not_asked"},
        ),
    ]
    for who, trigger, data in steps:
        response = who.submit(_url(monitored_case, trigger), {"grievance_id": gid, **data})
        assert response.status_code == 302, (trigger, response.text[:3000])
    grievance = _only_grievance(world)
    assert (grievance.status, grievance.anonymous, grievance.upheld) == ("closed", True, True)
    assert grievance.complainant_satisfied is None
    page = unescape(liaison.get(f"/cases/{monitored_case}").text)
    assert "Yakuqa qhillichasqa" in page
    assert "Canal clean since May." in page
    figures = unescape(rep.get("/communities/ayllu-qollana").text)
    assert "Grievances: the figures" in figures
    assert "1 anonymous" in figures


def test_intake_errors_show_next_to_the_field_and_nothing_is_written(
    world, signed_in, monitored_case
):
    liaison = signed_in("liaison")
    before = snapshot(world)
    response = liaison.submit(
        _url(monitored_case, "lodge_grievance"),
        {
            "category": "impacts",
            "channel": "written",
            "complainant": "",
            "language": "qu",
            "text": "Polvo.",
            "received_on": world.clock.now().date().isoformat(),
            "condition_id": "",
        },
    )
    assert response.status_code == 400
    assert field_errors(response.text, "complainant")
    after = snapshot(world)
    assert {k: v for k, v in after.items() if k != "trail_events"} == {
        k: v for k, v in before.items() if k != "trail_events"
    }


def test_the_auditor_sees_grievances_but_has_no_form(world, signed_in, monitored_case):
    world.act(
        monitored_case,
        "lodge_grievance",
        world.liaison,
        {
            "category": "benefit_distribution",
            "channel": "meeting",
            "complainant": "Asociación de mujeres",
            "language": "es",
            "text": "El fondo no llega a las familias de la parte alta.",
            "received_on": world.clock.now().date().isoformat(),
        },
    )
    auditor = signed_in("auditor")
    assert "El fondo no llega" in unescape(auditor.get(f"/cases/{monitored_case}").text)
    assert auditor.get(_url(monitored_case, "acknowledge_grievance")).status_code == 403


def test_a_representative_declares_a_condition_breached_through_the_form(
    world, signed_in, community
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    conditions = [
        {
            "text": "No drilling within 500 m of the springs.",
            "language": "es",
            "obligated_party": "Andes Copper S.A.",
            "verification": "Joint site visit.",
            "due_event": "Before any drilling",
        }
    ]
    world.act(
        case_id,
        "give_consent_with_conditions",
        community.rep_actors[0],
        decision(world, community, conditions=conditions),
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        condition_id = case.decisions[-1].conditions[0].id
    rep = signed_in("rep-ayllu-qollana-1")
    page = unescape(rep.get(f"/cases/{case_id}").text)
    assert "Before any drilling" in page
    response = rep.submit(
        _url(case_id, "declare_condition_breached"),
        {"condition_id": str(condition_id), "evidence": "Drill pad 120 m from the spring."},
    )
    assert response.status_code == 302, response.text[:3000]
    assert world.case(case_id).stage == "negotiation"
    with world.db.read_session() as session:
        condition = session.get(Condition, condition_id)
        assert condition is not None
        assert condition.status == "breached"
    assert "breached" in unescape(rep.get(f"/cases/{case_id}").text)


# --- the other loops after a decision, through the forms -------------------------------------


def test_withdrawal_of_consent_through_the_form_stops_activities(world, signed_in, monitored_case):
    rep = signed_in("rep-ayllu-qollana-1")
    response = rep.submit(
        _url(monitored_case, "withdraw_consent"),
        {
            "decided_on": world.clock.now().date().isoformat(),
            "deciding_body": "Community assembly",
            "activities_affected": ["drilling"],
            "text": "Los manantiales se secaron.",
            "language": "es",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    assert world.case(monitored_case).stage == "withdrawn"
    assert "Consent withdrawn" in unescape(rep.get(f"/cases/{monitored_case}").text)


def test_material_change_through_the_form_reopens_disclosure(world, signed_in, monitored_case):
    liaison = signed_in("liaison")
    response = liaison.submit(
        _url(monitored_case, "register_material_change"),
        {"text": "An open pit replaces the drilling.", "language": "es"},
    )
    assert response.status_code == 302, response.text[:3000]
    case = world.case(monitored_case)
    assert (case.stage, case.deliberation_started_at) == ("disclosure", None)


def test_reconsideration_asked_by_the_proponent_and_reopened_by_the_community(
    world, signed_in, community
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", community.rep_actors[0], no)
    liaison = signed_in("liaison")
    rep = signed_in("rep-ayllu-qollana-1")
    refused = liaison.submit(_url(case_id, "reopen_case"), {"text": "We reopen it."})
    assert refused.status_code == 403
    proposal = {"text": "New proposal: no camp.", "proposal_items": ["nature_scope_and_pace"]}
    response = liaison.submit(_url(case_id, "request_reconsideration"), proposal)
    assert response.status_code == 302, response.text[:3000]
    again = liaison.submit(_url(case_id, "request_reconsideration"), {**proposal, "text": "Again."})
    assert again.status_code == 409  # a rule forbids it now, as for every guard
    assert "already requested" in unescape(again.text)
    response = rep.submit(_url(case_id, "reopen_case"), {"text": "We will listen again."})
    assert response.status_code == 302, response.text[:3000]
    assert world.case(case_id).stage == "disclosure"
    # the new proposal is presented again before the community decides again
    missing = liaison.submit(_url(case_id, "complete_disclosure"), {"text": "Done."})
    assert missing.status_code == 409
    assert "Disclosure is incomplete" in unescape(missing.text)


def test_the_dashboard_lists_overdue_grievance_steps_and_reviews(world, signed_in, monitored_case):
    world.act(
        monitored_case,
        "lodge_grievance",
        world.liaison,
        {
            "category": "impacts",
            "channel": "written",
            "complainant": "Juana Quispe",
            "language": "es",
            "text": "Polvo en las chacras.",
            "received_on": world.clock.now().date().isoformat(),
        },
    )
    world.clock.advance(days=95)
    page = unescape(signed_in("liaison").get("/").text)
    assert "is to be acknowledged" in page
    assert "the joint monitoring review is due" in page
    assert page.count('class="badge overdue"') >= 2


def test_a_condition_keeps_its_translation_and_the_case_shows_its_grievance_figures(
    world, signed_in, community
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    conditions = [
        {
            "text": "Yaku pukyukunata amachanqaku.",
            "language": "qu",
            "translations": [
                {
                    "language": "es",
                    "text": "Se protegerán los manantiales.",
                    "translator": "Rosa Mamani",
                }
            ],
            "obligated_party": "Andes Copper S.A.",
            "verification": "Joint site visit.",
        }
    ]
    world.act(
        case_id,
        "give_consent_with_conditions",
        community.rep_actors[0],
        decision(world, community, conditions=conditions),
    )
    world.act(
        case_id,
        "lodge_grievance",
        world.liaison,
        {
            "category": "agreement_non_compliance",
            "channel": "written",
            "complainant": "Junta de regantes",
            "language": "es",
            "text": "No se protegen los manantiales.",
            "received_on": world.clock.now().date().isoformat(),
        },
    )
    page = unescape(signed_in("auditor").get(f"/cases/{case_id}").text)
    assert "Se protegerán los manantiales." in page
    assert "translated by Rosa Mamani" in page
    assert "1 received, 1 open, 0 overdue, 0 upheld, 0 escalated to a mediator." in page
    record = unescape(signed_in("auditor").get(f"/cases/{case_id}/record").text)
    assert "Se protegerán los manantiales." in record


def test_rehabilitation_and_joint_review_through_the_forms(world, signed_in, monitored_case):
    rep = signed_in("rep-ayllu-qollana-1")
    today = world.clock.now().date().isoformat()
    response = rep.submit(
        _url(monitored_case, "record_monitoring_report"),
        {"text": "Springs clear.", "joint": "y", "community_monitors": "Rosa and Ana Mamani"},
    )
    assert response.status_code == 302, response.text[:3000]
    refused = rep.submit(_url(monitored_case, "close_case"), {"text": "Closing."})
    assert refused.status_code == 409
    assert "has not confirmed the agreed rehabilitation" in unescape(refused.text)
    response = rep.submit(
        _url(monitored_case, "confirm_rehabilitation"),
        {"text": "Pads levelled and reseeded.", "completed_on": today},
    )
    assert response.status_code == 302, response.text[:3000]
    response = rep.submit(_url(monitored_case, "close_case"), {"text": "Closed."})
    assert response.status_code == 302, response.text[:3000]
    assert world.case(monitored_case).stage == "closed"
