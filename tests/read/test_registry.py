"""The history of a register entry (fpic.read.registry): the events that added and changed a
community, with its mandates, or a project, newest first, for whoever reads the entry's page."""

from __future__ import annotations

from sqlalchemy import select

from fpic.accounts.registry import (
    add_community,
    add_project,
    edit_community,
    edit_project,
    revoke_mandate,
)
from fpic.read.registry import community_edit_refusals, community_history, project_history
from fpic.storage.models import Mandate
from fpic.workflow.actors import Actor
from tests.factories import Community, World


def _history(world: World, actor: Actor, community_id: int) -> list:
    with world.db.read_session() as session:
        return community_history(session, actor, community_id)


def test_a_communitys_history_is_its_entry_and_its_mandates_newest_first(world, community):
    edit_community(world.engine, world.facilitator, community.id, {"institution": "Council"})
    entries = _history(world, world.liaison, community.id)
    actions = [e.action for e in entries]
    # the liaison proposed it; the facilitator recorded and confirmed three mandates
    assert actions == [
        "edit_community",
        *["confirm_mandate", "record_mandate"] * 3,
        "add_community",
    ]
    changed = entries[0]
    assert changed.changed
    assert changed.actor == world.facilitator.username
    assert [(c.field, c.old, c.new) for c in changed.changes] == [
        ("institution", "Community assembly", "Council")
    ]
    recorded = entries[-2]
    assert recorded.representative == "Representative 1 of ayllu-qollana"
    assert not recorded.changed
    assert {c.field for c in recorded.changes} == {
        "granted_by",
        "resolved_on",
        "valid_from",
        "valid_until",
    }
    assert entries[1].representative == "Representative 3 of ayllu-qollana"  # confirmed
    added = entries[-1]
    assert added.actor == world.liaison.username
    assert ("institution", None, "Community assembly") in [
        (c.field, c.old, c.new) for c in added.changes
    ]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs, reverse=True)


def test_an_ended_mandate_is_in_the_history(world, community):
    rep = community.rep_actors[0]
    with world.db.read_session() as session:
        mandate_id = session.scalars(
            select(Mandate.id).where(Mandate.representative_id == community.reps[2])
        ).one()
    revoke_mandate(world.engine, rep, mandate_id, resolution="Acta 11/2026",
                   effective_on=world.clock.now().date())  # fmt: skip
    [ended] = _history(world, world.auditor, community.id)[:1]
    assert ended.action == "revoke_mandate"
    assert ended.representative == "Representative 3 of ayllu-qollana"
    assert [c.field for c in ended.changes] == ["resolution", "effective_on"]


def test_another_communitys_history_is_not_mixed_in(world, community):
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    edit_community(world.engine, other.rep_actors[0], other.id, {"region": "Puno"})
    # communities 10 and 11, whose ids start as community 1's does
    for n in range(3, 12):
        add_community(world.engine, world.liaison, {
            "slug": f"c-{n}", "name": f"C {n}", "region": "R", "country": "PE",
            "institution": "Assembly", "content_languages": ["qu"]})  # fmt: skip
    mine = _history(world, world.auditor, community.id)
    assert [e.action for e in mine].count("add_community") == 1
    assert all(e.action != "edit_community" for e in mine)
    assert [e.action for e in _history(world, world.auditor, other.id)] == [
        "edit_community",
        "confirm_mandate",
        "record_mandate",
        "add_community",
    ]
    assert [e.action for e in _history(world, world.auditor, 10)] == ["add_community"]


def test_a_representative_reads_their_own_communitys_history_only(world, community: Community):
    other = world.add_community("uma-jaqi", ["ay"], reps=1)
    own_rep = community.rep_actors[0]
    assert _history(world, own_rep, community.id)  # as their community's page shows it
    assert _history(world, own_rep, other.id) == []
    assert _history(world, own_rep, 999_999) == []


def test_only_those_who_read_every_chain_get_the_event_itself(world, community):
    assert not any(e.linked for e in _history(world, world.liaison, community.id))
    assert not any(e.linked for e in _history(world, community.rep_actors[0], community.id))
    assert all(e.linked for e in _history(world, world.auditor, community.id))


def test_a_projects_history(world):
    project_id = add_project(world.engine, world.liaison, {"name": "Road", "proponent": "MTC"})
    edit_project(world.engine, world.admin, project_id, {"design_freeze_on": "2027-05-01"})
    with world.db.read_session() as session:
        entries = project_history(session, world.liaison, project_id)
        others = project_history(session, world.liaison, world.project_id)
    assert [e.action for e in entries] == ["edit_project", "add_project"]
    assert [(c.field, c.old, c.new) for c in entries[0].changes] == [
        ("design_freeze_on", None, "2027-05-01")
    ]
    assert [e.action for e in others] == ["add_project"]


def test_who_may_change_a_communitys_entry_is_asked_as_the_engine_asks_it(world, community):
    today = world.clock.now().date()
    with world.db.read_session() as session:

        def codes(actor: Actor) -> list[str]:
            return [r.code for r in community_edit_refusals(session, actor, community.id, today)]

        assert codes(world.facilitator) == []
        assert codes(community.rep_actors[0]) == []
        assert codes(world.liaison) == ["role_not_allowed"]
        assert codes(world.admin) == ["role_not_allowed"]
