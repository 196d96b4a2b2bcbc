"""``python -m yamlcron``."""

from __future__ import annotations

from yamlcron.cli import entry_point

entry_point()
