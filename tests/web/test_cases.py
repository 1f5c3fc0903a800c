"""Cases through the web interface: opening, acting through the forms, refusals, stale
versions, the case list, the case page and the printable decision record."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from fpic.accounts.registry import add_project
from fpic.storage.models import Case, Decision, Disclosure, Question, TrailEvent
from fpic.trail import audit
from fpic.workflow.errors import GuardRefused
from fpic.workflow.process import shipped_templates
from tests.factories import World, advance_along, walk_to
from tests.web.conftest import csrf_token, decision_form, field_errors, snapshot, table_rows

VERSION = re.compile(r'id="version" name="version" type="hidden" value="(\d+)"')


def _case_id(response) -> int:
    assert response.status_code == 302, response.text[:2000]
    match = re.fullmatch(r"/cases/(\d+)", urlsplit(response.headers["Location"]).path)
    assert match, response.headers["Location"]
    return int(match.group(1))


def _disclosure_form(world: World, **overrides) -> dict:
    return {
        "item": "nature_scope_and_pace",
        "languages": ["qu"],
        "formats": ["written"],
        "title": "Imaynataq proyecto",
        "channel": "community assembly",
        "disclosed_on": world.clock.now().date().isoformat(),
        "translator": "Rosa Mamani",
        **overrides,
    }


def _section(html: str, start: str, end: str) -> str:
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


# --- opening a case and acting through the forms -------------------------------------------


def test_liaison_opens_a_case_through_the_form(world, signed_in, community):
    liaison = signed_in("liaison")
    response = liaison.submit(
        "/cases/new",
        {
            "reference": "CV-2026-01",
            "project_id": str(world.project_id),
            "community_id": str(community.id),
            "template_id": "fpic-general",
        },
    )
    case_id = _case_id(response)
    case = world.case(case_id)
    assert (case.reference, case.stage) == ("CV-2026-01", "screening")
    assert case.community_id == community.id
    page = liaison.get(f"/cases/{case_id}")
    assert "Case CV-2026-01 opened." in page.text


def test_a_used_case_reference_is_refused_next_to_the_reference_field(world, signed_in, community):
    world.open_case(community)  # T-0001
    liaison = signed_in("liaison")
    before = snapshot(world)
    response = liaison.submit(
        "/cases/new",
        {
            "reference": "T-0001",
            "project_id": str(world.project_id),
            "community_id": str(community.id),
            "template_id": "fpic-general",
        },
    )
    assert response.status_code == 400
    errors = field_errors(response.text, "reference")
    assert errors == ["The case reference T-0001 is already used."]
    assert snapshot(world) == before


def test_liaison_registers_a_disclosure_through_the_form(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = signed_in("liaison")
    response = liaison.submit(
        f"/cases/{case_id}/actions/register_disclosure", _disclosure_form(world)
    )
    assert _case_id(response) == case_id
    with world.db.read_session() as db:
        stored = db.scalars(select(Disclosure).where(Disclosure.case_id == case_id)).all()
        assert [(d.item, d.language, d.format, d.title) for d in stored] == [
            ("nature_scope_and_pace", "qu", "written", "Imaynataq proyecto")
        ]
    # the redirect names the trail event; the case page confirms it from the trail
    assert "Done: Register a disclosure." in liaison.get(response.location).text
    assert "Done:" not in liaison.get(f"/cases/{case_id}").text


def test_only_the_person_who_did_it_is_told_it_was_done_and_only_for_a_while(
    world, signed_in, community
):
    """A link to the page after an action confirms nothing to anyone else, nor later: the
    confirmation is read from the trail event it names, not taken from the link."""
    case_id = world.open_case(community)
    liaison = signed_in("liaison")
    response = liaison.submit(
        f"/cases/{case_id}/actions/screen_in", {"text": "Screened in at the desk."}
    )
    after = response.location
    assert "done=" in after
    assert "Done: Record that FPIC is required." in liaison.get(after).text
    assert "Done:" not in signed_in("auditor").get(after).text  # someone else's action
    other = world.open_case(community)
    assert "Done:" not in liaison.get(after.replace(f"/cases/{case_id}", f"/cases/{other}")).text
    world.clock.advance(minutes=16)
    assert "Done:" not in liaison.get(after).text
    assert liaison.get(f"/cases/{case_id}?done=x").status_code == 400


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        # every message is the engine's, the field called by its label: the same as the API's
        ("disclosed_on", "2026-02-30", "“Disclosed on” must be a date (YYYY-MM-DD)."),
        ("disclosed_on", "", "“Disclosed on” is required."),
        ("title", "", "“Title” is required."),
        ("channel", "   ", "“Channel (assembly, radio, booklet ...)” is required."),
        ("disclosed_on", "tomorrow", "“Disclosed on” cannot be in the future."),
    ],
    ids=["impossible date", "missing date", "missing title", "blank channel", "future date"],
)
def test_bad_form_input_gets_its_message_next_to_the_field_and_nothing_is_written(
    world, signed_in, community, field, value, message
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    if value == "tomorrow":
        value = (world.clock.now().date() + timedelta(days=1)).isoformat()
    data = _disclosure_form(world, **{field: value})
    liaison = signed_in("liaison")
    before = snapshot(world)
    response = liaison.submit(f"/cases/{case_id}/actions/register_disclosure", data)
    assert response.status_code == 400
    errors = field_errors(response.text, field)
    assert any(message.lower() in e.lower() for e in errors), errors
    assert snapshot(world) == before
    # the rest of what was typed is kept
    other = "channel" if field != "channel" else "title"
    assert f'value="{data[other]}"' in response.text


def test_a_guard_refusal_shows_the_reason_and_records_nothing(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "deliberation", community)  # the deliberation period just began
    rep = community.rep_actors[0]
    world.act(case_id, "open_negotiation", rep, {"text": "Ready."})
    world.act(case_id, "convene_decision", rep, {"text": "The assembly meets."})
    ends = (world.case(case_id).deliberation_started_at + timedelta(days=30)).date()
    browser = signed_in("rep-ayllu-qollana-1")
    before = snapshot(world)
    response = browser.submit(
        f"/cases/{case_id}/actions/give_consent", decision_form(world, community)
    )
    assert response.status_code == 409
    assert "This cannot be done now" in response.text
    reasons = unescape(_section(response.text, '<ul class="reasons">', "</ul>"))
    assert "The community's deliberation period ends on" in reasons
    assert ends.strftime("%b %-d, %Y") in reasons
    assert snapshot(world) == before
    assert world.case(case_id).stage == "decision"
    with world.db.read_session() as db:
        last = db.scalars(select(TrailEvent).order_by(TrailEvent.id.desc())).first()
        assert (last.chain, last.action, last.outcome) == (
            audit.case_chain(case_id),
            "give_consent",
            "refused",
        )


def test_a_stale_form_shows_what_changed_keeps_the_input_and_can_be_sent_again(
    world, signed_in, community, case_at_decision
):
    url = f"/cases/{case_at_decision}/actions/ask_question"
    liaison = signed_in("liaison")
    form_page = liaison.get(url)
    seen = int(VERSION.search(form_page.text).group(1))
    # meanwhile a representative logs a question on the same case
    world.act(
        case_at_decision,
        "ask_question",
        community.rep_actors[0],
        {"text": "Is the water safe?", "language": "qu"},
    )
    mine = {"text": "Who repairs the road after the rains?", "language": "es"}
    response = liaison.client.post(
        url, data={"csrf_token": csrf_token(form_page.text), "version": str(seen), **mine}
    )
    assert response.status_code == 409
    page = response.text
    assert "This case changed while you were working" in page
    changes = _section(page, "What changed:", "</ul>")
    assert "Log a question from the community" in changes
    assert "by rep-ayllu-qollana-1" in changes
    kept = re.search(r'<textarea id="text" name="text"[^>]*>\s*([^<]*)</textarea>', page)
    assert kept.group(1) == mine["text"]
    assert 'value="es"' in page
    now = world.case(case_at_decision).version
    assert now == seen + 1
    assert int(VERSION.search(page).group(1)) == now
    with world.db.read_session() as db:
        assert db.scalar(select(Question).where(Question.text == mine["text"])) is None
    # sending the kept page again works
    again = liaison.client.post(
        url, data={"csrf_token": csrf_token(page), "version": str(now), **mine}
    )
    assert _case_id(again) == case_at_decision
    with world.db.read_session() as db:
        texts = set(db.scalars(select(Question.text).where(Question.case_id == case_at_decision)))
    assert texts == {"Is the water safe?", mine["text"]}


def test_a_form_overtaken_during_the_request_shows_the_version_that_overtook_it(
    world, app, signed_in, community, case_at_decision, monkeypatch
):
    # the other action lands after the request has started reading: on SQLite a read
    # transaction keeps seeing the database as of its first read, so the page must start
    # a new one to show the fresh version
    url = f"/cases/{case_at_decision}/actions/ask_question"
    liaison = signed_in("liaison")
    form_page = liaison.get(url)
    seen = int(VERSION.search(form_page.text).group(1))
    fpic_engine = app.extensions["fpic"]
    advance = fpic_engine.advance

    def overtaken(*args, **kwargs):
        world.act(
            case_at_decision,
            "ask_question",
            community.rep_actors[0],
            {"text": "Is the water safe?", "language": "qu"},
        )
        return advance(*args, **kwargs)

    monkeypatch.setattr(fpic_engine, "advance", overtaken)
    response = liaison.client.post(
        url,
        data={
            "csrf_token": csrf_token(form_page.text),
            "version": str(seen),
            "text": "Who repairs the road?",
            "language": "es",
        },
    )
    assert response.status_code == 409
    assert int(VERSION.search(response.text).group(1)) == seen + 1
    assert "Log a question from the community" in _section(response.text, "What changed:", "</ul>")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("not my password", "Your password is not right."),
        ("", "Enter your password to confirm this action."),
    ],
    ids=["wrong password", "no password"],
)
def test_a_decision_without_the_right_password_is_refused_and_not_recorded(
    world, signed_in, community, case_at_decision, password, message
):
    rep = signed_in("rep-ayllu-qollana-1")
    before = snapshot(world)
    response = rep.submit(
        f"/cases/{case_at_decision}/actions/give_consent",
        decision_form(world, community, password=password),
    )
    assert response.status_code == 400
    assert field_errors(response.text, "password") == [message]
    assert snapshot(world) == before
    assert world.case(case_at_decision).stage == "decision"
    with world.db.read_session() as db:
        assert db.scalars(select(Decision)).all() == []


def test_an_action_another_role_may_do_is_not_offered_and_refused_when_sent(
    world, signed_in, community, case_at_decision
):
    liaison = signed_in("liaison")
    before = snapshot(world)
    response = liaison.submit(
        f"/cases/{case_at_decision}/actions/give_consent", decision_form(world, community)
    )
    assert response.status_code == 403
    assert "may not do this" in unescape(response.text)
    assert snapshot(world) == before


# --- the case list -------------------------------------------------------------------------


PERU = "pe-consulta-previa-2012"


@pytest.fixture
def many_cases(world: World, community, other_community):
    """29 cases: each community's registration case, 4 early ones on a second project (2 moved
    on; 2 consultations under Peru's law, the measure delivered and the 120 days to sign the
    acta past: overdue), then 16 more of the first community and 7 of the second, 125 days
    later. Only a time limit that exists makes a case overdue: the general process sets none on
    screening, and a window that closed (reconsideration) makes nobody late."""
    second = add_project(
        world.engine,
        world.admin,
        {"name": "Lago Azul hydropower", "proponent": "Hidro S.A.", "phases": ["construction"],
         "activities": ["dam"]},
    )  # fmt: skip
    early = []
    for template in ("fpic-general", "fpic-general", PERU, PERU):
        opener = world.liaison if template != PERU else world.state_authority
        case_id = world.engine.open_case(
            opener, project_id=second, community_id=community.id,
            template_id=template, reference=f"P2-{len(early) + 1}",
        ).case_id  # fmt: skip
        early.append(case_id)
    for case_id in early[:2]:
        world.act(case_id, "screen_in", world.liaison, {"text": "FPIC applies."})
    for case_id in early[2:]:
        advance_along(world, community, case_id, "information")
    world.clock.advance(days=125)  # Reglamento art. 24: 120 days from the measure's delivery
    first = [world.open_case(community) for _ in range(16)]
    other = [world.open_case(other_community) for _ in range(7)]
    registration = [community.registration_case, other_community.registration_case]
    other = [other_community.registration_case, *other]
    everything = [*registration, *early, *first, *other]
    refs = {case_id: world.case(case_id).reference for case_id in everything}
    return {
        "second_project": second,
        "moved_on": {refs[c] for c in early[:2]},
        "overdue": {refs[c] for c in early[2:]},
        "overdue_second_project": {refs[c] for c in early[2:]},
        "second_project_refs": {refs[c] for c in early},
        "other_community": {refs[c] for c in other},
        "all": set(refs.values()),
    }


def _listed(browser, query: str) -> list[str]:
    response = browser.get(f"/cases/?{query}")
    assert response.status_code == 200, response.text[:500]
    return [row[0] for row in table_rows(response.text) if len(row) == 6]


def test_case_list_filters_return_exactly_the_matching_cases(
    world, signed_in, other_community, many_cases
):
    liaison = signed_in("liaison")
    assert set(_listed(liaison, "stage=rights_holders")) == many_cases["moved_on"]
    assert set(_listed(liaison, f"community={other_community.id}")) == many_cases["other_community"]
    assert (
        set(_listed(liaison, f"project={many_cases['second_project']}"))
        == many_cases["second_project_refs"]
    )
    assert set(_listed(liaison, "overdue=1")) == many_cases["overdue"]
    combined = f"stage=information&project={many_cases['second_project']}"
    assert set(_listed(liaison, combined)) == many_cases["overdue_second_project"]
    assert _listed(liaison, f"stage=closed&community={other_community.id}") == []
    assert "No case matches these filters." in liaison.get("/cases/?stage=closed").text


def test_case_list_pages_hold_25_cases_and_together_list_each_case_once(
    world, signed_in, many_cases
):
    liaison = signed_in("liaison")
    first = _listed(liaison, "")
    second = _listed(liaison, "page=2")
    assert len(first) == 25
    assert len(second) == len(many_cases["all"]) - 25
    assert sorted(first + second) == sorted(many_cases["all"])
    page = liaison.get("/cases/").text
    assert "Page 1 of 2" in page
    assert 'rel="next"' in page
    assert _listed(liaison, "page=99") == second  # past the end: the last page


def test_a_long_case_list_counts_only_so_far_ahead_and_says_there_are_more(
    world, signed_in, many_cases, monkeypatch
):
    from fpic.read import queries

    monkeypatch.setattr(queries, "COUNT_AHEAD", 1)  # counts a page ahead, no further
    liaison = signed_in("liaison")
    page = liaison.get("/cases/").text
    assert "More than 25 cases" in page
    assert "Page 1 of more than 1" in page
    assert 'rel="next"' in page
    spanish = liaison.client.get("/cases/", headers={"Accept-Language": "es"}).text
    assert "Más de 25 casos" in spanish
    assert "Página 1 de más de 1" in spanish
    last = liaison.get("/cases/?page=2").text  # counted up to 50: all of them
    assert f"{len(many_cases['all'])} cases" in last
    assert "Page 2 of 2" in last
    assert 'rel="next"' not in last
    shown = _listed(liaison, "") + _listed(liaison, "page=2")
    assert sorted(shown) == sorted(many_cases["all"])


def test_a_representative_lists_only_their_own_communitys_cases(
    world, signed_in, community, many_cases
):
    rep = signed_in("rep-uma-jaqi-1")
    assert set(_listed(rep, "")) == many_cases["other_community"]
    assert _listed(rep, f"community={community.id}") == []


# --- the case page -------------------------------------------------------------------------


@pytest.fixture
def case_in_disclosure(world: World, community) -> int:
    """A case at disclosure with one disclosure made and a refused attempt to complete it."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    world.act(
        case_id,
        "register_disclosure",
        world.liaison,
        {
            "item": "nature_scope_and_pace",
            "languages": ["qu"],
            "formats": ["written"],
            "title": "Imaynataq",
            "channel": "assembly",
            "disclosed_on": world.clock.now().date().isoformat(),
        },
    )
    with pytest.raises(GuardRefused):
        world.act(case_id, "complete_disclosure", world.liaison, {"text": "Done, we think."})
    return case_id


def test_case_page_shows_the_stage_stepper(signed_in, case_in_disclosure):
    page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    stepper = _section(page, '<ol class="stepper">', "</ol>")
    current = re.findall(r'<li class="current" aria-current="step">([^<]+)</li>', stepper)
    assert current == ["Disclosure and discussion"]
    done = re.findall(r'<li class="done"\s*>([^<]+)</li>', stepper)
    assert done == ["Screening", "Rights-holders and institutions", "Participatory mapping",
                    "Agree the process"]  # fmt: skip
    assert "Consent withheld" not in stepper  # loops show only once visited


def test_case_page_shows_the_disclosure_matrix(signed_in, case_in_disclosure):
    page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    matrix = _section(page, 'id="h-disclosure"', "</table>")
    rows = {row[0]: row[1:] for row in table_rows(matrix + "</table>")}
    assert len(rows) == 8  # every required item
    nature = shipped_templates()["fpic-general"].item_title("nature_scope_and_pace")
    assert rows[nature][0].startswith("✓ v1")
    # qu oral, es written, es oral: missing, each with its link to the form (for the liaison)
    assert [cell.split("Register it")[0] for cell in rows[nature][1:]] == ["missing"] * 3
    missing = [cell for cells in rows.values() for cell in cells if cell.startswith("missing")]
    assert len(missing) == 31


def test_case_page_timeline_shows_the_refused_attempt_and_its_reason(signed_in, case_in_disclosure):
    page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    timeline = _section(page, '<ol class="timeline"', "</ol>")
    refused = timeline[timeline.index('<li class="refused">') :]
    assert "Declare disclosure complete" in refused
    assert '<span class="badge bad">refused</span>' in refused
    assert "Disclosure is incomplete: 31 item(s) missing" in refused


def test_case_page_marks_the_main_step_and_why_it_is_blocked(signed_in, case_in_disclosure):
    page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    next_step = _section(page, 'id="h-next"', "</section>")
    # the liaison's turn, named, with the step that moves the case on and what stops it
    assert "Whose turn: <strong>community liaison officer</strong>" in next_step
    assert "Declare disclosure complete" in next_step
    assert "Disclosure is incomplete: 31 item(s) missing" in next_step
    # shown first, before every other action
    assert page.index('id="h-next"') < page.index('id="h-actions"')


def test_case_page_says_whose_turn_it_is_to_someone_else(signed_in, case_in_disclosure):
    rep_page = signed_in("rep-ayllu-qollana-1").get(f"/cases/{case_in_disclosure}").text
    next_step = _section(rep_page, 'id="h-next"', "</section>")
    assert "community liaison officer" in next_step
    assert "not yours to take" in next_step
    assert "/actions/complete_disclosure" not in next_step


def test_case_page_lists_the_other_blocked_actions_and_why(signed_in, case_in_disclosure):
    page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    blocked = _section(page, "Not possible now, and why", "Printable decision record")
    assert "Assign the independent facilitator" in blocked
    assert "Declare disclosure complete" not in blocked  # it is the main step, shown above


def test_case_page_offers_the_actions_of_the_readers_role(signed_in, case_in_disclosure):
    liaison_page = signed_in("liaison").get(f"/cases/{case_in_disclosure}").text
    rep_page = signed_in("rep-ayllu-qollana-1").get(f"/cases/{case_in_disclosure}").text
    auditor_page = signed_in("auditor").get(f"/cases/{case_in_disclosure}").text

    def offered(page: str) -> set[str]:
        actions = _section(page, 'id="h-actions"', "</section>")
        offered_part = actions.split("Not possible now, and why")[0]
        return set(re.findall(r"/actions/(\w+)\"", offered_part))

    assert "register_disclosure" in offered(liaison_page)
    # nothing to act on: no question is open, no grievance lodged
    assert "answer_question" not in offered(liaison_page)
    assert not {"acknowledge_grievance", "assess_grievance"} & offered(liaison_page)
    assert "complete_disclosure" not in offered(liaison_page)  # blocked by a guard
    assert offered(rep_page) >= {"ask_question", "suspend_process", "decline_to_engage"}
    assert not offered(rep_page) & {"register_disclosure", "answer_question", "abandon"}
    # another role's actions are not listed as "not possible" either
    assert "Register a disclosure" not in _section(rep_page, 'id="h-actions"', "</section>")
    assert offered(auditor_page) == set()
    assert "Nothing you can do on this case at this stage." in auditor_page


# --- the printable decision record ---------------------------------------------------------


def test_decision_record_shows_the_decision_its_conditions_and_the_trail_head(
    world, signed_in, community, case_at_decision
):
    rep = signed_in("rep-ayllu-qollana-1")
    response = rep.submit(
        f"/cases/{case_at_decision}/actions/give_consent_with_conditions",
        decision_form(
            world,
            community,
            **{
                "conditions-0-text": "No drilling within 500 m of the Pukyu spring.",
                "conditions-0-language": "es",
                "conditions-0-obligated_party": "Andes Copper S.A.",
                "conditions-0-due_on": "2026-12-31",
                "conditions-0-verification": "Joint inspection with the water committee",
            },
        ),
    )
    assert _case_id(response) == case_at_decision
    record = signed_in("auditor").get(f"/cases/{case_at_decision}/record")
    assert record.status_code == 200
    page = record.text
    assert "Consent with conditions" in page
    assert "Tally: 3 for, 0 against, 0 abstaining; 3 present of 3 eligible." in page
    conditions = [row for row in table_rows(page) if len(row) == 4]
    assert conditions == [
        [
            "No drilling within 500 m of the Pukyu spring.",
            "Andes Copper S.A.",
            "Dec 31, 2026",
            "Joint inspection with the water committee",
        ]
    ]
    digests = re.findall(r'<p class="digest">([0-9a-f]{64})</p>', page)
    assert len(digests) == 2
    with world.db.read_session() as db:
        heads = audit.stored_heads(db)
    assert digests[0] == heads[audit.case_chain(case_at_decision)][1]
    assert digests[1] == audit.trail_head(heads)


# --- not found and malformed requests ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/cases/999999", "/cases/999999/record", "/cases/999999/actions/ask_question"],
)
def test_an_unknown_case_gets_the_not_found_page(signed_in, url):
    response = signed_in("liaison").get(url)
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text


def test_an_unknown_action_gets_the_not_found_page(signed_in, case_at_decision):
    response = signed_in("liaison").get(f"/cases/{case_at_decision}/actions/no_such_action")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text


@pytest.mark.parametrize(
    "url",
    [
        "/cases/?page=abc",
        "/cases/?page=-1",
        "/cases/?community=x",
        "/cases/?project=1e3",
        "/cases/?stage=" + "x" * 81,
        "/cases/?stage=a%00b",
        "/audit/?case=-1",
        "/audit/?case=abc",
        "/audit/?since=notadate",
        "/audit/?until=2026-02-30",
        "/audit/?page=9999999999999",
        "/audit/export?format=xml",
        "/audit/export?format=csv&case=-1",
    ],
)
def test_malformed_query_arguments_get_400_never_500(signed_in, url):
    response = signed_in("auditor").get(url)
    assert response.status_code == 400
    assert "This request cannot be handled" in response.text


def test_case_on_the_trail_is_not_found_when_it_does_not_exist(signed_in):
    assert signed_in("auditor").get("/audit/?case=999999").status_code == 404
    assert signed_in("auditor").get("/audit/export?case=999999").status_code == 404


def test_the_case_page_is_read_only(world, signed_in, case_in_disclosure):
    liaison = signed_in("liaison")
    before = snapshot(world)
    with world.db.read_session() as db:
        version = db.scalar(select(Case.version).where(Case.id == case_in_disclosure))
    liaison.get(f"/cases/{case_in_disclosure}")
    liaison.get(f"/cases/{case_in_disclosure}/record")
    assert snapshot(world) == before
    assert world.case(case_in_disclosure).version == version


def test_a_missing_cell_of_the_matrix_links_to_its_form_filled_in(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    liaison = signed_in("liaison")
    page = unescape(liaison.get(f"/cases/{case_id}").text)
    links = re.findall(rf'href="(/cases/{case_id}/actions/register_disclosure\?[^"]+)"', page)
    # every cell is missing: 8 items in 2 languages and 2 formats, one link each
    assert len(links) == 8 * 2 * 2
    first = next(link for link in links if "item=nature_scope_and_pace" in link)
    assert "languages=qu" in first
    assert "formats=written" in first
    form = liaison.get(first).text
    assert re.search(r'<option selected value="nature_scope_and_pace">', form)
    for name, value in (("languages", "qu"), ("formats", "written")):  # ticked, the rest not
        ticked = re.findall(rf'<input (checked )?[^>]*name="{name}"[^>]*value="(\w+)"', form)
        assert {v for checked, v in ticked if checked} == {value}, (name, ticked)
    rest = {k: v for k, v in _disclosure_form(world).items() if k != "item"}
    response = liaison.submit(first, {**rest, "item": "nature_scope_and_pace"})
    assert response.status_code == 302
    after = unescape(liaison.get(f"/cases/{case_id}").text)
    assert first not in after  # that cell is no longer missing
    # who may not register a disclosure now sees the cells, not the links
    assert "actions/register_disclosure?" not in signed_in("auditor").get(f"/cases/{case_id}").text


def test_a_list_to_tick_is_required_as_a_group_not_box_by_box(world, signed_in, community):
    """Tick at least one language: said once, on the group's legend. A ``required`` on every
    box would tell a screen reader (and a browser) that every box must be ticked."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    form = signed_in("liaison").get(f"/cases/{case_id}/actions/register_disclosure").text
    boxes = re.findall(r'<input[^>]*name="(?:languages|formats)"[^>]*>', form)
    assert len(boxes) == 4
    assert not [box for box in boxes if " required" in box]
    legends = re.findall(r"<legend>(.*?)</legend>", form, re.S)
    assert any(legend.startswith("Languages") and "(required)" in legend for legend in legends)
