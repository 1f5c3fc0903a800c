"""Reference datasets imported: the World Database on Protected Areas' fields and quirks, rows
kept, repaired and skipped with their reasons, versions, and the record on the system chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import func, select

from fpic.accounts.registry import import_areas
from fpic.geo import reference, shapes
from fpic.geo.reference import DatasetRefused, Imported, import_dataset
from fpic.geo.screening import current_datasets
from fpic.storage.models import AreaDataset, ReferenceArea, TrailEvent
from fpic.trail.audit import SYSTEM_CHAIN
from fpic.workflow.errors import InvalidData, NotPermitted
from tests.factories import World
from tests.geo.samples import (
    MACHU_PICCHU,
    PARK,
    PROJECT,
    TAVEUNI_UNSPLIT,
    Row,
    area_record,
    box,
    collection,
    feature,
    geojson_bytes,
    polygon,
    shapefile_zip,
    utm19s,
    utm19s_wkt,
    wdpa_feature,
    wdpa_rows,
    write_shapefile,
    write_wdpa,
    zipped,
)

NOW = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
WDPA = "UNEP-WCMC and IUCN, World Database on Protected Areas"


def load(
    world: World,
    path: Path,
    *,
    kind: str = "protected_area",
    source: str = WDPA,
    version: str = "2027-01",
    progress: Any = None,
) -> Imported:
    """``path`` imported in one transaction of the world's database, as the engine does."""
    with world.db.write_session() as session, session.begin():
        return import_dataset(
            session, path, kind=kind, source=source, version=version, imported_by="admin",
            now=NOW, progress=progress,
        )  # fmt: skip


def refusal(world: World, path: Path, **options: Any) -> str:
    with pytest.raises(DatasetRefused) as caught:
        load(world, path, **options)
    return caught.value.reason.code


def areas(world: World, dataset_id: int | None = None) -> dict[str, ReferenceArea]:
    with world.db.read_session() as session:
        query = select(ReferenceArea)
        if dataset_id is not None:
            query = query.where(ReferenceArea.dataset_id == dataset_id)
        return {a.external_id: a for a in session.scalars(query)}


def counts(world: World) -> tuple[int, int]:
    with world.db.read_session() as session:
        return (
            session.scalar(select(func.count()).select_from(AreaDataset)) or 0,
            session.scalar(select(func.count()).select_from(ReferenceArea)) or 0,
        )


# --- the WDPA sample ---------------------------------------------------------------------------


def test_the_wdpa_sample_keeps_repairs_and_skips_each_row_for_its_reason(world, tmp_path):
    path = write_wdpa(tmp_path / "WDPA_Jan2027_Public.geojson")
    imported = load(world, path)
    rows = wdpa_rows()
    expected_skips = [(n, r.code) for n, r in enumerate(rows, start=1) if r.code]
    assert [(s.row, s.reason.code) for s in imported.skipped] == expected_skips
    assert expected_skips == [
        (4, "dataset_row_id"), (5, "dataset_row_shape"), (6, "dataset_row_category"),
        (7, "dataset_row_duplicate"), (9, "dataset_row_invalid"), (10, "dataset_row_range"),
    ]  # fmt: skip
    assert imported.features == 4
    assert imported.repaired == 1
    assert not imported.already
    assert imported.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    by_code = {s.reason.code: s.reason for s in imported.skipped}
    assert by_code["dataset_row_category"].params == {"category": "VII"}
    assert by_code["dataset_row_duplicate"].params == {"id": "555"}
    assert by_code["dataset_row_shape"].params == {"kind": "Point"}
    with world.db.read_session() as session:
        dataset = session.get(AreaDataset, imported.dataset_id)
        assert dataset is not None
        assert (dataset.kind, dataset.source, dataset.version) == (
            "protected_area",
            WDPA,
            "2027-01",
        )
        assert (dataset.features, dataset.skipped) == (4, 6)
        assert (dataset.sha256, dataset.imported_by, dataset.imported_at) == (
            imported.sha256,
            "admin",
            NOW,
        )
    kept = areas(world)
    assert set(kept) == {"555", "274", "555547011", "900008"}
    park = kept["555"]
    assert (park.name, park.category, park.designation, park.status) == (
        "Parque Nacional Qosqo Ukhu",
        "II",
        "National Park",
        "Designated",
    )


def test_every_kept_shape_is_valid_with_its_bounding_box_beside_it(world, tmp_path):
    load(world, write_wdpa(tmp_path / "wdpa.geojson"))
    for area in areas(world).values():
        shape = shapely.from_wkb(area.shape)
        assert shape.is_valid, area.external_id
        assert shape.area > 0
        assert (area.west, area.south, area.east, area.north) == shape.bounds
    kept = areas(world)
    park = shapely.from_wkb(kept["555"].shape)
    assert isinstance(park, Polygon)
    assert len(park.interiors) == 1  # the enclave stays out of the park
    assert not park.contains(Point(-71.90, -13.31))
    heritage = shapely.from_wkb(kept["274"].shape)
    assert isinstance(heritage, MultiPolygon)
    assert len(heritage.geoms) == len(MACHU_PICCHU)
    taveuni = shapely.from_wkb(kept["555547011"].shape)
    assert isinstance(taveuni, MultiPolygon)
    assert (kept["555547011"].west, kept["555547011"].east) == (-180.0, 180.0)


def test_the_bow_tie_is_repaired_into_both_its_triangles(world, tmp_path):
    load(world, write_wdpa(tmp_path / "wdpa.geojson"))
    repaired = shapely.from_wkb(areas(world)["900008"].shape)
    assert repaired.is_valid
    assert repaired.area == pytest.approx(2 * 0.1 * 0.05 / 2)  # two triangles, none lost
    assert repaired.contains(Point(-69.99, -13.95))
    assert repaired.contains(Point(-69.91, -13.95))


def test_the_world_heritage_flag_comes_from_the_designation(world, tmp_path):
    rows = [
        Row(wdpa_feature(1, polygon(box(0, 0, 1, 1)), name="A",
                         designation="World Heritage Site (natural or mixed)")),
        Row(wdpa_feature(2, polygon(box(2, 0, 3, 1)), name="B",
                         designation="WORLD HERITAGE SITE")),
        Row(wdpa_feature(3, polygon(box(4, 0, 5, 1)), name="C",
                         designation="Ramsar Site, Wetland of International Importance")),
        Row(wdpa_feature(4, polygon(box(6, 0, 7, 1)), name="D", designation="National Park")),
    ]  # fmt: skip
    load(world, write_wdpa(tmp_path / "heritage.geojson", rows))
    flags = {k: a.world_heritage for k, a in areas(world).items()}
    assert flags == {"1": True, "2": True, "3": False, "4": False}


def test_fields_are_read_the_ways_publishers_write_them(world, tmp_path):
    features = [
        feature(polygon(box(0, 0, 1, 1)), WDPAID=12345.0, NAME="Float id"),
        feature(polygon(box(2, 0, 3, 1)), WDPAID=7, WDPA_PID="7_A", NAME="Parcel A"),
        feature(polygon(box(4, 0, 5, 1)), WDPAID=7, WDPA_PID="7_B", NAME="Parcel B"),
        feature(polygon(box(6, 0, 7, 1)), WDPAID=" 99 ", ORIG_NAME="Área de Conservación"),
        feature(polygon(box(8, 0, 9, 1)), WDPAID=100),
    ]
    path = tmp_path / "fields.json"
    path.write_bytes(geojson_bytes(collection(features)))
    imported = load(world, path)
    assert imported.skipped == []
    kept = areas(world)
    assert set(kept) == {"12345", "7_A", "7_B", "99", "100"}
    assert kept["99"].name == "Área de Conservación"
    assert kept["100"].name == "100"  # no name: its id
    assert {a.category for a in kept.values()} == {"Not Reported"}  # no IUCN_CAT
    assert kept["100"].designation == ""


def test_other_kinds_have_no_iucn_category(world, tmp_path):
    features = [feature(polygon(box(0, 0, 1, 1)), SitRecID=3001, IntName="Kosñipata Valley",
                        IUCN_CAT="VII")]  # fmt: skip
    path = tmp_path / "kba.geojson"
    path.write_bytes(geojson_bytes(collection(features)))
    imported = load(world, path, kind="kba", source="BirdLife International, KBA", version="1")
    assert imported.skipped == []
    kept = areas(world)["3001"]
    assert (kept.category, kept.name) == (None, "Kosñipata Valley")


def test_rows_that_are_not_features_are_skipped(world, tmp_path):
    path = tmp_path / "odd.geojson"
    good = feature(polygon(box(0, 0, 1, 1)), WDPAID=1)
    rows = ["x", None, good, {"type": "Feature"}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": rows}))
    imported = load(world, path)
    assert [(s.row, s.reason.code) for s in imported.skipped] == [
        (1, "dataset_row_id"), (2, "dataset_row_id"), (4, "dataset_row_id")
    ]  # fmt: skip
    assert imported.features == 1


def test_rows_are_written_in_batches_and_none_is_lost(world, tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "BATCH", 3)  # 4 areas kept: a batch of 3, then 1
    imported = load(world, write_wdpa(tmp_path / "wdpa.geojson"))
    assert set(areas(world, imported.dataset_id)) == {"555", "274", "555547011", "900008"}


def test_progress_is_told_of_every_row_in_order(world, tmp_path):
    heard: list[int] = []
    load(world, write_wdpa(tmp_path / "wdpa.geojson"), progress=heard.append)
    assert heard == list(range(1, len(wdpa_rows()) + 1))


# --- shapefiles --------------------------------------------------------------------------------


def test_a_shapefile_whole_number_ids_stored_as_floats_are_read_as_integers(world, tmp_path):
    records = [area_record([(PROJECT, [])], 12345.0, NAME="Reserva Comunal", IUCN_CAT="VI")]
    path = tmp_path / "wdpa.zip"
    path.write_bytes(shapefile_zip(records, wdpa_pid=False))
    imported = load(world, path)
    assert imported.skipped == []
    kept = areas(world)
    assert list(kept) == ["12345"]
    assert kept["12345"].category == "VI"


def test_a_zipped_shapefile_in_utm_is_stored_in_longitude_and_latitude(world, tmp_path):
    records = [
        area_record([(utm19s(PROJECT), [])], 1.0, WDPA_PID="1", IUCN_CAT="II"),
        area_record([(utm19s(box(-71.90, -13.60, -71.85, -13.55)), [])], 2.0, WDPA_PID="2"),
    ]
    path = tmp_path / "utm.zip"
    path.write_bytes(shapefile_zip(records, prj=utm19s_wkt()))
    load(world, path)
    kept = areas(world)
    assert set(kept) == {"1", "2"}
    one = kept["1"]
    assert (one.west, one.south, one.east, one.north) == pytest.approx(
        (-71.98, -13.56, -71.94, -13.52), abs=1e-6
    )


def test_a_shp_beside_its_shx_dbf_and_prj_is_read(world, tmp_path):
    projected = [area_record([(utm19s(PARK[0]), [utm19s(PARK[1][0])])], 555.0, WDPA_PID="555")]
    path = write_shapefile(tmp_path, "WDPA_Jan2027", projected, prj=utm19s_wkt())
    load(world, path)
    park = shapely.from_wkb(areas(world)["555"].shape)
    assert len(park.interiors) == 1
    assert park.bounds == pytest.approx(Polygon(*PARK).bounds, abs=1e-6)


def test_a_zipped_shapefile_larger_than_a_map_is_still_a_dataset(world, tmp_path, monkeypatch):
    data = shapefile_zip([area_record([(PROJECT, [])], 1.0), area_record([PARK], 2.0)])
    monkeypatch.setattr(shapes, "MAX_UNZIPPED", 1_000)  # as if the WDPA's 1 GB
    path = tmp_path / "WDPA_Jan2027_Public_shp_0.zip"
    path.write_bytes(data)
    assert load(world, path).features == 2


def test_a_shp_without_its_dbf_is_refused(world, tmp_path):
    path = write_shapefile(tmp_path, "alone", [area_record([(PROJECT, [])])])
    path.with_suffix(".dbf").unlink()
    assert refusal(world, path) == "dataset_unreadable"
    assert counts(world) == (0, 0)


# --- refusals ------------------------------------------------------------------------------------


def test_the_same_file_again_is_already_there_and_changes_nothing(world, tmp_path):
    path = write_wdpa(tmp_path / "wdpa.geojson")
    first = load(world, path)
    before = counts(world)
    again = load(world, path)
    assert again.already
    assert (again.dataset_id, again.sha256, again.features) == (
        first.dataset_id,
        first.sha256,
        first.features,
    )
    assert counts(world) == before == (1, 4)


def test_another_file_under_the_same_version_is_refused(world, tmp_path):
    load(world, write_wdpa(tmp_path / "wdpa.geojson"))
    changed = write_wdpa(tmp_path / "wdpa-fixed.geojson", wdpa_rows()[:3])
    with pytest.raises(DatasetRefused) as caught:
        load(world, changed)
    assert caught.value.reason.code == "dataset_version_taken"
    assert caught.value.reason.params == {"version": "2027-01", "source": WDPA}
    assert counts(world) == (1, 4)
    # under its own version it is welcome, and the same file for another source too
    assert load(world, changed, version="2027-01b").features == 3
    assert load(world, changed, source="A national register").features == 3


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"kind": "national_park"}, "dataset_kind"),
        ({"source": ""}, "dataset_source"),
        ({"source": "   "}, "dataset_source"),
        ({"version": ""}, "dataset_source"),
        ({"source": "x" * 301}, "dataset_source"),
        ({"version": "v" * 41}, "dataset_source"),
    ],
    ids=["unknown-kind", "no-source", "blank-source", "no-version", "long-source",
         "long-version"],
)  # fmt: skip
def test_kind_source_and_version_are_checked(world, tmp_path, options, code):
    assert refusal(world, write_wdpa(tmp_path / "wdpa.geojson"), **options) == code
    assert counts(world) == (0, 0)


def test_source_and_version_are_trimmed(world, tmp_path):
    imported = load(world, write_wdpa(tmp_path / "wdpa.geojson"), source=f"  {WDPA} ",
                    version=" 2027-01\n")  # fmt: skip
    assert (imported.source, imported.version) == (WDPA, "2027-01")
    assert load(world, write_wdpa(tmp_path / "wdpa.geojson"), version="2027-01").already


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("wdpa.csv", b"WDPAID,NAME\n1,A\n", "dataset_format"),
        ("wdpa.geojson", b'{"type": "FeatureCollection", "features": [', "dataset_unreadable"),
        ("wdpa.geojson", b"\xff\xfe\x00\x00", "dataset_unreadable"),
        ("wdpa.geojson", geojson_bytes(polygon(PROJECT)), "dataset_unreadable"),
        ("wdpa.json", b"[]", "dataset_unreadable"),
        ("wdpa.zip", b"PK\x03\x04 not really", "dataset_unreadable"),
        ("wdpa.zip", zipped({"txt": b"see the website"}), "dataset_unreadable"),
    ],
    ids=["csv", "truncated", "not-utf8", "a-geometry", "a-list", "not-a-zip", "no-shp"],
)
def test_files_that_are_not_datasets_are_refused(world, tmp_path, name, content, code):
    path = tmp_path / name
    path.write_bytes(content)
    assert refusal(world, path) == code
    assert counts(world) == (0, 0)


_NOT_DATASET_REFUSED = (
    "BUG fpic/geo/reference.py _features/_shapefile_features: only the unzipping is wrapped in "
    "DatasetRefused; a bad .prj raises AreaRefused (to_wgs84) and a .shp that is not one raises "
    "struct.error or ShapefileException (shapefile_reader and shapefile.Reader are outside any "
    "try), which registry.import_areas and `fpic areas import` do not catch (a traceback)"
)


@pytest.mark.parametrize("kind", ["zip-bad-prj", "zip-garbage-shp", "shp-garbage"], ids=lambda k: k)
def test_a_broken_shapefile_is_refused_as_unreadable(world, tmp_path, kind):
    if kind == "zip-bad-prj":
        path = tmp_path / "wdpa.zip"
        path.write_bytes(shapefile_zip([area_record([(PROJECT, [])])], prj="UTM 19 south"))
    elif kind == "zip-garbage-shp":
        path = tmp_path / "wdpa.zip"
        path.write_bytes(zipped({"shp": b"garbage" * 20}))
    else:
        path = tmp_path / "wdpa.shp"
        path.write_bytes(b"garbage" * 20)
    # a .prj naming no known system says so; the rest is unreadable
    assert refusal(world, path) == ("map_crs" if kind == "zip-bad-prj" else "dataset_unreadable")


def test_a_feature_whose_properties_are_a_list_is_skipped(world, tmp_path):
    path = tmp_path / "odd.geojson"
    bad = {"type": "Feature", "properties": [555], "geometry": polygon(box(0, 0, 1, 1))}
    path.write_bytes(geojson_bytes(collection([bad, feature(polygon(box(2, 0, 3, 1)), WDPAID=1)])))
    imported = load(world, path)
    assert [s.row for s in imported.skipped] == [1]


def test_ids_equal_in_their_first_80_characters_do_not_break_the_import(world, tmp_path):
    stem = "WDPA-" + "7" * 80
    rows = [
        Row(wdpa_feature(None, polygon(box(0, 0, 1, 1)), name="A", pid=stem + "_A")),
        Row(wdpa_feature(None, polygon(box(2, 0, 3, 1)), name="B", pid=stem + "_B")),
    ]
    imported = load(world, write_wdpa(tmp_path / "long.geojson", rows))
    assert imported.features + len(imported.skipped) == 2


def test_a_row_crossing_the_antimeridian_in_one_step_is_not_kept_round_the_world(world, tmp_path):
    rows = [Row(wdpa_feature(1, polygon(TAVEUNI_UNSPLIT), name="Taveuni, unsplit", iucn="VI"))]
    imported = load(world, write_wdpa(tmp_path / "unsplit.geojson", rows))
    kept = areas(world)
    if "1" in kept:
        assert kept["1"].east - kept["1"].west < 1.0
        assert not shapely.from_wkb(kept["1"].shape).contains(Point(0, -16.9))
    else:
        assert [s.row for s in imported.skipped] == [1]


# --- through the engine: the administrator, and the system chain -----------------------------


def test_only_the_administrator_imports_and_the_system_chain_lists_the_sha256(world, tmp_path):
    path = write_wdpa(tmp_path / "wdpa.geojson")
    with pytest.raises(NotPermitted):
        import_areas(world.engine, world.liaison, path, kind="protected_area", source=WDPA,
                     version="2027-01")  # fmt: skip
    assert counts(world) == (0, 0)
    imported = import_areas(world.engine, world.admin, path, kind="protected_area", source=WDPA,
                            version="2027-01")  # fmt: skip
    with world.db.read_session() as session:
        events = session.scalars(
            select(TrailEvent)
            .where(TrailEvent.chain == SYSTEM_CHAIN, TrailEvent.action == "import_areas")
            .order_by(TrailEvent.seq)
        ).all()
    assert [(e.actor, e.outcome) for e in events] == [("liaison", "refused"), ("admin", "done")]
    data = json.loads(events[1].data)
    assert data == {
        "dataset_id": imported.dataset_id, "kind": "protected_area", "source": WDPA,
        "version": "2027-01", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "features": 4, "repaired": 1, "skipped": 6,
    }  # fmt: skip
    assert events[1].case_id is None


def test_a_refused_dataset_through_the_engine_is_invalid_data(world, tmp_path):
    path = tmp_path / "wdpa.geojson"
    path.write_text("{")
    with pytest.raises(InvalidData) as caught:
        import_areas(world.engine, world.admin, path, kind="protected_area", source=WDPA,
                     version="2027-01")  # fmt: skip
    assert caught.value.field == "file"
    assert counts(world) == (0, 0)


def test_the_same_file_again_does_not_contradict_the_trail(world, tmp_path):
    path = write_wdpa(tmp_path / "wdpa.geojson")
    for _ in range(2):
        import_areas(world.engine, world.admin, path, kind="protected_area", source=WDPA,
                     version="2027-01")  # fmt: skip
    with world.db.read_session() as session:
        data = [
            json.loads(d)
            for d in session.scalars(
                select(TrailEvent.data)
                .where(TrailEvent.action == "import_areas", TrailEvent.outcome == "done")
                .order_by(TrailEvent.seq)
            )
        ]
    assert len(data) == 1 or data[1].get("already") is True or data[1] == data[0]


def test_a_new_version_becomes_the_current_one(world, tmp_path):
    first = load(world, write_wdpa(tmp_path / "wdpa-2027-01.geojson"))
    critical = tmp_path / "ifc-ps6.geojson"
    critical.write_bytes(geojson_bytes(collection([feature(polygon(box(0, 0, 1, 1)), id=1)])))
    habitat = load(world, critical, kind="critical_habitat", source="IFC PS6 screening",
                   version="1")  # fmt: skip
    second = load(world, write_wdpa(tmp_path / "wdpa-2027-02.geojson", wdpa_rows()[:2]),
                  version="2027-02")  # fmt: skip
    with world.db.read_session() as session:
        current = [(d.id, d.kind, d.version) for d in current_datasets(session)]
    assert current == [(habitat.dataset_id, "critical_habitat", "1"),
                       (second.dataset_id, "protected_area", "2027-02")]  # fmt: skip
    assert first.dataset_id not in {c[0] for c in current}
    # the older version's areas are kept (a screening on the trail names it), not current
    assert len(areas(world, first.dataset_id)) == 4
    assert len(areas(world, second.dataset_id)) == 2


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_wdpa_sample_on_postgresql(pg_world, tmp_path):
    world = pg_world
    path = write_wdpa(tmp_path / "wdpa.geojson")
    imported = import_areas(world.engine, world.admin, path, kind="protected_area", source=WDPA,
                            version="2027-01")  # fmt: skip
    assert (imported.features, imported.repaired) == (4, 1)
    assert [s.reason.code for s in imported.skipped] == [r.code for r in wdpa_rows() if r.code]
    kept = areas(world)
    assert set(kept) == {"555", "274", "555547011", "900008"}
    assert kept["274"].world_heritage
    park = shapely.from_wkb(kept["555"].shape)  # bytea comes back as the WKB written
    assert len(park.interiors) == 1
    assert load(world, path).already
    with pytest.raises(DatasetRefused):
        load(world, write_wdpa(tmp_path / "other.geojson", wdpa_rows()[:1]))
    assert counts(world) == (1, 4)
