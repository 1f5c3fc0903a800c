"""Maps drawn on the server as SVG: a project's area and what lies around it, readable offline.

A map is one ``<svg>`` element with no tiles, scripts, stylesheets or ``style`` attributes (the
Content-Security-Policy forbids inline styles): presentation attributes only, so it looks the
same inlined in a page, saved with it or printed. It is drawn in an azimuthal equidistant
projection centred on what it shows, so the scale bar is true near the middle, and areas split
at the antimeridian (RFC 7946) come out whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

from fpic.i18n import N_

LayerKind = Literal[
    "project", "territory", "protected_area", "critical_habitat", "kba", "legacy_site"
]


@dataclass(frozen=True)
class Layer:
    """One feature to draw, in WGS 84 longitude and latitude."""

    kind: LayerKind
    #: the feature's own name (a park's, a community's), shown as typed in its tooltip
    name: str
    #: Polygon, MultiPolygon or Point; of a collection, the polygons and points are drawn
    geometry: BaseGeometry
    #: IUCN category of a protected area: "Ia" … "VI", "Not Reported", "Not Applicable" or
    #: "Not Assigned" (any case); none given is drawn as "Not Reported"
    category: str | None = None
    #: a World Heritage property: drawn with its own outline on top, with its own legend entry
    world_heritage: bool = False


Gettext = Callable[[str], str]
Floats = npt.NDArray[np.float64]
Geometries = npt.NDArray[np.object_]

_ID_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
#: characters XML 1.0 cannot hold at all: a name carrying one would make the map unreadable
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_IUCN_ORDER = (
    "Ia",
    "Ib",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "Not Reported",
    "Not Applicable",
    "Not Assigned",
)
#: the categories that are words (the others are codes, the same in every language)
_CATEGORY_WORDS = {
    "Not Reported": N_("Not Reported"),
    "Not Applicable": N_("Not Applicable"),
    "Not Assigned": N_("Not Assigned"),
}
#: strict protection dark teal to sustainable use yellow-green (a stretch of viridis, which
#: stays ordered for the common colour-vision deficiencies and in greyscale print); greys for
#: the categories that say nothing about protection
_CATEGORY_COLOURS = {
    "Ia": "#2d708e",
    "Ib": "#25858e",
    "II": "#1f9e89",
    "III": "#2ab07f",
    "IV": "#52c569",
    "V": "#86d549",
    "VI": "#c2df23",
    "Not Reported": "#8a8a8a",
    "Not Applicable": "#b0b0b0",
    "Not Assigned": "#5f5f5f",
}

_LABELS = {
    "project": N_("Project area"),
    "territory": N_("Community territory"),
    "critical_habitat": N_("Critical habitat"),
    "kba": N_("Key Biodiversity Area"),
    "legacy_site": N_("Legacy mine site"),
    "world_heritage": N_("World Heritage property"),
}
_PROTECTED_AREA = N_("Protected area, IUCN category %(category)s")

# Layout, in pixels of the viewBox.
_MARGIN = 12.0  # round the drawn features, so markers stay inside the map
_PAD = 10.0  # round the scale bar, the north arrow and the legend
_FONT = 11.0
_CHAR_WIDTH = 0.6 * _FONT  # wide enough for most sans-serif text: we cannot measure it
_ROW = 16.0
_SCALE_ROW = 32.0
_SWATCH = (16.0, 10.0)
_MIN_SIZE = 100
#: shapes narrower than this are drawn as a marker, so a small project still shows
_TINY = 3.0
#: simplified to half a pixel, or coarser while a map would have more points than this: at 7
#: to 10 bytes each, they keep a map of many detailed shapes under 60 KB for a slow link
_POINT_BUDGET = 5000
_MAX_TOLERANCE = 4.0
#: metres across a map of points alone, and across any map at least
_POINT_SPAN = 10_000.0
_MIN_SPAN = 100.0
#: a straight edge in degrees is cut into pieces this fraction of the map long, so that it
#: bends as it should once projected
_SEGMENTS = 64.0

_Attrs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Group:
    """Features drawn alike: one entry of the legend, one ``<g>`` on the map."""

    key: str
    label: str
    attrs: _Attrs
    marker: Literal["square", "triangle"]
    layers: tuple[int, ...]


@dataclass(frozen=True)
class _Frame:
    """Where metres land in the viewBox."""

    scale: float  # pixels per metre
    x0: float
    y0: float

    def to_pixels(self, coords: Floats) -> Floats:
        factor = np.array([self.scale, -self.scale], dtype=np.float64)
        shift = np.array([self.x0, self.y0], dtype=np.float64)
        moved: Floats = coords * factor + shift
        return moved


def render_map(
    layers: Sequence[Layer],
    gettext: Gettext,
    *,
    title: str,
    description: str,
    id_prefix: str = "map",
    width: int = 640,
    height: int = 440,
) -> str | None:
    """The SVG text of a map of ``layers``, or None when there is nothing to draw.

    ``title`` and ``description`` are already translated; ``gettext`` translates the legend's,
    the scale bar's and the north arrow's words. ``id_prefix`` starts every id in the map, so
    that several maps can share a page. ``height`` grows when the legend needs more than half
    of it. Raises ValueError for a bad prefix or size, an unknown IUCN category, or
    coordinates that are not longitude and latitude.
    """
    if not _ID_PREFIX.fullmatch(id_prefix):
        raise ValueError(f"id_prefix must match {_ID_PREFIX.pattern}: {id_prefix!r}")
    if width < _MIN_SIZE or height < _MIN_SIZE:
        raise ValueError(f"a map is at least {_MIN_SIZE} by {_MIN_SIZE}: {width} by {height}")
    unknown = sorted({layer.kind for layer in layers} - set(get_args(LayerKind)))
    if unknown:
        raise ValueError(f"not a kind of layer: {', '.join(unknown)}")
    kept = [layer for layer in layers if _drawable(layer.geometry)]
    if not kept:
        return None
    groups = _groups(kept, gettext, id_prefix)
    legend = _Legend.lay_out([g.label for g in groups], width)
    map_height = max(height - legend.strip_height, height // 2)
    shapes = _projected(kept)
    frame = _fit(shapes, width, map_height, points_only=not _has_area(kept))
    pixels = _simplified(shapely.transform(shapes, frame.to_pixels))
    names = [layer.name for layer in kept]
    parts = [
        _open(width, map_height + legend.strip_height, id_prefix, title, description),
        _defs(groups, id_prefix),
        _background(width, map_height, id_prefix),
        _features(groups, pixels, names, id_prefix),
        _scale_bar(frame.scale, width, map_height, gettext, id_prefix),
        _north_arrow(width, map_height, gettext, id_prefix),
        legend.render(groups, map_height + _SCALE_ROW, id_prefix),
        "</svg>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


# --- geometry -------------------------------------------------------------------------------


def _pieces(geometry: BaseGeometry) -> tuple[list[Polygon], list[Point]]:
    """The polygons and points of ``geometry``, in order, collections opened."""
    polygons: list[Polygon] = []
    points: list[Point] = []
    stack = [geometry]
    while stack:
        piece = stack.pop()
        if piece.is_empty:
            continue
        if isinstance(piece, Polygon):
            polygons.append(piece)
        elif isinstance(piece, Point):
            points.append(piece)
        elif isinstance(piece, BaseMultipartGeometry):
            stack.extend(reversed(piece.geoms))
    return polygons, points


def _drawable(geometry: BaseGeometry) -> bool:
    polygons, points = _pieces(geometry)
    return bool(polygons or points)


def _has_area(layers: Sequence[Layer]) -> bool:
    return any(_pieces(layer.geometry)[0] for layer in layers)


def _middle_longitude(longitudes: Floats) -> float:
    """The middle of the shortest arc holding every longitude: it is the widest gap between
    them that the map leaves out, so 179.5 and -179.5 have their middle at 180, not 0."""
    ring = np.unique(np.mod(longitudes + 180.0, 360.0) - 180.0)
    gaps = np.diff(np.append(ring, ring[0] + 360.0))
    widest = int(np.argmax(gaps))
    start = float(ring[(widest + 1) % ring.size])
    middle = start + (360.0 - float(gaps[widest])) / 2
    return float(np.mod(middle + 180.0, 360.0) - 180.0)


def _checked_coordinates(geometries: Geometries) -> Floats:
    coords = shapely.get_coordinates(geometries)
    if not np.isfinite(coords).all() or (np.abs(coords[:, 1]) > 90.0).any():
        raise ValueError("a layer's coordinates are not WGS 84 longitude and latitude")
    return coords


def _unwrapper(centre: float) -> Callable[[Floats], Floats]:
    """Moves each longitude by whole turns to within 180° of ``centre``: the halves of a shape
    split at the antimeridian then share their seam exactly (-180 + 360 is 180)."""

    def unwrap(coords: Floats) -> Floats:
        turns = np.round((centre - coords[:, 0]) / 360.0)
        return np.column_stack([coords[:, 0] + 360.0 * turns, coords[:, 1]])

    return unwrap


def _merged(geometry: BaseGeometry) -> BaseGeometry:
    """One valid shape per layer: its polygons united (so halves split at the antimeridian
    become one), its points kept as they are."""
    polygons, points = _pieces(geometry)
    shapes: list[BaseGeometry] = []
    if polygons:
        valid = [p if p.is_valid else shapely.make_valid(p) for p in polygons]
        united = shapely.union_all(valid) if len(valid) > 1 else valid[0]
        area = _pieces(united)[0]
        if area:
            shapes.append(MultiPolygon(area))
        else:
            # polygons with no area at all (their points on a line): still shown where they are
            west, south, east, north = MultiPolygon(polygons).bounds
            points = [*points, Point((west + east) / 2, (south + north) / 2)]
    if points:
        shapes.append(MultiPoint(points))
    return shapes[0] if len(shapes) == 1 else shapely.GeometryCollection(shapes)


def _projected(layers: Sequence[Layer]) -> Geometries:
    """The layers in metres, in an azimuthal equidistant projection centred on them all."""
    geometries = np.array([layer.geometry for layer in layers], dtype=object)
    coords = _checked_coordinates(geometries)
    lon = _middle_longitude(coords[:, 0])
    lat = (float(coords[:, 1].min()) + float(coords[:, 1].max())) / 2
    unwrapped = shapely.transform(geometries, _unwrapper(lon))
    merged = np.array([_merged(g) for g in unwrapped], dtype=object)
    west, south, east, north = shapely.total_bounds(merged)
    span = max(east - west, north - south)
    if span > 0:
        merged = shapely.segmentize(merged, span / _SEGMENTS)
    metres = shapely.transform(merged, _to_metres(lon, lat))
    if not np.isfinite(shapely.get_coordinates(metres)).all():
        raise ValueError("the layers are too far apart to draw on one map")
    return metres


@lru_cache(maxsize=64)
def _transformer(lon: float, lat: float) -> Transformer:
    # cached: building one takes ~10 ms, a page shows the same project's map again and again,
    # and pyproj's transformers are thread-safe since 3.1
    projection = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
    return Transformer.from_crs("EPSG:4326", projection, always_xy=True)


def _to_metres(lon: float, lat: float) -> Callable[[Floats], Floats]:
    # vectorised over every coordinate of every layer at once: about twice as fast as
    # shapely.ops.transform, which calls PROJ once per ring (and is deprecated in shapely 2.1)
    forward = _transformer(round(lon, 7), round(lat, 7))

    def project(coords: Floats) -> Floats:
        x, y = forward.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return project


def _fit(shapes: Geometries, width: float, height: float, *, points_only: bool) -> _Frame:
    """Fits the shapes in the map's part of the viewBox, metres square and north up."""
    west, south, east, north = (float(v) for v in shapely.total_bounds(shapes))
    least = _POINT_SPAN if points_only else _MIN_SPAN
    span_x = max(east - west, least)
    span_y = max(north - south, least)
    scale = min((width - 2 * _MARGIN) / span_x, (height - 2 * _MARGIN) / span_y)
    x0 = width / 2 - (west + east) / 2 * scale
    y0 = height / 2 + (south + north) / 2 * scale
    return _Frame(scale, x0, y0)


def _simplified(pixels: Geometries) -> Geometries:
    tolerance = 0.5
    simpler = shapely.simplify(pixels, tolerance, preserve_topology=True)
    while int(shapely.get_num_coordinates(simpler).sum()) > _POINT_BUDGET:
        if tolerance >= _MAX_TOLERANCE:
            break
        tolerance *= 1.5
        # from the last result, not the original: each pass reads far fewer points
        simpler = shapely.simplify(simpler, tolerance, preserve_topology=True)
    return simpler


# --- drawing --------------------------------------------------------------------------------


def _category(layer: Layer) -> str:
    if layer.category is None or not layer.category.strip():
        return "Not Reported"
    wanted = layer.category.strip().casefold()
    for known in _IUCN_ORDER:
        if known.casefold() == wanted:
            return known
    raise ValueError(f"{layer.name!r}: not an IUCN category: {layer.category!r}")


def _groups(layers: Sequence[Layer], gettext: Gettext, prefix: str) -> list[_Group]:
    """The groups present, in the legend's order."""

    def where(test: Callable[[Layer], bool]) -> tuple[int, ...]:
        return tuple(i for i, layer in enumerate(layers) if test(layer))

    def kind(name: str) -> tuple[int, ...]:
        return where(lambda layer: layer.kind == name)

    categories = {i: _category(layers[i]) for i in kind("protected_area")}
    legacy_points = any(_pieces(layers[i].geometry)[1] for i in kind("legacy_site"))
    candidates = [
        _Group("project", _say(gettext, _LABELS["project"]), _PROJECT, "square", kind("project")),
        _Group(
            "territory",
            _say(gettext, _LABELS["territory"]),
            _hatched("#6a3d9a", "1.5", prefix, "territory"),
            "square",
            kind("territory"),
        ),
        *(_protected_group(c, categories, gettext) for c in _IUCN_ORDER),
        _Group(
            "world_heritage",
            _say(gettext, _LABELS["world_heritage"]),
            _WORLD_HERITAGE,
            "square",
            where(lambda layer: layer.world_heritage),
        ),
        _Group(
            "critical_habitat",
            _say(gettext, _LABELS["critical_habitat"]),
            _hatched("#8c510a", "1", prefix, "habitat"),
            "square",
            kind("critical_habitat"),
        ),
        _Group("kba", _say(gettext, _LABELS["kba"]), _KBA, "square", kind("kba")),
        _Group(
            "legacy_site",
            _say(gettext, _LABELS["legacy_site"]),
            _LEGACY,
            "triangle" if legacy_points else "square",
            kind("legacy_site"),
        ),
    ]
    return [group for group in candidates if group.layers]


def _protected_group(category: str, categories: dict[int, str], gettext: Gettext) -> _Group:
    word = _CATEGORY_WORDS.get(category)
    shown = _say(gettext, word) if word else category
    colour = _CATEGORY_COLOURS[category]
    return _Group(
        f"protected_area:{category}",
        _say(gettext, _PROTECTED_AREA, category=shown),
        (
            ("fill", colour),
            ("fill-opacity", ".45"),
            ("stroke", colour),
            ("stroke-width", ".8"),
        ),
        "square",
        tuple(i for i, c in categories.items() if c == category),
    )


_PROJECT: _Attrs = (
    ("fill", "#d55e00"),
    ("fill-opacity", ".15"),
    ("stroke", "#d55e00"),
    ("stroke-width", "2.5"),
    ("stroke-linejoin", "round"),
)
_WORLD_HERITAGE: _Attrs = (
    ("fill", "none"),
    ("stroke", "#0072b2"),
    ("stroke-width", "3"),
    ("stroke-dasharray", "7 4"),
)
_KBA: _Attrs = (
    ("fill", "none"),
    ("stroke", "#222"),
    ("stroke-width", "1.6"),
    ("stroke-dasharray", ".1 3.2"),
    ("stroke-linecap", "round"),
)
_LEGACY: _Attrs = (
    ("fill", "#f0e442"),
    ("fill-opacity", ".85"),
    ("stroke", "#222"),
    ("stroke-width", "1"),
)


def _hatched(colour: str, width: str, prefix: str, name: str) -> _Attrs:
    return (("fill", f"url(#{prefix}-{name})"), ("stroke", colour), ("stroke-width", width))


_PATTERNS = {
    # lines leaning opposite ways, so a territory over critical habitat shows both
    "territory": ("#6a3d9a", "45", "6"),
    "habitat": ("#8c510a", "-45", "5"),
}


def _defs(groups: Sequence[_Group], prefix: str) -> str:
    used = {"territory": "territory", "critical_habitat": "habitat"}
    patterns = []
    for group in groups:
        name = used.get(group.key)
        if name is None:
            continue
        colour, angle, step = _PATTERNS[name]
        patterns.append(
            f'<pattern id="{prefix}-{name}" width="{step}" height="{step}" '
            f'patternUnits="userSpaceOnUse" patternTransform="rotate({angle})">'
            f'<path d="M0 0V{step}" stroke="{colour}" stroke-width="1.2"/></pattern>'
        )
    return f"<defs>{''.join(patterns)}</defs>" if patterns else ""


def _open(width: float, height: float, prefix: str, title: str, description: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" role="img" '
        f'aria-labelledby="{prefix}-title {prefix}-desc" font-family="sans-serif" '
        f'font-size="{_n(_FONT)}">\n'
        f'<title id="{prefix}-title">{_text(title)}</title>\n'
        f'<desc id="{prefix}-desc">{_text(description)}</desc>'
    )


def _background(width: int, map_height: int, prefix: str) -> str:
    # white under everything, so the map reads the same on a dark page as on paper
    return (
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<rect id="{prefix}-frame" x=".5" y=".5" width="{width - 1}" height="{map_height - 1}" '
        f'fill="none" stroke="#bbb"/>'
    )


def _features(groups: Sequence[_Group], pixels: Geometries, names: list[str], prefix: str) -> str:
    # drawn bottom to top: fills under outlines, the project over everything
    order = ["protected_area", "kba", "critical_habitat", "world_heritage", "territory"]
    order += ["legacy_site", "project"]
    drawn = sorted(groups, key=lambda g: order.index(g.key.split(":")[0]))
    out = [f'<g id="{prefix}-features" fill-rule="evenodd">']
    for group in drawn:
        out.append(f"<g{_attrs(group.attrs)}>")
        for i in group.layers:
            d = _path_data(pixels[i], group.marker)
            if d:
                out.append(_path(d, names[i]))
        out.append("</g>")
    out.append("</g>")
    return "\n".join(out)


def _path(d: str, name: str) -> str:
    shown = _text(name.strip())
    return f'<path d="{d}"><title>{shown}</title></path>' if shown else f'<path d="{d}"/>'


def _path_data(geometry: BaseGeometry, marker: Literal["square", "triangle"]) -> str:
    polygons, points = _pieces(geometry)
    area = _area_data(polygons)
    if polygons and not area:
        # too small or too thin to see at this scale: marked where it is instead
        west, south, east, north = MultiPolygon(polygons).bounds
        points = [*points, Point((west + east) / 2, (south + north) / 2)]
    return area + "".join(_marker(p.x, p.y, marker) for p in points)


def _area_data(polygons: list[Polygon]) -> str:
    if not polygons:
        return ""
    west, south, east, north = MultiPolygon(polygons).bounds
    if max(east - west, north - south) < _TINY:
        return ""
    rings = [ring for p in polygons for ring in (p.exterior, *p.interiors)]
    return "".join(_ring(np.asarray(ring.coords)) for ring in rings)


def _tenths(coords: Floats) -> list[list[int]]:
    rounded: list[list[int]] = np.rint(coords[:, :2] * 10).astype(np.int64).tolist()
    return rounded


def _ring(coords: Floats) -> str:
    """A closed subpath through the ring's points, rounded to a tenth of a pixel, absolute or
    relative, whichever is shorter."""
    points = _tenths(coords[:-1])
    distinct = [p for i, p in enumerate(points) if p != points[i - 1]]
    if len(distinct) < 3:
        return ""
    (x, y), rest = distinct[0], distinct[1:]
    start = f"M{_numbers([x, y])}"
    absolute = f"{start}L{_numbers([v for p in rest for v in p])}Z"
    steps = [v for a, b in zip(distinct, rest, strict=False) for v in (b[0] - a[0], b[1] - a[1])]
    relative = f"{start}l{_numbers(steps)}z"
    return relative if len(relative) < len(absolute) else absolute


def _marker(x: float, y: float, shape: Literal["square", "triangle"]) -> str:
    cx, cy = (int(v) for v in np.rint(np.array([x, y]) * 10))
    if shape == "triangle":
        return f"M{_numbers([cx, cy - 60])}l{_numbers([60, 110, -120, 0])}z"
    return f"M{_numbers([cx - 35, cy - 35])}h{_tenth(70)}v{_tenth(70)}h{_tenth(-70)}z"


def _numbers(tenths: list[int]) -> str:
    """Numbers as a path writes them: a minus sign separates as well as a space does."""
    out = []
    for i, value in enumerate(tenths):
        text = _tenth(value)
        out.append(text if i == 0 or text.startswith("-") else f" {text}")
    return "".join(out)


def _tenth(value: int) -> str:
    whole, tenth = divmod(abs(value), 10)
    sign = "-" if value < 0 else ""
    if not tenth:
        return f"{sign}{whole}"
    return f"{sign}{whole or ''}.{tenth}"


def _n(value: float) -> str:
    """A length in the viewBox, to a tenth."""
    return _tenth(round(value * 10))


def _attrs(attrs: _Attrs) -> str:
    return "".join(f' {name}="{value}"' for name, value in attrs)


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("\ufffd", value))


def _say(gettext: Gettext, message: str, **params: str) -> str:
    """``message`` translated, with its parameters; a translation whose placeholders do not
    fit falls back to the English rather than break the page."""
    translated = gettext(message)
    if not params:
        return translated
    try:
        return translated % params
    except (KeyError, ValueError, TypeError):
        return message % params


# --- scale bar, north arrow, legend ---------------------------------------------------------


def _round_metres(most: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres that is at most ``most``."""
    power = 10.0 ** math.floor(math.log10(most))
    return next((m * power for m in (5, 2, 1) if m * power <= most), power)


def _short(value: float) -> str:
    return str(int(value)) if value == int(value) else format(value, "g")


def _scale_bar(scale: float, width: float, top: float, gettext: Gettext, prefix: str) -> str:
    metres = _round_metres((width - 2 * _PAD) / 5 / scale)
    if metres >= 1000:
        label = _say(gettext, N_("%(km)s km"), km=_short(metres / 1000))
    else:
        label = _say(gettext, N_("%(m)s m"), m=_short(metres))
    length = metres * scale
    y = top + 14
    return (
        f'<g id="{prefix}-scale">'
        f'<rect x="{_n(_PAD)}" y="{_n(y)}" width="{_n(length)}" height="5" fill="#222"/>'
        f'<text x="{_n(_PAD + length + 6)}" y="{_n(y + 5)}">{_text(label)}</text></g>'
    )


def _north_arrow(width: float, top: float, gettext: Gettext, prefix: str) -> str:
    x = width - _PAD - 7
    y = top + 5
    # i18n: the letter beside the map's north arrow: the first letter of "North"
    letter = _say(gettext, N_("N"))
    north = _say(gettext, N_("North"))
    return (
        f'<g id="{prefix}-north"><title>{_text(north)}</title>'
        f'<path d="M{_n(x)} {_n(y)}l7 20-7-6-7 6z" fill="#222"/>'
        f'<text x="{_n(x - 10)}" y="{_n(y + 17)}" text-anchor="end" font-weight="bold">'
        f"{_text(letter)}</text></g>"
    )


@dataclass(frozen=True)
class _Legend:
    columns: int
    rows: int
    column_width: float

    @staticmethod
    def lay_out(labels: Sequence[str], width: float) -> _Legend:
        """As many columns as the longest label allows, read down then across."""
        longest = max(len(label) for label in labels) * _CHAR_WIDTH
        columns = 1
        for count in (3, 2):
            if count <= len(labels) and _label_room((width - 2 * _PAD) / count) >= longest:
                columns = count
                break
        rows = math.ceil(len(labels) / columns)
        return _Legend(columns, rows, (width - 2 * _PAD) / columns)

    @property
    def strip_height(self) -> int:
        return math.ceil(_SCALE_ROW + self.rows * _ROW + _PAD)

    def render(self, groups: Sequence[_Group], top: float, prefix: str) -> str:
        out = [f'<g id="{prefix}-legend">']
        room = _label_room(self.column_width)
        for i, group in enumerate(groups):
            column, row = divmod(i, self.rows)
            x = _PAD + column * self.column_width
            y = top + row * _ROW
            out.append(_swatch(group, x, y))
            # a label we guess is too long is squeezed to fit rather than cut off
            squeeze = len(group.label) * _CHAR_WIDTH > room
            fit = f' textLength="{_n(room)}" lengthAdjust="spacingAndGlyphs"' if squeeze else ""
            text_x = x + _SWATCH[0] + 6
            out.append(f'<text x="{_n(text_x)}" y="{_n(y + 9)}"{fit}>{_text(group.label)}</text>')
        out.append("</g>")
        return "\n".join(out)


def _label_room(column_width: float) -> float:
    return column_width - _SWATCH[0] - 6 - _PAD


def _swatch(group: _Group, x: float, y: float) -> str:
    if group.marker == "triangle":
        cx, cy = x + _SWATCH[0] / 2, y + _SWATCH[1] / 2
        d = _marker(cx, cy, "triangle")
        return f'<path d="{d}"{_attrs(group.attrs)}/>'
    w, h = _SWATCH
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}"{_attrs(group.attrs)}/>'
