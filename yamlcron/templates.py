"""``${VAR}`` and ``${VAR:-default}`` in env values, command items, cwd and notifier options.

Expanded from yamlcron's own environment at run time and never stored expanded, so a
secret stays out of the store and the plan. ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: A literal ``$${``, a well-formed reference, or a stray ``${`` (an error at validation).
PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def expand(text: str, environ: Mapping[str, str]) -> str:
    """Replace every ``${VAR}`` (empty when unset) and ``${VAR:-default}`` in ``text``."""

    def replace(match: re.Match[str]) -> str:
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            return whole
        value = environ.get(name, "")
        return value if value or default is None else default

    return PATTERN.sub(replace, text)


def stray(text: str) -> bool:
    """True when ``text`` has a ``${`` that starts no reference (validation reports it)."""
    return any(m.group(0) == "${" for m in PATTERN.finditer(text))
