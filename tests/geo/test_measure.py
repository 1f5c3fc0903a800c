"""Areas and distances in metres for shapes in longitude and latitude: checked against
closed-form values and PROJ's geodesics, at the equator, across the antimeridian and near the
poles."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry import box as shapely_box

from fpic.geo.measure import Frame, area_m2, centre_of, frame_for, search_boxes
from tests.geo.samples import GEOD, PARK, TAVEUNI, box, geodesic_m, moved, signed_area

#: WGS 84's semi-major axis and flattening
A, F = 6_378_137.0, 1 / 298.257223563
E2 = F * (2 - F)


def quadrangle_m2(west: float, south: float, east: float, north: float) -> float:
    """The area between two parallels and two meridians on the WGS 84 ellipsoid, in closed
    form (the authalic integral): no PROJ in it."""
    e = math.sqrt(E2)
    b2 = (A * (1 - F)) ** 2

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - E2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return b2 / 2 * math.radians(east - west) * (q(north) - q(south))


def test_a_one_degree_cell_at_the_equator():
    cell = shapely_box(0, 0, 1, 1)
    measured = area_m2(cell)
    assert measured == pytest.approx(12_308e6, rel=1e-3)
    # the cell's top edge is a geodesic, a little poleward of the parallel: metres, not km
    assert measured == pytest.approx(quadrangle_m2(0, 0, 1, 1), rel=5e-5)


def test_a_hole_is_taken_out_and_the_direction_of_the_rings_does_not_matter():
    outer, (hole,) = PARK
    rfc7946 = Polygon(outer, [hole[::-1]])  # outer counter-clockwise, hole clockwise
    with_hole = area_m2(rfc7946)
    assert area_m2(Polygon(outer[::-1], [hole])) == pytest.approx(with_hole)  # both reversed
    assert with_hole == pytest.approx(area_m2(Polygon(outer)) - area_m2(Polygon(hole)))
    assert area_m2(Polygon(hole)) == pytest.approx(
        quadrangle_m2(-71.95, -13.35, -71.85, -13.28), rel=1e-4
    )


_ORIENTATION = (
    "BUG fpic/geo/measure.py area_m2 line 27: pyproj's Geod.geometry_area_perimeter sums the "
    "signed areas of the rings, so it needs outer rings counter-clockwise and holes clockwise; "
    "area_m2 does not orient them (shapely.orient_polygons), so a hole drawn the same way as "
    "its outer ring (as people type them: tests/factories.TERRITORY) is added, not taken out, "
    "and the parts of a multipolygon drawn in opposite directions cancel out"
)


def test_a_hole_drawn_the_same_way_as_its_outer_ring_is_taken_out():
    outer, (hole,) = PARK
    assert signed_area(outer) > 0
    assert signed_area(hole) > 0  # as typed: every ring counter-clockwise
    expected = area_m2(Polygon(outer)) - area_m2(Polygon(hole))
    assert area_m2(Polygon(outer, [hole])) == pytest.approx(expected)


def test_parts_drawn_in_opposite_directions_add_up():
    one, other = Polygon(box(0, 0, 1, 1)), Polygon(box(2, 0, 3, 1)[::-1])
    assert area_m2(MultiPolygon([one, other])) == pytest.approx(area_m2(one) + area_m2(other))


def test_an_area_split_at_the_antimeridian_measures_as_one():
    split = MultiPolygon([Polygon(box(179.9, -17.0, 180.0, -16.9)),
                          Polygon(box(-180.0, -17.0, -179.9, -16.9))])  # fmt: skip
    assert area_m2(split) == pytest.approx(area_m2(shapely_box(-0.1, -17.0, 0.1, -16.9)))
    assert area_m2(split) == pytest.approx(quadrangle_m2(-0.1, -17.0, 0.1, -16.9), rel=1e-5)


def test_the_middle_of_an_area_across_the_antimeridian_is_on_it():
    lon, lat = centre_of(MultiPolygon([Polygon(o) for o, _ in TAVEUNI]))
    assert abs(abs(lon) - 180) < 0.1
    assert -16.98 < lat < -16.72
    assert centre_of(Point(-179.5, 1).union(Point(179.5, 3))) == pytest.approx((180.0, 2.0))
    lon, lat = centre_of(shapely_box(-72, -14, -71, -13))  # the points' middle, near enough
    assert -72 < lon < -71
    assert lat == -13.5


def _distance(a: Polygon | MultiPolygon, b: Polygon | MultiPolygon) -> float:
    frame = frame_for(a)
    return float(frame.project(a).distance(frame.project(b)))


def test_shapes_a_tenth_of_a_degree_apart_at_the_equator():
    a, b = shapely_box(0.0, 0.0, 0.1, 0.1), shapely_box(0.2, 0.0, 0.3, 0.1)
    truth = geodesic_m((0.1, 0.1), (0.2, 0.1))  # the gap is narrowest farthest from the equator
    assert truth == pytest.approx(11_132, abs=1)
    assert _distance(a, b) == pytest.approx(truth, rel=1e-3)
    assert _distance(b, a) == pytest.approx(truth, rel=1e-3)


def test_shapes_either_side_of_the_antimeridian_are_kilometres_apart():
    east = shapely_box(179.90, -16.90, 179.95, -16.85)
    west = shapely_box(-179.95, -16.90, -179.90, -16.85)
    truth = geodesic_m((179.95, -16.85), (-179.95, -16.85))
    assert 10_000 < truth < 11_000
    assert _distance(east, west) == pytest.approx(truth, rel=2e-3)
    assert _distance(west, east) == pytest.approx(truth, rel=2e-3)
    # and a project split at the meridian is one shape, touching what is beside it
    split = MultiPolygon([Polygon(box(179.95, -16.9, 180.0, -16.85)),
                          Polygon(box(-180.0, -16.9, -179.98, -16.85))])  # fmt: skip
    assert _distance(split, west) == pytest.approx(
        geodesic_m((-179.98, -16.85), (-179.95, -16.85)), rel=2e-3
    )
    assert _distance(split, east) < 0.01


def test_the_frame_measures_exactly_from_its_centre():
    frame = Frame(-71.96, -13.54)
    x, y = frame.project(Point(-71.96, -13.54)).coords[0]
    assert (x, y) == pytest.approx((0, 0), abs=1e-6)
    for azimuth in (0, 45, 90, 135, 180, 270):
        for metres in (10.0, 5_000.0, 100_000.0):
            far = Point(*moved(-71.96, -13.54, azimuth, metres))
            x, y = frame.project(far).coords[0]
            assert math.hypot(x, y) == pytest.approx(metres, rel=1e-9, abs=1e-6)
    north = frame.project(Point(*moved(-71.96, -13.54, 0, 1_000)))
    assert north.x == pytest.approx(0, abs=1e-6)
    assert north.y == pytest.approx(1_000, abs=1e-6)


# --- search boxes ------------------------------------------------------------------------------


def test_a_box_past_the_antimeridian_wraps_round():
    boxes = search_boxes(shapely_box(179.95, -16.9, 179.99, -16.85), 10_000)
    assert len(boxes) == 2
    (_west1, south1, east1, north1), (west2, south2, east2, north2) = boxes
    assert east1 == 180.0
    assert west2 == -180.0
    assert -179.99 < east2 < -179.8  # 10 km past it, and not the whole world
    assert (south1, north1) == (south2, north2)
    assert south1 < -16.9 - 10_000 / 111_000 < -16.85 + 10_000 / 111_000 < north1
    west_side = search_boxes(shapely_box(-179.99, -16.9, -179.95, -16.85), 10_000)
    assert len(west_side) == 2
    assert west_side[0][0] == -180.0
    reach, _ = moved(-179.99, -16.85, 270, 10_000)  # 10 km west, past the meridian
    assert reach > 179.9
    assert reach - 0.02 < west_side[1][0] <= reach
    assert west_side[1][2] == 180.0


@pytest.mark.parametrize("lat", [88.95, -88.95])
def test_near_a_pole_every_longitude_is_searched(lat):
    south, north = sorted((lat, lat + math.copysign(0.04, lat)))
    boxes = search_boxes(shapely_box(10.0, south, 10.1, north), 10_000)
    assert len(boxes) == 1
    west, box_south, east, box_north = boxes[0]
    assert (west, east) == (-180.0, 180.0)
    assert -90.0 <= box_south < south
    assert north < box_north <= 90.0


def test_a_box_at_the_pole_stops_at_it():
    ((_w, _s, _e, north),) = search_boxes(shapely_box(-180, 89.99, 180, 90), 100_000)
    assert north == 90.0


def test_one_box_per_part_and_none_wider_than_needed():
    parts = MultiPolygon([Polygon(box(-72.0, -13.6, -71.9, -13.5)),
                          Polygon(box(-60.0, -10.0, -59.9, -9.9))])  # fmt: skip
    boxes = search_boxes(parts, 1_000)
    assert len(boxes) == 2
    for (west, south, east, north), part in zip(boxes, parts.geoms, strict=True):
        pw, ps, pe, pn = part.bounds
        assert 0 < pw - west < 0.02
        assert 0 < east - pe < 0.02
        assert 0 < ps - south < 0.01
        assert 0 < north - pn < 0.01
    assert search_boxes(shapely_box(1, 2, 3, 4), 0) == [(1, 2, 3, 4)]


def test_a_buffer_wider_than_the_world_is_the_whole_band():
    boxes = search_boxes(shapely_box(-170, 0, 170, 1), 2_000_000)
    assert boxes == [(-180.0, pytest.approx(-18.27, abs=0.1), 180.0, pytest.approx(19.27, abs=0.1))]


def _inside(boxes: list[tuple[float, float, float, float]], lon: float, lat: float) -> bool:
    """Whether (lon, lat) is in one of the boxes, give or take PROJ's rounding (1e-9 degrees,
    0.1 mm)."""
    lon = (lon + 180.0) % 360.0 - 180.0 if abs(lon) > 180 else lon
    eps = 1e-9
    same = (lon, -180.0, 180.0) if abs(lon) >= 180 - eps else (lon,)  # one meridian
    return any(
        w - eps <= x <= e + eps and s - eps <= lat <= n + eps for w, s, e, n in boxes for x in same
    )


@settings(max_examples=400, deadline=None)
@given(
    west=st.one_of(st.floats(-180, 179.5), st.floats(179.0, 179.99), st.floats(-180, -179.0)),
    south=st.one_of(st.floats(-89.9, 89.4), st.floats(85.0, 89.4), st.floats(-89.9, -85.0)),
    size=st.floats(0.001, 0.5),
    metres=st.floats(0.0, 100_000.0),
    along=st.floats(0.0, 1.0),
    azimuth=st.floats(-180.0, 180.0),
    fraction=st.floats(0.0, 1.0),
)
@example(179.99, -16.9, 0.005, 100_000.0, 0.25, 90.0, 1.0)
@example(-180.0, -16.9, 0.005, 100_000.0, 0.0, -90.0, 1.0)
@example(0.0, 88.0, 0.001, 100_000.0, 0.5, 45.0, 1.0)
@example(0.0, -89.9, 0.001, 100_000.0, 0.0, 180.0, 1.0)
def test_every_point_within_the_buffer_is_in_a_search_box(
    west, south, size, metres, along, azimuth, fraction
):
    east, north = min(west + size, 180.0), min(south + size, 90.0)
    area = shapely_box(west, south, east, north)
    boxes = search_boxes(area, metres)
    start = area.exterior.interpolate(along, normalized=True)  # a point of its edge
    lon, lat = start.x, start.y
    to_lon, to_lat, _ = GEOD.fwd(lon, lat, azimuth, metres * fraction)
    assert _inside(boxes, float(to_lon), float(to_lat)), (boxes, to_lon, to_lat)
    for w, s, e, n in boxes:
        assert -180.0 <= w <= e <= 180.0
        assert -90.0 <= s <= n <= 90.0
