"""Compile the shipped .po catalogs when the app starts, so a fresh clone or a wheel shows the
translated interface without a manual compile step (compiled .mo files are not committed).

The compiled catalogs are trusted: Jinja shows translated strings as safe HTML. So they live
only in a directory this user owns and nobody else can write (the user's cache directory, or
else a fresh ``mkdtemp``), never in a predictable place under the shared temporary folder
where another local user could plant a .mo before the app starts.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import stat
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations


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
    target = private_root() / digest.hexdigest()[:16]
    target.mkdir(mode=0o700, exist_ok=True)
    for po in catalogs:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists():
            continue
        mo.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle)
        # a name of its own per writer: workers starting together never read half a file
        # nor write into one another's
        fd, partial = tempfile.mkstemp(dir=mo.parent, suffix=".partial")
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        Path(partial).replace(mo)
    return target


def is_private(path: Path) -> bool:
    """True when ``path`` is a real directory (not a link) owned by this user that no one else
    may write to or list, inside a parent no one else may write to (or the parent's owner
    could swap it)."""
    try:
        own, parent = path.lstat(), path.parent.lstat()
    except OSError:
        return False
    uid = os.geteuid()
    return (
        stat.S_ISDIR(own.st_mode)
        and own.st_uid == uid
        and own.st_mode & 0o077 == 0
        and parent.st_uid in (uid, 0)
        and parent.st_mode & 0o022 == 0
    )


def _cache_root() -> Path:
    """``$XDG_CACHE_HOME/fpic-catalogs`` or ``~/.cache/fpic-catalogs``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fpic-catalogs"


def private_root() -> Path:
    """Where this process compiles catalogs: the user's cache directory when it is private
    (created 0700; owner and mode checked at every call), else a directory of this process's
    own from ``mkdtemp``."""
    try:
        root = _cache_root()
        root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        root.mkdir(mode=0o700, exist_ok=True)
        if is_private(root):
            return root
    except (OSError, RuntimeError):  # no home directory, a read-only one ...
        pass
    return _own_temporary_directory()


@cache
def _own_temporary_directory() -> Path:
    """Made by ``mkdtemp`` (0700, a name nobody could guess), once per process, removed at exit."""
    own = Path(tempfile.mkdtemp(prefix="fpic-catalogs-"))
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    return own


def cli_translations(locale: str | None = None) -> NullTranslations:
    """Translations for the command line, in the locale of the environment (LANGUAGE, LC_ALL,
    LC_MESSAGES, LANG), falling back to English."""
    import os

    wanted = locale or next(
        (os.environ[k] for k in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(k)),
        "en",
    )
    code = wanted.split(":")[0].split(".")[0]
    return Translations.load(str(compiled_directory()), [code, code.split("_")[0]], "messages")
