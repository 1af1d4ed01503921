"""The layout is the architecture: layer rules (import-linter contracts in pyproject.toml), no import
cycles between modules, small modules and a thin hook module. See docs/architecture.md."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pytest_wtb"
MAX_MODULE_LINES = 300
MAX_HOOK_MODULE_LINES = 200


def test_the_layer_rules_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 broken" in proc.stdout or "broken" not in proc.stdout.split("Contracts:")[-1], proc.stdout


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("pytest_wtb", exclude_type_checking_imports=True, cache_dir=None)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add(" -> ".join((module, *chain)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_only_the_pytest_folder_imports_pytest_directly() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "pytest" in path.relative_to(PACKAGE).parts[:-1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            if any(n == "pytest" or n.startswith(("pytest.", "_pytest")) for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders


def test_modules_stay_small_and_the_hook_module_thin() -> None:
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    too_big = {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"modules over {MAX_MODULE_LINES} lines: {too_big}"
    assert sizes["pytest_wtb/pytest/plugin.py"] <= MAX_HOOK_MODULE_LINES, sizes["pytest_wtb/pytest/plugin.py"]


def test_the_pytest11_entry_point_and_the_cli_resolve() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "wtb"]
    assert plugin.value == "pytest_wtb.pytest.plugin"
    assert hasattr(plugin.load(), "pytest_addoption")
    proc = subprocess.run([sys.executable, "-m", "pytest_wtb", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "show" in proc.stdout, proc.stderr
