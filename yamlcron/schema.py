"""The manifest's JSON Schema: loading, plugins' options merged in, checking, errors in words.

A manifest is checked by the schema compiled to Python (fastjsonschema), a quick yes or no;
only a manifest it refuses is explained by jsonschema, each error in words a person
understands at the key or value it is about: "unknown key 'triger' (did you mean
'trigger'?)" rather than a dump of the schema, YAML 1.1 coercions named as written, one issue
per unknown or missing key. jsonschema is imported only to explain a failure or to check a
notifier's options (``tests/test_startup.py`` counts it).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from yamlcron.errors import Issue
from yamlcron.model import Components
from yamlcron.yamldoc import Document, dotted

if TYPE_CHECKING:  # jsonschema is imported only to explain a manifest that failed
    import jsonschema
    from jsonschema.exceptions import ValidationError

Path_ = tuple[str | int, ...]


@cache
def core_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as shipped inside the package."""
    text = files("yamlcron.schemas").joinpath("jobs.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    # Imported here: jsonschema only explains a manifest the compiled check refused, and
    # importing it costs more than checking a valid manifest (tests/test_startup.py).
    import jsonschema

    return jsonschema.Draft202012Validator(core_schema())


@cache
def _passes_schema() -> Callable[[Any], Any]:
    """The schema compiled to Python by fastjsonschema: a quick yes or no, never the why.

    fastjsonschema knows JSON Schema up to draft 7, so it gets the draft-7 spelling of the
    one 2020-12 keyword the schema uses (``dependentRequired`` was ``dependencies``).
    ``tests/test_manifest.py`` checks that both validators agree on generated manifests.
    """
    import fastjsonschema

    return fastjsonschema.compile(_as_draft7(core_schema()))


def _as_draft7(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_draft7(v) for v in node]
    if not isinstance(node, dict):
        return node
    renamed = {"dependentRequired": "dependencies"}
    draft7 = {renamed.get(k, k): _as_draft7(v) for k, v in node.items()}
    if "$schema" in draft7:
        draft7["$schema"] = "http://json-schema.org/draft-07/schema#"
    return draft7


def schema_issues(doc: Document) -> list[Issue]:
    """Every way ``doc`` breaks the schema, located; jsonschema explains what the check found."""
    import fastjsonschema

    try:
        _passes_schema()(doc.data)
    except fastjsonschema.JsonSchemaException:
        return [i for error in _validator().iter_errors(doc.data) for i in issues_of(doc, error)]
    return []


def option_issues(
    doc: Document, path: Path_, schema: Mapping[str, Any], options: Mapping[str, Any]
) -> list[Issue]:
    """How a notifier's ``options`` at ``path`` break the ``schema`` its plugin registered."""
    # jsonschema itself, not the compiled draft-7 check: a plugin's schema may use
    # 2020-12 keywords that fastjsonschema would silently ignore.
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [i for error in validator.iter_errors(options) for i in issues_of(doc, error, path)]


def merged_schema(components: Components) -> dict[str, Any]:
    """The core schema plus the installed executors' names and options, and notifiers' options.

    Editors pointed at it complete plugin options too; ``yamlcron schema`` prints it.
    """
    schema: dict[str, Any] = json.loads(json.dumps(core_schema()))
    defs = schema["$defs"]
    defs["executorName"]["enum"] = sorted(components.executors)
    choice = defs["executor"]["anyOf"][1]
    choice["allOf"] = [
        {
            "if": {"properties": {"via": {"const": name}}},
            "then": {
                "properties": {**options.get("properties", {}), "via": True},
                "required": options.get("required", []),
                "additionalProperties": False,
            },
        }
        for name, options in sorted(components.executor_options.items())
    ]
    schema["properties"]["executors"]["properties"] = {
        name: {**options, "required": []}
        for name, options in sorted(components.executor_options.items())
    }
    notifier = defs["notifier"]
    notifier["properties"]["via"]["enum"] = sorted(components.notifiers)
    notifier["allOf"] = [
        {
            "if": {"properties": {"via": {"const": name}}},
            "then": {
                "properties": {**options.get("properties", {}), "via": True, "on": True},
                "required": options.get("required", []),
                "additionalProperties": False,
            },
        }
        for name, options in sorted(components.notifiers.items())
    ]
    return schema


# -- errors in words ------------------------------------------------------------------------


def issues_of(doc: Document, error: ValidationError, prefix: Path_ = ()) -> list[Issue]:
    """The located issues one jsonschema error stands for (``prefix``: where it was checked)."""
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
    if kind == "pattern" and path and path[0] == "jobs" and len(path) == 1:
        return f"invalid job id {value!r}: {_JOB_ID_RULE}", (*path, value), True
    if kind == "dependentRequired":
        rule: Any = error.validator_value
        owner = next(k for k, needs in rule.items() if k in value)
        return f"'{owner}' goes only with '{rule[owner][0]}'", (*path, owner), True
    if kind in ("anyOf", "oneOf"):
        return _describe_choice(doc, error, path)
    return _describe_value(doc, error, path), path, False


def _describe_value(doc: Document, error: ValidationError, path: Path_) -> str:
    """The message for an error about the value at ``path`` itself."""
    kind = error.validator
    value: Any = error.instance
    schema: Any = error.schema
    rule: Any = error.validator_value
    noun = schema.get("title") if isinstance(schema, dict) else None
    if kind == "type":
        expected = noun or _type_names(rule)
        if value is None:
            return _empty(path, expected, schema)
        return f"expected {expected}, got {_show(doc, path, value)}"
    if kind == "enum":
        options = [str(o) for o in rule]
        hint = did_you_mean(str(value), options)
        return f"must be one of {', '.join(options)}; got {value!r}{hint}"
    if kind == "const":
        return f"must be {rule!r}, got {_show(doc, path, value)}"
    if kind == "pattern":
        if path and path[-1] == "after":
            return f"invalid job id {value!r}: {_JOB_ID_RULE}"
        return f"{value!r} is not {noun or 'valid here'}"
    simple = {
        "minimum": f"must be at least {rule}, got {value!r}",
        "exclusiveMinimum": f"must be at least {rule}, got {value!r}",
        "minItems": "must not be empty",
        "minLength": "must not be empty",
        "uniqueItems": "lists an item twice",
    }
    return simple.get(str(kind), str(error.message))


def _describe_choice(doc: Document, error: ValidationError, path: Path_) -> tuple[str, Path_, bool]:
    """An ``anyOf``/``oneOf`` error: which one of the kinds, or the best inner error."""
    value: Any = error.instance
    schema: Any = error.schema
    rule: Any = error.validator_value
    noun = schema.get("title") if isinstance(schema, dict) else None
    if error.validator == "oneOf" and all(set(s) == {"required"} for s in rule):
        kinds = [s["required"][0] for s in rule]
        present = [k for k in kinds if k in value]
        if present:
            last = max(present, key=lambda k: doc.locate((*path, k), key=True))
            return f"has {' and '.join(present)}; choose exactly one", (*path, last), True
        return f"needs one of {', '.join(kinds)}", path, bool(path)
    if noun:
        return f"expected {noun}, got {_show(doc, path, value)}", path, False
    if error.context:
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
    """`` (did you mean 'x'?)`` for the closest of ``options``, or nothing."""
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
