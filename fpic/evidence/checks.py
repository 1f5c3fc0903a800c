"""Checking evidence files against the trail (docs/audit-format.md, section 12).

The trail is what is hashed: each event lists its files with their SHA-256 and size
(``data.files``). A file is intact when its bytes hash to that SHA-256 and count that size.
Here the stored files are checked (``check_stored``, run by ``fpic audit verify``); the
evidence bundle's are checked in :mod:`fpic.evidence.bundle` with the same rules (``problem``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from fpic.evidence.store import pieces
from fpic.storage.db import table_of
from fpic.storage.models import EvidenceBlob, EvidenceChunk, EvidenceFile, TrailEvent

SHA256 = re.compile(r"[0-9a-f]{64}")
#: the members of a file as an event lists it
ENTRY_KEYS = frozenset(("sha256", "size", "media_type", "name", "visible_to"))
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Listing:
    """One file as one trail event lists it."""

    chain: str
    seq: int
    position: int
    entry: dict[str, Any]

    @property
    def confidential(self) -> bool:
        return self.entry.get("visible_to") is not None


@dataclass(frozen=True)
class FileProblem:
    sha256: str | None
    problem: str
    #: the first event that lists the file, and the name it lists it under
    chain: str | None = None
    seq: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        where = []
        if self.sha256 is not None:
            where.append(f"file {self.sha256}")
        if self.name:
            where.append(f'"{self.name}"')
        if self.chain is not None:
            where.append(f"(chain {self.chain}, sequence number {self.seq})")
        return f"{' '.join(where)}: {self.problem}"


@dataclass
class FileCheck:
    files: int = 0
    size: int = 0
    withheld: int = 0
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def entry_problem(entry: object) -> str | None:
    """Why a member of ``data.files`` is not a file listing (section 12), or None."""
    if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
        return "a listed file does not have exactly the five members"
    if not isinstance(entry["sha256"], str) or not SHA256.fullmatch(entry["sha256"]):
        return "a listed file's sha256 is not 64 lower-case hexadecimal digits"
    if type(entry["size"]) is not int or entry["size"] < 1:
        return "a listed file's size is not an integer >= 1"
    if not isinstance(entry["media_type"], str):
        return "a listed file's media_type is not a string"
    visible_to = entry["visible_to"]
    if visible_to is not None and not (
        isinstance(visible_to, list) and all(isinstance(r, str) for r in visible_to)
    ):
        return "a listed file's visible_to is neither null nor a list of strings"
    name = entry["name"]
    if (name is None) != (visible_to is not None) or (
        name is not None and not isinstance(name, str)
    ):
        return "a listed file has a name exactly when it is not confidential"
    return None


def listings_of(chain: str, seq: int, data: Any) -> Iterator[Listing | FileProblem]:
    """The files a done event lists in ``data.files`` (none when it has no such member)."""
    files = data.get("files") if isinstance(data, dict) else None
    if files is None:
        return
    if not isinstance(files, list) or not files:
        yield FileProblem(None, "data.files is not a non-empty list", chain, seq)
        return
    for position, entry in enumerate(files):
        problem = entry_problem(entry)
        if problem is not None:
            yield FileProblem(None, problem, chain, seq)
        else:
            yield Listing(chain, seq, position, entry)


def hash_pieces(chunks: Iterable[bytes], progress: Progress | None = None) -> tuple[str, int]:
    """The SHA-256 and size of bytes coming in pieces."""
    hasher, size = hashlib.sha256(), 0
    for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return hasher.hexdigest(), size


def mismatch(expected: dict[str, Any], digest: str, size: int) -> str | None:
    if digest != expected["sha256"]:
        return f"its content does not match its SHA-256 (the bytes hash to {digest})"
    if size != expected["size"]:
        return f"it holds {size} bytes, not the {expected['size']} listed"
    return None


# --- the database ----------------------------------------------------------------------------

_BLOBS = table_of(EvidenceBlob)
_CHUNKS = table_of(EvidenceChunk)
_FILES = table_of(EvidenceFile)
_EVENTS = table_of(TrailEvent)
#: only events that list files: canonical JSON writes the key this way and nowhere else (a
#: typed text holding it has its quotes escaped)
_LISTING_EVENTS = (
    select(_EVENTS.c.chain, _EVENTS.c.seq, _EVENTS.c.data)
    .where(_EVENTS.c.outcome == "done", _EVENTS.c.data.like('%"files":[%'))
    .order_by(_EVENTS.c.id)
)


def stored_size(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(_BLOBS.c.size), 0))) or 0)


def check_stored(session: Session, progress: Progress | None = None) -> FileCheck:
    """Every stored file against its SHA-256, every file the trail lists against the stored
    ones, and the index of files against the trail."""
    connection = session.connection()
    found = _stored_digests(connection, progress)
    check = FileCheck(files=len(found), size=sum(size for _d, size in found.values()))
    listed: dict[str, Listing] = {}
    for chain, seq, data in connection.execute(_LISTING_EVENTS):
        for item in listings_of(chain, seq, json.loads(data)):
            if isinstance(item, FileProblem):
                check.problems.append(item)
                continue
            listed[f"{chain} {seq} {item.position}"] = item
            check.problems.extend(_listed_problem(item, found))
    check.problems.extend(_index_problems(connection, listed))
    for sha256, (digest, _size) in found.items():
        if digest != sha256:
            check.problems.append(
                FileProblem(sha256, f"its stored content hashes to {digest}, not to its key")
            )
    return check


def _stored_digests(
    connection: Connection, progress: Progress | None
) -> dict[str, tuple[str, int]]:
    """sha256 -> (the SHA-256 and size of its stored pieces), reading a piece at a time."""
    counts: dict[str, int] = dict(
        connection.execute(select(_CHUNKS.c.sha256, func.count()).group_by(_CHUNKS.c.sha256)).all()
    )
    found = {}
    for sha256, chunks in connection.execute(select(_BLOBS.c.sha256, _BLOBS.c.chunks)).all():
        # pieces beyond the count recorded are read too, so an appended piece is noticed
        total = max(chunks, counts.get(sha256, 0))
        found[sha256] = hash_pieces(pieces(connection, sha256, total), progress)
    return found


def _listed_problem(item: Listing, found: dict[str, tuple[str, int]]) -> list[FileProblem]:
    sha256 = item.entry["sha256"]
    here = FileProblem(sha256, "", item.chain, item.seq, item.entry["name"])
    if sha256 not in found:
        return [_with(here, "it is not stored")]
    digest, size = found[sha256]
    problem = mismatch(item.entry, digest, size)
    return [_with(here, problem)] if problem else []


def _with(problem: FileProblem, text: str) -> FileProblem:
    return FileProblem(problem.sha256, text, problem.chain, problem.seq, problem.name)


def _index_problems(connection: Connection, listed: dict[str, Listing]) -> list[FileProblem]:
    """The pages find files through evidence_files: each row must be a listing on the trail."""
    problems = []
    rows = connection.execute(
        select(_FILES.c.chain, _FILES.c.seq, _FILES.c.position, _FILES.c.sha256, _FILES.c.size)
    )
    seen = set()
    for chain, seq, position, sha256, size in rows:
        key = f"{chain} {seq} {position}"
        seen.add(key)
        item = listed.get(key)
        if item is None or item.entry["sha256"] != sha256 or item.entry["size"] != size:
            problems.append(
                FileProblem(sha256, "the index of files does not agree with the trail", chain, seq)
            )
    for key in listed.keys() - seen:
        item = listed[key]
        problems.append(
            FileProblem(item.entry["sha256"], "the index of files lacks it", item.chain, item.seq)
        )
    return problems


def listed_size(session: Session, case_id: int | None = None) -> int:
    """The bytes of the distinct files listed on the trail (of one case's chain)."""
    distinct = select(_FILES.c.sha256, _FILES.c.size).distinct()
    if case_id is not None:
        distinct = distinct.where(_FILES.c.case_id == case_id)
    sub = distinct.subquery()
    return int(session.scalar(select(func.coalesce(func.sum(sub.c.size), 0))) or 0)
