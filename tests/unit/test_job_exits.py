"""Job code that ends with what is not an ``Exception`` cannot stop the scheduler.

``sys.exit()`` (every click or argparse ``main()``), ``KeyboardInterrupt`` and
``GeneratorExit`` pass every ``except Exception``: raised by a ``call:`` job they used to
end the worker thread, leave the run ``running`` and, once every worker was gone, stop
all firing. They are recorded as a command line's exit would read (docs/running.md,
"How a call: job ends").
"""

from __future__ import annotations

import logging
import signal
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clock import FakeClock
from tests.processes import Daemon
from yamlcron import reconcile
from yamlcron.interfaces import Outcome, RunContext
from yamlcron.manifest import parse_manifest
from yamlcron.registry import Registry, build_registry
from yamlcron.runs import RunStatus
from yamlcron.scheduler.loop import Scheduler
from yamlcron.scheduler.parts import Parts, utc_now
from yamlcron.scheduler.pool import WorkerPool
from yamlcron.schedulerconfig import SchedulerConfig
from yamlcron.store.sqlite import SQLiteStore

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

ENDINGS = """
import sys

def leave(code="absent"):
    if code == "absent":
        sys.exit()
    sys.exit(code)

def interrupt():
    raise KeyboardInterrupt

def generator_exit():
    raise GeneratorExit

def fine():
    return "fine"
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return build_registry(autoload=False)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    """A module of job functions, by a name of its own: imported modules stay imported."""
    path = tmp_path / f"endings_{uuid.uuid4().hex[:8]}.py"
    path.write_text(ENDINGS)
    return path


def execute(
    registry: Registry, folder: Path, executor: str, call: str, kwargs: str = "{}"
) -> Outcome:
    """Run ``call`` once on ``executor``; a ``call`` ending in ``!`` runs as yamlcron stops it."""
    stopping = threading.Event()
    if call.endswith("!"):
        call = call[:-1]
        stopping.set()
    text = textwrap.dedent(f"""\
        version: 1
        jobs:
          j:
            trigger: {{cron: '@daily'}}
            run: {{call: "{call}", kwargs: {kwargs}}}
            executor: {executor}
        """)
    spec = parse_manifest(text, folder / "jobs.yaml").jobs["j"]
    context = RunContext(
        run_id=1,
        job=spec,
        scheduled_at=T0,
        attempt=1,
        folder=folder,
        cancel=stopping,
        env={},
    )
    return registry.executor(executor).execute(context)


@pytest.mark.parametrize("executor", ["thread", "process"])
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (("leave", "{}"), (RunStatus.SUCCESS, 0, None)),
        (("leave", "{code: 0}"), (RunStatus.SUCCESS, 0, None)),
        (("leave", "{code: 3}"), (RunStatus.FAILURE, 3, ("SystemExit", "exited with code 3"))),
        (("leave", "{code: 'no input'}"), (RunStatus.FAILURE, 1, ("SystemExit", "no input"))),
        (("interrupt", "{}"), (RunStatus.FAILURE, ..., ("KeyboardInterrupt", "raised"))),
        (("generator_exit", "{}"), (RunStatus.FAILURE, ..., ("GeneratorExit", "raised"))),
    ],
)
def test_a_call_ends_as_a_command_line_would(
    registry: Registry,
    module: Path,
    executor: str,
    call: tuple[str, str],
    expected: tuple[RunStatus, object, tuple[str, str] | None],
) -> None:
    (function, kwargs), (status, exit_code, error) = call, expected
    outcome = execute(registry, module.parent, executor, f"{module.stem}:{function}", kwargs)
    assert outcome.status == status, outcome
    if exit_code is not ...:
        assert outcome.exit_code == exit_code
    if error is None:
        assert outcome.error is None
    else:
        assert outcome.error is not None
        assert outcome.error.type == error[0]
        assert error[1] in outcome.error.message
        assert function in (outcome.error.traceback or "")  # where the job left


def test_a_module_that_exits_on_import_is_the_jobs_failure(
    registry: Registry, tmp_path: Path
) -> None:
    name = f"exits_on_import_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("import sys\nsys.exit(2)\n")
    outcome = execute(registry, tmp_path, "thread", f"{name}:main", "{}")
    assert (outcome.status, outcome.exit_code) == (RunStatus.FAILURE, 2)


@pytest.fixture
def running(
    tmp_path: Path, module: Path, registry: Registry
) -> Iterator[tuple[Scheduler, FakeClock]]:
    """A scheduler of real worker threads (two) and a real recorder, over a SQLite file."""
    jobs = {
        "a_exit_0": ("leave", "{code: 0}"),
        "b_exit_3": ("leave", "{code: 3}"),
        "c_interrupt": ("interrupt", "{}"),
        "d_generator_exit": ("generator_exit", "{}"),
        "e_fine": ("fine", "{}"),
    }
    text = "version: 1\njobs:\n" + "".join(
        f"  {job}:\n    trigger: {{interval: 10s}}\n"
        f"    run: {{call: '{module.stem}:{function}', kwargs: {kwargs}}}\n"
        for job, (function, kwargs) in jobs.items()
    )
    manifest = parse_manifest(text, tmp_path / "jobs.yaml")
    store = SQLiteStore(tmp_path / "state.db")
    stored = store.load_jobs()
    reconcile.apply(reconcile.plan(manifest, stored, T0), manifest, store, stored, T0)
    clock = FakeClock(T0)
    made = Scheduler(store, registry, tmp_path, SchedulerConfig(workers=2), Parts(clock=clock))
    yield made, clock
    made.stop(5)
    store.close()


def test_exits_in_jobs_leave_every_worker_and_every_run_recorded(
    running: tuple[Scheduler, FakeClock],
) -> None:
    # Five jobs, two workers: before, the first two exits ended both workers and the
    # three runs after them never ran; the runs stayed "running".
    scheduler, clock = running
    for tick in (1, 2):
        clock.now = T0 + timedelta(seconds=10 * tick)
        scheduler.tick(clock.now)
        assert scheduler.wait_idle(30), "runs never ran: the workers are gone"
        assert scheduler.flush(30)
    ends = {
        (run.job_id, run.status, run.exit_code, run.error and run.error.type)
        for run in scheduler.store.runs(None, limit=100)
    }
    assert ends == {
        ("a_exit_0", RunStatus.SUCCESS, 0, None),
        ("b_exit_3", RunStatus.FAILURE, 3, "SystemExit"),
        ("c_interrupt", RunStatus.FAILURE, None, "KeyboardInterrupt"),
        ("d_generator_exit", RunStatus.FAILURE, None, "GeneratorExit"),
        ("e_fine", RunStatus.SUCCESS, None, None),
    }
    assert len(scheduler.store.runs(None, limit=100)) == 10  # both passes ran every job


def test_a_pool_that_loses_a_thread_replaces_it_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = WorkerPool(2, utc_now, name="losing")
    meet = threading.Barrier(3, timeout=30)  # both workers and this thread
    caplog.set_level(logging.ERROR, "yamlcron.scheduler.pool")

    def escape() -> None:  # what no unit of work should let out; a bug if it does
        raise SystemExit(0)

    def meet_there() -> None:
        meet.wait()

    try:
        pool.submit(escape)
        pool.submit(escape)
        pool.submit(meet_there)
        pool.submit(meet_there)
        meet.wait()  # broken (an error) unless two workers are still there
    finally:
        pool.shutdown()
    died = [r for r in caplog.records if "died; starting another" in r.getMessage()]
    assert len(died) == 2
    assert all(r.exc_info and r.exc_info[0] is SystemExit for r in died)


LEAVER = """
import os
from pathlib import Path

def leave_once():
    marker = Path(__file__).with_name("left")
    if not marker.exists():
        marker.write_text("")
        os._exit(7)
    return "stayed"
"""


@pytest.mark.process
def test_os_exit_on_thread_ends_the_daemon_and_the_next_start_marks_the_run_interrupted(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    (tmp_path / "leaver.py").write_text(LEAVER)
    jobs = "j:\n  trigger: {interval: 1s}\n  run: {call: 'leaver:leave_once'}\n"
    first = daemon(jobs, "--no-watch")
    assert first.exit_code() == 7  # os._exit ends the process it runs in: the daemon
    second = daemon(jobs, "--no-watch")
    second.wait_for(lambda: "success" in second.statuses("j"), "a run after the restart")
    assert second.statuses("j")[0] == "interrupted"  # crash recovery
    second.signal(signal.SIGTERM)
    assert second.exit_code() == 0


def test_os_exit_on_process_ends_only_the_run(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "leaver.py").write_text(LEAVER)
    outcome = execute(registry, tmp_path, "process", "leaver:leave_once", "{}")
    assert (outcome.status, outcome.exit_code) == (RunStatus.FAILURE, 7)
    assert execute(registry, tmp_path, "process", "leaver:leave_once", "{}").result == "stayed"


def test_a_keyboard_interrupt_while_yamlcron_stops_the_run_is_an_interruption(
    registry: Registry, module: Path
) -> None:
    # A second Ctrl-C on a run made in the calling thread ('trigger' without a daemon)
    # reaches the call as KeyboardInterrupt, while the first one has set cancel.
    outcome = execute(registry, module.parent, "thread", f"{module.stem}:interrupt!")
    assert outcome.status == RunStatus.INTERRUPTED
