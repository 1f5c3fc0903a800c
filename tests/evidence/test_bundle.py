"""The auditor's evidence bundle: written from the database (SQLite and PostgreSQL), checked
from the file alone, and every kind of change to it found and named."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fpic.cli import main
from fpic.evidence.bundle import BundleError, verify_bundle
from tests.evidence.samples import ACCEPTED
from tests.evidence.test_store import EVIDENCE, Walked, walk_with_evidence, walked_maps
from tests.factories import World


def sha(name: str) -> str:
    return hashlib.sha256(ACCEPTED[name][0]).hexdigest()


def cli(world: World, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", world.db.url, *args])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def walked(request: pytest.FixtureRequest) -> Walked:
    world = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return walk_with_evidence(world, world.add_community("ayllu-sallqa", ["qu", "es"]))


def bundle_of(walked: Walked, path: Path, *extra: str) -> Path:
    result = cli(walked.world, "audit", "bundle", "--case", str(walked.case_id), "-o", str(path),
                 *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_a_bundle_holds_the_trail_every_file_and_a_manifest(walked: Walked, tmp_path) -> None:
    path = bundle_of(walked, tmp_path / "bundle.zip")
    public = {sha(n) for t, names in EVIDENCE.items() if t != "lodge_grievance" for n in names}
    public |= walked_maps(walked.world, walked.case_id)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert names == {"trail.jsonl", "manifest.json", *(f"files/{s}" for s in public)}
        for digest in public:
            assert hashlib.sha256(archive.read(f"files/{digest}")).hexdigest() == digest
        manifest = json.loads(archive.read("manifest.json"))
        trail = archive.read("trail.jsonl").decode()
    assert manifest["format"] == "fpic-evidence-bundle"
    assert manifest["version"] == 1
    assert manifest["case"] == walked.case_id
    assert {f["sha256"] for f in manifest["files"]} == public
    # the complainant's statement is confidential: its hash is on the trail, not its bytes
    assert manifest["withheld"] == [
        {
            "sha256": sha("radio.mp3"),
            "size": len(ACCEPTED["radio.mp3"][0]),
            "reason": "confidential",
        }
    ]
    assert manifest["trail"]["events"] == trail.count("\n")
    assert trail == cli(walked.world, "audit", "export", "--case", str(walked.case_id)).stdout
    result = cli(walked.world, "audit", "verify", str(path))
    assert result.exit_code == 0, result.output
    assert f"Files: {len(public)}," in result.output
    assert "1 withheld as confidential" in result.output


def test_the_confidential_content_goes_in_only_when_asked(walked: Walked, tmp_path) -> None:
    path = bundle_of(walked, tmp_path / "all.zip", "--include-confidential")
    with zipfile.ZipFile(path) as archive:
        assert archive.read(f"files/{sha('radio.mp3')}") == ACCEPTED["radio.mp3"][0]
    assert verify_bundle(path).files.withheld == 0


# --- tampering ---------------------------------------------------------------------------------


def rewrite(source: Path, target: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


@pytest.fixture
def good(world: World, tmp_path: Path) -> tuple[Walked, Path]:
    walked = walk_with_evidence(world, world.add_community("ayllu-sallqa", ["qu", "es"]))
    return walked, bundle_of(walked, tmp_path / "good.zip")


def _broken(walked: Walked, path: Path) -> str:
    result = cli(walked.world, "audit", "verify", str(path))
    assert result.exit_code == 1, result.output
    # the report, after the progress bar's label
    return next(line for line in result.stderr.splitlines() if line.startswith("BROKEN"))


def test_a_changed_file_in_a_bundle_is_named(good, tmp_path) -> None:
    walked, path = good
    digest = sha("agreement.docx")

    def change(members: dict[str, bytes]) -> None:
        members[f"files/{digest}"] = members[f"files/{digest}"][:-1] + b"!"

    message = _broken(walked, rewrite(path, tmp_path / "bad.zip", change))
    assert message.startswith(f'BROKEN: file {digest} "agreement.docx" (chain case:')
    assert "its content does not match its SHA-256" in message


def test_a_file_missing_or_added_or_left_out_of_the_manifest_is_found(good, tmp_path) -> None:
    walked, path = good
    kept = sha("booklet.pdf")

    def drop(members: dict[str, bytes]) -> None:
        del members[f"files/{kept}"]

    assert "missing from the bundle" in _broken(walked, rewrite(path, tmp_path / "a.zip", drop))

    def add(members: dict[str, bytes]) -> None:
        members[f"files/{'0' * 64}"] = b"extra"

    assert "the trail lists no such file" in _broken(walked, rewrite(path, tmp_path / "b.zip", add))

    def unlisted(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["manifest.json"])
        manifest["files"] = manifest["files"][1:]
        members["manifest.json"] = json.dumps(manifest).encode()

    assert "manifest.json does not list" in _broken(
        walked, rewrite(path, tmp_path / "c.zip", unlisted)
    )


def test_a_file_swapped_with_its_listing_rewritten_breaks_the_chain(good, tmp_path) -> None:
    """Replacing a file and its hash on the trail is changing the event: the chain breaks."""
    walked, path = good
    digest, forged = sha("agreement.docx"), hashlib.sha256(b"forged").hexdigest()

    def swap(members: dict[str, bytes]) -> None:
        del members[f"files/{digest}"]
        members[f"files/{forged}"] = b"forged"
        members["trail.jsonl"] = members["trail.jsonl"].replace(digest.encode(), forged.encode())

    message = _broken(walked, rewrite(path, tmp_path / "d.zip", swap))
    assert message.startswith(f"BROKEN: chain case:{walked.case_id}, sequence number")
    assert "hash does not match" in message


def test_damaged_bytes_in_the_archive_are_found(good, tmp_path) -> None:
    walked, path = good
    raw = bytearray(path.read_bytes())
    content = ACCEPTED["video.mp4"][0]
    at = raw.find(content)  # files are stored, not compressed: flip one byte of this one
    assert at > 0
    raw[at + len(content) - 1] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    # the ZIP's own checksum (CRC-32) of the member fails before its SHA-256 is compared
    assert "its bytes in the archive are damaged" in _broken(walked, damaged)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m.pop("manifest.json"), "it holds no manifest.json"),
        (lambda m: m.pop("trail.jsonl"), "it holds no trail.jsonl"),
        (lambda m: m.update({"notes.txt": b"x"}), "not part of the format: notes.txt"),
        (lambda m: m.update({"manifest.json": b'{"format":"zip"}'}), "does not say"),
        (lambda m: m.update({"manifest.json": b"{"}), "is not JSON"),
        (lambda m: m.update({"trail.jsonl": b"chain,seq\n"}), "trail.jsonl is not JSON Lines"),
        (lambda m: m.update({"trail.jsonl": b'{"chain":\n'}), "cannot be read as a trail export"),
    ],
)
def test_a_file_that_is_not_a_bundle_is_told_so(good, tmp_path, change, problem) -> None:
    walked, path = good
    bad = rewrite(path, tmp_path / "bad.zip", change)
    with pytest.raises(BundleError, match=problem):
        verify_bundle(bad)
    result = cli(walked.world, "audit", "verify", str(bad))
    assert result.exit_code == 1
    assert "cannot be read as an evidence bundle" in result.stderr


def test_a_bundle_of_a_case_that_does_not_exist_is_refused(world: World, tmp_path) -> None:
    result = cli(world, "audit", "bundle", "--case", "999", "-o", str(tmp_path / "x.zip"))
    assert result.exit_code == 1
    assert "There is no case 999" in result.output
    assert not (tmp_path / "x.zip").exists()
    assert not (tmp_path / "x.zip.partial").exists()
