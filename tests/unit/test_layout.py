"""The package's shape: no import cycle between yamlcron's modules (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.tools import ROOT


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "plugins":  # installed as yamlcron.plugins
        parts.insert(0, "yamlcron")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """The modules a module imports when it is imported: not in functions, not for type
    checkers. ``from package import submodule`` depends on the submodule, not the package."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.module:
                subs = {f"{inner.module}.{a.name}" for a in inner.names} & modules
                names.update(subs or {inner.module})
            elif isinstance(inner, ast.Import):
                names.update(a.name for a in inner.names)
    return names & modules


def _graph() -> dict[str, set[str]]:
    files = [*(ROOT / "yamlcron").rglob("*.py"), *(ROOT / "plugins").glob("*.py")]
    modules = {_module_name(f): f for f in files}
    return {name: _top_level_imports(f, set(modules)) for name, f in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as the modules along it, or [] if there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        path.append(node)
        for child in sorted(graph[node]):
            if found := visit(child):
                return found
        path.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if found := visit(start):
            return found
    return []


def test_the_graph_sees_the_imports() -> None:
    graph = _graph()
    assert "yamlcron.errors" in graph["yamlcron.manifest"]
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_import_cycle() -> None:
    assert _cycle(_graph()) == []


def test_every_package_is_installed() -> None:
    # pyproject.toml lists packages by name: one missing works in an editable install (CI,
    # developers) and fails in `pip install .` (users), with the command not importable.
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {_module_name(p) for p in (ROOT / "yamlcron").rglob("__init__.py")}
    assert found <= listed
