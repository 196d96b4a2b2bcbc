"""jsonschema's errors in words a person understands, at the key or value they are about.

"unknown key 'triger' (did you mean 'trigger'?)" rather than a dump of the schema; YAML 1.1
coercions named as written; one issue per unknown or missing key.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from yamlcron.errors import Issue
from yamlcron.yamldoc import Document, dotted

if TYPE_CHECKING:  # jsonschema is imported only to explain a manifest that failed
    from jsonschema.exceptions import ValidationError

Path_ = tuple[str | int, ...]


def issues_of(doc: Document, error: ValidationError, prefix: Path_ = ()) -> list[Issue]:
    path: Path_ = (*prefix, *error.absolute_path)
    if error.validator in ("oneOf", "dependentRequired") and not isinstance(error.instance, dict):
        return []  # "required" passes vacuously on a non-mapping; its type error says it all
    schema: Any = error.schema
    instance: Any = error.instance
    if error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        extra = [k for k in instance if k not in known]
        return [_located(doc, _unknown_key(k, known), (*path, k), key=True) for k in extra]
    if error.validator == "required":
        # jsonschema reports each missing key with the whole list; report each key once.
        missing = [k for k in schema["required"] if k not in instance]
        return [_located(doc, f"missing required key '{k}'", path, key=bool(path)) for k in missing]
    message, at, key = _describe(doc, error, path)
    return [_located(doc, message, at, key=key)]


def _located(doc: Document, message: str, path: Path_, *, key: bool) -> Issue:
    line, column = doc.locate(path, key=key)
    return Issue(doc.file, line, column, dotted(path), message)


def _describe(doc: Document, error: ValidationError, path: Path_) -> tuple[str, Path_, bool]:
    """The message for ``error``, the path it is about, and whether to point at the key."""
    kind = error.validator
    value: Any = error.instance
    schema: Any = error.schema
    rule: Any = error.validator_value
    noun = schema.get("title") if isinstance(schema, dict) else None
    if kind == "pattern" and path and path[0] == "jobs" and len(path) == 1:
        return f"invalid job id {value!r}: {_JOB_ID_RULE}", (*path, value), True
    if kind == "type":
        expected = noun or _type_names(rule)
        if value is None:
            return _empty(path, expected, schema), path, False
        return f"expected {expected}, got {_show(doc, path, value)}", path, False
    if kind == "enum":
        options = [str(o) for o in rule]
        hint = did_you_mean(str(value), options)
        return f"must be one of {', '.join(options)}; got {value!r}{hint}", path, False
    if kind == "const":
        return f"must be {rule!r}, got {_show(doc, path, value)}", path, False
    if kind == "pattern":
        if path and path[-1] == "after":
            return f"invalid job id {value!r}: {_JOB_ID_RULE}", path, False
        return f"{value!r} is not {noun or 'valid here'}", path, False
    if kind in ("minimum", "exclusiveMinimum"):
        return f"must be at least {rule}, got {value!r}", path, False
    if kind in ("minItems", "minLength"):
        return "must not be empty", path, False
    if kind == "uniqueItems":
        return "lists an item twice", path, False
    if kind == "dependentRequired":
        owner = next(k for k, needs in rule.items() if k in value)
        needed = rule[owner][0]
        return f"'{owner}' goes only with '{needed}'", (*path, owner), True
    if kind == "oneOf" and all(set(s) == {"required"} for s in rule):
        kinds = [s["required"][0] for s in rule]
        present = [k for k in kinds if k in value]
        if present:
            last = max(present, key=lambda k: doc.locate((*path, k), key=True))
            return f"has {' and '.join(present)}; choose exactly one", (*path, last), True
        return f"needs one of {', '.join(kinds)}", path, bool(path)
    if kind in ("anyOf", "oneOf") and noun:
        return f"expected {noun}, got {_show(doc, path, value)}", path, False
    if kind in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match

        inner = best_match(error.context)
        return _describe(doc, inner, tuple(inner.absolute_path))
    return str(error.message), path, False


_JOB_ID_RULE = "use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit"


def _unknown_key(key: str, known: list[str]) -> str:
    hint = did_you_mean(key, known)
    if hint:
        return f"unknown key '{key}'{hint}"
    return f"unknown key '{key}'; expected one of: {', '.join(known)}"


def did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _empty(path: Path_, expected: str, schema: dict[str, Any]) -> str:
    """What to write where YAML read null (``jobs:`` with nothing after it, say)."""
    if path == ("jobs",):
        return "is empty; write at least one job, or {} for none"
    kinds = [s["required"][0] for s in schema.get("oneOf", []) if "required" in s]
    if schema.get("required"):
        return f"is empty; write {expected} with {' and '.join(schema['required'])}"
    if kinds:
        return f"is empty; write {expected} with one of {', '.join(kinds)}"
    none = {"object": "{}", "array": "[]"}.get(str(schema.get("type")))
    if none and not schema.get("minItems"):
        return f"is empty; write {expected}, or {none} for none"
    return f"is empty; write {expected}"


def _type_names(value: str | list[str]) -> str:
    names = {
        "integer": "a whole number",
        "number": "a number",
        "string": "a string",
        "boolean": "true or false",
        "array": "a list",
        "object": "a mapping",
        "null": "null",
    }
    items = [value] if isinstance(value, str) else value
    return " or ".join(names[t] for t in items)


def _show(doc: Document, path: Path_, value: Any) -> str:
    """Describe ``value``, naming YAML 1.1's coercions of what was written."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    written = doc.written(path)
    if value is None and written == "":
        return "nothing"  # ``version:`` with no value, which YAML reads as null
    shown = json.dumps(value)
    if written is not None and written != shown and not written.startswith(("'", '"')):
        return f'{shown} (YAML read the unquoted {written} as {shown}; write "{written}")'
    return shown
