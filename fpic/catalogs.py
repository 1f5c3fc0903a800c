"""Compile the shipped .po catalogs when the app starts, so a fresh clone or a wheel shows the
translated interface without a manual compile step (compiled .mo files are not committed)."""

from __future__ import annotations

import hashlib
import tempfile
from importlib import resources
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations


def source_directory() -> Path:
    return Path(str(resources.files("translations")))


def compiled_directory(source: Path | None = None) -> Path:
    """A directory of compiled catalogs, rebuilt only when a .po file changed."""
    source = source or source_directory()
    catalogs = sorted(source.glob("*/LC_MESSAGES/*.po"))
    digest = hashlib.sha256()
    for po in catalogs:
        digest.update(po.relative_to(source).as_posix().encode())
        digest.update(po.read_bytes())
    target = Path(tempfile.gettempdir()) / f"fpic-catalogs-{digest.hexdigest()[:16]}"
    for po in catalogs:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists():
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle)
        partial = mo.with_suffix(".mo.partial")
        with partial.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        partial.replace(mo)  # workers starting together never read half a file
    return target


def cli_translations(locale: str | None = None) -> Translations:
    """Translations for the command line, in the locale of the environment (LANGUAGE, LC_ALL,
    LC_MESSAGES, LANG), falling back to English."""
    import os

    wanted = locale or next(
        (os.environ[k] for k in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(k)),
        "en",
    )
    code = wanted.split(":")[0].split(".")[0]
    return Translations.load(str(compiled_directory()), [code, code.split("_")[0]], "messages")
