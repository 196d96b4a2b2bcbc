"""Task runs on real Celery workers: outcomes as ``history`` shows them, restarts, redelivery.

A ``celery worker`` subprocess per module (Redis as broker and result backend), on a queue
of its own; RabbitMQ as the broker where a redelivery is what is tested. The tasks append
what they do to a ledger file, which says from the worker's side how often each task id
ran. Set ``YAMLCRON_TEST_REDIS_URL`` (and ``YAMLCRON_TEST_AMQP_URL``) to run them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.processes import Daemon, clean_env
from tests.tools import missing, need

REDIS_ENV = "YAMLCRON_TEST_REDIS_URL"
AMQP_ENV = "YAMLCRON_TEST_AMQP_URL"

TASKS = """\
import os, time
from celery import Celery
from yamlcron.plugins.celery import guard

app = Celery("tasks", broker=os.environ["BROKER"], backend=os.environ["BACKEND"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
guard(app)


def note(*words):
    with open(os.environ["LEDGER"], "a") as ledger:
        ledger.write(" ".join(str(w) for w in words) + "\\n")


@app.task(bind=True)
def add(self, x, y):
    note("ran", self.request.id)
    return {"sum": x + y}


@app.task(bind=True)
def boom(self):
    note("ran", self.request.id)
    raise ValueError("boom")


@app.task(bind=True)
def slow(self, seconds):
    note("start", self.request.id)
    time.sleep(seconds)
    note("end", self.request.id)
    return seconds
"""


def _url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        missing(f"set {name} to run the Celery tests")
    assert url
    return url.rstrip("/")


@dataclass
class Worker:
    """A ``celery worker`` process group, its queue and its ledger."""

    folder: Path
    queue: str
    broker: str
    backend: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.txt"

    @property
    def env(self) -> dict[str, str]:
        return {
            **clean_env(),
            "BROKER": self.broker,
            "BACKEND": self.backend,
            "LEDGER": str(self.ledger),
        }

    def start(self, concurrency: int = 4) -> None:
        log = (self.folder / "worker.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "tasks", "worker"),
                *("-Q", self.queue, "-c", str(concurrency), "-n", f"{self.queue}@%h"),
                *("-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"),
            ],
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its pool's children die with it (kill -9 of the group)
        )
        log.close()
        deadline = time.monotonic() + 30
        while b" ready." not in (self.folder / "worker.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the celery worker did not start:\n" + self.log())
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return (self.folder / "worker.log").read_text(errors="replace")[-4000:]

    def ran(self) -> Counter[str]:
        """How often each task id started on the workers ("ran" or "start" lines)."""
        if not self.ledger.exists():
            return Counter()
        lines = [line.split() for line in self.ledger.read_text().splitlines()]
        return Counter(words[1] for words in lines if words[0] in ("ran", "start"))

    def lines(self, word: str) -> list[str]:
        if not self.ledger.exists():
            return []
        return [
            ln.split()[1] for ln in self.ledger.read_text().splitlines() if ln.split()[0] == word
        ]


def _worker(folder: Path, broker: str, backend: str) -> Worker:
    need("celery", "pip install -e '.[test]'")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tasks.py").write_text(TASKS)
    return Worker(folder, f"yc-{uuid.uuid4().hex[:10]}", broker, backend)


@pytest.fixture(scope="module")
def redis_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    redis = _url(REDIS_ENV)
    worker = _worker(tmp_path_factory.mktemp("celery"), f"{redis}/0", f"{redis}/1")
    worker.start()
    yield worker
    worker.stop()


def _manifest(folder: Path, worker: Worker, jobs: str, queue: str | None = None) -> None:
    (folder / "jobs.yaml").write_text(
        "version: 1\n"
        "executors:\n"
        f"  celery: {{broker: {worker.broker!r}, backend: {worker.backend!r}, "
        f"queue: {queue or worker.queue!r}}}\n"
        "jobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  ")
    )


def _count(daemon: Daemon, where: str) -> int:
    """How many of the daemon's runs match ``where`` (0 before its store exists)."""
    rows = daemon.rows(f"SELECT COUNT(*) FROM runs WHERE {where}")
    return int(rows[0][0]) if rows else 0


def _history(folder: Path) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "yamlcron", "history", "--output", "json"],
        cwd=folder,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {run["job_id"]: run for run in json.loads(done.stdout)}


def _just_past() -> str:
    """A date trigger's time just past: within its grace, it fires as the daemon starts."""
    return (datetime.now(UTC) - timedelta(milliseconds=200)).isoformat()


def test_outcomes_as_history_shows_them(tmp_path: Path, redis_worker: Worker) -> None:
    late = f"{redis_worker.queue}-late"  # nobody reads it until its message expired
    at = _just_past()
    _manifest(
        tmp_path,
        redis_worker,
        f"""\
        ok:
          trigger: {{date: "{at}"}}
          run: {{task: tasks.add, args: [2], kwargs: {{y: 3}}}}
          executor: celery
        raising:
          trigger: {{date: "{at}"}}
          run: {{task: tasks.boom}}
          executor: celery
        too-long:
          trigger: {{date: "{at}"}}
          run: {{task: tasks.slow, args: [30], timeout: 1s}}
          executor: celery
        waited:
          trigger: {{cron: "0 3 1 1 *"}}
          run: {{task: tasks.add, args: [1, 1]}}
          executor: {{via: celery, queue: {late}}}
          misfire_grace_time: 2s
        """,
    )
    ran_before = redis_worker.ran()
    daemon = Daemon(tmp_path)
    try:
        daemon.wait_for(lambda: _count(daemon, "status != 'running'") == 3, "three outcomes")
        subprocess.run(
            [sys.executable, "-m", "yamlcron", "trigger", "waited"],
            cwd=tmp_path,
            env=clean_env(),
            check=True,
            capture_output=True,
        )
        daemon.wait_for(lambda: _count(daemon, "remote_sent = 1") == 4, "the fourth one sent")
        # Its message sits in a queue nobody reads past its grace (2 s after its time);
        # the worker, told to read that queue then, drops it.
        [(scheduled,)] = daemon.rows("SELECT scheduled_at FROM runs WHERE job_id = 'waited'")
        while time.time() < scheduled / 1e6 + 2.2:
            time.sleep(0.1)
        subprocess.run(
            [
                *(sys.executable, "-m", "celery", "-A", "tasks", "control", "add_consumer"),
                *(late, "-d", f"{redis_worker.queue}@{os.uname().nodename}"),
            ],
            cwd=redis_worker.folder,
            env=redis_worker.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        daemon.wait_for(lambda: daemon.statuses("waited") == ["missed"], "the expired one missed")
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    runs = _history(tmp_path)
    assert (runs["ok"]["status"], runs["ok"]["result"]) == ("success", {"sum": 5})
    error = runs["raising"]["error"]
    assert runs["raising"]["status"] == "failure"
    assert isinstance(error, dict)
    assert (error["type"], error["message"]) == ("ValueError", "boom")
    assert 'raise ValueError("boom")' in str(error["traceback"])
    assert runs["too-long"]["status"] == "timeout"
    assert runs["waited"]["status"] == "missed"
    ran = redis_worker.ran() - ran_before
    assert sorted(ran.values()) == [1, 1, 1]  # ok, raising, too-long; the expired one never ran


def test_a_daemon_killed_with_twenty_runs_under_way_adopts_them_all(
    tmp_path: Path, redis_worker: Worker
) -> None:
    at = _just_past()
    jobs = "".join(
        textwrap.dedent(f"""\
        j{n:02}:
          trigger: {{date: "{at}"}}
          run: {{task: tasks.slow, args: [0.4]}}
          executor: celery
          misfire_grace_time: 10m
        """)
        for n in range(20)
    )
    _manifest(tmp_path, redis_worker, jobs)
    first = Daemon(tmp_path)
    try:
        first.wait_for(
            lambda: _count(first, "remote_sent = 1") >= 20,
            "twenty task runs sent",
        )
        started = len(redis_worker.lines("start"))
        ended = len(redis_worker.lines("end"))
        assert ended < 20, "the runs were over before the daemon was killed"
    finally:
        first.proc.kill()  # kill -9
        first.proc.wait()
    statuses = first.rows("SELECT status FROM runs")
    assert len(statuses) == 20
    assert {s for (s,) in statuses} <= {"running", "success"}
    second = Daemon(tmp_path)
    try:
        second.wait_for(
            lambda: _count(second, "status = 'success'") == 20,
            "all twenty adopted and recorded",
            timeout=60,
        )
    finally:
        second.signal(signal.SIGTERM)
        assert second.exit_code() == 0
    refs = {r for (r,) in second.rows("SELECT remote FROM runs")}
    ran = redis_worker.ran()
    mine = {ref: ran[ref] for ref in refs}
    assert len(refs) == 20
    assert set(mine.values()) == {1}  # 0 lost, 0 duplicates
    assert sorted(set(redis_worker.lines("end")) & refs) == sorted(refs)
    results = second.rows("SELECT result, node FROM runs")
    assert {json.loads(r) for r, _ in results} == {0.4}
    assert started <= 20
    assert "adopted" in second.log.read_text()


def test_a_worker_killed_mid_task_does_not_run_it_twice(tmp_path: Path) -> None:
    """RabbitMQ redelivers the unacked message (late acks) to the next worker: the guard
    refuses it, and the run is recorded ``interrupted`` instead of running again."""
    amqp, redis = _url(AMQP_ENV), _url(REDIS_ENV)
    worker = _worker(tmp_path / "worker", f"{amqp}/", f"{redis}/1")
    worker.start(concurrency=1)
    daemon: Daemon | None = None
    try:
        _manifest(
            tmp_path,
            worker,
            f"""\
            long:
              trigger: {{date: "{_just_past()}"}}
              run: {{task: tasks.slow, args: [60]}}
              executor: celery
            """,
        )
        daemon = Daemon(tmp_path)
        deadline = time.monotonic() + 30
        while not worker.lines("start") and time.monotonic() < deadline:
            time.sleep(0.05)
        [task_id] = worker.lines("start")
        worker.kill()  # kill -9 of the worker and its pool, mid-task
        worker.start(concurrency=1)  # the broker redelivers the message to it
        running = daemon
        running.wait_for(lambda: running.statuses("long") == ["interrupted"], "the run's outcome")
    finally:
        worker.stop()
        if daemon is not None:
            daemon.signal(signal.SIGTERM)
            assert daemon.exit_code() == 0
    assert worker.ran() == Counter({task_id: 1})
    assert worker.lines("end") == []
    run = _history(tmp_path)["long"]
    error = run["error"]
    assert isinstance(error, dict)
    assert error["type"] == "WorkerLostError"


def _replica_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    psycopg = need("psycopg", "pip install -e '.[test]'")
    with psycopg.connect(url) as db:
        return list(db.execute(sql).fetchall())


def test_two_replicas_send_every_fire_exactly_once(
    tmp_path: Path, redis_worker: Worker, postgres_url: str
) -> None:
    """Two ``yamlcron run`` on one PostgreSQL store, 20 fires a second for 30 s."""
    # 600 fires, each to be sent once; 60 s took a tenth of CI's time on a loaded machine.
    seconds = float(os.environ.get("YAMLCRON_TEST_REPLICA_SECONDS", "30"))
    jobs = "".join(
        textwrap.dedent(f"""\
        r{n:02}:
          trigger: {{cron: "* * * * * *"}}
          run: {{task: tasks.add, args: [{n}, 1]}}
          executor: celery
          # A run counts as under way until its outcome is polled: the first took 4.5 s
          # on a loaded 2-core machine, the worker warming up, and 5 let a fire be skipped.
          max_instances: 10
        """)
        for n in range(20)
    )
    _manifest(tmp_path, redis_worker, jobs)
    replicas = [Daemon(tmp_path, "--store", postgres_url) for _ in range(2)]
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for replica in replicas:
                assert replica.proc.poll() is None, replica.log.read_text()
            time.sleep(0.5)
    finally:
        for replica in replicas:
            replica.signal(signal.SIGTERM)
        for replica in replicas:
            assert replica.exit_code() == 0
    runs = _replica_rows(
        postgres_url, "SELECT job_id, scheduled_at, status, remote, node FROM runs ORDER BY id"
    )
    assert {status for _, _, status, _, _ in runs} <= {"success", "running"}  # none missed
    sent = {str(ref): str(job) for job, _, _, ref, _ in runs}
    deadline = time.monotonic() + 60
    while not set(sent) <= set(redis_worker.ran()) and time.monotonic() < deadline:
        time.sleep(0.2)
    ran = redis_worker.ran()
    assert {ref: ran[ref] for ref in sent} == dict.fromkeys(sent, 1)  # each exactly once
    by_job: dict[str, list[int]] = {}
    for job, at, _, _, _ in runs:
        by_job.setdefault(str(job), []).append(int(str(at)))
    for job, times in by_job.items():  # no second skipped between a job's first and last fire
        assert sorted(times) == list(range(min(times), max(times) + 1, 1_000_000)), job
    assert len(by_job) == 20
    assert len(runs) >= 20 * (seconds - 10)
    assert len({node for *_, node in runs}) == 2  # both replicas took part


def test_a_run_claimed_but_never_sent_is_sent_by_the_next_daemon(
    tmp_path: Path, redis_worker: Worker
) -> None:
    """A scheduler that died between its claim and the send: its successor sends the run."""
    from yamlcron.registry import build_registry
    from yamlcron.remote import RemoteStore
    from yamlcron.runs import Claim, NewRun, RunStatus

    _manifest(
        tmp_path,
        redis_worker,
        """\
        once:
          trigger: {cron: "0 3 1 1 *"}
          run: {task: tasks.add, args: [20, 22]}
          executor: celery
        """,
    )
    subprocess.run(
        [sys.executable, "-m", "yamlcron", "apply"],
        cwd=tmp_path,
        env=clean_env(),
        check=True,
        capture_output=True,
    )
    store = build_registry(autoload=False).open_store(
        f"sqlite://{tmp_path / '.yamlcron' / 'state.db'}", create=True
    )
    try:
        now = datetime.now(UTC)
        gone = store.join("gone", 30)
        new = NewRun(job_id="once", scheduled_at=now, status=RunStatus.RUNNING, remote=True)
        [run] = store.claim([Claim(job_id="once", runs=(new,))], gone, None)
        assert isinstance(store, RemoteStore)
        store.leave(gone)  # and died before sending
    finally:
        store.close()
    daemon = Daemon(tmp_path)
    try:
        daemon.wait_for(lambda: daemon.statuses("once") == ["success"], "the adopted run's end")
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    [(ref, result, sent)] = daemon.rows("SELECT remote, result, remote_sent FROM runs")
    assert (json.loads(result), sent) == ({"sum": 42}, 1)
    assert redis_worker.ran()[ref] == 1
    assert run.id == 1
