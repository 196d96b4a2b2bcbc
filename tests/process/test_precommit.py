"""The pre-commit hook in .pre-commit-hooks.yaml: the files it picks, and the hook run for
real by ``pre-commit try-repo`` on this tree (which installs it, as a user's pre-commit does)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import clean_env
from tests.tools import ROOT, require_modules

EXAMPLE = ROOT / "examples" / "jobs.yaml"


def hook() -> dict[str, object]:
    [only] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return dict(only)


@pytest.mark.parametrize(
    ("path", "picked"),
    [
        ("jobs.yaml", True),
        ("ops/cron/jobs.yml", True),
        ("yamlcron.yaml", True),
        ("deploy/nightly.yamlcron.yml", True),
        ("myjobs.yaml", False),
        ("jobs.yaml.orig", False),
        ("config.yaml", False),
        (".yamlcron.yaml", False),
    ],
)
def test_the_hook_picks_manifests_by_name(path: str, picked: bool) -> None:
    assert bool(re.search(str(hook()["files"]), path)) is picked


def test_the_hook_runs_validate_on_the_files_it_is_given() -> None:
    spec = hook()
    assert (spec["id"], spec["entry"], spec["language"]) == (
        "yamlcron-validate",
        "yamlcron validate",
        "python",
    )
    assert spec.get("pass_filenames", True) is True  # validate takes FILE...


def _git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


@pytest.mark.process
def test_pre_commit_try_repo_passes_a_good_manifest_and_fails_a_broken_one(
    tmp_path: Path,
) -> None:
    require_modules("pre_commit")
    project = tmp_path / "project"
    project.mkdir()
    (project / "jobs.yaml").write_text(EXAMPLE.read_text())
    (project / "ops").mkdir()
    broken = EXAMPLE.read_text().replace('"0 3 * * *"', '"0 25 * * *"', 1)
    assert broken != EXAMPLE.read_text()
    (project / "ops" / "nightly.yamlcron.yaml").write_text(broken)
    (project / "config.yaml").write_text("not: [a, manifest]\n")  # not picked
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "manifests")
    env = clean_env() | {"PRE_COMMIT_HOME": str(tmp_path / "cache")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    def try_repo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "yamlcron-validate", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    good = try_repo("--files", "jobs.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
    every = try_repo("--all-files")
    assert every.returncode == 1, every.stdout + every.stderr
    assert re.search(r"ops/nightly\.yamlcron\.yaml:\d+:\d+: jobs\.\S+\.trigger\.cron", every.stdout)
    assert "config.yaml" not in every.stdout
