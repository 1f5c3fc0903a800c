"""Small helpers routes share: the engine, the signed-in person, reading query arguments."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, request
from flask_login import current_user

from fpic.actors import Actor
from fpic.engine import Engine


def engine() -> Engine:
    return current_app.extensions["fpic"]


def actor() -> Actor:
    return current_user.actor


def int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12:
        abort(400)
    return int(raw)


def date_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


def str_arg(name: str, max_length: int = 80) -> str | None:
    raw = request.args.get(name, "").strip()
    if len(raw) > max_length or any(ord(c) < 32 for c in raw):
        abort(400)
    return raw or None
