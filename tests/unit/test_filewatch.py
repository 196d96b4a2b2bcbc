"""watch_file, the store's doorbell, with the real watchdog observer on real files."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from yamlcron.store.filewatch import watch_file


@pytest.fixture
def rung(tmp_path: Path) -> Iterator[threading.Event]:
    event = threading.Event()
    stop = watch_file(tmp_path / "state.db.changed", event.set)
    yield event
    stop()


def test_a_write_rings(tmp_path: Path, rung: threading.Event) -> None:
    (tmp_path / "state.db.changed").write_text("1")
    assert rung.wait(5)
    rung.clear()
    (tmp_path / "state.db.changed").write_text("2")  # again, in place
    assert rung.wait(5)


def test_a_replacement_rings(tmp_path: Path, rung: threading.Event) -> None:
    (tmp_path / "next").write_text("1")
    (tmp_path / "next").rename(tmp_path / "state.db.changed")
    assert rung.wait(5)


def test_a_database_committing_beside_it_does_not(tmp_path: Path, rung: threading.Event) -> None:
    db = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE t (n INTEGER)")
    for n in range(200):
        db.execute("INSERT INTO t VALUES (?)", (n,))
    (tmp_path / "other").write_text("not the doorbell")
    assert not rung.wait(0.5)
    (tmp_path / "state.db.changed").write_text("1")  # the watch is still alive
    assert rung.wait(5)
    db.close()
