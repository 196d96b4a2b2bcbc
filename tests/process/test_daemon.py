"""`yamlcron run` as a real process: signals, crash recovery, triggers, reloads."""

from __future__ import annotations

import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import Daemon, cli
from yamlcron.warden import running

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job


def test_runs_records_and_exits_0_on_sigterm(daemon: Callable[..., Daemon]) -> None:
    d = daemon("""\
        tick:
          trigger: {interval: 1s}
          run: {shell: "echo tick $YAMLCRON_ATTEMPT"}
    """)
    d.wait_for(lambda: len(d.statuses("tick")) >= 2, "two runs")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    output = d.rows("SELECT output, exit_code FROM runs WHERE job_id = 'tick' LIMIT 1")
    assert output == [("tick 1\n", 0)]
    assert "Traceback" not in d.log.read_text()


def test_sigterm_while_it_starts_stops_it_cleanly(daemon: Callable[..., Daemon]) -> None:
    # 20,000 jobs to apply: the store exists long before the loop and its handlers do.
    many = "".join(
        f"j{i}: {{trigger: {{cron: '{i % 60} 3 * * *'}}, run: {{command: [echo]}}}}\n"
        for i in range(20_000)
    )
    d = daemon(many)
    d.wait_for(lambda: (d.folder / ".yamlcron" / "state.db").exists(), "the store")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0  # not killed by the signal's default action (-15)
    assert "SIGTERM: stopping" in d.log.read_text()


def test_sigterm_waits_for_the_run_under_way(daemon: Callable[..., Daemon]) -> None:
    d = daemon("""\
        slow:
          trigger: {interval: 1s}
          run: {shell: "sleep 2; echo finished"}
    """)
    d.wait_for(lambda: d.statuses("slow") == ["running"], "a run under way")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    assert d.statuses("slow") == ["success"]
    assert d.rows("SELECT output FROM runs") == [("finished\n",)]


def test_shutdown_timeout_stops_the_run(daemon: Callable[..., Daemon]) -> None:
    d = daemon(
        """\
        slow:
          trigger: {interval: 1s}
          run: {shell: "sleep 100"}
    """,
        "--shutdown-timeout",
        "0.5",
    )
    d.wait_for(lambda: d.statuses("slow") == ["running"], "a run under way")
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    assert time.monotonic() - started < 10
    assert d.statuses("slow") == ["interrupted"]


def test_second_signal_stops_at_once(daemon: Callable[..., Daemon]) -> None:
    d = daemon("""\
        slow:
          trigger: {interval: 1s}
          run: {shell: "sleep 100"}
    """)
    d.wait_for(lambda: d.statuses("slow") == ["running"], "a run under way")
    d.signal(signal.SIGINT)
    time.sleep(0.3)  # the first signal is being handled; not waiting on a schedule
    d.signal(signal.SIGINT)
    assert d.exit_code(timeout=15) == 0
    assert d.statuses("slow") == ["interrupted"]


def test_kill_9_then_restart_marks_interrupted_and_retries(daemon: Callable[..., Daemon]) -> None:
    jobs = """\
        slow:
          trigger: {cron: "0 0 1 1 *"}
          run: {shell: "echo $$ >> groups; echo attempt $YAMLCRON_ATTEMPT; sleep 100"}
          retry: {attempts: 2, delay: 0s}
    """
    d = daemon(jobs)
    d.wait_for(lambda: d.rows("SELECT 1 FROM jobs") != [], "the apply")
    assert cli(d.folder, "trigger", "slow").returncode == 0
    d.wait_for(lambda: d.statuses("slow") == ["running"], "a run under way")
    d.wait_for(lambda: d.rows("SELECT process_group FROM runs") != [(None,)], "its group")
    d.proc.kill()  # SIGKILL: nothing gets recorded by the dying process
    d.proc.wait()
    assert d.statuses("slow") == ["running"]
    # The retry sleeps: SIGTERM below waits 2 s for it, not 30, then stops its group.
    again = daemon(jobs, "--shutdown-timeout", "2")
    again.wait_for(lambda: again.statuses("slow") == ["interrupted", "running"], "recovery")
    attempts = again.rows("SELECT attempt, error FROM runs ORDER BY id")
    assert attempts[0][0] == 1
    assert "stopped or lost its lease" in attempts[0][1]
    assert attempts[1] == (2, None)
    # The first attempt's group died with its daemon: it never ran beside its retry.
    first = int((d.folder / "groups").read_text().split()[0])
    assert not running(first)
    again.signal(signal.SIGTERM)
    assert again.exit_code() == 0
    assert again.statuses("slow") == ["interrupted", "interrupted"]  # the retry stopped, too


def test_a_paused_sqlite_daemon_keeps_its_runs_and_an_idle_one_writes_nothing(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(
        """\
        slow:
          trigger: {cron: "0 0 1 1 *"}
          run: {shell: "sleep 1; echo done"}
    """,
        "--lease-ttl",
        "1",
    )
    # Started: the lease joined and the manifest applied (its writes are over).
    d.wait_for(lambda: "running 1 jobs" in d.log.read_text(), "the start")
    files = sorted((d.folder / ".yamlcron").glob("state.db*"))
    before = [(f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    time.sleep(1.2)  # over three heartbeats of a 1 s lease; not waiting on a schedule
    assert [(f.stat().st_size, f.stat().st_mtime_ns) for f in files] == before
    assert cli(d.folder, "trigger", "slow").returncode == 0
    d.wait_for(lambda: d.statuses("slow") == ["running"], "a run under way")
    d.signal(signal.SIGSTOP)  # frozen for three lease times: no other daemon could take over
    time.sleep(3.0)
    d.signal(signal.SIGCONT)
    d.wait_for(lambda: d.statuses("slow") == ["success"], "the run's result")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0
    assert d.rows("SELECT attempt, output FROM runs") == [(1, "done\n")]
    assert "lost" not in d.log.read_text()


def test_misfires_while_down_follow_the_grace(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    jobs = """\
        often:
          trigger: {interval: 1s}
          run: {shell: "true"}
          misfire_grace_time: 1s
    """
    d = daemon(jobs)
    d.wait_for(lambda: "success" in d.statuses("often"), "a run")
    d.proc.kill()
    d.proc.wait()
    before = len(d.statuses("often"))
    time.sleep(4)  # downtime is what this test is about
    again = daemon(jobs)
    again.wait_for(lambda: "missed" in again.statuses("often"), "missed runs after downtime")
    again.signal(signal.SIGTERM)
    assert again.exit_code() == 0
    assert len(again.statuses("often")) > before


def test_trigger_wait_through_the_daemon(daemon: Callable[..., Daemon]) -> None:
    d = daemon("""\
        report:
          trigger: {cron: "0 0 1 1 *"}
          run: {shell: "echo report for $YAMLCRON_JOB_ID"}
        broken:
          trigger: {cron: "0 0 1 1 *"}
          run: {shell: "exit 4"}
    """)
    d.wait_for(lambda: len(d.rows("SELECT 1 FROM jobs")) == 2, "the apply")
    d.wait_for(lambda: d.rows("SELECT 1 FROM sqlite_master WHERE name='queue'") != [], "schema")
    started = time.monotonic()
    ok = cli(d.folder, "trigger", "report", "--wait", "-o", "json")
    assert ok.returncode == 0, ok.stderr
    assert '"output": "report for report\\n"' in ok.stdout
    assert time.monotonic() - started < 10
    node = d.rows("SELECT node FROM runs")[0][0]
    assert node.endswith(f":{d.proc.pid}")  # the daemon ran it, not the CLI
    failed = cli(d.folder, "trigger", "broken", "--wait")
    assert failed.returncode == 1
    assert "failure, exit 4" in failed.stdout
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0


def test_trigger_without_a_daemon_runs_in_process(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        jobs:
          report:
            trigger: {cron: "0 0 1 1 *"}
            run: {shell: "echo in-process"}
    """)
    )
    assert cli(tmp_path, "apply").returncode == 0
    result = cli(tmp_path, "trigger", "report", "--wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "in-process"
    unknown = cli(tmp_path, "trigger", "nope")
    assert (unknown.returncode, unknown.stderr.strip().splitlines()[-1]) == (
        1,
        "error: no job 'nope' in the store; run 'yamlcron apply' first",
    )


def test_sighup_reloads_and_a_bad_manifest_keeps_the_old(daemon: Callable[..., Daemon]) -> None:
    d = daemon(
        """\
        old:
          trigger: {interval: 1s}
          run: {shell: "true"}
    """,
        "--no-watch",
    )
    d.wait_for(lambda: "success" in d.statuses("old"), "the old job")
    manifest = d.folder / "jobs.yaml"
    manifest.write_text(
        "version: 1\njobs:\n  old: {trigger: {interval: 1s}, run: {shell: 'true'}}\n  new: {trigger: {cron: nope}, run: {shell: 'true'}}\n"
    )
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: "reload failed" in d.log.read_text(), "the reload error")
    assert (
        "jobs.yaml:4:25: jobs.new.trigger.cron: a cron expression has 5 fields" in d.log.read_text()
    )
    count = len(d.statuses("old"))
    d.wait_for(lambda: len(d.statuses("old")) > count, "the old job to keep firing")
    manifest.write_text(
        "version: 1\njobs:\n  old: {trigger: {interval: 1s}, run: {shell: 'true'}}\n  new: {trigger: {interval: 1s}, run: {shell: 'echo new'}}\n"
    )
    d.signal(signal.SIGHUP)
    d.wait_for(lambda: "success" in d.statuses("new"), "the new job")
    d.signal(signal.SIGTERM)
    assert d.exit_code() == 0


def test_invalid_manifest_at_start_and_a_second_daemon(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    bad = daemon("""\
        a: {trigger: {cron: "* * *"}, run: {shell: "true"}}
    """)
    assert bad.exit_code() == 1
    assert "jobs.yaml:3:23: jobs.a.trigger.cron" in bad.log.read_text()
    assert "Traceback" not in bad.log.read_text()
    assert not (tmp_path / ".yamlcron").exists()
    first = daemon("""\
        a: {trigger: {interval: 1h}, run: {shell: "true"}}
    """)
    first.wait_for(lambda: first.rows("SELECT 1 FROM jobs") != [], "the apply")
    second = Daemon(tmp_path)
    assert second.exit_code() == 1
    assert "in use by another 'yamlcron run' (pid" in second.log.read_text()
    first.signal(signal.SIGTERM)
    assert first.exit_code() == 0
