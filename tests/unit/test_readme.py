"""The README's tour, run as written: its manifest, its commands and the output it shows."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.tools import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README, flags=re.DOTALL)


def _console(prompt: str) -> list[str]:
    """The lines the tour shows after ``$ <prompt>``, up to the next prompt."""
    lines = _blocks("console")[0].splitlines()
    [start] = [i for i, line in enumerate(lines) if line.startswith(f"$ {prompt}")]
    shown = []
    for line in lines[start + 1 :]:
        if line.startswith("$ "):
            break
        shown.append(line)
    return shown


@pytest.fixture
def tour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tour's jobs.yaml in a folder of its own, the working directory."""
    [manifest] = [b for b in _blocks("yaml") if b.startswith("# jobs.yaml")]
    path = tmp_path / "jobs.yaml"
    path.write_text(manifest, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return path


def test_the_schema_modeline_names_the_file_the_schema_command_writes(tour: Path) -> None:
    modeline = re.search(r"\$schema=(\S+)", tour.read_text(encoding="utf-8"))
    assert modeline is not None
    written = re.search(r"\$ yamlcron schema > (\S+)", README)
    assert written is not None
    assert modeline.group(1) == written.group(1)


def test_the_tour_prints_what_the_readme_shows(tour: Path, cli: Callable[..., CliResult]) -> None:
    assert cli("validate").out.splitlines() == _console("yamlcron validate ")
    assert cli("plan").out.splitlines() == _console("yamlcron plan ")
    applied = cli("apply").out.splitlines()
    assert _console("yamlcron apply ") == ["...", "Applied."]
    assert applied[-1] == "Applied."


def test_the_mistake_prints_what_the_readme_shows(
    tour: Path, cli: Callable[..., CliResult]
) -> None:
    text = tour.read_text(encoding="utf-8")
    tour.write_text(
        text.replace("when: success", "when: sucess").replace(
            "    trigger: {interval", "    triger: {interval"
        ),
        encoding="utf-8",
    )
    result = cli("apply")
    [block] = [b for b in _blocks("console") if "$ echo $?" in b]
    prompt, *shown, echo, code = block.splitlines()
    assert (prompt.split("#")[0].strip(), echo) == ("$ yamlcron apply", "$ echo $?")
    assert (result.code, result.out) == (int(code), "")
    assert result.err.splitlines() == shown
    assert not (tour.parent / ".yamlcron").exists()


def test_commands_after_the_example_name_its_manifest() -> None:
    [quick] = [b for b in _blocks("sh") if "examples/jobs.yaml" in b]
    commands = [shlex.split(c, comments=True) for c in quick.replace("&&", "\n").splitlines()]
    followups = [c for c in commands if c[:1] == ["yamlcron"] and c[1] != "run"]
    assert followups  # what a new user types next, after starting the example
    for words in followups:
        assert words[-2:] == ["-f", "examples/jobs.yaml"], words


def test_the_example_plugin_readme_names_the_plugin_as_listed() -> None:
    """``yamlcron plugins`` lists an entry-point plugin by its entry point's name."""
    plugin = ROOT / "examples" / "plugin"
    project = tomllib.loads((plugin / "pyproject.toml").read_text(encoding="utf-8"))
    [name] = project["project"]["entry-points"]["yamlcron"]
    dist = project["project"]["name"]
    listed = f'# lists {name}, from "entry point ({dist})"'
    assert listed in (plugin / "README.md").read_text(encoding="utf-8")
