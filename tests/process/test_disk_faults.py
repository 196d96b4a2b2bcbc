"""A full disk and a read-only filesystem, on a real small tmpfs: one line, no half change."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import GOOD, dump_store
from tests.privileges import mounted
from tests.processes import cli

pytestmark = pytest.mark.process


@pytest.fixture
def disk() -> Iterator[Path]:
    """A 2 MiB filesystem of the test's own, holding the project."""
    with mounted("size=2m,mode=0755") as target:
        yield target


def fill(folder: Path) -> None:
    """Write until the filesystem has no byte left."""
    for name, chunk in (("filler", 65536), ("filler-end", 1)):  # then what a page leaves
        with (folder / name).open("wb", buffering=0) as out:
            assert _write_until_an_error(out.write, b"\0" * chunk) == errno.ENOSPC


def _write_until_an_error(write: Callable[[bytes], object], chunk: bytes) -> int | None:
    try:
        while True:
            write(chunk)
    except OSError as exc:
        return exc.errno


def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert fragment in lines[0], lines


def test_a_first_apply_on_a_full_disk(disk: Path) -> None:
    (disk / "jobs.yaml").write_text(GOOD)
    (disk / "tasks.py").write_text("def report(days):\n    return days\n")
    fill(disk)
    _one_line_error(cli(disk, "apply"), "the disk is full")
    ignore = disk / ".yamlcron" / ".gitignore"
    assert not ignore.exists() or ignore.read_text().endswith("*\n")  # whole, or not at all
    assert [p.name for p in (disk / ".yamlcron").glob(".gitignore.*")] == []  # no leftover

    # Space again: the next apply makes the store, .gitignore and all.
    (disk / "filler").unlink()
    assert cli(disk, "apply").returncode == 0
    assert ignore.read_text().endswith("*\n")


def _many_jobs(count: int, note: str) -> str:
    jobs = "".join(
        f"  job{i}:\n    description: {note * 40}\n"
        f"    trigger: {{interval: 1h}}\n    run: {{command: [echo, '{i}']}}\n"
        for i in range(count)
    )
    return f"version: 1\njobs:\n{jobs}"


def test_an_apply_on_a_full_disk_changes_nothing(disk: Path) -> None:
    (disk / "jobs.yaml").write_text(_many_jobs(20, "first "))
    assert cli(disk, "apply").returncode == 0
    store = disk / ".yamlcron" / "state.db"
    before = dump_store(store)
    (disk / "jobs.yaml").write_text(_many_jobs(400, "second "))
    fill(disk)
    result = cli(disk, "apply")
    _one_line_error(result, "the disk is full")
    assert "no transaction is active" not in result.stderr
    assert dump_store(store) == before


@pytest.fixture
def read_only(disk: Path) -> Path:
    """A project with an applied store and one run, then the filesystem remounted read-only."""
    (disk / "jobs.yaml").write_text(GOOD)
    (disk / "tasks.py").write_text("def report(days):\n    return days\n")
    assert cli(disk, "apply").returncode == 0
    assert cli(disk, "trigger", "--wait", "cleanup").returncode == 0
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True, check=False
    )
    assert remount.returncode == 0, remount.stderr
    return disk


@pytest.mark.parametrize(
    "args",
    [("plan",), ("jobs",), ("history",), ("history", "--run", "1"), ("next", "cleanup")],
)
def test_reading_works_on_a_read_only_filesystem(read_only: Path, args: tuple[str, ...]) -> None:
    result = cli(read_only, *args)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout


def test_writing_on_a_read_only_filesystem_is_one_line(read_only: Path) -> None:
    result = cli(read_only, "pause", "cleanup")
    _one_line_error(result, "the store is read-only")


def test_a_daemon_started_on_a_full_disk_says_so(disk: Path) -> None:
    (disk / "jobs.yaml").write_text(GOOD)
    (disk / "tasks.py").write_text("def report(days):\n    return days\n")
    assert cli(disk, "apply").returncode == 0
    fill(disk)
    _one_line_error(cli(disk, "run"), "the disk is full")
