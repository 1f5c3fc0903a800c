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
from dataclasses import dataclass, field, replace
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
    found, blob_problems = _stored_digests(connection, progress)
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
    listed_files = {item.entry["sha256"] for item in listed.values()}
    for sha256 in sorted(found.keys() - listed_files):
        # stored in the transaction of the action that lists it: never without one
        check.problems.append(FileProblem(sha256, "it is stored but no event lists it"))
    check.problems.extend(blob_problems)
    return check


def _stored_digests(
    connection: Connection, progress: Progress | None
) -> tuple[dict[str, tuple[str, int]], list[FileProblem]]:
    """sha256 -> (the SHA-256 and size of its stored pieces), reading a piece at a time; and
    the stored files whose row does not say what their pieces hold (their size, their number)."""
    counts: dict[str, int] = dict(
        connection.execute(select(_CHUNKS.c.sha256, func.count()).group_by(_CHUNKS.c.sha256)).all()
    )
    found, problems = {}, []
    rows = connection.execute(select(_BLOBS.c.sha256, _BLOBS.c.size, _BLOBS.c.chunks)).all()
    for sha256, size, chunks in rows:
        # pieces beyond the count recorded are read too, so an appended piece is noticed
        stored = counts.get(sha256, 0)
        found[sha256] = hash_pieces(pieces(connection, sha256, max(chunks, stored)), progress)
        if found[sha256][1] != size or stored != chunks:
            problems.append(
                FileProblem(
                    sha256, "its stored pieces do not add up to the size and number its row records"
                )
            )
    return found, problems


def _listed_problem(item: Listing, found: dict[str, tuple[str, int]]) -> list[FileProblem]:
    sha256 = item.entry["sha256"]
    here = FileProblem(sha256, "", item.chain, item.seq, item.entry["name"])
    if sha256 not in found:
        return [replace(here, problem="it is not stored")]
    digest, size = found[sha256]
    problem = mismatch(item.entry, digest, size)
    return [replace(here, problem=problem)] if problem else []


def _agrees(row: Any, item: Listing) -> bool:
    """An index row says what its listing on the trail says: the same file, the same name, and
    the same readers (the pages decide who sees a file from the row)."""
    entry = item.entry
    case_id = int(item.chain.removeprefix("case:")) if item.chain.startswith("case:") else None
    same_name = entry["name"] is None or entry["name"] == row.name
    return (entry["sha256"], entry["size"], entry["media_type"], entry["visible_to"], case_id) == (
        row.sha256,
        row.size,
        row.media_type,
        row.visible_to,
        row.case_id,
    ) and same_name


def _index_problems(connection: Connection, listed: dict[str, Listing]) -> list[FileProblem]:
    """The pages find files through evidence_files: each row must be a listing on the trail."""
    problems = []
    columns = _FILES.c
    rows = connection.execute(
        select(
            columns.chain, columns.seq, columns.position, columns.case_id, columns.sha256,
            columns.size, columns.media_type, columns.name, columns.visible_to,
        )
    )  # fmt: skip
    seen = set()
    for row in rows:
        key = f"{row.chain} {row.seq} {row.position}"
        seen.add(key)
        item = listed.get(key)
        if item is None or not _agrees(row, item):
            problems.append(
                FileProblem(
                    row.sha256, "the index of files does not agree with the trail", row.chain,
                    row.seq,
                )
            )  # fmt: skip
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
