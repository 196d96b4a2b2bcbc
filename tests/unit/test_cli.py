"""The command line as a user drives it: real files, a real SQLite store, real processes."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import GOOD, CliResult, dump_store
from tests.processes import clean_env
from yamlcron.cli import build_cli
from yamlcron.cli.logs import TextFormatter
from yamlcron.runs import Claim, NewRun, RunStatus
from yamlcron.store.sqlite import SQLiteStore

COMMANDS = ["validate", "plan", "apply", "jobs", "next"]


def yamlcron(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    full_env = clean_env() | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "yamlcron", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_new_user_flow_in_real_processes(project: Path) -> None:
    validate = yamlcron("validate", cwd=project)
    assert (validate.returncode, validate.stdout) == (0, "jobs.yaml: valid, 4 jobs\n")
    assert not (project / ".yamlcron").exists()  # validate writes nothing

    plan = yamlcron("plan", "--detailed-exitcode", cwd=project)
    assert plan.returncode == 2
    assert plan.stdout.splitlines()[-1] == "Plan: 4 to add, 0 to change, 0 to remove, 0 unchanged."
    assert not (project / ".yamlcron").exists()  # plan against a missing store writes nothing

    apply = yamlcron("apply", cwd=project)
    assert apply.returncode == 0, apply.stderr
    assert apply.stdout.splitlines()[-1] == "Applied."
    assert (project / ".yamlcron" / "state.db").exists()

    again = yamlcron("plan", "--detailed-exitcode", cwd=project)
    assert (again.returncode, again.stdout) == (0, "No changes: 4 unchanged.\n")

    jobs = yamlcron("jobs", "-o", "json", cwd=project)
    rows = json.loads(jobs.stdout)
    assert [r["id"] for r in rows] == ["backup", "cleanup", "launch", "report"]
    assert set(rows[0]) == {"id", "trigger", "executor", "paused", "next_run_at", "last_status"}
    assert rows[0]["trigger"] == "cron 0 3 * * * (Europe/Berlin)"
    assert rows[0]["next_run_at"].endswith(("T03:00:00+01:00", "T03:00:00+02:00"))


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = yamlcron("validate", "-f", "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 1
    assert (
        missing.stderr == "error: nope.yaml: cannot read the manifest: No such file or directory\n"
    )
    (tmp_path / "jobs.yaml").write_text("version: 1\njobs:\n  a: {trigger: {cron: nope}}\n")
    bad = yamlcron("apply", cwd=tmp_path)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert bad.stderr.splitlines() == [
        "jobs.yaml:3:3: jobs.a: missing required key 'run'",
        "jobs.yaml:3:23: jobs.a.trigger.cron: a cron expression has 5 fields (minute hour "
        "day-of-month month day-of-week) or 6 with seconds first; got 1 in 'nope'",
    ]
    assert not (tmp_path / ".yamlcron").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["plan", "--nope"],
        ["next"],
        ["next", "x", "--count", "0"],
        ["validate", "-o", "yaml"],
    ],
)
def test_usage_errors_exit_64(tmp_path: Path, args: list[str]) -> None:
    result = yamlcron(*args, cwd=tmp_path)
    assert result.returncode == 64, result
    assert "Traceback" not in result.stderr


def test_interrupt_exits_130(tmp_path: Path) -> None:
    # A command stuck waiting: for a run that sleeps (a FIFO manifest is refused unread).
    (tmp_path / "jobs.yaml").write_text(
        'version: 1\njobs:\n  slow:\n    trigger: {interval: 1h}\n    run: {command: [sleep, "60"]}\n'
    )
    assert yamlcron("apply", cwd=tmp_path).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "yamlcron", "trigger", "--wait", "slow"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a runner started in the background ignores
        # SIGINT, its children inherit that, and Python then installs no handler for it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Its run under way: the command is past its start-up, waiting (a fixed second was too
    # short on a loaded machine, where SIGINT came before Python's handler and killed it).
    state = tmp_path / ".yamlcron" / "state.db"
    while not _running(state):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err


def _running(state: Path) -> bool:
    with closing(sqlite3.connect(state)) as db:
        return db.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone() is not None


def test_env_variables_choose_file_and_store(tmp_path: Path, project: Path) -> None:
    store = tmp_path / "elsewhere" / "s.db"
    env = {"YAMLCRON_FILE": str(project / "jobs.yaml"), "YAMLCRON_STORE": f"sqlite://{store}"}
    assert yamlcron("apply", cwd=tmp_path, env=env).returncode == 0
    assert store.exists()
    assert not (project / ".yamlcron").exists()


def test_second_apply_is_a_no_op(cli: Callable[..., CliResult], project: Path) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    store = project / ".yamlcron" / "state.db"
    before = dump_store(store)
    second = cli("apply", "-f", path)
    assert (second.code, second.out) == (0, "No changes: 4 unchanged.\nNothing to apply.\n")
    assert dump_store(store) == before


def test_apply_json_shape(cli: Callable[..., CliResult], project: Path) -> None:
    result = cli("apply", "-f", project / "jobs.yaml", "-o", "json")
    assert json.loads(result.out) == {
        "add": ["backup", "cleanup", "launch", "report"],
        "change": {},
        "remove": [],
        "unchanged": 0,
    }


def test_deletion_guard_refuses_and_force_applies(
    cli: Callable[..., CliResult], project: Path
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    store = project / ".yamlcron" / "state.db"
    before = dump_store(store)
    path.write_text(GOOD.split("  cleanup:")[0])  # keeps only 'backup': removes 3 of 4
    refused = cli("apply", "-f", path)
    assert refused.code == 1
    assert refused.err.strip().splitlines()[-1] == (
        "error: refusing to remove 3 of 4 stored jobs (more than half); "
        "pass --force if that is what you mean"
    )
    assert dump_store(store) == before
    assert cli("plan", "-f", path).code == 1
    assert cli("plan", "-f", path, "--force").code == 0
    forced = cli("apply", "-f", path, "--force")
    assert forced.code == 0
    assert cli("jobs", "-f", path, "-o", "json").out.count('"id"') == 1


def test_validate_json(cli: Callable[..., CliResult], write: Callable[[str], Path]) -> None:
    path = write("version: 1\njobs: {a: {trigger: {cron: '@daily'}, run: {shell: x}, x: 1}}\n")
    result = cli("validate", "-f", path, "-o", "json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "file": str(path),
        "valid": False,
        "issues": [
            {
                "file": str(path),
                "line": 2,
                "column": 56,
                "path": "jobs.a.x",
                "message": "unknown key 'x'; expected one of: trigger, run, description, "
                "tags, executor, coalesce, misfire_grace_time, max_instances, retry, "
                "paused, notify, history",
            }
        ],
    }


def test_next_prints_local_times(cli: Callable[..., CliResult], project: Path) -> None:
    path = project / "jobs.yaml"
    result = cli("next", "backup", "-f", path, "--count", "3", "--after", "2026-10-24T12:00")
    assert result.out.splitlines() == [
        "2026-10-25T03:00:00+01:00",
        "2026-10-26T03:00:00+01:00",
        "2026-10-27T03:00:00+01:00",
    ]
    as_json = cli(
        "next", "backup", "-f", path, "-n", "1", "--after", "2026-03-28T12:00", "-o", "json"
    )
    assert json.loads(as_json.out) == ["2026-03-29T03:00:00+02:00"]
    assert not (project / ".yamlcron").exists()


def test_next_interval_uses_the_stored_anchor(cli: Callable[..., CliResult], project: Path) -> None:
    path = project / "jobs.yaml"
    unapplied = cli(
        "next", "cleanup", "-f", path, "-n", "1", "--after", "2030-01-01T00:00:00+01:00"
    )
    assert unapplied.out.strip() == "2030-01-01T00:15:00+01:00"
    assert cli("apply", "-f", path).code == 0
    applied = cli("next", "cleanup", "-f", path, "-n", "2", "-o", "json")
    first, second = (datetime.fromisoformat(t) for t in json.loads(applied.out))
    assert (second - first).total_seconds() == 900
    # Anchored at the apply (whole seconds), a grid that --after does not move.
    shifted = cli(
        "next", "cleanup", "-f", path, "-n", "1", "-o", "json", "--after", first.isoformat()
    )
    assert json.loads(shifted.out) == [second.isoformat()]


def test_next_for_after_and_unknown_jobs(cli: Callable[..., CliResult], project: Path) -> None:
    path = project / "jobs.yaml"
    assert (
        cli("next", "report", "-f", path).out
        == "report fires after backup (success), not by time\n"
    )
    unknown = cli("next", "bakup", "-f", path)
    assert (unknown.code, unknown.err) == (
        1,
        f"error: no job 'bakup' in {path} (did you mean 'backup'?)\n",
    )
    bad_after = cli("next", "backup", "-f", path, "--after", "tomorrow")
    assert bad_after.code == 64


def test_every_command_help_has_an_example(cli: Callable[..., CliResult]) -> None:
    group = build_cli()
    assert set(group.commands) >= set(COMMANDS)
    for name in group.commands:
        result = cli(name, "--help")
        assert result.code == 0
        assert "Example:" in result.out, name
        # click keeps the example's lines as written only after its \b marker
        assert f"\n  Example:\n    yamlcron {name}" in result.out, result.out
        assert "\\b" not in result.out


def test_pause_resume_and_plan_shows_the_drift(
    cli: Callable[..., CliResult], project: Path
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    assert cli("pause", "backup", "-f", path).out == "paused backup\n"
    rows = {r["id"]: r for r in json.loads(cli("jobs", "-f", path, "-o", "json").out)}
    assert rows["backup"]["paused"] is True
    plan = cli("plan", "-f", path)
    assert plan.out.splitlines() == [
        "! backup: paused at run time, the manifest says not paused ('yamlcron resume backup' to undo)",
        "No changes: 4 unchanged.",
    ]
    assert cli("apply", "-f", path).code == 0  # an apply keeps the runtime override
    assert json.loads(cli("jobs", "-f", path, "-o", "json").out)[0]["paused"] is True
    resumed = cli("resume", "backup", "-f", path)
    assert resumed.out.startswith("resumed backup; next run 20")
    assert "T03:00:00+01:00" in resumed.out or "T03:00:00+02:00" in resumed.out
    assert cli("plan", "-f", path).out == "No changes: 4 unchanged.\n"
    assert cli("pause", "nope", "-f", path).code == 1


def test_unchanged_manifest_is_not_read_again_unless_the_rules_changed(
    cli: Callable[..., CliResult], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "jobs.yaml"
    path.write_text(
        GOOD.replace("jobs:\n", "notify: [{via: webhook, url: 'http://127.0.0.1:9/x'}]\njobs:\n")
    )
    assert cli("apply", "-f", path).code == 0
    store = project / ".yamlcron" / "state.db"
    before = dump_store(store)
    again = cli("apply", "-f", path)
    assert (again.code, again.out) == (0, "No changes: 4 unchanged.\nNothing to apply.\n")
    assert dump_store(store) == before
    assert cli("plan", "-f", path, "--detailed-exitcode").code == 0
    # Without the webhook notifier the same bytes are no longer valid: they are checked again.
    monkeypatch.setenv("YAMLCRON_DISABLED_PLUGINS", "yamlcron.plugins.webhook")
    refused = cli("apply", "-f", path)
    assert refused.code == 1
    assert "unknown notifier 'webhook'" in refused.err
    assert dump_store(store) == before


NO_STORE = "error: no store at .yamlcron/state.db beside jobs.yaml; run 'yamlcron apply -f jobs.yaml' first\n"


@pytest.mark.parametrize(
    "args", [["jobs"], ["history"], ["history", "backup"], ["replicas"], ["pause", "backup"]]
)
def test_reading_commands_without_a_store_say_where_they_looked(
    cli: Callable[..., CliResult], project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(project)
    result = cli(*args)
    assert (result.code, result.out, result.err) == (1, "", NO_STORE)
    assert not (project / ".yamlcron").exists()


def test_reading_commands_without_a_manifest(
    cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the README's follow-up, run from the wrong folder
    for args in (["jobs"], ["history"], ["resume", "x"]):
        result = cli(*args)
        assert (result.code, result.err) == (
            1,
            "error: no manifest jobs.yaml, so no store beside it; "
            "pass -f FILE or run in the manifest's folder\n",
        )
    other = tmp_path / "other.db"
    named = cli("jobs", "--store", other)
    assert named.err == (
        f"error: nothing was applied to the store {other} yet; "
        "run 'yamlcron apply --store URL' first\n"
    )


def test_empty_lists_are_empty_tables(cli: Callable[..., CliResult], project: Path) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    history = cli("history", "-f", path)
    assert (history.code, history.out.split()) == (0, list(HISTORY_WORDS))
    assert cli("history", "backup", "-f", path).out.split() == list(HISTORY_WORDS)
    assert json.loads(cli("history", "-f", path, "-o", "json").out) == []
    path.write_text("version: 1\njobs: {}\n")
    assert cli("apply", "-f", path, "--force").code == 0
    jobs = cli("jobs", "-f", path)
    assert (jobs.code, jobs.out.split()) == (
        0,
        ["ID", "TRIGGER", "EXECUTOR", "PAUSED", "NEXT", "RUN", "LAST"],
    )
    assert json.loads(cli("jobs", "-f", path, "-o", "json").out) == []


HISTORY_WORDS = (
    "RUN",
    "JOB",
    "SCHEDULED",
    "TRY",
    "STATUS",
    "EXIT",
    "TOOK",
    "NODE",
    "MANIFEST",
    "DETAIL",
)


@pytest.mark.parametrize("command", ["history", "pause", "resume"])
def test_an_unknown_job_is_named_with_a_hint(
    cli: Callable[..., CliResult], project: Path, command: str
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    result = cli(command, "bakup", "-f", path)
    assert (result.code, result.out, result.err) == (
        1,
        "",
        "error: no job 'bakup' in the store (did you mean 'backup'?)\n",
    )


KOLKATA = """\
version: 1
defaults: {timezone: Asia/Kolkata}
jobs:
  ok: {trigger: {cron: "0 3 * * *"}, run: {shell: "echo hello"}}
  boom: {trigger: {cron: "0 4 * * *"}, run: {call: "tasks:boom"}}
"""


@pytest.fixture
def ran(cli: Callable[..., CliResult], write: Callable[..., Path]) -> tuple[Path, int, int]:
    """A store with one success of ``ok`` and one failure of ``boom``: (manifest, ids)."""
    path = write(KOLKATA)
    write("def boom():\n    raise ValueError('broken')\n", "tasks.py")
    assert cli("apply", "-f", path).code == 0
    ok = cli("trigger", "ok", "--wait", "-f", path, "-o", "json")
    boom = cli("trigger", "boom", "--wait", "-f", path, "-o", "json")
    assert (ok.code, boom.code) == (0, 1)
    return path, json.loads(ok.out)["id"], json.loads(boom.out)["id"]


def test_history_filters_by_status_and_time(
    cli: Callable[..., CliResult], ran: tuple[Path, int, int]
) -> None:
    path, ok, boom = ran

    def ids(*args: str) -> list[int]:
        result = cli("history", "-f", path, "-o", "json", *args)
        assert result.code == 0, result
        return [r["id"] for r in json.loads(result.out)]

    assert ids() == [boom, ok]
    assert ids("--status", "failure") == [boom]
    assert ids("--status", "success", "--status", "failure") == [boom, ok]
    assert ids("ok", "--status", "failure") == []
    assert ids("--since", "1h") == [boom, ok]
    assert ids("--since", "2000-01-01") == [boom, ok]
    assert ids("--since", "2999-01-01T00:00+05:30") == []
    bad = cli("history", "-f", path, "--since", "yesterday")
    assert bad.code == 64


def test_one_run_in_full_with_its_traceback(
    cli: Callable[..., CliResult], ran: tuple[Path, int, int]
) -> None:
    path, ok, boom = ran
    table = cli("history", "-f", path).out.splitlines()
    assert table[-1] == "('yamlcron history --run RUN' shows one run's output and traceback)"
    shown = cli("history", "-f", path, "--run", str(boom))
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[0].startswith(f"run {boom} of boom (attempt 1): failure in ")
    assert lines[0].endswith("; ValueError: broken")
    assert "traceback:" in lines
    assert lines[lines.index("traceback:") + 1] == "Traceback (most recent call last):"
    assert "ValueError: broken" in lines
    hello = cli("history", "ok", "-f", path, "--run", str(ok)).out.splitlines()
    assert hello[-2:] == ["output:", "hello"]
    as_json = json.loads(cli("history", "-f", path, "--run", str(ok), "-o", "json").out)
    assert (as_json["id"], as_json["output"]) == (ok, "hello\n")
    wrong = cli("history", "ok", "-f", path, "--run", str(boom))
    assert (wrong.code, wrong.err) == (
        1,
        f"error: no run {boom} of job 'ok' in the store; see 'yamlcron history'\n",
    )


def test_history_times_are_in_the_jobs_zone_or_utc(
    cli: Callable[..., CliResult], ran: tuple[Path, int, int]
) -> None:
    path, ok, _ = ran
    [run] = json.loads(cli("history", "ok", "-f", path, "-o", "json").out)
    for key in ("scheduled_at", "started_at", "finished_at"):
        assert run[key].endswith("+05:30"), run
    assert cli("history", "ok", "-f", path).out.splitlines()[1].split()[2].endswith("+05:30")
    [utc] = json.loads(cli("--utc", "history", "ok", "-f", path, "-o", "json").out)
    assert utc["scheduled_at"].endswith("+00:00")
    assert datetime.fromisoformat(utc["scheduled_at"]) == datetime.fromisoformat(
        run["scheduled_at"]
    )
    shown = cli("--utc", "history", "-f", path, "--run", str(ok)).out
    assert "  scheduled: " in shown
    assert "+05:30" not in shown


def test_a_missed_run_took_no_time_and_a_paused_job_has_no_next_run(
    cli: Callable[..., CliResult], project: Path
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    store = SQLiteStore(project / ".yamlcron" / "state.db")
    try:
        due = store.load_jobs(["backup"])["backup"].next_run_at
        assert due is not None
        missed = NewRun(job_id="backup", scheduled_at=due, status=RunStatus.MISSED, started_at=due)
        claim = Claim(job_id="backup", expected=due, next_run_at=due, runs=(missed,))
        store.claim([claim], store.join("test", 30), None)
    finally:
        store.close()
    [row] = cli("history", "-f", path).out.splitlines()[1:-1]
    assert row.split()[4:7] == ["missed", "-", "-"]  # STATUS, EXIT, TOOK
    assert cli("pause", "backup", "-f", path).code == 0
    [backup] = [
        r for r in json.loads(cli("jobs", "-f", path, "-o", "json").out) if r["id"] == "backup"
    ]
    assert (backup["paused"], backup["next_run_at"]) == (True, None)
    [line] = [r for r in cli("jobs", "-f", path).out.splitlines() if r.startswith("backup ")]
    assert line.split()[-3:] == ["yes", "-", "missed"]  # PAUSED, NEXT RUN, LAST


@pytest.mark.parametrize("utc", [False, True])
def test_text_log_lines_carry_their_offset(utc: bool) -> None:
    record = logging.LogRecord("yamlcron.run", logging.INFO, __file__, 1, "hi", None, None)
    line = TextFormatter(utc).format(record)
    stamp, rest = line.split(" ", 1)
    assert rest == "INFO yamlcron.run: hi"
    moment = datetime.fromisoformat(stamp)
    assert moment.utcoffset() is not None
    assert moment.timestamp() == pytest.approx(record.created, abs=0.001)
    if utc:
        assert stamp.endswith("+00:00")


def test_utc_applies_to_jobs_too(
    cli: Callable[..., CliResult], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    [zoned] = [
        r for r in json.loads(cli("jobs", "-f", path, "-o", "json").out) if r["id"] == "backup"
    ]
    assert zoned["next_run_at"].endswith(("+01:00", "+02:00"))
    monkeypatch.setenv("YAMLCRON_UTC", "1")
    [utc] = [
        r for r in json.loads(cli("jobs", "-f", path, "-o", "json").out) if r["id"] == "backup"
    ]
    assert utc["next_run_at"].endswith("+00:00")
    assert datetime.fromisoformat(utc["next_run_at"]) == datetime.fromisoformat(
        zoned["next_run_at"]
    )


def test_validate_checks_several_files_for_pre_commit(tmp_path: Path, project: Path) -> None:
    (project / "bad.yaml").write_text("version: 1\njobs: {a: {trigger: {cron: x}}}\n")
    (project / "other.yaml").write_text("version: 1\njobs: {}\n")
    result = yamlcron(
        "validate", "jobs.yaml", "bad.yaml", "missing.yaml", "other.yaml", cwd=project
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["jobs.yaml: valid, 4 jobs", "other.yaml: valid, 0 jobs"]
    missing_run, bad_cron, unreadable = result.stderr.splitlines()
    assert missing_run == "bad.yaml:2:8: jobs.a: missing required key 'run'"
    assert bad_cron.startswith("bad.yaml:2:")
    assert ": jobs.a.trigger.cron: " in bad_cron
    assert unreadable == "error: missing.yaml: cannot read the manifest: No such file or directory"
    good = yamlcron("validate", "jobs.yaml", "other.yaml", "-o", "json", cwd=project)
    assert good.returncode == 0
    assert json.loads(good.stdout) == [
        {"file": "jobs.yaml", "valid": True, "jobs": 4},
        {"file": "other.yaml", "valid": True, "jobs": 0},
    ]
    assert yamlcron("validate", "-f", "jobs.yaml", "-f", "other.yaml", cwd=project).returncode == 0


@pytest.mark.parametrize("command", ["plan", "apply", "jobs", "history", "next"])
def test_a_second_manifest_option_is_a_usage_error(project: Path, command: str) -> None:
    (project / "b.yaml").write_text("version: 1\njobs: {}\n")
    args = ["backup"] if command == "next" else []
    result = yamlcron(command, *args, "-f", "jobs.yaml", "-f", "b.yaml", cwd=project)
    assert result.returncode == 64, result
    assert result.stderr.splitlines()[-1] == (
        "Error: -f/--file given 2 times (jobs.yaml, b.yaml); this command reads one manifest "
        "(only 'yamlcron validate' checks several)"
    )
    assert not (project / ".yamlcron").exists()


def test_yamlcron_file_names_one_file_whatever_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "a:b c"
    folder.mkdir()
    (folder / "jobs.yaml").write_text(GOOD)
    env = {"YAMLCRON_FILE": str(folder / "jobs.yaml")}
    result = yamlcron("plan", cwd=tmp_path, env=env)
    assert result.returncode == 0, result


def test_two_manifests_in_one_folder_do_not_share_the_default_store(
    tmp_path: Path, project: Path
) -> None:
    (project / "other.yaml").write_text(
        "version: 1\njobs:\n  x: {trigger: {interval: 1h}, run: {shell: 'echo x'}}\n"
    )
    assert yamlcron("apply", cwd=project).returncode == 0
    store = project / ".yamlcron" / "state.db"
    before = dump_store(store)
    for command in ("plan", "apply", "run"):
        refused = yamlcron(command, "-f", "other.yaml", cwd=project)
        assert (refused.returncode, refused.stdout) == (1, ""), refused
        assert refused.stderr == (
            "error: .yamlcron/state.db beside other.yaml holds the jobs of jobs.yaml, which "
            "applying other.yaml would remove; pass --store URL: a store of its own, or this "
            "one if other.yaml replaces jobs.yaml\n"
        )
    assert dump_store(store) == before
    own = f"sqlite://{tmp_path / 'other.db'}"
    assert yamlcron("apply", "-f", "other.yaml", "--store", own, cwd=project).returncode == 0
    assert yamlcron("plan", "--detailed-exitcode", cwd=project).returncode == 0


def test_times_of_no_job_are_in_the_hosts_zone(project: Path) -> None:
    assert yamlcron("apply", cwd=project).returncode == 0
    store = SQLiteStore(project / ".yamlcron" / "state.db")
    try:
        store.join("alpha", 30)
        kolkata = {"TZ": "Asia/Kolkata"}
        [local] = json.loads(yamlcron("replicas", "-o", "json", cwd=project, env=kolkata).stdout)
        [utc] = json.loads(
            yamlcron("--utc", "replicas", "-o", "json", cwd=project, env=kolkata).stdout
        )
        table = yamlcron("replicas", cwd=project, env=kolkata).stdout.splitlines()
    finally:
        store.close()
    for key in ("started_at", "heartbeat_at", "expires_at"):
        assert local[key].endswith("+05:30")
        assert utc[key].endswith("+00:00")
        assert datetime.fromisoformat(local[key]) == datetime.fromisoformat(utc[key])
    assert table[1].split()[2].endswith("+05:30")


def test_trigger_without_a_store_or_in_an_empty_one(
    cli: Callable[..., CliResult], project: Path
) -> None:
    path = project / "jobs.yaml"
    missing = cli("trigger", "backup", "-f", path, "--wait")
    assert (missing.code, missing.err) == (
        1,
        f"error: no store at .yamlcron/state.db beside {path}; "
        f"run 'yamlcron apply -f {path}' first\n",
    )
    assert not (project / ".yamlcron").exists()
    path.write_text("version: 1\njobs: {}\n")
    assert cli("apply", "-f", path, "--force").code == 0
    for command in ("trigger", "pause", "resume"):
        empty = cli(command, "backup", "-f", path)
        assert (empty.code, empty.err) == (
            1,
            "error: no job 'backup' in the store; run 'yamlcron apply' first\n",
        )
