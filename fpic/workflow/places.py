"""Where the project is: the actions that record a project's area and a community's territory,
screen the project against them and the reference datasets, and record the compatibility
assessment a strictly protected area calls for. The rules that read a screening are guards
(fpic.workflow.guards, "Where"); the geometry is fpic.geo's.

A map comes as a file (GeoJSON, KML, a zipped shapefile) or as typed coordinates. The file as
sent is kept as evidence, and beside it the area fpic computes with, as normalised GeoJSON: both
are listed by their hash on the action's trail event, so an auditor can recompute a screening
from the trail. The typed coordinates are never put on the trail themselves: a confidential
territory's shape is seen only by those its community allowed.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from fpic.evidence.intake import ReceivedFile
from fpic.geo import DEFAULT_BUFFER_M, GEOJSON, MAP_TYPES, MAX_BUFFER_M, AreaRefused
from fpic.i18n import N_, Reason
from fpic.storage.db import table_of
from fpic.storage.models import Case, ProjectArea, Territory
from fpic.workflow.effects import (
    NOTE_FIELDS,
    items_field,
    record_note,
    write_material_change,
)
from fpic.workflow.errors import InvalidData, invalid
from fpic.workflow.evidence import FILES, evidence_fields, visibility
from fpic.workflow.guards import GuardContext, findings_of, needs_assessment
from fpic.workflow.process import Template
from fpic.workflow.schema import Action, Choice, Field, Payload, Text

if TYPE_CHECKING:  # the geometry libraries load with the first map read (fpic.geo)
    from shapely.geometry.base import BaseGeometry

MAP = "map"
COORDINATES = "coordinates"
#: a map is read whole to be checked: larger than this, it is a dataset, not a case's map
MAX_MAP_SIZE = 32 * 1024 * 1024


def area_fields(label: str, required: bool) -> tuple[Field, ...]:
    """A map file or typed coordinates: one of the two."""
    return (
        Field(
            MAP, "files", label, required=False,
            hint=N_(
                "GeoJSON, KML or a zipped shapefile (.shp, .shx, .dbf and .prj): polygons; "
                "any coordinate system a .prj names, else longitude and latitude (WGS 84)."
            ),
        ),
        Field(
            COORDINATES, "text", N_("Or type the area's corners"), required=False,
            hint=N_(
                "One corner per line: longitude, latitude (WGS 84, decimal degrees). A blank "
                "line starts a hole or another part. Required unless a map file is sent."
            ) if required else N_(
                "One corner per line: longitude, latitude (WGS 84, decimal degrees). A blank "
                "line starts a hole or another part."
            ),
        ),
    )  # fmt: skip


def _area_m2(shape: BaseGeometry) -> float:
    from fpic.geo.measure import area_m2

    return area_m2(shape)


@dataclass(frozen=True)
class _Area:
    shape: BaseGeometry
    geojson: bytes
    file: ReceivedFile


def take_area(p: Payload, ctx: GuardContext, required: bool, name: str) -> _Area | None:
    """Read the area sent in ``p`` (a map file or coordinates), check it, and add its
    normalised GeoJSON to the action's files under ``name``; None when none was sent."""
    sent: list[ReceivedFile] = p.pop(MAP, None) or []
    typed = p.pop(COORDINATES, None)
    if sent and typed:
        raise invalid(COORDINATES, N_("Send a map file or type the corners, not both."))
    if len(sent) > 1:
        raise invalid(MAP, N_("%(field)s: one map file at a time."))
    if not sent and not typed:
        if required:
            raise invalid(MAP, N_("%(field)s is required: send a map file or type the corners."))
        return None
    field = MAP if sent else COORDINATES
    shape = _read_sent(sent[0]) if sent else _read_typed(typed)
    from fpic.geo.shapes import normalised_geojson

    try:
        geojson = normalised_geojson(shape)
    except AreaRefused as refused:
        raise refused_area(field, refused.reason) from None
    # fpic's own GeoJSON, kept as such: its kind is known, not read from its first bytes (a
    # large area's "type" member comes after its coordinates)
    kept = ReceivedFile(
        f"{name}.geojson", GEOJSON, len(geojson), hashlib.sha256(geojson).hexdigest(),
        io.BytesIO(geojson),
    )  # fmt: skip
    p[FILES] = [*(p.get(FILES) or []), *sent, kept]
    return _Area(shape, geojson, kept)


def _read_sent(file: ReceivedFile) -> BaseGeometry:
    if file.media_type not in MAP_TYPES:
        raise invalid(MAP, N_("%(field)s must be GeoJSON, KML or a zipped shapefile."))
    if file.size > MAX_MAP_SIZE:
        raise invalid(
            MAP, N_("%(field)s: a map may be at most %(most)s MiB."), most=MAX_MAP_SIZE // 2**20
        )
    from fpic.geo.shapes import read_area

    file.source.seek(0)
    data = file.source.read(MAX_MAP_SIZE + 1)
    try:
        return read_area(data, file.media_type)
    except AreaRefused as refused:
        raise refused_area(MAP, refused.reason) from None


def _read_typed(text: str) -> BaseGeometry:
    from fpic.geo.shapes import area_from_coordinates

    try:
        return area_from_coordinates(text)
    except AreaRefused as refused:
        raise refused_area(COORDINATES, refused.reason) from None


def refused_area(field: str, reason: Reason) -> InvalidData:
    """A map refused (fpic.geo.shapes.AreaRefused) as the refusal of the ``field`` it came in,
    told to the person who sent it; on the trail its values are "…": they are corners of the
    area, which may be a confidential territory's."""
    return InvalidData(
        field,
        Reason(
            reason.code, reason.message, {"field": field, **reason.params},
            unrecorded=tuple(reason.params),
        ),
    )  # fmt: skip


# --- the project's area and its screening ----------------------------------------------------


def _labels(case: Case, _template: Template, _today: date) -> list[Choice]:
    every = [*case.project.phases, *case.project.activities]
    return [
        Choice("", Text(N_("The whole project"))),
        *(Choice(x, Text(x, translate=False)) for x in every),
    ]


def _buffer_field() -> Field:
    return Field(
        "buffer_km", "integer", N_("Look this far around the area (km)"), required=False,
        minimum=0, maximum=MAX_BUFFER_M // 1000, fallback=DEFAULT_BUFFER_M // 1000,
        default=lambda _case, _today: DEFAULT_BUFFER_M // 1000,
    )  # fmt: skip


def check_label(p: Payload, ctx: GuardContext) -> None:
    label = p.get("label") or ""
    if label and label not in (*ctx.case.project.phases, *ctx.case.project.activities):
        raise invalid("label", N_("%(field)s must be one of the project's phases or activities."))
    p["label"] = label


def check_project_area(p: Payload, ctx: GuardContext) -> None:
    check_label(p, ctx)
    area = take_area(p, ctx, required=True, name="project-area")
    assert area is not None
    ctx.found["area"] = area


def write_project_area(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return {"project_area_id": _keep_project_area(ctx, p), **rescreen(ctx, p["buffer_km"])}


def _keep_project_area(ctx: GuardContext, p: Payload) -> int:
    area: _Area = ctx.found["area"]
    return int(ctx.session.connection().execute(
        _INSERT_PROJECT_AREA,
        {
            "project_id": ctx.case.project_id, "label": p["label"],
            "geojson": area.geojson.decode(), "sha256": area.file.sha256,
            "area_m2": _area_m2(area.shape), "case_id": ctx.case.id,
            "recorded_at": ctx.now, "recorded_by_id": ctx.actor.user_id,
        },
    ).scalar_one())  # fmt: skip


_PROJECT_AREAS = table_of(ProjectArea)
_INSERT_PROJECT_AREA = _PROJECT_AREAS.insert().returning(_PROJECT_AREAS.c.id)


def rescreen(ctx: GuardContext, buffer_km: int | None = None) -> dict[str, Any]:
    """Screen the case's project now and keep the result on the case; what goes on the trail.
    Nothing when the project has no area yet."""
    if buffer_km is None:
        earlier = ctx.case.screening
        buffer_m = earlier["buffer_m"] if earlier else DEFAULT_BUFFER_M
    else:
        buffer_m = buffer_km * 1000
    # the screening reads no row the action changed: the case's changes wait for its one UPDATE
    from fpic.geo.screening import screen

    with ctx.session.no_autoflush:
        found = screen(ctx.session, ctx.case.project_id, buffer_m)
    if found is None:
        return {}
    summary = found.summary()
    ctx.case.screening = summary
    return {"screening": summary}


def write_screening(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    result = rescreen(ctx, p["buffer_km"])
    if not result:
        raise invalid("buffer_km", N_("The project's area is not recorded yet: record it first."))
    return record_note(ctx, ctx.trigger.name, p) | result


def check_material_change(p: Payload, ctx: GuardContext) -> None:
    # none ticked: every item, the biodiversity one included (a new area may reach habitat)
    p["affected_items"] = p["affected_items"] or list(ctx.template.disclosure_items)
    # read with the case, before a write expires it (reading it later costs a statement)
    ctx.found["screened"] = ctx.case.current_area_id is not None
    area = take_area(p, ctx, required=False, name="project-area")
    if area is not None:
        check_label(p, ctx)
        ctx.found["area"] = area


def write_changed_area(ctx: GuardContext, p: Payload, from_stage: str) -> dict[str, Any]:
    """A material change, with the project's new area if it changed; either way the case is
    screened again, since what the community is told of must be what was screened. The
    screening comes first: its result joins the case's one UPDATE."""
    kept = {"project_area_id": _keep_project_area(ctx, p)} if "area" in ctx.found else {}
    screened = rescreen(ctx) if kept or ctx.found["screened"] else {}
    return write_material_change(ctx, p, from_stage) | kept | screened


# --- the community's territory -----------------------------------------------------------------


def check_territory(p: Payload, ctx: GuardContext) -> None:
    area = take_area(p, ctx, required=True, name="territory")
    assert area is not None
    ctx.found["area"] = area
    ctx.found["visible_to"] = visibility(p)
    ctx.found["screened"] = ctx.case.current_area_id is not None


def write_territory(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    area: _Area = ctx.found["area"]
    row = ctx.session.connection().execute(
        _INSERT_TERRITORY,
        {
            "community_id": ctx.case.community_id, "geojson": area.geojson.decode(),
            "sha256": area.file.sha256, "area_m2": _area_m2(area.shape),
            "visible_to": ctx.found["visible_to"], "case_id": ctx.case.id,
            "recorded_at": ctx.now, "recorded_by_id": ctx.actor.user_id,
        },
    ).scalar_one()  # fmt: skip
    written = record_note(ctx, ctx.trigger.name, p) | {"territory_id": row}
    # a new territory changes what the project overlaps: the case is screened again
    return written | (rescreen(ctx) if ctx.found["screened"] else {})


_TERRITORIES = table_of(Territory)
_INSERT_TERRITORY = _TERRITORIES.insert().returning(_TERRITORIES.c.id)


# --- a strictly protected area's compatibility assessment -----------------------------------------


def strict_overlaps(case: Case) -> list[dict[str, Any]]:
    """The protected areas of IUCN categories I to IV the case's project reaches, by its
    latest screening: those that need a compatibility assessment."""
    return [f for f in findings_of(case) if needs_assessment(f)]


def _strict_areas(case: Case, _template: Template, _today: date) -> list[Choice]:
    return [
        Choice(
            f["ref"],
            Text(
                "%(name)s (IUCN %(category)s)",
                {"name": f["name"], "category": f["category"]},
                translate=False,
            ),
        )
        for f in strict_overlaps(case)
    ]


def check_assessment(p: Payload, ctx: GuardContext) -> None:
    if p["protected_area"] not in {f["ref"] for f in strict_overlaps(ctx.case)}:
        raise invalid(
            "protected_area",
            N_("%(field)s must be a protected area of category I to IV the project overlaps."),
        )
    screening = ctx.case.screening or {}
    p["area_id"] = screening.get("area_id")


def write_assessment(ctx: GuardContext, p: Payload, _from: str) -> dict[str, Any]:
    return record_note(ctx, ctx.trigger.name, p)


_WHOLE = Field(
    "label",
    "short",
    N_("Phase or activity this area is for (blank: the whole project)"),
    required=False,
    choices=_labels,
)

ACTIONS = (
    Action(
        "project_area",
        (
            _WHOLE,
            *area_fields(N_("Map of the project's area"), required=True),
            _buffer_field(),
            Field("text", "text", N_("Where the area comes from"), required=False),
            *evidence_fields(N_("Other documents: the design, the permit application")),
        ),
        write_project_area,
        check=check_project_area,
    ),
    Action(
        "screening",
        (
            _buffer_field(),
            Field("text", "text", N_("Why the screening is run again"), required=False),
        ),
        write_screening,
    ),
    Action(
        "material_change",
        (
            Field("text", "text", N_("What changed")),
            Field("language", "language", N_("Language (code, optional)"), required=False),
            items_field("affected_items", N_("Information to disclose again (none: all)"), False),
            _WHOLE,
            *area_fields(N_("The project's new area, if it changed"), required=False),
            *evidence_fields(N_("Attached: the changed design, maps, studies")),
        ),
        write_changed_area,
        check=check_material_change,
    ),
    Action(
        "territory",
        (
            *NOTE_FIELDS[:2],
            *area_fields(N_("Map of the territory, as the community signed it off"), required=True),
            *evidence_fields(
                N_("Other maps: land use, customary rights, sacred sites"),
                hint=N_(
                    "Tick 'confidential' to keep the territory's shape and these maps for the "
                    "community and the roles ticked: the others see only what overlaps it."
                ),
            ),
        ),
        write_territory,
        check=check_territory,
    ),
    Action(
        "compatibility_assessment",
        (
            Field("protected_area", "short", N_("Protected area assessed"), choices=_strict_areas),
            Field("assessed_by", "short", N_("Assessed by")),
            Field(
                "text",
                "text",
                N_(
                    "Conclusion: is the project compatible with the area's conservation objectives?"
                ),
            ),
            Field(
                "language",
                "language",
                N_("Language of the record (code, optional)"),
                required=False,
            ),
            *evidence_fields(N_("The assessment")),
        ),
        write_assessment,
        check=check_assessment,
    ),
)
