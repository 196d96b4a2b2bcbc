"""Job output holds the job's bytes: on a terminal its escape codes are shown, not obeyed."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import clean_env, cli

#: Red text, a window title and a cursor move: what a hostile job could print.
ESCAPES = r"printf '\033[31mred\033[0m \033]0;owned\007 \033[2Aup\n'"
MANIFEST = f"""\
version: 1
jobs:
  colour:
    trigger: {{interval: 1h}}
    run:
      shell: |
        {ESCAPES}
"""


def _in_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run ``yamlcron ARGS`` with its standard output on a pseudo-terminal; code and text."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "yamlcron", *args],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.communicate(timeout=60)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    return proc.returncode, b"".join(chunks).decode()


@pytest.fixture
def ran(tmp_path: Path) -> Path:
    """A store holding one run of a job whose output is escape codes."""
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    assert cli(tmp_path, "apply").returncode == 0
    return tmp_path


@pytest.mark.parametrize(
    "args", [("trigger", "--wait", "colour"), ("history", "--run", "1"), ("history",)]
)
def test_a_terminal_sees_escape_codes_written_out(ran: Path, args: tuple[str, ...]) -> None:
    if args[0] == "history":
        assert cli(ran, "trigger", "--wait", "colour").returncode == 0
    code, shown = _in_terminal(*args, cwd=ran)
    assert code == 0, shown
    assert "\x1b" not in shown
    assert "\x07" not in shown
    assert "\\x1b[31mred\\x1b[0m" in shown


def test_json_keeps_the_output_exact(ran: Path) -> None:
    assert cli(ran, "trigger", "--wait", "colour").returncode == 0
    raw = "\x1b[31mred\x1b[0m \x1b]0;owned\x07 \x1b[2Aup\n"
    as_json = cli(ran, "history", "--run", "1", "--output", "json")
    assert json.loads(as_json.stdout)["output"] == raw
