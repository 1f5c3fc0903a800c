"""The server-rendered SVG maps: what a person reads on them, and what an attacker cannot."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

from fpic.geo.svg import Layer, render_map

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>" onload="x'
_TOKEN = re.compile(r"[MmLlHhVvZz]|-?(?:\d+\.?\d*|\.\d+)")


def english(message: str) -> str:
    return message


def render(
    layers: list[Layer],
    *,
    title: str = "Map",
    description: str = "Where the project is",
    id_prefix: str = "map",
    width: int = 640,
    height: int = 440,
) -> str:
    svg = render_map(
        layers,
        english,
        title=title,
        description=description,
        id_prefix=id_prefix,
        width=width,
        height=height,
    )
    assert svg is not None
    return svg


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def view_box(root: ET.Element) -> tuple[float, float]:
    x, y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert (x, y) == (0, 0)
    return width, height


def group(root: ET.Element, id_: str) -> ET.Element:
    found = root.find(f".//{SVG}g[@id='{id_}']")
    assert found is not None, id_
    return found


def legend(root: ET.Element, prefix: str = "map") -> list[str]:
    return ["".join(t.itertext()) for t in group(root, f"{prefix}-legend").iter(f"{SVG}text")]


Ring = list[tuple[float, float]]


class _Pen:
    """Follows path data that uses M, L, H, V and Z (either case), as a viewer would."""

    def __init__(self) -> None:
        self.x = self.y = 0.0
        self.start = (0.0, 0.0)
        self.rings: list[Ring] = []

    def draw(self, command: str, numbers: list[float]) -> None:
        kind, relative = command.upper(), command.islower()
        if kind == "Z":
            self.x, self.y = self.start
            return
        step = 1 if kind in "HV" else 2
        for i in range(0, len(numbers), step):
            a, b = numbers[i], numbers[i + 1] if step == 2 else 0.0
            if kind == "H":
                self.x = self.x + a if relative else a
            elif kind == "V":
                self.y = self.y + a if relative else a
            else:
                self.x, self.y = (self.x + a, self.y + b) if relative else (a, b)
            if kind == "M" and i == 0:
                self.start = (self.x, self.y)
                self.rings.append([])
            self.rings[-1].append((self.x, self.y))


def subpaths(d: str) -> list[Ring]:
    """The absolute points of each subpath of ``d``."""
    tokens = _TOKEN.findall(d)
    assert "".join(tokens) == re.sub(r"\s", "", d), f"unparsed path data: {d}"
    pen = _Pen()
    command, numbers = "", []
    for token in [*tokens, "Z"]:
        if token[0].isalpha():
            if command:
                pen.draw(command, numbers)
            command, numbers = token, []
        else:
            numbers.append(float(token))
    pen.draw(command, numbers)
    return pen.rings


def feature(root: ET.Element, name: str) -> list[Ring]:
    """The subpaths of the one feature drawn with ``name`` as its tooltip."""
    paths = [
        p
        for p in group(root, "map-features").iter(f"{SVG}path")
        if p.findtext(f"{SVG}title") == name
    ]
    assert len(paths) == 1, name
    return subpaths(paths[0].attrib["d"])


def bbox(rings: list[Ring]) -> tuple[float, float, float, float]:
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def all_path_points(root: ET.Element) -> list[tuple[float, float]]:
    """Every point of every path drawn (a pattern's tile has its own coordinates: left out)."""
    defs = {id(p) for d in root.iter(f"{SVG}defs") for p in d.iter(f"{SVG}path")}
    return [
        point
        for p in root.iter(f"{SVG}path")
        if id(p) not in defs
        for ring in subpaths(p.attrib["d"])
        for point in ring
    ]


def everything() -> list[Layer]:
    return [
        Layer("legacy_site", "Old shaft", Point(10.03, 45.08)),
        Layer("kba", "Lake KBA", box(10.05, 44.92, 10.15, 45.0)),
        Layer("protected_area", "Park", box(9.9, 44.9, 10.0, 45.0), "II", world_heritage=True),
        Layer("protected_area", "Reserve", box(10.1, 45.0, 10.2, 45.1), "Ia"),
        Layer("protected_area", "Unassigned", box(10.0, 45.1, 10.1, 45.15), "Not Assigned"),
        Layer("critical_habitat", "Nesting grounds", box(10.12, 45.05, 10.18, 45.12)),
        Layer("territory", "Community land", box(9.95, 44.95, 10.1, 45.1)),
        Layer("project", "Mine", box(10.0, 45.0, 10.05, 45.03)),
    ]


def test_the_map_is_one_accessible_svg_element():
    root = parse(render(everything(), title="Mine & lake", description="Where <it> is"))
    assert root.tag == f"{SVG}svg"
    width, height = view_box(root)
    assert (root.attrib["width"], root.attrib["height"]) == (f"{width:g}", f"{height:g}")
    assert width == 640
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-labelledby"] == "map-title map-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert (title.attrib["id"], title.text) == ("map-title", "Mine & lake")
    assert (desc.attrib["id"], desc.text) == ("map-desc", "Where <it> is")


def test_nothing_needs_a_stylesheet_a_script_or_the_network():
    svg = render(everything())
    for element in parse(svg).iter():
        assert "style" not in element.attrib
        assert "class" not in element.attrib
        assert element.tag not in {f"{SVG}style", f"{SVG}script", f"{SVG}image"}
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_legend_lists_only_what_is_drawn():
    layers = [
        Layer("project", "Mine", box(10.0, 45.0, 10.05, 45.03)),
        Layer("protected_area", "Park", box(9.9, 44.9, 10.0, 45.0), "II", world_heritage=True),
    ]
    assert legend(parse(render(layers))) == [
        "Project area",
        "Protected area, IUCN category II",
        "World Heritage property",
    ]


def test_the_legend_has_a_fixed_order_and_the_categories_in_iucn_order():
    layers = [
        *everything(),
        Layer("protected_area", "Forest", box(9.8, 44.9, 9.9, 45.0), " vi "),
        Layer("protected_area", "Marsh", box(9.8, 45.0, 9.9, 45.1)),
    ]
    assert legend(parse(render(layers))) == [
        "Project area",
        "Community territory",
        "Protected area, IUCN category Ia",
        "Protected area, IUCN category II",
        "Protected area, IUCN category VI",
        "Protected area, IUCN category Not Reported",
        "Protected area, IUCN category Not Assigned",
        "World Heritage property",
        "Critical habitat",
        "Key Biodiversity Area",
        "Legacy mine site",
    ]


def test_an_unknown_category_or_kind_is_refused():
    with pytest.raises(ValueError, match="IUCN"):
        render([Layer("protected_area", "Park", box(0, 0, 1, 1), "Category 2")])
    with pytest.raises(ValueError, match="road"):
        render([Layer("road", "A1", box(0, 0, 1, 1))])  # type: ignore[arg-type]


def test_features_are_drawn_fills_first_and_the_project_on_top():
    root = parse(render(everything()))
    drawn = [t.text for t in group(root, "map-features").iter(f"{SVG}title")]
    assert drawn == [
        "Reserve",  # protected areas, by category
        "Park",
        "Unassigned",
        "Lake KBA",
        "Nesting grounds",
        "Park",  # its World Heritage outline, over its fill
        "Community land",
        "Old shaft",
        "Mine",
    ]


def test_the_legend_never_covers_the_map():
    root = parse(render(everything()))
    rect = root.find(f"{SVG}rect[@id='map-frame']")
    assert rect is not None
    frame = float(rect.attrib["height"])
    drawn = [y for ring in _feature_rings(root) for _, y in ring]
    assert max(drawn) < frame
    assert min(float(t.attrib["y"]) for t in group(root, "map-legend").iter(f"{SVG}text")) > frame


def _feature_rings(root: ET.Element) -> list[Ring]:
    paths = group(root, "map-features").iter(f"{SVG}path")
    return [ring for p in paths for ring in subpaths(p.attrib["d"])]


def test_a_territory_split_at_the_antimeridian_is_drawn_as_one_shape():
    halves = MultiPolygon([box(179.5, -17, 180, -16), box(-180, -17, -179.5, -16)])
    root = parse(render([Layer("territory", "Islands", halves)]))
    width, height = view_box(root)
    rings = feature(root, "Islands")
    assert len(rings) == 1  # the halves are united: no seam drawn down the middle
    west, north, east, south = bbox(rings)
    assert 0 <= west < east <= width
    assert 0 <= north < south <= height
    # a degree of longitude at 16.5° S is cos(16.5°) of a degree of latitude
    assert (east - west) / (south - north) == pytest.approx(math.cos(math.radians(16.5)), rel=0.02)


def test_the_halves_of_a_shape_at_the_antimeridian_sit_side_by_side():
    west_half = Layer("territory", "West", box(179.5, -17, 180, -16))
    east_half = Layer("protected_area", "East", box(-180, -17, -179.5, -16), "V")
    root = parse(render([west_half, east_half]))
    width, _ = view_box(root)
    w_west, w_north, w_east, w_south = bbox(feature(root, "West"))
    e_west, e_north, e_east, e_south = bbox(feature(root, "East"))
    assert w_east == pytest.approx(e_west, abs=0.2)  # they touch at the antimeridian
    assert (w_north, w_south) == pytest.approx((e_north, e_south), abs=0.2)
    assert w_west >= 0
    assert e_east <= width
    assert (w_east - w_west) == pytest.approx(e_east - e_west, abs=0.3)


def test_the_middle_of_179_5_and_minus_179_5_is_the_antimeridian():
    """Centred on 0° the two sites would be 40,000 km round the Earth apart, not 111 km."""
    sites = [
        Layer("legacy_site", "A", Point(179.5, 0)),
        Layer("legacy_site", "B", Point(-179.5, 0)),
    ]
    root = parse(render(sites))
    assert [t.text for t in group(root, "map-scale").iter(f"{SVG}text")] == ["20 km"]


def test_holes_are_drawn_as_holes():
    outer = [(10.0, 45.0), (10.2, 45.0), (10.2, 45.2), (10.0, 45.2)]
    hole = [(10.05, 45.05), (10.15, 45.05), (10.15, 45.15), (10.05, 45.15)]
    root = parse(render([Layer("protected_area", "Ring park", Polygon(outer, [hole]), "IV")]))
    assert group(root, "map-features").attrib["fill-rule"] == "evenodd"
    shell, inner = feature(root, "Ring park")
    s_west, s_north, s_east, s_south = bbox([shell])
    i_west, i_north, i_east, i_south = bbox([inner])
    assert s_west < i_west < i_east < s_east
    assert s_north < i_north < i_south < s_south
    assert (i_east - i_west) == pytest.approx((s_east - s_west) / 2, rel=0.02)


def test_what_a_person_typed_is_only_ever_text():
    layers = [
        Layer("project", EVIL, box(10.0, 45.0, 10.05, 45.03)),
        Layer("territory", "nul\x00 and \x1b escape \ud800", box(9.9, 44.9, 10.1, 45.1)),
    ]
    svg = render(layers, title=EVIL, description=EVIL)
    root = parse(svg)
    assert {e.tag for e in root.iter()} <= {
        f"{SVG}{tag}"
        for tag in ("svg", "title", "desc", "defs", "pattern", "path", "rect", "g", "text")
    }
    assert not [e for e in root.iter() if "onload" in e.attrib]
    assert "<script" not in svg
    assert root.findtext(f"{SVG}title") == EVIL
    assert root.findtext(f"{SVG}desc") == EVIL
    assert feature(root, EVIL)
    svg.encode("utf-8")  # a lone surrogate would fail here


@pytest.mark.parametrize("prefix", ["", "1map", "map one", 'a"b', "map\n", "-map", "map<", "é"])
def test_a_bad_id_prefix_is_refused(prefix):
    with pytest.raises(ValueError, match="id_prefix"):
        render(everything(), id_prefix=prefix)


def test_every_id_is_prefixed_and_every_reference_resolves():
    svg = render(everything(), id_prefix="case-12_a")
    root = parse(svg)
    ids = [e.attrib["id"] for e in root.iter() if "id" in e.attrib]
    assert ids
    assert all(i.startswith("case-12_a-") for i in ids)
    assert len(ids) == len(set(ids))
    references = re.findall(r"url\(#([^)]+)\)", svg) + root.attrib["aria-labelledby"].split()
    assert "case-12_a-territory" in references
    assert set(references) <= set(ids)


def test_two_maps_on_one_page_share_no_id():
    first, second = (parse(render(everything(), id_prefix=p)) for p in ("a", "b"))
    ids = [{e.attrib["id"] for e in root.iter() if "id" in e.attrib} for root in (first, second)]
    assert not ids[0] & ids[1]


def _wiggly_parks(noise: float) -> list[Layer]:
    rng = np.random.default_rng(7)
    angles = np.linspace(0, 2 * np.pi, 500, endpoint=False)
    parks = []
    for i in range(100):
        x, y = rng.uniform(10, 12), rng.uniform(45, 47)
        radius = 0.05 * (1 + 0.3 * np.sin(5 * angles + i) + noise * rng.standard_normal(500))
        ring = np.column_stack([x + radius * np.cos(angles), y + radius * np.sin(angles)])
        parks.append(Layer("protected_area", f"Park {i}", Polygon(ring), ("II", "IV", "VI")[i % 3]))
    return parks


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_a_hundred_detailed_areas_stay_small_enough_for_a_slow_link(noise):
    svg = render(_wiggly_parks(noise))
    assert len(svg.encode("utf-8")) < 60_000
    assert len(feature(parse(svg), "Park 99")[0]) >= 8  # still drawn as a shape


def test_the_scale_bar_is_round_and_true():
    # two sites 0.2° apart on the equator, the map centred between them: distances from the
    # centre are true in an azimuthal equidistant projection
    sites = [Layer("legacy_site", "W", Point(-0.1, 0)), Layer("legacy_site", "E", Point(0.1, 0))]
    root = parse(render(sites))
    (west,), (east,) = feature(root, "W"), feature(root, "E")
    metres = Geod(ellps="WGS84").inv(-0.1, 0, 0.1, 0)[2]
    pixels_per_metre = (east[0][0] - west[0][0]) / metres
    scale = group(root, "map-scale")
    label = "".join(scale.itertext())
    match = re.fullmatch(r"([125]0*) (km|m)", label)
    assert match, label
    bar_metres = int(match[1]) * (1000 if match[2] == "km" else 1)
    bar = scale.find(f"{SVG}rect")
    assert bar is not None
    drawn = float(bar.attrib["width"])
    assert drawn == pytest.approx(bar_metres * pixels_per_metre, rel=0.01)
    width, _ = view_box(root)
    assert width / 12.5 < drawn <= width / 5  # about a fifth of the map


def test_a_small_scale_bar_is_in_metres():
    root = parse(render([Layer("project", "Pad", box(10.0, 45.0, 10.002, 45.001))]))
    assert re.fullmatch(r"[125]0* m", "".join(group(root, "map-scale").itertext()))


def _marked(message: str) -> str:
    return f"«{message}»"


def test_every_word_of_the_map_goes_through_gettext():
    svg = render_map(everything(), _marked, title="t", description="d")
    assert svg is not None
    root = parse(svg)
    words = [
        "".join(t.itertext()) for name in ("legend", "scale", "north") for t in _texts(root, name)
    ]
    assert len(words) == 11  # 9 legend entries, the scale bar, the north arrow's letter
    assert all(w.startswith("«") and w.endswith("»") for w in words), words
    assert "«Protected area, IUCN category «Not Assigned»»" in words
    assert group(root, "map-north").findtext(f"{SVG}title") == "«North»"


def _texts(root: ET.Element, name: str) -> list[ET.Element]:
    return list(group(root, f"map-{name}").iter(f"{SVG}text"))


SPANISH = {
    "Project area": "Área del proyecto",
    "Protected area, IUCN category %(category)s": "Área protegida, categoría UICN %(category)s",
    "Not Reported": "No informada",
    "%(km)s km": "%(km)s km",
    "N": "N",
}


def test_a_spanish_map():
    layers = [
        Layer("project", "Mina", box(10.0, 45.0, 10.05, 45.03)),
        Layer("protected_area", "Parque", box(9.9, 44.9, 10.0, 45.0)),
    ]
    svg = render_map(layers, lambda m: SPANISH.get(m, m), title="Mapa", description="d")
    assert svg is not None
    assert legend(parse(svg)) == [
        "Área del proyecto",
        "Área protegida, categoría UICN No informada",
    ]


def test_a_translation_with_a_wrong_placeholder_falls_back_to_english():
    def broken(message: str) -> str:
        return message.replace("%(category)s", "%(categoria)s")

    layers = [Layer("protected_area", "Parque", box(9.9, 44.9, 10.0, 45.0), "III")]
    svg = render_map(layers, broken, title="t", description="d")
    assert svg is not None
    assert legend(parse(svg)) == ["Protected area, IUCN category III"]


def test_a_single_point_is_a_map_ten_kilometres_across():
    root = parse(render([Layer("legacy_site", "Adit", Point(-70.5, -30.2))]))
    ((top, *_),) = feature(root, "Adit")
    width, _ = view_box(root)
    assert top[0] == pytest.approx(width / 2, abs=0.1)
    assert "".join(group(root, "map-scale").itertext()) == "2 km"


def test_an_area_too_small_to_see_is_marked_where_it_is():
    layers = [
        Layer("territory", "Valley", box(10.0, 45.0, 11.0, 46.0)),
        Layer("project", "Well pad", box(10.5, 45.5, 10.5001, 45.5001)),
    ]
    root = parse(render(layers))
    (marker,) = feature(root, "Well pad")
    west, north, east, south = bbox([marker])
    assert east - west >= 6
    assert south - north >= 6


@pytest.mark.parametrize(
    ("shape", "subpath_count"),
    [
        (Polygon([(10, 45), (10.1, 45.1), (10.2, 45.2)]), 1),  # no area: a marker
        (Polygon([(10, 45), (10.1, 45.1), (10.1, 45), (10, 45.1)]), 2),  # a bow tie: 2 triangles
        (GeometryCollection([box(10, 45, 10.1, 45.1), LineString([(10, 45), (11, 46)])]), 1),
        (GeometryCollection([box(10, 45, 10.1, 45.1), Point(10.2, 45.2)]), 2),
    ],
)
def test_odd_shapes_still_show(shape, subpath_count):
    root = parse(render([Layer("project", "Odd", shape)]))
    assert len(feature(root, "Odd")) == subpath_count


@pytest.mark.parametrize(
    "layers",
    [
        [],
        [Layer("project", "Nothing", Polygon())],
        [Layer("kba", "Nothing", GeometryCollection()), Layer("territory", "", MultiPolygon())],
    ],
)
def test_nothing_to_draw_is_no_map(layers):
    assert render_map(layers, english, title="t", description="d") is None


def test_the_same_layers_give_the_same_bytes():
    assert render(everything()) == render(everything())


def _split_at_antimeridian(shape: Polygon) -> Polygon | MultiPolygon:
    """As RFC 7946 asks: a shape crossing ±180° as the parts either side of it."""
    parts = []
    for turn in (-360, 0, 360):
        moved = Polygon([(x + turn, y) for x, y in shape.exterior.coords])
        part = moved.intersection(box(-180, -90, 180, 90))
        if not part.is_empty and part.area > 0:
            parts.append(part)
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


@settings(max_examples=40, deadline=None)
@given(
    lon=st.one_of(st.floats(-180, 180), st.floats(176, 180), st.floats(-180, -176)),
    lat=st.floats(-75, 75),
    half_width=st.floats(0.001, 4),
    half_height=st.floats(0.001, 4),
    width=st.integers(200, 1200),
    height=st.integers(200, 900),
)
def test_any_area_anywhere_is_drawn_whole_inside_the_view_box(
    lon, lat, half_width, half_height, width, height
):
    area = _split_at_antimeridian(
        box(lon - half_width, lat - half_height, lon + half_width, lat + half_height)
    )
    root = parse(render([Layer("territory", "T", area)], width=width, height=height))
    box_width, box_height = view_box(root)
    assert len(feature(root, "T")) == 1  # whole, even when it was split
    for x, y in all_path_points(root):
        assert 0 <= x <= box_width
        assert 0 <= y <= box_height
