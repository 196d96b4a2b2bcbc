"""Shell completion: commands from click, job ids from the manifest the command line names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.processes import clean_env

MANIFEST = """\
version: 1
jobs:
  nightly-backup: {trigger: {cron: "0 3 * * *"}, run: {command: [echo]}}
  nightly-report: {trigger: {cron: "0 4 * * *"}, run: {command: [echo]}}
  cleanup: {trigger: {interval: 15m}, run: {command: [echo]}}
"""


def complete(folder: Path, words: str) -> list[str]:
    """What bash would offer for the last word of ``words``."""
    parts = words.split(" ")
    env = clean_env() | {
        "_YAMLCRON_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    done = subprocess.run(
        [sys.executable, "-m", "yamlcron"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_job_ids_complete_from_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "other.yaml").write_text(MANIFEST.replace("cleanup", "compact"))
    assert complete(tmp_path, "yamlcron trigger nightly") == ["nightly-backup", "nightly-report"]
    assert complete(tmp_path, "yamlcron next ") == ["cleanup", "nightly-backup", "nightly-report"]
    assert complete(tmp_path, "yamlcron history -f other.yaml c") == ["compact"]
    assert "trigger" in complete(tmp_path, "yamlcron tr")


def test_a_missing_or_broken_manifest_completes_nothing(tmp_path: Path) -> None:
    assert complete(tmp_path, "yamlcron pause ") == []
    (tmp_path / "jobs.yaml").write_text("jobs: [unclosed\n")
    assert complete(tmp_path, "yamlcron resume ") == []
