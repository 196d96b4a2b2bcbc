"""Safe YAML to plain values, keeping every node so errors can point at line and column.

PyYAML's own loaders are not enough for a file that users edit by hand and that may come
from anywhere: ``safe_load`` silently keeps the last of two equal keys, expands aliases
without limit (a few hundred bytes can ask for 10^9 nodes), and libyaml's composer
recurses in C, so a deeply nested document crashes the process. Here the document is
composed into nodes (libyaml when present, for speed) only after a cheap bound shows it
is shallow enough, then walked once with a budget, building plain values (``dict``,
``list``, ``str``, ``int``, ``float``, ``bool``, ``None``). Keys are always the text as
written, so ``on:`` stays ``"on"`` rather than YAML 1.1's ``True``. Timestamps stay text;
the manifest parses them where a datetime is expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from yamlcron.errors import Issue, ManifestError

#: Deepest nesting accepted; a real manifest is about 6 levels deep.
MAX_DEPTH = 64
#: Nodes that aliases may add beyond the document's own (a "billion laughs" is refused).
ALIAS_BUDGET = 1_000_000
#: Below this bound on nesting, libyaml's recursive composer is safe to use.
_SAFE_FOR_COMPOSER = 400

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BRACKETS = re.compile(r"[\[\]{}]")
_LINE_PREFIX = re.compile(r"^[ \t?:-]*", re.MULTILINE)
_TAG = "tag:yaml.org,2002:"
#: What PyYAML quotes of the file in a syntax error (an alias, anchor or tag name) beyond
#: one character: the error's line and column point at it, and the file may not be YAML
#: at all, so none of it is repeated. Token names (``'<block end>'``) stay.
_QUOTED = re.compile(r" ?'(?!<)[^']{2,}'")
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


@dataclass(frozen=True, slots=True)
class Document:
    """Plain values plus the node tree they came from, for locating problems."""

    file: str
    data: Any
    root: yaml.Node | None = field(repr=False)
    #: Each mapping node's pairs by key, built when first asked: locating every one of
    #: 20,000 problems in a 20,000-job mapping must not scan the mapping each time.
    _keys: dict[int, dict[str, _Pair]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def node_at(self, path: Sequence[str | int], *, key: bool = False) -> yaml.Node | None:
        """The node at ``path`` (or the key node naming its last step); None if absent."""
        node = self.root
        for depth, step in enumerate(path):
            if node is None:
                return None
            last = depth == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                pair = self._pairs(node).get(str(step))
                if pair is None:
                    return None
                node = pair[0] if key and last else pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                node = node.value[step] if 0 <= step < len(node.value) else None
            else:
                return None
        return node

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based line and column of the value (or key) at ``path``, or its nearest parent."""
        for cut in range(len(path), -1, -1):
            node = self.node_at(path[:cut], key=key and cut == len(path))
            if node is not None:
                return _position(node.start_mark)
        return 1, 1

    def written(self, path: Sequence[str | int]) -> str | None:
        """The scalar at ``path`` exactly as written, quotes included; None if not a scalar."""
        node = self.node_at(path)
        if not isinstance(node, yaml.ScalarNode):
            return None
        quote = {"'": "'", '"': '"'}.get(node.style or "", "")
        return f"{quote}{node.value}{quote}"

    def _pairs(self, node: yaml.MappingNode) -> dict[str, _Pair]:
        """``node``'s key and value nodes by key; its own keys first, then merged ones."""
        found = self._keys.get(id(node))
        if found is None:
            found = {}
            merged: list[yaml.Node] = []
            for k, v in node.value:
                if k.tag == f"{_TAG}merge":
                    merged.extend(v.value if isinstance(v, yaml.SequenceNode) else [v])
                elif isinstance(k, yaml.ScalarNode):
                    found.setdefault(k.value, (k, v))
            for source in merged:
                if isinstance(source, yaml.MappingNode):
                    for name, pair in self._pairs(source).items():
                        found.setdefault(name, pair)
            self._keys[id(node)] = found
        return found


_Pair = tuple[yaml.Node, yaml.Node]


def read_document(text: str, file: str) -> Document:
    """Compose and build ``text``; every problem is raised at once as a located ManifestError."""
    if _depth_bound(text) > _SAFE_FOR_COMPOSER:
        _check_depth_by_events(text, file)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise ManifestError([_syntax_issue(exc, file)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"character U+{char:04X} is not allowed in YAML ({exc.reason})"
        raise ManifestError([Issue(file, line, column, "", message)]) from None
    if root is None:
        raise ManifestError([Issue(file, 1, 1, "", "the manifest is empty")])
    if not isinstance(root, yaml.MappingNode):
        raise ManifestError([not_a_manifest(file, root, _kind(root))])
    builder = _Builder(file)
    if "&" in text:  # no anchor, no alias: skip a walk over every node of a big manifest
        builder.check_alias_budget(root)
    data = builder.build(root, 0, ())
    if builder.issues:
        raise ManifestError(builder.issues)
    return Document(file, data, root)


def not_a_manifest(file: str, root: yaml.Node, kind: str) -> Issue:
    """The one problem of a document that is not a manifest, quoting nothing of it.

    Such a file is likely not YAML at all (``-f /etc/shadow`` reads as one long string, or
    as a mapping of its lines): its content has no place in an error message or a log.
    """
    line, column = _position(root.start_mark)
    message = f"expected a yamlcron manifest (a mapping with version and jobs), got {kind}"
    return Issue(file, line, column, "", message)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kinds = {"str": "text", "int": "a number", "float": "a number", "bool": "true or false"}
    return kinds.get(node.tag.removeprefix(_TAG), "a single value")


def _depth_bound(text: str) -> int:
    """An upper bound on nesting: open flow brackets plus the longest block indentation."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    indent = max((m.end() - m.start() for m in _LINE_PREFIX.finditer(text)), default=0)
    return deepest + indent + 1


def _check_depth_by_events(text: str, file: str) -> None:
    """Measure real nesting from the event stream, stopping at the first level too deep.

    The pure-Python parser on purpose: libyaml's scanner reads ahead over a run of open
    brackets, and the one bundled with PyYAML 6.0.4 stops at its own limit (1,000 levels)
    before the first event reaches us, so the refusal would be libyaml's, not ours. The
    pure-Python one hands the events over as it goes, and this runs only on a document whose
    cheap bound is already suspicious.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line, column = _position(event.start_mark)
                    message = f"nesting deeper than {MAX_DEPTH} levels is refused"
                    raise ManifestError([Issue(file, line, column, "", message)])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        raise ManifestError([_syntax_issue(exc, file)]) from None


def _position(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    line, column = _position(mark)
    problem = _QUOTED.sub("", (exc.problem or "invalid YAML").removeprefix("but "))
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return Issue(file, line, column, "", f"YAML syntax error: {problem}{context}")


def dotted(path: Sequence[str | int]) -> str:
    """``("jobs", "a", "notify", 0, "via")`` -> ``jobs.a.notify[0].via``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[Issue] = []

    def issue(self, node: yaml.Node, path: Sequence[str | int], message: str) -> None:
        line, column = _position(node.start_mark)
        self.issues.append(Issue(self.file, line, column, dotted(path), message))

    def check_alias_budget(self, root: yaml.Node) -> None:
        """Count the nodes the document expands to, without expanding it."""
        sizes: dict[int, int] = {}
        on_path: set[int] = set()

        def size(node: yaml.Node) -> int:
            key = id(node)
            if key in sizes:
                return sizes[key]
            if key in on_path:
                self.issue(node, (), "a recursive alias (an anchor used inside itself) is refused")
                raise ManifestError(self.issues)
            on_path.add(key)
            total = 1
            if isinstance(node, yaml.SequenceNode):
                total += sum(size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                total += sum(size(k) + size(v) for k, v in node.value)
            on_path.discard(key)
            sizes[key] = total
            return total

        expanded = size(root)
        if expanded - len(sizes) > ALIAS_BUDGET:
            message = (
                f"aliases expand this document to {expanded:,} nodes, past the budget of "
                f"{ALIAS_BUDGET:,} extra nodes; refused"
            )
            self.issue(root, (), message)
            raise ManifestError(self.issues)

    def build(self, node: yaml.Node, depth: int, path: tuple[str | int, ...]) -> Any:
        if depth > MAX_DEPTH:
            self.issue(node, path, f"nesting deeper than {MAX_DEPTH} levels is refused")
            raise ManifestError(self.issues)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_TAG}seq":
                self.issue(node, path, f"unsupported YAML tag {_show_tag(node.tag)}")
                return None
            return [self.build(child, depth + 1, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        if node.tag != f"{_TAG}map":
            self.issue(node, path, f"unsupported YAML tag {_show_tag(node.tag)}")
            return None
        return self.mapping(node, depth, path)

    def mapping(self, node: yaml.MappingNode, depth: int, path: tuple[str | int, ...]) -> Any:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                self.merge(value_node, depth, path, merged)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.issue(key_node, path, "a key must be plain text, not a list or mapping")
                continue
            key = key_node.value
            if key in first_seen:
                self.issue(
                    key_node,
                    (*path, key),
                    f"duplicate key '{key}' (first at line {first_seen[key]})",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, depth + 1, (*path, key))
        return {**merged, **out}

    def merge(
        self, node: yaml.Node, depth: int, path: tuple[str | int, ...], into: dict[str, Any]
    ) -> None:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            value = self.build(source, depth + 1, path)
            if not isinstance(value, dict):
                self.issue(source, path, "'<<' merges only mappings")
                continue
            for k, v in value.items():
                into.setdefault(k, v)

    def scalar(self, node: yaml.ScalarNode, path: tuple[str | int, ...]) -> Any:
        tag = node.tag
        if tag not in _SCALAR_TAGS:
            self.issue(node, path, f"unsupported YAML tag {_show_tag(tag)}")
            return None
        if tag in (f"{_TAG}str", f"{_TAG}timestamp"):
            return node.value
        try:
            # The tag's own constructor: construct_object would keep every node it saw.
            return _constructor.yaml_constructors[tag](_constructor, node)
        except (yaml.YAMLError, ValueError):
            self.issue(node, path, f"{node.value!r} is not a valid {tag.removeprefix(_TAG)}")
            return None


def _show_tag(tag: str) -> str:
    return f"'!!{tag.removeprefix(_TAG)}'" if tag.startswith(_TAG) else f"'{tag}'"
