"""Receiving a file: its kind from its content, its size against the limit, its name made safe,
its SHA-256 — all decided before anything is written."""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fpic.evidence.intake import (
    CHUNK_SIZE,
    FileRefusal,
    ReceivedFile,
    max_file_size,
    receive,
    safe_name,
)
from fpic.evidence.kinds import ALLOWED, media_type_of
from tests.evidence.samples import ACCEPTED, REFUSED


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_each_kind_kept_is_read_from_the_content(name: str) -> None:
    content, media_type = ACCEPTED[name]
    found = receive(io.BytesIO(content), name)
    assert isinstance(found, ReceivedFile), found
    assert found.media_type == media_type
    assert found.size == len(content)
    assert found.sha256 == hashlib.sha256(content).hexdigest()
    assert found.name == name
    assert found.source.read() == content  # ready to be read again, from its start


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_web_pages_scripts_archives_and_programs_are_refused_whatever_their_name(name) -> None:
    found = receive(io.BytesIO(REFUSED[name]), name)
    assert isinstance(found, FileRefusal)
    assert found.code == "file_type_refused"
    assert found.params["name"] == name


def test_the_name_never_decides_the_kind() -> None:
    pdf, _ = ACCEPTED["booklet.pdf"]
    found = receive(io.BytesIO(pdf), "minutes.html")
    assert isinstance(found, ReceivedFile)
    assert found.media_type == "application/pdf"
    assert found.name == "minutes.html.pdf"  # no program opens it as a web page


def test_an_empty_file_is_refused() -> None:
    found = receive(io.BytesIO(b""), "empty.pdf")
    assert isinstance(found, FileRefusal)
    assert found.code == "file_empty"


def test_a_file_over_the_limit_is_refused_without_reading_it_all() -> None:
    pdf, _ = ACCEPTED["booklet.pdf"]
    stream = io.BytesIO(pdf + bytes(5 * CHUNK_SIZE))
    found = receive(stream, "big.pdf", limit=CHUNK_SIZE)
    assert isinstance(found, FileRefusal)
    assert found.code == "file_too_large"
    assert found.params["limit"] == 1
    assert stream.tell() <= 2 * CHUNK_SIZE  # stopped once the limit was passed


def test_a_file_exactly_at_the_limit_is_kept() -> None:
    pdf, _ = ACCEPTED["booklet.pdf"]
    found = receive(io.BytesIO(pdf), "booklet.pdf", limit=len(pdf))
    assert isinstance(found, ReceivedFile)


def test_the_operator_sets_the_limit(monkeypatch) -> None:
    assert max_file_size() == 250 * 1024 * 1024
    monkeypatch.setenv("FPIC_MAX_FILE_SIZE", "1000")
    assert max_file_size() == 1000
    monkeypatch.setenv("FPIC_MAX_FILE_SIZE", "lots")
    assert max_file_size() == 250 * 1024 * 1024


def test_a_stream_that_cannot_seek_is_copied_once() -> None:
    content, _ = ACCEPTED["assembly.png"]

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(content)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self.inner.read(size)

    found = receive(Pipe(), "assembly.png")  # type: ignore[arg-type]
    assert isinstance(found, ReceivedFile)
    with found.source:
        assert found.source.read() == content


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\ana\\acta.pdf", "acta.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("exe\u202efdp.pdf", "exefdp.pdf"),  # the right-to-left override is dropped
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("  .hidden.pdf. ", "hidden.pdf"),
        ("", "file"),
        ("\x00\x01", "file"),
        ("Acta de la asamblea – Ñawpa.pdf", "Acta de la asamblea – Ñawpa.pdf"),
    ],
)
def test_names_are_made_safe(sent: str, kept: str) -> None:
    assert safe_name(sent) == kept


@given(st.text(max_size=400))
def test_a_safe_name_is_short_plain_and_never_a_path(name: str) -> None:
    kept = safe_name(name)
    assert 1 <= len(kept) <= 200
    assert "/" not in kept
    assert "\\" not in kept
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in kept)
    assert not any(c in "\u202e\u200b\u2066\ufeff" for c in kept)
    assert safe_name(kept) == kept  # nothing left to remove


@given(st.binary(max_size=600))
def test_whatever_the_bytes_the_kind_read_is_one_kept_or_none(head: bytes) -> None:
    found = media_type_of(head)
    assert found is None or found in ALLOWED


def test_a_long_name_keeps_its_extension_within_200_characters() -> None:
    pdf, _ = ACCEPTED["booklet.pdf"]
    found = receive(io.BytesIO(pdf), "a" * 300 + ".html")
    assert isinstance(found, ReceivedFile)
    assert len(found.name) == 200
    assert found.name.endswith(".pdf")
