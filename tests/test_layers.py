"""The package's import rules (docs/architecture.md, "Layers"): the import-linter contracts in
``pyproject.toml`` (layers, no import of the package root, no cycle between sibling modules or
packages), plus what import-linter cannot see: ``from repspace import <submodule>`` (recorded
as an import of the submodule) and cycles through a package's ``__init__``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / "repspace"


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # 1: a contract is broken


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_package(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name ``from X import ...`` imports from (relative levels resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def test_no_module_imports_the_package_root() -> None:
    """``import repspace`` and ``from repspace import X`` (X a name or a submodule) inside the
    package: import the defining module instead (the root is the lazy public API)."""
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "__init__.py":
            continue
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names if a.name == "repspace"]
            elif isinstance(node, ast.ImportFrom):
                source = _imported_package(node, module, path.name == "__init__.py")
                bad = [f"from {source} import {a.name}" for a in node.names]
                bad = bad if source == "repspace" else []
            else:
                continue
            offences += [f"{path.relative_to(REPO)}:{node.lineno}: {b}" for b in bad]
    assert not offences, "\n".join(offences)


def test_no_import_cycle_between_modules() -> None:
    """No cycle in the module import graph (import-linter's ``acyclic_siblings`` contract
    checks siblings; this also catches a package ``__init__`` and its own submodules)."""
    graph = grimp.build_graph("repspace", cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph.modules)))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
