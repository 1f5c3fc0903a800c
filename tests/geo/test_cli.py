"""``fpic areas import``: a reference dataset imported from the command line, end to end."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import click._termui_impl
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from fpic.cli import main
from fpic.storage.db import Database
from fpic.storage.models import AreaDataset, ReferenceArea, TrailEvent
from tests.geo.samples import PROJECT, area_record, shapefile_zip, wdpa_rows, write_wdpa

WDPA = "UNEP-WCMC and IUCN, World Database on Protected Areas"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A database with its administrator, root."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    made = run(url, "user", "add", "root", "--role", "admin", "--password", "a-good-pass")
    assert made.exit_code == 0, made.output
    return url


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", url, *args])


def import_file(url: str, path: Path, *, version: str = "2027-01", by: str = "root") -> Result:
    return run(url, "areas", "import", str(path), "--kind", "protected_area", "--source", WDPA,
               "--version", version, "--by", by)  # fmt: skip


def counts(url: str) -> tuple[int, int, int]:
    db = Database(url)
    try:
        with db.read_session() as session:
            return (
                session.scalar(select(func.count()).select_from(AreaDataset)) or 0,
                session.scalar(select(func.count()).select_from(ReferenceArea)) or 0,
                session.scalar(
                    select(func.count())
                    .select_from(TrailEvent)
                    .where(TrailEvent.action == "import_areas", TrailEvent.outcome == "done")
                )
                or 0,
            )
    finally:
        db.dispose()


def clean_failure(result: Result) -> None:
    """Refused with a message, as click does, and no Python traceback anywhere."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "Error:" in result.stderr


def test_the_import_prints_its_counts_and_sha256_and_lists_each_skipped_row(url, tmp_path):
    path = write_wdpa(tmp_path / "WDPA_Jan2027_Public.geojson")
    result = import_file(url, path)
    assert result.exit_code == 0, result.output
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.stdout.strip().splitlines()[-1] == (
        f"Imported 4 areas (1 repaired), skipped 6; SHA-256 {sha256}."
    )
    skipped = re.findall(r"^Row (\d+) skipped: (.+)$", result.stderr, re.MULTILINE)
    assert [int(n) for n, _ in skipped] == [n for n, r in enumerate(wdpa_rows(), start=1) if r.code]
    reasons = dict(skipped)
    assert reasons["4"] == "The row has no id (WDPA_PID or WDPAID)."
    assert reasons["5"] == "The row's shape is a Point, not an area."
    assert reasons["6"] == "VII is not an IUCN category."
    assert reasons["7"] == "The id 555 is used twice."
    assert reasons["9"].startswith("The row's shape is not valid and cannot be repaired:")
    assert reasons["10"] == "The row's shape is not in longitude and latitude (WGS 84)."
    assert "skipped:" not in result.stdout  # the rows go to stderr, the summary to stdout
    assert counts(url) == (1, 4, 1)


def test_the_second_run_says_nothing_changed(url, tmp_path):
    path = write_wdpa(tmp_path / "wdpa.geojson")
    assert import_file(url, path).exit_code == 0
    again = import_file(url, path)
    assert again.exit_code == 0, again.output
    assert "was imported from this file before; nothing changed" in again.stdout
    assert "Row " not in again.stderr
    assert "Imported" not in again.stdout
    assert counts(url)[:2] == (1, 4)


def test_another_file_under_a_version_taken_is_refused(url, tmp_path):
    assert import_file(url, write_wdpa(tmp_path / "wdpa.geojson")).exit_code == 0
    other = import_file(url, write_wdpa(tmp_path / "fixed.geojson", wdpa_rows()[:2]))
    clean_failure(other)
    assert "was imported from another file" in other.stderr
    assert counts(url) == (1, 4, 1)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("wdpa.geojson", b'{"type": "FeatureCollection", "features": [', "is not readable"),
        ("wdpa.geojson", b'{"type": "Polygon", "coordinates": []}', "FeatureCollection"),
        ("wdpa.zip", b"PK\x03\x04 but no", "is not a readable shapefile"),
        ("wdpa.csv", b"WDPAID,NAME\n", "is not GeoJSON (.geojson), a zipped shapefile"),
    ],
    ids=["truncated", "a-geometry", "not-a-zip", "csv"],
)
def test_an_unreadable_file_is_a_clean_error(url, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = import_file(url, path)
    clean_failure(result)
    assert message in result.stderr
    assert path.name in result.stderr or "FeatureCollection" in result.stderr
    assert counts(url) == (0, 0, 0)


def test_a_shapefile_with_a_prj_fpic_cannot_read_is_a_clean_error(url, tmp_path):
    path = tmp_path / "wdpa.zip"
    path.write_bytes(shapefile_zip([area_record([(PROJECT, [])])], prj="UTM zone 19, I think"))
    clean_failure(import_file(url, path))


def test_a_missing_file_or_a_wrong_kind_is_a_usage_error(url, tmp_path):
    missing = import_file(url, tmp_path / "nowhere.geojson")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    wrong = run(url, "areas", "import", str(write_wdpa(tmp_path / "wdpa.geojson")), "--kind",
                "national_park", "--source", WDPA, "--version", "1", "--by", "root")  # fmt: skip
    assert wrong.exit_code == 2
    assert "national_park" in wrong.stderr
    assert counts(url) == (0, 0, 0)


def test_only_an_administrator_imports(url, tmp_path):
    made = run(url, "user", "add", "maria", "--role", "liaison", "--by", "root")
    assert made.exit_code == 0, made.output
    result = import_file(url, write_wdpa(tmp_path / "wdpa.geojson"), by="maria")
    clean_failure(result)
    assert "may not do this" in result.stderr
    nobody = import_file(url, write_wdpa(tmp_path / "wdpa.geojson"), by="nobody")
    assert nobody.exit_code != 0
    assert counts(url) == (0, 0, 0)


def test_a_progress_bar_is_drawn_on_stderr(url, tmp_path, monkeypatch):
    monkeypatch.setattr(click._termui_impl, "isatty", lambda _stream: True)
    result = import_file(url, write_wdpa(tmp_path / "wdpa.geojson"))
    assert result.exit_code == 0, result.output
    assert "Importing" in result.stderr
    assert re.search(r"\[#+\]\s+100%", result.stderr), result.stderr
    assert re.search(r"\[-*\]\s+0%", result.stderr), result.stderr  # drawn from the start
    assert "Importing" not in result.stdout
    assert "%" not in result.stdout


def test_without_a_terminal_the_bar_is_its_label(url, tmp_path):
    result = import_file(url, write_wdpa(tmp_path / "wdpa.geojson"))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "Importing"
    assert "Importing" not in result.stdout
