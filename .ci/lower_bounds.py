"""CI: the oldest releases we claim to support, as a pip constraints file.

Every runtime dependency written ``name>=X`` in pyproject.toml (and the ``postgres``,
``apprise`` and ``celery`` extras) is constrained to ``name==X``; the test tools keep their newest
releases. ``.ci/run`` installs the project with these constraints into a second venv and
runs the in-process tests there, so a floor that no longer installs or no longer works
fails CI, not a user who has an older release.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: ``name>=X`` or ``name[extra]>=X``; pip refuses extras in a constraints file.
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def floors(requirements: list[str]) -> list[str]:
    """``name==X`` for each requirement with a lower bound ``X``."""
    return [f"{m[1]}=={m[2]}" for r in requirements if (m := FLOOR.match(r))]


def main() -> None:
    project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
    extras = project["optional-dependencies"]
    pins = floors(project["dependencies"])
    for extra in ("postgres", "apprise", "celery"):
        pins += floors(extras[extra])
    sys.stdout.write("".join(f"{pin}\n" for pin in pins))


if __name__ == "__main__":
    main()
