"""A map a person gives, read into one valid area in WGS 84, or refused with the reason: every
reader (GeoJSON, KML, a zipped shapefile, typed corners) and every refusal, by its code."""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile

import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from fpic.geo import shapes
from fpic.geo.shapes import (
    GEOJSON,
    KML,
    ZIP,
    AreaRefused,
    area_from_coordinates,
    area_of_geojson,
    normalised_geojson,
    read_area,
    site_location,
)
from tests.geo.samples import (
    BOW_TIE,
    MACHU_PICCHU,
    PARK,
    PROJECT,
    TAVEUNI,
    TAVEUNI_UNSPLIT,
    area_record,
    box,
    collection,
    feature,
    geodesic_m,
    geojson_bytes,
    kml,
    multipolygon,
    polygon,
    shapefile_members,
    shapefile_zip,
    signed_area,
    typed,
    utm19s,
    utm19s_wkt,
    zipped,
)


def refused(data: bytes | str, media_type: str | None = None) -> AreaRefused:
    """The refusal of a map (or of typed corners when ``media_type`` is None)."""
    if media_type is None:
        text = data if isinstance(data, str) else data.decode()
        with pytest.raises(AreaRefused) as caught:
            area_from_coordinates(text)
    else:
        raw = data if isinstance(data, bytes) else data.encode()
        with pytest.raises(AreaRefused) as caught:
            read_area(raw, media_type)
    return caught.value


def code_of(data: bytes | str, media_type: str | None = None) -> str:
    return refused(data, media_type).reason.code


def vertices(area: shapely.Geometry) -> set[tuple[float, float]]:
    return {(round(x, 9), round(y, 9)) for x, y in shapely.get_coordinates(area)}


# --- GeoJSON ---------------------------------------------------------------------------------


def test_a_polygon_with_a_hole_keeps_its_hole():
    area = read_area(geojson_bytes(polygon(*PARK)), GEOJSON)
    assert isinstance(area, Polygon)
    assert len(area.interiors) == 1
    enclave = Point(-71.90, -13.31)
    assert not area.contains(enclave)  # the community's land is not the park's
    assert area.contains(Point(-71.80, -13.30))
    assert area.is_valid


def test_a_multipolygon_keeps_its_parts():
    area = read_area(geojson_bytes(multipolygon(MACHU_PICCHU)), GEOJSON)
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2
    assert area.contains(Point(-72.36, -13.185))  # the small part
    assert area.contains(Point(-72.52, -13.17))


@pytest.mark.parametrize(
    "wrap",
    [
        lambda g: collection([feature(g)]),
        lambda g: feature(g),
        lambda g: {"type": "GeometryCollection", "geometries": [g]},
        lambda g: collection([feature(None), feature(g), {"type": "Feature", "geometry": None}]),
    ],
    ids=["feature-collection", "feature", "geometry-collection", "null-geometries-skipped"],
)
def test_every_geojson_container_is_read(wrap):
    area = read_area(geojson_bytes(wrap(polygon(PROJECT))), GEOJSON)
    assert area.equals(Polygon(PROJECT))


def test_the_features_of_a_collection_become_one_multipolygon():
    area = read_area(
        geojson_bytes(collection([feature(polygon(PROJECT)), feature(polygon(*PARK))])), GEOJSON
    )
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2


def test_a_byte_order_mark_is_accepted():
    data = "\ufeff".encode() + geojson_bytes(polygon(PROJECT))
    assert read_area(data, GEOJSON).equals(Polygon(PROJECT))


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"{not json", "map_unreadable"),
        (b"\xff\xfe\x00garbage", "map_unreadable"),
        (b"[1, 2]", "map_unreadable"),
        (b'{"type": "FeatureCollection", "features": [1]}', "map_unreadable"),
        (b'{"type": "Polygon", "coordinates": "Cusco"}', "map_unreadable"),
        (b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}', "map_unreadable"),
        (b'{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', "map_not_polygon"),
        (
            geojson_bytes(
                collection(
                    [
                        feature({"type": "Point", "coordinates": [-71.9, -13.5]}),
                        feature(polygon(PROJECT)),
                    ]
                )
            ),
            "map_not_polygon",
        ),
        (b'{"type": "FeatureCollection", "features": []}', "area_empty"),
        (b'{"type": "Polygon", "coordinates": []}', "area_empty"),
        (geojson_bytes(polygon(BOW_TIE)), "area_invalid"),
        (geojson_bytes(polygon(box(-71.98, -13.56, -71.94, 91.0))), "area_out_of_range"),
        (geojson_bytes(polygon(box(-181.0, -13.56, -179.0, -13.52))), "area_out_of_range"),
        (geojson_bytes(polygon(TAVEUNI_UNSPLIT)), "area_antimeridian"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "a-list",
        "feature-not-object",
        "coordinates-text",
        "two-point-ring",
        "line",
        "point-among-polygons",
        "no-feature",
        "no-ring",
        "bow-tie",
        "latitude-91",
        "longitude-181",
        "antimeridian-unsplit",
    ],
)
def test_geojson_refusals(data, code):
    assert code_of(data, GEOJSON) == code


def test_a_refusal_carries_its_message_id_and_parameters():
    reason = refused(geojson_bytes(polygon(box(-71.98, -13.56, -71.94, 91.0))), GEOJSON).reason
    assert reason.code == "area_out_of_range"
    assert "%(lon)s" in reason.message  # the id the interface translates, not English text
    assert reason.params == {"lon": -71.94, "lat": 91.0}
    invalid = refused(geojson_bytes(polygon(BOW_TIE)), GEOJSON).reason
    assert invalid.params["reason"].startswith("Self-intersection")


def test_a_map_of_another_kind_is_refused():
    assert code_of(b"<svg/>", "image/svg+xml") == "map_kind"


def test_a_split_at_the_antimeridian_is_accepted_whole():
    area = read_area(geojson_bytes(multipolygon(TAVEUNI)), GEOJSON)
    assert isinstance(area, MultiPolygon)
    assert area.is_valid
    west, _south, east, _north = area.bounds
    assert (west, east) == (-180.0, 180.0)
    assert normalised_geojson(area)  # and kept as it is


def test_an_edge_of_exactly_180_degrees_is_not_a_crossing():
    # a band from the antimeridian to Greenwich in one edge is unusual, not illegal
    area = read_area(geojson_bytes(polygon(box(-180.0, 0.0, 0.0, 0.001))), GEOJSON)
    assert area.bounds == (-180.0, 0.0, 0.0, 0.001)
    assert code_of(geojson_bytes(polygon(box(-180.0, 0.0, 0.0001, 0.001))), GEOJSON) == (
        "area_antimeridian"
    )


def test_a_hole_crossing_the_antimeridian_in_one_step_is_refused():
    outer = box(170.0, -20.0, 180.0, -10.0)
    hole = [(179.0, -15.0), (-179.5, -15.0), (-179.5, -14.0), (179.0, -14.0)]
    assert code_of(geojson_bytes(polygon(outer, [hole])), GEOJSON) == "area_antimeridian"


def test_too_many_vertices_are_refused(monkeypatch):
    monkeypatch.setattr(shapes, "MAX_VERTICES", 10)
    assert read_area(geojson_bytes(polygon(PROJECT)), GEOJSON)  # 5 points
    with_hole = geojson_bytes(polygon(*PARK))  # 7 + 5 points: the holes count
    reason = refused(with_hole, GEOJSON).reason
    assert (reason.code, reason.params) == ("area_too_detailed", {"most": 10})
    two = [PROJECT[:-1], box(-71.5, -13.0, -71.4, -12.9)[:-1]]
    assert len(shapely.get_coordinates(area_from_coordinates(typed(*two)))) == 10  # the most
    three = [*two, box(-71.3, -13.0, -71.2, -12.9)[:-1]]
    assert code_of(typed(*three)) == "area_too_detailed"


# --- KML -------------------------------------------------------------------------------------


def test_kml_with_an_inner_boundary_has_a_hole():
    area = read_area(kml([PARK]), KML)
    assert isinstance(area, Polygon)
    assert len(area.interiors) == 1
    assert area.equals(Polygon(*PARK))


def test_kml_placemarks_become_a_multipolygon_and_altitudes_are_dropped():
    area = read_area(kml(MACHU_PICCHU, altitude=True), KML)
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2
    assert not area.has_z


@pytest.mark.parametrize(
    "namespace", ["http://earth.google.com/kml/2.2", "http://earth.google.com/kml/2.1"]
)
def test_kml_of_older_google_earth_is_read(namespace):
    assert read_area(kml([(PROJECT, [])], namespace=namespace), KML).equals(Polygon(PROJECT))


@pytest.mark.parametrize(
    "data",
    [
        kml([(PROJECT, [])], namespace="http://www.opengis.net/gml/3.2"),
        kml([(PROJECT, [])], namespace="urn:example:not-kml"),
        kml([(PROJECT, [])]).replace(b' xmlns="http://www.opengis.net/kml/2.2"', b""),
        b"<kml><Document>",
        b"not xml at all",
        kml([(PROJECT, [])]).replace(b"outerBoundaryIs", b"boundary"),
        re.sub(
            rb"<coordinates>[^<]*</coordinates>",
            b"<coordinates> </coordinates>",
            kml([(PROJECT, [])]),
        ),
    ],
    ids=[
        "gml-namespace",
        "foreign-namespace",
        "no-namespace",
        "truncated",
        "not-xml",
        "no-outer-boundary",
        "empty-coordinates",
    ],
)
def test_kml_refusals(data):
    assert code_of(data, KML) == "map_unreadable"


def test_kml_with_words_for_coordinates_is_refused_with_the_words():
    data = kml([(PROJECT, [])]).replace(b"-71.98,-13.56", b"Cusco,Peru", 1)
    reason = refused(data, KML).reason
    assert reason.code == "area_coordinates"
    assert reason.params["text"] == "Cusco Peru"


def test_kml_entities_are_neither_expanded_nor_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("-71.98,-13.56 -71.94,-13.56 -71.94,-13.52 -71.98,-13.56")
    outside = (
        f'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY ring SYSTEM "file://{secret}">]>'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><Polygon><outerBoundaryIs>'
        "<LinearRing><coordinates>&ring;</coordinates></LinearRing></outerBoundaryIs>"
        "</Polygon></Placemark></kml>"
    ).encode()
    assert code_of(outside, KML) == "map_unreadable"
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><kml xmlns="http://www.opengis.net/kml/2.2"><name>&i;</name></kml>'
    ).encode()
    assert code_of(laughs, KML) == "map_unreadable"


# --- zipped shapefiles -----------------------------------------------------------------------


def test_a_shapefile_without_prj_is_longitude_and_latitude():
    area = read_area(shapefile_zip([area_record([(PROJECT, [])])]), ZIP)
    assert area.equals(Polygon(PROJECT))


def test_a_shapefile_in_utm_is_reprojected_to_within_a_metre():
    data = shapefile_zip([area_record([(utm19s(PROJECT), [])])], prj=utm19s_wkt())
    area = read_area(data, ZIP)
    assert isinstance(area, Polygon)
    corners = list(area.exterior.coords)
    for lon, lat in PROJECT[:-1]:
        nearest = min(corners, key=lambda c: geodesic_m(c, (lon, lat)))
        assert geodesic_m(nearest, (lon, lat)) < 1.0, (lon, lat, nearest)
    assert -72 < area.bounds[0] < -71.9  # not left in metres


def test_a_shapefile_with_a_wgs84_prj_is_not_transformed():
    wgs84 = 'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'  # noqa: E501
    area = read_area(shapefile_zip([area_record([(PROJECT, [])])], prj=wgs84), ZIP)
    assert vertices(area) == vertices(Polygon(PROJECT))  # exactly: no round trip


def test_a_shapefile_keeps_holes_and_parts():
    data = shapefile_zip([area_record([PARK]), area_record(MACHU_PICCHU, 2.0)])
    area = read_area(data, ZIP)
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 3
    assert sum(len(p.interiors) for p in area.geoms) == 1
    assert area.equals(MultiPolygon([Polygon(*PARK), *(Polygon(o, h) for o, h in MACHU_PICCHU)]))


def test_a_shapefile_in_a_folder_with_upper_case_names_and_a_mac_fork_is_found():
    members = shapefile_members([area_record([(PROJECT, [])])])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        # the fork sorts first ("_" before "w"): only its name keeps it out
        archive.writestr("__MACOSX/wdpa/._Area.SHP", b"\x00\x05\x16\x07 resource fork")
        for ext, data in members.items():
            archive.writestr(f"wdpa/Area.{ext.upper()}", data)
    assert read_area(out.getvalue(), ZIP).equals(Polygon(PROJECT))


def test_a_point_shapefile_is_not_an_area():
    data = shapefile_zip([area_record([(PROJECT, [])])], point=True)
    assert code_of(data, ZIP) == "map_not_polygon"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"PK\x03\x04 but not a zip", "map_unreadable"),
        (zipped({"txt": b"the map is in the post"}), "map_no_shapefile"),
        (
            zipped({"dbf": shapefile_members([area_record([(PROJECT, [])])])["dbf"]}),
            "map_no_shapefile",
        ),
        (shapefile_zip([area_record([(utm19s(PROJECT), [])])], prj="UTM, I think"), "map_crs"),
    ],
    ids=["not-a-zip", "no-shp", "dbf-alone", "prj-nonsense"],
)
def test_shapefile_refusals(data, code):
    assert code_of(data, ZIP) == code


def _truncated() -> dict[str, bytes]:
    members = shapefile_members([area_record([(PROJECT, [])]), area_record([PARK], 2.0)])
    return {"shp": members["shp"][:-40], "dbf": members["dbf"]}  # the second record cut short


@pytest.mark.parametrize(
    "members",
    [{"shp": b"garbage" * 20}, {"shp": b""}, _truncated()],
    ids=["garbage", "empty", "truncated"],
)
def test_a_shp_that_is_not_one_is_refused(members):
    assert code_of(zipped(members), ZIP) == "map_unreadable"


def _lying(members: dict[str, bytes], ext: str, claimed: int) -> bytes:
    """A zip whose central directory says the member ``ext`` is ``claimed`` bytes long."""
    data = bytearray(zipped(members, stem="area"))
    name = f"area.{ext}".encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + length]) == name:
            struct.pack_into("<I", data, at + 24, claimed)  # its uncompressed size
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{name!r} is not in the archive's directory")


def test_a_member_lying_about_its_size_is_refused():
    members = shapefile_members([area_record([(PROJECT, [])]), area_record([PARK], 2.0)])
    real = len(members["shp"])
    lying = _lying(members, "shp", real // 4)  # would pass the MAX_UNZIPPED check
    with zipfile.ZipFile(io.BytesIO(lying)) as archive:
        assert archive.getinfo("area.shp").file_size == real // 4
    assert code_of(lying, ZIP) == "map_unreadable"


def test_unpacking_past_max_unzipped_is_refused(monkeypatch):
    members = shapefile_members([area_record([(PROJECT, [])])])
    data = zipped(members)
    total = sum(len(v) for v in members.values())
    monkeypatch.setattr(shapes, "MAX_UNZIPPED", total)
    assert read_area(data, ZIP).equals(Polygon(PROJECT))  # exactly the limit: read
    monkeypatch.setattr(shapes, "MAX_UNZIPPED", total - 1)
    reason = refused(data, ZIP).reason
    assert reason.code == "map_too_large"


def test_a_large_member_that_is_not_part_of_the_shapefile_is_not_counted(monkeypatch):
    members = shapefile_members([area_record([(PROJECT, [])])])
    big = {**members, "txt": b"0" * 100_000}  # a readme.txt the size of a novel
    monkeypatch.setattr(shapes, "MAX_UNZIPPED", sum(len(v) for v in members.values()))
    assert read_area(zipped(big), ZIP).equals(Polygon(PROJECT))


# --- typed corners ---------------------------------------------------------------------------


def test_typed_corners_with_a_hole_and_a_second_part():
    outer, hole = PARK[0], PARK[1][0]
    second = box(-72.38, -13.20, -72.34, -13.17)
    area = area_from_coordinates(typed(outer[:-1], hole[:-1], second[:-1]))
    assert isinstance(area, MultiPolygon)
    parts = sorted(area.geoms, key=lambda p: p.area, reverse=True)
    assert len(parts[0].interiors) == 1
    assert len(parts[1].interiors) == 0
    assert area.equals(MultiPolygon([Polygon(*PARK), Polygon(second)]))


@pytest.mark.parametrize(
    "text",
    [
        "-71.98, -13.56\n-71.94, -13.56\n-71.94, -13.52\n-71.98, -13.52",
        "-71.98,-13.56; -71.94,-13.56; -71.94,-13.52; -71.98,-13.52",
        "  -71.98 -13.56\n\t-71.94  -13.56\n-71.94 -13.52\n-71.98 -13.52\n\n\n",
        "-71.98, -13.56, 3400\n-71.94, -13.56, 3390\n-71.94, -13.52, 3500\n-71.98, -13.52, 3510",
        "-71.98, -13.56\r\n-71.94, -13.56\r\n-71.94, -13.52\r\n-71.98, -13.52\r\n-71.98, -13.56",
    ],
    ids=["commas", "semicolons", "spaces", "altitudes", "crlf-closed"],
)
def test_typed_corners_in_the_ways_people_type_them(text):
    assert area_from_coordinates(text).equals(Polygon(PROJECT))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "area_empty"),
        ("   \n\n  ", "area_empty"),
        ("Cusco, Peru", "area_coordinates"),
        ("-71.98, -13.56, 3400, 1", "area_coordinates"),
        ("-71.98\n-71.94\n-71.94", "area_coordinates"),
        ("-71.98, -13.56\n-71.94, -13.56", "area_ring"),
        ("-71.98, -13.56\n-71.94, -13.56\n-71.98, -13.56", "area_ring"),
        ("-16.8, 179.9\n-16.7, 179.9\n-16.7, 179.95", "area_out_of_range"),
        ("inf, 0\n1, 0\n1, 1", "area_out_of_range"),
        ("\n".join(f"{x}, {y}" for x, y in BOW_TIE), "area_invalid"),
        (typed(box(0, 0, 2, 2), box(1, 1, 3, 3)), "area_invalid"),  # parts overlap
        ("179.9, -16.9\n-179.9, -16.9\n-179.9, -16.8\n179.9, -16.8", "area_antimeridian"),
    ],
    ids=[
        "blank",
        "blank-lines",
        "words",
        "four-numbers",
        "one-number",
        "two-points",
        "two-distinct-points",
        "latitude-first",
        "infinity",
        "bow-tie",
        "overlapping-parts",
        "antimeridian",
    ],
)
def test_typed_refusals(text, code):
    assert code_of(text) == code


@pytest.mark.parametrize(
    "text",
    [
        typed(box(0, 0, 1, 1)[:-1], [(0.2, 0.2), (0.3, 0.3)]),
        typed([(0.2, 0.2), (0.3, 0.3)], box(0, 0, 1, 1)[:-1]),
    ],
    ids=["two-point-hole", "two-point-first-ring"],
)
def test_a_ring_of_two_points_after_another_is_refused(text):
    assert code_of(text) == "area_ring"


def test_not_a_number_typed_is_refused():
    assert code_of("nan, 0\n1, 0\n1, 1") == "area_out_of_range"


# --- a legacy site's location ------------------------------------------------------------------


def test_a_site_is_a_point_typed_or_in_geojson():
    assert site_location(" -71.96, -13.54 ").equals(Point(-71.96, -13.54))
    assert site_location('{"type": "Point", "coordinates": [-71.96, -13.54, 3400]}').equals(
        Point(-71.96, -13.54)
    )
    assert site_location(typed(PROJECT[:-1])).equals(Polygon(PROJECT))
    assert site_location(json.dumps(feature(polygon(PROJECT)))).equals(Polygon(PROJECT))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "Point", "coordinates": [1]}', "map_unreadable"),
        ('{"type": "Point", "coordinates": [-71.96, -93]}', "area_out_of_range"),
        ('{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', "map_not_polygon"),
        ("{broken", "map_unreadable"),
        ("somewhere near Cusco", "area_coordinates"),
    ],
)
def test_site_refusals(text, code):
    with pytest.raises(AreaRefused) as caught:
        site_location(text)
    assert caught.value.reason.code == code


# --- what fpic keeps ---------------------------------------------------------------------------


def test_the_normalised_geojson_is_rfc7946_ordered_rounded_compact_and_sorted():
    outer = [(x + 1.23456789e-4, y) for x, y in PARK[0][::-1]]  # clockwise, too precise
    hole = PARK[1][0]  # counter-clockwise: wrong for a hole
    assert signed_area(outer) < 0
    assert signed_area(hole) > 0
    data = normalised_geojson(Polygon(outer, [hole]))
    text = data.decode()
    assert " " not in text
    assert text.startswith('{"coordinates":')
    assert text.endswith('"type":"Polygon"}')
    kept = json.loads(text)["coordinates"]
    assert signed_area([tuple(p) for p in kept[0]]) > 0  # outer counter-clockwise
    assert signed_area([tuple(p) for p in kept[1]]) < 0  # hole clockwise
    decimals = {len(repr(c).split(".")[1]) for ring in kept for p in ring for c in p}
    assert max(decimals) <= 7
    back = shape(json.loads(text))
    assert shapely.hausdorff_distance(back, Polygon(outer, [hole])) <= 0.5e-7 * math.sqrt(2)


def test_every_part_of_a_multipolygon_is_ordered():
    parts = [Polygon(o[::-1], [h[::-1] for h in hs]) for o, hs in [PARK, *MACHU_PICCHU]]
    kept = json.loads(normalised_geojson(MultiPolygon(parts)))
    assert kept["type"] == "MultiPolygon"
    for rings in kept["coordinates"]:
        assert signed_area([tuple(p) for p in rings[0]]) > 0
        assert all(signed_area([tuple(p) for p in r]) < 0 for r in rings[1:])


def test_the_same_input_gives_the_same_bytes_whatever_the_reader():
    as_geojson = read_area(geojson_bytes(polygon(*PARK)), GEOJSON)
    as_kml = read_area(kml([PARK]), KML)
    as_typed = area_from_coordinates(typed(PARK[0][:-1], PARK[1][0][:-1]))
    as_shapefile = read_area(shapefile_zip([area_record([PARK])]), ZIP)
    kept = {normalised_geojson(a) for a in (as_geojson, as_kml, as_typed, as_shapefile)}
    assert len(kept) == 1, kept
    assert normalised_geojson(as_geojson) == normalised_geojson(as_geojson)
    assert area_of_geojson(kept.pop()).equals(Polygon(*PARK))


def test_the_same_area_drawn_from_another_corner_has_the_same_bytes():
    square = PROJECT[:-1]
    drawings = [square, square[1:] + square[:1], square[::-1]]
    assert len({normalised_geojson(Polygon(d)) for d in drawings}) == 1


_LON = st.one_of(
    st.floats(-180.0, 180.0),
    st.floats(-180.0, -179.99),
    st.floats(179.99, 180.0),
)
_LAT = st.one_of(st.floats(-90.0, 90.0), st.floats(89.99, 90.0), st.floats(-90.0, -89.99))
_SIZE = st.floats(1e-5, 20.0)


@settings(max_examples=300, deadline=None)
@given(_LON, _LAT, _SIZE, _SIZE)
@example(179.99999, 89.99999, 1e-5, 1e-5)
@example(-180.0, -90.0, 1e-5, 1e-5)
@example(-180.0, -90.0, 20.0, 20.0)
def test_typed_normalised_and_read_back_is_the_same_box(lon, lat, width, height):
    west, south = min(lon, 180.0 - width), min(lat, 90.0 - height)
    east, north = west + width, south + height
    area = area_from_coordinates(typed(box(west, south, east, north)[:-1]))
    back = area_of_geojson(normalised_geojson(area))
    assert back.is_valid
    assert isinstance(back, Polygon)
    for kept, given_ in zip(back.bounds, (west, south, east, north), strict=True):
        assert abs(kept - given_) <= 0.5e-7 + 1e-12, (back.bounds, (west, south, east, north))
    # the surface moves by at most the rounding along the perimeter
    assert math.isclose(back.area, area.area, abs_tol=2 * (width + height) * 0.5e-7 + 1e-12)


def test_normalising_what_was_kept_gives_the_same_bytes():
    kept = normalised_geojson(area_from_coordinates(typed(PROJECT[:-1])))
    assert normalised_geojson(area_of_geojson(kept)) == kept
