"""Counting through the web forms: an assembly's protocol and vote end to end, and a decision by
consensus shown as one on the case page and the printable record."""

from __future__ import annotations

from tests.factories import PASSWORD, World, decision, disclose_everything, protocol, walk_to
from tests.web.conftest import field_errors

CENSUS = "Census of households, 2025, kept by the assembly's secretary"


def _protocol_form(**overrides: str) -> dict[str, object]:
    return {
        "deciding_body": "General assembly of the households of Qollana",
        "decision_rule": "simple_majority",
        "majority_percent": "",
        "voters": "assembly",
        "eligible_voters": "120",
        "eligible_voters_source": CENSUS,
        "quorum_percent": "40",
        "min_deliberation_days": "30",
        "content_languages": "qu, es",
        "formats": ["written", "oral"],
        "grievance_route": "Complaints to the assembly's grievance committee.",
        "review_every_days": "90",
        "source": "Assembly resolution 12/2026 of 14 March 2026",
        **overrides,
    }


def _to_the_vote(world: World, case_id: int, community) -> None:
    """After the protocol: disclose, let the period run, open negotiation, convene the vote."""
    rep = community.rep_actors[0]
    disclose_everything(world, case_id)
    world.act(case_id, "complete_disclosure", world.liaison, {"text": "All items disclosed."})
    world.clock.advance(days=31)
    world.act(case_id, "open_negotiation", rep, {"text": "Negotiation opened."})
    world.act(case_id, "convene_decision", rep, {"text": "The assembly is convened."})


def test_an_assembly_vote_goes_through_the_protocol_and_decision_forms(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    rep = signed_in("rep-ayllu-qollana-1")
    url = f"/cases/{case_id}/actions/agree_protocol"
    form = rep.get(url).text
    assert "Who votes" in form
    assert "An assembly of community members or households" in form
    missing = rep.submit(url, _protocol_form(eligible_voters_source=""))
    assert missing.status_code == 400
    assert field_errors(missing.text, "eligible_voters_source")
    agreed = rep.submit(url, _protocol_form())
    assert agreed.status_code == 302, agreed.text[:2000]
    page = rep.get(f"/cases/{case_id}").text
    assert "120 entitled to vote" in page
    assert CENSUS.replace("'", "&#39;") in page
    assert "not counted as votes cast" in page

    _to_the_vote(world, case_id, community)
    rep = signed_in("rep-ayllu-qollana-1")  # a month later: the earlier session has expired
    vote_url = f"/cases/{case_id}/actions/give_consent"
    vote_form = rep.get(vote_url).text
    assert 'name="present_count"' in vote_form
    assert "Of the 120 entitled to vote under the protocol." in vote_form
    assert 'name="consensus"' not in vote_form  # a vote, not a consensus
    vote = {
        "decided_on": world.clock.now().date().isoformat(),
        "place": "Community hall",
        "present_count": "55",
        "present": [str(community.reps[0])],
        "votes_for": "40",
        "votes_against": "10",
        "abstentions": "5",
        "scope_phases": ["exploration"],
        "scope_activities": ["drilling"],
        "text_language": "qu",
        "text_original": "Ari, munayku.",
        "password": PASSWORD,
    }
    too_many = rep.submit(vote_url, {**vote, "present_count": "121"})
    assert too_many.status_code == 400
    assert field_errors(too_many.text, "present_count")
    assert world.case(case_id).stage == "decision"
    done = rep.submit(vote_url, vote)
    assert done.status_code == 302, done.text[:2000]
    assert world.case(case_id).stage == "agreement"
    record = signed_in("auditor").get(f"/cases/{case_id}/record").text
    assert "Tally: 40 for, 10 against, 5 abstaining; 55 present of 120 eligible." in record


def test_a_consensus_is_shown_as_consensus_never_as_a_tally(world, signed_in, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community, protocol(decision_rule="consensus"))
    note = "Agreed after two days; the facilitator asked three times and no one objected."
    agreed = decision(world, community, votes_for=0, consensus=True, consensus_note=note)
    world.act(case_id, "give_consent", community.rep_actors[0], agreed)
    auditor = signed_in("auditor")
    for url in (f"/cases/{case_id}/record", f"/cases/{case_id}"):
        page = auditor.get(url).text
        assert "Decided by consensus: no objection was raised." in page, url
        assert note in page, url
        assert "Tally" not in page, url
