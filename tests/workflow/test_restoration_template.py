"""Restoring a legacy mine site with its host communities' consent (legacy-restoration), driven
through the engine: the main path to closure, the financial assurance and its checks, the rules
that hold works and closure to it and to the community's confirmation, and every loop."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fpic.accounts.registry import add_project
from fpic.read.deadlines import deadlines
from fpic.storage.models import Case, CaseNote
from fpic.trail import audit
from fpic.workflow.errors import GuardRefused, InvalidData, InvalidTransition, NotPermitted
from fpic.workflow.guards import GUARDS
from fpic.workflow.process import parse_template, shipped_templates
from fpic.workflow.restoration import ASSURANCE_NOTE, currencies_in_use
from tests.factories import (
    Community,
    World,
    decision,
    disclose_everything,
    protocol,
)
from tests.factories import financial_assurance as assurance

ROOT = Path(__file__).resolve().parents[2]
RESTORATION = "legacy-restoration"
TEMPLATE = shipped_templates()[RESTORATION]
NOTE = {"text": "Recorded with the clan leaders."}
PHASES = ["works", "post_closure"]
ACTIVITIES = ["earthworks", "water_treatment", "revegetation"]

#: the main path, in order: (stage it is done at, trigger, who fires it); "@disclose" and "@wait"
#: are helper steps
MAIN_PATH: list[tuple[str, str, str]] = [
    ("rights_holders", "confirm_rights_holders", "liaison"),
    ("protocol", "agree_protocol", "rep"),
    ("disclosure", "@disclose", ""),
    ("disclosure", "complete_disclosure", "liaison"),
    ("deliberation", "@wait", ""),
    ("deliberation", "convene_decision", "rep"),
    ("decision", "give_consent_with_conditions", "rep"),
    ("assurance", "record_financial_assurance", "liaison"),
    ("assurance", "start_works", "liaison"),
    ("works", "complete_works", "liaison"),
]


# --- data ----------------------------------------------------------------------------------


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


def _in_days(world: World, days: int) -> str:
    return (world.clock.now() + timedelta(days=days)).date().isoformat()


def _conditions(world: World) -> list[dict[str, Any]]:
    return [
        {
            "text": "Water at the creek mouth tested every quarter by the clans' own monitors.",
            "language": "es",
            "obligated_party": "Provincial Government",
            "due_on": _in_days(world, 120),
            "verification": "Joint quarterly monitoring report",
        },
        {
            "text": "The gardens on the old workings are handed back planted with food trees.",
            "language": "es",
            "obligated_party": "Provincial Government",
            "due_on": None,
            "verification": "Site walk with the clan leaders",
        },
    ]


def consent(world: World, community: Community, **overrides: Any) -> dict[str, Any]:
    given = {
        "scope_phases": PHASES,
        "scope_activities": ACTIVITIES,
        "conditions": _conditions(world),
        **overrides,
    }
    return decision(world, community, **given)


def _data_for(world: World, community: Community, trigger: str) -> dict[str, Any]:
    if trigger == "agree_protocol":
        return protocol()
    if trigger in ("give_consent", "give_consent_with_conditions"):
        return consent(world, community)
    if trigger == "record_financial_assurance":
        return assurance(world)
    if trigger == "complete_disclosure":
        return {"text": "Every item disclosed in Quechua and Spanish."}
    return NOTE


def _step(world: World, case_id: int, community: Community, trigger: str, who: str) -> None:
    if trigger == "@disclose":
        disclose_everything(world, case_id)
    elif trigger == "@wait":
        world.clock.advance(days=protocol()["min_deliberation_days"] + 1)
    else:
        world.act(
            case_id, trigger, world.walker(who, community), _data_for(world, community, trigger)
        )


def walk(world: World, case_id: int, stage: str, community: Community) -> None:
    """Drive a restoration case along the main path, from where it stands, until it is at
    ``stage`` (a stage the path reaches, or past the last step)."""
    start = world.case(case_id).stage
    steps = MAIN_PATH[[at for at, _, _ in MAIN_PATH].index(start) :]
    for _at, trigger, who in steps:
        if world.case(case_id).stage == stage:
            return
        _step(world, case_id, community, trigger, who)
    assert world.case(case_id).stage == stage, world.case(case_id).stage


@pytest.fixture
def site(world: World) -> int:
    """The restoration project of an abandoned alluvial working (fabricated test data)."""
    return add_project(
        world.engine,
        world.liaison,
        {
            "name": "Restoration of the Warangoi alluvial workings",
            "proponent": "Provincial Government",
            "phases": PHASES,
            "activities": ACTIVITIES,
        },
    )


@pytest.fixture
def opened(world: World, community: Community, site: int):
    """Open a restoration case of ``site`` and walk it to a stage."""

    def open_at(stage: str) -> int:
        world._refs += 1
        case_id = world.engine.open_case(
            world.liaison,
            project_id=site,
            community_id=community.id,
            template_id=RESTORATION,
            reference=f"R-{world._refs:04d}",
        ).case_id
        walk(world, case_id, stage, community)
        return case_id

    return open_at


def _codes(error: Exception) -> set[str]:
    return {r.code for r in error.reasons}  # type: ignore[attr-defined]


def _refused(
    world: World, case_id: int, trigger: str, actor, data: dict[str, Any] | None = None
) -> set[str]:
    version = world.case(case_id).version
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    assert world.case(case_id).version == version  # a refusal changes nothing on the case
    return _codes(caught.value)


def _not_permitted(world: World, case_id: int, trigger: str, actor, data=None) -> set[str]:
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, trigger, actor, data)
    return _codes(caught.value)


def _open_conditions(world: World, case_id: int) -> list[int]:
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return [c.id for d in case.decisions for c in d.conditions if c.status != "met"]


def _meet_every_condition(world: World, case_id: int, community: Community) -> None:
    for condition_id in _open_conditions(world, case_id):
        world.act(
            case_id,
            "report_condition_progress",
            community.rep_actors[0],
            {"condition_id": condition_id, "status": "met", "evidence": "Seen on the site walk."},
        )


def _assurances(world: World, case_id: int) -> list[dict[str, Any]]:
    with world.db.read_session() as session:
        return [
            dict(data)
            for data in session.scalars(
                select(CaseNote.data)
                .where(CaseNote.case_id == case_id, CaseNote.kind == ASSURANCE_NOTE)
                .order_by(CaseNote.id)
            )
        ]


# --- the template --------------------------------------------------------------------------


def test_the_template_loads_with_its_stages_and_settings():
    assert TEMPLATE.version == "1.2.0"
    assert TEMPLATE.initial == "rights_holders"
    assert list(TEMPLATE.stages) == [
        "rights_holders", "protocol", "disclosure", "deliberation", "decision", "assurance",
        "works", "post_closure", "suspended", "withheld", "withdrawn", "invalidated",
        "abandoned", "closed",
    ]  # fmt: skip
    assert [n for n, s in TEMPLATE.stages.items() if s.deliberation_period] == ["deliberation"]
    consenting = [n for n, s in TEMPLATE.stages.items() if s.consent_in_force]
    assert consenting == ["assurance", "works", "post_closure"]
    assert {n for n, s in TEMPLATE.stages.items() if s.terminal} == {"abandoned", "closed"}
    assert set(TEMPLATE.required_disclosure_items) >= {
        "restoration_plan", "end_land_use", "hazards_and_risks", "financial_assurance",
        "post_closure_monitoring", "who_is_responsible",
    }  # fmt: skip
    assert set(TEMPLATE.item_titles) == set(TEMPLATE.required_disclosure_items)
    # no advisory stage deadline is invented: the community's protocol sets the time
    assert all(s.deadline_days is None for s in TEMPLATE.stages.values())


def test_the_shipped_file_parses_as_served():
    path = "fpic/workflow/processes/legacy-restoration.toml"
    with open(path, encoding="utf-8") as handle:
        parsed = parse_template(handle.read(), path)
    assert parsed.content_hash == TEMPLATE.content_hash


def test_everything_the_community_decides_is_fired_by_its_representative_alone():
    communitys = {
        "protocol", "decision", "decline", "deferral", "suspend", "resume", "reopen",
        "withdrawal", "restart", "rehabilitation", "condition_breach",
    }  # fmt: skip
    for trigger in TEMPLATE.triggers.values():
        if trigger.effect in communitys:
            assert trigger.roles == ("representative",), trigger.name
    for name in ("convene_decision", "close_case", "invalidate_process", "renegotiate"):
        assert TEMPLATE.triggers[name].roles == ("representative",), name
    # the proponent's side never decides for the community, nor records its own assurance as
    # the community's
    assert TEMPLATE.triggers["record_financial_assurance"].roles == ("liaison", "state_authority")


#: the FPIC rules the general template holds a consent to
CONSENT_RULES = {
    "no_open_integrity_flag", "disclosure_complete", "deliberation_period_elapsed",
    "questions_answered", "decision_rule_met", "scope_stated",
}  # fmt: skip


def test_consent_is_held_to_the_same_fpic_rules_as_in_the_general_template():
    general = shipped_templates()["fpic-general"]
    for name in ("give_consent", "give_consent_with_conditions"):
        assert set(TEMPLATE.triggers[name].guards) >= CONSENT_RULES, name
        assert set(general.triggers[name].guards) >= CONSENT_RULES, name
    assert "conditions_stated" in TEMPLATE.triggers["give_consent_with_conditions"].guards
    for name in ("withhold_consent", "defer_decision"):
        assert TEMPLATE.triggers[name].guards == ("decision_rule_met",), name
    assert TEMPLATE.triggers["defer_decision"].outcome == "DEFERRED_MORE_INFO"


def test_works_and_closure_are_held_to_the_assurance_and_the_communitys_confirmation():
    for name in ("start_works", "complete_works", "close_case", "record_activity_start"):
        assert "financial_assurance_in_force" in TEMPLATE.triggers[name].guards, name
    assert set(TEMPLATE.triggers["close_case"].guards) == {
        "rehabilitation_confirmed", "conditions_met", "financial_assurance_in_force",
    }  # fmt: skip
    # only the community reopens a withheld consent: there is no request for reconsideration
    assert not any(t.effect == "reconsideration_request" for t in TEMPLATE.triggers.values())


def test_the_loader_sees_the_restoration_rules_whatever_was_imported_first():
    """The rules are registered where the financial assurance is declared: a process that
    imports only the loader still knows them."""
    code = (
        "from pathlib import Path\n"
        "from fpic.workflow.process import load_template_file\n"
        "print(load_template_file(Path('fpic/workflow/processes/legacy-restoration.toml')).id)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, RESTORATION), result.stderr
    for name in ("financial_assurance_in_force", "conditions_met"):
        assert GUARDS[name].name == name
        assert GUARDS[name].needs_payload is False


def test_currencies_in_use_are_iso_codes_of_legal_tender():
    codes = currencies_in_use(date(2026, 3, 2))
    assert {"PGK", "AUD", "USD", "EUR", "PHP"} <= codes
    assert all(len(code) == 3 and code.isupper() for code in codes)
    assert "HRK" not in codes  # the Croatian kuna, replaced by the euro in 2023
    assert "HRK" in currencies_in_use(date(2022, 6, 1))


# --- the main path -------------------------------------------------------------------------


def test_main_path_runs_from_rights_holders_to_closure(world, community, opened):
    case_id = opened("rights_holders")
    rep = community.rep_actors[0]
    seen = []
    for at, trigger, who in MAIN_PATH:
        assert world.case(case_id).stage == at
        _step(world, case_id, community, trigger, who)
        seen.append(world.case(case_id).stage)
    assert list(dict.fromkeys(seen)) == [
        "protocol", "disclosure", "deliberation", "decision", "assurance", "works",
        "post_closure",
    ]  # fmt: skip
    activity = {"activity": "revegetation", "phase": "post_closure", "started_on": _today(world)}
    world.act(case_id, "record_activity_start", world.liaison, activity)
    report = {"text": "Creek water clear; seedlings at 80 %.", "joint": True,
              "community_monitors": "Clan monitors"}  # fmt: skip
    world.act(case_id, "record_monitoring_report", rep, report)
    _meet_every_condition(world, case_id, community)
    restored = {"text": "Walked the site with the clans: planted as agreed.",
                "completed_on": _today(world)}  # fmt: skip
    world.act(case_id, "confirm_rehabilitation", rep, restored)
    world.act(case_id, "close_case", rep, {"text": "Restored as agreed."})
    assert world.case(case_id).stage == "closed"
    assert TEMPLATE.triggers_from("closed") == []
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert [d.outcome for d in case.decisions] == ["CONSENT_WITH_CONDITIONS"]
        assert {c.status for d in case.decisions for c in d.conditions} == {"met"}
        assert [a.activity for a in case.activities] == ["revegetation"]
        result = audit.verify_database(session)
    assert result.intact, result.breaks
    [recorded] = _assurances(world, case_id)
    assert recorded["currency"] == "PGK"
    assert recorded["amount"] == 4_800_000


def test_rights_holders_are_confirmed_only_with_a_mandated_representative(world, site):
    unmandated = world.add_community("vunamami-test", ["tpi", "en"], reps=1, mandate_days=-1)
    case_id = world.engine.open_case(
        world.liaison, project_id=site, community_id=unmandated.id,
        template_id=RESTORATION, reference="R-UNMANDATED",
    ).case_id  # fmt: skip
    codes = _refused(world, case_id, "confirm_rights_holders", world.liaison, NOTE)
    assert codes == {"no_mandated_representatives"}


# --- the decision ----------------------------------------------------------------------------


def test_decision_waits_for_the_deliberation_period(world, community, opened):
    case_id = opened("protocol")
    rep = community.rep_actors[0]
    walk(world, case_id, "deliberation", community)
    world.act(case_id, "convene_decision", rep, NOTE)
    codes = _refused(world, case_id, "give_consent", rep, consent(world, community))
    assert codes == {"deliberation_period_running"}
    world.clock.advance(days=protocol()["min_deliberation_days"])
    world.act(case_id, "give_consent", rep, consent(world, community, conditions=[]))
    assert world.case(case_id).stage == "assurance"


def test_a_liaison_cannot_record_the_communitys_decision(world, community, opened):
    case_id = opened("decision")
    for trigger in ("give_consent", "give_consent_with_conditions", "withhold_consent",
                    "defer_decision"):  # fmt: skip
        codes = _not_permitted(world, case_id, trigger, world.liaison, consent(world, community))
        assert codes == {"role_not_allowed"}, trigger
    assert world.case(case_id).stage == "decision"


def test_consent_states_its_works_and_conditions_when_it_has_some(world, community, opened):
    case_id = opened("decision")
    rep = community.rep_actors[0]
    blanket = consent(world, community, scope_activities=[])
    assert _refused(world, case_id, "give_consent", rep, blanket) == {"no_scope"}
    bare = consent(world, community, conditions=[])
    assert _refused(world, case_id, "give_consent_with_conditions", rep, bare) == {"no_conditions"}


def test_an_open_integrity_flag_blocks_the_consent(world, community, opened):
    case_id = opened("decision")
    world.act(
        case_id,
        "raise_integrity_flag",
        world.liaison,
        {"category": "bribery", "description": "Cash offered to a clan leader."},
    )
    codes = _refused(
        world, case_id, "give_consent", community.rep_actors[0], consent(world, community)
    )
    assert codes == {"open_integrity_flag"}


# --- the financial assurance -----------------------------------------------------------------


def test_works_do_not_start_without_a_financial_assurance(world, community, opened):
    case_id = opened("assurance")
    activity = {"activity": "earthworks", "phase": "works", "started_on": _today(world)}
    assert _refused(world, case_id, "start_works", world.liaison, NOTE) == {
        "no_financial_assurance"
    }
    assert _refused(world, case_id, "record_activity_start", world.liaison, activity) == {
        "no_financial_assurance"
    }
    assert _not_permitted(
        world, case_id, "record_financial_assurance", community.rep_actors[0], assurance(world)
    ) == {"role_not_allowed"}
    world.act(case_id, "record_financial_assurance", world.state_authority, assurance(world))
    world.act(case_id, "start_works", world.liaison, NOTE)
    world.act(case_id, "record_activity_start", world.liaison, activity)
    assert world.case(case_id).stage == "works"


def test_an_activity_outside_the_consented_works_is_refused(world, community, opened):
    case_id = opened("works")
    outside = {"activity": "dredging", "phase": "works", "started_on": _today(world)}
    assert _refused(world, case_id, "record_activity_start", world.liaison, outside) == {
        "activity_not_consented"
    }


def test_post_closure_monitoring_needs_the_assurance_still_in_force(world, community, opened):
    case_id = opened("assurance")
    short = assurance(world, valid_until=_in_days(world, 10))
    world.act(case_id, "record_financial_assurance", world.liaison, short)
    world.act(case_id, "start_works", world.liaison, NOTE)
    world.clock.advance(days=11)
    assert _refused(world, case_id, "complete_works", world.liaison, NOTE) == {
        "financial_assurance_expired"
    }
    world.act(case_id, "record_financial_assurance", world.liaison, assurance(world))
    world.act(case_id, "complete_works", world.liaison, NOTE)
    assert world.case(case_id).stage == "post_closure"
    assert len(_assurances(world, case_id)) == 2  # a renewal is a new record; the old one stays


# --- closure -------------------------------------------------------------------------------


def test_closure_waits_for_the_community_to_confirm_the_site_restored(world, community, opened):
    case_id = opened("post_closure")
    rep = community.rep_actors[0]
    closing = {"text": "Restored as agreed."}
    assert _refused(world, case_id, "close_case", rep, closing) == {
        "rehabilitation_not_confirmed",
        "conditions_not_met",
    }
    _meet_every_condition(world, case_id, community)
    assert _refused(world, case_id, "close_case", rep, closing) == {"rehabilitation_not_confirmed"}
    restored = {"text": "Planted as agreed.", "completed_on": _today(world)}
    assert _not_permitted(world, case_id, "confirm_rehabilitation", world.liaison, restored) == {
        "role_not_allowed"
    }
    assert _not_permitted(world, case_id, "close_case", world.liaison, closing) == {
        "role_not_allowed"
    }
    world.act(case_id, "confirm_rehabilitation", rep, restored)
    world.act(case_id, "close_case", rep, closing)
    assert world.case(case_id).stage == "closed"


def test_closure_needs_the_assurance_in_force_to_the_end(world, community, opened):
    case_id = opened("post_closure")
    rep = community.rep_actors[0]
    _meet_every_condition(world, case_id, community)
    world.act(
        case_id, "confirm_rehabilitation", rep, {"text": "Done.", "completed_on": _today(world)}
    )
    # the latest record is the assurance in force: here one reduced after the works
    reduced = assurance(world, amount=600_000, valid_until=_in_days(world, 30))
    world.act(case_id, "record_financial_assurance", world.liaison, reduced)
    world.clock.advance(days=31)
    assert _refused(world, case_id, "close_case", rep, NOTE) == {"financial_assurance_expired"}
    world.act(case_id, "record_financial_assurance", world.liaison, assurance(world))
    world.act(case_id, "close_case", rep, NOTE)
    assert world.case(case_id).stage == "closed"


# --- the assurance's data --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "HRK"}, "currency"),  # no longer legal tender anywhere
        ({"currency": "Kina"}, "currency"),
        ({"currency": None}, "currency"),
        ({"amount": None}, "amount"),
        ({"amount": -4_800_000}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": "a lot"}, "amount"),
        ({"instrument": "promise"}, "instrument"),
        ({"instrument": "other"}, "instrument_other"),
        ({"valid_until": "2020-01-01"}, "valid_until"),
        ({"valid_until": None}, "valid_until"),
        ({"provider": ""}, "provider"),
        ({"covers": None}, "covers"),
        ({"estimate": "  "}, "estimate"),
    ],
)
def test_a_bad_assurance_is_refused_naming_its_field(world, community, opened, change, field):
    case_id = opened("assurance")
    version = world.case(case_id).version
    data = {k: v for k, v in {**assurance(world), **change}.items() if v is not None}
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "record_financial_assurance", world.liaison, data)
    assert caught.value.field == field
    assert world.case(case_id).version == version
    assert _assurances(world, case_id) == []


def test_an_assurance_is_recorded_with_its_currency_normalised(world, community, opened):
    case_id = opened("assurance")
    other = assurance(
        world, currency="aud", instrument="other", instrument_other="Parent company guarantee",
        valid_until=_today(world),
    )  # fmt: skip
    world.act(case_id, "record_financial_assurance", world.liaison, other)
    [recorded] = _assurances(world, case_id)
    assert (recorded["currency"], recorded["instrument_other"]) == (
        "AUD",
        "Parent company guarantee",
    )
    world.act(case_id, "start_works", world.liaison, NOTE)  # valid through today
    world.act(case_id, "record_financial_assurance", world.liaison, assurance(world))
    assert [a["instrument_other"] for a in _assurances(world, case_id)] == [
        "Parent company guarantee",
        None,
    ]


# --- loops ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["protocol", "deliberation", "assurance"])
def test_community_suspends_and_resumes_at_the_same_stage(world, community, opened, stage):
    case_id = opened(stage)
    rep = community.rep_actors[0]
    assert _not_permitted(world, case_id, "suspend_process", world.liaison, NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "suspend_process", rep, {"text": "Bad faith: a side deal was offered."})
    case = world.case(case_id)
    assert (case.stage, case.suspended_from) == ("suspended", stage)
    with pytest.raises(InvalidTransition):
        world.act(case_id, "start_works", world.liaison, NOTE)
    assert _not_permitted(world, case_id, "resume_process", world.liaison, NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "resume_process", rep, {"text": "The clan leaders resume."})
    case = world.case(case_id)
    assert (case.stage, case.suspended_from) == (stage, None)


def test_withheld_consent_is_reopened_by_the_community_alone(world, community, opened):
    case_id = opened("decision")
    rep = community.rep_actors[0]
    no = consent(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", rep, no)
    case = world.case(case_id)
    assert case.stage == "withheld"
    assert case.withheld_at == world.clock.now()
    with pytest.raises(InvalidTransition):  # no request for reconsideration in this template
        world.act(case_id, "request_reconsideration", world.liaison, NOTE)
    with world.db.read_session() as session:  # so no window for one is shown as due
        due = deadlines(session, world.clock.now(), horizon_days=400)
    assert not [d for d in due if d.case_id == case_id and d.kind == "reconsideration"]
    assert _not_permitted(world, case_id, "reopen_case", world.liaison, NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "reopen_case", rep, {"text": "The clans reconvene on a new plan."})
    case = world.case(case_id)
    assert (case.stage, case.withheld_at, case.deliberation_started_at) == (
        "disclosure", None, None,
    )  # fmt: skip


def test_declining_to_engage_counts_as_withheld(world, community, opened):
    case_id = opened("protocol")
    rep = community.rep_actors[0]
    assert _not_permitted(world, case_id, "decline_to_engage", world.liaison, NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "decline_to_engage", rep, {"text": "Not with this proponent."})
    assert world.case(case_id).stage == "withheld"


def test_deferral_for_more_information_restarts_the_clock(world, community, opened):
    case_id = opened("decision")
    rep = community.rep_actors[0]
    world.act(case_id, "defer_decision", rep, consent(world, community))
    case = world.case(case_id)
    assert (case.stage, case.deliberation_started_at) == ("disclosure", None)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    world.act(case_id, "request_more_information", rep, {"text": "Where does the silt go?"})
    assert world.case(case_id).stage == "disclosure"


def test_a_material_change_of_the_plan_goes_back_to_disclosure(world, community, opened):
    case_id = opened("works")
    rep = community.rep_actors[0]
    change = {"text": "The tailings will be capped, not removed.",
              "affected_items": ["restoration_plan", "end_land_use"]}  # fmt: skip
    assert _not_permitted(world, case_id, "register_material_change", rep, change) == {
        "role_not_allowed"
    }
    world.act(case_id, "register_material_change", world.liaison, change)
    case = world.case(case_id)
    assert (case.stage, case.deliberation_started_at) == ("disclosure", None)
    activity = {"activity": "earthworks", "phase": "works", "started_on": _today(world)}
    assert _refused(world, case_id, "record_activity_start", world.liaison, activity) == {
        "no_consent_in_force"
    }
    codes = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert codes == {"disclosure_incomplete"}
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    world.act(case_id, "convene_decision", rep, NOTE)
    codes = _refused(world, case_id, "give_consent", rep, consent(world, community))
    assert codes == {"deliberation_period_running"}


def test_withdrawal_stops_the_works_until_the_plan_is_revised(world, community, opened):
    case_id = opened("works")
    rep = community.rep_actors[0]
    activity = {"activity": "earthworks", "phase": "works", "started_on": _today(world)}
    world.act(case_id, "record_activity_start", world.liaison, activity)
    withdrawal = {"text": "Silt in the creek again.", "decided_on": _today(world),
                  "deciding_body": "Council of clan leaders",
                  "activities_affected": ["earthworks"]}  # fmt: skip
    assert _not_permitted(world, case_id, "withdraw_consent", world.liaison, withdrawal) == {
        "role_not_allowed"
    }
    world.act(case_id, "withdraw_consent", rep, withdrawal)
    assert world.case(case_id).stage == "withdrawn"
    assert _refused(world, case_id, "record_activity_start", world.liaison, activity) == {
        "no_consent_in_force"
    }
    world.act(case_id, "renegotiate", rep, {"text": "The clans will hear a revised plan."})
    assert world.case(case_id).stage == "disclosure"


def test_a_condition_breach_reopens_the_decision(world, community, opened):
    case_id = opened("works")
    rep = community.rep_actors[0]
    first = _open_conditions(world, case_id)[0]
    breach = {"condition_id": first, "evidence": "No water test since the works began."}
    assert _not_permitted(world, case_id, "declare_condition_breached", world.liaison, breach) == {
        "role_not_allowed"
    }
    world.act(case_id, "declare_condition_breached", rep, breach)
    assert world.case(case_id).stage == "disclosure"
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        statuses = {c.id: c.status for d in case.decisions for c in d.conditions}
    assert statuses[first] == "breached"
    # the community decides again; the new consent's conditions are the ones closure waits for
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    world.clock.advance(days=protocol()["min_deliberation_days"] + 1)
    world.act(case_id, "convene_decision", rep, NOTE)
    world.act(case_id, "give_consent", rep, consent(world, community, conditions=[]))
    world.act(case_id, "start_works", world.liaison, NOTE)  # the first assurance still holds
    world.act(case_id, "complete_works", world.liaison, NOTE)
    world.act(
        case_id, "confirm_rehabilitation", rep, {"text": "Done.", "completed_on": _today(world)}
    )
    world.act(case_id, "close_case", rep, NOTE)
    assert world.case(case_id).stage == "closed"


def test_invalidation_needs_an_upheld_integrity_finding(world, community, opened):
    case_id = opened("works")
    rep = community.rep_actors[0]
    assert _refused(world, case_id, "invalidate_process", rep, NOTE) == {"no_upheld_finding"}
    world.act(
        case_id,
        "raise_integrity_flag",
        world.liaison,
        {"category": "bribery", "description": "Cash to two clan leaders before the decision."},
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        flag_id = case.integrity_flags[-1].id
    world.review_flag(case_id, community, flag_id, True, "Heard by the council: upheld.")
    assert _not_permitted(world, case_id, "invalidate_process", world.liaison, NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "invalidate_process", rep, {"text": "Bribery upheld."})
    assert world.case(case_id).stage == "invalidated"
    world.act(case_id, "restart_process", rep, {"text": "The process is redone."})
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert (case.stage, case.deliberation_started_at) == ("protocol", None)
        assert case.disclosures
        assert all(d.superseded_at is not None for d in case.disclosures)


def test_the_proponent_may_abandon_but_never_after_closure(world, community, opened):
    case_id = opened("protocol")
    assert _not_permitted(world, case_id, "abandon", community.rep_actors[0], NOTE) == {
        "role_not_allowed"
    }
    world.act(case_id, "abandon", world.liaison, {"text": "The fund was not approved."})
    assert world.case(case_id).stage == "abandoned"
    with pytest.raises(InvalidTransition):
        world.act(case_id, "abandon", world.liaison, NOTE)
