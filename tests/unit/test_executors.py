"""The built-in executors, found through the registry, running real processes."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from yamlcron.interfaces import Outcome, RunContext
from yamlcron.manifest import parse_manifest
from yamlcron.registry import Registry, build_registry
from yamlcron.runs import RunStatus

TASKS = """
import os, time

def add(a, b):
    return a + b

def context(YAMLCRON_JOB_ID, YAMLCRON_ATTEMPT, **rest):
    return {"job": YAMLCRON_JOB_ID, "attempt": YAMLCRON_ATTEMPT, "run": rest["YAMLCRON_RUN_ID"]}

def odd():
    return {1, 2}

def fail():
    raise ValueError("bad input")

def nap(seconds):
    print("napping", flush=True)
    time.sleep(seconds)
    return "woke"

def env():
    return os.environ.get("GREETING")

def offered(**kwargs):
    return sorted(kwargs)

def chatty(fail=False):
    import sys
    print("to stdout")
    print("to stderr", file=sys.stderr)
    if fail:
        raise RuntimeError("after printing")
    return "done"
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(autoload=False)


def run_job(
    registry: Registry,
    folder: Path,
    job: str,
    *,
    cancel: threading.Event | None = None,
    kill_grace: float = 2.0,
) -> Outcome:
    (folder / "tasks_for_tests.py").write_text(TASKS)
    text = "version: 1\njobs:\n  j:\n" + textwrap.indent(textwrap.dedent(job), "    ")
    spec = parse_manifest(text, folder / "jobs.yaml").jobs["j"]
    context = RunContext(
        run_id=7,
        job=spec,
        scheduled_at=datetime(2026, 1, 1, tzinfo=UTC),
        attempt=2,
        folder=folder,
        cancel=cancel or threading.Event(),
        kill_grace=kill_grace,
        env={
            "YAMLCRON_JOB_ID": "j",
            "YAMLCRON_RUN_ID": "7",
            "YAMLCRON_SCHEDULED_AT": "2026-01-01T00:00:00+00:00",
            "YAMLCRON_ATTEMPT": "2",
        },
    )
    return registry.executor(spec.executor).execute(context)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_shell_exit_code_and_interleaved_output(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "echo out; echo err >&2; echo $YAMLCRON_JOB_ID $YAMLCRON_ATTEMPT; exit 3"}
    """,
    )
    assert outcome.status == RunStatus.FAILURE
    assert outcome.exit_code == 3
    assert outcome.output == "out\nerr\nj 2\n"
    assert outcome.error is not None
    assert outcome.error.message == "exited with code 3"


def test_command_env_cwd_and_templates(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("WHO", "world")
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run:
          command: ["sh", "-c", "echo $GREETING $1 $(pwd)", "_", "${WHO}-$${LITERAL}"]
          env: {GREETING: "hello ${WHO:-nobody} ${MISSING:-fallback}"}
          cwd: sub
    """,
    )
    assert outcome.status == RunStatus.SUCCESS
    assert outcome.output == f"hello world fallback world-${{LITERAL}} {tmp_path / 'sub'}\n"


def test_output_keeps_the_last_64_kib(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "seq 1 100000"}
    """,
    )
    assert outcome.status == RunStatus.SUCCESS
    assert len(outcome.output.encode()) == 64 * 1024
    assert outcome.output.endswith("99999\n100000\n")


def test_timeout_kills_the_whole_group(registry: Registry, tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "sleep 100 & echo $!; wait", timeout: 1s}
    """,
    )
    assert time.monotonic() - started < 10
    assert outcome.status == RunStatus.TIMEOUT
    assert outcome.error is not None
    assert "timed out after 1.0 s" in outcome.error.message
    grandchild = int(outcome.output.split()[0])
    assert not alive(grandchild)


def test_term_ignoring_child_gets_killed(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "trap '' TERM; echo $$; sleep 100 & wait", timeout: 1s}
    """,
        kill_grace=1.0,
    )
    assert outcome.status == RunStatus.TIMEOUT
    assert not alive(int(outcome.output.split()[0]))


def test_leftover_grandchild_does_not_outlive_its_run(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "sleep 100 >/dev/null 2>&1 & echo $!"}
    """,
    )
    assert outcome.status == RunStatus.SUCCESS
    assert not alive(int(outcome.output.split()[0]))


def test_cancel_interrupts(registry: Registry, tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {shell: "sleep 100"}
    """,
        cancel=cancel,
    )
    assert outcome.status == RunStatus.INTERRUPTED


def test_missing_program(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {command: ["no-such-program-xyz"]}
    """,
    )
    assert outcome.status == RunStatus.FAILURE
    assert outcome.error is not None
    assert outcome.error.message.startswith("cannot start 'no-such-program-xyz'")


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_callable_result(registry: Registry, tmp_path: Path, executor: str) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        f"""\
        trigger: {{cron: '@daily'}}
        run: {{call: "tasks_for_tests:add", args: [2], kwargs: {{b: 40}}}}
        executor: {executor}
    """,
    )
    assert (outcome.status, outcome.result) == (RunStatus.SUCCESS, 42)


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_callable_context_and_repr(registry: Registry, tmp_path: Path, executor: str) -> None:
    context = run_job(
        registry,
        tmp_path,
        f"""\
        trigger: {{cron: '@daily'}}
        run: {{call: "tasks_for_tests:context"}}
        executor: {executor}
    """,
    )
    assert context.result == {"job": "j", "attempt": "2", "run": "7"}
    odd = run_job(
        registry,
        tmp_path,
        f"""\
        trigger: {{cron: '@daily'}}
        run: {{call: "tasks_for_tests:odd"}}
        executor: {executor}
    """,
    )
    assert odd.result == "{1, 2}"


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_callable_exception(registry: Registry, tmp_path: Path, executor: str) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        f"""\
        trigger: {{cron: '@daily'}}
        run: {{call: "tasks_for_tests:fail"}}
        executor: {executor}
    """,
    )
    assert outcome.status == RunStatus.FAILURE
    assert outcome.error is not None
    assert (outcome.error.type, outcome.error.message) == ("ValueError", "bad input")
    assert 'raise ValueError("bad input")' in (outcome.error.traceback or "")


def test_import_error_is_a_failure(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {call: "no_such_module:f"}
    """,
    )
    assert outcome.status == RunStatus.FAILURE
    assert outcome.error is not None
    assert outcome.error.type == "ModuleNotFoundError"


def test_process_timeout_really_stops_the_call(registry: Registry, tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {call: "tasks_for_tests:nap", args: [100], timeout: 2s}
        executor: process
    """,
    )
    assert outcome.status == RunStatus.TIMEOUT
    assert outcome.output == "napping\n"
    assert time.monotonic() - started < 15


def test_process_env_and_thread_refuses_env(registry: Registry, tmp_path: Path) -> None:
    job = """\
        trigger: {cron: '@daily'}
        run: {call: "tasks_for_tests:env", env: {GREETING: hi}}
        executor: %s
    """
    assert run_job(registry, tmp_path, job % "process").result == "hi"
    refused = run_job(registry, tmp_path, job % "thread")
    assert refused.status == RunStatus.FAILURE
    assert refused.error is not None
    assert "use executor: process" in refused.error.message
    assert "GREETING" not in os.environ


def test_process_offers_only_yamlcron_names_as_keyword_arguments(
    registry: Registry, tmp_path: Path
) -> None:
    # env: entries reach the process's environment, never the callable's **kwargs.
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {call: "tasks_for_tests:offered", kwargs: {days: 7}, env: {SECRET: s3cr3t}}
        executor: process
    """,
    )
    assert outcome.result == [
        "YAMLCRON_ATTEMPT",
        "YAMLCRON_JOB_ID",
        "YAMLCRON_RUN_ID",
        "YAMLCRON_SCHEDULED_AT",
        "days",
    ]


@pytest.mark.parametrize("fail", [False, True])
def test_thread_output_is_the_runs_own(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], fail: bool
) -> None:
    # What a call prints is its run's output, as for the other executors, not unlabelled
    # lines in the daemon's log; the real streams are back once no thread run is under way.
    streams = (sys.stdout, sys.stderr)
    outcome = run_job(
        registry,
        tmp_path,
        f"""\
        trigger: {{cron: '@daily'}}
        run: {{call: "tasks_for_tests:chatty", kwargs: {{fail: {str(fail).lower()}}}}}
    """,
    )
    assert outcome.status == (RunStatus.FAILURE if fail else RunStatus.SUCCESS)
    assert outcome.output == "to stdout\nto stderr\n"
    assert (sys.stdout, sys.stderr) == streams
    assert capsys.readouterr() == ("", "")


def test_thread_timeout(registry: Registry, tmp_path: Path) -> None:
    outcome = run_job(
        registry,
        tmp_path,
        """\
        trigger: {cron: '@daily'}
        run: {call: "tasks_for_tests:nap", args: [3], timeout: 1s}
    """,
    )
    assert outcome.status == RunStatus.TIMEOUT
    assert outcome.output == "napping\n"  # what it printed before its time was up


def test_a_cannot_start_error_shows_the_command_and_cwd_as_written(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ${VAR} is expanded at run time and may hold a secret: the stored error never does.
    monkeypatch.setenv("SECRET_BIN", "/no/such/bin-s3cr3t")
    monkeypatch.setenv("SECRET_DIR", "no-such-dir-s3cr3t")
    messages = []
    for run in ('{command: ["${SECRET_BIN}", "-x"]}', '{command: ["true"], cwd: "${SECRET_DIR}"}'):
        outcome = run_job(registry, tmp_path, f"trigger: {{cron: '@daily'}}\nrun: {run}\n")
        assert outcome.error is not None
        messages.append(outcome.error.message)
    assert messages[0].startswith("cannot start '${SECRET_BIN}' in the manifest's folder: ")
    assert messages[1].startswith("cannot start 'true' in ${SECRET_DIR}: ")
    assert not any("s3cr3t" in m for m in messages)
