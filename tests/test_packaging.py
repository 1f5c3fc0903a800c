"""A wheel built from the project carries everything the app reads at run time: the process
templates, the migrations, the web templates and assets, and the message catalogs. The lock
file that CI installs from covers what pyproject.toml declares."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
        "fpic/workflow/processes/*.toml",
        "fpic/workflow/processes/released/*.toml",
        "fpic/accounts/common_passwords.txt",
        "fpic/storage/migrations/versions/*.py",
        "web/templates/**/*.html",
        "web/static/*",
        "translations/*/LC_MESSAGES/messages.po",
        "translations/messages.pot",
    )
    assert len([w for w in wanted if w.endswith(".po")]) == 5
    assert wanted - names == set()


def test_catalogs_from_the_wheel_translate_without_a_compile_step(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    probe = (
        "from fpic.i18n.catalogs import cli_translations, source_directory;"
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


# --- requirements.lock: what CI and the README install, with hashes ---------------------------


def _lock() -> dict[str, tuple[str, int]]:
    """Name -> (pinned version, number of hashes), from pip-compile's format."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:"):
            assert name, f"a hash before any pin: {line}"
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
            continue
        assert not line.startswith(" "), f"not a pin or a hash: {line}"
        pin = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+) *\\?", stripped)
        assert pin, f"not an exact pin: {line}"
        name, version = canonicalize_name(pin[1]), pin[2]
        assert name not in pins, f"{name} pinned twice"
        pins[name] = (version, 0)
    return pins


def _declared() -> list[Requirement]:
    """Everything pyproject.toml asks for: the runtime, the test extra and the build."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [
        Requirement(text)
        for text in (
            *data["project"]["dependencies"],
            *data["project"]["optional-dependencies"]["test"],
            *data["build-system"]["requires"],
        )
    ]


def test_the_lock_pins_every_declared_dependency_within_its_range():
    pins = _lock()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: run make lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}: run make lock"
        )
        for extra in requirement.extras:  # psycopg[binary] needs psycopg-binary pinned too
            assert canonicalize_name(f"{name}-{extra}") in pins, f"{requirement}: extra missing"


def test_every_pin_of_the_lock_has_hashes():
    pins = _lock()
    assert len(pins) > len(_declared())  # the whole tree, not only what pyproject names
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_ci_and_the_readme_install_from_the_lock():
    command = (
        ".venv/bin/pip install --require-hashes -r requirements.lock &&\n"
        "    .venv/bin/pip install --no-deps --no-build-isolation -e . && .venv/bin/pytest"
    )
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")
