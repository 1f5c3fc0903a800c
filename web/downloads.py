"""An evidence file as a response: streamed a piece at a time, always as a download. Whatever
a file holds, the browser neither shows nor runs it (attachment, nosniff, a sandboxing CSP)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Response

from fpic.evidence.store import pieces
from fpic.read.evidence import Download
from web.context import engine


def file_response(found: Download) -> Response:
    database = engine().db  # the response is streamed after the request's context ends

    def stream() -> Iterator[bytes]:
        with database.read_session() as db:
            yield from pieces(db.connection(), found.sha256, found.chunks)

    response = Response(stream(), mimetype=found.media_type)
    response.headers["Content-Length"] = str(found.size)
    response.headers["Content-Disposition"] = attachment(found.name)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def attachment(name: str) -> str:
    """A Content-Disposition saving the file under its name (RFC 6266: an ASCII fallback,
    then the UTF-8 name)."""
    fallback = "".join(c for c in name if " " <= c < "\x7f" and c not in '"\\') or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
