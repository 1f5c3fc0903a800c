"""Project rules that keep the code honest: the engine has no Flask and imports no web, the CLI
imports the web app only to serve it, the packages of fpic depend on each other only downwards
and no module imports itself round a cycle, role names decide nothing outside
fpic.workflow.permissions, lint and types are clean, every guard and effect is used by a shipped
template."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fpic.storage.models import ROLES
from fpic.workflow.actions import ACTIONS
from fpic.workflow.guards import GUARDS
from fpic.workflow.process import installed_templates

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


#: what each package of fpic may import (docs/architecture.md): each builds only on those below
#: it. The engine checks a password asked again with fpic.accounts.passwords, a leaf module,
#: and queues its e-mails in the action's transaction with fpic.notify.outbox (which reads
#: whose turn it is from fpic.workflow.turns, never the engine).
LAYERS = {
    "i18n": set(),
    "storage": {"i18n"},
    "trail": {"i18n", "storage"},
    "evidence": {"i18n", "storage", "trail"},
    "geo": {"i18n", "storage"},
    "workflow": {"i18n", "storage", "trail", "evidence", "geo"}
    | {"accounts.passwords", "notify.outbox"},
    "accounts": {"i18n", "storage", "trail", "evidence", "geo", "workflow"},
    "read": {"i18n", "storage", "trail", "evidence", "geo", "workflow", "accounts"},
    "demo": {"i18n", "storage", "trail", "evidence", "geo", "workflow", "accounts", "read"},
    "notify": {"i18n", "storage", "trail", "evidence", "geo", "workflow", "accounts", "read"},
}


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _fpic_imports(path: Path, module_level_only: bool) -> set[str]:
    """The fpic modules ``path`` imports; with ``module_level_only``, only those imported when
    it is loaded (not inside a function, not for the type checker alone)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes: list[ast.AST] = list(ast.walk(tree))
    if module_level_only:
        nodes = [n for n in tree.body if not _type_checking_only(n)]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fpic"):
            found |= {
                _existing(f"{node.module}.{alias.name}") or node.module for alias in node.names
            }
        else:
            found |= {n for n in _imported(node) if n.split(".")[0] == "fpic"}
    return found


def _existing(module: str) -> str | None:
    base = ROOT.joinpath(*module.split("."))
    return module if base.with_suffix(".py").exists() or (base / "__init__.py").exists() else None


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _engine_modules() -> dict[str, Path]:
    return {_module_of(p): p for p in (ROOT / "fpic").rglob("*.py") if "migrations" not in p.parts}


def test_the_packages_of_fpic_depend_only_downwards():
    broken = []
    for module, path in _engine_modules().items():
        package = module.split(".")[1] if module.count(".") >= 2 else None
        if package not in LAYERS:
            continue  # fpic itself and fpic.cli, the command that uses them all
        for target in _fpic_imports(path, module_level_only=False):
            parts = target.split(".")
            if len(parts) < 2 or parts[1] == package:
                continue
            allowed = LAYERS[package]
            if parts[1] not in allowed and ".".join(parts[1:3]) not in allowed:
                broken.append(f"{module} imports {target}")
    assert not broken, "\n".join(broken)


def test_no_module_of_fpic_imports_itself_round_a_cycle():
    modules = _engine_modules()
    graph = {m: _fpic_imports(p, module_level_only=True) & set(modules) for m, p in modules.items()}
    cycles = [_cycle_from(m, graph) for m in graph]
    assert not [c for c in cycles if c], cycles


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str]:
    """A chain of module-level imports from ``start`` back to it, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph.get(module, ()):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return []


def test_the_layering_tests_see_a_planted_violation(tmp_path):
    """The two tests above are not vacuous: a cycle and an upward import are found."""
    graph = {"fpic.a": {"fpic.b"}, "fpic.b": {"fpic.a"}, "fpic.c": set()}
    assert _cycle_from("fpic.a", graph) == ["fpic.a", "fpic.b", "fpic.a"]
    assert _cycle_from("fpic.c", graph) == []
    planted = tmp_path / "planted.py"
    planted.write_text("from fpic.read.queries import list_cases\n", encoding="utf-8")
    assert _fpic_imports(planted, module_level_only=True) == {"fpic.read.queries"}
    assert "read" not in LAYERS["workflow"]


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
ROLE_NAMES_ALLOWED = {
    "fpic/workflow/permissions.py",
    "fpic/storage/models.py",
    "fpic/read/roles.py",
    "fpic/demo/seed.py",
}
ROLE_NAMES_ALLOWED_UNDER = ("fpic/storage/migrations/versions/",)  # history: never edited


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
    assert found == [], "ask fpic.workflow.permissions instead:\n" + "\n".join(found)


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
    # a rule only a released version names still binds the cases pinned to it
    templates = installed_templates().values()
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


def test_the_engine_and_the_app_load_no_geometry_library_until_a_map_is_used():
    """GEOS, PROJ and numpy cost a process about 28 MB and half a second: only reading a map,
    screening or drawing one loads them (fpic.geo's light names serve everything else)."""
    code = (
        "import sys, fpic.workflow.engine, fpic.accounts.registry, fpic.cli, fpic.read.places;"
        "from web import create_app;"
        "create_app({'DATABASE_URL': 'sqlite://', 'SECRET_KEY': 'x'});"
        "print(sorted(m for m in ('shapely', 'pyproj', 'numpy', 'shapefile') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert loaded == "[]"
