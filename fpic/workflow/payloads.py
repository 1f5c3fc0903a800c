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

from fpic.i18n import N_
from fpic.workflow.errors import invalid

MAX_SHORT = 300
MAX_TEXT = 20_000
MAX_ITEMS = 200
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
#: the dates a person can mean for a meeting, a disclosure, a decision, a grievance or a
#: mandate: none of them happened before 1900, and a date after 2199 is a slip of the keyboard
#: (one near year 9999 would also overflow the date arithmetic of deadlines and filters)
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)
#: the largest id a row can have: ids are INTEGER columns, which PostgreSQL holds in 32 bits
#: (SQLite in 64); a larger number names no row and must not reach the database driver
MAX_ID = 2**31 - 1
#: bidi controls (embeddings, overrides, isolates, marks) and zero-width characters: invisible
#: in a name, they make it show as another one (a right-to-left override turns "Ana" + U+202E
#: + "nirom" into "Ana" + "morin") or make two names that look the same differ
INVISIBLE_IN_NAMES = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)


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

    def name(self, key: str, required: bool = True) -> str | None:
        """A person's, community's or project's name: short text without the invisible
        characters that can make one name pass for another."""
        value = self.short(key, required)
        if value is not None:
            refuse_invisible(self.prefix + key, value)
        return value

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
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise invalid(
                    self.prefix + key, N_("%(field)s must be a date (YYYY-MM-DD).")
                ) from None
        if not isinstance(value, date):
            raise invalid(self.prefix + key, N_("%(field)s must be a date (YYYY-MM-DD)."))
        if not EARLIEST_DAY <= value <= LATEST_DAY:
            raise invalid(
                self.prefix + key,
                N_("%(field)s must be a date between %(earliest)s and %(latest)s."),
                earliest=EARLIEST_DAY.isoformat(),
                latest=LATEST_DAY.isoformat(),
            )
        return value.isoformat()

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
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_ID:
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


def refuse_invisible(key: str, value: str) -> None:
    """Refuse a name holding bidi controls or zero-width characters (see INVISIBLE_IN_NAMES)."""
    if any(c in INVISIBLE_IN_NAMES for c in value):
        raise invalid(
            key,
            N_(
                "%(field)s holds invisible characters (such as a right-to-left override or a "
                "zero-width space) that can make a name look like another; type it without them."
            ),
        )


def printable(value: object, max_length: int) -> str:
    """Text for the trail from untrusted input that is refused, not stored as data (a name typed
    at a failed sign-in, an unknown action name). NUL (which PostgreSQL text cannot hold) and
    unpaired surrogates (which UTF-8 cannot encode) are dropped; every other character is kept
    so the trail shows what was really sent."""
    text = value if isinstance(value, str) else repr(value)
    return "".join(c for c in text if c != "\x00" and unicodedata.category(c) != "Cs")[:max_length]
