"""Every guard in fpic/workflow/guards.py: when it lets an action through, and each distinct way it
refuses, with the reason's code and parameters. Guards are driven through the engine where a
person would meet them, and called with a GuardContext where the situation is easier to state
directly (a staff member asking to act as a representative, a moment in the future)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import func, select

from fpic.i18n import Reason
from fpic.read import queries
from fpic.storage.models import Case, TrailEvent
from fpic.trail import audit
from fpic.workflow.actions import ACTIONS
from fpic.workflow.actors import Actor
from fpic.workflow.errors import GuardRefused, InvalidData, NotFound, NotPermitted
from fpic.workflow.guards import GUARDS, GuardContext, evaluate, time_limit_reasons
from fpic.workflow.process import parse_template, shipped_templates
from tests.factories import (
    Community,
    World,
    business_rows,
    case_at,
    decision,
    disclose_everything,
    disclosure,
    protocol,
    territory,
)

GENERAL = "fpic-general"
NCIP = "ncip-ao3-2012"
NOTE = {"text": "Recorded by the FPIC team in the community hall."}


def _today(world: World) -> str:
    return world.clock.now().date().isoformat()


def _case_at(
    world: World,
    community: Community,
    stage: str,
    template: str = GENERAL,
    proto: dict[str, Any] | None = None,
) -> int:
    """A new case walked along the template's main path until it stands at ``stage``."""
    return case_at(world, community, template, stage, proto or protocol())


def _summary(reasons: list[Reason] | tuple[Reason, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Codes and parameters; each message must stay an untranslated id that takes its params."""
    for reason in reasons:
        for key in reason.params:
            assert f"%({key})s" in reason.message, (reason.code, key)
        reason.render()
    return [(r.code, dict(r.params)) for r in reasons]


def _check(
    world: World,
    case_id: int,
    guard: str,
    actor: Actor,
    trigger: str,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Call one guard directly; ``data`` is cleaned by the trigger's own effect first."""
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        template = world.engine.template_of(case)
        ctx = GuardContext(
            session, template, case, actor, template.triggers[trigger], now or world.clock.now()
        )
        if data is not None:
            ctx.payload = ACTIONS[ctx.trigger.effect].parse(data, ctx)
        return _summary(GUARDS[guard].check(ctx))


def _refusal(
    world: World, case_id: int, trigger: str, actor: Actor, data: dict[str, Any] | None
) -> list[tuple[str, dict[str, Any]]]:
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return _summary(caught.value.reasons)


def _flag(world: World, case_id: int, actor: Actor, category: str, description: str) -> int:
    world.act(
        case_id,
        "raise_integrity_flag",
        actor,
        {"category": category, "description": description},
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.integrity_flags[-1].id


def _review(world: World, case_id: int, rep: Actor, flag_id: int, upheld: bool) -> None:
    """The case's facilitator (chosen by the community's representative ``rep``) reviews."""
    community = next(c for c in world.communities.values() if rep in c.rep_actors)
    world.review_flag(case_id, community, flag_id, upheld, "Heard both sides in plenary.")


def _may(world: World, case_id: int, actor: Actor, trigger: str) -> list[str]:
    """The who-may refusals (fpic.workflow.permissions) the engine gives ``actor`` for
    ``trigger``."""
    with world.db.read_session() as session:
        case = world.engine.case_for(session, case_id, actor)
        option = world.engine.option(session, case, actor, trigger)
        assert option is not None
        return [r.code for r in option.reasons if r.code in PERMISSION_CODES]


def _denied(world: World, case_id: int, trigger: str, actor: Actor) -> list[str]:
    with pytest.raises(NotPermitted) as caught:
        world.act(case_id, trigger, actor, NOTE)
    return [r.code for r in caught.value.reasons]


PERMISSION_CODES = {"role_not_allowed", "not_community_representative", "no_valid_mandate"}


def _ask(world: World, case_id: int, rep: Actor, text: str, language: str) -> int:
    world.act(case_id, "ask_question", rep, {"text": text, "language": language})
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.questions[-1].id


def _answer(world: World, case_id: int, question_id: int, answer: str, language: str) -> None:
    world.act(
        case_id,
        "answer_question",
        world.liaison,
        {"question_id": question_id, "answer": answer, "language": language},
    )


def _disclose(world: World, case_id: int, combos: list[tuple[str, str, str]]) -> None:
    for item, language, fmt in combos:
        data = disclosure(world, item, [language], [fmt])
        world.act(case_id, "register_disclosure", world.liaison, data)


def _all_combos(template: str, languages: list[str], formats: list[str]) -> list[tuple[str, ...]]:
    items = shipped_templates()[template].required_disclosure_items
    return [(i, lang, fmt) for i in items for lang in languages for fmt in formats]


def _mandated_rep(
    world: World, community: Community, name: str, username: str, start: date, end: date
) -> Actor:
    rep_id = world.register_representative(community, name, start, end)
    return world.add_account(username, "representative", rep_id)


def _withhold(world: World, community: Community, case_id: int) -> None:
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", community.rep_actors[0], no)


# --- the registry ----------------------------------------------------------------------------

#: every guard these tests cover, and whether it reads the action's data (needs_payload)
COVERED: dict[str, bool] = {
    "no_open_integrity_flag": False,
    "not_concerned": True,
    "integrity_judged_independently": True,
    "chosen_by_community": False,
    "community_registered": False,
    "protocol_agreed": False,
    "deliberation_period_elapsed": False,
    "consent_covers_activity": True,
    "disclosure_complete": False,
    "questions_answered": False,
    "decision_rule_met": True,
    "conditions_stated": True,
    "scope_stated": True,
    "within_reconsideration_window": False,
    "reconsideration_not_requested": False,
    "upheld_integrity_finding": False,
}


@pytest.mark.parametrize("name", sorted(COVERED))
def test_guard_is_registered_under_its_function_name(name):
    rule = GUARDS[name]
    assert rule.name == name
    assert rule.check.__name__ == name
    assert rule.needs_payload is COVERED[name]


# --- a mandate in force (fpic.workflow.permissions) --------------------------------------


def test_mandated_representative_of_the_case_community_may_act(world, community):
    case_id = _case_at(world, community, "mapping")
    assert _may(world, case_id, community.rep_actors[1], "complete_mapping") == []


def test_representative_of_another_community_does_not_see_the_case(world, community):
    case_id = _case_at(world, community, "mapping")
    aymara = world.add_community("jach-a-marka-machaqa", ["ay", "es"], reps=1)
    with pytest.raises(NotFound):
        world.act(case_id, "complete_mapping", aymara.rep_actors[0], NOTE)


@pytest.mark.parametrize("role", ["liaison", "admin", "auditor", "facilitator", "mediator"])
def test_nobody_else_speaks_for_the_community(world, community, role):
    case_id = _case_at(world, community, "mapping")
    assert _denied(world, case_id, "complete_mapping", getattr(world, role)) == ["role_not_allowed"]


def test_expired_mandate_is_refused_from_the_day_after_it_ends(world):
    chiaraque = world.add_community("ayllu-chiaraque", ["qu", "es"], reps=1, mandate_days=10)
    rep = chiaraque.rep_actors[0]
    case_id = _case_at(world, chiaraque, "mapping")
    world.clock.advance(days=10)  # 2026-03-12, the mandate's last day
    assert _may(world, case_id, rep, "complete_mapping") == []
    world.clock.advance(days=1)
    assert _denied(world, case_id, "complete_mapping", rep) == ["no_valid_mandate"]
    assert world.case(case_id).stage == "mapping"


def test_mandate_not_yet_started_is_refused_until_its_first_day(world, community):
    case_id = _case_at(world, community, "mapping")
    felipa = _mandated_rep(
        world,
        community,
        "Felipa Quispe Mamani",
        "rep-felipa-quispe",
        date(2026, 3, 9),
        date(2028, 3, 8),
    )
    assert _denied(world, case_id, "complete_mapping", felipa) == ["no_valid_mandate"]
    world.clock.advance(days=7)
    assert _may(world, case_id, felipa, "complete_mapping") == []
    world.act(case_id, "complete_mapping", felipa, territory())
    assert world.case(case_id).stage == "protocol"


# --- no_open_integrity_flag ------------------------------------------------------------------


def test_open_integrity_flags_block_consent_until_each_is_reviewed(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    assert _check(world, case_id, "no_open_integrity_flag", rep, "give_consent") == []
    bribe = _flag(
        world, case_id, world.liaison, "bribery", "Cash offered to two leaders before the vote."
    )
    side_deal = _flag(
        world, case_id, rep, "secret_side_deal", "A private pasture deal offered to one family."
    )
    assert _check(world, case_id, "no_open_integrity_flag", rep, "give_consent") == [
        ("open_integrity_flag", {"count": 2, "categories": "bribery, secret_side_deal"})
    ]
    _review(world, case_id, rep, bribe, upheld=False)
    assert _refusal(world, case_id, "give_consent", rep, decision(world, community)) == [
        ("open_integrity_flag", {"count": 1, "categories": "secret_side_deal"})
    ]
    _review(world, case_id, rep, side_deal, upheld=False)
    assert _check(world, case_id, "no_open_integrity_flag", rep, "give_consent") == []


# --- community_registered --------------------------------------------------------------------


def test_community_with_mandated_representatives_is_registered(world, community):
    case_id = _case_at(world, community, "rights_holders")
    liaison = world.liaison
    check = _check(world, case_id, "community_registered", liaison, "confirm_rights_holders")
    assert check == []


def test_community_without_any_representative_is_not_registered(world):
    pampa = world.add_community("ayllu-pampa-ansa", ["qu", "es"], reps=0)
    case_id = _case_at(world, pampa, "rights_holders")
    assert _refusal(world, case_id, "confirm_rights_holders", world.liaison, NOTE) == [
        ("no_mandated_representatives", {"day": "2026-03-02"})
    ]
    assert world.case(case_id).stage == "rights_holders"


def test_community_whose_mandates_all_expired_is_not_registered(world):
    sallani = world.add_community("ayllu-sallani", ["qu", "es"], reps=2, mandate_days=5)
    case_id = _case_at(world, sallani, "rights_holders")
    world.clock.advance(days=6)
    assert _refusal(world, case_id, "confirm_rights_holders", world.liaison, NOTE) == [
        ("no_mandated_representatives", {"day": "2026-03-08"})
    ]
    _mandated_rep(
        world, sallani, "Justina Apaza Condori", "rep-justina", date(2026, 3, 8), date(2029, 3, 7)
    )
    world.act(case_id, "confirm_rights_holders", world.liaison, NOTE)
    assert world.case(case_id).stage == "mapping"


# --- protocol_agreed -------------------------------------------------------------------------


def test_disclosure_waits_for_the_communitys_protocol(world, community):
    case_id = _case_at(world, community, "protocol")
    liaison = world.liaison
    assert _check(world, case_id, "protocol_agreed", liaison, "register_disclosure") == [
        ("no_protocol", {})
    ]
    world.act(case_id, "agree_protocol", community.rep_actors[0], protocol())
    assert _check(world, case_id, "protocol_agreed", liaison, "register_disclosure") == []


# --- deliberation_period_elapsed -------------------------------------------------------------


@pytest.mark.parametrize("stage", ["screening", "disclosure"])
def test_deliberation_has_not_started_before_disclosure_is_complete(world, community, stage):
    case_id = _case_at(world, community, stage)
    rep = community.rep_actors[0]
    assert _check(world, case_id, "deliberation_period_elapsed", rep, "give_consent") == [
        ("deliberation_not_started", {})
    ]


def test_decision_is_refused_until_the_last_second_of_the_period_then_allowed(world, community):
    case_id = _case_at(world, community, "deliberation")
    rep = community.rep_actors[0]
    assert world.case(case_id).deliberation_started_at == datetime.fromisoformat(
        "2026-03-02T09:00:00+00:00"
    )
    world.act(case_id, "open_negotiation", rep, NOTE)
    world.act(case_id, "convene_decision", rep, NOTE)
    world.clock.advance(days=29)
    running = [("deliberation_period_running", {"ends": "2026-04-01"})]
    assert _refusal(world, case_id, "give_consent", rep, decision(world, community)) == running
    world.clock.advance(days=1, seconds=-1)
    assert _refusal(world, case_id, "give_consent", rep, decision(world, community)) == running
    world.clock.advance(seconds=1)
    world.act(case_id, "give_consent", rep, decision(world, community))
    assert world.case(case_id).stage == "agreement"


def test_material_change_restarts_the_deliberation_clock(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    assert _check(world, case_id, "deliberation_period_elapsed", rep, "give_consent") == []
    world.act(
        case_id,
        "register_material_change",
        world.liaison,
        {
            "text": "A tailings dam is added above the spring.",
            "affected_items": ["potential_harms"],
        },
    )
    assert world.case(case_id).stage == "disclosure"
    assert _check(world, case_id, "deliberation_period_elapsed", rep, "give_consent") == [
        ("deliberation_not_started", {})
    ]
    combos = _all_combos(GENERAL, ["qu", "es"], ["written", "oral"])
    _disclose(world, case_id, [c for c in combos if c[0] == "potential_harms"])
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert world.case(case_id).deliberation_started_at == datetime.fromisoformat(
        "2026-04-02T09:00:00+00:00"
    )
    assert _check(world, case_id, "deliberation_period_elapsed", rep, "give_consent") == [
        ("deliberation_period_running", {"ends": "2026-05-02"})
    ]


# --- consent_covers_activity -----------------------------------------------------------------


def _activity(world: World, activity: str, phase: str | None) -> dict[str, Any]:
    return {"activity": activity, "phase": phase, "started_on": _today(world)}


def test_no_activity_starts_before_the_community_consents(world, community):
    case_id = _case_at(world, community, "decision")
    drilling = _activity(world, "drilling", "exploration")
    assert _refusal(world, case_id, "record_activity_start", world.liaison, drilling) == [
        ("no_consent_in_force", {})
    ]


def test_consent_covers_only_the_activities_and_phases_it_names(world, community):
    case_id = _case_at(world, community, "agreement")  # consent: drilling and camp, exploration
    liaison = world.liaison
    pit = _activity(world, "open_pit", "exploration")
    assert _refusal(world, case_id, "record_activity_start", liaison, pit) == [
        ("activity_not_consented", {"activity": "open_pit"})
    ]
    later = _activity(world, "drilling", "construction")
    assert _refusal(world, case_id, "record_activity_start", liaison, later) == [
        ("phase_not_consented", {"phase": "construction"})
    ]
    camp = _activity(world, "camp", None)
    guard, trigger = "consent_covers_activity", "record_activity_start"
    assert _check(world, case_id, guard, liaison, trigger, camp) == []
    world.act(
        case_id, "record_activity_start", liaison, _activity(world, "drilling", "exploration")
    )
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert [(a.activity, a.phase) for a in case.activities] == [("drilling", "exploration")]


def test_withdrawn_consent_no_longer_covers_any_activity(world, community):
    case_id = _case_at(world, community, "monitoring")
    rep = community.rep_actors[0]
    drilling = _activity(world, "drilling", "exploration")
    world.act(case_id, "record_activity_start", world.liaison, drilling)
    world.act(
        case_id,
        "withdraw_consent",
        rep,
        {
            "text": "The spring of Ch'illiwani dried up after the drilling began.",
            "decided_on": _today(world),
            "deciding_body": "Community assembly",
            "activities_affected": ["drilling"],
        },
    )
    assert world.case(case_id).stage == "withdrawn"
    assert _refusal(world, case_id, "record_activity_start", world.liaison, drilling) == [
        ("no_consent_in_force", {})
    ]


# --- disclosure_complete ---------------------------------------------------------------------


def test_missing_disclosure_is_named_by_item_language_and_format(world, community):
    case_id = _case_at(world, community, "disclosure")
    combos = _all_combos(GENERAL, ["qu", "es"], ["written", "oral"])
    missing = ("potential_harms", "qu", "oral")
    assert missing in combos
    _disclose(world, case_id, [c for c in combos if c != missing])
    assert _refusal(world, case_id, "complete_disclosure", world.liaison, NOTE) == [
        ("disclosure_incomplete", {"count": 1, "missing": "potential_harms (qu, oral)"})
    ]
    _disclose(world, case_id, [missing])
    assert _check(world, case_id, "disclosure_complete", world.liaison, "complete_disclosure") == []
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert world.case(case_id).stage == "deliberation"


def test_nothing_disclosed_counts_every_combination_and_shows_the_first_five(world, community):
    case_id = _case_at(world, community, "disclosure")
    assert _check(world, case_id, "disclosure_complete", world.liaison, "complete_disclosure") == [
        (
            "disclosure_incomplete",
            {
                "count": 32,  # 8 items x (qu, es) x (written, oral)
                "missing": "nature_scope_and_pace (qu, written); nature_scope_and_pace (qu, oral); "
                "nature_scope_and_pace (es, written); nature_scope_and_pace (es, oral); "
                "reasons_for_project (qu, written)",
            },
        )
    ]


def test_ncip_disclosure_asks_for_the_ncip_items_in_the_agreed_language(world):
    tuwali = world.add_community("tuwali-hungduan", ["ifk", "fil"], reps=3)
    proto = protocol(content_languages=["ifk"], formats=["oral"], deciding_body="Council of elders")
    case_id = _case_at(world, tuwali, "second_assembly", template=NCIP, proto=proto)
    assert _check(world, case_id, "disclosure_complete", world.liaison, "complete_disclosure") == [
        (
            "disclosure_incomplete",
            {
                "count": 7,
                "missing": "operation_plan_and_scope (ifk, oral); costs_and_benefits (ifk, oral); "
                "adverse_effects (ifk, oral); mitigation_measures (ifk, oral); "
                "impact_statement (ifk, oral)",
            },
        )
    ]


def test_disclosure_complete_without_a_protocol_asks_for_the_protocol(world, community):
    case_id = _case_at(world, community, "protocol")
    assert _check(world, case_id, "disclosure_complete", world.liaison, "complete_disclosure") == [
        ("no_protocol", {})
    ]


# --- questions_answered ----------------------------------------------------------------------


def test_every_question_must_be_answered_before_disclosure_closes(world, community):
    case_id = _case_at(world, community, "disclosure")
    rep = community.rep_actors[0]
    disclose_everything(world, case_id)
    assert _check(world, case_id, "questions_answered", world.liaison, "complete_disclosure") == []
    water = _ask(world, case_id, rep, "Maymantataq yakuta apanqaku?", "qu")
    road = _ask(world, case_id, rep, "¿El camino de acceso cruzará los pastos comunales?", "es")
    assert _refusal(world, case_id, "complete_disclosure", world.liaison, NOTE) == [
        ("questions_unanswered", {"count": 2})
    ]
    _answer(world, case_id, water, "Mayumanta, mana pukyukunamantachu.", "qu")
    assert _check(world, case_id, "questions_answered", world.liaison, "complete_disclosure") == [
        ("questions_unanswered", {"count": 1})
    ]
    _answer(world, case_id, road, "No; el trazo rodea los pastos por el norte.", "es")
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert world.case(case_id).stage == "deliberation"


# --- decision_rule_met -----------------------------------------------------------------------


def test_quorum_short_is_refused_with_the_count(world, community):
    case_id = _case_at(world, community, "decision")  # 3 mandated, quorum 60 %
    rep = community.rep_actors[0]
    alone = decision(world, community, present=community.reps[:1], votes_for=1)
    assert _refusal(world, case_id, "give_consent", rep, alone) == [
        ("quorum_not_met", {"present": 1, "total": 3, "quorum": 60})
    ]
    two = decision(world, community, present=community.reps[:2], votes_for=2)
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", two) == []


def test_quorum_counts_only_representatives_mandated_on_the_day(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    today = world.clock.now().date()
    unmandated = world.register_representative(
        community, "Tomasa Huaman Ccori", today, today + timedelta(days=365), confirm=False
    )
    present = [community.reps[0], unmandated]
    data = decision(world, community, present=present, votes_for=1)
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", data) == [
        ("quorum_not_met", {"present": 1, "total": 3, "quorum": 60})
    ]
    # nor does a vote: only the mandated representatives present may vote
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "give_consent", rep, {**data, "votes_for": 2})
    assert caught.value.field == "votes_for"


def test_a_no_is_checked_for_quorum_but_not_for_the_consent_rule(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    no = decision(world, community, votes_for=0, votes_against=3)
    assert _check(world, case_id, "decision_rule_met", rep, "withhold_consent", no) == []
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", no) == [
        (
            "majority_not_reached",
            {"rule": "simple_majority", "needed": 50, "for": 0, "cast": 3},
        )
    ]
    thin = decision(world, community, present=community.reps[:1], votes_for=0, votes_against=1)
    assert _refusal(world, case_id, "withhold_consent", rep, thin) == [
        ("quorum_not_met", {"present": 1, "total": 3, "quorum": 60})
    ]


AGREED = "Agreed in the assembly after two days; no one raised an objection."


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        pytest.param(
            {"consensus": True, "consensus_note": AGREED, "votes_for": 3}, [], id="consensus"
        ),
        pytest.param(
            {"consensus": True, "consensus_note": AGREED}, [], id="consensus-without-a-vote"
        ),
        pytest.param(
            {"consensus": True, "votes_for": 3},
            [("no_consensus_note", {})],
            id="consensus-without-its-note",
        ),
        pytest.param(
            {"consensus": True, "votes_for": 2, "votes_against": 1},
            [("no_consensus", {})],
            id="consensus-with-one-objection",
        ),
        pytest.param(
            {"consensus": False, "votes_for": 3},
            [("no_consensus", {})],
            id="consensus-not-recorded",
        ),
    ],
)
def test_consensus_rule(world, community, votes, expected):
    proto = protocol(decision_rule="consensus")
    case_id = _case_at(world, community, "decision", proto=proto)
    rep = community.rep_actors[0]
    data = decision(world, community, **votes)
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", data) == expected


def test_consensus_with_one_objection_is_refused_by_the_engine(world, community):
    case_id = _case_at(world, community, "decision", proto=protocol(decision_rule="consensus"))
    rep = community.rep_actors[0]
    data = decision(
        world,
        community,
        consensus=True,
        votes_for=2,
        votes_against=1,
        dissent="The family of the upper sector objects to the camp.",
    )
    assert _refusal(world, case_id, "give_consent", rep, data) == [("no_consensus", {})]
    assert world.case(case_id).stage == "decision"


@pytest.mark.parametrize(
    ("rule", "percent", "votes_for", "votes_against", "expected"),
    [
        pytest.param("simple_majority", None, 3, 1, [], id="simple-3-of-4"),
        pytest.param(
            "simple_majority",
            None,
            2,
            2,
            [
                (
                    "majority_not_reached",
                    {"rule": "simple_majority", "needed": 50, "for": 2, "cast": 4},
                )
            ],
            id="simple-tie-2-2",
        ),
        pytest.param("qualified_majority", 75, 3, 1, [], id="qualified-75-at-3-of-4"),
        pytest.param(
            "qualified_majority",
            75,
            2,
            2,
            [
                (
                    "majority_not_reached",
                    {"rule": "qualified_majority", "needed": 75, "for": 2, "cast": 4},
                )
            ],
            id="qualified-75-below-2-of-4",
        ),
        pytest.param(
            "qualified_majority",
            67,
            2,
            1,
            [
                (
                    "majority_not_reached",
                    {"rule": "qualified_majority", "needed": 67, "for": 2, "cast": 3},
                )
            ],
            id="qualified-67-below-2-of-3",
        ),
        pytest.param("qualified_majority", 66, 2, 1, [], id="qualified-66-at-2-of-3"),
    ],
)
def test_majority_rules(world, rule, percent, votes_for, votes_against, expected):
    ayllu = world.add_community("ayllu-llallagua", ["ay", "es"], reps=4)
    proto = protocol(
        decision_rule=rule, majority_percent=percent, content_languages=["ay"], formats=["oral"]
    )
    case_id = _case_at(world, ayllu, "decision", proto=proto)
    rep = ayllu.rep_actors[0]
    data = decision(world, ayllu, votes_for=votes_for, votes_against=votes_against)
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", data) == expected


def test_tie_under_simple_majority_is_refused_by_the_engine(world):
    ayllu = world.add_community("ayllu-llallagua", ["ay", "es"], reps=4)
    proto = protocol(content_languages=["ay"], formats=["oral"])
    case_id = _case_at(world, ayllu, "decision", proto=proto)
    tie = decision(world, ayllu, votes_for=2, votes_against=2)
    assert _refusal(world, case_id, "give_consent", ayllu.rep_actors[0], tie) == [
        ("majority_not_reached", {"rule": "simple_majority", "needed": 50, "for": 2, "cast": 4})
    ]


def test_decision_rule_without_a_protocol_asks_for_the_protocol(world, community):
    case_id = _case_at(world, community, "protocol")
    rep = community.rep_actors[0]
    data = decision(world, community)
    assert _check(world, case_id, "decision_rule_met", rep, "give_consent", data) == [
        ("no_protocol", {})
    ]


# --- conditions_stated -----------------------------------------------------------------------

WATER_CONDITION = {
    "text": "Monthly joint water sampling of the Vilcanota tributaries with the water committee.",
    "language": "es",
    "obligated_party": "Andes Copper S.A.",
    "due_on": "2026-12-31",
    "verification": "Sampling reports countersigned by the community water committee.",
}


def test_consent_with_conditions_needs_a_condition(world, community):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    bare = decision(world, community)
    assert _refusal(world, case_id, "give_consent_with_conditions", rep, bare) == [
        ("no_conditions", {})
    ]
    stated = decision(world, community, conditions=[WATER_CONDITION])
    trigger = "give_consent_with_conditions"
    assert _check(world, case_id, "conditions_stated", rep, trigger, stated) == []
    world.act(case_id, trigger, rep, stated)
    assert world.case(case_id).stage == "agreement"


# --- scope_stated ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "overrides", "expected"),
    [
        pytest.param("give_consent", {}, [], id="consent-with-scope"),
        pytest.param(
            "give_consent", {"scope_activities": []}, [("no_scope", {})], id="consent-no-scope"
        ),
        pytest.param(
            "give_partial_consent",
            {"rejected_components": ["open_pit"]},
            [],
            id="partial-with-rejections",
        ),
        pytest.param(
            "give_partial_consent",
            {},
            [("no_rejected_components", {})],
            id="partial-without-rejections",
        ),
        pytest.param(
            "give_partial_consent",
            {"scope_activities": []},
            [("no_scope", {}), ("no_rejected_components", {})],
            id="partial-without-anything",
        ),
    ],
)
def test_scope_must_be_stated(world, community, trigger, overrides, expected):
    case_id = _case_at(world, community, "decision")
    rep = community.rep_actors[0]
    data = decision(world, community, **overrides)
    assert _check(world, case_id, "scope_stated", rep, trigger, data) == expected


def test_blanket_consent_is_refused_by_the_engine(world, community):
    case_id = _case_at(world, community, "decision")
    blanket = decision(world, community, scope_activities=[], scope_phases=[])
    assert _refusal(world, case_id, "give_consent", community.rep_actors[0], blanket) == [
        ("no_scope", {})
    ]


# --- within_reconsideration_window and reconsideration_not_requested -------------------------


def _pin_released(world: World, case_id: int, name: str) -> None:
    """As if the case had been opened on the released version ``name`` (same stages)."""
    path = f"processes/released/{name}"
    earlier = parse_template((resources.files("fpic.workflow") / path).read_text("utf-8"), path)
    with world.db.write_session() as session, session.begin():
        case = session.get(Case, case_id)
        assert case is not None
        case.template_version, case.template_hash = earlier.version, earlier.content_hash


def test_a_released_versions_window_still_counts_from_when_consent_was_withheld(world, community):
    """fpic-general 1.4.0 had a 30-day window counted from the recording: its cases keep it."""
    case_id = _case_at(world, community, "decision")
    _pin_released(world, case_id, "fpic-general-1.4.0.toml")
    guard, trigger = "within_reconsideration_window", "request_reconsideration"
    assert _check(world, case_id, guard, world.liaison, trigger) == [("not_withheld", {})]
    _withhold(world, community, case_id)
    withheld = world.case(case_id).withheld_at
    assert withheld == datetime.fromisoformat("2026-04-02T09:00:00+00:00")
    last_moment = withheld + timedelta(days=30)
    assert _check(world, case_id, guard, world.liaison, trigger, now=last_moment) == []
    later = last_moment + timedelta(days=1)
    assert _check(world, case_id, guard, world.liaison, trigger, now=later) == [
        ("reconsideration_window_closed", {"ends": "2026-05-02"})
    ]


def _limits(
    world: World, case_id: int, trigger: str, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        template = world.engine.template_of(case)
        ctx = GuardContext(session, template, case, world.liaison, template.triggers[trigger], now)
        return _summary(time_limit_reasons(ctx))


@pytest.mark.parametrize(
    ("template", "stage"),
    [
        pytest.param(GENERAL, "decision", id="general-protocol-default"),
        pytest.param(NCIP, "decision_meeting", id="ncip-section-27"),
    ],
)
def test_reconsideration_window_runs_fifteen_days_from_the_decisions_date(
    world, community, template, stage
):
    case_id = _case_at(world, community, stage, template=template)
    _withhold(world, community, case_id)
    decided = world.clock.now()
    assert world.case(case_id).milestones["withhold_consent"] == "2026-04-02"
    limit = shipped_templates()[template].limits["reconsideration"]
    source = limit.source or limit.default_source or ""
    trigger = "request_reconsideration"
    assert _limits(world, case_id, trigger, decided + timedelta(days=15)) == []
    assert _limits(world, case_id, trigger, decided + timedelta(days=16)) == [
        ("limit_passed", {"limit": limit.title, "source": source, "ends": "2026-04-17"})
    ]
    world.clock.advance(days=16)
    proposal = {"text": "A smaller pit.", "proposal_items": [limit_item(template)]}
    assert _refusal(world, case_id, trigger, world.liaison, proposal) == [
        ("limit_passed", {"limit": limit.title, "source": source, "ends": "2026-04-17"})
    ]
    assert world.case(case_id).reconsideration_requested_at is None


def limit_item(template: str) -> str:
    return shipped_templates()[template].required_disclosure_items[0]


def test_a_window_that_has_not_started_is_refused(world, community):
    case_id = _case_at(world, community, "decision")
    assert _limits(world, case_id, "request_reconsideration", world.clock.now()) == [
        ("limit_not_started", {"limit": "Request for reconsideration"})
    ]


def test_reconsideration_may_be_requested_only_once(world, community):
    case_id = _case_at(world, community, "decision_meeting", template=NCIP)
    _withhold(world, community, case_id)
    liaison, guard = world.liaison, "reconsideration_not_requested"
    assert _check(world, case_id, guard, liaison, "request_reconsideration") == []
    proposal = {
        "text": "New proposal: the weir moves 2 km below the terraces of Hungduan.",
        "proposal_items": ["operation_plan_and_scope"],
    }
    world.act(case_id, "request_reconsideration", liaison, proposal)
    assert _check(world, case_id, guard, liaison, "request_reconsideration") == [
        ("reconsideration_already_requested", {})
    ]
    assert _refusal(world, case_id, "request_reconsideration", liaison, proposal) == [
        ("reconsideration_already_requested", {})
    ]


# --- upheld_integrity_finding ----------------------------------------------------------------


def test_invalidation_needs_an_upheld_integrity_finding(world, community):
    case_id = _case_at(world, community, "deliberation")
    rep = community.rep_actors[0]
    none = [("no_upheld_finding", {})]
    assert _refusal(world, case_id, "invalidate_process", rep, NOTE) == none
    gift = _flag(
        world, case_id, rep, "gift_outside_budget", "Roofing sheets handed out before the vote."
    )
    assert _check(world, case_id, "upheld_integrity_finding", rep, "invalidate_process") == none
    _review(world, case_id, rep, gift, upheld=False)
    assert _check(world, case_id, "upheld_integrity_finding", rep, "invalidate_process") == none
    threat = _flag(
        world, case_id, world.liaison, "force_or_threat", "Leaders threatened by contractors."
    )
    _review(world, case_id, rep, threat, upheld=True)
    assert _check(world, case_id, "upheld_integrity_finding", rep, "invalidate_process") == []
    world.act(case_id, "invalidate_process", rep, {"text": "Threats upheld by the assembly."})
    assert world.case(case_id).stage == "invalidated"


# --- evaluate, and what a refusal leaves behind ----------------------------------------------


def _blocked_decision(world: World, community: Community) -> tuple[int, dict[str, Any]]:
    """A decision meeting with an open flag, an open question and the period still running."""
    case_id = _case_at(world, community, "deliberation")
    rep = community.rep_actors[0]
    world.act(case_id, "open_negotiation", rep, NOTE)
    world.act(case_id, "convene_decision", rep, NOTE)
    _flag(world, case_id, world.liaison, "wining_and_dining", "A feast paid by the contractor.")
    _ask(world, case_id, rep, "Pitaq allpata allichanqa minata wisq'aspa?", "qu")
    data = decision(world, community, present=community.reps[:1], votes_for=1, scope_activities=[])
    return case_id, data


BLOCKED = [
    ("open_integrity_flag", {"count": 1, "categories": "wining_and_dining"}),
    ("deliberation_period_running", {"ends": "2026-04-01"}),
    ("questions_unanswered", {"count": 1}),
    ("quorum_not_met", {"present": 1, "total": 3, "quorum": 60}),
    ("no_scope", {}),
]


def test_every_failing_reason_is_reported_at_once_in_the_triggers_guard_order(world, community):
    case_id, data = _blocked_decision(world, community)
    assert _refusal(world, case_id, "give_consent", community.rep_actors[0], data) == BLOCKED


def test_without_a_payload_only_the_situation_guards_are_evaluated(world, community):
    case_id, _data = _blocked_decision(world, community)
    rep = community.rep_actors[0]
    situation = BLOCKED[:3]
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        template = world.engine.template_of(case)
        trigger = template.triggers["give_consent"]
        ctx = GuardContext(session, template, case, rep, trigger, world.clock.now())
        assert _summary(evaluate(ctx)) == situation
        options = {o.trigger.name: o for o in world.engine.options(session, case, rep)}
    assert _summary(options["give_consent"].reasons) == situation
    assert not options["give_consent"].allowed


def _case_snapshot(world: World, case_id: int) -> tuple[Any, ...]:
    case = world.case(case_id)
    return (
        case.stage,
        case.version,
        case.updated_at,
        case.stage_entered_at,
        case.deliberation_started_at,
        case.withheld_at,
    )


def test_a_refused_action_changes_nothing_and_is_logged_once_on_the_case_chain(world, community):
    case_id, data = _blocked_decision(world, community)
    rep = community.rep_actors[0]
    version = world.case(case_id).version
    case_before, rows_before = _case_snapshot(world, case_id), business_rows(world)
    with world.db.read_session() as session:
        events_before = [e.id for e in queries.case_events(session, case_id)]
        system_before = session.scalar(
            select(func.count()).where(TrailEvent.chain == audit.SYSTEM_CHAIN)
        )
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "give_consent", rep, data)
    assert _case_snapshot(world, case_id) == case_before
    assert business_rows(world) == rows_before
    with world.db.read_session() as session:
        events = queries.case_events(session, case_id)
        system_after = session.scalar(
            select(func.count()).where(TrailEvent.chain == audit.SYSTEM_CHAIN)
        )
        assert audit.verify_database(session).intact
    assert [e.id for e in events[:-1]] == events_before
    assert system_after == system_before
    logged = events[-1]
    assert (logged.action, logged.outcome, logged.actor, logged.actor_role) == (
        "give_consent",
        "refused",
        rep.username,
        "representative",
    )
    assert (logged.case_id, logged.from_stage, logged.to_stage) == (case_id, "decision", "decision")
    assert json.loads(logged.data) == {
        "error": "guard_refused",
        "reasons": [r.as_data() for r in caught.value.reasons],
        "version_seen": version,
    }
    assert [r["code"] for r in json.loads(logged.data)["reasons"]] == [c for c, _ in BLOCKED]
