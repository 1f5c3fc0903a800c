"""Project rules that keep the code honest: the engine has no Flask, lint and types are clean,
every guard and effect is used by a shipped template."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from fpic.effects import EFFECTS
from fpic.guards import GUARDS
from fpic.process import shipped_templates

ROOT = Path(__file__).resolve().parent.parent


def test_engine_never_imports_flask():
    for path in (ROOT / "fpic").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0].startswith("flask") for n in names), path


def test_engine_never_reads_the_shared_reference_folder():
    for path in (*ROOT.joinpath("fpic").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text or path.name == "test_conventions.py", path


def test_every_guard_and_effect_is_used_by_a_template():
    templates = shipped_templates().values()
    used_guards = {g for t in templates for trig in t.triggers.values() for g in trig.guards}
    used_effects = {trig.effect for t in templates for trig in t.triggers.values()}
    assert set(GUARDS) == used_guards
    assert set(EFFECTS) == used_effects


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, "ruff is part of the test extras"
    return [found]


def test_ruff_lint_is_clean():
    result = subprocess.run([*_ruff(), "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(
        [*_ruff(), "format", "--check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    """Strict on the engine, and on the web package but for what untyped Flask extensions
    give (``[tool.mypy]`` in pyproject.toml says which checks and why)."""
    found = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert found, "mypy is part of the test extras"
    result = subprocess.run([found], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
