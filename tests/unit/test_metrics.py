"""The metrics of a service (``yamlcron.metrics``), fed by its real runs, read as Prometheus would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from yamlcron.app import Yamlcron
from yamlcron.http.options import HttpOptions
from yamlcron.metrics import Metrics
from yamlcron.registry import build_registry

MANIFEST = """\
version: 1
jobs:
  good:
    trigger: {date: "2099-01-01T00:00:00+00:00"}
    run: {shell: "echo fine"}
  bad:
    trigger: {cron: "0 3 * * *"}
    run: {shell: "exit 2"}
  resting:
    trigger: {interval: 1h}
    run: {shell: "true"}
    paused: true
"""


def service(folder: Path, http: HttpOptions | None = None) -> Yamlcron:
    folder.mkdir(exist_ok=True)
    (folder / "jobs.yaml").write_text(MANIFEST)
    cron = Yamlcron(folder / "jobs.yaml", registry=build_registry(autoload=False), http=http)
    cron.apply()
    return cron


@contextmanager
def looping(folder: Path) -> Iterator[tuple[Yamlcron, Metrics]]:
    """A service with its loop running and its metrics, as ``yamlcron run --http`` has them."""
    cron = service(folder, HttpOptions("127.0.0.1", 0))
    cron.start()
    try:
        assert cron.http is not None
        yield cron, cron.http.metrics
    finally:
        cron.stop()


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed by prometheus_client's own parser."""
    body, _ = metrics.exposition()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def run(cron: Yamlcron, job_id: str) -> None:
    """A run through the service's loop, its end recorded and announced."""
    cron.trigger(job_id).result(timeout=60)
    assert cron.scheduler.flush(30)
    assert cron.events.flush(30)


def test_runs_are_counted_by_job_and_status(tmp_path: Path) -> None:
    with looping(tmp_path) as (cron, metrics):
        run(cron, "good")
        run(cron, "good")
        run(cron, "bad")
        got = samples(metrics)
    assert got["yamlcron_runs_total", (("job_id", "good"), ("status", "success"))] == 2
    assert got["yamlcron_runs_total", (("job_id", "bad"), ("status", "failure"))] == 1
    assert got["yamlcron_run_duration_seconds_count", (("job_id", "good"),)] == 2
    assert got["yamlcron_fire_lateness_seconds_count", ()] == 3
    assert ("yamlcron_job_last_success_timestamp_seconds", (("job_id", "good"),)) in got
    assert ("yamlcron_job_last_success_timestamp_seconds", (("job_id", "bad"),)) not in got
    assert ("yamlcron_job_last_run_timestamp_seconds", (("job_id", "bad"),)) in got
    assert got["yamlcron_runs_running", (("job_id", "good"),)] == 0


def test_gauges_are_read_from_the_store(tmp_path: Path) -> None:
    with service(tmp_path) as cron:
        cron.pause("bad")
        got = samples(Metrics(cron))
        digest = cron.applied()
    paused = {
        labels[0][1]: value
        for (name, labels), value in got.items()
        if name == "yamlcron_job_paused"
    }
    assert paused == {"good": 0, "bad": 1, "resting": 1}
    assert got["yamlcron_job_next_run_timestamp_seconds", (("job_id", "good"),)] == 4070908800
    nexts = {labels for name, labels in got if name == "yamlcron_job_next_run_timestamp_seconds"}
    assert nexts == {(("job_id", "good"),)}  # a paused job fires at no time
    assert digest is not None
    info = [labels for name, labels in got if name == "yamlcron_manifest_info"]
    assert info == [(("commit", ""), ("digest", digest.digest))]
    assert got["yamlcron_store_errors_total", ()] == 0
    periods = {
        labels[0][1]: value
        for (name, labels), value in got.items()
        if name == "yamlcron_job_period_seconds"
    }
    assert periods == {"bad": 86400}  # a date fires once, a paused job not at all: no period


def test_last_success_survives_a_restart_through_the_store(tmp_path: Path) -> None:
    with looping(tmp_path) as (cron, _):
        run(cron, "good")
        finished = cron.history("good")[0].finished_at
    assert finished is not None
    with service(tmp_path) as again:
        got = samples(Metrics(again))  # a new process: it heard no event of that run
    key = ("yamlcron_job_last_success_timestamp_seconds", (("job_id", "good"),))
    assert got[key] == finished.timestamp()


def test_two_services_in_one_process_keep_their_own_metrics(tmp_path: Path) -> None:
    with looping(tmp_path / "one") as (one, first), looping(tmp_path / "two") as (_, second):
        run(one, "bad")
        got_first, got_second = samples(first), samples(second)
    key = ("yamlcron_runs_total", (("job_id", "bad"), ("status", "failure")))
    assert got_first[key] == 1
    assert key not in got_second


def test_deliveries_of_the_manifests_notifiers_are_counted_by_result(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(
        MANIFEST
        + "notify:\n"
        + "  - {via: command, command: [sh, -c, 'cat >/dev/null'], on: [failure]}\n"
        + "  - {via: command, command: [sh, -c, 'cat >/dev/null; exit 1'], on: [failure]}\n"
    )
    cron = Yamlcron(
        tmp_path / "jobs.yaml",
        registry=build_registry(),
        http=HttpOptions("127.0.0.1", 0),
    )
    cron.start()
    try:
        assert cron.http is not None
        run(cron, "bad")
        run(cron, "bad")
        got = samples(cron.http.metrics)
    finally:
        cron.stop()
    assert got["yamlcron_notifications_total", (("result", "ok"), ("via", "command"))] == 2
    assert got["yamlcron_notifications_total", (("result", "error"), ("via", "command"))] == 2


def test_ten_thousand_jobs_are_one_sample_each(tmp_path: Path) -> None:
    jobs = "".join(
        f"  j{i}: {{trigger: {{cron: '{i % 60} 3 * * *'}}, run: {{command: [echo]}}}}\n"
        for i in range(10_000)
    )
    (tmp_path / "jobs.yaml").write_text("version: 1\njobs:\n" + jobs)
    with Yamlcron(tmp_path / "jobs.yaml", registry=build_registry(autoload=False)) as cron:
        cron.apply()
        got = samples(Metrics(cron))
    for name in ("yamlcron_job_paused", "yamlcron_job_next_run_timestamp_seconds"):
        assert sum(1 for n, _ in got if n == name) == 10_000
