"""A run's record is bounded whatever the job returns, raises or prints; so is memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.processes import Daemon, clean_env, cli
from yamlcron import limits
from yamlcron.interfaces import Outcome
from yamlcron.runs import Run, RunError, RunStatus

MB = 1_000_000

TASKS = """
def big_result():
    return {"rows": ["x" * 100] * 30_000}

def big_error():
    raise ValueError("y" * 3_000_000)

def big_output(megabytes):
    import sys
    line = "z" * 999 + "\\n"
    for _ in range(megabytes * 1000):
        sys.stdout.write(line)
    return "printed"
"""


def _manifest(folder: Path, executor: str) -> None:
    (folder / "limits_tasks.py").write_text(TASKS)
    (folder / "jobs.yaml").write_text(
        textwrap.dedent(f"""\
        version: 1
        defaults: {{executor: {executor}}}
        jobs:
          result: {{trigger: {{cron: "@yearly"}}, run: {{call: "limits_tasks:big_result"}}}}
          error: {{trigger: {{cron: "@yearly"}}, run: {{call: "limits_tasks:big_error"}}}}
          output: {{trigger: {{cron: "@yearly"}}, run: {{call: "limits_tasks:big_output", args: [3]}}}}
        """)
    )


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_result_error_and_output_are_cut_with_a_mark(
    cli: Callable[..., CliResult], tmp_path: Path, executor: str
) -> None:
    _manifest(tmp_path, executor)
    assert cli("apply", "-f", tmp_path / "jobs.yaml").code == 0
    runs = {}
    for job in ("result", "error", "output"):
        done = cli("trigger", job, "--wait", "--output", "json", "-f", tmp_path / "jobs.yaml")
        runs[job] = json.loads(done.out)
    result = runs["result"]["result"]
    assert isinstance(result, str)  # its JSON text, cut: no longer a mapping
    assert result.startswith('{"rows": ["xxx')
    assert result.endswith(" cut ...]")
    assert len(result) <= limits.RESULT_LIMIT + 100
    error = runs["error"]["error"]
    assert error["type"] == "ValueError"
    assert len(error["message"]) <= limits.MESSAGE_LIMIT + 100
    assert error["message"].endswith("3.0 MB cut ...]")
    assert len(error["traceback"]) <= limits.TRACEBACK_LIMIT + 100
    assert "Traceback (most recent call last)" in error["traceback"]
    assert " cut ...]\n" in error["traceback"]
    output = runs["output"]["output"]
    assert output.startswith("[... 2.9 MB cut ...]\n")
    assert len(output.encode()) == limits.OUTPUT_LIMIT


def test_an_executors_outcome_is_capped_on_its_way_to_the_record() -> None:
    # Any executor, a plugin's too: the cap is where every outcome passes.
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    run = Run(id=1, job_id="j", scheduled_at=moment, attempt=1, status=RunStatus.RUNNING)
    outcome = Outcome(
        status=RunStatus.FAILURE,
        result=["r" * 100] * 10_000,
        error=RunError(type="Big", message="m" * MB, traceback="t" * MB),
        output="o" * MB,
    )
    ended = run.ended(outcome, moment, moment)
    assert isinstance(ended.result, str)
    assert len(ended.result) < limits.RESULT_LIMIT + 100
    assert ended.error is not None
    assert len(ended.error.message) < limits.MESSAGE_LIMIT + 100
    assert ended.error.traceback is not None
    assert len(ended.error.traceback) < limits.TRACEBACK_LIMIT + 100
    assert len(ended.output) == limits.OUTPUT_LIMIT
    small = Outcome(status=RunStatus.SUCCESS, result={"a": 1}, output="fine\n")
    assert run.ended(small, moment, moment).result == {"a": 1}


def _peak_rss(folder: Path, job: str) -> int:
    """The peak resident memory (kB) of a ``yamlcron trigger --wait`` running ``job`` alone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "trigger", job, "--wait"],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return usage.ru_maxrss


@pytest.mark.process
@pytest.mark.parametrize(
    "run",
    [
        '{call: "limits_tasks:big_output", args: [MEGABYTES]}, executor: process',
        '{shell: "head -c MEGABYTES000000 /dev/zero | tr \\"\\\\\\\\0\\" x"}',
    ],
    ids=["process", "subprocess"],
)
def test_memory_does_not_grow_with_a_runs_output(tmp_path: Path, run: str) -> None:
    (tmp_path / "limits_tasks.py").write_text(TASKS)
    jobs = "".join(
        f"  out{size}: {{trigger: {{cron: '@yearly'}}, run: {run.replace('MEGABYTES', str(size))}}}\n"
        for size in (1, 40)
    )
    (tmp_path / "jobs.yaml").write_text(f"version: 1\njobs:\n{jobs}")
    subprocess.run(
        [sys.executable, "-m", "yamlcron", "apply"],
        cwd=tmp_path,
        env=clean_env(),
        check=True,
        capture_output=True,
    )
    small = _peak_rss(tmp_path, "out1")
    large = _peak_rss(tmp_path, "out40")
    # 40 times the output, not 40 times the memory: the growth is a small part of 39 MB.
    assert (large - small) * 1000 < 39 * MB // 4


@pytest.mark.process
def test_large_values_of_thread_jobs_do_not_stay_with_the_daemon(tmp_path: Path) -> None:
    # Each run may land on another worker thread, whose arena would keep its 20 MB.
    (tmp_path / "tasks.py").write_text('def big():\n    return "r" * 20_000_000\n')
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\njobs:\n  big: {trigger: {cron: '0 0 1 1 *'}, run: {call: 'tasks:big'}}\n"
    )
    daemon = Daemon(tmp_path)
    try:
        daemon.wait_for(lambda: "running 1 jobs" in daemon.log.read_text(), "the start")
        sizes = []
        for _ in range(8):
            assert cli(tmp_path, "trigger", "big", "--wait").returncode == 0
            sizes.append(_rss_mib(daemon.proc.pid))
        # Each run builds 20 MB (and its JSON text); what stays is far less than one of them.
        assert sizes[-1] - sizes[0] < 20, sizes
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def _rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096 / 2**20
