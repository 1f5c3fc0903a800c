"""Demo places: where the demo projects, territories, protected areas and the legacy site are.

ALL OF IT IS FABRICATED DEMO DATA. The shapes are drawn around the demo communities' regions so
that the screening has something to find; no park, heritage property, habitat, territory or
mine site here is real, and every dataset is imported under a source that says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

#: the source every demo dataset is imported under
DEMO_SOURCE = "fpic demo data (fabricated, not the WDPA)"
DEMO_VERSION = "demo-1"


def ring(lon: float, lat: float, km: float, wobble: tuple[float, ...]) -> list[tuple[float, float]]:
    """A closed, irregular ring around (lon, lat), about ``km`` from it: one corner per entry
    of ``wobble`` (each a factor of ``km``), counter-clockwise from the east."""
    corners = []
    for n, factor in enumerate(wobble):
        angle = 2 * math.pi * n / len(wobble)
        dy = km * factor * math.sin(angle) / 110.574
        dx = km * factor * math.cos(angle) / (111.320 * math.cos(math.radians(lat)))
        corners.append((round(lon + dx, 5), round(lat + dy, 5)))
    return [*corners, corners[0]]


def typed(corners: list[tuple[float, float]]) -> str:
    """Corners as a person types them in the form: one ``longitude, latitude`` per line."""
    return "\n".join(f"{lon}, {lat}" for lon, lat in corners[:-1])


_SHAPE = (1.0, 0.8, 1.1, 0.9, 1.2, 0.85, 1.0, 0.75, 1.05)

#: each demo community's territory, as its assembly mapped it (centre, radius in km)
TERRITORIES: dict[str, str] = {
    "ayllu-qollana": typed(ring(-71.55, -13.80, 9, _SHAPE)),
    "uma-jaqi": typed(ring(-68.45, -17.20, 12, _SHAPE)),
    "qurluqtuq": typed(ring(-115.10, 67.80, 25, _SHAPE)),
    "vunamami": typed(ring(152.20, -4.35, 6, _SHAPE)),
    "tuwali-hungduan": typed(ring(121.05, 16.85, 7, _SHAPE)),
    "warlu-pilanyi": typed(ring(118.60, -22.30, 15, _SHAPE)),
}

#: each demo project's area, overlapping the territory of the community it affects
PROJECT_AREAS: dict[str, str] = {
    "copper": typed(ring(-71.50, -13.76, 3, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    "lithium": typed(ring(-68.38, -17.25, 4, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    "road": typed(ring(-115.00, 67.75, 6, (1.0, 0.5, 1.0, 0.5, 1.0, 0.5))),
    "gold": typed(ring(152.22, -4.33, 2, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    # the northern extension reaches the demo World Heritage property and the demo park
    "copper-extension": typed(ring(-71.58, -13.70, 4, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    # a survey licence far from any territory: screening finds no trigger for FPIC
    "survey": typed(ring(-71.20, -14.30, 2, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    "lithium-south": typed(ring(-68.10, -18.40, 3, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
    "iron": typed(ring(118.65, -22.28, 4, (1.0, 0.9, 1.0, 0.8, 1.0, 0.9))),
}

_PROTECTED = [
    # (WDPAID, name, IUCN category, designation, centre, radius km)
    (990001, "Parque Nacional Apu Qollana (demo)", "II", "National Park", (-71.63, -13.66), 6),
    (990002, "Qollana sacred landscape (demo World Heritage property)", "Not Applicable",
     "World Heritage Site (natural or mixed)", (-71.60, -13.66), 4),
    (990003, "Reserva Paisajística Qollana (demo)", "V", "Landscape Reserve",
     (-71.45, -13.82), 5),
    (990004, "Lago Jach'a community reserve (demo)", "VI", "Communal Reserve",
     (-68.30, -17.28), 5),
    (990005, "Kugluk territorial park (demo)", "II", "Territorial Park", (-115.25, 67.62), 8),
    (990006, "Warangoi river conservation area (demo)", "VI", "Wildlife Management Area",
     (152.27, -4.30), 3),
]  # fmt: skip
_CRITICAL_HABITAT = [
    ("CH-DEMO-1", "Flamingo breeding lagoon (demo critical habitat)", (-68.36, -17.27), 2.5),
]
_KBA = [
    ("KBA-DEMO-1", "Qollana puna wetlands (demo KBA)", (-71.40, -13.70), 3),
    ("KBA-DEMO-2", "Kitikmeot caribou calving grounds (demo KBA)", (-114.95, 67.78), 10),
]


def _polygon(centre: tuple[float, float], km: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(centre[0], centre[1], km, _SHAPE)]}


def datasets() -> list[tuple[str, dict[str, Any]]]:
    """(kind, GeoJSON FeatureCollection) of each demo dataset, with the WDPA's field names."""
    protected = [
        {
            "type": "Feature",
            "properties": {
                "WDPAID": wdpa_id, "NAME": name, "IUCN_CAT": category, "DESIG_ENG": designation,
                "STATUS": "Designated",
            },
            "geometry": _polygon(centre, km),
        }
        for wdpa_id, name, category, designation, centre, km in _PROTECTED
    ]  # fmt: skip
    habitat = [
        {"type": "Feature", "properties": {"id": i, "name": n}, "geometry": _polygon(c, km)}
        for i, n, c, km in _CRITICAL_HABITAT
    ]
    kba = [
        {
            "type": "Feature",
            "properties": {"SitRecID": i, "IntName": n},
            "geometry": _polygon(c, km),
        }
        for i, n, c, km in _KBA
    ]
    return [
        ("protected_area", {"type": "FeatureCollection", "features": protected}),
        ("critical_habitat", {"type": "FeatureCollection", "features": habitat}),
        ("kba", {"type": "FeatureCollection", "features": kba}),
    ]


def dataset_files() -> Iterator[tuple[str, Path]]:
    """Each demo dataset written to a GeoJSON file, as ``fpic areas import`` reads one."""
    with TemporaryDirectory(prefix="fpic-demo-areas-") as folder:
        for kind, collection in datasets():
            path = Path(folder, f"{kind}.geojson")
            path.write_text(json.dumps(collection), encoding="utf-8")
            yield kind, path


LEGACY_SITE: dict[str, Any] = {
    "slug": "warangoi-workings",
    "name": "Warangoi alluvial gold workings (demo)",
    "country": "PG",
    "former_operator": "Gazelle Alluvials Pty Ltd, dissolved 1979 (demo)",
    "worked": "1952-1978",
    "hazards": [
        "open pits holding water",
        "mercury in the creek sediment",
        "unstable spoil heaps",
    ],
    "current_state": "DEMO DATA, fabricated. Abandoned since 1978; pits flooded, spoil heaps "
    "eroding into the Warangoi creek; the clans no longer garden below the workings.",
    "location": typed(ring(152.24, -4.37, 1.2, (1.0, 0.8, 1.0, 0.7, 1.0, 0.9))),
    "communities": ["vunamami"],
}
