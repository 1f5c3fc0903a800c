"""Project rules that keep the code honest: the engine has no Flask and imports no web, the CLI
imports the web app only to serve it, role names decide nothing outside fpic.permissions, lint
and types are clean, every guard and effect is used by a shipped template."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fpic.actions import ACTIONS
from fpic.guards import GUARDS
from fpic.models import ROLES
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


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module]
    return []


def _imports_web(node: ast.AST) -> bool:
    return any(name == "web" or name.startswith("web.") for name in _imported(node))


def test_engine_never_imports_web():
    for path in (ROOT / "fpic").rglob("*.py"):
        if path == ROOT / "fpic" / "cli.py":
            continue  # its serve command runs the web app: the next test holds it to that
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not any(_imports_web(node) for node in ast.walk(tree)), path


#: the one CLI command that needs the web app: it serves it
SERVING_COMMAND = "serve"


def test_cli_imports_web_only_in_the_command_that_serves_it():
    tree = ast.parse((ROOT / "fpic" / "cli.py").read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    inside = {
        id(node): function.name
        for function in functions
        for node in ast.walk(function)
        if _imports_web(node)
    }
    everywhere = [node for node in ast.walk(tree) if _imports_web(node)]
    assert everywhere, "fpic serve runs the web app, so cli.py imports it somewhere"
    assert [inside.get(id(node)) for node in everywhere] == [SERVING_COMMAND] * len(everywhere)


#: where role names may stand in code: the permissions module decides by them, the models
#: define them, the role matrix generator (docs/roles.md) enumerates them and the demo seeds
#: one account of each; the web package only labels them (not compared, not queried)
ROLE_NAMES_ALLOWED = {"fpic/permissions.py", "fpic/models.py", "fpic/roles.py", "fpic/demo.py"}
ROLE_NAMES_ALLOWED_UNDER = ("fpic/migrations/versions/",)  # history: never edited


def _strings(node: ast.AST | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [text for element in node.elts for text in _strings(element)]
    return []


def role_decisions(source: str) -> list[tuple[int, str]]:
    """(line, role) for each role name compared (``==``, ``in``, ``match``), given to a query
    (``.in_``/``.not_in``) or passed as ``role=``: the places that decide by a role."""
    roles = set(ROLES)
    found = []
    for node in ast.walk(ast.parse(source)):
        texts: list[str] = []
        if isinstance(node, ast.Compare):
            texts = [t for side in (node.left, *node.comparators) for t in _strings(side)]
        elif isinstance(node, ast.MatchValue):
            texts = _strings(node.value)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("in_", "not_in"):
                texts = [t for arg in node.args for t in _strings(arg)]
            texts += [t for kw in node.keywords if kw.arg == "role" for t in _strings(kw.value)]
        found += [(node.lineno, text) for text in texts if text in roles]
    return found


def test_role_decisions_are_found():
    assert role_decisions('if actor.role == "liaison":\n    pass\n') == [(1, "liaison")]
    assert role_decisions('q = select(User).where(User.role.in_(("auditor", "x")))') == [
        (1, "auditor")
    ]
    assert role_decisions('Actor(user_id=0, username="x", role="admin")') == [(1, "admin")]
    assert role_decisions('labels = {"admin": "Administrator"}') == []


def test_no_role_name_decides_anything_outside_the_permissions_module():
    found = []
    for package in ("fpic", "web"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in ROLE_NAMES_ALLOWED or name.startswith(ROLE_NAMES_ALLOWED_UNDER):
                continue
            found += [f"{name}:{line}: {role!r}" for line, role in role_decisions(path.read_text())]
    assert found == [], "ask fpic.permissions instead:\n" + "\n".join(found)


def test_no_role_name_in_the_web_templates():
    names = "|".join(map(re.escape, ROLES))
    quoted = re.compile(rf"""(["'])({names})\1""")
    found = [
        f"{path.relative_to(ROOT)}: {match[0]}"
        for path in sorted((ROOT / "web" / "templates").rglob("*.html"))
        for match in quoted.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "templates ask may(permission), not the role:\n" + "\n".join(found)


def test_engine_never_reads_the_shared_reference_folder():
    for path in (*ROOT.joinpath("fpic").rglob("*.py"), *ROOT.joinpath("tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text or path.name == "test_conventions.py", path


def test_every_guard_and_effect_is_used_by_a_template():
    templates = shipped_templates().values()
    used_guards = {g for t in templates for trig in t.triggers.values() for g in trig.guards}
    used_effects = {trig.effect for t in templates for trig in t.triggers.values()}
    assert set(GUARDS) == used_guards
    assert set(ACTIONS) == used_effects


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
