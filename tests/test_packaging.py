"""A wheel built from the project carries everything the app reads at run time: the process
templates, the migrations, the web templates and assets, and the message catalogs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    [built] = out.glob("fpic-*.whl")
    return built


def _shipped(*patterns: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for pattern in patterns for p in ROOT.glob(pattern)}


def test_wheel_contains_every_runtime_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    wanted = _shipped(
        "fpic/processes/*.toml",
        "fpic/common_passwords.txt",
        "fpic/migrations/versions/*.py",
        "web/templates/**/*.html",
        "web/static/*",
        "translations/*/LC_MESSAGES/messages.po",
        "translations/messages.pot",
    )
    assert len([w for w in wanted if w.endswith(".po")]) == 4
    assert wanted - names == set()


def test_catalogs_from_the_wheel_translate_without_a_compile_step(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    probe = (
        "from fpic.catalogs import cli_translations, source_directory;"
        "print(source_directory());"
        "print(cli_translations('es').gettext('Demo data created.'))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {probe}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    where, spanish = result.stdout.splitlines()
    assert where.startswith(str(tmp_path / "site"))
    assert spanish != "Demo data created."
