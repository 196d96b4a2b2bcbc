from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from yamlcron.cli import main
from yamlcron.registry import build_registry

pytest_plugins = ["tests.processes"]  # the `daemon` fixture: a real `yamlcron run`

GOOD = """\
version: 1
defaults:
  timezone: Europe/Berlin
  retry: {attempts: 2, delay: 5s}
jobs:
  backup:
    trigger: {cron: "0 3 * * *"}
    run: {command: ["echo", "backup"], timeout: 30m}
  cleanup:
    trigger: {interval: 15m}
    run: {shell: "echo cleanup"}
  report:
    trigger: {after: backup, when: success}
    run: {call: "tasks:report", kwargs: {days: 7}}
  launch:
    trigger: {date: "2031-12-01T09:00:00+01:00"}
    run: {command: ["echo", "launch"]}
"""


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding the GOOD manifest as jobs.yaml."""
    (tmp_path / "jobs.yaml").write_text(GOOD)
    return tmp_path


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def _write(text: str, name: str = "jobs.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the real command line in this process, with only the built-in plugins."""
    monkeypatch.delenv("YAMLCRON_STORE", raising=False)
    monkeypatch.delenv("YAMLCRON_FILE", raising=False)

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args], make_registry=lambda: build_registry(autoload=False))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def dump_store(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, to prove a failed command changed nothing."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
