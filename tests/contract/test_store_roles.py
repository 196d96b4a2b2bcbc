"""``Store`` is its roles, and every method of them has a caller in the application."""

from __future__ import annotations

import ast

from tests.tools import ROOT
from yamlcron.interfaces import Doorbell, FiringStore, HistoryStore, JobStore, LeaseStore, Store

ROLES = (JobStore, FiringStore, LeaseStore, HistoryStore, Doorbell)


def _methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and name[0] != "_"}


def _called_outside_the_store() -> set[str]:
    """The attribute names the application calls, outside the store's own code."""
    sources = [
        p
        for p in [*(ROOT / "yamlcron").rglob("*.py"), *(ROOT / "plugins").glob("*.py")]
        if "store" not in p.relative_to(ROOT).parts and p.name != "postgres_dialect.py"
    ]
    return {
        node.func.attr
        for source in sources
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def test_the_store_is_its_roles_and_close() -> None:
    roles = [_methods(role) for role in ROLES]
    assert sum(map(len, roles)) == len(set().union(*roles))  # no method in two roles
    assert _methods(Store) == {"close"}
    assert {name for name in dir(Store) if name[0] != "_"} == {"close", *set().union(*roles)}


def test_every_store_method_has_a_caller_outside_tests() -> None:
    unused = set().union(*map(_methods, ROLES)) - _called_outside_the_store()
    assert unused == set()
