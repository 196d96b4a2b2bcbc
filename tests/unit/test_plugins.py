"""The plugin contract: discovery, isolation of listeners, notify filters, option checks."""

from __future__ import annotations

import json
import re
import textwrap
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult
from tests.tools import ROOT
from yamlcron import Yamlcron, hookimpl
from yamlcron.errors import ManifestError, PluginError
from yamlcron.events import JobEvent, ManifestEvent, RunEvent
from yamlcron.interfaces import Executor, Outcome, RunContext
from yamlcron.manifest import parse_manifest
from yamlcron.registry import BUILTIN_PLUGINS, build_registry
from yamlcron.runs import RunStatus


def test_builtins_come_through_the_registry_only() -> None:
    registry = build_registry(autoload=False)
    assert set(registry.executors) == {"celery", "process", "subprocess", "thread"}
    assert set(registry.notifiers) == {"apprise", "command", "healthchecks", "log", "webhook"}
    assert set(registry.stores) == {"postgres", "postgresql", "sqlite"}
    assert {p.name for p in registry.plugins} == set(BUILTIN_PLUGINS)
    # The core names no built-in plugin module: they are strings in one tuple.
    for source in (ROOT / "yamlcron").glob("*.py"):
        text = source.read_text()
        assert not re.search(r"^\s*(from|import)\s+(yamlcron\.)?plugins", text, re.M), source


class Provides:
    def __init__(self, **executors: Executor) -> None:
        self.executors = executors

    @hookimpl
    def yamlcron_executors(self) -> Mapping[str, Executor]:
        return self.executors


class Fixed:
    def __init__(self, status: RunStatus = RunStatus.SUCCESS) -> None:
        self.statuses = [status]

    def execute(self, context: RunContext) -> Outcome:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Outcome(status=status)


def test_duplicate_component_names_both_plugins() -> None:
    with pytest.raises(
        PluginError,
        match=r"executor 'thread' is provided by both yamlcron\.plugins\.thread and \d+",
    ):
        build_registry(autoload=False, extra=[Provides(thread=Fixed())])


def test_unknown_hook_is_rejected() -> None:
    class Typo:
        @hookimpl
        def yamlcron_executor(self) -> Mapping[str, Executor]:
            return {}

    with pytest.raises(PluginError, match="unknown hook"):
        build_registry(autoload=False, extra=[Typo()])


def test_a_plugin_can_be_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAMLCRON_DISABLED_PLUGINS", "yamlcron.plugins.webhook")
    registry = build_registry(autoload=False)
    assert "webhook" not in registry.notifiers
    text = "version: 1\njobs:\n  a: {trigger: {cron: '@daily'}, run: {shell: x}, notify: [{via: webhook, url: 'http://x'}]}\n"
    with pytest.raises(
        ManifestError,
        match=r"unknown notifier 'webhook'; installed: apprise, command, healthchecks, log",
    ):
        parse_manifest(text, Path("jobs.yaml"), registry.components)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            "executor: dokcer",
            "jobs.a.executor: unknown executor 'dokcer'; installed: celery, process, subprocess, "
            "thread",
        ),
        (
            "notify: [{via: slak}]",
            "jobs.a.notify[0].via: unknown notifier 'slak'; installed: apprise, command, healthchecks, log, webhook",
        ),
        ("notify: [{via: webhook}]", "jobs.a.notify[0]: missing required key 'url'"),
        (
            "notify: [{via: webhook, url: 'http://x', retires: 2}]",
            "jobs.a.notify[0].retires: unknown key 'retires' (did you mean 'retries'?)",
        ),
        (
            "notify: [{via: webhook, url: ftp://x}]",
            "jobs.a.notify[0].url: 'ftp://x' is not valid here",
        ),
        ("notify: [{via: command, command: []}]", "jobs.a.notify[0].command: must not be empty"),
        ("notify: [{via: log, on: [failure, sucess]}]", "jobs.a.notify[0].on[1]: must be one of"),
    ],
)
def test_plugin_names_and_options_are_located(job: str, message: str) -> None:
    text = f"version: 1\njobs:\n  a:\n    trigger: {{cron: '@daily'}}\n    run: {{shell: x}}\n    {job}\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, Path("jobs.yaml"), build_registry(autoload=False).components)
    lines = [str(i) for i in caught.value.issues]
    assert any(line.startswith("jobs.yaml:6:") and message in line for line in lines), lines


class Listener:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()

    @hookimpl
    def yamlcron_run_event(self, event: RunEvent) -> None:
        with self.lock:
            self.events.append(event)

    @hookimpl
    def yamlcron_job_event(self, event: JobEvent) -> None:
        with self.lock:
            self.events.append(event)

    @hookimpl
    def yamlcron_manifest_event(self, event: ManifestEvent) -> None:
        with self.lock:
            self.events.append(event)


class Raising:
    @hookimpl
    def yamlcron_run_event(self, event: RunEvent) -> None:
        raise RuntimeError("listener bug")

    @hookimpl
    def yamlcron_job_event(self, event: JobEvent) -> None:
        raise RuntimeError("listener bug")


class Slow:
    @hookimpl
    def yamlcron_run_event(self, event: RunEvent) -> None:
        time.sleep(0.5)


class Recorder:
    """A notifier plugin that keeps what it is told."""

    options_schema: Mapping[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"tag": {"type": "string"}},
    }

    def __init__(self) -> None:
        self.heard: list[tuple[str, frozenset[str], Mapping[str, Any]]] = []

    def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
        job = event.run.job_id if isinstance(event, RunEvent) else "-"
        self.heard.append((job, event.notify_kinds, options))

    @hookimpl
    def yamlcron_notifiers(self) -> Mapping[str, Any]:
        return {"recorder": self}


def test_events_reach_listeners_and_notifiers_despite_a_raising_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAG", "from-env")
    listener, recorder, script = Listener(), Recorder(), Fixed()
    script.statuses = [RunStatus.FAILURE, RunStatus.FAILURE, RunStatus.SUCCESS, RunStatus.SUCCESS]
    registry = build_registry(
        autoload=False, extra=[Raising(), Slow(), listener, recorder, Provides(script=script)]
    )
    text = textwrap.dedent("""\
        version: 1
        notify: [{via: recorder, on: [applied]}]
        jobs:
          a:
            trigger: {cron: "0 0 1 1 *"}
            run: {shell: x}
            executor: script
            notify: [{via: recorder, on: [failure, recovery], tag: "${TAG}"}]
    """)
    cron = Yamlcron.from_text(text, tmp_path, registry=registry)
    cron.start()
    try:
        started = time.monotonic()
        outcomes = [cron.trigger("a").result(timeout=10).status for _ in range(4)]
        assert time.monotonic() - started < 2  # the slow listener never held a run up
        assert outcomes == [
            RunStatus.FAILURE,
            RunStatus.FAILURE,
            RunStatus.SUCCESS,
            RunStatus.SUCCESS,
        ]
        assert cron.events.flush(timeout=10)
    finally:
        cron.stop(timeout=5)
    kinds = [e.kind for e in listener.events if isinstance(e, RunEvent)]
    assert kinds.count("submitted") == 4
    assert kinds.count("started") == 4
    assert kinds.count("failed") == 2
    assert kinds.count("succeeded") == 2
    assert any(isinstance(e, JobEvent) and e.kind == "added" for e in listener.events)
    assert any(isinstance(e, ManifestEvent) and e.kind == "applied" for e in listener.events)
    # failure, failure, recovery (the first success after them), then nothing.
    assert [(job, sorted(k)) for job, k, _ in recorder.heard if job == "a"] == [
        ("a", ["failure"]),
        ("a", ["failure"]),
        ("a", ["recovery", "success"]),
    ]
    assert recorder.heard[-1][2] == {"tag": "from-env"}  # ${VAR} expanded for the call only
    assert any(job == "-" for job, _, _ in recorder.heard)  # the manifest's own notifier


def test_a_raising_notifier_does_not_stop_the_scheduler(tmp_path: Path) -> None:
    class Broken(Recorder):
        def notify(self, event: RunEvent | ManifestEvent, options: Mapping[str, Any]) -> None:
            raise RuntimeError("notifier bug")

    registry = build_registry(autoload=False, extra=[Broken()])
    text = "version: 1\njobs:\n  a: {trigger: {cron: '0 0 1 1 *'}, run: {shell: 'exit 3'}, notify: [{via: recorder}]}\n"
    cron = Yamlcron.from_text(text, tmp_path, registry=registry)
    cron.start()
    try:
        first = cron.trigger("a").result(timeout=10)
        second = cron.trigger("a").result(timeout=10)
    finally:
        cron.stop(timeout=5)
    assert (first.status, second.status, second.exit_code) == (
        RunStatus.FAILURE,
        RunStatus.FAILURE,
        3,
    )


def test_plugins_and_schema_commands(cli: Callable[..., CliResult]) -> None:
    listed = json.loads(cli("plugins", "-o", "json").out)
    webhook = next(p for p in listed if p["name"] == "yamlcron.plugins.webhook")
    assert webhook == {
        "name": "yamlcron.plugins.webhook",
        "origin": "built-in",
        "version": None,
        "hooks": ["yamlcron_notifiers"],
        "provides": {"notifiers": ["webhook"]},
    }
    schema = json.loads(cli("schema").out)
    notifier = schema["$defs"]["notifier"]
    assert notifier["properties"]["via"]["enum"] == [
        "apprise",
        "command",
        "healthchecks",
        "log",
        "webhook",
    ]
    webhook_options = next(
        c["then"] for c in notifier["allOf"] if c["if"]["properties"]["via"]["const"] == "webhook"
    )
    assert webhook_options["required"] == ["url"]
    assert schema["$defs"]["executorName"]["enum"] == ["celery", "process", "subprocess", "thread"]
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema)


def test_missed_runs_are_events(tmp_path: Path) -> None:
    listener = Listener()
    registry = build_registry(autoload=False, extra=[listener])
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    text = "version: 1\njobs:\n  a: {trigger: {interval: 10s}, run: {shell: 'true'}, misfire_grace_time: 1s}\n"
    clock = [anchor]
    cron = Yamlcron.from_text(text, tmp_path, registry=registry, clock=lambda: clock[0])
    cron.apply()
    clock[0] = anchor + timedelta(seconds=25)
    cron.scheduler.tick(clock[0])
    assert cron.events.flush(timeout=5)
    cron.stop(timeout=5)
    missed = [e for e in listener.events if isinstance(e, RunEvent) and e.kind == "missed"]
    assert len(missed) == 2
    assert all(e.notify_kinds == {"missed"} for e in missed)
