"""Time from a saved change of jobs.yaml to the new schedule being live in a running daemon.

    python bench/reload.py [--changes 20]

For each way a manifest gets replaced, a real `yamlcron run` is started and the manifest is
changed `--changes` times (alternating between two versions); each time, the clock runs from
the change until the store has recorded the apply (the new schedule is live). Prints the
median and worst per kind.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BASE = "version: 1\njobs:\n  old: {trigger: {interval: 1h}, run: {shell: 'true'}}\n"


def version(i: int) -> str:
    return BASE + f"  new: {{trigger: {{interval: 1h}}, run: {{shell: 'echo {i}'}}}}\n"


def applies(folder: Path) -> int:
    db = folder / ".yamlcron" / "state.db"
    if not db.exists():
        return 0
    connection = sqlite3.connect(db, timeout=10)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM applies").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def wait(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.002)


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=b@example.com", "-c", "user.name=b", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure(kind: str, changes: int) -> list[float]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        setup, change = KINDS[kind]
        setup(folder, changes)
        args = ["--no-watch"] if kind == "cli apply" else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "yamlcron", "run", *args],
            cwd=folder,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait(lambda: applies(folder) >= 1)
            times = []
            for i in range(1, changes + 1):
                before = applies(folder)
                started = time.perf_counter()
                change(folder, i)
                wait(lambda before=before: applies(folder) > before)
                times.append(time.perf_counter() - started)
                time.sleep(0.3)  # let the daemon settle between changes
            return times
        finally:
            proc.terminate()
            proc.wait()


def plain_setup(folder: Path, changes: int) -> None:
    (folder / "jobs.yaml").write_text(version(0))


def in_place(folder: Path, i: int) -> None:
    (folder / "jobs.yaml").write_text(version(i))


def rename(folder: Path, i: int) -> None:
    (folder / ".jobs.yaml.tmp").write_text(version(i))
    os.replace(folder / ".jobs.yaml.tmp", folder / "jobs.yaml")


def git_setup(folder: Path, changes: int) -> None:
    git(folder, "init", "-q")
    (folder / ".gitignore").write_text(".yamlcron/\n")
    for i in range(changes + 1):
        (folder / "jobs.yaml").write_text(version(i))
        git(folder, "add", ".")
        git(folder, "commit", "-qm", f"v{i}")
        git(folder, "tag", f"v{i}")
    git(folder, "checkout", "-q", "v0")


def checkout(folder: Path, i: int) -> None:
    git(folder, "checkout", "-q", f"v{i}")


def configmap_setup(folder: Path, changes: int) -> None:
    (folder / "..v0").mkdir()
    (folder / "..v0" / "jobs.yaml").write_text(version(0))
    (folder / "..data").symlink_to("..v0")
    (folder / "jobs.yaml").symlink_to("..data/jobs.yaml")


def swap(folder: Path, i: int) -> None:
    (folder / f"..v{i}").mkdir()
    (folder / f"..v{i}" / "jobs.yaml").write_text(version(i))
    (folder / "..data_tmp").symlink_to(f"..v{i}")
    os.rename(folder / "..data_tmp", folder / "..data")


def cli_apply(folder: Path, i: int) -> None:
    (folder / "jobs.yaml").write_text(version(i))
    subprocess.run(
        [sys.executable, "-m", "yamlcron", "apply"], cwd=folder, check=True, capture_output=True
    )


KINDS: dict[str, tuple[Callable[[Path, int], None], Callable[[Path, int], None]]] = {
    "in-place write": (plain_setup, in_place),
    "write and rename": (plain_setup, rename),
    "git checkout": (git_setup, checkout),
    "configmap swap": (configmap_setup, swap),
    "cli apply": (plain_setup, cli_apply),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=20)
    options = parser.parse_args()
    print(f"{'change':<18} | {'n':>3} | {'median ms':>9} | {'worst ms':>8}")
    for kind in KINDS:
        times = measure(kind, options.changes)
        print(
            f"{kind:<18} | {len(times):>3} | {1000 * statistics.median(times):>9.0f} | "
            f"{1000 * max(times):>8.0f}"
        )


if __name__ == "__main__":
    main()
