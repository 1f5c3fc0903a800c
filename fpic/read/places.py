"""Where things are, as a page shows them: the layers of a map and the table of what a
screening found, for a case, a project (its landscape: every case with every community), a
community and a legacy site.

A confidential territory's shape is drawn only for those who may see it, by the rule that
decides it for files (fpic.workflow.permissions.can_see_file); everyone who may read the case
sees the facts derived from it: what overlaps it and how far things are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from fpic.storage.models import (
    Case,
    Community,
    LegacySite,
    LegacySiteCommunity,
    Project,
    ReferenceArea,
    Territory,
)
from fpic.workflow.actors import Actor
from fpic.workflow.guards import assessed_areas, calls_for, findings_of, needs_assessment
from fpic.workflow.permissions import can_read_case, can_see_file
from fpic.workflow.process import template_for

if TYPE_CHECKING:  # the geometry libraries load with the first map drawn (fpic.geo)
    from fpic.geo.svg import Layer


@dataclass(frozen=True)
class ShownFinding:
    kind: str
    name: str
    relation: str
    distance_m: int
    overlap_m2: int
    category: str | None
    world_heritage: bool
    #: what the finding calls for under the case's template (message ids)
    calls_for: tuple[str, ...] = ()
    #: for a protected area needing an assessment: whether it was recorded
    assessed: bool | None = None


@dataclass
class Place:
    layers: list[Layer] = field(default_factory=list)
    findings: list[ShownFinding] = field(default_factory=list)
    #: territories whose shape this person may not see (their facts are still listed)
    withheld: int = 0
    #: the datasets the screening used (source, version)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    buffer_m: int | None = None
    area_m2: int | None = None


def case_place(session: Session, actor: Actor, case: Case) -> Place:
    """The case's project area, the territories and reference areas its screening found."""
    place = Place()
    _add_project(session, place, case.project_id, case.project.name)
    findings = findings_of(case)
    _add_references(session, place, findings)
    territory_ids = [int(f["ref"]) for f in findings if f["kind"] == "territory"]
    own = _latest_territories(session, [case.community_id])
    _add_territories(session, actor, place, [*own, *_territories(session, territory_ids)])
    screening = case.screening or {}
    place.datasets = list(screening.get("datasets", []))
    place.buffer_m = screening.get("buffer_m")
    place.area_m2 = screening.get("area_m2")
    if findings:
        template = template_for(case.template_id, case.template_version, case.template_hash)
        assessed = (
            assessed_areas(case) if any(f["kind"] == "protected_area" for f in findings) else set()
        )
        for f in findings:
            done = (f["ref"] in assessed) if needs_assessment(f) else None
            place.findings.append(_shown(f, tuple(calls_for(template, case, f)), done))
    return place


def _shown(
    f: dict[str, Any], said: tuple[str, ...] = (), assessed: bool | None = None
) -> ShownFinding:
    return ShownFinding(
        f["kind"], f["name"], f["relation"], f["distance_m"], f["overlap_m2"],
        f.get("category"), bool(f.get("world_heritage")), said, assessed,
    )  # fmt: skip


@dataclass(frozen=True)
class LandscapeCase:
    case: Case
    #: what its screening found in contact with the project, by kind
    findings: tuple[ShownFinding, ...]


@dataclass
class Landscape:
    """A project's page: every case it has, with every community, on one map; and the cases
    of other projects that affect the same territories (cumulative impacts)."""

    place: Place
    cases: list[LandscapeCase]
    others: list[Case]


def landscape(session: Session, actor: Actor, project: Project) -> Landscape:
    place = Place()
    _add_project(session, place, project.id, project.name)
    cases = [
        c
        for c in session.scalars(
            select(Case).where(Case.project_id == project.id).order_by(Case.id)
        )
        if can_read_case(actor, c)
    ]
    references: dict[str, dict[str, Any]] = {}
    community_ids: set[int] = set()
    rows = []
    for case in cases:
        community_ids.add(case.community_id)
        findings = findings_of(case)
        for f in findings:
            if f["kind"] != "territory":
                references.setdefault(f["ref"], f)
            else:
                community_ids.add(int(f["community_id"]))
        rows.append(
            LandscapeCase(case, tuple(_shown(f) for f in findings if f["relation"] != "near"))
        )
    _add_references(session, place, list(references.values()))
    _add_territories(session, actor, place, _latest_territories(session, sorted(community_ids)))
    return Landscape(place, rows, _affecting(session, actor, project.id, community_ids))


def _affecting(
    session: Session, actor: Actor, project_id: int, community_ids: set[int]
) -> list[Case]:
    """Cases of other projects with the same communities, or whose screening found one of
    their territories."""
    if not community_ids:
        return []
    others = session.scalars(select(Case).where(Case.project_id != project_id).order_by(Case.id))
    return [
        c
        for c in others
        if can_read_case(actor, c)
        and (
            c.community_id in community_ids
            or any(
                f["kind"] == "territory" and f.get("community_id") in community_ids
                for f in findings_of(c)
            )
        )
    ]


def community_place(session: Session, actor: Actor, community: Community) -> Place:
    """The community's territory and the areas of the projects it has cases with."""
    place = Place()
    cases = session.scalars(select(Case).where(Case.community_id == community.id))
    for project_id in sorted({c.project_id for c in cases if can_read_case(actor, c)}):
        project = session.get(Project, project_id)
        if project is not None:
            _add_project(session, place, project_id, project.name)
    _add_territories(session, actor, place, _latest_territories(session, [community.id]))
    return place


def sites_around(session: Session, community_id: int) -> list[LegacySite]:
    """The legacy mine sites the community lives around."""
    return list(
        session.scalars(
            select(LegacySite)
            .join(LegacySiteCommunity, LegacySiteCommunity.site_id == LegacySite.id)
            .where(LegacySiteCommunity.community_id == community_id)
            .order_by(LegacySite.name)
        )
    )


def legacy_site_place(session: Session, actor: Actor, site: LegacySite) -> Place:
    """The site, and the territories of the communities around it."""
    place = Place(layers=[_layer("legacy_site", site.name, site.geojson)])
    ids = [c.id for c in site.communities]
    _add_territories(session, actor, place, _latest_territories(session, ids))
    return place


# --- reading the layers ----------------------------------------------------------------------


def _add_project(session: Session, place: Place, project_id: int, name: str) -> None:
    """The project's area now, when it has one."""
    from fpic.geo.screening import project_area

    found = project_area(session, project_id)
    if found is not None:
        place.layers.append(_layer("project", name, found[1]))


def _layer(
    kind: str, name: str, shape: Any, category: str | None = None, heritage: bool = False
) -> Layer:
    """A layer of ``shape``, a geometry or GeoJSON text as fpic keeps areas."""
    from fpic.geo.shapes import area_of_geojson
    from fpic.geo.svg import Layer

    geometry = area_of_geojson(shape) if isinstance(shape, str) else shape
    return Layer(kind, name, geometry, category, heritage)  # type: ignore[arg-type]


def _add_references(session: Session, place: Place, findings: Sequence[dict[str, Any]]) -> None:
    import shapely

    keys = [tuple(f["ref"].split(":", 1)) for f in findings if f["kind"] != "territory"]
    if not keys:
        return
    rows = session.execute(
        select(
            ReferenceArea.dataset_id, ReferenceArea.external_id, ReferenceArea.name,
            ReferenceArea.category, ReferenceArea.world_heritage, ReferenceArea.shape,
        ).where(
            tuple_(ReferenceArea.dataset_id, ReferenceArea.external_id).in_(
                [(int(d), e) for d, e in keys]
            )
        )
    )  # fmt: skip
    kinds = {f["ref"]: f["kind"] for f in findings}
    for dataset_id, external_id, name, category, heritage, wkb in rows:
        kind = kinds[f"{dataset_id}:{external_id}"]
        place.layers.append(_layer(kind, name, shapely.from_wkb(wkb), category, bool(heritage)))


def _latest_territories(session: Session, community_ids: Iterable[int]) -> list[Territory]:
    ids = list(community_ids)
    if not ids:
        return []
    latest = (
        select(func.max(Territory.id))
        .where(Territory.community_id.in_(ids))
        .group_by(Territory.community_id)
    )
    return list(session.scalars(select(Territory).where(Territory.id.in_(latest))))


def _territories(session: Session, ids: list[int]) -> list[Territory]:
    if not ids:
        return []
    return list(session.scalars(select(Territory).where(Territory.id.in_(ids))))


def _add_territories(
    session: Session, actor: Actor, place: Place, territories: Iterable[Territory]
) -> None:
    seen: set[int] = set()
    for territory in territories:
        if territory.id in seen:
            continue
        seen.add(territory.id)
        case = session.get(Case, territory.case_id)
        # as for the file it came in: whoever may read the case it was recorded on, and of a
        # confidential one only those the community allowed
        if (
            case is None
            or not can_read_case(actor, case)
            or not can_see_file(actor, case, territory.visible_to)
        ):
            place.withheld += 1
            continue
        community = session.get(Community, territory.community_id)
        name = community.name if community is not None else ""
        place.layers.append(_layer("territory", name, territory.geojson))
