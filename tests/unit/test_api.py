"""The Python API: a scheduler in a background thread of the caller's process."""

from __future__ import annotations

from pathlib import Path

import pytest

from yamlcron import RunStatus, Yamlcron
from yamlcron.errors import UnknownJobError
from yamlcron.registry import build_registry

MANIFEST = """\
version: 1
jobs:
  answer:
    trigger: {cron: "0 0 1 1 *"}
    run: {call: "api_tasks:answer", kwargs: {base: 40}}
  flaky:
    trigger: {cron: "0 0 1 1 *"}
    run: {call: "api_tasks:flaky"}
    retry: {attempts: 3, delay: 0s}
"""

TASKS = """\
calls = []

def answer(base):
    return base + 2

def flaky(YAMLCRON_ATTEMPT):
    if YAMLCRON_ATTEMPT != "3":
        raise RuntimeError("not yet")
    return "third time lucky"
"""


@pytest.fixture
def cron(tmp_path: Path) -> Yamlcron:
    (tmp_path / "api_tasks.py").write_text(TASKS)
    return Yamlcron.from_text(MANIFEST, tmp_path, registry=build_registry(autoload=False))


def test_trigger_returns_a_handle_with_the_result(cron: Yamlcron, tmp_path: Path) -> None:
    plan = cron.start()
    try:
        assert [s.id for s in plan.add] == ["answer", "flaky"]
        run = cron.trigger("answer").result(timeout=10)
        assert (run.status, run.result) == (RunStatus.SUCCESS, 42)
        flaky = cron.trigger("flaky").result(timeout=10)
        assert (flaky.status, flaky.attempt, flaky.result) == (
            RunStatus.SUCCESS,
            3,
            "third time lucky",
        )
        assert [r.status.value for r in cron.history("flaky")] == ["success", "failure", "failure"]
        with pytest.raises(UnknownJobError):
            cron.trigger("nope")
    finally:
        assert cron.stop(timeout=5)
    assert (tmp_path / ".yamlcron" / "state.db").exists()


def test_reload_keeps_the_last_good_manifest(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(MANIFEST)
    (tmp_path / "api_tasks.py").write_text(TASKS)
    cron = Yamlcron(path, registry=build_registry(autoload=False))
    cron.start()
    try:
        path.write_text(MANIFEST.replace('"0 0 1 1 *"', '"bad"', 1))
        assert cron.reload() is False
        assert set(cron.store.load_jobs()) == {"answer", "flaky"}
        path.write_text(MANIFEST.split("  flaky:")[0])
        assert cron.reload() is True
        assert set(cron.store.load_jobs()) == {"answer"}
    finally:
        cron.stop(timeout=5)
