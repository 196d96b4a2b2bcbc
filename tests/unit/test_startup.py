"""What a command imports: a pre-commit hook or a shell loop pays it on every call.

Counted in modules, not timed (timings: bench/startup.py). `--help` needs click and the
command definitions; `validate` of a valid manifest needs the YAML reader, the compiled
schema check, the trigger rules and the plugins. jsonschema explains a manifest that
fails the fast check and is imported only then; the store, the scheduler and the file
watcher belong to the commands that use them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import clean_env

#: Never imported by `--help` nor by `validate` of a valid manifest.
HEAVY = (
    "jsonschema",
    "watchdog",
    "sqlite3",
    "psycopg",
    "yamlcron.scheduler",
    "yamlcron.store",
    "yamlcron.app",
    "yamlcron.watch",
)


def _imported(*args: str, cwd: Path) -> set[str]:
    """The modules a real `yamlcron ARGS` has loaded when it ends."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.__stderr__.write('MODULES ' + ' '.join(sys.modules)))\n"
        "from yamlcron.cli import entry_point\n"
        f"sys.argv = ['yamlcron', *{list(args)!r}]\n"
        "entry_point()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stderr
    return set(done.stderr.rsplit("MODULES ", 1)[1].split())


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(f"{n}.") for m in modules))


def test_help_loads_no_manifest_store_or_scheduler(tmp_path: Path) -> None:
    modules = _imported("--help", cwd=tmp_path)
    assert "click" in modules  # the check itself works
    assert _loaded(modules, (*HEAVY, "yaml", "croniter", "pluggy", "yamlcron.manifest")) == []


def test_validate_of_a_valid_manifest_loads_no_jsonschema_store_or_watcher(
    tmp_path: Path,
) -> None:
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\njobs:\n"
        "  a: {trigger: {cron: '0 3 * * *'}, run: {command: [echo, a]}}\n"
        "  b: {trigger: {interval: 15m}, run: {shell: 'echo b'}}\n"
        "  c: {trigger: {after: a}, run: {call: 'tasks:c'}}\n"
    )
    modules = _imported("validate", cwd=tmp_path)
    assert "yamlcron.manifest" in modules
    assert _loaded(modules, HEAVY) == []


@pytest.mark.parametrize("command", ["--help", "validate"])
def test_an_invalid_manifest_is_still_explained(tmp_path: Path, command: str) -> None:
    (tmp_path / "jobs.yaml").write_text("version: 1\njobs:\n  a: {trigger: {cron: 5}}\n")
    modules = _imported(command, cwd=tmp_path)
    assert ("jsonschema" in modules) == (command == "validate")
