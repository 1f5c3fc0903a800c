"""Counting that fits real assemblies (issue #12, item 6): who votes, quorum over those entitled
to vote, a majority over the votes cast (abstentions only where the protocol counts them), and
consensus recorded as consensus. Driven through the engine as a representative would, and the
rule itself checked against plain arithmetic over random tallies."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fpic.storage.migrate import downgrade, upgrade
from fpic.storage.models import Decision, Protocol
from fpic.workflow.errors import GuardRefused, InvalidData
from fpic.workflow.guards import counting_reasons
from tests.factories import Community, World, decision, protocol, walk_to

CENSUS = "Census of households, 2025, kept by the assembly's secretary"


def assembly(**overrides: Any) -> dict[str, Any]:
    """A protocol under which the general assembly of households votes, one vote each."""
    return protocol(
        **{
            "deciding_body": "General assembly of the households of Qollana",
            "voters": "assembly",
            "eligible_voters": 120,
            "eligible_voters_source": CENSUS,
            "quorum_percent": 40,
            **overrides,
        }
    )


def _at_decision(world: World, community: Community, proto: dict[str, Any]) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, proto)
    return case_id


def _vote(world: World, community: Community, **overrides: Any) -> dict[str, Any]:
    """An assembly's vote: the number present, the tally, the representatives who attended."""
    return decision(world, community, present=community.reps[:2], **overrides)


def _reasons(caught: pytest.ExceptionInfo[GuardRefused]) -> list[tuple[str, dict[str, Any]]]:
    return [(r.code, dict(r.params)) for r in caught.value.reasons]


def _decisions(world: World, case_id: int) -> list[Decision]:
    with world.db.read_session() as session:
        return list(session.scalars(select(Decision).where(Decision.case_id == case_id)))


def _protocol(world: World, case_id: int) -> Protocol | None:
    with world.db.read_session() as session:
        return session.scalar(select(Protocol).where(Protocol.case_id == case_id))


# --- an assembly votes -----------------------------------------------------------------------


ASSEMBLY_VOTE = {"present_count": 55, "votes_for": 40, "votes_against": 10, "abstentions": 5}


def test_an_assembly_vote_of_40_for_and_10_against_goes_through(world, community):
    case_id = _at_decision(world, community, assembly())
    vote = _vote(world, community, **ASSEMBLY_VOTE)
    world.act(case_id, "give_consent", community.rep_actors[0], vote)
    assert world.case(case_id).stage == "agreement"
    [recorded] = _decisions(world, case_id)
    assert (recorded.voters, recorded.eligible, recorded.present_count) == ("assembly", 120, 55)
    assert (recorded.votes_for, recorded.votes_against, recorded.abstentions) == (40, 10, 5)
    assert recorded.present_representative_ids == community.reps[:2]
    assert recorded.consensus is False


def test_the_assembly_quorum_is_counted_over_those_entitled_to_vote(world, community):
    case_id = _at_decision(world, community, assembly(eligible_voters=180, quorum_percent=50))
    rep = community.rep_actors[0]
    thin = _vote(world, community, present_count=89, votes_for=70, votes_against=10)
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "give_consent", rep, thin)
    assert _reasons(caught) == [("quorum_not_met", {"present": 89, "total": 180, "quorum": 50})]
    assert "89 of 180 entitled to vote present" in caught.value.reasons[0].render()
    assert _decisions(world, case_id) == []
    world.act(case_id, "give_consent", rep, {**thin, "present_count": 90})
    assert world.case(case_id).stage == "agreement"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"present_count": 121}, "present_count", id="more-present-than-entitled"),
        pytest.param({"present_count": None}, "present_count", id="number-present-missing"),
        pytest.param({"present_count": -4}, "present_count", id="negative-present"),
        pytest.param({"votes_against": -1}, "votes_against", id="negative-votes"),
        pytest.param({"abstentions": -2}, "abstentions", id="negative-abstentions"),
        pytest.param({"votes_for": 50}, "votes_for", id="more-votes-than-present"),
        pytest.param({"consensus": True}, "consensus", id="consensus-under-a-vote"),
    ],
)
def test_an_impossible_count_is_refused_with_the_field_named(world, community, change, field):
    case_id = _at_decision(world, community, assembly())
    vote = _vote(world, community, **{**ASSEMBLY_VOTE, **change})
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "give_consent", community.rep_actors[0], vote)
    assert caught.value.field == field
    assert world.case(case_id).stage == "decision"


def test_a_council_counts_its_mandated_representatives_whatever_number_is_sent(world, community):
    case_id = _at_decision(world, community, protocol())
    rep = community.rep_actors[0]
    claimed = decision(world, community, present_count=40)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "give_consent", rep, claimed)
    assert caught.value.field == "present_count"
    world.act(case_id, "give_consent", rep, decision(world, community))
    [recorded] = _decisions(world, case_id)
    assert (recorded.voters, recorded.eligible, recorded.present_count) == ("representatives", 3, 3)


# --- abstentions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counted", "expected"),
    [
        pytest.param(False, [], id="abstentions-not-cast"),
        pytest.param(
            True,
            [
                (
                    "majority_not_reached",
                    {"rule": "simple_majority", "needed": 50, "for": 5, "cast": 11},
                )
            ],
            id="abstentions-cast",
        ),
    ],
)
def test_5_for_4_against_2_abstaining_passes_unless_abstentions_count(world, counted, expected):
    council = world.add_community("ayllu-llallagua", ["qu", "es"], reps=11)
    case_id = _at_decision(world, council, protocol(abstentions_count=counted))
    vote = decision(world, council, votes_for=5, votes_against=4, abstentions=2)
    if expected:
        with pytest.raises(GuardRefused) as caught:
            world.act(case_id, "give_consent", council.rep_actors[0], vote)
        assert _reasons(caught) == expected
        assert world.case(case_id).stage == "decision"
    else:
        world.act(case_id, "give_consent", council.rep_actors[0], vote)
        assert world.case(case_id).stage == "agreement"


# --- the protocol ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"eligible_voters": None}, "eligible_voters", id="number-missing"),
        pytest.param({"eligible_voters": 0}, "eligible_voters", id="no-one-entitled"),
        pytest.param({"eligible_voters_source": " "}, "eligible_voters_source", id="no-source"),
        pytest.param({"voters": "elders"}, "voters", id="unknown-voters"),
    ],
)
def test_an_assembly_protocol_states_how_many_may_vote_and_where_from(
    world, community, change, field
):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "agree_protocol", community.rep_actors[0], assembly(**change))
    assert caught.value.field == field
    assert _protocol(world, case_id) is None


def test_the_majority_share_is_kept_only_for_a_qualified_majority(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    rep = community.rep_actors[0]
    world.act(case_id, "agree_protocol", rep, protocol(majority_percent=75, eligible_voters=99))
    agreed = _protocol(world, case_id)
    assert agreed is not None
    # a simple majority has no share of its own, and a council counts its mandates
    assert (agreed.majority_percent, agreed.eligible_voters) == (None, None)
    assert (agreed.voters, agreed.abstentions_count) == ("representatives", False)


# --- consensus -------------------------------------------------------------------------------

NO_OBJECTION = "Agreed after two days; the facilitator asked three times and no one objected."


def test_consensus_needs_no_vote_count_and_is_recorded_as_consensus(world, community):
    case_id = _at_decision(world, community, protocol(decision_rule="consensus"))
    agreed = decision(
        world,
        community,
        votes_for=None,
        votes_against=None,
        abstentions=None,
        consensus=True,
        consensus_note=NO_OBJECTION,
    )
    world.act(case_id, "give_consent", community.rep_actors[0], agreed)
    [recorded] = _decisions(world, case_id)
    assert recorded.consensus is True
    assert recorded.consensus_note == NO_OBJECTION


def test_consensus_with_an_objection_is_refused(world, community):
    case_id = _at_decision(world, community, protocol(decision_rule="consensus"))
    objected = decision(
        world,
        community,
        consensus=True,
        consensus_note=NO_OBJECTION,
        votes_for=2,
        votes_against=1,
    )
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "give_consent", community.rep_actors[0], objected)
    assert _reasons(caught) == [("no_consensus", {})]
    assert _decisions(world, case_id) == []


# --- the rule against plain arithmetic -------------------------------------------------------


def _oracle(
    rule: str,
    majority: int,
    quorum: int,
    abstentions_count: bool,
    eligible: int,
    p: dict[str, Any],
    consenting: bool,
) -> bool:
    quorum_met = eligible > 0 and Fraction(p["present_count"], eligible) >= Fraction(quorum, 100)
    if not consenting:
        return quorum_met
    if rule == "consensus":
        return (
            quorum_met and p["consensus"] and p["votes_against"] == 0 and bool(p["consensus_note"])
        )
    cast = p["votes_for"] + p["votes_against"] + (p["abstentions"] if abstentions_count else 0)
    if cast == 0:
        return False
    share = Fraction(p["votes_for"], cast)
    if rule == "simple_majority":
        return quorum_met and share > Fraction(1, 2)
    return quorum_met and share >= Fraction(majority, 100)


@st.composite
def tallies(draw: st.DrawFn) -> dict[str, Any]:
    eligible = draw(st.integers(0, 400))
    present = draw(st.integers(0, eligible))
    votes_for = draw(st.integers(0, present))
    votes_against = draw(st.integers(0, present - votes_for))
    abstentions = draw(st.integers(0, present - votes_for - votes_against))
    return {
        "eligible": eligible,
        "present_count": present,
        "votes_for": votes_for,
        "votes_against": votes_against,
        "abstentions": abstentions,
        "consensus": draw(st.booleans()),
        "consensus_note": draw(st.sampled_from([None, NO_OBJECTION])),
    }


@settings(max_examples=400, deadline=None)
@given(
    rule=st.sampled_from(["consensus", "simple_majority", "qualified_majority"]),
    majority=st.integers(51, 100),
    quorum=st.integers(1, 100),
    voters=st.sampled_from(["representatives", "assembly"]),
    abstentions_count=st.booleans(),
    p=tallies(),
    consenting=st.booleans(),
)
def test_the_rule_is_plain_arithmetic_over_any_tally(
    rule, majority, quorum, voters, abstentions_count, p, consenting
):
    agreed = Protocol(
        decision_rule=rule,
        majority_percent=majority if rule == "qualified_majority" else None,
        quorum_percent=quorum,
        voters=voters,
        abstentions_count=abstentions_count,
    )
    reasons = counting_reasons(agreed, p, consenting)
    expected = _oracle(rule, majority, quorum, abstentions_count, p["eligible"], p, consenting)
    assert (not reasons) == expected, [r.render() for r in reasons]
    for reason in reasons:
        for key in reason.params:
            assert f"%({key})s" in reason.message
        reason.render()


# --- processes already under way -------------------------------------------------------------


def test_a_consensus_recorded_before_the_migration_stays_a_consensus(world, community):
    case_id = _at_decision(world, community, protocol(decision_rule="consensus"))
    agreed = decision(world, community, consensus=True, consensus_note=NO_OBJECTION)
    world.act(case_id, "give_consent", community.rep_actors[0], agreed)
    engine = world.db.engine
    downgrade(engine, "0003")
    upgrade(engine)
    [recorded] = _decisions(world, case_id)
    assert (recorded.voters, recorded.consensus) == ("representatives", True)
    assert recorded.present_count == recorded.eligible == 3
    agreed_protocol = _protocol(world, case_id)
    assert agreed_protocol is not None
    # abstentions counted as votes cast before: a process under way is counted as agreed
    assert agreed_protocol.abstentions_count is True
