"""Which git commit a manifest came from, when its folder is a git work tree."""

from __future__ import annotations

import subprocess
from pathlib import Path


def source_commit(path: Path) -> str | None:
    """HEAD's commit for the file's work tree, ``-dirty`` if the file differs from it.

    None when the folder is not in a git work tree or git is not installed.
    """
    folder = path.resolve().parent
    try:
        head = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
        if head is None:
            return None
        changed = _git(folder, "status", "--porcelain", "--", path.resolve().name)
    except OSError:  # no git on this host
        return None
    return f"{head}-dirty" if changed else head


def _git(folder: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None
