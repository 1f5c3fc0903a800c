"""Realistic maps and reference datasets for the tests of fpic.geo: GeoJSON, KML and zipped
shapefiles as people and publishers send them, and a sample of the World Database on Protected
Areas (its field names, its quirks, the rows a real release has that cannot be used).

Places are real, shapes are not: they are drawn near where the areas are, to the precision a
test needs. Rings are given counter-clockwise (RFC 7946); the shapefile writer turns outer rings
clockwise, as the ESRI specification wants.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapefile
from pyproj import CRS, Geod, Transformer

Ring = list[tuple[float, float]]
#: a polygon as its outer ring and its holes
Rings = tuple[Ring, list[Ring]]

GEOD = Geod(ellps="WGS84")
KML_NS = "http://www.opengis.net/kml/2.2"
#: the WDPA's attribute names, in the order of its shapefiles
WDPA_FIELDS = ("WDPAID", "WDPA_PID", "NAME", "IUCN_CAT", "DESIG_ENG", "STATUS")


# --- rings ---------------------------------------------------------------------------------


def box(west: float, south: float, east: float, north: float) -> Ring:
    """A closed ring around the box, counter-clockwise."""
    return [(west, south), (east, south), (east, north), (west, north), (west, south)]


def closed(ring: Sequence[tuple[float, float]]) -> Ring:
    points = [(float(x), float(y)) for x, y in ring]
    return points if points[0] == points[-1] else [*points, points[0]]


def signed_area(ring: Sequence[tuple[float, float]]) -> float:
    """Shoelace: positive when counter-clockwise."""
    points = closed(ring)
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(points)) / 2


def oriented(ring: Sequence[tuple[float, float]], counter_clockwise: bool) -> Ring:
    points = closed(ring)
    return points if (signed_area(points) > 0) == counter_clockwise else points[::-1]


def moved(lon: float, lat: float, azimuth: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) along ``azimuth`` (degrees from north), on the
    WGS 84 ellipsoid."""
    to_lon, to_lat, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return float(to_lon), float(to_lat)


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def typed(*rings: Sequence[tuple[float, float]]) -> str:
    """Rings as a person types them: ``longitude, latitude`` a line, a blank line between."""
    return "\n\n".join("\n".join(f"{lon!r}, {lat!r}" for lon, lat in ring) for ring in rings)


# --- real places -----------------------------------------------------------------------------

#: the world's project (tests.factories.PROJECT_AREA): a hillside above Cusco
PROJECT = box(-71.98, -13.56, -71.94, -13.52)
#: an irregular park north of Cusco (IUCN II) with an enclave, a community's land, cut out
PARK: Rings = (
    [(-72.10, -13.50), (-71.90, -13.48), (-71.70, -13.40), (-71.72, -13.20),
     (-71.95, -13.15), (-72.15, -13.30), (-72.10, -13.50)],
    [[(-71.95, -13.35), (-71.85, -13.35), (-71.85, -13.28), (-71.95, -13.28), (-71.95, -13.35)]],
)  # fmt: skip
#: Machu Picchu, a World Heritage property in two parts (the sanctuary and the Inca trail's
#: start at Km 82)
MACHU_PICCHU: list[Rings] = [
    ([(-72.62, -13.22), (-72.45, -13.25), (-72.40, -13.12), (-72.55, -13.08),
      (-72.62, -13.22)], []),
    (box(-72.38, -13.20, -72.34, -13.17), []),
]  # fmt: skip
#: a forest reserve on Taveuni, Fiji, which the 180th meridian crosses: split there (RFC 7946)
TAVEUNI: list[Rings] = [
    ([(179.86, -16.98), (180.0, -16.98), (180.0, -16.74), (179.90, -16.72),
      (179.86, -16.80), (179.86, -16.98)], []),
    ([(-180.0, -16.95), (-179.93, -16.93), (-179.92, -16.78), (-180.0, -16.76),
      (-180.0, -16.95)], []),
]  # fmt: skip
#: the same reserve drawn across the meridian in one step, as RFC 7946 forbids
TAVEUNI_UNSPLIT: Ring = [(179.86, -16.98), (-179.93, -16.93), (-179.92, -16.78),
                         (179.90, -16.72), (179.86, -16.98)]  # fmt: skip
#: a bow-tie: the ring crosses itself once; make_valid makes two triangles of it
BOW_TIE: Ring = [(-70.00, -14.00), (-69.90, -13.90), (-69.90, -14.00), (-70.00, -13.90),
                 (-70.00, -14.00)]  # fmt: skip
#: three points on one line: no surface, and nothing make_valid can make a polygon of
SLIVER: Ring = [(-70.00, -15.00), (-69.90, -15.00), (-69.80, -15.00), (-70.00, -15.00)]


def utm19s(ring: Sequence[tuple[float, float]]) -> Ring:
    """A ring of longitude/latitude in UTM zone 19 south (EPSG:32719), in metres."""
    forward = Transformer.from_crs(4326, 32719, always_xy=True)
    out: Ring = []
    for lon, lat in ring:
        x, y = forward.transform(lon, lat)
        out.append((float(x), float(y)))
    return out


def utm19s_wkt() -> str:
    """What ArcGIS writes in the .prj of a shapefile in UTM zone 19 south."""
    return CRS.from_epsg(32719).to_wkt("WKT1_ESRI")


# --- GeoJSON ---------------------------------------------------------------------------------


def polygon(outer: Ring, holes: Iterable[Ring] = ()) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [_coords(outer), *(_coords(h) for h in holes)]}


def multipolygon(parts: Iterable[Rings]) -> dict[str, Any]:
    return {
        "type": "MultiPolygon",
        "coordinates": [[_coords(outer), *(_coords(h) for h in holes)] for outer, holes in parts],
    }


def _coords(ring: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [[x, y] for x, y in closed(ring)]


def feature(geometry: Mapping[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(features: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def geojson_bytes(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def wdpa_feature(
    wdpa_id: Any,
    geometry: Mapping[str, Any] | None,
    *,
    name: str,
    iucn: str | None = "Not Reported",
    designation: str = "National Park",
    status: str = "Designated",
    pid: Any = "same",
) -> dict[str, Any]:
    """A row of the WDPA's polygons: WDPA_PID is the WDPAID as text unless told otherwise
    (``pid=None`` leaves it out, as some publishers do)."""
    properties: dict[str, Any] = {}
    if wdpa_id is not None:
        properties["WDPAID"] = wdpa_id
    if pid == "same" and wdpa_id is not None:
        properties["WDPA_PID"] = str(wdpa_id)
    elif pid not in (None, "same"):
        properties["WDPA_PID"] = pid
    properties.update(NAME=name, DESIG_ENG=designation, STATUS=status)
    if iucn is not None:
        properties["IUCN_CAT"] = iucn
    return feature(geometry, **properties)


@dataclass(frozen=True)
class Row:
    """A row of the sample and what an import must make of it: kept (``code`` None, maybe
    ``repaired``) or skipped with ``code``."""

    feature: dict[str, Any]
    code: str | None = None
    repaired: bool = False


def wdpa_rows() -> list[Row]:
    """The sample: three good rows, a repairable one, and one of each kind a release has that
    cannot be used. Row numbers (from 1) are positions in this list."""
    park = polygon(*PARK)
    return [
        Row(wdpa_feature(555, park, name="Parque Nacional Qosqo Ukhu", iucn="II")),
        Row(
            wdpa_feature(
                274,
                multipolygon(MACHU_PICCHU),
                name="Historic Sanctuary of Machu Picchu",
                iucn="Not Applicable",
                designation="World Heritage Site (natural or mixed)",
                status="Inscribed",
            )
        ),
        Row(
            wdpa_feature(
                555547011,
                multipolygon(TAVEUNI),
                name="Taveuni Forest Reserve",
                iucn="VI",
                designation="Forest Reserve",
            )
        ),
        Row(
            wdpa_feature(None, polygon(box(-70.5, -14.5, -70.4, -14.4)), name="No id"),
            "dataset_row_id",
        ),
        Row(
            wdpa_feature(
                900005,
                {"type": "Point", "coordinates": [-71.2, -13.9]},
                name="Laguna reported as a point",
            ),
            "dataset_row_shape",
        ),
        Row(
            wdpa_feature(
                900006, polygon(box(-70.3, -14.3, -70.2, -14.2)), name="Category VII", iucn="VII"
            ),
            "dataset_row_category",
        ),
        Row(
            wdpa_feature(555, polygon(box(-70.1, -14.1, -70.05, -14.05)), name="Parcel again"),
            "dataset_row_duplicate",
        ),
        Row(
            wdpa_feature(900008, polygon(BOW_TIE), name="Bow-tie reserve", iucn="IV"), repaired=True
        ),
        Row(
            wdpa_feature(900009, polygon(SLIVER), name="Sliver", iucn="III"), "dataset_row_invalid"
        ),
        Row(
            wdpa_feature(900010, polygon(utm19s(PROJECT)), name="Drawn in metres", iucn="V"),
            "dataset_row_range",
        ),
    ]


def wdpa_collection(rows: Iterable[Row] | None = None) -> dict[str, Any]:
    return collection(r.feature for r in (wdpa_rows() if rows is None else rows))


def write_wdpa(path: Path, rows: Iterable[Row] | None = None) -> Path:
    path.write_bytes(geojson_bytes(wdpa_collection(rows)))
    return path


# --- KML -------------------------------------------------------------------------------------


def kml(polygons: Iterable[Rings], namespace: str = KML_NS, altitude: bool = False) -> bytes:
    """A KML document with a Placemark per polygon, as Google Earth writes it."""

    def ring(points: Ring) -> str:
        z = ",0" if altitude else ""
        text = " ".join(f"{x},{y}{z}" for x, y in closed(points))
        return f"<LinearRing><coordinates>\n  {text}\n</coordinates></LinearRing>"

    marks = "".join(
        "<Placemark><name>Area</name><Polygon><tessellate>1</tessellate>"
        f"<outerBoundaryIs>{ring(outer)}</outerBoundaryIs>"
        + "".join(f"<innerBoundaryIs>{ring(hole)}</innerBoundaryIs>" for hole in holes)
        + "</Polygon></Placemark>"
        for outer, holes in polygons
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="{namespace}"><Document>'
        f"<name>Map</name>{marks}</Document></kml>"
    ).encode()


# --- shapefiles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One shape of a shapefile: its polygons and its attributes."""

    polygons: list[Rings]
    attributes: dict[str, Any]


def shapefile_members(
    records: Sequence[Record],
    *,
    prj: str | None = None,
    wdpa_pid: bool = True,
    point: bool = False,
) -> dict[str, bytes]:
    """The .shp, .shx, .dbf (and .prj) of a polygon shapefile with the WDPA's fields: WDPAID
    a number with decimals (as in the WDPA's own shapefiles, so 12345 is stored 12345.0),
    the others text. ``point`` makes a point shapefile of each record's first vertex."""
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(
        shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POINT if point else shapefile.POLYGON
    )
    writer.field("WDPAID", "N", 19, 11)
    names = [n for n in WDPA_FIELDS[1:] if wdpa_pid or n != "WDPA_PID"]
    for name in names:
        writer.field(name, "C", 254)
    for record in records:
        if point:
            writer.point(*record.polygons[0][0][0])
        else:
            parts = []
            for outer, holes in record.polygons:
                parts.append(oriented(outer, counter_clockwise=False))
                parts.extend(oriented(h, counter_clockwise=True) for h in holes)
            writer.poly(parts)
        values = record.attributes
        writer.record(values.get("WDPAID"), *(values.get(n, "") for n in names))
    writer.close()
    members = {"shp": shp.getvalue(), "shx": shx.getvalue(), "dbf": dbf.getvalue()}
    if prj is not None:
        members["prj"] = prj.encode()
    return members


def zipped(members: Mapping[str, bytes], stem: str = "WDPA_Jan2027_Public_shp-polygons") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for ext, data in members.items():
            archive.writestr(f"{stem}.{ext}", data)
    return out.getvalue()


def shapefile_zip(records: Sequence[Record], *, prj: str | None = None, **options: Any) -> bytes:
    """A zipped shapefile, as a person or the WDPA sends one."""
    return zipped(shapefile_members(records, prj=prj, **options))


def write_shapefile(folder: Path, stem: str, records: Sequence[Record], **options: Any) -> Path:
    """The shapefile's parts side by side in ``folder``; the .shp's path."""
    for ext, data in shapefile_members(records, **options).items():
        (folder / f"{stem}.{ext}").write_bytes(data)
    return folder / f"{stem}.shp"


def area_record(polygons: list[Rings], wdpa_id: float = 1.0, **attributes: Any) -> Record:
    return Record(polygons, {"WDPAID": wdpa_id, "NAME": "Area", **attributes})
