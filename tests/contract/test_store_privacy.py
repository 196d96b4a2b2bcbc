"""The store is its owner's alone: private modes, no links, no other user's files or locks."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GOOD
from tests.privileges import OTHER_UID, PYTHON, as_other_user, require_root, shared_folder
from tests.processes import cli
from yamlcron.errors import StoreError
from yamlcron.store.sqlite import SQLiteStore


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.lstat().st_mode) for p in [folder, *folder.iterdir()]}


@pytest.fixture
def project() -> Iterator[Path]:
    """A manifest in a folder every local user can reach (a shared project folder)."""
    require_root()
    with shared_folder() as folder:
        (folder / "jobs.yaml").write_text(GOOD)
        (folder / "tasks.py").write_text("def report(days):\n    return days\n")
        yield folder


def _every_file(store: SQLiteStore) -> None:
    """Make the store write each of its files: the daemon lock, the apply lock, the doorbell."""
    store.lock_daemon()
    with store.applying():
        pass
    store.ring()


def test_a_new_store_is_private(project: Path) -> None:
    assert cli(project, "apply").returncode == 0
    store = SQLiteStore(project / ".yamlcron" / "state.db")
    try:
        _every_file(store)
        found = modes(project / ".yamlcron")
    finally:
        store.close()
    assert found.pop(".yamlcron") == 0o700
    assert set(found) >= {"state.db", "state.db.daemon", "state.db.apply", "state.db.changed"}
    assert found == dict.fromkeys(found, 0o600)  # -wal and -shm too, while open
    assert (project / ".yamlcron" / ".gitignore").read_text().splitlines()[-1] == "*"


#: Run as the other user: open every file of the store and hold a shared lock on it.
ATTACK = """
import fcntl, os, sys
folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
held, refused = [], []
try:
    names = os.listdir(folder)
except OSError:
    names = {names!r}
for name in names:
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        held.append(name)
    except OSError:
        refused.append(name)
print("held", sorted(held), flush=True)
print("read", sys.stdin.read())  # keeps every lock until the test closes stdin
"""


def test_another_user_can_read_nothing_nor_hold_a_lock(project: Path) -> None:
    assert cli(project, "apply").returncode == 0
    folder = project / ".yamlcron"
    names = ["state.db", "state.db.daemon", "state.db.apply", "state.db.changed", ".gitignore"]
    attacker = subprocess.Popen(
        [PYTHON, "-I", "-S", "-c", ATTACK.format(folder=str(folder), names=names)],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert attacker.stdout is not None
        assert attacker.stdout.readline() == "held []\n"
        # With the attacker still there, the owner's apply and daemon go ahead.
        (project / "jobs.yaml").write_text(GOOD.replace("15m", "20m"))
        assert cli(project, "apply").returncode == 0
        store = SQLiteStore(folder / "state.db")
        try:
            store.lock_daemon()
        finally:
            store.close()
    finally:
        attacker.communicate("", timeout=60)


def _plant(project: Path, code: str) -> None:
    """As the other user, prepare something in the shared project folder."""
    done = as_other_user(code.replace("PROJECT", str(project)))
    assert done.returncode == 0, done.stderr


def test_a_store_folder_planted_as_a_link_is_refused(project: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o777)  # somewhere the attacker may point, and root may write
    _plant(project, f"import os; os.symlink({str(victim)!r}, 'PROJECT/.yamlcron')")
    result = cli(project, "apply")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "is a symbolic link, which yamlcron never makes; refusing" in result.stderr
    assert list(victim.iterdir()) == []


def test_a_store_folder_of_another_user_is_refused(project: Path) -> None:
    _plant(project, "import os; os.mkdir('PROJECT/.yamlcron', 0o777)")
    for command in ("apply", "jobs"):
        result = cli(project, command)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert f"belongs to another user (uid {OTHER_UID})" in result.stderr
    assert os.listdir(project / ".yamlcron") == []


def _open_and_touch_every_file(db: Path) -> None:
    store = SQLiteStore(db)
    try:
        _every_file(store)
    finally:
        store.close()


@pytest.mark.parametrize("name", ["state.db", "state.db-wal", "state.db.daemon", "state.db.apply"])
def test_a_store_file_that_is_a_link_is_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / ".yamlcron"
    folder.mkdir(mode=0o700)
    target = tmp_path / "target"
    target.write_text("precious\n")
    (folder / name).symlink_to(target)
    with pytest.raises(StoreError, match="is a symbolic link, which yamlcron never makes"):
        _open_and_touch_every_file(folder / "state.db")
    assert target.read_text() == "precious\n"


def test_an_older_loose_store_is_tightened_and_said_so(project: Path) -> None:
    assert cli(project, "apply").returncode == 0
    folder = project / ".yamlcron"
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    result = cli(project, "jobs")
    assert result.returncode == 0, result.stderr
    assert "was readable by other users (mode 0755); made it 0700" in result.stderr
    assert "was readable by other users (mode 0644); made it 0600" in result.stderr
    found = modes(folder)
    assert found.pop(".yamlcron") == 0o700
    assert found.pop(".gitignore") == 0o644  # no secret in it: left as it was
    assert found == dict.fromkeys(found, 0o600)
