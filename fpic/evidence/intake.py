"""Receiving a file: everything that can refuse it is decided here, before anything is written.

``receive`` reads the file once, in chunks (never whole in memory): it counts its size against
the limit (stopping as soon as it is passed), hashes it with SHA-256 and tells its kind from the
first bytes. The result is a :class:`ReceivedFile`, ready for the action's transaction, or a
:class:`FileRefusal` that the engine turns into the action's refusal, naming the field, so that
the web, the CLI and the API refuse a file the same way and record it on the trail.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from fpic.evidence.kinds import HEAD_SIZE, extensions, media_type_of
from fpic.i18n import N_

#: the largest file kept unless the operator sets FPIC_MAX_FILE_SIZE (bytes)
DEFAULT_MAX_FILE_SIZE = 250 * 1024 * 1024
#: at most this many files with one action
MAX_FILES = 20
#: files are read, hashed, stored and served in pieces of this size
CHUNK_SIZE = 1024 * 1024
MAX_NAME = 200


def max_file_size() -> int:
    """The operator's limit (``FPIC_MAX_FILE_SIZE``, in bytes), or 250 MB."""
    configured = os.environ.get("FPIC_MAX_FILE_SIZE", "")
    return (
        int(configured)
        if configured.isdecimal() and int(configured) > 0
        else (DEFAULT_MAX_FILE_SIZE)
    )


@dataclass(frozen=True)
class ReceivedFile:
    """A file checked and hashed, not yet stored: ``source`` is read again, from its start,
    when the action's transaction stores it."""

    name: str
    media_type: str
    size: int
    sha256: str
    source: BinaryIO


@dataclass(frozen=True)
class FileRefusal:
    """Why a file was refused: a reason code, its message (an untranslated id) and values."""

    code: str
    message: str
    params: dict[str, object]


def receive(
    stream: BinaryIO, filename: str, limit: int | None = None
) -> ReceivedFile | FileRefusal:
    """Read ``stream`` once: its size (refused past ``limit``), SHA-256 and kind. A stream that
    cannot seek is copied as it is read (to disk past one chunk), to be read again when stored."""
    limit = max_file_size() if limit is None else limit
    name = safe_name(filename)
    source = stream if _seekable(stream) else _spooled()
    found = _read(stream, source, name, limit)
    if isinstance(found, FileRefusal) and source is not stream:
        source.close()
    return found


def _read(stream: BinaryIO, source: BinaryIO, name: str, limit: int) -> ReceivedFile | FileRefusal:
    hasher, size, head = hashlib.sha256(), 0, b""
    while chunk := stream.read(CHUNK_SIZE):
        size += len(chunk)
        if size > limit:
            return too_large(name, limit)
        if len(head) < HEAD_SIZE:
            head += chunk[: HEAD_SIZE - len(head)]
        hasher.update(chunk)
        if source is not stream:
            source.write(chunk)
    if size == 0:
        return FileRefusal("file_empty", N_("%(name)s is empty."), {"name": name})
    media_type = media_type_of(head)
    if media_type is None:
        return FileRefusal(
            "file_type_refused",
            N_(
                "%(name)s is not a kind of file fpic keeps: documents (PDF, ODF, Office), "
                "images, audio, video, GeoJSON or KML. Web pages and programs are refused."
            ),
            {"name": name},
        )
    source.seek(0)
    name = _with_extension(name, media_type)
    return ReceivedFile(name, media_type, size, hasher.hexdigest(), source)


def too_large(name: str, limit: int) -> FileRefusal:
    return FileRefusal(
        "file_too_large",
        N_("%(name)s is larger than %(limit)s MB, the most a file may be."),
        {"name": name, "limit": max(1, round(limit / (1024 * 1024)))},
    )


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, OSError):
        return False


def _spooled() -> BinaryIO:
    return tempfile.SpooledTemporaryFile(max_size=CHUNK_SIZE)  # type: ignore[return-value]


def safe_name(filename: str) -> str:
    """The name a file is listed and saved under: its last path component, NFC, without
    control or invisible characters (a right-to-left override makes ``exe.pdf`` look like
    ``fdp.exe``), at most 200 characters with its extension kept; ``file`` if nothing is left."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    text = unicodedata.normalize("NFC", base)
    # every control and format character: bidi overrides, zero-width characters, NUL
    kept = "".join(c for c in text if not unicodedata.category(c).startswith("C")).strip(" .")
    if len(kept) > MAX_NAME:
        stem, dot, ext = kept.rpartition(".")
        kept = (
            (stem[: MAX_NAME - len(ext) - 1] + dot + ext)
            if dot and len(ext) <= 10
            else (kept[:MAX_NAME])
        )
    return unicodedata.normalize("NFC", kept).strip(" .") or "file"


def _with_extension(name: str, media_type: str) -> str:
    """The name, ending in an extension of the kind its content is: a PDF named
    ``minutes.html`` is saved as ``minutes.html.pdf``, so no program opens it as a web page."""
    known = extensions(media_type)
    if "." in name and name.rsplit(".", 1)[1].lower() in known:
        return name
    return f"{name[: MAX_NAME - len(known[0]) - 1]}.{known[0]}"
