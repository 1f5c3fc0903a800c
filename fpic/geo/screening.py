"""Screening a project: which territories, protected areas, critical habitat and Key
Biodiversity Areas its area overlaps, touches or comes within a buffer of, and how far.

The reference areas are found with a spatial index (shapely's STRtree over their bounding
boxes, built once per set of dataset versions and kept for the life of the process: datasets
are append-only, so an index never goes stale), then measured one by one in metres. The result
is recorded on the trail with the versions of the datasets it used (``Screening.summary``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fpic.geo import DEFAULT_BUFFER_M
from fpic.geo.measure import Frame, area_m2, frame_for, search_boxes
from fpic.geo.shapes import area_of_geojson
from fpic.storage.models import AreaDataset, Community, ProjectArea, ReferenceArea, Territory

#: relations, closest first
OVERLAPS, TOUCHES, NEAR = "overlaps", "touches", "near"
#: at most this many reference areas are read per statement
_READ_BATCH = 500


@dataclass(frozen=True)
class Finding:
    """One area the project overlaps, touches or comes near. ``ref`` names it for good: the
    dataset id and the publisher's id, or the territory's record id."""

    kind: str  #: "territory" or one of fpic.storage.models.AREA_KINDS
    ref: str
    name: str
    relation: str
    distance_m: int
    overlap_m2: int
    category: str | None = None
    world_heritage: bool = False
    community_id: int | None = None

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind, "ref": self.ref, "name": self.name, "relation": self.relation,
            "distance_m": self.distance_m, "overlap_m2": self.overlap_m2,
        }  # fmt: skip
        if self.category is not None:
            found["category"] = self.category
        if self.world_heritage:
            found["world_heritage"] = True
        if self.community_id is not None:
            found["community_id"] = self.community_id
        return found


@dataclass(frozen=True)
class Screening:
    area_id: int  #: the latest project area record it used
    area_m2: int
    buffer_m: int
    datasets: list[dict[str, Any]]
    findings: list[Finding]

    def summary(self) -> dict[str, Any]:
        """What goes on the trail and on the case (``cases.screening``)."""
        return {
            "area_id": self.area_id,
            "area_m2": self.area_m2,
            "buffer_m": self.buffer_m,
            "datasets": self.datasets,
            "findings": [f.summary() for f in self.findings],
        }


def project_area(session: Session, project_id: int) -> tuple[int, BaseGeometry] | None:
    """The project's area now: the latest record of each phase or activity, together; and the
    id of the latest record. None when no area was recorded."""
    latest = (
        select(func.max(ProjectArea.id))
        .where(ProjectArea.project_id == project_id)
        .group_by(ProjectArea.label)
    )
    rows = session.execute(
        select(ProjectArea.id, ProjectArea.geojson).where(ProjectArea.id.in_(latest))
    ).all()
    if not rows:
        return None
    shapes = [area_of_geojson(geojson) for _, geojson in rows]
    return max(i for i, _ in rows), shapely.union_all(shapes)


def screen(session: Session, project_id: int, buffer_m: int = DEFAULT_BUFFER_M) -> Screening | None:
    """Screen the project's area now against every territory and the current version of every
    reference dataset; None when the project has no area."""
    found = project_area(session, project_id)
    if found is None:
        return None
    area_id, area = found
    frame = frame_for(area)
    projected = frame.project(area)
    size = area_m2(area)
    place = _Place(area, projected, frame, buffer_m)
    datasets = current_datasets(session)
    findings = _reference_findings(session, place, datasets)
    findings += _territory_findings(session, place)
    order = {OVERLAPS: 0, TOUCHES: 1, NEAR: 2}
    findings.sort(key=lambda f: (order[f.relation], f.distance_m, f.kind, f.name, f.ref))
    return Screening(
        area_id,
        round(size),
        buffer_m,
        [_dataset_summary(d) for d in datasets],
        findings,
    )


def _dataset_summary(dataset: AreaDataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "kind": dataset.kind,
        "source": dataset.source,
        "version": dataset.version,
        "sha256": dataset.sha256,
    }


@dataclass(frozen=True)
class _Place:
    area: BaseGeometry
    projected: BaseGeometry
    frame: Frame
    buffer_m: int

    def relate(self, other: BaseGeometry) -> tuple[str, int, int] | None:
        """(relation, distance in metres, overlap in square metres), or None when ``other`` is
        farther than the buffer. Whole numbers: the trail holds no floating-point number."""
        if self.area.intersects(other):
            overlap = area_m2(self.area.intersection(other))
            return (OVERLAPS, 0, round(overlap)) if overlap >= 1 else (TOUCHES, 0, 0)
        distance = float(self.projected.distance(self.frame.project(other)))
        if distance < 1:
            # under a metre apart is a shared boundary: kept areas are rounded to about a
            # centimetre, and an area split at the antimeridian meets its neighbour there
            return TOUCHES, 0, 0
        if distance > self.buffer_m:
            return None
        return NEAR, round(distance), 0


def territory_contact(
    session: Session, project_id: int, community_id: int
) -> tuple[str, str] | None:
    """Whether the project's area now overlaps or touches the community's territory as it is
    now: (the community's name, the relation), or None. Read afresh, not from a screening: a
    territory mapped on another case since counts at once."""
    row = session.execute(
        select(Community.name, Territory.geojson)
        .join(Community, Community.id == Territory.community_id)
        .where(Territory.community_id == community_id)
        .order_by(Territory.id.desc())
        .limit(1)
    ).first()
    if row is None:  # no territory mapped yet: the area need not be read
        return None
    found = project_area(session, project_id)
    if found is None:
        return None
    area = found[1]
    place = _Place(area, frame_for(area).project(area), frame_for(area), 0)
    related = place.relate(area_of_geojson(row[1]))
    return (row[0], related[0]) if related is not None else None


def current_datasets(session: Session) -> list[AreaDataset]:
    """The version of each dataset (kind and source) imported last."""
    latest = select(func.max(AreaDataset.id)).group_by(AreaDataset.kind, AreaDataset.source)
    return list(
        session.scalars(
            select(AreaDataset).where(AreaDataset.id.in_(latest)).order_by(AreaDataset.id)
        )
    )


def _reference_findings(
    session: Session, place: _Place, datasets: Sequence[AreaDataset]
) -> list[Finding]:
    if not datasets:
        return []
    ids, tree = reference_index(session, tuple(d.id for d in datasets))
    boxes = [shapely.box(*b) for b in search_boxes(place.area, place.buffer_m)]
    if not boxes or len(ids) == 0:
        return []
    hits = numpy.unique(numpy.concatenate([tree.query(box) for box in boxes]))
    candidates = [int(i) for i in ids[hits]]
    kinds = {d.id: d.kind for d in datasets}
    findings: list[Finding] = []
    for start in range(0, len(candidates), _READ_BATCH):
        rows = session.execute(
            select(
                ReferenceArea.dataset_id, ReferenceArea.external_id, ReferenceArea.name,
                ReferenceArea.category, ReferenceArea.world_heritage, ReferenceArea.shape,
            ).where(ReferenceArea.id.in_(candidates[start : start + _READ_BATCH]))
        )  # fmt: skip
        for dataset_id, external_id, name, category, heritage, wkb in rows:
            related = place.relate(shapely.from_wkb(wkb))
            if related is None:
                continue
            relation, distance, overlap = related
            findings.append(
                Finding(
                    kinds[dataset_id], f"{dataset_id}:{external_id}", name, relation, distance,
                    overlap, category, bool(heritage),
                )
            )  # fmt: skip
    return findings


def _territory_findings(session: Session, place: _Place) -> list[Finding]:
    latest = select(func.max(Territory.id)).group_by(Territory.community_id)
    rows = session.execute(
        select(Territory.id, Territory.community_id, Community.name, Territory.geojson)
        .join(Community, Community.id == Territory.community_id)
        .where(Territory.id.in_(latest))
    )
    boxes = [shapely.box(*b) for b in search_boxes(place.area, place.buffer_m)]
    findings: list[Finding] = []
    for territory_id, community_id, name, geojson in rows:
        territory = area_of_geojson(geojson)
        if not any(territory.intersects(box) for box in boxes):
            continue
        related = place.relate(territory)
        if related is None:
            continue
        relation, distance, overlap = related
        findings.append(
            Finding(
                "territory", str(territory_id), name, relation, distance, overlap,
                community_id=community_id,
            )
        )  # fmt: skip
    return findings


# --- the spatial index ---------------------------------------------------------------------

_INDEXES: dict[tuple[str, tuple[int, ...]], tuple[numpy.ndarray, STRtree]] = {}
_INDEX_LOCK = Lock()
#: indexes kept per process: one per set of dataset versions screened against
_KEPT = 4


def reference_index(
    session: Session, dataset_ids: tuple[int, ...]
) -> tuple[numpy.ndarray, STRtree]:
    """The ids of the datasets' areas and an STRtree of their bounding boxes, in that order;
    kept per database, since dataset ids are only unique within one."""
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), dataset_ids)
    with _INDEX_LOCK:
        kept = _INDEXES.get(key)
    if kept is not None:
        return kept
    rows = session.execute(
        select(
            ReferenceArea.id, ReferenceArea.west, ReferenceArea.south, ReferenceArea.east,
            ReferenceArea.north,
        ).where(ReferenceArea.dataset_id.in_(dataset_ids))
    ).all()  # fmt: skip
    # plain tuples: numpy probes a row object for an array interface, field by field (B9)
    table = numpy.array([tuple(row) for row in rows], dtype=float).reshape(-1, 5)
    ids = table[:, 0].astype(numpy.int64)
    tree = STRtree(shapely.box(table[:, 1], table[:, 2], table[:, 3], table[:, 4]))
    with _INDEX_LOCK:
        while len(_INDEXES) >= _KEPT:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[key] = (ids, tree)
    return ids, tree
