"""Distances and areas in metres, for areas given in longitude and latitude.

Areas are geodesic, on the WGS 84 ellipsoid (PROJ's ``Geod``). Distances between two shapes are
measured in an azimuthal equidistant projection centred on the project: exact for distances
from the centre and within a fraction of a percent for the tens of kilometres a screening looks
at. Centring on the project also makes an area split at the antimeridian one shape again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy
import shapely
from pyproj import Geod, Transformer
from shapely.geometry.base import BaseGeometry

_GEOD = Geod(ellps="WGS84")
#: metres in a degree of latitude, rounded down so a search box is never too small
METRES_PER_DEGREE = 110_574.0


def area_m2(area: BaseGeometry) -> float:
    """The surface of ``area`` on the ellipsoid, in square metres. PROJ adds the rings' signed
    areas, so they are oriented first: a hole typed the same way round as its outer ring, or a
    part drawn the other way, would otherwise be added, or cancel."""
    return abs(_GEOD.geometry_area_perimeter(shapely.orient_polygons(area))[0])


def centre_of(area: BaseGeometry) -> tuple[float, float]:
    """The middle of ``area``'s points, as longitude and latitude: longitudes are averaged on
    the circle, so the middle of 179.5 and -179.5 is 180, not 0."""
    coords = shapely.get_coordinates(area)
    if len(coords) == 0:
        return 0.0, 0.0
    radians = numpy.radians(coords[:, 0])
    lon = math.degrees(math.atan2(numpy.sin(radians).mean(), numpy.cos(radians).mean()))
    south, north = float(coords[:, 1].min()), float(coords[:, 1].max())
    return lon, (south + north) / 2


@dataclass(frozen=True)
class Frame:
    """An azimuthal equidistant projection centred on one place, in metres."""

    lon: float
    lat: float

    def project(self, shape: BaseGeometry) -> BaseGeometry:
        forward = _transformer(round(self.lon, 6), round(self.lat, 6))

        def to_metres(coords: numpy.ndarray) -> numpy.ndarray:
            x, y = forward.transform(coords[:, 0], coords[:, 1])
            return numpy.column_stack([x, y])

        return shapely.transform(shape, to_metres)


def frame_for(area: BaseGeometry) -> Frame:
    lon, lat = centre_of(area)
    return Frame(lon, lat)


@lru_cache(maxsize=64)
def _transformer(lon: float, lat: float) -> Transformer:
    return Transformer.from_proj(
        "EPSG:4326",
        f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs",
        always_xy=True,
    )


def search_boxes(area: BaseGeometry, metres: float) -> list[tuple[float, float, float, float]]:
    """Longitude/latitude boxes that hold every point within ``metres`` of ``area``: one per
    part of the area, and a second, wrapped, where a box runs past the antimeridian."""
    boxes: list[tuple[float, float, float, float]] = []
    parts = getattr(area, "geoms", [area])
    for part in parts:
        west, south, east, north = part.bounds
        dlat = metres / METRES_PER_DEGREE * 1.01
        south, north = max(-90.0, south - dlat), min(90.0, north + dlat)
        widest = max(abs(south), abs(north))
        if widest >= 89.0:  # near a pole every longitude is close
            boxes.append((-180.0, south, 180.0, north))
            continue
        dlon = dlat / math.cos(math.radians(widest))
        west, east = west - dlon, east + dlon
        if east - west >= 360:
            boxes.append((-180.0, south, 180.0, north))
            continue
        boxes.append((max(west, -180.0), south, min(east, 180.0), north))
        if west < -180:
            boxes.append((west + 360, south, 180.0, north))
        if east > 180:
            boxes.append((-180.0, south, east - 360, north))
    return boxes
