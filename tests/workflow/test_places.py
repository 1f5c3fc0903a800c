"""Where the project is, through the engine: the project's area and the community's territory
recorded as maps, the screening on the trail, and every rule that reads it refusing with its
reason (issue 17): a territory means FPIC is required, a World Heritage property stops an
extractive project's consent, a protected area of IUCN category I to IV needs a compatibility
assessment, critical habitat needs an item on biodiversity, and a changed area is a material
change screened again."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from fpic.accounts.registry import import_areas
from fpic.evidence.intake import receive
from fpic.read.places import case_place
from fpic.storage.models import Case, ProjectArea, Territory, TrailEvent
from fpic.workflow.errors import GuardRefused, InvalidData, NotPermitted
from fpic.workflow.guards import GuardContext, no_world_heritage_overlap
from fpic.workflow.process import shipped_templates
from tests.factories import (
    Community,
    World,
    decision,
    disclose_everything,
    disclosure,
    project_area,
    territory,
    walk_to,
)

GENERAL = shipped_templates()["fpic-general"]
NOTE = {"text": "Recorded by the field team."}
#: the world's project area (tests.factories.PROJECT_AREA) is the box -71.98..-71.94 by
#: -13.56..-13.52; these reference areas lie around it
PARK = (
    "PA-II",
    "Parque Nacional Cerro Verde",
    "II",
    "National Park",
    (-71.96, -13.54, -71.90, -13.50),
)
#: shares the project's eastern edge, longitude -71.94, from -13.56 to -13.54
HERITAGE = (
    "WH-1", "Qhapaq demo landscape", "Not Applicable", "World Heritage Site (cultural)",
    (-71.94, -13.56, -71.92, -13.54),
)  # fmt: skip
RESERVE = ("PA-VI", "Reserva comunal", "VI", "Communal Reserve", (-71.97, -13.55, -71.95, -13.53))
#: about 15 km east: beyond the 10 km buffer
FAR_PARK = (
    "PA-Ia",
    "Reserva científica",
    "Ia",
    "Strict Nature Reserve",
    (-71.80, -13.56, -71.78, -13.52),
)
HABITAT = ("CH-1", "Puna wetland", None, "", (-71.97, -13.55, -71.95, -13.53))


def _box(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _import(world: World, tmp_path: Path, kind: str, rows: list[tuple[Any, ...]]) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"WDPAID": ref, "NAME": name, "IUCN_CAT": cat, "DESIG_ENG": desig},
            "geometry": _box(*box),
        }
        for ref, name, cat, desig, box in rows
    ]
    path = tmp_path / f"{kind}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    import_areas(world.engine, world.admin, path, kind=kind, source="Test WDPA", version="2026-11")


def _codes(error: Exception) -> list[str]:
    return [r.code for r in error.reasons]  # type: ignore[attr-defined]


def _refused(world: World, case_id: int, trigger: str, actor: Any, data: Any) -> list[str]:
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, trigger, actor, data)
    return _codes(caught.value)


def _invalid(world: World, case_id: int, trigger: str, data: Any) -> InvalidData:
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, trigger, world.liaison, data)
    return caught.value


def _event(world: World, case_id: int, action: str) -> dict[str, Any]:
    """The data of the case's latest event of ``action``, as the trail holds it."""
    with world.db.read_session() as session:
        event = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.case_id == case_id, TrailEvent.action == action)
            .order_by(TrailEvent.seq.desc())
        ).first()
        assert event is not None
        return json.loads(event.data) if isinstance(event.data, str) else event.data


def _case(world: World, case_id: int) -> Case:
    return world.case(case_id)


# --- recording the project's area --------------------------------------------------------------


def test_the_area_typed_is_kept_as_normalised_geojson_listed_on_the_trail(world, community):
    case_id = world.open_case(community)
    world.act(case_id, "record_project_area", world.liaison, project_area())
    with world.db.read_session() as session:
        [row] = session.scalars(select(ProjectArea)).all()
        assert json.loads(row.geojson)["type"] == "Polygon"
        assert 19_000_000 < row.area_m2 < 21_000_000  # 4.3 km by 4.4 km near Cusco
    event = _event(world, case_id, "record_project_area")
    assert "coordinates" not in event["payload"]  # the shape is the listed file's
    [kept] = event["files"]
    assert (kept["sha256"], kept["media_type"]) == (row.sha256, "application/geo+json")
    screening = event["records"]["screening"]
    assert screening["area_id"] == row.id
    assert screening["buffer_m"] == 10_000
    assert _case(world, case_id).screening == screening
    assert _case(world, case_id).current_area_id == row.id


def test_the_area_may_come_as_a_map_file_kept_beside_its_normalised_form(world, community):
    case_id = world.open_case(community)
    sent = json.dumps(
        {"type": "Feature", "properties": {}, "geometry": _box(-72, -13.6, -71.9, -13.5)}
    )
    upload = receive(io.BytesIO(sent.encode()), "permit-map.geojson")
    world.act(case_id, "record_project_area", world.liaison, {"map": [upload], "label": "drilling"})
    event = _event(world, case_id, "record_project_area")
    names = [f["name"] for f in event["files"]]
    assert names == ["permit-map.geojson", "project-area.geojson"]
    with world.db.read_session() as session:
        assert session.scalars(select(ProjectArea.label)).all() == ["drilling"]


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({}, "map", "invalid_data"),
        ({"coordinates": "0 0\n1 1\n1 0\n0 1"}, "coordinates", "area_invalid"),
        (
            {"coordinates": "-71.9, -13.5\nnorth, south\n-71.8, -13.4"},
            "coordinates",
            "area_coordinates",
        ),
        (
            {"coordinates": "-13.5, -71.9\n-13.5, -95\n-13.4, -95"},
            "coordinates",
            "area_out_of_range",
        ),
        (
            {"coordinates": "179.9, -16\n-179.9, -16\n-179.9, -17"},
            "coordinates",
            "area_antimeridian",
        ),
        ({"coordinates": "-71.9, -13.5", "label": "blasting"}, "label", "invalid_data"),
    ],
)
def test_a_bad_area_is_refused_naming_the_field(world, community, data, field, code):
    case_id = world.open_case(community)
    refused = _invalid(world, case_id, "record_project_area", data)
    assert refused.field == field
    assert refused.reasons[0].code == code
    assert _case(world, case_id).current_area_id is None


def test_a_file_and_typed_corners_together_are_refused(world, community):
    case_id = world.open_case(community)
    upload = receive(io.BytesIO(json.dumps(_box(-72, -13.6, -71.9, -13.5)).encode()), "a.geojson")
    refused = _invalid(world, case_id, "record_project_area", {"map": [upload], **project_area()})
    assert refused.field == "coordinates"


def test_a_document_is_not_a_map(world, community):
    from tests.factories import evidence_files

    case_id = world.open_case(community)
    refused = _invalid(world, case_id, "record_project_area", {"map": evidence_files()[:1]})
    assert refused.field == "map"


def test_only_the_proponent_records_its_area(world, community):
    case_id = world.open_case(community)
    with pytest.raises(NotPermitted):
        world.act(case_id, "record_project_area", community.rep_actors[0], project_area())


# --- the territory --------------------------------------------------------------------------


def test_a_confidential_territory_is_drawn_only_for_those_the_community_allowed(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    world.act(
        case_id, "complete_mapping", community.rep_actors[0],
        territory(files_confidential=True, files_visible_to=["facilitator"]),
    )  # fmt: skip
    event = _event(world, case_id, "complete_mapping")
    assert "coordinates" not in event["payload"]
    assert [f["visible_to"] for f in event["files"]] == [["facilitator"]]
    assert event["files"][0]["name"] is None  # a confidential file's name stays off the trail
    with world.db.read_session() as session:
        [row] = session.scalars(select(Territory)).all()
        assert row.visible_to == ["facilitator"]
        case = session.get(Case, case_id)
        # the territory was found by the screening the mapping ran again
        [found] = [f for f in case.screening["findings"] if f["kind"] == "territory"]
        assert (found["relation"], found["community_id"]) == ("overlaps", community.id)
        for who, drawn in (
            (world.liaison, False), (world.auditor, False), (community.rep_actors[1], True),
        ):  # fmt: skip
            place = case_place(session, who, case)
            kinds = [layer.kind for layer in place.layers]
            assert ("territory" in kinds) is drawn, who.username
            assert place.withheld == (0 if drawn else 1)
            # what it overlaps is a fact everyone reading the case may see
            assert [f.kind for f in place.findings] == ["territory"]


# --- screening out ------------------------------------------------------------------------------


def test_screening_out_needs_the_projects_area(world, community):
    case_id = world.open_case(community)
    assert _refused(world, case_id, "screen_out", world.liaison, NOTE) == ["no_project_area"]


def test_screening_out_is_refused_when_the_area_reaches_the_territory(world, community):
    case_id = world.open_case(community)
    world.act(case_id, "record_project_area", world.liaison, project_area())
    # the territory is mapped on another case of the community after this one was screened
    mapped = world.open_case(community)
    walk_to(world, mapped, "protocol", community)
    assert _refused(world, case_id, "screen_out", world.liaison, NOTE) == ["territory_overlap"]
    # another community's case is not held back by this community's territory
    neighbour = world.open_case(world.add_community("uma-jaqi", ["ay"]))
    world.act(neighbour, "screen_project", world.liaison, NOTE)
    world.act(neighbour, "screen_out", world.liaison, NOTE)
    assert _case(world, neighbour).stage == "not_required"


def test_a_shared_boundary_is_close_enough_to_require_fpic(world, community):
    mapped = world.open_case(community)
    walk_to(world, mapped, "mapping", community)
    # the territory ends where the project's area begins: longitude -71.98
    beside = "-72.05, -13.60\n-71.98, -13.60\n-71.98, -13.50\n-72.05, -13.50"
    world.act(mapped, "complete_mapping", community.rep_actors[0], territory(coordinates=beside))
    case_id = world.open_case(community)
    world.act(case_id, "screen_project", world.liaison, NOTE)
    with pytest.raises(GuardRefused) as caught:
        world.act(case_id, "screen_out", world.liaison, NOTE)
    [reason] = caught.value.reasons
    assert reason.code == "territory_overlap"
    assert "shares a boundary" in reason.message


def test_screening_out_goes_through_far_from_every_territory(world, community):
    case_id = world.open_case(community)
    world.act(case_id, "record_project_area", world.liaison, project_area())
    world.act(case_id, "screen_out", world.liaison, NOTE)
    assert _case(world, case_id).stage == "not_required"


# --- the rules on the decision and the disclosure -------------------------------------------


def _at_decision(world: World, community: Community) -> int:
    case_id = world.open_case(community)
    walk_to(world, case_id, "decision", community)
    return case_id


def test_world_heritage_stops_an_extractive_projects_consent(world, community, tmp_path):
    _import(world, tmp_path, "protected_area", [HERITAGE])
    case_id = _at_decision(world, community)
    rep = community.rep_actors[0]
    codes = _refused(world, case_id, "give_consent", rep, decision(world, community))
    assert codes == ["world_heritage_overlap"]
    [found] = [f for f in _case(world, case_id).screening["findings"] if f.get("world_heritage")]
    assert found["relation"] == "touches"
    # the community can still say no
    no = decision(world, community, votes_for=0, votes_against=len(community.reps))
    world.act(case_id, "withhold_consent", rep, no)
    assert _case(world, case_id).stage == "withheld"


def test_world_heritage_does_not_stop_a_conservation_project(world, community, tmp_path):
    _import(world, tmp_path, "protected_area", [HERITAGE])
    case_id = _at_decision(world, community)
    with world.db.engine.begin() as connection:
        connection.execute(text("UPDATE projects SET sector = 'conservation'"))
    world.act(case_id, "give_consent", community.rep_actors[0], decision(world, community))
    assert _case(world, case_id).stage == "agreement"


def test_a_template_may_lift_the_world_heritage_rule(world, community, tmp_path):
    _import(world, tmp_path, "protected_area", [HERITAGE])
    case_id = _at_decision(world, community)
    lifted = dataclasses.replace(GENERAL, world_heritage_no_go=False)
    trigger = GENERAL.triggers["give_consent"]
    with world.db.read_session() as session:
        case = session.get(Case, case_id)
        now = world.clock.now()
        args = (session, GENERAL, case, community.rep_actors[0], trigger, now)
        assert [r.code for r in no_world_heritage_overlap(GuardContext(*args))] == [
            "world_heritage_overlap"
        ]
        assert no_world_heritage_overlap(GuardContext(session, lifted, *args[2:])) == []


def test_a_strict_protected_area_needs_an_assessment_before_disclosure_completes(
    world, community, tmp_path
):
    _import(world, tmp_path, "protected_area", [PARK, RESERVE, FAR_PARK])
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    disclose_everything(world, case_id)
    refused = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert refused == ["compatibility_not_assessed"]  # the park; not the VI reserve, not the far Ia
    screening = _case(world, case_id).screening
    refs = {f["name"]: f["ref"] for f in screening["findings"]}
    assert "Reserva científica" not in refs
    assessment = {"assessed_by": "Independent ecologist", "text": "Compatible with zoning."}
    bad = _invalid(
        world,
        case_id,
        "record_compatibility_assessment",
        {**assessment, "protected_area": refs["Reserva comunal"]},
    )
    assert bad.field == "protected_area"
    world.act(
        case_id, "record_compatibility_assessment", world.liaison,
        {**assessment, "protected_area": refs["Parque Nacional Cerro Verde"]},
    )  # fmt: skip
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)
    assert _case(world, case_id).stage == "deliberation"


def test_critical_habitat_needs_an_item_on_biodiversity(world, community, tmp_path):
    _import(world, tmp_path, "critical_habitat", [HABITAT])
    case_id = world.open_case(community)
    walk_to(world, case_id, "disclosure", community)
    disclose_everything(world, case_id)
    refused = _refused(world, case_id, "complete_disclosure", world.liaison, NOTE)
    assert refused == ["critical_habitat_not_disclosed"]
    item = GENERAL.critical_habitat_item
    world.act(
        case_id,
        "register_disclosure",
        world.liaison,
        disclosure(world, item, ["qu"], ["written", "oral"]),
    )
    assert _refused(world, case_id, "complete_disclosure", world.liaison, NOTE) == [
        "critical_habitat_not_disclosed"  # Spanish is still missing
    ]
    world.act(
        case_id,
        "register_disclosure",
        world.liaison,
        disclosure(world, item, ["es"], ["written", "oral"]),
    )
    world.act(case_id, "complete_disclosure", world.liaison, NOTE)


def test_a_changed_area_is_a_material_change_screened_again(world, community, tmp_path):
    other = world.add_community("uma-jaqi", ["ay"])
    at_decision = world.open_case(other)
    walk_to(world, at_decision, "decision", other)
    _import(world, tmp_path, "protected_area", [PARK])  # a new dataset: found at the next screening
    # the proponent redraws the area on the first community's case
    early = world.open_case(community)
    bigger = "-71.99, -13.57\n-71.93, -13.57\n-71.93, -13.51\n-71.99, -13.51"
    world.act(early, "record_project_area", world.liaison, project_area(coordinates=bigger))
    rep = other.rep_actors[0]
    assert "screening_out_of_date" in _refused(
        world, at_decision, "give_consent", rep, decision(world, other)
    )
    world.act(at_decision, "register_material_change", world.liaison, {"text": "Wider pit."})
    case = _case(world, at_decision)
    assert case.stage == "disclosure"
    assert case.screening["area_id"] == case.current_area_id
    # the park's assessment was recorded against the old area: it is asked for again
    disclose_everything(world, at_decision)
    assert _refused(world, at_decision, "complete_disclosure", world.liaison, NOTE) == [
        "compatibility_not_assessed"
    ]


def test_a_material_change_may_bring_the_new_area_itself(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "deliberation", community)
    before = _case(world, case_id).current_area_id
    moved = "-71.97, -13.57\n-71.95, -13.57\n-71.95, -13.55\n-71.97, -13.55"
    world.act(
        case_id, "register_material_change", world.liaison,
        {"text": "The camp moves south.", "coordinates": moved, "label": "camp"},
    )  # fmt: skip
    case = _case(world, case_id)
    assert case.current_area_id != before
    assert case.screening["area_id"] == case.current_area_id
    event = _event(world, case_id, "register_material_change")
    assert event["records"]["project_area_id"] == case.current_area_id


def test_the_community_may_record_its_territory_again_before_deliberation(world, community):
    case_id = world.open_case(community)
    walk_to(world, case_id, "protocol", community)
    smaller = "-71.99, -13.57\n-71.93, -13.57\n-71.93, -13.51\n-71.99, -13.51"
    world.act(case_id, "record_territory", community.rep_actors[1], territory(coordinates=smaller))
    with world.db.read_session() as session:
        rows = session.scalars(select(Territory).order_by(Territory.id)).all()
    assert len(rows) == 2
    assert rows[1].area_m2 < rows[0].area_m2
    [found] = [f for f in _case(world, case_id).screening["findings"] if f["kind"] == "territory"]
    assert found["ref"] == str(rows[1].id)  # screened against the territory as it is now
    with pytest.raises(NotPermitted):
        world.act(case_id, "record_territory", world.liaison, territory())


def test_screening_again_needs_an_area_to_screen(world, community):
    case_id = world.open_case(community)
    refused = _invalid(world, case_id, "screen_project", NOTE)
    assert refused.field == "buffer_km"
    world.act(case_id, "record_project_area", world.liaison, project_area())
    world.act(case_id, "screen_project", world.liaison, {"buffer_km": 25})
    assert _case(world, case_id).screening["buffer_m"] == 25_000


def test_an_area_with_hundreds_of_corners_is_kept(world, community):
    """Its GeoJSON runs far past the first 8 kB: fpic keeps its own file as GeoJSON."""
    import math

    corners = [
        (
            -71.96 + 0.03 * math.cos(2 * math.pi * k / 2000),
            -13.54 + 0.03 * math.sin(2 * math.pi * k / 2000),
        )
        for k in range(900)
    ]
    typed = "\n".join(f"{lon:.5f}, {lat:.5f}" for lon, lat in corners)
    case_id = world.open_case(community)
    world.act(case_id, "record_project_area", world.liaison, {"coordinates": typed})
    [kept] = _event(world, case_id, "record_project_area")["files"]
    assert kept["media_type"] == "application/geo+json"
    assert kept["size"] > 8192


def test_a_refused_map_leaves_no_corner_on_the_trail(world, community):
    """A refusal is recorded on the case's chain, which every reader of the case sees: the
    corners typed (a confidential territory's, perhaps) are never in it."""
    case_id = world.open_case(community)
    walk_to(world, case_id, "mapping", community)
    crossing = "-71.91, -13.51\n-71.89, -13.49\n-71.89, -13.51\n-71.91, -13.49"
    with pytest.raises(InvalidData) as caught:
        world.act(case_id, "complete_mapping", community.rep_actors[0],
                  territory(coordinates=crossing, files_confidential=True))  # fmt: skip
    assert "-71.9" in caught.value.reasons[0].render()  # told to the person who typed them
    with world.db.read_session() as session:
        refused = session.scalars(
            select(TrailEvent).where(TrailEvent.case_id == case_id, TrailEvent.outcome == "refused")
        ).all()
    assert refused
    assert all("-71.9" not in e.data and "-13.5" not in e.data for e in refused)
