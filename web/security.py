"""Security headers on every response (no inline scripts, no framing, no caching of pages),
and the one check every redirect to a target the client chose goes through."""

from __future__ import annotations

import unicodedata
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import Flask, Request, Response, request, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


class InvalidText(BadRequest):
    """A form whose text is not valid UTF-8: refused rather than silently repaired."""

    description = "The form holds text that is not valid UTF-8."


class StrictFormParser(FormDataParser):
    """Werkzeug's form parser, but invalid UTF-8 is refused: by default it re-quotes bad
    bytes in a URL-encoded form ("%FF" arrives as those three characters) and replaces them
    with U+FFFD in a multipart one, so what is stored is not what was sent."""

    def _parse_urlencoded(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: Any
    ) -> Any:
        try:
            items = parse_qsl(stream.read().decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise InvalidText() from None  # not a ValueError, which the parser would swallow
        return stream, self.cls(items), self.cls()

    def _parse_multipart(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: Any
    ) -> Any:
        stream, form, files = super()._parse_multipart(stream, mimetype, content_length, options)
        # the multipart parser has already replaced bad bytes with U+FFFD; a name or text
        # holding U+FFFD is broken text either way (file names are read from the files)
        if any("\ufffd" in value for _name, value in form.items(multi=True)):
            raise InvalidText()
        return stream, form, files


class StrictRequest(Request):
    form_data_parser_class = StrictFormParser


def allow_uploads(app: Flask) -> None:
    """An action's form, and a mandate's, may carry evidence files: its request may be as large
    as the files it may hold (fpic.evidence.intake), for someone signed in whom the page's own
    permission (``web.auth.requires``) lets send it; every other request stays small, so
    nobody else makes the server spool gigabytes to disk before being refused. Registered
    before CSRFProtect, whose check is the first to read a form."""
    from flask_login import current_user

    from fpic.evidence.intake import MAX_FILES
    from fpic.workflow.permissions import allows
    from web.forms import upload_limit

    # the signing page of a decision receives its form, files and all (web/passkeys.py)
    uploading = ("cases.act", "passkeys.sign", "communities.record")

    @app.before_request
    def upload_size() -> None:
        if request.method != "POST" or request.endpoint not in uploading:
            return
        permission = getattr(app.view_functions[request.endpoint], "fpic_permission", "")
        if current_user.is_authenticated and allows(current_user.actor, permission):
            request.max_content_length = MAX_FILES * upload_limit() + 2 * 1024 * 1024


def init_app(app: Flask) -> None:
    app.request_class = StrictRequest

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    if app.config["FPIC_ENV"] == "production":
        # Flask's defaults already hold SESSION_COOKIE_SECURE=False, so setdefault did nothing
        app.config["SESSION_COOKIE_SECURE"] = True


def _unsafe_character(c: str) -> bool:
    # white space and every control or format character (tabs, CR/LF, bidi marks): browsers
    # strip some of them from a Location header, which turns "/\t/evil" into "//evil"
    return c.isspace() or unicodedata.category(c).startswith("C")


def _decoded(text: str) -> str:
    """``text`` percent-decoded until it no longer changes (so %252F is judged as /)."""
    for _round in range(4):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def is_same_site_path(target: str) -> bool:
    """True only for a path on this site: no scheme, no host, no ``//`` or backslash (which
    browsers read as ``//``), and no white space or control character, before or after
    percent-decoding."""
    if not target.startswith("/") or any(_unsafe_character(c) or c == "\\" for c in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    path = _decoded(parts.path)
    if path.startswith("//") or "\\" in path or any(_unsafe_character(c) for c in path):
        return False
    # a query or fragment cannot change where the browser goes, but an encoded CR/LF or NUL
    # in it has no business in a redirect either; a space there (a filter "Ana Q") is fine
    rest = _decoded(f"{parts.query}#{parts.fragment}")
    return not any(unicodedata.category(c).startswith("C") for c in rest)


def safe_redirect_target(target: str | None, fallback: str = "main.dashboard") -> str:
    """Where to send the browser after a form that carries a user-chosen ``next``: the target
    itself when it is a path on this site, else the ``fallback`` endpoint. Every redirect to a
    target that came from the request goes through here."""
    if target and is_same_site_path(target):
        return target
    return url_for(fallback)
