"""What the tests of other users, full disks and read-only filesystems need: root and mounts.

Without them such a test skips with the reason on a newcomer's machine, and fails when
``YAMLCRON_TEST_STRICT=1`` (``.ci/run``) says that every test must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.tools import require

#: Another local user: nobody, on every Linux.
OTHER_UID = 65534
#: The system's Python for that user: ours may sit in a folder only its owner can reach.
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or "python3"


def require_root() -> None:
    """Root, to act as another local user, and a Python that user may run."""
    require(os.geteuid() == 0, "needs root, to act as another local user (uid 65534)")
    require(shutil.which(PYTHON) is not None, "needs python3 in /usr/bin for another user")


def as_other_user(code: str, *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as another local user (uid/gid 65534, no groups); its output."""
    return subprocess.run(
        [PYTHON, "-I", "-S", "-c", code],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


@contextmanager
def shared_folder(mode: int = 0o777) -> Iterator[Path]:
    """A fresh folder that every local user can reach and write (a shared project folder).

    pytest's own temporary folders are 0700: another user could not even reach a store
    there, and a test of what that user can do would prove nothing.
    """
    folder = Path(tempfile.mkdtemp(prefix="yamlcron-shared-"))
    folder.chmod(mode)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@contextmanager
def mounted(options: str, source: str = "tmpfs", kind: str = "tmpfs") -> Iterator[Path]:
    """A filesystem mounted for the test (``mount -o OPTIONS``), unmounted after it."""
    require_root()
    with shared_folder(0o755) as folder:
        target = folder / "mnt"
        target.mkdir()
        done = subprocess.run(
            ["mount", "-t", kind, "-o", options, source, str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        require(done.returncode == 0, f"cannot mount a {kind} here: {done.stderr.strip()}")
        try:
            yield target
        finally:
            subprocess.run(["umount", "-l", str(target)], check=False)
