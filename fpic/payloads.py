"""Checks on the data a person sends with an action: every refusal names the field.

Parsers return JSON-safe values (dates as ISO text) so the cleaned data can go on the trail
as is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from fpic.errors import invalid
from fpic.i18n import N_

MAX_SHORT = 300
MAX_TEXT = 20_000
MAX_ITEMS = 200
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


class Fields:
    """Reads one action's data; refuses unknown keys so a typo is never silently ignored."""

    def __init__(self, data: Mapping[str, Any] | None, allowed: set[str], prefix: str = "") -> None:
        if data is None:
            data = {}
        self.prefix = prefix
        if not isinstance(data, Mapping):
            raise invalid(
                prefix.rstrip(".") or "data",
                N_("The data for this action must be a set of named fields."),
            )
        for key in data:
            if key not in allowed:
                raise invalid(
                    prefix + str(key)[:80], N_("%(field)s is not a field of this action.")
                )
        self.data = data

    def _raw(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None or value == "" or value == []:
            if required:
                raise invalid(self.prefix + key, N_("%(field)s is required."))
            return None
        return value

    def text(self, key: str, required: bool = True, max_length: int = MAX_TEXT) -> str | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(self.prefix + key, N_("%(field)s must be text."))
        cleaned = clean_text(self.prefix + key, value, max_length)
        if required and not cleaned:  # only white space: as good as missing
            raise invalid(self.prefix + key, N_("%(field)s is required."))
        return cleaned

    def short(self, key: str, required: bool = True) -> str | None:
        return self.text(key, required, MAX_SHORT)

    def language(self, key: str, required: bool = True) -> str | None:
        value = self.short(key, required)
        if value is not None and not LANGUAGE_TAG.match(value):
            raise invalid(
                self.prefix + key, N_("%(field)s must be a language code such as qu, ay or iu.")
            )
        return value

    def languages(self, key: str, required: bool = True) -> list[str]:
        values = self.str_list(key, required)
        for value in values:
            if not LANGUAGE_TAG.match(value):
                raise invalid(
                    self.prefix + key, N_("%(field)s must be language codes such as qu, ay or iu.")
                )
        return values

    def choice(self, key: str, options: tuple[str, ...], required: bool = True) -> str | None:
        value = self.short(key, required)
        if value is not None and value not in options:
            raise invalid(
                key, N_("%(field)s must be one of: %(options)s."), options=", ".join(options)
            )
        return value

    def choices(self, key: str, options: tuple[str, ...], required: bool = True) -> list[str]:
        values = self.str_list(key, required)
        for value in values:
            if value not in options:
                raise invalid(
                    key, N_("%(field)s must be among: %(options)s."), options=", ".join(options)
                )
        return values

    def day(self, key: str, required: bool = True) -> str | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if isinstance(value, date):
            return value.isoformat()
        if not isinstance(value, str):
            raise invalid(self.prefix + key, N_("%(field)s must be a date (YYYY-MM-DD)."))
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise invalid(self.prefix + key, N_("%(field)s must be a date (YYYY-MM-DD).")) from None

    def integer(
        self, key: str, required: bool = True, minimum: int = 0, maximum: int = 1_000_000
    ) -> int | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(self.prefix + key, N_("%(field)s must be a whole number."))
        if not minimum <= value <= maximum:
            raise invalid(
                key, N_("%(field)s must be between %(min)s and %(max)s."), min=minimum, max=maximum
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0", ""):
            return False
        if not isinstance(value, bool):
            raise invalid(self.prefix + key, N_("%(field)s must be yes or no."))
        return value

    def str_list(self, key: str, required: bool = True) -> list[str]:
        value = self._raw(key, required)
        if value is None:
            return []
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or len(value) > MAX_ITEMS:
            raise invalid(self.prefix + key, N_("%(field)s must be a list."))
        items = [
            clean_text(self.prefix + key, v, MAX_SHORT)
            for v in value
            if _is_text(self.prefix + key, v)
        ]
        if required and not items:
            raise invalid(self.prefix + key, N_("%(field)s is required."))
        return list(dict.fromkeys(items))

    def int_list(self, key: str, required: bool = True) -> list[int]:
        value = self._raw(key, required)
        if value is None:
            return []
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or len(value) > MAX_ITEMS:
            raise invalid(self.prefix + key, N_("%(field)s must be a list."))
        numbers: list[int] = []
        for item in value:
            if isinstance(item, str) and item.isdigit():
                item = int(item)
            if isinstance(item, bool) or not isinstance(item, int):
                raise invalid(self.prefix + key, N_("%(field)s must be a list of whole numbers."))
            numbers.append(item)
        return list(dict.fromkeys(numbers))

    def records(self, key: str, required: bool = True) -> list[Mapping[str, Any]]:
        value = self._raw(key, required)
        if value is None:
            return []
        if (
            not isinstance(value, list | tuple)
            or len(value) > MAX_ITEMS
            or not all(isinstance(v, Mapping) for v in value)
        ):
            raise invalid(self.prefix + key, N_("%(field)s must be a list of entries."))
        return list(value)


def _is_text(key: str, value: Any) -> bool:
    if not isinstance(value, str):
        raise invalid(key, N_("%(field)s must be text."))
    return bool(value.strip())


def clean_text(key: str, value: str, max_length: int) -> str:
    """Trimmed, NFC-normalised text without control characters or unpaired surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(key, N_("%(field)s contains characters that are not valid text.")) from None
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in value):
        raise invalid(key, N_("%(field)s contains control characters."))
    value = unicodedata.normalize("NFC", value.strip())
    if len(value) > max_length:
        raise invalid(
            key, N_("%(field)s is too long (at most %(max)s characters)."), max=max_length
        )
    return value


def printable(value: object, max_length: int) -> str:
    """Text for the trail from untrusted input that is refused, not stored as data (a name typed
    at a failed sign-in, an unknown action name). NUL (which PostgreSQL text cannot hold) and
    unpaired surrogates (which UTF-8 cannot encode) are dropped; every other character is kept
    so the trail shows what was really sent."""
    text = value if isinstance(value, str) else repr(value)
    return "".join(c for c in text if c != "\x00" and unicodedata.category(c) != "Cs")[:max_length]
