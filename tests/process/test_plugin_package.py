"""The example plugin package, copied as it stands, pip-installed into a fresh virtualenv."""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

from tests.tools import ROOT

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job

EXAMPLE = ROOT / "examples" / "plugin"


def test_example_plugin_installs_and_works_under_yamlcron_run(tmp_path: Path) -> None:
    package = tmp_path / "yamlcron-jsonl"
    shutil.copytree(EXAMPLE, package)  # as a plugin author would copy it
    venv = tmp_path / "venv"
    # --without-pip: pip and setuptools come from this environment, like the rest below.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The fresh venv sees this environment's packages (yamlcron and its dependencies) the
    # way a --system-site-packages venv sees the system's: no download needed.
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    outer = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (purelib / "outer-env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(outer))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YAMLCRON_", "PYTHON"))}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(package),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr

    listed = subprocess.run(
        [str(python), "-m", "yamlcron", "plugins", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    mine = next(p for p in json.loads(listed.stdout) if p["name"] == "jsonl")
    assert mine["origin"] == "entry point (yamlcron-jsonl)"
    assert mine["version"] == "1.0.0"
    assert mine["provides"] == {"executors": ["echo"], "notifiers": ["jsonl"]}

    work = tmp_path / "work"
    work.mkdir()
    (work / "jobs.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        jobs:
          hello:
            trigger: {interval: 1s}
            run: {command: ["hello", "world"]}
            executor: echo
            notify: [{via: jsonl, path: events.jsonl, on: [started, success]}]
    """)
    )
    daemon = subprocess.Popen(
        [str(python), "-m", "yamlcron", "run"], cwd=work, env=env, stderr=subprocess.PIPE, text=True
    )
    events = work / "events.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        not events.exists() or events.read_text().count("\n") < 4
    ):
        time.sleep(0.1)
    daemon.send_signal(signal.SIGTERM)
    _, log = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, log
    kinds = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert kinds[:2] == ["run.started", "run.succeeded"], kinds
    history = subprocess.run(
        [str(python), "-m", "yamlcron", "history", "hello", "-o", "json"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    run = json.loads(history.stdout)[-1]
    assert (run["status"], run["output"]) == ("success", "hello world\n")

    # The package's own tests pass against this installation.
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        cwd=package,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout
