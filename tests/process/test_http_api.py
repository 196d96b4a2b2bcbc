"""`yamlcron run --http` as a real process, asked by a real HTTP client: every route of SPEC §9."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Daemon, Served, clean_env, serving, url_of
from tests.tools import call

pytestmark = pytest.mark.process  # real processes: not in the lower-bounds job

TOKEN = "s3cret-token"
JOBS = """\
version: 1
jobs:
  hello:
    trigger: {date: "2099-01-01T00:00:00+00:00"}
    run: {shell: "echo hello"}
  broken:
    trigger: {cron: "0 3 1 1 *", timezone: Europe/Berlin}
    run: {shell: "echo about to fail; exit 3"}
  raises:
    trigger: {date: "2099-01-01T00:00:00+00:00"}
    run: {call: "tasks:explode"}
"""
TASKS = """\
def explode():
    raise RuntimeError("the tank is empty")
"""


def write(folder: Path) -> None:
    """The manifest and its tasks module in ``folder``."""
    (folder / "jobs.yaml").write_text(JOBS)
    (folder / "tasks.py").write_text(TASKS)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    (folder / "token").write_text(TOKEN + "\n")
    write(folder)
    with serving(folder, "--http-token-file", "token") as served:
        yield served


def test_livez_and_readyz_answer_200_while_the_daemon_runs(served: Served) -> None:
    live = call(served.url + "/livez")
    ready = call(served.url + "/readyz")
    assert (live.status, live.json()) == (200, {"alive": True})
    assert (ready.status, ready.json()) == (200, {"ready": True})
    assert ready.headers["Content-Type"] == "application/json"


def test_jobs_has_the_shape_of_jobs_output_json(served: Served) -> None:
    reply = call(served.url + "/api/v1/jobs")
    assert reply.status == 200
    cli = subprocess.run(
        [sys.executable, "-m", "yamlcron", "jobs", "--output", "json"],
        cwd=served.daemon.folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert reply.json() == json.loads(cli.stdout)
    assert [j["id"] for j in reply.json()] == ["broken", "hello", "raises"]
    broken = call(served.url + "/api/v1/jobs/broken").json()
    assert broken["trigger"] == "cron 0 3 1 1 * (Europe/Berlin)"
    assert broken["next_run_at"].endswith("+01:00")  # in the job's zone, as the CLI shows it


def test_unknown_job_is_404_with_the_nearest_id(served: Served) -> None:
    reply = call(served.url + "/api/v1/jobs/helo")
    assert reply.status == 404
    assert "hello" in reply.json()["error"]
    assert call(served.url + "/api/v1/jobs/helo/runs").status == 404


def test_trigger_and_wait_answers_the_finished_run(served: Served) -> None:
    reply = call(served.url + "/api/v1/jobs/broken/trigger?wait=60", "POST", token=TOKEN)
    assert reply.status == 200
    run = reply.json()
    assert (run["job_id"], run["status"], run["exit_code"]) == ("broken", "failure", 3)
    assert run["output"] == "about to fail\n"
    assert list(run) == [
        "id", "job_id", "scheduled_at", "started_at", "finished_at", "attempt", "status",
        "exit_code", "result", "error", "output", "node",
    ]  # fmt: skip
    one = call(served.url + f"/api/v1/runs/{run['id']}")
    assert (one.status, one.json()) == (200, run)
    runs = call(served.url + "/api/v1/jobs/broken/runs?status=failure&limit=5").json()
    assert run in runs
    assert call(served.url + "/api/v1/jobs/broken/runs?status=success").json() == []


def test_a_run_that_raised_shows_its_traceback(served: Served) -> None:
    run = call(served.url + "/api/v1/jobs/raises/trigger?wait=60", "POST", token=TOKEN).json()
    assert run["status"] == "failure"
    error = call(served.url + f"/api/v1/runs/{run['id']}").json()["error"]
    assert error["type"] == "RuntimeError"
    assert error["message"] == "the tank is empty"
    assert "in explode" in error["traceback"]


def test_trigger_without_wait_is_202_and_the_run_follows(served: Served) -> None:
    before = len(call(served.url + "/api/v1/jobs/hello/runs").json())
    reply = call(served.url + "/api/v1/jobs/hello/trigger", "POST", token=TOKEN)
    assert (reply.status, reply.json()) == (202, {"job_id": "hello"})
    served.daemon.wait_for(
        lambda: len(call(served.url + "/api/v1/jobs/hello/runs?status=success").json()) > before,
        "the triggered run",
    )


def test_pause_and_resume_answer_the_job(served: Served) -> None:
    paused = call(served.url + "/api/v1/jobs/hello/pause", "POST", token=TOKEN)
    assert paused.status == 200
    assert (paused.json()["id"], paused.json()["paused"]) == ("hello", True)
    assert paused.json()["next_run_at"] is None
    assert call(served.url + "/api/v1/jobs/hello").json()["paused"] is True
    resumed = call(served.url + "/api/v1/jobs/hello/resume", "POST", token=TOKEN).json()
    assert resumed["paused"] is False
    assert resumed["next_run_at"] == "2099-01-01T00:00:00+00:00"


def test_replicas_and_manifest(served: Served) -> None:
    replicas = call(served.url + "/api/v1/replicas").json()
    assert len(replicas) == 1
    assert set(replicas[0]) == {
        "node",
        "token",
        "started_at",
        "heartbeat_at",
        "expires_at",
        "running",
    }
    manifest = call(served.url + "/api/v1/manifest").json()
    assert set(manifest) == {"digest", "commit", "applied_at", "path", "last_reload_error"}
    assert len(manifest["digest"]) == 64
    assert manifest["last_reload_error"] is None


def test_a_failed_reload_shows_in_the_manifest_and_the_metrics(tmp_path: Path) -> None:
    write(tmp_path)
    with serving(tmp_path) as served:
        (tmp_path / "jobs.yaml").write_text(JOBS + "  bad: {trigger: {interval: 0s}}\n")
        served.daemon.signal(signal.SIGHUP)
        served.daemon.wait_for(
            lambda: call(served.url + "/api/v1/manifest").json()["last_reload_error"] is not None,
            "the reload error",
        )
        error = call(served.url + "/api/v1/manifest").json()["last_reload_error"]
        assert "jobs.yaml:" in error["message"]
        # Counted by a listener of the reload's event, which the bus delivers a moment later.
        counted = 'yamlcron_manifest_reloads_total{result="error"} 1.0'
        served.daemon.wait_for(
            lambda: counted in call(served.url + "/metrics").body.decode(), "the reload counted"
        )
        assert call(served.url + "/api/v1/jobs/hello").status == 200  # the last good one runs


def test_metrics_count_runs_with_the_names_of_the_spec(served: Served) -> None:
    call(served.url + "/api/v1/jobs/broken/trigger?wait=60", "POST", token=TOKEN)
    reply = call(served.url + "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = reply.body.decode()
    samples = {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}
    assert 'yamlcron_runs_total{job_id="broken",status="failure"}' in samples
    assert 'yamlcron_run_duration_seconds_count{job_id="broken"}' in samples
    assert "yamlcron_fire_lateness_seconds_count" in samples
    for job_id in ("broken", "hello", "raises"):
        assert f'yamlcron_job_paused{{job_id="{job_id}"}}' in samples
        assert f'yamlcron_runs_running{{job_id="{job_id}"}}' in samples
    assert 'yamlcron_job_next_run_timestamp_seconds{job_id="hello"} 4.0709088e+09' in text
    assert 'yamlcron_job_last_run_timestamp_seconds{job_id="broken"}' in samples
    assert 'yamlcron_manifest_reloads_total{result="ok"}' in samples
    assert any(s.startswith("yamlcron_manifest_info{") for s in samples)
    assert "yamlcron_store_errors_total" in samples
    assert not any('{job="' in line or ',job="' in line for line in text.splitlines())


def test_actions_without_a_configured_token_are_403(tmp_path: Path) -> None:
    write(tmp_path)
    with serving(tmp_path) as served:
        for action in ("trigger", "pause", "resume"):
            reply = call(served.url + f"/api/v1/jobs/hello/{action}", "POST", token="anything")
            assert reply.status == 403
            assert "--http-token-file" in reply.json()["error"]
        assert served.daemon.statuses("hello") == []
        assert call(served.url + "/api/v1/jobs/hello").json()["paused"] is False


def test_address_and_token_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    env = {**clean_env(), "YAMLCRON_HTTP": "127.0.0.1:0", "YAMLCRON_HTTP_TOKEN": "from-env"}
    daemon = Daemon(tmp_path, env=env)
    try:
        url = url_of(daemon)
        assert call(url + "/api/v1/jobs/hello/pause", "POST", token="wrong").status == 401
        assert call(url + "/api/v1/jobs/hello/pause", "POST", token="from-env").status == 200
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_port_in_use_is_one_line_and_exit_1_before_the_store_is_made(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "yamlcron", "run", "--http", f"127.0.0.1:{port}"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot serve HTTP on 127.0.0.1:{port}: Address already in use"
    ]
    assert not (tmp_path / ".yamlcron" / "state.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--http", "localhost"], "is not HOST:PORT"),
        (["--http", "::1:80"], "IPv6 host in brackets"),
        (["--http", "127.0.0.1:0", "--http-token-file", "empty"], "is empty"),
        (["--http", "127.0.0.1:0", "--http-token-file", "absent"], "cannot read the HTTP token"),
    ],
)
def test_bad_http_settings_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    (tmp_path / "empty").write_text("\n")
    done = subprocess.run(
        [sys.executable, "-m", "yamlcron", "run", *args],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (1, 64), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".yamlcron" / "state.db").exists()


def test_the_status_page_paths_go_to_the_pages_module(served: Served) -> None:
    """``/``, ``/jobs/...``: the status page's (yamlcron.http.pages); a 404 where it is absent."""
    reply = call(served.url + "/")
    if importlib.util.find_spec("yamlcron.http.pages") is None:
        assert reply.status == 404
        assert reply.json() == {"error": "no such path: /"}
    else:
        assert reply.status == 200
    assert call(served.url + "/", "POST").status == 405
    assert call(served.url + "/jobsx").status == 404  # not a page path
