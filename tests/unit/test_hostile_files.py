"""A manifest path that names something hostile: endless, blocking, secret, or huge in errors."""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import clean_env
from yamlcron.errors import MAX_ISSUES, ManifestError
from yamlcron.manifest import parse_manifest
from yamlcron.yamldoc import read_document

#: What a file that is not YAML holds, and must not be quoted back (an /etc/shadow line).
SHADOW = "root:$6$s3cr3tSalt$s3cr3tHash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def _limit_memory() -> None:
    """In the child: a reader without a bound dies at 1 GiB instead of filling the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """``yamlcron validate -f PATH`` in a real process; a hang fails the test, not the run."""
    return subprocess.run(
        [sys.executable, "-m", "yamlcron", "validate", "-f", str(path)],
        cwd=path.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize(
    ("target", "kind"),
    [("/dev/zero", "a character device"), ("/dev/urandom", "a character device")],
)
def test_a_link_to_an_endless_device_is_refused_unread(
    tmp_path: Path, target: str, kind: str
) -> None:
    link = tmp_path / "jobs.yaml"
    link.symlink_to(target)
    result = validate(link)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {link}: cannot read the manifest: it is {kind}, not a regular file\n"
    )


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "jobs.yaml"
    os.mkfifo(fifo)
    result = validate(fifo)  # before: blocked opening it until the timeout
    assert result.returncode == 1
    assert "it is a FIFO (named pipe), not a regular file" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        SHADOW,  # one long plain string to YAML
        "- s3cr3tToken\n- another\n",  # a list
        "s3cr3tKey: [\n",  # a syntax error
        "a: *s3cr3tAlias\n",  # PyYAML quotes an undefined alias
        "!s3cr3tTag x\n",  # and a tag it does not know
    ],
    ids=["shadow", "list", "syntax", "alias", "tag"],
)
def test_errors_quote_nothing_of_a_file_that_is_not_a_manifest(tmp_path: Path, text: str) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    result = validate(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:")
    assert "s3cr3t" not in result.stderr + result.stdout


def test_errors_stop_after_a_few_hundred_with_a_count_of_the_rest() -> None:
    jobs = "".join(
        f"  j{i}:\n    trigger: {{interval: 1h}}\n    run: {{shell: x}}\n    bogus: 1\n"
        for i in range(1000)
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(f"version: 1\njobs:\n{jobs}", Path("jobs.yaml"))
    issues = caught.value.issues
    assert len(issues) == MAX_ISSUES + 1
    assert caught.value.hidden == 1000 - MAX_ISSUES
    first_hidden = 3 + MAX_ISSUES * 4 + 3  # each job takes 4 lines; 'bogus' is its last
    assert str(issues[-1]) == (
        f"jobs.yaml:{first_hidden}:5: {1000 - MAX_ISSUES:,} more problems from here on are not shown"
    )


def _locating_time(jobs: int) -> float:
    """CPU seconds to locate one key in each of ``jobs`` jobs, best of three."""
    text = "version: 1\njobs:\n" + "".join(f"  j{i}: {{a: 1}}\n" for i in range(jobs))
    best = float("inf")
    for _ in range(3):
        doc = read_document(text, "jobs.yaml")
        gc.disable()  # as while a manifest is checked: a collection is no part of locating
        try:
            started = time.process_time()
            for i in range(jobs):
                doc.locate(("jobs", f"j{i}", "a"), key=True)
            best = min(best, time.process_time() - started)
        finally:
            gc.enable()
    return best


def test_locating_errors_is_linear() -> None:
    # Ten times the jobs: linear takes about ten times as long, quadratic a hundred.
    ratio = _locating_time(20_000) / max(_locating_time(2_000), 1e-6)
    assert ratio < 30, ratio
