"""A store deleted under a running daemon stops it: two daemons must never fire one job."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import Daemon, cli

pytestmark = pytest.mark.process

#: A job that is never due during the test: the daemon sleeps, as an idle one does.
IDLE = """\
idle:
  trigger: {cron: "0 0 1 1 *"}
  run: {command: ["true"]}
"""


def _started(daemon: Daemon) -> None:
    daemon.wait_for(lambda: "running 1 jobs" in daemon.log.read_text(), "the daemon to start")


@pytest.mark.parametrize("how", ["folder", "database"])
def test_deleting_the_store_stops_the_daemon(
    daemon: Callable[..., Daemon], tmp_path: Path, how: str
) -> None:
    first = daemon(IDLE)
    _started(first)
    store = tmp_path / ".yamlcron"
    if how == "folder":
        shutil.rmtree(store)  # rm -rf .yamlcron
    else:
        for path in store.glob("state.db*"):
            path.unlink()
    # Woken by the deletion, not by a fire time nor by the loop's 60 s backstop (MAX_SLEEP):
    # it once slept on when the deletion came within 50 ms of its last look at the file.
    code = first.exit_code(timeout=30)
    lines = first.log.read_text().splitlines()
    assert code == 1, lines
    assert lines[-1].startswith("error: the store ")
    assert "was deleted while this process had it open; stopping" in lines[-1]
    assert "Traceback" not in first.log.read_text()

    # The one daemon left is the new one, on a new store.
    second = daemon(IDLE)
    _started(second)
    assert cli(tmp_path, "replicas").stdout.count("when it stops") == 1
