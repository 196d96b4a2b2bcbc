"""ManifestWatcher with the real watchdog observer on real files."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yamlcron.watch import ManifestWatcher, relevant_names


class Reloads:
    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.changed.set()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Reloads]]:
    path = tmp_path / "jobs.yaml"
    path.write_text("version: 1\n")
    reloads = Reloads()
    watcher = ManifestWatcher(
        path, reloads, applied=hashlib.sha256(b"version: 1\n").hexdigest(), interval=60
    )
    watcher.start()
    yield path, reloads
    watcher.stop()


def test_one_change_in_several_writes_reloads_once(watched: tuple[Path, Reloads]) -> None:
    path, reloads = watched
    with path.open("w") as f:  # an editor writing in pieces
        for piece in ("version: 1\n", "jobs: {}\n", "# end\n"):
            f.write(piece)
            f.flush()
            time.sleep(0.05)
    assert reloads.changed.wait(5)
    time.sleep(1.5)  # well past the debounce and its cap: any second reload would be here
    assert reloads.count == 1


def test_same_content_does_not_reload(watched: tuple[Path, Reloads]) -> None:
    path, reloads = watched
    path.write_text("version: 1\n")
    os.utime(path)
    assert not reloads.changed.wait(1.5)


def test_a_busy_folder_cannot_starve_a_reload(watched: tuple[Path, Reloads]) -> None:
    path, reloads = watched
    stop = threading.Event()

    def chatter() -> None:  # a log beside the manifest, written and read all the time
        log = path.with_name("daemon.log")
        while not stop.is_set():
            with log.open("a") as f:
                f.write("line\n")
            log.read_text()
            time.sleep(0.01)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        path.write_text("version: 1\njobs: {}\n")
        assert reloads.changed.wait(5)
        assert time.monotonic() - started < 2
    finally:
        stop.set()
        thread.join()


def test_configmap_names(tmp_path: Path) -> None:
    (tmp_path / "..2026_a").mkdir()
    (tmp_path / "..2026_a" / "jobs.yaml").write_text("x")
    (tmp_path / "..data").symlink_to("..2026_a")
    (tmp_path / "jobs.yaml").symlink_to("..data/jobs.yaml")
    assert relevant_names(tmp_path / "jobs.yaml") == {"jobs.yaml", "..data"}
