"""What each action (an effect of a template's trigger) takes as data, for interfaces that
describe it: the JSON API's OpenAPI document, and whether it asks the password again."""

# replaced by the action declarations at merge

from __future__ import annotations

from typing import Any


def data_schema(effect: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the ``data`` an action of ``effect`` takes."""
    return {"type": "object"}


def needs_password(effect: str) -> bool:
    """Whether an action of ``effect`` asks its person's password again."""
    return effect == "decision"
