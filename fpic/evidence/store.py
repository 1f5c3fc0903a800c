"""Evidence files in the database: content-addressed, in pieces, in the action's transaction.

A file's bytes are stored once under their SHA-256 (``evidence_blobs``), in pieces of 1 MiB
(``evidence_chunks``), read from the received file and written one piece at a time, so neither
a 250 MB recording nor its download is ever held whole in memory. They are written in the same
transaction as the action and its trail event: either all of it is kept, or none of it, so a
file can never be missing from an action that lists it nor left over from one that failed, and
a database backup is a backup of the evidence. The same statements run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fpic.evidence.intake import CHUNK_SIZE, ReceivedFile
from fpic.storage.db import table_of
from fpic.storage.models import EvidenceBlob, EvidenceChunk, EvidenceFile

_BLOBS = table_of(EvidenceBlob)
_CHUNKS = table_of(EvidenceChunk)
_FILES = table_of(EvidenceFile)
_INSERT_NEW_BLOB = {
    "sqlite": sqlite_insert(_BLOBS)
    .on_conflict_do_nothing(index_elements=["sha256"])
    .returning(_BLOBS.c.sha256),
    "postgresql": postgresql_insert(_BLOBS)
    .on_conflict_do_nothing(index_elements=["sha256"])
    .returning(_BLOBS.c.sha256),
}
_INSERT_CHUNK = insert(_CHUNKS)
_INSERT_FILES = insert(_FILES)
_CHUNK = select(_CHUNKS.c.data).where(
    _CHUNKS.c.sha256 == bindparam("sha256"), _CHUNKS.c.n == bindparam("n")
)


class FileChanged(RuntimeError):
    """A received file no longer holds what was checked when it was received."""


@dataclass(frozen=True)
class Listed:
    """A file as an action lists it on its trail event (docs/audit-format.md, section 12)."""

    sha256: str
    size: int
    media_type: str
    name: str
    #: None: every reader of the case; else the roles allowed besides the community's own
    visible_to: tuple[str, ...] | None

    def on_trail(self) -> dict[str, Any]:
        """The trail keeps a confidential file's hash, size and kind, never its name."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "name": None if self.visible_to is not None else self.name,
            "visible_to": None if self.visible_to is None else list(self.visible_to),
        }


def listing(files: Sequence[ReceivedFile], visible_to: Sequence[str] | None) -> list[Listed]:
    """The files of one action, each once (the same bytes sent twice are one file)."""
    seen: dict[str, Listed] = {}
    allowed = None if visible_to is None else tuple(sorted(set(visible_to)))
    for f in files:
        seen.setdefault(f.sha256, Listed(f.sha256, f.size, f.media_type, f.name, allowed))
    return list(seen.values())


def store(connection: Connection, files: Sequence[ReceivedFile], now: datetime) -> None:
    """Write the bytes of each file not stored yet, a piece at a time, hashing them again as
    they are written: a file that changed since it was received is refused (FileChanged)."""
    new_blob = _INSERT_NEW_BLOB[connection.dialect.name]
    for f in {f.sha256: f for f in files}.values():
        pieces = -(-f.size // CHUNK_SIZE)
        # stored once: a file stored before (or by a transaction committing first, on
        # PostgreSQL, which waits for it) inserts nothing, and its pieces are not written again
        inserted = connection.execute(
            new_blob,
            {"sha256": f.sha256, "size": f.size, "chunks": pieces, "media_type": f.media_type,
             "stored_at": now},
        ).first()  # fmt: skip
        if inserted is None:
            continue
        hasher, size, n = hashlib.sha256(), 0, 0
        f.source.seek(0)
        while chunk := f.source.read(CHUNK_SIZE):
            hasher.update(chunk)
            size += len(chunk)
            connection.execute(_INSERT_CHUNK, {"sha256": f.sha256, "n": n, "data": chunk})
            n += 1
        if hasher.hexdigest() != f.sha256 or size != f.size or n != pieces:
            raise FileChanged(f.name)


def kept(
    connection: Connection, files: Sequence[ReceivedFile], listed: Sequence[Listed], now: datetime
) -> list[dict[str, Any]]:
    """Store the bytes of an action's files; how its trail event lists them (``data.files``).
    The event's append then gives the ``seq`` that ``index`` files them under."""
    store(connection, files, now)
    return [f.on_trail() for f in listed]


def index(
    connection: Connection,
    files: Sequence[Listed],
    chain: str,
    seq: int,
    case_id: int | None,
    now: datetime,
) -> None:
    """The files of the trail event ``chain``/``seq``, in its order, for the pages to find."""
    connection.execute(
        _INSERT_FILES,
        [
            {"chain": chain, "seq": seq, "position": position, "case_id": case_id,
             "sha256": f.sha256, "name": f.name, "media_type": f.media_type, "size": f.size,
             "visible_to": None if f.visible_to is None else list(f.visible_to),
             "recorded_at": now}
            for position, f in enumerate(files)
        ],
    )  # fmt: skip


def pieces(connection: Connection, sha256: str, count: int) -> Iterator[bytes]:
    """The bytes of a stored file, one piece at a time, in order."""
    if connection.dialect.name == "postgresql":
        yield from _binary_pieces(connection, sha256, count)
        return
    for n in range(count):
        data = connection.execute(_CHUNK, {"sha256": sha256, "n": n}).scalar_one_or_none()
        if data is None:
            return
        yield bytes(data)


def _binary_pieces(connection: Connection, sha256: str, count: int) -> Iterator[bytes]:
    """PostgreSQL sends bytea as hex text unless asked for binary: twice the bytes on the wire
    and a decoding step, which halves how fast a file is read (docs/performance.md, B8). The
    same SELECT, on the transaction's own psycopg connection, with binary results."""
    raw: Any = connection.connection.driver_connection
    with raw.cursor(binary=True) as cursor:
        for n in range(count):
            cursor.execute(_CHUNK_SQL, (sha256, n))
            row = cursor.fetchone()
            if row is None:
                return
            yield bytes(row[0])


_CHUNK_SQL = "SELECT data FROM evidence_chunks WHERE sha256 = %s AND n = %s"
