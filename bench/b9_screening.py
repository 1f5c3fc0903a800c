"""B9: screening one project against 100,000 protected areas, in under a second.

A WDPA-format GeoJSON file of 100,000 protected areas is generated (seeded): irregular
star-shaped polygons of 20 to 200 vertices (log-uniform, so most are small, as in the WDPA),
0.3 to 40 km across, spread over a region the size of South America; one in twenty a
multipolygon of two or three parts, one in thirty with a hole; 300 of them within 25 km of the
project above Cusco (tests.factories.PROJECT_AREA), some overlapping it. It is imported once,
as ``fpic areas import`` does (``count_features`` for the progress bar, then
``fpic.accounts.registry.import_areas``: one transaction, on the system chain), in a process of
its own whose peak resident set is measured (B6's launcher).

Then ``fpic.geo.screening.screen`` is timed for the project with the default 10 km buffer, in
another process of its own: cold (``fpic.geo.screening._INDEXES`` cleared, so the bounding boxes
of every area are read and the STRtree built again) and warm (the index kept), each the median
of several rounds, each in its own read session. Every round must find the same areas, and
they must be those a brute force finds (every area near the project measured with shapely and
fpic.geo.measure, no index): a fast wrong answer is not a result. On SQLite, and on PostgreSQL
when it answers, whatever ``--backend`` says (as B1, B7 and B8).

``python bench/b9_screening.py --profile sqlite|postgresql [--quick]`` imports the same file in
this process under cProfile and prints where the import's and a cold screening's time goes.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy

from bench.common import (
    Figure,
    Timer,
    backends,
    cheap_sign_in,
    postgres_available,
    profiled,
    rss_mb,
    scratch_database,
    stopwatch,
)

AREAS, QUICK_AREAS = 100_000, 2_000
NEAR, QUICK_NEAR = 300, 60
TARGET_MS = 1_000.0
COLD_ROUNDS, WARM_ROUNDS = 5, 9
QUICK_COLD_ROUNDS, QUICK_WARM_ROUNDS = 2, 3
SEED = 9
SOURCE = "B9 synthetic, in the World Database on Protected Areas' format"
#: South America's bounding box, more or less
REGION = (-81.0, -55.0, -35.0, 12.0)
#: the project's middle (tests.factories.PROJECT_AREA) and how far out the near areas lie
CENTRE = (-71.96, -13.54)
NEAR_KM = 25.0
BUFFER_M = 10_000
KM_PER_DEGREE = 111.32
CATEGORIES = ("Ia", "Ib", "II", "III", "IV", "V", "VI", "Not Reported", "Not Applicable")
DESIGNATIONS = (
    "National Park", "Reserva Comunal", "Santuario Nacional", "Área de Conservación Regional",
    "Forest Reserve", "Ramsar Site, Wetland of International Importance",
    "World Heritage Site (natural or mixed)",
)  # fmt: skip


# --- the dataset --------------------------------------------------------------------------------


def _star(
    rng: numpy.random.Generator, lon: float, lat: float, radius_km: float, vertices: int
) -> numpy.ndarray:
    """A closed irregular ring around (lon, lat), counter-clockwise: star-shaped about its
    middle (angles strictly increasing, radii between 0.6 and 1 of ``radius_km``), so simple."""
    step = 2 * math.pi / vertices
    angles = numpy.arange(vertices) * step + rng.uniform(0, 0.45 * step, vertices)
    radii = radius_km * rng.uniform(0.6, 1.0, vertices)
    dlat = radii * numpy.sin(angles) / 110.574
    dlon = radii * numpy.cos(angles) / (KM_PER_DEGREE * math.cos(math.radians(lat)))
    ring = numpy.column_stack([lon + dlon, lat + dlat]).round(6)
    return numpy.vstack([ring, ring[:1]])


def _vertices(rng: numpy.random.Generator) -> int:
    return round(math.exp(rng.uniform(math.log(20), math.log(200))))


def _polygon(
    rng: numpy.random.Generator, lon: float, lat: float, radius_km: float
) -> list[list[list[float]]]:
    outer = _star(rng, lon, lat, radius_km, _vertices(rng))
    rings = [outer.tolist()]
    if rng.random() < 1 / 30:  # a hole: an enclave well inside the smallest radius
        hole = _star(rng, lon, lat, radius_km * 0.3, max(8, _vertices(rng) // 4))
        rings.append(hole[::-1].tolist())
    return rings


def _geometry(rng: numpy.random.Generator, lon: float, lat: float, km: float) -> dict[str, Any]:
    parts = 1 if rng.random() >= 1 / 20 else int(rng.integers(2, 4))
    if parts == 1:
        return {"type": "Polygon", "coordinates": _polygon(rng, lon, lat, km)}
    polygons = []
    for part in range(parts):  # side by side, never touching: 2.5 radii apart
        angle = rng.uniform(0, 2 * math.pi) if part else 0.0
        offset = 0.0 if part == 0 else 2.5 * km * part
        plon = lon + offset * math.cos(angle) / (KM_PER_DEGREE * math.cos(math.radians(lat)))
        plat = lat + offset * math.sin(angle) / 110.574
        polygons.append(_polygon(rng, plon, plat, km))
    return {"type": "MultiPolygon", "coordinates": polygons}


def _places(rng: numpy.random.Generator, count: int, near: int) -> Iterator[tuple[float, ...]]:
    """(lon, lat, radius in km) of each area: ``near`` of them around the project."""
    west, south, east, north = REGION
    near_at = set(rng.choice(count, size=near, replace=False).tolist())
    for n in range(count):
        if n in near_at:
            distance, angle = NEAR_KM * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            lon = CENTRE[0] + distance * math.cos(angle) / (KM_PER_DEGREE * 0.972)
            lat = CENTRE[1] + distance * math.sin(angle) / 110.574
            yield lon, lat, math.exp(rng.uniform(math.log(0.3), math.log(5.0)))
        else:
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            yield lon, lat, math.exp(rng.uniform(math.log(0.3), math.log(20.0)))


def make_dataset(path: Path, count: int, near: int, seed: int = SEED) -> dict[str, Any]:
    """Write the WDPA GeoJSON file of ``count`` areas (unless the same one is there already)
    and return what it holds; features are streamed out one by one."""
    described = path.with_suffix(".json")
    if path.exists() and described.exists():
        about = json.loads(described.read_text(encoding="utf-8"))
        if about.get("count") == count and about.get("seed") == seed:
            return dict(about)
    rng = numpy.random.default_rng(seed)
    started = time.perf_counter()
    kinds = {"Polygon": 0, "MultiPolygon": 0}
    vertices = holes = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type":"FeatureCollection","features":[\n')
        for n, (lon, lat, km) in enumerate(_places(rng, count, near), start=1):
            geometry = _geometry(rng, lon, lat, km)
            kinds[geometry["type"]] += 1
            polygons = (
                geometry["coordinates"]
                if geometry["type"] == "MultiPolygon"
                else [geometry["coordinates"]]
            )
            vertices += sum(len(ring) for p in polygons for ring in p)
            holes += sum(len(p) - 1 for p in polygons)
            wdpa_id = 100_000 + n
            properties = {
                "WDPAID": wdpa_id, "WDPA_PID": str(wdpa_id), "NAME": f"Area protegida {n}",
                "IUCN_CAT": CATEGORIES[n % len(CATEGORIES)],
                "DESIG_ENG": DESIGNATIONS[n % len(DESIGNATIONS)], "STATUS": "Designated",
            }  # fmt: skip
            feature = {"type": "Feature", "properties": properties, "geometry": geometry}
            out.write(("," if n > 1 else "") + json.dumps(feature, separators=(",", ":")) + "\n")
        out.write("]}\n")
    about = {
        "count": count, "seed": seed, "near": near, "bytes": path.stat().st_size,
        "vertices": vertices, "polygons": kinds["Polygon"], "multipolygons": kinds["MultiPolygon"],
        "holes": holes, "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    described.write_text(json.dumps(about), encoding="utf-8")
    return about


def expected_findings(path: Path) -> dict[str, str]:
    """Brute force, no index: every area of the file within half a degree of the project,
    related to it as fpic.geo.screening says it must be (publisher id -> relation)."""
    import shapely
    from shapely.geometry import shape

    from fpic.geo.measure import area_m2, frame_for
    from fpic.geo.shapes import area_from_coordinates
    from tests.factories import PROJECT_AREA

    project = area_from_coordinates(PROJECT_AREA)
    frame = frame_for(project)
    projected = frame.project(project)
    reach = shapely.box(*project.bounds).buffer(0.5)
    found: dict[str, str] = {}
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            line = line.strip().lstrip(",")
            if not line.startswith('{"type":"Feature"'):
                continue
            feature = json.loads(line)
            area = shape(feature["geometry"])
            if not area.intersects(reach):
                continue
            ref = feature["properties"]["WDPA_PID"]
            if project.intersects(area):
                overlap = area_m2(project.intersection(area))
                found[ref] = "overlaps" if overlap >= 1 else "touches"
            elif projected.distance(frame.project(area)) <= BUFFER_M:
                found[ref] = "near"
    return found


# --- in this process: the database, its project, the figures ---------------------------------


def prepare(url: str) -> dict[str, Any]:
    """A world with one community, a case and the project's area recorded through the engine
    (screened then against nothing), on a new database."""
    from bench.generate import cheap_passwords
    from tests.factories import make_world, project_area

    with cheap_passwords():
        world = make_world(url)
        try:
            community = world.add_community("ayllu-qollana", ["qu", "es"])
            case_id = world.open_case(community)
            world.act(case_id, "record_project_area", world.liaison, project_area())
        finally:
            world.db.dispose()
    return {"url": url, "project_id": world.project_id, "case_id": case_id}


def run(workdir: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """B9 on SQLite, and on PostgreSQL when it answers: the figures and the invariants. A
    screening that does not find what the brute force finds raises."""
    from bench.b6_memory import peak

    count, near = (QUICK_AREAS, QUICK_NEAR) if quick else (AREAS, NEAR)
    rounds = (QUICK_COLD_ROUNDS, QUICK_WARM_ROUNDS) if quick else (COLD_ROUNDS, WARM_ROUNDS)
    source = workdir / f"b9-wdpa-{count}.geojson"
    about = make_dataset(source, count, near)
    expected = expected_findings(source)
    figures: list[Figure] = []
    checks: dict[str, Any] = {
        "postgresql_reachable": postgres_available(), "areas": count,
        "expected_findings": len(expected),
    }  # fmt: skip
    for backend in backends():
        with scratch_database(backend, workdir, "b9") as url:
            job = {**prepare(url), "source": str(source), "cold": rounds[0], "warm": rounds[1]}
            results: dict[str, Any] = {}
            for step in ("import", "screen"):
                out = workdir / f"b9-{backend}-{step}.json"
                out.unlink(missing_ok=True)
                peak_mb, seconds, code = peak(
                    [sys.executable, __file__, json.dumps({**job, "step": step, "out": str(out)})]
                )
                result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
                out.unlink(missing_ok=True)
                if code != 0 or "error" in result or not result:
                    raise RuntimeError(
                        f"B9 {step} on {backend}: the measuring process failed (exit {code}): "
                        f"{result.get('error', 'it wrote no result')}"
                    )
                results[step] = {**result, "peak_mb": peak_mb, "process_seconds": seconds}
        imported, screened = results["import"], results["screen"]
        checks[f"{backend}: areas imported"] = imported["features"]
        checks[f"{backend}: rows skipped"] = imported["skipped"]
        checks[f"{backend}: every round found the same"] = screened["stable"]
        checks[f"{backend}: findings match the brute force"] = screened["findings"] == expected
        if screened["findings"] != expected:
            missing = sorted(set(expected.items()) - set(screened["findings"].items()))[:5]
            extra = sorted(set(screened["findings"].items()) - set(expected.items()))[:5]
            raise RuntimeError(f"B9 on {backend}: missed {missing}, wrongly found {extra}")
        figures.extend(_figures(backend, imported, screened, about))
    return figures, checks


def _figures(
    backend: str, imported: dict[str, Any], screened: dict[str, Any], about: dict[str, Any]
) -> list[Figure]:
    count = about["count"]
    figures = []
    for kind in ("cold", "warm"):
        times = [s * 1000 for s in screened[kind]]
        median = statistics.median(times)
        details: dict[str, Any] = {
            "rounds_ms": [round(t, 1) for t in times],
            "areas": count,
            "buffer_m": BUFFER_M,
            "candidates": screened["candidates"],
            "findings": len(screened["findings"]),
            "relations": screened["relations"],
        }
        if kind == "cold":
            details["index_build_ms"] = [round(s * 1000, 1) for s in screened["index"]]
            details["first_in_process_ms"] = round(screened["first"] * 1000, 1)
        figures.append(
            Figure(
                f"screen one project, {kind}, {backend}",
                median,
                "ms",
                None,
                None,
                f"< {TARGET_MS:,.0f} ms",
                median < TARGET_MS,
                details,
            )
        )
    seconds = imported["seconds"]["count"] + imported["seconds"]["import"]
    figures.append(
        Figure(
            f"import {count:,} areas, {backend}",
            imported["features"] / seconds,
            "rows/s",
            None,
            None,
            "information",
            True,
            {
                "seconds": round(seconds, 1),
                "count_seconds": round(imported["seconds"]["count"], 1),
                "import_seconds": round(imported["seconds"]["import"], 1),
                "file_mb": round(about["bytes"] / 2**20, 1),
                "vertices": about["vertices"],
                "multipolygons": about["multipolygons"],
                "holes": about["holes"],
                "features": imported["features"],
                "repaired": imported["repaired"],
                "skipped": imported["skipped"],
                "peak_rss_mb": round(imported["peak_mb"], 1),
            },
            informational=True,
        )
    )
    for step, label in (("import", "import"), ("screen", "screening")):
        result = imported if step == "import" else screened
        figures.append(
            Figure(
                f"peak RSS, {label}, {backend}",
                result["peak_mb"],
                "MB peak RSS",
                None,
                None,
                "information",
                True,
                {"rss_before_mb": round(result["rss_before"], 1)},
                informational=True,
            )
        )
    return figures


# --- the measuring process ---------------------------------------------------------------------


def import_step(job: dict[str, Any], timer: Timer = stopwatch) -> dict[str, Any]:
    """What ``fpic areas import`` does, each part timed: count the features (its progress
    bar's total), then import them through the engine."""
    from fpic.accounts.registry import import_areas
    from fpic.geo.reference import count_features
    from fpic.storage.db import Database
    from fpic.workflow.clock import SystemClock
    from fpic.workflow.engine import Engine, user_actor

    source = Path(job["source"])
    db = Database(job["url"])
    try:
        engine = Engine(db, SystemClock())
        with db.read_session() as session:
            admin = user_actor(session, "admin")
        rss_before = rss_mb()
        total, counting = timer("count", lambda: count_features(source))
        imported, importing = timer(
            "import",
            lambda: import_areas(
                engine, admin, source, kind="protected_area", source=SOURCE, version="bench"
            ),
        )
    finally:
        db.dispose()
    return {
        "rss_before": rss_before, "total": total, "features": imported.features,
        "repaired": imported.repaired, "skipped": len(imported.skipped),
        "seconds": {"count": counting, "import": importing},
    }  # fmt: skip


def screen_step(job: dict[str, Any], timer: Timer = stopwatch) -> dict[str, Any]:
    """Cold rounds (the index dropped before each), the index's build alone, then warm
    rounds: seconds each, and what each round found."""
    import shapely

    from fpic.geo import screening
    from fpic.storage.db import Database

    db = Database(job["url"])
    rss_before = rss_mb()
    seen: list[dict[str, str]] = []

    def once() -> None:
        with db.read_session() as session:
            found = screening.screen(session, job["project_id"], BUFFER_M)
        assert found is not None
        seen.append({f.ref.split(":", 1)[1]: f.relation for f in found.findings})

    def index_only() -> Any:
        with db.read_session() as session:
            ids = tuple(d.id for d in screening.current_datasets(session))
            return screening.reference_index(session, ids)

    try:
        cold, index, warm = [], [], []
        for _ in range(job["cold"]):
            screening._INDEXES.clear()
            cold.append(timer("cold", once)[1])
        for _ in range(job["cold"]):
            screening._INDEXES.clear()
            index.append(timer("index", index_only)[1])
        for _ in range(job["warm"]):
            warm.append(timer("warm", once)[1])
        ids, tree = index_only()  # kept: the candidates the warm rounds read
        with db.read_session() as session:
            found = screening.project_area(session, job["project_id"])
        assert found is not None
        boxes = [shapely.box(*b) for b in screening.search_boxes(found[1], BUFFER_M)]
        candidates = {int(i) for b in boxes for i in ids[tree.query(b)]}
    finally:
        db.dispose()
    relations: dict[str, int] = {}
    for relation in seen[-1].values():
        relations[relation] = relations.get(relation, 0) + 1
    return {
        "rss_before": rss_before, "first": cold[0], "cold": cold, "index": index, "warm": warm,
        "findings": seen[-1], "stable": all(s == seen[0] for s in seen),
        "candidates": len(candidates), "relations": relations,
    }  # fmt: skip


def measure(job: dict[str, Any]) -> None:
    """The measuring process: its result, or the error that stopped it, as JSON in job's out."""
    cheap_sign_in()
    try:
        result = import_step(job) if job["step"] == "import" else screen_step(job)
    except Exception:
        result = {"error": traceback.format_exc(limit=8)}
    Path(job["out"]).write_text(json.dumps(result), encoding="utf-8")


def profile(backend: str, quick: bool) -> None:
    """The import and one cold screening under cProfile, in this process: the 20 functions
    each spends most in (tottime)."""
    import tempfile

    cheap_sign_in()
    count, near = (QUICK_AREAS, QUICK_NEAR) if quick else (AREAS, NEAR)
    with tempfile.TemporaryDirectory(prefix="fpic-b9-") as scratch:
        workdir = Path(scratch)
        source = workdir / f"b9-wdpa-{count}.geojson"
        print(make_dataset(source, count, near))
        with scratch_database(backend, workdir, "b9") as url:
            job = {**prepare(url), "source": str(source), "cold": 1, "warm": 1}
            import_step(job, profiled(20))
            screen_step(job, profiled(20))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--profile"]:
        profile(sys.argv[2], "--quick" in sys.argv[3:])
    else:
        measure(json.loads(sys.argv[1]))
