"""A run's output past its last 64 KiB: cut, and the cut said at the head of what is kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from yamlcron.procgroup import OutputTail, size_text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (1_234_567, "1.2 MB"),
        (5 * 10**9, "5.0 GB"),
    ],
)
def test_size_text(size: int, text: str) -> None:
    assert size_text(size) == text


def test_a_tail_that_fits_is_not_marked() -> None:
    tail = OutputTail(100)
    tail.add(b"x" * 100)
    assert tail.text() == "x" * 100


@pytest.mark.parametrize("chunks", [[b"x" * 250], [b"x"] * 250, [b"x" * 150, b"y" * 100]])
def test_a_cut_is_marked_in_place_of_output(chunks: list[bytes]) -> None:
    tail = OutputTail(100)
    for chunk in chunks:
        tail.add(chunk)
    text = tail.text()
    marker, kept = text.split("\n", 1)
    assert len(text) == 100  # the marker replaces output: the limit holds
    assert marker == f"[... {250 - len(kept)} bytes cut ...]"
    assert kept == b"".join(chunks)[-len(kept) :].decode()


def test_history_shows_where_a_long_output_was_cut(
    cli: Callable[..., CliResult], write: Callable[..., Path]
) -> None:
    path = write(
        "version: 1\njobs:\n  loud:\n    trigger: {interval: 1h}\n"
        "    run: {command: [python3, -c, \"print('x' * 1_300_000 + 'end')\"]}\n"
    )
    assert cli("apply", "-f", path).code == 0
    run = json.loads(cli("trigger", "loud", "--wait", "-f", path, "-o", "json").out)
    head, kept = run["output"].split("\n", 1)
    assert head == "[... 1.2 MB cut ...]"
    assert len(run["output"]) == 64 * 1024
    assert kept.endswith("xend\n")
    shown = cli("history", "-f", path, "--run", str(run["id"])).out.splitlines()
    assert shown[shown.index("output:") + 1] == "[... 1.2 MB cut ...]"
