"""``fpic community`` and ``fpic project``: the register's entries added, changed and listed from
the command line, as the account ``--by`` names may, each refusal said by the option it is
about, with exit status 1 and nothing written."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result
from sqlalchemy import select

from fpic.cli import main
from fpic.storage.models import Community, Project, TrailEvent
from tests.factories import World, business_rows


def run(world: World, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", world.db.url, *args])


def _community(world: World, slug: str) -> Community | None:
    with world.db.read_session() as session:
        return session.scalar(select(Community).where(Community.slug == slug))


def _last_done(world: World, action: str) -> dict:
    with world.db.read_session() as session:
        event = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.action == action, TrailEvent.outcome == "done")
            .order_by(TrailEvent.id.desc())
        ).first()
        assert event is not None
        return json.loads(event.data)


ADD = ["community", "add", "--slug", "santa-rosa", "--name", "Santa Rosa", "--region", "Ucayali",
       "--country", "PE", "--institution", "Asamblea comunal", "--language", "shp",
       "--language", "es"]  # fmt: skip


def test_a_community_is_registered_and_listed(world):
    result = run(world, *ADD, "--by", "liaison")
    assert result.exit_code == 0, result.output
    assert "Community santa-rosa registered." in result.output
    added = _community(world, "santa-rosa")
    assert added is not None
    assert added.content_languages == ["shp", "es"]
    listed = run(world, "community", "list")
    assert "santa-rosa\tSanta Rosa\tPE\tAsamblea comunal\tshp, es" in listed.output


def test_a_refusal_names_the_option_and_exits_with_1(world):
    rows = business_rows(world)
    result = run(world, *ADD[:-1], "Spanish", "--by", "liaison")
    assert result.exit_code == 1
    assert "--language must be language codes such as qu, ay or iu." in result.output
    assert "Traceback" not in result.output
    result = run(world, *ADD, "--by", "auditor")
    assert result.exit_code == 1
    assert "Your role (auditor) may not do this." in result.output
    result = run(world, *ADD, "--by", "nobody")
    assert result.exit_code == 1
    assert "There is no active user nobody." in result.output
    assert business_rows(world) == rows


def test_the_community_changes_its_entry(world, community):
    rep = community.rep_actors[0].username
    languages = ["--language", "qu", "--language", "es", "--language", "ay"]
    result = run(world, "community", "edit", "ayllu-qollana", "--institution",
                 "Council of elders", *languages, "--by", rep)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ayllu-qollana changed:" in result.output
    assert "--institution: Community assembly → Council of elders" in result.output
    assert "--language: qu, es → qu, es, ay" in result.output
    after = _community(world, "ayllu-qollana")
    assert after is not None
    assert (after.institution, after.name) == ("Council of elders", "Ayllu Qollana")
    assert _last_done(world, "edit_community")["changes"]["institution"] == {
        "from": "Community assembly", "to": "Council of elders"
    }  # fmt: skip
    again = run(world, "community", "edit", "ayllu-qollana", "--institution",
                "Council of elders", "--by", rep)  # fmt: skip
    assert again.exit_code == 0
    assert "nothing changed" in again.output


def test_the_proponent_cannot_rewrite_a_communitys_institution(world, community):
    rows = business_rows(world)
    result = run(world, "community", "edit", "ayllu-qollana", "--institution", "Friendly",
                 "--by", "liaison")  # fmt: skip
    assert result.exit_code == 1
    assert "may not do this" in result.output
    stranger = world.add_account("facilitator-2", "facilitator")
    rows = business_rows(world)
    result = run(world, "community", "edit", "ayllu-qollana", "--region", "Elsewhere",
                 "--by", stranger.username)  # fmt: skip
    assert result.exit_code == 1
    assert "Only the facilitator of one of this community's cases may do this." in result.output
    assert business_rows(world) == rows
    assert _community(world, "ayllu-qollana").region == "Test region"  # type: ignore[union-attr]


def test_an_unknown_community(world):
    result = run(world, "community", "edit", "nowhere", "--name", "X", "--by", "facilitator")
    assert result.exit_code == 1
    assert "There is no community nowhere." in result.output


def test_a_project_is_registered_changed_and_listed(world):
    result = run(world, "project", "add", "--name", "Carretera", "--proponent", "MTC",
                 "--sector", "infrastructure", "--phase", "construction", "--activity",
                 "access_road", "--design-freeze-on", "2027-09-30", "--by", "liaison")  # fmt: skip
    assert result.exit_code == 0, result.output
    with world.db.read_session() as session:
        project = session.scalars(select(Project).where(Project.name == "Carretera")).one()
    assert f"Project {project.id} registered: Carretera." in result.output
    assert str(project.design_freeze_on) == "2027-09-30"
    result = run(world, "project", "edit", str(project.id), "--phase", "construction",
                 "--phase", "operation", "--design-freeze-on", "", "--by", "admin")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--phase: construction → construction, operation" in result.output
    assert "--design-freeze-on: 2027-09-30 → —" in result.output
    with world.db.read_session() as session:
        changed = session.get(Project, project.id)
        assert changed is not None
        assert (changed.phases, changed.design_freeze_on) == (["construction", "operation"], None)
    assert f"{project.id}\tCarretera\tMTC\tinfrastructure" in run(world, "project", "list").output


def test_a_project_refusal_names_the_option(world, community):
    rows = business_rows(world)
    pid = str(world.project_id)
    result = run(world, "project", "edit", pid, "--design-freeze-on", "30/09/2027",
                 "--by", "liaison")  # fmt: skip
    assert result.exit_code == 1
    assert "--design-freeze-on must be a date (YYYY-MM-DD)." in result.output
    # the community fixture opened a case of the project: its sector stays
    result = run(world, "project", "edit", pid, "--sector", "conservation", "--by", "liaison")
    assert result.exit_code == 1
    assert "--sector cannot change once the project has a case" in result.output
    result = run(world, "project", "edit", pid, "--name", "Other", "--by", "facilitator")
    assert result.exit_code == 1
    assert "may not do this" in result.output
    result = run(world, "project", "edit", "999999", "--name", "X", "--by", "liaison")
    assert result.exit_code == 1
    assert "There is no such project." in result.output
    assert business_rows(world) == rows
