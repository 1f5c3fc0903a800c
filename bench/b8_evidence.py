"""B8: a 250 MB evidence file uploaded through the web form, stored, bundled and verified.

A recording of 250 MiB (random bytes behind an MP4 ``ftyp`` header) is sent in one multipart
POST of the register_disclosure form through the real Flask app (its test client, signed in as
the liaison, CSRF on), on a case standing at the disclosure stage: the form is parsed, the file
received (hashed, its type read) and stored in the action's own transaction. The case's
evidence bundle is then written (``write_bundle``), the bundle verified (``verify_bundle``) and
the stored files checked (``check_stored``, what ``fpic audit verify`` does). Each step is
timed as MiB/s of the file and given as a ratio to copying the same file in the same folder
(``shutil.copyfile``, no fsync, best of 3, in the same process just before). The multipart
body is encoded before the clock starts: a browser does that, not fpic. Two floors are shown
beside them for understanding: the same copy with an fsync, and reading the file with SHA-256.

The work runs in its own process per database, started by a small launcher (bench/b6_memory.py
says why), so its peak resident set size is that of the work alone; the database and its case
are made beforehand in this process. Passwords are hashed cheaply there too (as everywhere in
bench/): argon2id's 64 MiB is the cost of signing in, not of a file. Sizes are MiB (2**20
bytes), written "MB" as in B6.

``python bench/b8_evidence.py --profile sqlite|postgresql [--quick]`` runs the same steps in
this process under cProfile and prints where each step's time goes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PASSWORD,
    Figure,
    Timer,
    backends,
    cheap_sign_in,
    peak_rss_mb,
    postgres_available,
    profiled,
    ratio_figure,
    rss_mb,
    scratch_database,
    stopwatch,
)

MB = 1024 * 1024
SIZE, QUICK_SIZE = 250 * MB, 8 * MB
TARGET = 0.5
LIMIT_MB = 100.0
ROUNDS = 3
#: an ISO base media file's first box: size 24, "ftyp", major brand isom, minor version 0x200,
#: compatible brands isom and iso2 (what filetype needs to call it video/mp4)
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
STEPS = {
    "upload": "upload + store (web form)",
    "bundle": "write the bundle",
    "verify": "verify the bundle",
    "check": "check the stored file",
}
FLOORS = {
    "copy_fsync": "floor: the copy + fsync",
    "sha256": "floor: read + SHA-256",
}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
VERSION = re.compile(r'id="version" name="version" type="hidden" value="(\d+)"')


def make_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes, an MP4 header then random bytes, on disk; its SHA-256."""
    hasher = hashlib.sha256()
    with path.open("wb") as out:
        written = 0
        while written < size:
            chunk = MP4_HEAD if written == 0 else os.urandom(min(MB, size - written))
            out.write(chunk)
            hasher.update(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())  # so its write-back does not land in a measured step
    return hasher.hexdigest()


# --- the baseline and the floors: the same file, the same folder -------------------------------


def copy_rate(source: Path, fsync: bool = False) -> list[float]:
    """MiB/s of each of ROUNDS ``shutil.copyfile`` of ``source`` beside itself (each copy
    removed before the next, so none is written back while another step runs)."""
    size = source.stat().st_size
    target = source.with_name(source.name + ".copy")
    rates = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        shutil.copyfile(source, target)
        if fsync:
            descriptor = os.open(target, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        rates.append(size / MB / (time.perf_counter() - start))
        target.unlink()
    return rates


def hash_rate(source: Path) -> list[float]:
    """MiB/s of each of ROUNDS reads of ``source`` in 1 MiB pieces through SHA-256."""
    size = source.stat().st_size
    rates = []
    for _ in range(ROUNDS):
        start, hasher = time.perf_counter(), hashlib.sha256()
        with source.open("rb") as stream:
            while chunk := stream.read(MB):
                hasher.update(chunk)
        rates.append(size / MB / (time.perf_counter() - start))
    return rates


# --- in this process: the database, its case, the figures --------------------------------------


def prepare(url: str) -> dict[str, Any]:
    """A world with one community and a case at the disclosure stage, on a new database."""
    from sqlalchemy import func, select

    from bench.generate import cheap_passwords
    from fpic.storage.models import EvidenceBlob
    from tests.factories import make_world, walk_to

    with cheap_passwords():
        world = make_world(url)
        try:
            community = world.add_community("ayllu-qollana", ["qu", "es"])
            case_id = world.open_case(community)
            walk_to(world, case_id, "disclosure", community)
            # the walk's maps (the project's area, the territory): the figures are the file's
            with world.db.read_session() as session:
                maps = session.execute(
                    select(func.count(), func.coalesce(func.sum(EvidenceBlob.size), 0))
                ).one()
        finally:
            world.db.dispose()
    return {
        "case_id": case_id, "now": world.clock.now().isoformat(),
        "maps": int(maps[0]), "maps_size": int(maps[1]),
    }  # fmt: skip


def run(workdir: Path, quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """B8 on SQLite, and on PostgreSQL when it answers: the figures and the invariants. A step
    that does not do what it must (a refused upload, a bundle that does not verify) raises."""
    from bench.b6_memory import peak

    size = QUICK_SIZE if quick else SIZE
    source = workdir / "b8-recording.mp4"
    figures: list[Figure] = []
    checks: dict[str, Any] = {"postgresql_reachable": postgres_available()}
    try:
        sha256 = make_file(source, size)
        for backend in backends():
            out = workdir / f"b8-{backend}.json"
            out.unlink(missing_ok=True)
            with scratch_database(backend, workdir, "b8") as url:
                job = {
                    "url": url, "source": str(source), "sha256": sha256,
                    "workdir": str(workdir), "out": str(out), **prepare(url),
                }  # fmt: skip
                peak_mb, _seconds, code = peak([sys.executable, __file__, json.dumps(job)])
            result = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
            out.unlink(missing_ok=True)
            if code != 0 or "seconds" not in result:
                raise RuntimeError(
                    f"B8 on {backend}: the measuring process failed (exit {code}): "
                    f"{result.get('error', 'it wrote no result')}"
                )
            figures.extend(_figures(backend, result, size, peak_mb))
            checks.update({f"{backend}: {name}": ok for name, ok in result["checks"].items()})
    finally:
        source.unlink(missing_ok=True)
    return figures, checks


def _figures(backend: str, result: dict[str, Any], size: int, peak_mb: float) -> list[Figure]:
    copy = max(result["rates"]["copy"])
    common: dict[str, Any] = {
        "baseline_is": "shutil.copyfile of the same file in the same folder, no fsync, best of 3",
        "file_mb": size / MB,
        "copy_rounds": [round(r) for r in result["rates"]["copy"]],
    }
    figures = []
    for step, label in STEPS.items():
        seconds = result["seconds"][step]
        figures.append(
            ratio_figure(
                f"{label}, {backend}",
                size / MB / seconds,
                copy,
                "MB/s",
                minimum=TARGET,
                seconds=round(seconds, 2),
                peak_rss_mb_after=round(result["rss"][step], 1),
                **common,
            )
        )
    for floor, label in FLOORS.items():
        value = max(result["rates"][floor])
        figures.append(
            Figure(
                f"{label}, {backend}",
                value,
                "MB/s",
                copy,
                value / copy,
                "information",
                True,
                {"rounds": [round(r) for r in result["rates"][floor]], **common},
                informational=True,
            )
        )
    before = result["rss"]["before_upload"]
    figures.append(
        Figure(
            f"peak RSS, upload to check, {backend}",
            peak_mb,
            "MB peak RSS",
            None,
            None,
            f"< {LIMIT_MB:.0f} MB",
            peak_mb < LIMIT_MB,
            {
                "rss_before_upload_mb": round(before, 1),
                "peak_before_upload_mb": round(result["rss"]["peak_before_upload"], 1),
                "increase_mb": round(peak_mb - before, 1),
                "file_mb": size / MB,
                **{f"peak_after_{s}_mb": round(result["rss"][s], 1) for s in STEPS},
            },
        )
    )
    return figures


# --- the measuring process ---------------------------------------------------------------------


def work(job: dict[str, Any], timer: Timer = stopwatch) -> dict[str, Any]:
    """The baseline and floors, then upload, bundle, verify, check, each timed by ``timer``;
    raises if a step does not do what it must."""
    from datetime import datetime

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    from fpic.evidence.bundle import verify_bundle, write_bundle
    from fpic.evidence.checks import check_stored
    from fpic.storage.db import Database
    from fpic.trail.audit import export_rows
    from fpic.workflow.clock import FrozenClock
    from web import create_app

    source, workdir = Path(job["source"]), Path(job["workdir"])
    size, sha256, case_id = source.stat().st_size, job["sha256"], job["case_id"]
    now = datetime.fromisoformat(job["now"])
    rates = {
        "copy": copy_rate(source), "copy_fsync": copy_rate(source, fsync=True),
        "sha256": hash_rate(source),
    }  # fmt: skip
    result: dict[str, Any] = {"rates": rates, "rss": {}, "seconds": {}, "checks": {}}
    rss, seconds, checks = result["rss"], result["seconds"], result["checks"]

    app = create_app(
        {"DATABASE_URL": job["url"], "SECRET_KEY": "bench-b8", "FPIC_CLOCK": FrozenClock(now)}
    )
    client = app.test_client()
    signed_in = client.post(
        "/login",
        data={"username": "liaison", "password": PASSWORD,
              "csrf_token": _csrf(client.get("/login").text)},
    )  # fmt: skip
    _must(signed_in.status_code == 302, f"signing in answered {signed_in.status_code}")
    url = f"/cases/{case_id}/actions/register_disclosure"
    page = client.get(url).text
    with source.open("rb") as stream:
        fields = {
            "csrf_token": _csrf(page),
            "version": _version(page),
            "item": "affected_areas",
            "languages": ["qu"],
            "formats": ["oral"],
            "title": "Recording of the assembly on the affected areas",
            "channel": "Assembly in the community hall",
            "disclosed_on": now.date().isoformat(),
            "translator": "Rosa Mamani Quispe",
            "files": FileStorage(stream, "recording.mp4", content_type="video/mp4"),
        }
        body, length, boundary = stream_encode_multipart(fields)  # on disk past 500 KB
    rss["before_upload"], rss["peak_before_upload"] = rss_mb(), peak_rss_mb()

    with body:
        response, seconds["upload"] = timer(
            "upload",
            lambda: client.post(
                url,
                input_stream=body,
                content_length=length,
                content_type=f"multipart/form-data; boundary={boundary}",
            ),
        )
    rss["upload"] = peak_rss_mb()
    checks["upload_redirected"] = response.status_code == 302
    _must(checks["upload_redirected"], f"the upload answered {response.status_code}")

    db = Database(job["url"])
    bundle = workdir / "b8-bundle.zip"
    try:
        with db.read_session() as session:
            listed = [
                (entry["sha256"], entry["size"])
                for row in export_rows(session, case_id)
                if row["action"] == "register_disclosure" and row["outcome"] == "done"
                for entry in (row["data"] or {}).get("files", [])
            ]
        checks["trail_lists_the_file"] = listed == [(sha256, size)]
        _must(checks["trail_lists_the_file"], f"the trail lists {listed}, not {sha256}")

        def write() -> int:
            with db.read_session() as session, bundle.open("wb") as out:
                # the generator yields the bytes of files written so far: its last is the total
                *_, written = write_bundle(
                    session, out, export_rows(session, case_id), case_id=case_id,
                    may_see=lambda _listing: True, now=now,
                )  # fmt: skip
                return written

        written, seconds["bundle"] = timer("bundle", write)
        rss["bundle"] = peak_rss_mb()
        checks["bundle_holds_the_file"] = written == size + job["maps_size"]
        _must(checks["bundle_holds_the_file"], f"the bundle holds {written} bytes of files")

        verified, seconds["verify"] = timer("verify", lambda: verify_bundle(bundle))
        rss["verify"] = peak_rss_mb()
        files = verified.files
        expected = (1 + job["maps"], size + job["maps_size"])
        checks["bundle_intact"] = verified.intact and (files.files, files.size) == expected
        _must(checks["bundle_intact"], f"the bundle does not verify: {verified}")

        def check() -> Any:
            with db.read_session() as session:
                return check_stored(session)

        stored, seconds["check"] = timer("check", check)
        rss["check"] = peak_rss_mb()
        checks["stored_file_intact"] = stored.intact and (stored.files, stored.size) == expected
        _must(checks["stored_file_intact"], f"the stored files do not verify: {stored}")
    finally:
        db.dispose()
        bundle.unlink(missing_ok=True)
    return result


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    _must(match is not None, "the page has no CSRF token")
    assert match is not None
    return match.group(1) or match.group(2)


def _version(html: str) -> str:
    match = VERSION.search(html)
    _must(match is not None, "the action's page has no version field")
    assert match is not None
    return match.group(1)


def _must(ok: bool, problem: str) -> None:
    if not ok:
        raise RuntimeError(problem)


def measure(job: dict[str, Any]) -> None:
    """The measuring process: its result, or the error that stopped it, as JSON in job's out."""
    cheap_sign_in()
    try:
        result = work(job)
    except Exception:
        result = {"error": traceback.format_exc(limit=8)}
    Path(job["out"]).write_text(json.dumps(result), encoding="utf-8")


def profile(backend: str, quick: bool) -> None:
    """Every step under cProfile, in this process: the 15 functions each spends most in."""
    import tempfile

    cheap_sign_in()
    with tempfile.TemporaryDirectory(prefix="fpic-b8-") as scratch:
        workdir = Path(scratch)
        source = workdir / "b8-recording.mp4"
        sha256 = make_file(source, QUICK_SIZE if quick else SIZE)
        with scratch_database(backend, workdir, "b8") as url:
            job = {"url": url, "source": str(source), "sha256": sha256, "workdir": scratch}
            result = work({**job, **prepare(url)}, profiled(15))
    print({k: round(max(v)) for k, v in result["rates"].items()}, "MB/s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--profile"]:
        profile(sys.argv[2], "--quick" in sys.argv[3:])
    else:
        measure(json.loads(sys.argv[1]))
