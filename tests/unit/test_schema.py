"""The JSON Schema: valid draft 2020-12, with help text for editors on every property."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from tests.tools import ROOT
from yamlcron.schema import core_schema

SCHEMA_FILE = ROOT / "schemas" / "jobs.schema.json"


def test_shipped_schema_is_the_source_file_and_valid() -> None:
    schema = core_schema()  # read through importlib.resources, as an installed wheel would
    assert schema == json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description() -> None:
    schema = core_schema()
    defs = schema["$defs"]

    def described(node: dict[str, Any]) -> bool:
        if "description" in node:
            return True
        ref = node.get("$ref", "")
        return ref.startswith("#/$defs/") and "description" in defs[ref.removeprefix("#/$defs/")]

    missing = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if not described(prop):
                    missing.append(f"{path}.{name}")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(schema, "")
    assert missing == []


def test_the_range_check_knows_every_duration_of_the_schema() -> None:
    # Durations the schema passes are checked for range (1 ms to 10,000 years) at the
    # paths the checker lists: a duration added to the schema must be added there too.
    from yamlcron.canonical import DURATIONS

    schema = core_schema()
    defs = schema["$defs"]
    found: set[tuple[str, ...]] = set()

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for name, prop in node.get("properties", {}).items():
            ref = prop.get("$ref", "").removeprefix("#/$defs/")
            resolved = defs.get(ref, prop)
            refs = {ref} | {o.get("$ref") for o in resolved.get("anyOf", [])}
            if "duration" in refs or "#/$defs/duration" in refs:
                found.add((*path, name))
            else:
                walk(resolved, (*path, name))

    walk(defs["job"], ())
    assert found == set(DURATIONS)
