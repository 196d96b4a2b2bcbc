"""Validation: every bad manifest gives exit 1, located one-line messages, and an unchanged store."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import GOOD, CliResult, dump_store
from tests.tools import ROOT
from yamlcron.errors import ManifestError
from yamlcron.manifest import load_manifest, parse_manifest
from yamlcron.manifestfile import MAX_BYTES

LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")

BOMB = "version: 1\njobs: {}\n" + "".join(
    f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(10)
)

# (name, manifest text, expected (line, col), a fragment of the message)
BAD: list[tuple[str, str, tuple[int, int], str]] = [
    ("syntax error", "version: 1\njobs:\n  a: [1, 2\n", (4, 1), "YAML syntax error"),
    ("tab indentation", "version: 1\njobs:\n\ta: 1\n", (3, 1), "YAML syntax error"),
    ("empty file", "", (1, 1), "the manifest is empty"),
    ("only a comment", "# nothing\n", (1, 1), "the manifest is empty"),
    (
        "not a mapping",
        "- just\n- a list\n",
        (1, 1),
        "expected a yamlcron manifest (a mapping with version and jobs), got a list",
    ),
    ("missing version", "jobs: {}\n", (1, 1), "missing required key 'version'"),
    ("wrong version", "version: 2\njobs: {}\n", (1, 10), "must be 1"),
    (
        "unknown top key",
        "version: 1\njobs: {}\njob: {}\n",
        (3, 1),
        "unknown key 'job' (did you mean 'jobs'?)",
    ),
    (
        "unknown job key",
        GOOD.replace("    run: {shell:", "    rnu: {shell:"),
        (11, 5),
        "unknown key 'rnu'",
    ),
    (
        "misspelt trigger",
        GOOD.replace('trigger: {cron: "0 3', 'triger: {cron: "0 3'),
        (7, 5),
        "did you mean 'trigger'",
    ),
    (
        "two trigger kinds",
        GOOD.replace("{interval: 15m}", "{interval: 15m, cron: '* * * * *'}"),
        (10, 30),
        "has cron and interval; choose exactly one",
    ),
    (
        "no run kind",
        GOOD.replace('{shell: "echo cleanup"}', "{cwd: /tmp}"),
        (11, 5),
        "needs one of command, shell, call",
    ),
    (
        "command not a list",
        GOOD.replace('["echo", "launch"]', '"echo launch"'),
        (17, 20),
        "expected a list of strings",
    ),
    (
        "yaml 1.1 boolean",
        GOOD.replace("timezone: Europe/Berlin", "timezone: NO"),
        (3, 13),
        "unquoted NO as false",
    ),
    (
        "yaml 1.1 sexagesimal",
        GOOD.replace('"0 3 * * *"', "12:30"),
        (7, 21),
        "unquoted 12:30 as 750",
    ),
    (
        "bad duration",
        GOOD.replace("interval: 15m", "interval: 15 minutes"),
        (10, 25),
        "is not a duration",
    ),
    ("zero interval", GOOD.replace("interval: 15m", "interval: 0s"), (10, 25), "longer than zero"),
    ("negative count", GOOD.replace("attempts: 2", "attempts: -1"), (4, 21), "at least 1"),
    (
        "bad cron field",
        GOOD.replace('"0 3 * * *"', '"0 25 * * *"'),
        (7, 21),
        "jobs.backup.trigger.cron: hour 25 is out of range 0-23",
    ),
    (
        "reversed cron range",
        GOOD.replace('"0 3 * * *"', '"0 22-2 * * *"'),
        (7, 21),
        "hour range '22-2' runs backwards (cron ranges do not wrap around); write 22-23,0-2",
    ),
    (
        "cron step on one value",
        GOOD.replace('"0 3 * * *"', '"0 0 * * 7/1"'),
        (7, 21),
        "day-of-week '7/1': a step goes with * or a range",
    ),
    (
        "no-break space in cron",
        GOOD.replace('"0 3 * * *"', '"0\u00a03 * * *"'),
        (7, 21),
        "contains U+00A0, a space that does not separate fields",
    ),
    (
        "interval under 1 ms",
        GOOD.replace("interval: 15m", "interval: 0.4ms"),
        (10, 25),
        "jobs.cleanup.trigger.interval: '0.4ms' is shorter than 1ms",
    ),
    (
        "retry delay under 1 ms",
        GOOD.replace("delay: 5s", "delay: 0.4ms"),
        (4, 31),
        "defaults.retry.delay: '0.4ms' is shorter than 1ms",
    ),
    (
        "timeout over 10,000 years",
        GOOD.replace("timeout: 30m", "timeout: 99999999w"),
        (8, 49),
        "'99999999w' is longer than 10,000 years",
    ),
    (
        "start on a date trigger",
        GOOD.replace(
            '"2031-12-01T09:00:00+01:00"}', '"2031-12-01T09:00:00+01:00", start: 2031-01-01}'
        ),
        (16, 50),
        "jobs.launch.trigger.start: a date trigger fires once and takes no 'start'",
    ),
    (
        "date past the year 9999 in UTC",
        GOOD.replace(
            '"2031-12-01T09:00:00+01:00"}', '"9999-12-31T23:00:00", timezone: America/Adak}'
        ),
        (16, 21),
        "'9999-12-31T23:00:00' is outside the years 1 to 9999 in UTC",
    ),
    (
        "newline in a job id",
        GOOD.replace("  cleanup:", '  "clean\\nup":'),
        (9, 3),
        "jobs.clean\\nup: invalid job id 'clean\\nup'",
    ),
    (
        "newline in a key",
        GOOD.replace("{interval: 15m}", '{interval: 15m, "x\\ny": 1}'),
        (10, 30),
        "jobs.cleanup.trigger.x\\ny: unknown key 'x\\ny'",
    ),
    (
        "empty jobs",
        "version: 1\njobs:\n",
        (2, 6),
        "jobs: is empty; write at least one job, or {} for none",
    ),
    (
        "empty trigger",
        GOOD.replace("trigger: {interval: 15m}", "trigger:"),
        (10, 13),
        "jobs.cleanup.trigger: is empty; write a mapping with one of cron, interval, date, after",
    ),
    ("empty version", "version:\njobs: {}\n", (1, 9), "version: must be 1, got nothing"),
    ("cron never matches", GOOD.replace('"0 3 * * *"', '"0 0 31 2 *"'), (7, 21), "never matches"),
    ("cron field count", GOOD.replace('"0 3 * * *"', '"0 3 * *"'), (7, 21), "5 fields"),
    (
        "bad timezone",
        GOOD.replace("Europe/Berlin", "Europe/Berln"),
        (3, 13),
        "unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
    ),
    (
        "bad datetime",
        GOOD.replace("2031-12-01T09:00:00+01:00", "2031-13-01T09:00:00"),
        (16, 21),
        "not a valid date",
    ),
    (
        "after unknown",
        GOOD.replace("after: backup", "after: bakup"),
        (13, 22),
        "no job 'bakup' in this manifest (did you mean 'backup'?)",
    ),
    (
        "after itself",
        GOOD.replace("after: backup", "after: report"),
        (13, 22),
        "cannot run after itself",
    ),
    (
        "after cycle",
        GOOD.replace('trigger: {cron: "0 3 * * *"}', "trigger: {after: report}"),
        (7, 22),
        "makes a cycle: backup -> report -> backup",
    ),
    (
        "when without after",
        GOOD.replace("{interval: 15m}", "{interval: 15m, when: success}"),
        (10, 30),
        "'when' goes only with 'after'",
    ),
    ("bad when", GOOD.replace("when: success", "when: sucess"), (13, 36), "did you mean 'success'"),
    (
        "bad call target",
        GOOD.replace('"tasks:report"', '"tasks.report"'),
        (14, 17),
        "package.module:function",
    ),
    (
        "bad job id",
        GOOD.replace("  cleanup:", "  clean up!:"),
        (9, 3),
        "invalid job id 'clean up!'",
    ),
    ("job id too long", GOOD.replace("  cleanup:", f"  {'x' * 65}:"), (9, 3), "invalid job id"),
    (
        "duplicate job",
        GOOD + "  backup:\n    trigger: {cron: '@daily'}\n    run: {shell: x}\n",
        (18, 3),
        "duplicate key 'backup' (first at line 6)",
    ),
    (
        "duplicate inner key",
        GOOD.replace("{interval: 15m}", "{interval: 15m, interval: 5m}"),
        (10, 30),
        "duplicate key 'interval'",
    ),
    (
        "python tag",
        GOOD.replace('["echo", "backup"]', "!!python/object/apply:os.system [ls]"),
        (8, 20),
        "unsupported YAML tag '!!python/object/apply:os.system'",
    ),
    (
        "custom tag",
        GOOD.replace("interval: 15m", "interval: !secret x"),
        (10, 25),
        "unsupported YAML tag '!secret'",
    ),
    (
        "binary tag",
        GOOD.replace('"echo cleanup"', "!!binary aGk="),
        (11, 18),
        "unsupported YAML tag '!!binary'",
    ),
    ("alias bomb", BOMB, (1, 1), "past the budget"),
    ("recursive alias", "version: 1\njobs: &j {a: *j}\n", (2, 7), "recursive alias"),
    (
        "deep nesting",
        "version: 1\njobs: " + "[" * 5000 + "]" * 5000 + "\n",
        (2, 70),
        "deeper than 64",
    ),
    ("control character", "version: 1\njobs: {}\nx: \x07\n", (3, 4), "not allowed in YAML"),
    ("two documents", "version: 1\njobs: {}\n---\nversion: 1\n", (3, 1), "found another document"),
    (
        "unterminated template",
        GOOD.replace('["echo", "launch"]', '["echo", "${HOME"]'),
        (17, 29),
        "write $${ for a literal",
    ),
    (
        "end before start",
        GOOD.replace("{interval: 15m}", "{interval: 15m, start: 2027-01-02, end: 2027-01-01}"),
        (10, 54),
        "end must come after start",
    ),
    ("complex key", "version: 1\njobs: {}\n? [a, b]\n: 1\n", (3, 3), "a key must be plain text"),
    (
        "NUL in a command",
        'version: 1\njobs:\n  a:\n    trigger: {interval: 1h}\n    run: {command: [echo, "a\\0b"]}\n',
        (5, 27),
        "a NUL byte",
    ),
    (
        "NUL in an env name",
        "version: 1\njobs:\n  a:\n    trigger: {interval: 1h}\n"
        '    run: {shell: "true", env: {"A\\0B": x}}\n',
        (5, 32),
        "a NUL byte",
    ),
    (
        "NUL in cwd",
        'version: 1\njobs:\n  a:\n    trigger: {interval: 1h}\n    run: {shell: "true", cwd: "/tmp\\0"}\n',
        (5, 31),
        "a NUL byte",
    ),
]


def _assert_located_lines(result: CliResult, path: Path) -> list[re.Match[str]]:
    assert result.code == 1, result
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert lines, result
    matches = []
    for line in lines:
        match = LOCATED.match(line)
        assert match, f"not FILE:LINE:COL: ...: {line!r}"
        assert match["file"] == str(path)
        matches.append(match)
    return matches


@pytest.mark.parametrize(
    ("text", "where", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_manifest_is_located_and_changes_nothing(
    cli: Callable[..., CliResult], project: Path, text: str, where: tuple[int, int], fragment: str
) -> None:
    path = project / "jobs.yaml"
    assert cli("apply", "-f", path).code == 0
    store = project / ".yamlcron" / "state.db"
    before = dump_store(store)

    path.write_text(text)
    for command in ("validate", "plan", "apply"):
        matches = _assert_located_lines(cli(command, "-f", path), path)
        assert any(fragment in m["rest"] for m in matches), [m.group(0) for m in matches]
        assert any(
            (int(m["line"]), int(m["col"])) == where for m in matches if fragment in m["rest"]
        ), [m.group(0) for m in matches]
    assert dump_store(store) == before


def test_many_bad_cases() -> None:
    assert len(BAD) >= 25


def test_every_problem_is_reported_at_once(write: Callable[[str], Path]) -> None:
    path = write(
        """\
        version: 1
        jobs:
          a:
            triger: {cron: "0 3 * * *"}
            rnu: {command: [echo]}
          b:
            trigger: {cron: "99 * * * *"}
            run: {shell: x}
            coalesce: maybe
        """
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    lines = [str(i) for i in caught.value.issues]
    assert lines == [
        f"{path}:3:3: jobs.a: missing required key 'run'",
        f"{path}:3:3: jobs.a: missing required key 'trigger'",
        f"{path}:4:5: jobs.a.triger: unknown key 'triger' (did you mean 'trigger'?)",
        f"{path}:5:5: jobs.a.rnu: unknown key 'rnu' (did you mean 'run'?)",
        f"{path}:7:21: jobs.b.trigger.cron: minute 99 is out of range 0-59",
        f"{path}:9:15: jobs.b.coalesce: expected true or false, got the string 'maybe'",
    ]


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)
    with pytest.raises(ManifestError, match="over the 32 MiB limit"):
        load_manifest(path)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"version: 1\njobs:\n  a: \xff\xfe\x00garbage")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value) == f"{path}:3:6: not UTF-8 text (byte 0xff); a manifest is UTF-8 YAML"


def test_defaults_merge_and_canonical_form(write: Callable[[str], Path]) -> None:
    manifest = load_manifest(write(GOOD))
    backup = manifest.jobs["backup"]
    assert backup.trigger.timezone == "Europe/Berlin"
    assert backup.retry.attempts == 2
    assert backup.retry.delay == 5.0
    assert backup.retry.max_delay == 600.0  # the built-in default survives the merge
    assert backup.executor == "subprocess"
    assert manifest.jobs["report"].executor == "thread"
    assert backup.canonical["run"] == {"command": ["echo", "backup"], "timeout": "30m"}
    assert manifest.jobs["launch"].trigger.date is not None
    assert manifest.jobs["launch"].trigger.date.isoformat() == "2031-12-01T09:00:00+01:00"


def test_equivalent_spellings_have_one_digest(write: Callable[[str], Path]) -> None:
    a = load_manifest(write(GOOD))
    b = load_manifest(write(GOOD.replace("interval: 15m", "interval: 900").replace("5s", "5")))
    assert a.jobs["cleanup"].digest == b.jobs["cleanup"].digest
    assert a.jobs["backup"].digest == b.jobs["backup"].digest


def test_keys_stay_as_written(write: Callable[[str], Path]) -> None:
    # YAML 1.1 reads a bare `on` as true; as a key it must stay the word.
    manifest = load_manifest(
        write(GOOD.replace("jobs:\n", "notify:\n  - {via: log, on: [failure, missed]}\njobs:\n"))
    )
    assert manifest.notify[0].on == ("failure", "missed")


def test_naive_datetime_is_read_in_the_job_zone(write: Callable[[str], Path]) -> None:
    manifest = load_manifest(write(GOOD.replace("2031-12-01T09:00:00+01:00", "2031-07-01 09:00")))
    date = manifest.jobs["launch"].trigger.date
    assert date is not None
    assert date.isoformat() == "2031-07-01T09:00:00+02:00"  # Berlin summer time


def test_merge_keys_and_anchors(write: Callable[[str], Path]) -> None:
    path = write(
        """\
        version: 1
        jobs:
          a: &base
            trigger: {cron: "@daily"}
            run: {shell: "echo a"}
            max_instances: 2
          b:
            <<: *base
            run: {shell: "echo b"}
        """
    )
    manifest = load_manifest(path)
    assert manifest.jobs["b"].max_instances == 2
    assert manifest.jobs["b"].run.shell == "echo b"


def test_example_manifest_is_valid() -> None:
    example = ROOT / "examples" / "jobs.yaml"
    first = example.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/jobs.schema.json"
    manifest = load_manifest(example)
    kinds = {j.trigger.kind for j in manifest.jobs.values()}
    runs = {j.run.kind for j in manifest.jobs.values()}
    assert kinds == {"cron", "interval", "date", "after"}
    assert runs == {"command", "shell", "call"}


_TOKENS = [
    *"abcz019 :-[]{},&*!|>'\"#%@`\n\t?.$<=~\x00\xff",
    "version: 1\n",
    "jobs:\n",
    "  a:\n",
    "    trigger: ",
    "{cron: '* * * * *'}",
    "    run: ",
    "{shell: x}",
    "no",
    "12:30",
    "!!python/name:os.system",
    "*a",
    "&a ",
    "<<: ",
    "2026-01-01",
]
_yaml_text = st.lists(st.sampled_from(_TOKENS), max_size=120).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_yaml_text)
def test_fuzz_loader_only_raises_manifest_errors(text: str) -> None:
    try:
        parse_manifest(text, Path("fuzz.yaml"))
    except ManifestError as exc:
        issues = exc.issues
    else:
        issues = []
    for issue in issues:
        assert issue.line >= 1
        assert issue.column >= 1
        assert LOCATED.match(str(issue)), str(issue)  # one line, whatever the keys hold


@settings(max_examples=300, deadline=None)
@given(
    job=st.dictionaries(
        st.sampled_from(["trigger", "run", "coalesce", "retry", "history", "paused", "tags", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(["cron", "interval", "shell", "command", "attempts", "on"]),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_fuzz_structures_only_raise_manifest_errors(job: dict[str, object]) -> None:
    import json

    text = json.dumps({"version": 1, "jobs": {"j": job}})  # JSON is YAML
    with contextlib.suppress(ManifestError):  # anything else escaping is a bug
        parse_manifest(text, Path("fuzz.yaml"))


_VALUES = st.sampled_from(
    [None, True, 0, 3, -1, 1.5, "", "x", "5m", "true", "success", "failure", "a", "UTC"]
) | st.lists(st.sampled_from(["a", 1, "failure"]), max_size=2)
_PARTS = {
    "trigger": ["cron", "interval", "date", "after", "when", "timezone", "start", "end", "jitter"],
    "run": ["shell", "command", "call", "args", "kwargs", "env", "cwd", "timeout"],
    "retry": ["attempts", "delay", "backoff", "max_delay"],
}
_KEYS = ["executor", "coalesce", "misfire_grace_time", "max_instances", "paused", "history"]


@settings(max_examples=1000, deadline=None)
# The 2020-12 keyword the compiled check reads in its draft-7 spelling (dependentRequired):
@example(
    parts={"trigger": {"when": "failure"}, "run": {}, "retry": {}},
    top={},
    kind={"cron": "*/5 * * * *"},
    runs={"shell": "true"},
    drop=None,
)
@example(
    parts={"trigger": {}, "run": {"args": ["a"]}, "retry": {}},
    top={},
    kind={"interval": "5m"},
    runs={"shell": "true"},
    drop=None,
)
@given(
    parts=st.fixed_dictionaries(
        {
            part: st.dictionaries(st.sampled_from(keys), _VALUES, max_size=2)
            for part, keys in _PARTS.items()
        }
    ),
    top=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=2),
    kind=st.sampled_from([{"after": "a"}, {"cron": "*/5 * * * *"}, {"interval": "5m"}]),
    runs=st.sampled_from([{"call": "m:f"}, {"shell": "true"}]),
    drop=st.sampled_from([None, "trigger", "run"]),
)
def test_the_fast_schema_check_agrees_with_jsonschema(
    parts: dict[str, dict[str, object]],
    top: dict[str, object],
    kind: dict[str, object],
    runs: dict[str, object],
    drop: str | None,
) -> None:
    # The compiled check decides whether jsonschema is asked at all: it must never pass
    # a manifest jsonschema would refuse, nor refuse one it passes. Each example is a
    # valid job with a few keys added or replaced, so both verdicts come up often.
    from yamlcron.schema import _passes_schema, _validator

    job: dict[str, object] = {
        "trigger": {**kind, **parts["trigger"]},
        "run": {**runs, **parts["run"]},
        "retry": parts["retry"],
        **top,
    }
    job.pop(drop or "", None)
    data = {
        "version": 1,
        "jobs": {"a": {"trigger": {"cron": "* * * * *"}, "run": {"shell": "true"}}, "j": job},
    }
    try:
        _passes_schema()(data)
        fast = True
    except Exception:
        fast = False
    assert fast == _validator().is_valid(data), job


def test_a_parse_keeps_no_yaml_nodes() -> None:
    # A daemon parses its manifest on every reload: nothing of the YAML may stay behind.
    def nodes() -> int:
        return sum(isinstance(o, yaml.Node) for o in gc.get_objects())

    gc.collect()
    before = nodes()
    manifest = parse_manifest(GOOD, Path("jobs.yaml"))
    gc.collect()
    assert manifest.jobs["backup"].retry.attempts == 2  # ints were built from their nodes
    assert nodes() == before


def test_empty_values_say_what_belongs_there() -> None:
    # YAML reads `key:` with nothing after it as null; "YAML read the unquoted  as null;
    # write """ said nothing useful.
    text = """\
version: 1
defaults:
  retry:
jobs:
  a:
    trigger: {cron: "@daily", timezone: }
    run: {command: , env: }
    tags:
  b:
"""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, Path("jobs.yaml"))
    assert [f"{i.path}: {i.message}" for i in caught.value.issues] == [
        "defaults.retry: is empty; write a mapping, or {} for none",
        "jobs.a.trigger.timezone: is empty; write an IANA time zone name",
        "jobs.a.run.command: is empty; write a list of strings (the argv)",
        "jobs.a.run.env: is empty; write a mapping, or {} for none",
        "jobs.a.tags: is empty; write a list, or [] for none",
        "jobs.b: is empty; write a mapping with trigger and run",
    ]
