"""Screening a project against the territories and the reference datasets: what it overlaps
(and by how many square metres), touches, or comes near (and how far), measured against PROJ's
geodesics; across the antimeridian; and the spatial index that finds the candidates."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import shapely.ops
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry import box as shapely_box
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from fpic.accounts.registry import import_areas
from fpic.geo import screening
from fpic.geo.measure import area_m2, frame_for
from fpic.geo.reference import Imported
from fpic.geo.screening import (
    NEAR,
    OVERLAPS,
    TOUCHES,
    Finding,
    Screening,
    reference_index,
    screen,
)
from fpic.geo.shapes import area_from_coordinates, normalised_geojson
from fpic.storage.models import AreaDataset, ProjectArea, ReferenceArea, Territory
from tests.factories import TERRITORY, Community, World, make_world, project_area
from tests.geo.samples import (
    GEOD,
    PARK,
    PROJECT,
    TAVEUNI,
    Row,
    box,
    moved,
    multipolygon,
    polygon,
    wdpa_feature,
    write_wdpa,
)

WDPA = "UNEP-WCMC and IUCN, World Database on Protected Areas"
#: the project's south-east corner, and its latitudes
EAST, SOUTH, NORTH = -71.94, -13.56, -13.52


@pytest.fixture(autouse=True)
def _fresh_indexes() -> Iterator[None]:
    """Each test starts with no index kept, so that the builds counted are its own."""
    screening._INDEXES.clear()
    yield
    screening._INDEXES.clear()


@dataclass
class Place:
    """A world with a community, and helpers to put areas in it."""

    world: World
    community: Community
    tmp: Path
    _files: int = 0

    @property
    def case_id(self) -> int:
        return self.community.registration_case

    def project(self, area: BaseGeometry, label: str = "", project_id: int | None = None) -> int:
        """A project area recorded as the action would record it (its normalised GeoJSON)."""
        geojson = normalised_geojson(area).decode()
        row = ProjectArea(
            project_id=project_id or self.world.project_id, label=label, geojson=geojson,
            sha256=hashlib.sha256(geojson.encode()).hexdigest(), area_m2=area_m2(area),
            case_id=self.case_id, recorded_at=self.world.clock.now(),
            recorded_by_id=self.world.liaison.user_id,
        )  # fmt: skip
        with self.world.db.write_session() as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def territory(self, community: Community, area: BaseGeometry) -> int:
        geojson = normalised_geojson(area).decode()
        row = Territory(
            community_id=community.id, geojson=geojson,
            sha256=hashlib.sha256(geojson.encode()).hexdigest(), area_m2=area_m2(area),
            case_id=community.registration_case, recorded_at=self.world.clock.now(),
            recorded_by_id=self.world.liaison.user_id,
        )  # fmt: skip
        with self.world.db.write_session() as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    def dataset(
        self,
        areas: Sequence[tuple[Any, BaseGeometry | dict[str, Any]]],
        *,
        kind: str = "protected_area",
        source: str = WDPA,
        version: str = "2027-01",
        **properties: Any,
    ) -> Imported:
        """(id, shape) pairs imported as a dataset through the engine, by the administrator."""
        rows = [
            Row(wdpa_feature(ref, s if isinstance(s, dict) else shapely.geometry.mapping(s),
                             name=f"Area {ref}", **properties))
            for ref, s in areas
        ]  # fmt: skip
        self._files += 1
        path = write_wdpa(self.tmp / f"dataset-{self._files}.geojson", rows)
        return import_areas(self.world.engine, self.world.admin, path, kind=kind, source=source,
                            version=version)  # fmt: skip

    def screen(self, buffer_m: int = 10_000, project_id: int | None = None) -> Screening:
        with self.world.db.read_session() as session:
            found = screen(session, project_id or self.world.project_id, buffer_m)
        assert found is not None
        return found


@pytest.fixture
def place(world: World, community: Community, tmp_path: Path) -> Place:
    return Place(world, community, tmp_path)


def by_ref(found: Screening) -> dict[str, Finding]:
    return {f.ref.split(":", 1)[-1] if f.kind != "territory" else f.ref: f for f in found.findings}


def geodesic_area(area: BaseGeometry) -> float:
    """PROJ's geodesic area with the rings oriented as it wants them (outer counter-clockwise):
    the value a screening must agree with."""
    return abs(GEOD.geometry_area_perimeter(shapely.orient_polygons(area))[0])


def nearest_geodesic_m(a: BaseGeometry, b: BaseGeometry, step: float = 1e-4) -> float:
    """The shortest geodesic between the boundaries of a and b, by brute force: both densified
    to ``step`` degrees (about 11 m; the error at the minimum is millimetres), every pair
    measured with Geod.inv near the closest pair."""
    near_a, near_b = shapely.ops.nearest_points(a.boundary, b.boundary)
    region_a = a.boundary.intersection(near_a.buffer(0.01))
    region_b = b.boundary.intersection(near_b.buffer(0.01))
    pa = shapely.get_coordinates(shapely.segmentize(region_a, step))
    pb = shapely.get_coordinates(shapely.segmentize(region_b, step))
    lon1, lat1 = np.repeat(pa[:, 0], len(pb)), np.repeat(pa[:, 1], len(pb))
    lon2, lat2 = np.tile(pb[:, 0], len(pa)), np.tile(pb[:, 1], len(pa))
    return float(np.min(GEOD.inv(lon1, lat1, lon2, lat2)[2]))


PROJECT_SHAPE = Polygon(PROJECT)


# --- through the engine ----------------------------------------------------------------------


def test_recording_the_area_through_the_engine_screens_it(place):
    world = place.world
    west_half = shapely_box(-72.00, -13.58, -71.96, -13.50)
    imported = place.dataset([("555", west_half)], iucn="II")
    case_id = world.open_case(place.community)
    world.act(case_id, "record_project_area", world.liaison, project_area())
    kept = world.case(case_id).screening
    assert kept is not None
    assert kept["buffer_m"] == 10_000
    assert kept["datasets"] == [{
        "id": imported.dataset_id, "kind": "protected_area", "source": WDPA,
        "version": "2027-01", "sha256": imported.sha256,
    }]  # fmt: skip
    (found,) = kept["findings"]
    assert (found["ref"], found["relation"], found["category"]) == (
        f"{imported.dataset_id}:555",
        OVERLAPS,
        "II",
    )
    expected = geodesic_area(shapely_box(-71.98, -13.56, -71.96, -13.52))
    assert found["overlap_m2"] == pytest.approx(expected, rel=1e-6, abs=1)
    assert kept["area_m2"] == pytest.approx(geodesic_area(PROJECT_SHAPE), abs=1)


# --- relations and measures ----------------------------------------------------------------------


def test_an_overlap_is_measured_in_square_metres_on_the_ellipsoid(place):
    place.project(PROJECT_SHAPE)
    half = shapely_box(-72.00, -13.58, -71.96, -13.50)
    corner = Polygon([(-71.95, -13.53), (-71.90, -13.53), (-71.90, -13.49)])  # a triangle
    place.dataset([("half", half), ("corner", corner)])
    found = by_ref(place.screen())
    assert found["half"].relation == OVERLAPS
    assert found["half"].distance_m == 0
    assert found["half"].overlap_m2 == pytest.approx(
        geodesic_area(shapely_box(-71.98, -13.56, -71.96, -13.52)), abs=1
    )
    assert found["corner"].overlap_m2 == pytest.approx(
        geodesic_area(PROJECT_SHAPE.intersection(corner)), abs=1
    )
    assert 0 < found["corner"].overlap_m2 < found["half"].overlap_m2


def test_a_shared_edge_or_corner_touches(place):
    place.project(PROJECT_SHAPE)
    place.dataset([
        ("edge", shapely_box(EAST, SOUTH, -71.90, NORTH)),
        ("corner", shapely_box(EAST, NORTH, -71.90, -13.48)),
        ("part-of-edge", shapely_box(-71.97, -13.60, -71.95, SOUTH)),
    ])  # fmt: skip
    found = by_ref(place.screen())
    for ref in ("edge", "corner", "part-of-edge"):
        assert (found[ref].relation, found[ref].distance_m, found[ref].overlap_m2) == (
            TOUCHES,
            0,
            0,
        ), ref


def test_an_area_5_km_south_is_near_at_its_geodesic_distance(place):
    place.project(PROJECT_SHAPE)
    _, top = moved(-71.96, SOUTH, 180, 5_000)
    place.dataset([("south", shapely_box(-72.00, top - 0.05, -71.90, top))])
    (found,) = place.screen().findings
    truth = GEOD.inv(-71.96, SOUTH, -71.96, top)[2]  # a meridian: the geodesic between parallels
    assert truth == pytest.approx(5_000, abs=0.01)
    assert found.relation == NEAR
    assert found.overlap_m2 == 0
    assert found.distance_m == pytest.approx(truth, rel=0.01)


def test_an_area_5_km_east_is_near_at_its_geodesic_distance(place):
    place.project(PROJECT_SHAPE)
    west, _ = moved(EAST, -13.54, 90, 5_000)
    reserve = Polygon([(west, -13.60), (west + 0.05, -13.62), (west + 0.08, -13.50),
                       (west + 0.01, -13.47)])  # fmt: skip
    place.dataset([("east", reserve)])
    (found,) = place.screen().findings
    truth = nearest_geodesic_m(PROJECT_SHAPE, reserve)
    assert 5_000 < truth < 5_500  # its west edge leans away
    assert found.relation == NEAR
    assert found.distance_m == pytest.approx(truth, rel=0.01)


def test_the_buffer_decides_what_is_near(place):
    place.project(PROJECT_SHAPE)
    west, _ = moved(EAST, SOUTH, 90, 15_000)
    place.dataset([("far", shapely_box(west, -13.60, west + 0.05, -13.50))])
    assert place.screen(10_000).findings == []
    (found,) = place.screen(20_000).findings
    assert found.relation == NEAR
    assert found.distance_m == pytest.approx(15_000, rel=0.01)
    assert place.screen(found.distance_m + 1).findings  # just inside the buffer
    assert place.screen(found.distance_m - 2).findings == []  # just outside
    assert place.screen(0).findings == []


def test_a_project_inside_a_protected_areas_hole_is_near_its_edge_not_in_it(place):
    inside_the_enclave = shapely_box(-71.93, -13.33, -71.90, -13.30)
    place.project(inside_the_enclave)
    place.dataset([("555", polygon(*PARK))], iucn="II")
    (found,) = place.screen().findings
    assert found.relation == NEAR
    assert found.overlap_m2 == 0
    enclave = Polygon(PARK[1][0])
    truth = nearest_geodesic_m(inside_the_enclave, enclave)  # to the hole's edge
    assert 2_000 < truth < 2_300
    assert found.distance_m == pytest.approx(truth, rel=0.01)


def test_findings_are_ordered_closest_first_and_carry_what_the_trail_needs(place):
    place.project(PROJECT_SHAPE)
    far_west, _ = moved(-71.98, -13.54, 270, 8_000)
    near_west, _ = moved(-71.98, -13.54, 270, 3_000)
    place.dataset([
        ("far", shapely_box(far_west - 0.05, -13.56, far_west, -13.52)),
        ("near", shapely_box(near_west - 0.05, -13.56, near_west, -13.52)),
        ("touch", shapely_box(EAST, SOUTH, -71.90, NORTH)),
        ("in", shapely_box(-71.97, -13.55, -71.96, -13.54)),
    ], iucn="Ia", designation="World Heritage Site (natural)")  # fmt: skip
    found = place.screen()
    assert [f.ref.split(":")[1] for f in found.findings] == ["in", "touch", "near", "far"]
    summary = found.summary()
    assert summary["findings"][0] == {
        "kind": "protected_area", "ref": found.findings[0].ref, "name": "Area in",
        "relation": OVERLAPS, "distance_m": 0, "overlap_m2": found.findings[0].overlap_m2,
        "category": "Ia", "world_heritage": True,
    }  # fmt: skip
    assert all(isinstance(v, int) for f in summary["findings"] for v in
               (f["distance_m"], f["overlap_m2"]))  # fmt: skip


def test_the_project_is_the_latest_area_of_each_label_together(place):
    old = place.project(shapely_box(-60, -10, -59.9, -9.9))
    place.project(PROJECT_SHAPE)  # the whole project, moved
    road_end, _ = moved(EAST, -13.54, 90, 12_000)
    road = shapely_box(EAST, -13.545, road_end, -13.535)
    latest = place.project(road, label="access_road")
    place.dataset([
        ("old-place", shapely_box(-60.05, -10, -60, -9.9)),
        ("by-the-road", shapely_box(road_end + 0.01, -13.56, road_end + 0.05, -13.52)),
    ])  # fmt: skip
    found = place.screen()
    assert found.area_id == latest > old
    assert [f.ref.split(":")[1] for f in found.findings] == ["by-the-road"]
    # the sum of the two (they share a piece of edge), give or take the rounding to 1e-7 degrees
    assert found.area_m2 == pytest.approx(geodesic_area(PROJECT_SHAPE) + geodesic_area(road),
                                          rel=1e-6)  # fmt: skip


# --- the antimeridian ------------------------------------------------------------------------


FIJI_SPLIT = MultiPolygon([Polygon(box(179.95, -16.90, 180.0, -16.85)),
                           Polygon(box(-180.0, -16.90, -179.97, -16.85))])  # fmt: skip


def test_a_project_split_at_the_antimeridian_overlaps_what_is_on_either_side(place):
    place.project(FIJI_SPLIT)
    west_only = shapely_box(-179.99, -16.95, -179.90, -16.80)
    east_only = shapely_box(179.90, -16.88, 179.96, -16.86)
    place.dataset([("taveuni", multipolygon(TAVEUNI)), ("west", west_only), ("east", east_only)],
                  iucn="VI")  # fmt: skip
    found = by_ref(place.screen())
    assert {k: f.relation for k, f in found.items()} == {
        "taveuni": OVERLAPS, "west": OVERLAPS, "east": OVERLAPS,
    }  # fmt: skip
    assert found["taveuni"].overlap_m2 == pytest.approx(geodesic_area(FIJI_SPLIT), abs=2)
    assert found["west"].overlap_m2 == pytest.approx(
        geodesic_area(shapely_box(-179.99, -16.90, -179.97, -16.85)), abs=1
    )
    assert found["east"].overlap_m2 == pytest.approx(
        geodesic_area(shapely_box(179.95, -16.88, 179.96, -16.86)), abs=1
    )


def test_an_area_across_the_antimeridian_is_near_at_kilometres_not_the_worlds_width(place):
    project = shapely_box(179.90, -16.90, 179.95, -16.85)
    place.project(project)
    other_side = shapely_box(-179.97, -16.90, -179.90, -16.85)
    place.dataset([("over-there", other_side)])
    (found,) = place.screen().findings
    truth = GEOD.inv(179.95, -16.85, -179.97, -16.85)[2]
    assert 8_000 < truth < 9_000
    assert found.relation == NEAR
    assert found.distance_m == pytest.approx(truth, rel=0.01)


def test_an_area_beside_the_project_across_the_antimeridian_touches_it(place):
    place.project(shapely_box(179.95, -16.90, 180.0, -16.85))
    place.dataset([("beside", shapely_box(-180.0, -16.90, -179.95, -16.85))])
    (found,) = place.screen().findings
    assert (found.relation, found.distance_m) == (TOUCHES, 0)


# --- territories --------------------------------------------------------------------------------


def test_territories_are_screened_with_their_community(place):
    world = place.world
    place.project(PROJECT_SHAPE)
    around = area_from_coordinates(TERRITORY)
    place.territory(place.community, around)
    neighbour = world.add_community("comunidad-vecina", ["es"])
    west, _ = moved(-71.98, -13.54, 270, 4_000)
    neighbours_land = shapely_box(west - 0.1, -13.60, west, -13.48)
    place.territory(neighbour, neighbours_land)
    far = world.add_community("comunidad-lejana", ["es"])
    place.territory(far, shapely_box(-70.0, -13.6, -69.9, -13.5))
    found = place.screen()
    assert found.datasets == []  # no dataset: territories only
    assert [(f.kind, f.community_id, f.relation) for f in found.findings] == [
        ("territory", place.community.id, OVERLAPS),
        ("territory", neighbour.id, NEAR),
    ]
    overlap, near = found.findings
    assert overlap.overlap_m2 == pytest.approx(geodesic_area(PROJECT_SHAPE), abs=1)
    assert near.distance_m == pytest.approx(
        nearest_geodesic_m(PROJECT_SHAPE, neighbours_land), rel=0.01
    )
    assert near.name == "Comunidad Vecina"
    assert "category" not in near.summary()
    assert near.summary()["community_id"] == neighbour.id


def test_a_territory_across_the_antimeridian_is_found(place):
    place.project(shapely_box(179.90, -16.90, 179.95, -16.85))
    over_there = shapely_box(-179.99, -16.90, -179.97, -16.85)
    place.territory(place.community, over_there)
    (found,) = place.screen().findings
    assert (found.kind, found.relation) == ("territory", NEAR)
    assert found.distance_m == pytest.approx(GEOD.inv(179.95, -16.85, -179.99, -16.85)[2],
                                             rel=0.01)  # fmt: skip


def test_only_a_communitys_latest_territory_counts(place):
    place.project(PROJECT_SHAPE)
    place.territory(place.community, area_from_coordinates(TERRITORY))
    moved_away = place.territory(place.community, shapely_box(-70.0, -13.6, -69.9, -13.5))
    assert place.screen().findings == []
    assert moved_away > 0


def test_no_area_no_screening(place):
    with place.world.db.read_session() as session:
        assert screen(session, place.world.project_id) is None


def test_a_dataset_whose_every_row_was_skipped_screens_to_nothing(place):
    place.project(PROJECT_SHAPE)
    imported = place.dataset([("p", {"type": "Point", "coordinates": [-71.96, -13.54]})])
    assert imported.features == 0
    found = place.screen()
    assert found.findings == []
    assert [d["id"] for d in found.datasets] == [imported.dataset_id]


# --- the spatial index -----------------------------------------------------------------------


def test_the_index_is_built_once_per_set_of_datasets(place, monkeypatch):
    built: list[int] = []
    real = screening.STRtree

    def counting(geoms: Any) -> Any:
        built.append(len(geoms))
        return real(geoms)

    monkeypatch.setattr(screening, "STRtree", counting)
    place.project(PROJECT_SHAPE)
    first = place.dataset([("a", shapely_box(-71.97, -13.55, -71.96, -13.54))])
    place.screen()
    place.screen(20_000)
    assert built == [1]
    with place.world.db.read_session() as session:
        kept = reference_index(session, (first.dataset_id,))
        assert reference_index(session, (first.dataset_id,)) is kept
    assert kept_indexes() == [(first.dataset_id,)]
    second = place.dataset([("a", shapely_box(-71.97, -13.55, -71.96, -13.54)),
                            ("b", shapely_box(-71.95, -13.55, -71.94, -13.54))],
                           version="2027-02")  # fmt: skip
    assert len(place.screen().findings) == 2  # the new version, a new index
    assert built == [1, 2]
    assert (second.dataset_id,) in kept_indexes()


def kept_indexes() -> list[tuple[int, ...]]:
    """The dataset ids of each index kept (the key also names the database)."""
    return [key[-1] if isinstance(key[-1], tuple) else key for key in screening._INDEXES]


def _random_boxes(seed: int, count: int) -> list[BaseGeometry]:
    rng = random.Random(seed)
    boxes = []
    for _ in range(count):
        lon, lat = rng.uniform(-73.5, -70.5), rng.uniform(-15.0, -12.0)
        width, height = rng.expovariate(1 / 0.05), rng.expovariate(1 / 0.05)
        boxes.append(shapely_box(lon, lat, min(lon + width, -70.0), min(lat + height, -11.5)))
    return boxes


def test_the_index_finds_exactly_the_boxes_a_brute_force_finds(place):
    areas = _random_boxes(17, 2_000)
    imported = place.dataset([(str(n), a) for n, a in enumerate(areas)])
    assert imported.features == 2_000
    with place.world.db.read_session() as session:
        ids, tree = reference_index(session, (imported.dataset_id,))
        rows = session.execute(
            select(ReferenceArea.id, ReferenceArea.west, ReferenceArea.south,
                   ReferenceArea.east, ReferenceArea.north)
        ).all()  # fmt: skip
    assert len(rows) == 2_000  # every area written, none lost between batches
    assert sorted(ids.tolist()) == sorted(r[0] for r in rows)
    rng = random.Random(18)
    for _ in range(300):
        lon, lat = rng.uniform(-74.0, -70.0), rng.uniform(-15.5, -11.5)
        qw, qs = lon, lat
        qe, qn = lon + rng.uniform(0, 0.5), lat + rng.uniform(0, 0.5)
        found = set(ids[tree.query(shapely_box(qw, qs, qe, qn))].tolist())
        brute = {i for i, w, s, e, n in rows if w <= qe and e >= qw and s <= qn and n >= qs}
        assert found == brute


def test_a_screening_finds_what_measuring_every_area_finds(place, monkeypatch):
    monkeypatch.setattr(screening, "_READ_BATCH", 7)  # the candidates read in many batches
    areas = _random_boxes(23, 2_000)
    project = area_from_coordinates(
        "-72.10, -13.70\n-71.80, -13.72\n-71.70, -13.40\n-72.05, -13.35\n\n"
        "-71.95, -13.60\n-71.85, -13.60\n-71.85, -13.50\n-71.95, -13.50"
    )
    place.project(project)
    place.dataset([(str(n), a) for n, a in enumerate(areas)])
    buffer_m = 10_000
    frame = frame_for(project)
    projected = frame.project(project)
    expected = {}
    for n, a in enumerate(areas):
        if project.intersects(a):
            expected[str(n)] = OVERLAPS if area_m2(project.intersection(a)) >= 1 else TOUCHES
        elif projected.distance(frame.project(a)) <= buffer_m:
            expected[str(n)] = NEAR
    found = {k: f.relation for k, f in by_ref(place.screen(buffer_m)).items()}
    assert len(expected) > 50  # a real test: many of each
    assert found == expected


def test_an_index_is_not_shared_between_databases(tmp_path):
    """Dataset ids are numbered per database: two databases screened in one process (tests, a
    benchmark on SQLite then PostgreSQL) must not answer with each other's index."""
    found: list[list[Finding]] = []
    for name, where in (("a", (-60.0, -10.0)), ("b", (-71.97, -13.55))):
        world = make_world(f"sqlite:///{tmp_path / name}.sqlite3")
        try:
            community = world.add_community("ayllu-qollana", ["qu", "es"])
            folder = tmp_path / name
            folder.mkdir()
            here = Place(world, community, folder)
            here.project(PROJECT_SHAPE)
            lon, lat = where
            imported = here.dataset([(name, shapely_box(lon, lat, lon + 0.01, lat + 0.01))])
            assert imported.dataset_id == 1  # the same number in each database
            found.append(here.screen().findings)
        finally:
            world.db.dispose()
    assert found[0] == []
    assert [f.ref for f in found[1]] == ["1:b"]


def test_an_older_dataset_is_kept_but_not_screened(place):
    place.project(PROJECT_SHAPE)
    place.dataset([("old", shapely_box(-71.97, -13.55, -71.96, -13.54))], version="2026-12")
    newer = place.dataset([("new", shapely_box(-71.95, -13.55, -71.945, -13.54))])
    found = place.screen()
    assert [f.ref for f in found.findings] == [f"{newer.dataset_id}:new"]
    with place.world.db.read_session() as session:
        assert len(session.scalars(select(AreaDataset)).all()) == 2
