"""The auditor's evidence bundle: one ZIP file with the trail, every file it lists, a manifest.

Whoever holds a bundle can check, without fpic and without its database, that the trail's
chains are intact and that every file is the one the trail lists, byte for byte
(docs/audit-format.md, section 13). Files are written and read a piece at a time: a bundle of
gigabytes needs no more memory than one of kilobytes.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fpic.evidence.checks import FileCheck, FileProblem, Listing, hash_pieces, listings_of, mismatch
from fpic.evidence.intake import CHUNK_SIZE
from fpic.evidence.store import pieces
from fpic.storage.models import EvidenceBlob
from fpic.trail import audit

FORMAT = "fpic-evidence-bundle"
VERSION = 1
MANIFEST = "manifest.json"
TRAIL = "trail.jsonl"
FILE_MEMBER = re.compile(r"files/([0-9a-f]{64})")
#: whether the person the bundle is made for may see a confidential file's content
MaySee = Callable[[Listing], bool]
Progress = Callable[[int], None]


class Sink(Protocol):
    """Where a bundle is written: a file, or a streamed response's buffer."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class BundleError(ValueError):
    """A file that cannot be read as an evidence bundle, or a store a bundle cannot be made from."""


@dataclass
class Summary:
    events: int = 0
    files: int = 0
    size: int = 0
    withheld: int = 0


@dataclass
class Plan:
    """What goes into a bundle: the files listed, in trail order, and whose content is kept."""

    included: dict[str, dict[str, Any]] = field(default_factory=dict)
    withheld: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_bundle(
    session: Session,
    out: Sink,
    rows: Iterable[dict[str, Any]],
    *,
    case_id: int | None,
    may_see: MaySee,
    now: datetime,
    summary: Summary | None = None,
) -> Iterator[int]:
    """Write the bundle of the trail events ``rows`` (whole chains, in order, as
    ``audit.export_rows`` gives them; ``case_id`` the case they are of, if one) to ``out``,
    yielding the bytes of file content written so far after each
    piece (the caller drains a streamed response, or moves a progress bar, then goes on)."""
    summary = summary if summary is not None else Summary()
    moment = now.timetuple()[:6]
    plan = Plan()
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        trail = zipfile.ZipInfo(TRAIL, date_time=moment)
        trail.compress_type = zipfile.ZIP_DEFLATED
        with (
            archive.open(trail, "w") as member,
            io.TextIOWrapper(member, encoding="utf-8", newline="\n", write_through=True) as text,
        ):
            for row in rows:
                text.write(audit.canonical_json(row) + "\n")
                summary.events += 1
                if summary.events % 1000 == 0:  # let a streamed response send what is ready
                    yield 0
                if row["outcome"] == "done":
                    _plan_files(plan, row, may_see)
        yield 0
        written = 0
        counts = _chunk_counts(session, list(plan.included))
        for sha256, entry in plan.included.items():
            if sha256 not in counts:
                raise BundleError(
                    f"file {sha256} is listed on the trail but not stored: run fpic audit verify"
                )
            info = zipfile.ZipInfo(f"files/{sha256}", date_time=moment)
            info.compress_type = zipfile.ZIP_STORED  # documents, photos, recordings: compressed
            info.file_size = entry["size"]
            with archive.open(info, "w", force_zip64=entry["size"] >= 2**31) as member:
                for piece in pieces(session.connection(), sha256, counts[sha256]):
                    member.write(piece)
                    written += len(piece)
                    yield written
            summary.files += 1
            summary.size += entry["size"]
        summary.withheld = len(plan.withheld)
        manifest = zipfile.ZipInfo(MANIFEST, date_time=moment)
        manifest.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(manifest, _manifest(plan, case_id, now, summary.events))
    yield written


def _plan_files(plan: Plan, row: dict[str, Any], may_see: MaySee) -> None:
    for item in listings_of(row["chain"], row["seq"], row["data"]):
        if isinstance(item, FileProblem):
            continue  # the database's own verification reports it
        sha256 = item.entry["sha256"]
        if sha256 in plan.included:
            continue
        if not item.confidential or may_see(item):
            plan.withheld.pop(sha256, None)
            plan.included[sha256] = item.entry
        else:
            plan.withheld.setdefault(sha256, item.entry)


def _chunk_counts(session: Session, sha256s: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(sha256s), 500):
        batch = sha256s[start : start + 500]
        rows = session.execute(
            select(EvidenceBlob.sha256, EvidenceBlob.chunks).where(EvidenceBlob.sha256.in_(batch))
        )
        found.update({sha256: chunks for sha256, chunks in rows})
    return found


def _manifest(plan: Plan, case_id: int | None, now: datetime, events: int) -> str:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": audit.format_time(now),
        "case": case_id,
        "trail": {"path": TRAIL, "events": events},
        "files": [
            {"path": f"files/{sha256}", "sha256": sha256, "size": entry["size"],
             "media_type": entry["media_type"]}
            for sha256, entry in plan.included.items()
        ],
        "withheld": [
            {"sha256": sha256, "size": entry["size"], "reason": "confidential"}
            for sha256, entry in plan.withheld.items()
        ],
    }  # fmt: skip
    return audit.canonical_json(manifest) + "\n"


# --- verifying a bundle ------------------------------------------------------------------------


@dataclass
class BundleVerification:
    trail: audit.Verification
    files: FileCheck

    @property
    def intact(self) -> bool:
        return self.trail.intact and self.files.intact


def is_bundle(path: Any) -> bool:
    """A ZIP file (its first four bytes), as opposed to a JSON Lines or CSV export."""
    with open(path, "rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


def verify_bundle(path: Any, progress: Progress | None = None) -> BundleVerification:
    """The bundle's trail (its chains, as an export's) and every file it lists against its hash;
    a confidential file may be withheld, nothing else may be missing or extra."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"not a ZIP file: {exc}") from exc
    with archive:
        names = archive.namelist()
        _check_members(names)
        manifest = _read_manifest(archive)
        listings: list[Listing] = []
        problems: list[FileProblem] = []
        trail = _verify_trail(archive, listings, problems)
        files = _check_files(archive, names, listings, progress)
        files.problems[:0] = problems
        files.problems.extend(_manifest_problems(manifest, names))
    return BundleVerification(trail, files)


def _check_members(names: list[str]) -> None:
    if len(names) != len(set(names)):
        raise BundleError("a member name occurs twice")
    for required in (MANIFEST, TRAIL):
        if required not in names:
            raise BundleError(f"it holds no {required}")
    strays = [n for n in names if n not in (MANIFEST, TRAIL) and not FILE_MEMBER.fullmatch(n)]
    if strays:
        raise BundleError(f"it holds a member that is not part of the format: {strays[0]}")


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST).decode("utf-8"))
    except (ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{MANIFEST} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f'{MANIFEST} does not say "format": "{FORMAT}"')
    if manifest.get("version") != VERSION:
        raise BundleError(f"{MANIFEST} is of version {manifest.get('version')!r}, not {VERSION}")
    return manifest


def _verify_trail(
    archive: zipfile.ZipFile, listings: list[Listing], problems: list[FileProblem]
) -> audit.Verification:
    with archive.open(TRAIL) as member:
        lines = io.TextIOWrapper(member, encoding="utf-8", newline="\n")
        try:
            first = lines.readline()
            if audit.sniff_format(first) != "jsonl":
                raise BundleError(f"{TRAIL} is not JSON Lines")
            rows = audit.read_jsonl(_chained(first, lines))
            return audit.verify_rows(_collecting(rows, listings, problems))
        except (UnicodeDecodeError, audit.ExportFormatError, zipfile.BadZipFile) as exc:
            raise BundleError(f"{TRAIL} cannot be read as a trail export: {exc}") from exc


def _chained(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _collecting(
    rows: Iterator[dict[str, Any]], listings: list[Listing], problems: list[FileProblem]
) -> Iterator[dict[str, Any]]:
    """The rows as they are, noting the files that done events list."""
    for row in rows:
        if row.get("outcome") == "done" and type(row.get("seq")) is int:
            for item in listings_of(str(row.get("chain")), row["seq"], row.get("data")):
                (problems if isinstance(item, FileProblem) else listings).append(item)  # type: ignore[arg-type]
        yield row


def _check_files(
    archive: zipfile.ZipFile, names: list[str], listings: list[Listing], progress: Progress | None
) -> FileCheck:
    held = {m.group(1) for n in names if (m := FILE_MEMBER.fullmatch(n))}
    check = FileCheck()
    first: dict[str, Listing] = {}
    for item in listings:
        first.setdefault(item.entry["sha256"], item)
    public = {i.entry["sha256"] for i in listings if not i.confidential}
    for sha256, item in first.items():
        here = FileProblem(sha256, "", item.chain, item.seq, item.entry["name"])
        if sha256 not in held:
            if sha256 in public:
                check.problems.append(replace(here, problem="it is missing from the bundle"))
            else:
                check.withheld += 1
            continue
        try:
            with archive.open(f"files/{sha256}") as member:
                digest, size = hash_pieces(iter(lambda: member.read(CHUNK_SIZE), b""), progress)
        except zipfile.BadZipFile as exc:  # its CRC-32 does not match: changed in the archive
            check.problems.append(
                replace(here, problem=f"its bytes in the archive are damaged: {exc}")
            )
            continue
        # every listing of the file, not only the first, must say what it holds
        problem = next(
            (
                p
                for i in listings
                if i.entry["sha256"] == sha256 and (p := mismatch(i.entry, digest, size))
            ),
            None,
        )
        if problem:
            check.problems.append(replace(here, problem=problem))
        check.files += 1
        check.size += size
    for sha256 in sorted(held - first.keys()):
        check.problems.append(FileProblem(sha256, "the trail lists no such file"))
    return check


def _manifest_problems(manifest: dict[str, Any], names: list[str]) -> list[FileProblem]:
    """The manifest is a table of contents: it must name exactly the files the bundle holds."""
    held = sorted(m.group(1) for n in names if (m := FILE_MEMBER.fullmatch(n)))
    entries = manifest.get("files")
    named = (
        sorted(str(e.get("sha256")) for e in entries if isinstance(e, dict))
        if isinstance(entries, list)
        else None
    )
    if named != held:
        return [FileProblem(None, f"{MANIFEST} does not list the files the bundle holds")]
    return []
