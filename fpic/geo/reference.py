"""Reference datasets: protected areas (the World Database on Protected Areas' fields), critical
habitat (IFC PS6) and Key Biodiversity Areas, imported from GeoJSON or a shapefile.

An import is one transaction: every row of the file is read, checked and either kept or reported
and skipped with its reason; the dataset's source, version and the SHA-256 of the file are
recorded with it (and, by the caller, on the system chain). Importing the same file for the same
version again changes nothing; a different file under a version already imported is refused,
since a screening on the trail names the version it used.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import shapefile
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from fpic.geo import AreaRefused
from fpic.geo.shapes import (
    DECIMALS,
    crosses_antimeridian,
    shapefile_members,
    shapefile_reader,
    to_wgs84,
)
from fpic.i18n import N_, Reason
from fpic.storage.db import table_of
from fpic.storage.models import AREA_KINDS, IUCN_CATEGORIES, AreaDataset, ReferenceArea

#: the WDPA's fields, then the names other publishers use for the same thing, first found wins
_ID_FIELDS = ("WDPA_PID", "WDPAID", "SitRecID", "SITRECID", "site_id", "id", "ID")
_NAME_FIELDS = ("NAME", "NAME_ENG", "ORIG_NAME", "IntName", "NatName", "name", "Name")
_DESIGNATION_FIELDS = ("DESIG_ENG", "DESIG", "designation")
_STATUS_FIELDS = ("STATUS", "status")
_CATEGORY_FIELDS = ("IUCN_CAT", "iucn_cat", "IUCN_CATEGORY")
#: WDPA's designations of World Heritage properties ("World Heritage Site (natural or mixed)")
_WORLD_HERITAGE = "world heritage"
BATCH = 2000
#: how often (in rows) the caller hears of progress
Progress = Callable[[int], None]


class DatasetRefused(Exception):
    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.reason = Reason(code, message, dict(params))


@dataclass(frozen=True)
class Skipped:
    row: int  #: 1 for the file's first feature
    reason: Reason


@dataclass
class Imported:
    dataset_id: int
    kind: str
    source: str
    version: str
    sha256: str
    features: int = 0
    repaired: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    #: True when this very file was imported for this version before: nothing changed
    already: bool = False

    def on_trail(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "kind": self.kind,
            "source": self.source,
            "version": self.version,
            "sha256": self.sha256,
            "features": self.features,
            "repaired": self.repaired,
            "skipped": len(self.skipped),
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def count_features(path: Path) -> int:
    """How many features the file has, for a progress bar."""
    return sum(1 for _ in _features(path))


def imported_before(
    session: Session, path: Path, *, kind: str, source: str, version: str
) -> Imported | None:
    """This very file as imported before for this version (``already``), or None when the
    version is new; refused when the version was imported from another file."""
    source, version = source.strip(), version.strip()
    earlier = session.execute(
        select(AreaDataset).where(
            AreaDataset.kind == kind, AreaDataset.source == source, AreaDataset.version == version
        )
    ).scalar_one_or_none()
    if earlier is None:
        return None
    sha256 = file_sha256(path)
    if earlier.sha256 != sha256:
        raise DatasetRefused(
            "dataset_version_taken",
            N_(
                "Version %(version)s of %(source)s was imported from another file: give this "
                "file its own version."
            ),
            version=version, source=source,
        )  # fmt: skip
    return Imported(earlier.id, kind, source, version, sha256, earlier.features, already=True)


def import_dataset(
    session: Session,
    path: Path,
    *,
    kind: str,
    source: str,
    version: str,
    imported_by: str,
    now: datetime,
    progress: Progress | None = None,
) -> Imported:
    """Read ``path`` into a new dataset of ``kind``, in the session's transaction."""
    if kind not in AREA_KINDS:
        raise DatasetRefused("dataset_kind", N_("There is no kind of area %(kind)s."), kind=kind)
    source, version = source.strip(), version.strip()
    if not source or not version or len(source) > 300 or len(version) > 40:
        raise DatasetRefused(
            "dataset_source",
            N_("A dataset needs its source (at most 300 characters) and version (at most 40)."),
        )
    earlier = imported_before(session, path, kind=kind, source=source, version=version)
    if earlier is not None:
        return earlier
    sha256 = file_sha256(path)
    report = Imported(0, kind, source, version, sha256)
    # read first: the dataset row, append-only like its areas, is written with its counts
    rows = _read_rows(path, report, progress)
    dataset = AreaDataset(
        kind=kind, source=source, version=version, sha256=sha256, features=report.features,
        skipped=len(report.skipped), imported_at=now, imported_by=imported_by,
    )  # fmt: skip
    session.add(dataset)
    session.flush()
    report.dataset_id = dataset.id
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        session.execute(insert(_AREAS), [{**row, "dataset_id": dataset.id} for row in batch])
    return report


def _read_rows(path: Path, report: Imported, progress: Progress | None) -> list[dict[str, Any]]:
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for number, (properties, geometry) in enumerate(_features(path), start=1):
        row = _row(properties, geometry, report, seen)
        if isinstance(row, Reason):
            report.skipped.append(Skipped(number, row))
        else:
            rows.append(row)
            report.features += 1
        if progress is not None:
            progress(number)
    return rows


_AREAS = table_of(ReferenceArea)


def _row(
    properties: Mapping[str, Any], geometry: Any, report: Imported, seen: set[str]
) -> dict[str, Any] | Reason:
    external_id = _first(properties, _ID_FIELDS)[:80]  # as stored: two ids alike that far clash
    if not external_id:
        return Reason("dataset_row_id", N_("The row has no id (WDPA_PID or WDPAID)."))
    if external_id in seen:
        return Reason(
            "dataset_row_duplicate", N_("The id %(id)s is used twice."), {"id": external_id}
        )
    category = None
    if report.kind == "protected_area":
        category = _first(properties, _CATEGORY_FIELDS) or "Not Reported"
        if category not in IUCN_CATEGORIES:
            return Reason(
                "dataset_row_category",
                N_("%(category)s is not an IUCN category."),
                {"category": category[:40]},
            )
    found = _area(geometry)
    if isinstance(found, Reason):
        return found
    area, repaired = found
    report.repaired += repaired
    seen.add(external_id)
    designation = _first(properties, _DESIGNATION_FIELDS)
    west, south, east, north = area.bounds
    return {
        "external_id": external_id,
        "name": (_first(properties, _NAME_FIELDS) or external_id)[:300],
        "category": category,
        "designation": designation[:300],
        "world_heritage": _WORLD_HERITAGE in designation.lower(),
        "status": _first(properties, _STATUS_FIELDS)[:40],
        "west": west, "south": south, "east": east, "north": north,
        "shape": shapely.to_wkb(area),
    }  # fmt: skip


def _first(properties: Mapping[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = properties.get(name)
        if value is not None and str(value).strip():
            text = str(value).strip()
            # shapefiles store whole numbers as floats: WDPAID 12345.0 is 12345
            return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text
    return ""


def _area(geometry: Any) -> tuple[BaseGeometry, int] | Reason:
    """The polygons of a row, repaired by GEOS when invalid (a protected area dropped for a
    self-touching ring would be missed by every screening): (area, 1 if repaired)."""
    if not isinstance(geometry, Mapping) or geometry.get("type") not in (
        "Polygon", "MultiPolygon",
    ):  # fmt: skip
        kind = geometry.get("type") if isinstance(geometry, Mapping) else None
        return Reason(
            "dataset_row_shape",
            N_("The row's shape is a %(kind)s, not an area."),
            {"kind": str(kind)[:40]},
        )
    try:
        area = shape(dict(geometry))
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException):
        return Reason("dataset_row_unreadable", N_("The row's shape is not readable."))
    if area.is_empty:
        return Reason("dataset_row_empty", N_("The row's shape is empty."))
    west, south, east, north = area.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        return Reason(
            "dataset_row_range", N_("The row's shape is not in longitude and latitude (WGS 84).")
        )
    if crosses_antimeridian(area):
        return Reason(
            "dataset_row_antimeridian",
            N_("The row's shape crosses the 180th meridian without being split there."),
        )
    repaired = 0
    if not area.is_valid:
        polygons = shapely.get_parts(shapely.make_valid(area))
        kept = [p for p in polygons if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
        if not kept:
            return Reason(
                "dataset_row_invalid",
                N_("The row's shape is not valid and cannot be repaired: %(reason)s."),
                {"reason": shapely.is_valid_reason(area)},
            )
        area, repaired = shapely.union_all(kept), 1
    # on the grid the areas screened against are kept on, so a shared boundary stays shared
    area = shapely.set_precision(shapely.force_2d(area), 10**-DECIMALS)
    if area.is_empty:
        return Reason("dataset_row_empty", N_("The row's shape is empty."))
    return area, repaired


# --- reading files ---------------------------------------------------------------------------


def _features(path: Path) -> Iterator[tuple[Mapping[str, Any], Any]]:
    """(properties, GeoJSON geometry) of each feature of a GeoJSON FeatureCollection, a
    zipped shapefile or a ``.shp`` beside its ``.shx`` and ``.dbf``."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        yield from _geojson_features(path)
    elif suffix == ".zip":
        try:
            members = shapefile_members(path.read_bytes(), unlimited=True)
        except AreaRefused as error:
            raise DatasetRefused(
                "dataset_unreadable", N_("%(name)s is not a readable shapefile."), name=path.name
            ) from error
        try:
            reader = shapefile_reader(members)
        except (shapefile.ShapefileException, ValueError, struct.error) as error:
            raise DatasetRefused(
                "dataset_unreadable", N_("%(name)s is not a readable shapefile."), name=path.name
            ) from error
        yield from _shapefile_features(reader, members.get("prj"))
    elif suffix == ".shp":
        prj = path.with_suffix(".prj")
        try:
            reader = shapefile.Reader(str(path))
        except (shapefile.ShapefileException, ValueError, struct.error) as error:
            raise DatasetRefused(
                "dataset_unreadable", N_("%(name)s is not a readable shapefile."), name=path.name
            ) from error
        with reader:
            yield from _shapefile_features(reader, prj.read_bytes() if prj.exists() else None)
    else:
        raise DatasetRefused(
            "dataset_format",
            N_("%(name)s is not GeoJSON (.geojson), a zipped shapefile (.zip) or a .shp file."),
            name=path.name,
        )


def _geojson_features(path: Path) -> Iterator[tuple[Mapping[str, Any], Any]]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DatasetRefused(
            "dataset_unreadable", N_("%(name)s is not readable GeoJSON."), name=path.name
        ) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise DatasetRefused(
            "dataset_unreadable",
            N_("%(name)s is not a GeoJSON FeatureCollection."),
            name=path.name,
        )
    for feature in document.get("features") or []:
        if not isinstance(feature, dict):
            yield {}, None
            continue
        properties = feature.get("properties")
        # a row whose properties are not an object has no id: skipped as such
        yield properties if isinstance(properties, dict) else {}, feature.get("geometry")


def _shapefile_features(
    reader: shapefile.Reader, prj: bytes | None
) -> Iterator[tuple[Mapping[str, Any], Any]]:
    try:
        transform = to_wgs84(prj)
        for record in reader.iterShapeRecords():
            geometry = record.shape.__geo_interface__ if record.shape.shapeType else None
            if geometry is not None and transform is not None:
                geometry = shapely.geometry.mapping(shapely.transform(shape(geometry), transform))
            yield record.record.as_dict(), geometry
    except AreaRefused as refused:  # its .prj: the same words for a dataset
        raise DatasetRefused(refused.reason.code, refused.reason.message) from refused
    except (shapefile.ShapefileException, zipfile.BadZipFile, ValueError, struct.error) as error:
        raise DatasetRefused("dataset_unreadable", N_("The shapefile is not readable.")) from error
