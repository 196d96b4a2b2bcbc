"""Every hook is documented in the plugin author's guide with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from yamlcron import hookspecs

GUIDE = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text()


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
