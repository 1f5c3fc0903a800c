"""Babel extractor for process templates: stage and trigger titles and descriptions.

Used from babel.cfg as ``[fpic.i18n.extract.extract_template: fpic/workflow/processes/*.toml]`` so
the
texts people see in the interface are translated like any other message.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import IO, Any

TEXT_KEYS = ("title", "description")


def extract_template(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    text = fileobj.read().decode("utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()

    def line_of(needle: str) -> int:
        for number, line in enumerate(lines, start=1):
            if needle in line:
                return number
        return 1

    for key in TEXT_KEYS:
        if isinstance(data.get(key), str):
            yield line_of(f"{key} ="), "gettext", data[key], [f"process template {key}"]
    for item, title in (data.get("disclosure_item_titles") or {}).items():
        if isinstance(title, str):
            yield line_of(f"{item} ="), "gettext", title, [f"disclosure item {item}"]
    for table in ("stages", "triggers", "limits", "grievance_days"):
        for name, spec in (data.get(table) or {}).items():
            for key in TEXT_KEYS:
                value = spec.get(key) if isinstance(spec, dict) else None
                if isinstance(value, str):
                    kind = {"limits": "limit", "grievance_days": "grievance limit"}.get(
                        table, table[:-1]
                    )
                    yield line_of(f"[{table}.{name}]"), "gettext", value, [f"{kind} {name}: {key}"]
