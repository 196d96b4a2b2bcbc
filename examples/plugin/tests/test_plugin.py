"""The plugin's own tests: yamlcron's real scheduler, a registry with just this plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from yamlcron_jsonl import plugin

from yamlcron import RunStatus, Yamlcron
from yamlcron.errors import ManifestError
from yamlcron.registry import build_registry

MANIFEST = """\
version: 1
jobs:
  hello:
    trigger: {cron: "0 0 1 1 *"}
    run: {command: ["hello", "world"]}
    executor: echo
    notify: [{via: jsonl, path: "%s", on: [success]}]
"""


def test_echo_runs_and_jsonl_hears_it(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    registry = build_registry(autoload=False, extra=[plugin])
    cron = Yamlcron.from_text(MANIFEST % events, tmp_path, registry=registry)
    cron.start()
    try:
        run = cron.trigger("hello").result(timeout=10)
        assert cron.events.flush(timeout=10)
    finally:
        cron.stop(timeout=5)
    assert (run.status, run.output, run.result) == (
        RunStatus.SUCCESS,
        "hello world\n",
        {"argv": ["hello", "world"], "attempt": 1},
    )
    [line] = events.read_text().splitlines()
    assert json.loads(line)["event"] == "run.succeeded"


def test_options_are_checked_with_the_manifest(tmp_path: Path) -> None:
    registry = build_registry(autoload=False, extra=[plugin])
    bad = MANIFEST.replace('path: "%s"', "pth: x")
    with pytest.raises(ManifestError, match="unknown key 'pth' \\(did you mean 'path'\\?\\)"):
        Yamlcron.from_text(bad, tmp_path, registry=registry).load()
