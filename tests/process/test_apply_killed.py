"""``kill -9`` of ``yamlcron apply`` mid-write: the store holds the old manifest or the new.

The apply is one transaction (SPEC §4). Each round kills a real ``yamlcron apply`` of
20,000 jobs once its transaction has started spilling pages into the WAL, then reads the
store as it is left: the old jobs or the new ones, with the record of that same apply.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import clean_env, cli

pytestmark = pytest.mark.process

OLD = "version: 1\njobs:\n" + "".join(
    f"  old{i}: {{trigger: {{cron: '0 3 * * *'}}, run: {{command: [echo, old]}}}}\n"
    for i in range(3)
)
NEW = "version: 1\njobs:\n" + "".join(
    f"  new{i}: {{trigger: {{cron: '{i % 60} 4 * * *'}}, run: {{command: [echo, new]}}}}\n"
    for i in range(20_000)
)


def _jobs(folder: Path) -> set[str]:
    with sqlite3.connect(folder / ".yamlcron" / "state.db", timeout=30) as db:
        return {row[0] for row in db.execute("SELECT id FROM jobs")}


def _killed_mid_write(folder: Path) -> bool:
    """Start an apply of NEW, SIGKILL it once its transaction writes; True if it was cut."""
    wal = folder / ".yamlcron" / "state.db-wal"
    start = wal.stat().st_size if wal.exists() else 0
    apply = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "apply"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while apply.poll() is None:
            if wal.exists() and wal.stat().st_size > start:
                break
            time.sleep(0.005)
        apply.send_signal(signal.SIGKILL)
    finally:
        code = apply.wait()
    return code == -signal.SIGKILL


def test_an_apply_killed_mid_write_leaves_the_old_manifest_or_the_new(tmp_path: Path) -> None:
    old = {f"old{i}" for i in range(3)}
    new = {f"new{i}" for i in range(20_000)}
    cut = 0
    for round_ in range(2):
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        (folder / "jobs.yaml").write_text(OLD)
        assert cli(folder, "apply").returncode == 0
        assert _jobs(folder) == old
        (folder / "jobs.yaml").write_text(NEW)
        cut += _killed_mid_write(folder)
        left = _jobs(folder)
        assert left in (old, new)
        planned = cli(folder, "plan", "--output", "json")
        assert planned.returncode == 0, planned.stderr
        if left == old:
            assert '"unchanged": 0' in planned.stdout  # every job still to add
        assert cli(folder, "apply").returncode == 0
        assert _jobs(folder) == new
    assert cut > 0  # at least one kill landed inside the transaction
