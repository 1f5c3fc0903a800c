"""The message catalogs: complete, placeholders intact, compiled cleanly, glossary terms used,
and the template up to date with the code."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
LOCALES = ("es", "fr", "pt_BR", "id", "fil")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalog(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def messages(locale: str):
    return [m for m in catalog(locale) if m.id]


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_is_complete(locale):
    missing = [m.id for m in messages(locale) if m.fuzzy or not all(_strings(m))]
    assert not missing, f"{len(missing)} untranslated or fuzzy in {locale}: {missing[:10]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match_the_source(locale):
    wrong = []
    for message in messages(locale):
        expected = {name for text in _ids(message) for name in PLACEHOLDER.findall(text)}
        for text in _strings(message):
            if not text:
                continue  # completeness is the other test's business
            found = set(PLACEHOLDER.findall(text))
            # a singular form may drop the count placeholder ("one day"), never add one
            if found - expected or (not isinstance(message.id, tuple) and found != expected):
                wrong.append((message.id, text))
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_compiles_without_errors(locale, tmp_path):
    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "compile", "-i", str(po),
         "-o", str(tmp_path / "m.mo"), "-l", locale],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr.lower(), result.stderr


def _glossary() -> dict[str, dict[str, list[str]]]:
    with (TRANSLATIONS / "glossary.toml").open("rb") as handle:
        return tomllib.load(handle)["terms"]


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogs_use_the_glossary(locale):
    misses = []
    for english, per_locale in _glossary().items():
        pattern = re.compile(rf"\b{re.escape(english)}\b", re.IGNORECASE)
        accepted = [term.lower() for term in per_locale[locale]]
        for message in messages(locale):
            source = " ".join(_ids(message))
            if not pattern.search(source):
                continue
            text = " ".join(_strings(message)).lower()
            if not any(term in text for term in accepted):
                misses.append((english, message.id))
    assert not misses, misses[:10]


def test_every_glossary_term_appears_in_the_interface():
    sources = " ".join(" ".join(_ids(m)) for m in messages("es")).lower()
    unused = [term for term in _glossary() if term.lower() not in sources]
    # terms kept for what is coming (grievances, benefit sharing) may wait; the core may not
    core = {"community representative", "consent withheld", "decision trail", "material change",
            "deliberation", "disclosure", "quorum", "mandate"}  # fmt: skip
    assert not core & set(unused), sorted(core & set(unused))


def test_message_template_is_up_to_date(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "N_", "-c", "i18n:", "-o", str(fresh), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with fresh.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        shipped = {m.id for m in read_po(handle) if m.id}
    assert wanted == shipped, (
        f"run `make i18n-update`: new {sorted(map(str, wanted - shipped))[:5]}, "
        f"gone {sorted(map(str, shipped - wanted))[:5]}"
    )


# --- compiled catalogs are trusted HTML, so they live where only this user writes ------------

PLANTED = '<img src=x onerror="alert(1)">'


def _plant(directory: Path) -> None:
    """A Spanish catalog translating "Sign in" to HTML, as another local user could write it."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    planted = Catalog(locale="es")
    planted.add("Sign in", PLANTED)
    mo = directory / "es" / "LC_MESSAGES" / "messages.mo"
    mo.parent.mkdir(parents=True, exist_ok=True)
    with mo.open("wb") as handle:
        write_mo(handle, planted)


def _sign_in_in_spanish(directory: Path) -> str:
    from babel.support import Translations

    return Translations.load(str(directory), ["es"], "messages").gettext("Sign in")


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def test_a_catalog_planted_in_the_old_shared_location_is_not_used(own_cache: Path):
    import hashlib
    import tempfile

    from fpic.i18n.catalogs import compiled_directory

    # where fpic used to compile: a name anyone could compute from the shipped .po files
    digest = hashlib.sha256()
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/*.po")):
        digest.update(po.relative_to(TRANSLATIONS).as_posix().encode())
        digest.update(po.read_bytes())
    old = Path(tempfile.gettempdir()) / f"fpic-catalogs-{digest.hexdigest()[:16]}"
    try:
        _plant(old)
        compiled = compiled_directory(TRANSLATIONS)
        assert not compiled.is_relative_to(old)
        assert _sign_in_in_spanish(compiled) == "Iniciar sesión"
    finally:
        import shutil

        shutil.rmtree(old, ignore_errors=True)


def test_catalogs_compile_into_a_directory_only_this_user_can_write(own_cache: Path):
    import os
    import stat

    from fpic.i18n.catalogs import compiled_directory

    compiled = compiled_directory(TRANSLATIONS)
    assert compiled.is_relative_to(own_cache)
    for directory in (own_cache / "fpic-catalogs", compiled):
        info = directory.lstat()
        assert info.st_uid == os.geteuid()
        assert stat.S_IMODE(info.st_mode) & 0o077 == 0, oct(info.st_mode)


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_cache_directory_others_can_write_is_not_trusted(own_cache: Path, mode: int):
    from fpic.i18n.catalogs import compiled_directory

    shared = own_cache / "fpic-catalogs"
    shared.mkdir(parents=True)
    for name in ("", *(p.name for p in shared.iterdir())):
        _plant(shared / name)
    shared.chmod(mode)
    compiled = compiled_directory(TRANSLATIONS)
    assert not compiled.is_relative_to(shared)
    assert _sign_in_in_spanish(compiled) == "Iniciar sesión"
