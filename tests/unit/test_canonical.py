"""The job codec: a manifest's job, its canonical JSON and the spec rebuilt from it agree."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from yamlcron.canonical import canonical_json, digest_of, job_from_json, job_to_json
from yamlcron.manifest import parse_manifest

_TEXT = st.text(alphabet='ab é€"\\:#{}', max_size=5)  # what YAML may hold, JSON escapes
_DURATION = st.one_of(
    st.integers(0, 10**9),
    st.builds(
        lambda parts: "".join(f"{n}{u}" for n, u in parts),
        st.lists(
            st.tuples(
                st.integers(1, 9999),
                st.sampled_from(["ms", "s", "m", "h", "d", "w"]),
            ),
            min_size=1,
            max_size=4,
        ),
    ),
)
_MOMENT = st.sampled_from(
    [
        "2031-12-01T09:00:00+01:00",
        "2031-07-01 09:00",
        "2030-03-31T02:30:00",  # in a DST gap in Europe/Berlin
        "2030-10-27T02:30:00.250",  # in a DST fold
        "2031-01-01",
        "2031-01-01T00:00:00Z",
    ]
)
_TRIGGER = st.one_of(
    st.fixed_dictionaries({"cron": st.sampled_from(["*/5 * * * *", " 0  3 * * 1-5 "])}),
    st.fixed_dictionaries(
        {"interval": _DURATION.filter(lambda d: d not in (0,) and not str(d).startswith("0"))},
        optional={"start": _MOMENT, "end": st.just("2099-01-01T00:00:00Z"), "jitter": _DURATION},
    ),
    st.fixed_dictionaries({"date": _MOMENT}),
    st.fixed_dictionaries(
        {"after": st.just("up")}, optional={"when": st.sampled_from(["failure", "always"])}
    ),
).flatmap(
    lambda t: st.fixed_dictionaries(
        {}, optional={"timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"])}
    ).map(lambda z: {**t, **z})
)
_RUN = st.one_of(
    st.fixed_dictionaries({"command": st.just(["echo", "hi"])}),
    st.fixed_dictionaries({"shell": st.just("true")}),
    st.fixed_dictionaries(
        {"call": st.just("m:f")},
        optional={"args": st.just([1, [2, "x"]]), "kwargs": st.just({"k": {"n": None}})},
    ),
).flatmap(
    lambda r: st.fixed_dictionaries(
        {},
        optional={
            "env": st.dictionaries(st.sampled_from(["A", "B"]), st.one_of(_TEXT, st.integers())),
            "cwd": st.just("sub"),
            "timeout": _DURATION,
        },
    ).map(lambda extra: {**r, **extra})
)
_POLICIES = st.fixed_dictionaries(
    {},
    optional={
        "description": _TEXT,
        "tags": st.lists(st.sampled_from(["a", "b"]), unique=True),
        "executor": st.just("process"),
        "coalesce": st.booleans(),
        "misfire_grace_time": st.one_of(st.none(), _DURATION),
        "max_instances": st.integers(1, 5),
        "retry": st.fixed_dictionaries(
            {},
            optional={
                "attempts": st.integers(1, 5),
                "delay": _DURATION,
                "backoff": st.one_of(st.integers(1, 3), st.floats(1, 3)),
                "max_delay": _DURATION,
            },
        ),
        "paused": st.booleans(),
        "notify": st.just([{"via": "log"}, {"via": "webhook", "on": ["success"], "url": "x"}]),
        "history": st.integers(1, 500),
    },
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(trigger=_TRIGGER, run=_RUN, policies=_POLICIES, defaults=_POLICIES)
def test_a_job_round_trips_through_its_canonical_json(
    trigger: dict[str, object],
    run: dict[str, object],
    policies: dict[str, object],
    defaults: dict[str, object],
) -> None:
    job = {"trigger": trigger, "run": run, **policies}
    data = {
        "version": 1,
        "defaults": {**defaults, "timezone": "Europe/Berlin"},
        "jobs": {"up": {"trigger": {"cron": "* * * * *"}, "run": {"shell": "true"}}, "j": job},
    }
    spec = parse_manifest(json.dumps(data, ensure_ascii=False), Path("jobs.yaml")).jobs["j"]
    stored = json.loads(canonical_json(spec.canonical))  # as the store writes and reads it
    again = job_from_json("j", stored)
    assert again == spec  # every value: durations, datetimes, policies
    assert again.digest == spec.digest == digest_of(spec.canonical)
    assert job_to_json(again) == stored == job_to_json(spec)


def test_durations_and_datetimes_are_kept_as_their_canonical_text_reads_back() -> None:
    text = (
        "version: 1\njobs:\n  j:\n"
        "    trigger: {interval: 1.0004s, start: '2031-07-01 09:00', timezone: Europe/Berlin}\n"
        "    run: {shell: 'true'}\n"
    )
    spec = parse_manifest(text, Path("jobs.yaml")).jobs["j"]
    assert spec.trigger.interval == 1.0
    assert spec.canonical["trigger"]["interval"] == "1s"
    assert spec.trigger.start is not None
    assert spec.trigger.start.isoformat() == "2031-07-01T09:00:00+02:00"
    assert spec == job_from_json("j", spec.canonical)


#: Every feature of the canonical form at once; its digests are those yamlcron 0.1.0 wrote,
#: so stores applied by earlier versions see no change where the manifest made none.
_GOLDEN = """\
version: 1
defaults:
  timezone: Europe/Berlin
  retry: {attempts: 3, delay: 1.0004s}
  misfire_grace_time: null
  tags: []
jobs:
  cron:
    trigger: {cron: " 0  3 * * 1-5 ", jitter: 1w2d3h4m5s6ms}
    run: {command: [echo, hi], env: {}, timeout: 90}
  every:
    trigger: {interval: 1.5h, start: "2030-10-27T02:30:00.250", end: "2099-01-01T00:00:00Z"}
    run: {shell: "echo $A", env: {A: 1, B: x}, cwd: sub}
    description: "é"
    notify: [{via: webhook, url: "https://x", on: [success]}, {}]
  once:
    trigger: {date: "2031-07-01 09:00", timezone: Asia/Kolkata}
    run: {call: "m:f", args: [1, [2]], kwargs: {k: null}}
    executor: process
    retry: {backoff: 3, max_delay: 0}
    misfire_grace_time: 5m
    tags: [a, b]
  step:
    trigger: {after: every, when: always}
    run: {shell: "true"}
    paused: true
    history: 7
    max_instances: 2
    coalesce: false
"""


def test_the_canonical_form_and_its_digests_are_those_stores_already_hold() -> None:
    jobs = parse_manifest(_GOLDEN, Path("jobs.yaml")).jobs
    assert {job_id: spec.digest for job_id, spec in jobs.items()} == {
        "cron": "32312ac1c8eb7a584a0c3e3ab7d3c49d0f4c796558451d1d9bc8c1a5562d509e",
        "every": "e740afe672413ea332266b5654113dc45837de8d5eea614f27267e1d9554e6db",
        "once": "fe5c459ab1db750bbe6f45a1306263a76a9c35db0530f155dd0f35714ed2a0ba",
        "step": "028b7f2aaf59649ec7ae1dc2137318d7c3a763bbdeb1db3d07858237c10e7739",
    }
    assert jobs["cron"].canonical["run"]["env"] == {}  # written, though empty
    assert "env" not in jobs["step"].canonical["run"]
    assert jobs["cron"].canonical["tags"] == []
    for job_id, spec in jobs.items():
        assert job_from_json(job_id, json.loads(canonical_json(spec.canonical))) == spec
