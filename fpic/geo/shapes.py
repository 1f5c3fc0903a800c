"""A map a person gives, read into one valid area in WGS 84, or refused with the reason.

An area comes as GeoJSON (RFC 7946), KML 2.2, a zipped shapefile (in any coordinate reference
system its ``.prj`` names) or typed coordinates. Whatever the source, the result is a Polygon or
MultiPolygon of longitude/latitude pairs that GEOS finds valid, and its normalised GeoJSON is
what fpic keeps, lists on the trail and computes with. An area that crosses the antimeridian
must be split there, as RFC 7946 section 3.1.9 asks: an edge spanning more than 180 degrees of
longitude is refused rather than guessed at.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import struct
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from xml.etree import ElementTree

import numpy
import shapefile
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from fpic.geo import GEOJSON, KML, ZIP, AreaRefused
from fpic.i18n import N_

#: the most vertices an area may have: a territory mapped on foot has thousands, not millions
MAX_VERTICES = 200_000
#: how many decimals of a degree are kept: 1e-7 degrees is about 1 cm
DECIMALS = 7
#: the most rings typed corners may have
MAX_TYPED_RINGS = 100
#: the most bytes a zipped shapefile may unpack to
MAX_UNZIPPED = 64 * 1024 * 1024
_KML_NS = ("http://www.opengis.net/kml/2.2", "http://earth.google.com/kml/2.2",
           "http://earth.google.com/kml/2.1", "http://earth.google.com/kml/2.0")  # fmt: skip
_WGS84 = CRS.from_epsg(4326)


def read_area(data: bytes, media_type: str) -> BaseGeometry:
    """The area drawn in a map file of ``media_type`` (as fpic.evidence.kinds told it)."""
    if media_type == GEOJSON:
        polygons = list(_geojson_polygons(_json_of(data)))
    elif media_type == KML:
        polygons = list(_kml_polygons(data))
    elif media_type == ZIP:
        polygons = list(_shapefile_polygons(data))
    else:
        raise AreaRefused(
            "map_kind",
            N_("A map must be GeoJSON, KML or a zipped shapefile, not %(kind)s."),
            kind=media_type,
        )
    return valid_area(polygons)


def area_from_coordinates(text: str) -> BaseGeometry:
    """An area typed as rings of ``longitude, latitude`` pairs, one pair per line (or separated
    by ``;``), a blank line between rings. A ring inside an earlier one is a hole in it."""
    rings: list[list[tuple[float, float]]] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        pairs = [p for p in re.split(r"[;\n]", block) if p.strip()]
        if pairs:
            rings.append([_pair(p) for p in pairs])
    if not rings:
        raise AreaRefused("area_empty", N_("The area has no coordinates."))
    if len(rings) > MAX_TYPED_RINGS:
        # typed by hand: more parts than this is a map, and each ring is tested against the
        # earlier ones
        raise AreaRefused(
            "area_too_detailed",
            N_("Type at most %(most)s rings; send a larger area as a map file."),
            most=MAX_TYPED_RINGS,
        )
    #: each part: its outer ring, that ring as a polygon, and its holes
    parts: list[tuple[list[tuple[float, float]], Polygon, list[list[tuple[float, float]]]]] = []
    for ring in rings:
        shape = _polygon(ring, [])
        outer = next((p for p in parts if p[1].contains(shape)), None)
        if outer is not None:
            outer[2].append(ring)
        else:
            parts.append((ring, shape, []))
    return valid_area(_polygon(ring, holes) for ring, _, holes in parts)


def _pair(text: str) -> tuple[float, float]:
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        lon, lat = float(parts[0]), float(parts[1])
    except ValueError:
        raise AreaRefused(
            "area_coordinates",
            N_("%(text)s is not a pair of numbers: longitude, latitude."),
            text=text.strip()[:60],
        ) from None
    _on_earth(lon, lat)  # before any shape is made of it (GEOS refuses NaN rudely)
    return lon, lat


def valid_area(polygons: Iterable[Polygon]) -> BaseGeometry:
    """One Polygon or MultiPolygon of the parts, checked: in range, not crossing the
    antimeridian unsplit, not too large, valid by GEOS; refused with the reason otherwise."""
    parts: list[Polygon] = []
    vertices = 0
    for polygon in polygons:
        vertices += len(polygon.exterior.coords) + sum(len(r.coords) for r in polygon.interiors)
        if vertices > MAX_VERTICES:
            raise AreaRefused(
                "area_too_detailed",
                N_("The area has more than %(most)s points; simplify it first."),
                most=MAX_VERTICES,
            )
        _check_coordinates(polygon)
        parts.append(polygon)
    if not parts:
        raise AreaRefused("area_empty", N_("The map has no polygon: an area must be one."))
    area = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    reason = shapely.is_valid_reason(area)
    if reason != "Valid Geometry":
        raise AreaRefused(
            "area_invalid", N_("The area's shape is not valid: %(reason)s."), reason=reason
        )
    if area.area == 0:
        raise AreaRefused("area_empty", N_("The area encloses no land: it has no surface."))
    return area


def _check_coordinates(polygon: Polygon) -> None:
    for ring in (polygon.exterior, *polygon.interiors):
        points = list(ring.coords)
        for lon, lat, *_ in points:
            _on_earth(lon, lat)
        for here, there in itertools.pairwise(points):
            if abs(here[0] - there[0]) > 180:
                raise AreaRefused(
                    "area_antimeridian",
                    N_(
                        "The area crosses the 180th meridian in one step: split it there into "
                        "two polygons (RFC 7946, section 3.1.9)."
                    ),
                )


def crosses_antimeridian(area: BaseGeometry) -> bool:
    """Whether an edge of ``area`` spans more than 180 degrees of longitude: drawn across the
    180th meridian in one step, which longitude/latitude geometry reads as the long way round."""
    for polygon in getattr(area, "geoms", [area]):
        for ring in (polygon.exterior, *polygon.interiors):
            coords = shapely.get_coordinates(ring)
            if len(coords) > 1 and bool((abs(numpy.diff(coords[:, 0])) > 180).any()):
                return True
    return False


def _polygon(outer: list[tuple[float, float]], holes: list[list[tuple[float, float]]]) -> Polygon:
    for ring in (outer, *holes):
        if len(set(ring)) < 3:
            raise AreaRefused(
                "area_ring", N_("A ring of the area needs at least three different points.")
            )
    return Polygon(outer, holes)


def site_location(text: str) -> BaseGeometry:
    """Where a legacy site is: one ``longitude, latitude`` pair (a point), typed corners (an
    area, as :func:`area_from_coordinates`), or a GeoJSON geometry."""
    text = text.strip()
    if text.startswith("{"):
        obj = _json_of(text.encode())
        if isinstance(obj, dict) and obj.get("type") == "Point":
            return _point(obj.get("coordinates"))
        return valid_area(_geojson_polygons(obj))
    pairs = [p for p in re.split(r"[;\n]", text) if p.strip()]
    if len(pairs) == 1:
        return _point(_pair(pairs[0]))
    return area_from_coordinates(text)


def _point(coordinates: Any) -> Point:
    try:
        lon, lat = float(coordinates[0]), float(coordinates[1])
    except (TypeError, ValueError, IndexError):
        raise AreaRefused("map_unreadable", N_("The map is not readable GeoJSON.")) from None
    _on_earth(lon, lat)
    return Point(lon, lat)


def _on_earth(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise AreaRefused(
            "area_out_of_range",
            N_(
                "%(lon)s, %(lat)s is not on Earth: longitude comes first, between -180 "
                "and 180, then latitude, between -90 and 90 (WGS 84)."
            ),
            lon=lon, lat=lat,
        )  # fmt: skip


# --- GeoJSON ---------------------------------------------------------------------------------


def _json_of(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AreaRefused("map_unreadable", N_("The map is not readable GeoJSON.")) from None


def _geojson_polygons(obj: Any) -> Iterator[Polygon]:
    try:
        geometries = list(_geojson_geometries(obj))
    except RecursionError:  # collections nested past reason
        raise AreaRefused("map_unreadable", N_("The map is not readable GeoJSON.")) from None
    for geometry in geometries:
        yield from _polygons_of(geometry)


def _geojson_geometries(obj: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(obj, dict):
        raise AreaRefused("map_unreadable", N_("The map is not readable GeoJSON."))
    kind = obj.get("type")
    if kind == "FeatureCollection":
        for feature in obj.get("features") or []:
            yield from _geojson_geometries(feature)
    elif kind == "Feature":
        if obj.get("geometry") is not None:
            yield from _geojson_geometries(obj["geometry"])
    elif kind == "GeometryCollection":
        for geometry in obj.get("geometries") or []:
            yield from _geojson_geometries(geometry)
    else:
        yield obj


def _polygons_of(geometry: Mapping[str, Any]) -> Iterator[Polygon]:
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise AreaRefused(
            "map_not_polygon",
            N_("An area is drawn with polygons; the map has a %(kind)s."),
            kind=str(kind)[:40],
        )
    try:
        found = shape(dict(geometry))
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException):
        raise AreaRefused("map_unreadable", N_("The map is not readable GeoJSON.")) from None
    if isinstance(found, MultiPolygon):
        yield from found.geoms
    elif isinstance(found, Polygon):
        yield found


# --- KML -------------------------------------------------------------------------------------


def _kml_polygons(data: bytes) -> Iterator[Polygon]:
    # ElementTree resolves no external entity, and the expat it uses refuses entity expansion
    # attacks (billion laughs) since 2.4.1
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise AreaRefused("map_unreadable", N_("The map is not readable KML.")) from None
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if namespace not in _KML_NS:
        raise AreaRefused("map_unreadable", N_("The map is not readable KML."))
    ns = {"k": namespace}
    for polygon in root.iter(f"{{{namespace}}}Polygon"):
        outer = polygon.find("k:outerBoundaryIs/k:LinearRing/k:coordinates", ns)
        if outer is None or not (outer.text or "").strip():
            raise AreaRefused("map_unreadable", N_("The map is not readable KML."))
        holes = [
            _kml_ring(ring.text or "")
            for ring in polygon.findall("k:innerBoundaryIs/k:LinearRing/k:coordinates", ns)
        ]
        yield _polygon(_kml_ring(outer.text or ""), holes)


def _kml_ring(text: str) -> list[tuple[float, float]]:
    return [_pair(" ".join(t.split(",")[:2])) for t in text.split()]


# --- zipped shapefile --------------------------------------------------------------------------


def _shapefile_polygons(data: bytes) -> Iterator[Polygon]:
    members = shapefile_members(data)
    transform = to_wgs84(members.get("prj"))
    try:
        for found in shapefile_reader(members).iterShapes():
            if found.shapeTypeName == "NULL":
                continue
            for polygon in _polygons_of(found.__geo_interface__):
                yield shapely.transform(polygon, transform) if transform else polygon
    except (shapefile.ShapefileException, ValueError, struct.error):
        raise AreaRefused("map_unreadable", N_("The shapefile is not readable.")) from None


def shapefile_reader(members: Mapping[str, bytes]) -> shapefile.Reader:
    """A reader of the unpacked parts of a shapefile (``shapefile_members``)."""
    return shapefile.Reader(
        shp=io.BytesIO(members["shp"]),
        shx=io.BytesIO(members["shx"]) if "shx" in members else None,
        dbf=io.BytesIO(members["dbf"]) if "dbf" in members else None,
    )


def shapefile_members(data: bytes, unlimited: bool = False) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise AreaRefused("map_unreadable", N_("The shapefile is not readable.")) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and "__MACOSX" not in i.filename]
        shp = sorted(i.filename for i in infos if i.filename.lower().endswith(".shp"))
        if not shp:
            raise AreaRefused("map_no_shapefile", N_("The zip archive holds no .shp file."))
        stem = shp[0][:-4]
        wanted = {f"{stem}.{ext}".lower(): ext for ext in ("shp", "shx", "dbf", "prj", "cpg")}
        chosen = [i for i in infos if i.filename.lower() in wanted]
        limit = None if unlimited else MAX_UNZIPPED
        if limit is not None and sum(i.file_size for i in chosen) > limit:
            raise AreaRefused(
                "map_too_large",
                N_("The shapefile unpacks to more than %(most)s MiB."),
                most=limit // 2**20,
            )
        try:
            return {wanted[i.filename.lower()]: _read_member(archive, i) for i in chosen}
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError):
            raise AreaRefused("map_unreadable", N_("The shapefile is not readable.")) from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # the sizes in the archive's directory may lie: never read more than they promised
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise zipfile.BadZipFile("a member is larger than its directory says")
    return data


def to_wgs84(prj: bytes | None) -> Any:
    """A coordinate transform to WGS 84 from the shapefile's ``.prj``, or None when it is in
    longitude/latitude already (or says nothing, which shapefiles of GPS tracks often do)."""
    if prj is None:
        return None
    try:
        crs = CRS.from_wkt(prj.decode("utf-8", errors="replace"))
    except CRSError:
        raise AreaRefused(
            "map_crs", N_("The shapefile's .prj names no coordinate reference system fpic knows.")
        ) from None
    if crs.is_geographic and crs.equals(_WGS84, ignore_axis_order=True):
        return None
    transformer = Transformer.from_crs(crs, _WGS84, always_xy=True)

    def transform(coords: Any) -> Any:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return numpy.column_stack([x, y])

    return transform


# --- what fpic keeps -----------------------------------------------------------------------------


def normalised_geojson(area: BaseGeometry) -> bytes:
    """The area as the GeoJSON geometry fpic keeps: two dimensions, coordinates rounded to
    :data:`DECIMALS`, in GEOS's normal form (each ring from the same corner) with RFC 7946's
    orientation (outer rings counter-clockwise), compact and key-sorted: the same area always
    has the same bytes and the same SHA-256. An area that rounding leaves invalid or empty
    (a sliver thinner than a centimetre) is refused."""
    rounded = shapely.set_precision(shapely.force_2d(area), 10**-DECIMALS)
    kept = shapely.orient_polygons(shapely.normalize(rounded))
    if kept.is_empty or (kept.geom_type != "Point" and (kept.area == 0 or not kept.is_valid)):
        raise AreaRefused("area_empty", N_("The area encloses no land: it has no surface."))
    return json.dumps(
        mapping(kept), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def area_of_geojson(data: bytes | str) -> BaseGeometry:
    """An area fpic kept, read back."""
    return shape(json.loads(data))
