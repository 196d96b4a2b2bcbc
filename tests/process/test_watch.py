"""GitOps reloads of a real `yamlcron run`: every way a file gets replaced, and bad edits."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import Daemon, cli

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job

OLD = """\
version: 1
jobs:
  old:
    trigger: {interval: 1s}
    run: {shell: "true"}
"""
NEW = (
    OLD
    + """\
  new:
    trigger: {interval: 1s}
    run: {shell: "echo new"}
"""
)


def live(d: Daemon, job: str = "new") -> bool:
    return d.rows("SELECT 1 FROM jobs WHERE id = ?", job) != []


def applies(d: Daemon) -> int:
    return d.rows("SELECT COUNT(*) FROM applies")[0][0] if d.rows("SELECT 1 FROM applies") else 0


def start(folder: Path, *args: str) -> Daemon:
    d = Daemon(folder, *args)
    d.wait_for(lambda: live(d, "old"), "the first apply")
    return d


def stop(d: Daemon) -> None:
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    assert "Traceback" not in d.log.read_text()


def change_to_new_job(d: Daemon, change: Callable[[], object]) -> float:
    """Make the change; return seconds until the new job is in the store; check one apply."""
    before = applies(d)
    started = time.monotonic()
    change()
    d.wait_for(lambda: live(d), "the new job to be live")
    took = time.monotonic() - started
    d.wait_for(lambda: "success" in d.statuses("new"), "the new job's first run")
    time.sleep(0.6)  # longer than the debounce: a duplicate apply would show by now
    assert applies(d) == before + 1
    return took


def test_in_place_write(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(OLD)
    d = start(tmp_path)
    took = change_to_new_job(d, lambda: (tmp_path / "jobs.yaml").write_text(NEW))
    assert took < 3
    stop(d)


def test_editor_write_and_rename(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(OLD)
    d = start(tmp_path)

    def save() -> None:
        temp = tmp_path / ".jobs.yaml.swp"
        temp.write_text(NEW)
        os.replace(temp, tmp_path / "jobs.yaml")

    assert change_to_new_job(d, save) < 3
    stop(d)


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_git_checkout_between_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text(".yamlcron/\n*.log\n")
    (tmp_path / "jobs.yaml").write_text(OLD)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "old")
    first = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "jobs.yaml").write_text(NEW)
    git(tmp_path, "commit", "-qam", "new")
    second = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-q", first)
    d = start(tmp_path)
    assert d.rows("SELECT commit_id FROM applies") == [(first,)]
    assert change_to_new_job(d, lambda: git(tmp_path, "checkout", "-q", second)) < 3
    assert d.rows("SELECT commit_id FROM applies ORDER BY id DESC LIMIT 1") == [(second,)]
    commits = {r[0] for r in d.rows("SELECT manifest_commit FROM runs WHERE job_id = 'new'")}
    assert commits == {second}  # which version of jobs.yaml ran this: the second commit
    history = cli(tmp_path, "history", "new", "-n", "1")
    assert f"@{second[:7]}" in history.stdout
    stop(d)


def test_configmap_symlink_swap(tmp_path: Path) -> None:
    """Kubernetes mounts `jobs.yaml -> ..data/jobs.yaml`, `..data -> ..<timestamp>`."""
    first = tmp_path / "..2026_11_23_a"
    first.mkdir()
    (first / "jobs.yaml").write_text(OLD)
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "jobs.yaml").symlink_to("..data/jobs.yaml")
    d = start(tmp_path)

    def swap() -> None:
        second = tmp_path / "..2026_11_23_b"
        second.mkdir()
        (second / "jobs.yaml").write_text(NEW)
        (tmp_path / "..data_tmp").symlink_to(second.name)
        os.rename(tmp_path / "..data_tmp", tmp_path / "..data")  # atomic, as the kubelet does

    assert change_to_new_job(d, swap) < 3
    assert (tmp_path / ".yamlcron" / "state.db").exists()  # beside the link, not in ..data
    stop(d)


@pytest.mark.parametrize(
    ("bad", "reported"),
    [
        (NEW[: NEW.index("  new:") + 20], "jobs.yaml:6:"),  # half-written
        ("", "jobs.yaml:1:1: the manifest is empty"),
        (
            NEW.replace(
                '{interval: 1s}\n    run: {shell: "echo', '{interval: [1s\n    run: {shell: "echo'
            ),
            "jobs.yaml:",
        ),
        (
            NEW.replace('run: {shell: "echo new"}', 'rnu: {shell: "echo new"}'),
            "jobs.yaml:8:5: jobs.new.rnu: unknown key 'rnu'",
        ),
    ],
    ids=["half-written", "empty", "syntax-error", "schema-error"],
)
def test_bad_change_keeps_the_old_jobs(tmp_path: Path, bad: str, reported: str) -> None:
    (tmp_path / "jobs.yaml").write_text(OLD)
    d = start(tmp_path)
    before = applies(d)
    (tmp_path / "jobs.yaml").write_text(bad)
    d.wait_for(lambda: "reload failed" in d.log.read_text(), "the reload error")
    assert reported in d.log.read_text()
    count = len(d.statuses("old"))
    d.wait_for(lambda: len(d.statuses("old")) >= count + 2, "the old job to keep firing")
    assert applies(d) == before
    assert change_to_new_job(d, lambda: (tmp_path / "jobs.yaml").write_text(NEW)) < 3
    stop(d)


def test_refused_plan_keeps_the_old_jobs(tmp_path: Path) -> None:
    four = OLD + "".join(
        f"  keep{i}:\n    trigger: {{interval: 1h}}\n    run: {{shell: 'true'}}\n" for i in range(3)
    )
    (tmp_path / "jobs.yaml").write_text(four)
    d = start(tmp_path)
    (tmp_path / "jobs.yaml").write_text(OLD)  # would remove 3 of 4
    d.wait_for(lambda: "reload refused" in d.log.read_text(), "the refusal")
    assert "refusing to remove 3 of 4 stored jobs" in d.log.read_text()
    assert len(d.rows("SELECT id FROM jobs")) == 4
    stop(d)


def test_apply_from_another_process_reaches_a_daemon_that_does_not_watch(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(OLD)
    d = start(tmp_path, "--no-watch")
    (tmp_path / "jobs.yaml").write_text(NEW)
    time.sleep(1.0)  # a watching daemon would have applied by now; this one must not
    assert not live(d)
    started = time.monotonic()
    assert cli(tmp_path, "apply").returncode == 0
    d.wait_for(lambda: "success" in d.statuses("new"), "the new job's first run")
    assert time.monotonic() - started < 4  # the apply itself, plus the 1 s interval
    assert "reloaded" not in d.log.read_text()
    stop(d)
