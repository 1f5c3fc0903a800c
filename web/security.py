"""Security headers on every response (no inline scripts, no framing, no caching of pages),
and the one check every redirect to a target the client chose goes through."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request, url_for

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
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
    for _ in range(4):
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
