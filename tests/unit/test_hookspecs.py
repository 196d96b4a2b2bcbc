"""The plugin author's two pages: every hook and every contract documented, in the guide too."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from tests.tools import ROOT
from yamlcron import hookspecs, interfaces

GUIDE = (ROOT / "docs" / "plugins.md").read_text()


def hooks() -> list[str]:
    return [
        name
        for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("yamlcron_")
    ]


def test_every_hook_is_in_the_guide_with_its_exact_signature() -> None:
    assert set(hooks()) >= {
        "yamlcron_executors",
        "yamlcron_notifiers",
        "yamlcron_stores",
        *hookspecs.EVENT_HOOKS,
    }
    for name in hooks():
        source = inspect.getsource(getattr(hookspecs, name))
        signature = re.search(r"^def .*?:(?=\s*(#.*)?$)", source, re.M | re.S)
        assert signature is not None, name
        assert f"### `{name}`" in GUIDE, name
        assert f"```python\n{signature.group(0)}\n```" in GUIDE, signature.group(0)


def test_every_hook_has_a_docstring_saying_when_it_is_called() -> None:
    for name in hooks():
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc is not None, name
        assert "called" in doc.lower(), name


def contracts() -> list[type]:
    """The classes ``interfaces.py`` defines: what a plugin's components implement."""
    return [
        value
        for _, value in inspect.getmembers(interfaces, inspect.isclass)
        if value.__module__ == interfaces.__name__
    ]


def test_the_guide_points_at_the_hooks_and_the_contracts() -> None:
    assert "[`yamlcron/hookspecs.py`](../yamlcron/hookspecs.py)" in GUIDE
    assert "[`yamlcron/interfaces.py`](../yamlcron/interfaces.py)" in GUIDE
    for contract in contracts():
        assert f"`{contract.__name__}`" in GUIDE, contract.__name__


def test_every_contract_and_each_of_its_methods_has_a_docstring() -> None:
    # Read from the source: a dataclass without a docstring gets its signature as __doc__.
    tree = ast.parse(Path(interfaces.__file__).read_text())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert {c.name for c in classes} == {c.__name__ for c in contracts()}
    for contract in classes:
        assert ast.get_docstring(contract), contract.name
        methods = [node for node in contract.body if isinstance(node, ast.FunctionDef)]
        for method in methods:
            if method.name == "__call__" or not method.name.startswith("_"):
                assert ast.get_docstring(method), f"{contract.name}.{method.name}"
