"""Three real ``yamlcron run`` replicas on the real PostgreSQL, one killed, one frozen.

For a minute, 60 jobs fire every second across three replicas while replica 0 is killed
with SIGKILL and restarted every few seconds, replica 1 is stopped with SIGSTOP for
longer than its lease, twice, then resumed, and every few seconds the server ends every
connection the replicas hold (``pg_terminate_backend``), whatever they are doing with it:
claiming, recording an end, renewing a lease, listening. Ten of the jobs have
``max_instances: 1``. Afterwards, from the store and from the log the job itself appends
to on every execution:

* every fire in the window has exactly one first-attempt run, and no (fire, attempt)
  executed twice: 0 duplicates;
* every fire ended in success, the interrupted ones through their retry: 0 lost; a fire
  of a ``max_instances: 1`` job may instead be ``skipped``, but only while another run of
  that job was under way as far as its replica could know: one whose end the store had
  not recorded yet, or, on the replica that ran it, that had not ended (an end it holds
  in memory because the store refused it does not count);
* no result was accepted from a lease after it expired (the frozen replica's results
  are refused: fencing), and the frozen replica noticed and joined again.

The figures are printed (run with ``-s`` to see them; the issue's note quotes them).
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.processes import clean_env

JOBS = 50
SINGLE = 10  # more jobs, with max_instances: 1
WINDOW = 60.0
LEASE = 3.0
KILL_EVERY = 6.0
FREEZES = (15.0, 40.0)  # seconds into the window
FREEZE_FOR = 2.5 * LEASE
CUT_EVERY = 4.0  # seconds between two rounds of pg_terminate_backend
#: How far a run's times may stray from what its replica knew when it decided: a worker
#: hands an end over a moment after it stamps it, a busy 2-core machine delays threads.
SLACK_US = 200_000
#: How long after the time a store write stamps (recorded_at) its commit may come: a reap
#: reads the jobs it retries within its transaction.
STALE_US = 1_000_000

pytestmark = [pytest.mark.timeout(240), pytest.mark.process]

JOB = """\
import os, time
from pathlib import Path
from typing import Any

LOG = Path(__file__).with_name("executions.log")


def fire(YAMLCRON_JOB_ID: str, YAMLCRON_SCHEDULED_AT: str, YAMLCRON_ATTEMPT: str) -> None:
    line = f"{YAMLCRON_JOB_ID} {YAMLCRON_SCHEDULED_AT} {YAMLCRON_ATTEMPT} {os.getpid()}\\n"
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write of a short line: atomic with O_APPEND
    finally:
        os.close(fd)
    time.sleep(0.5)  # so a frozen replica is caught with runs under way
"""


def _manifest() -> str:
    lines = [
        "version: 1",
        "defaults:",
        "  coalesce: false",  # every fire runs, however late: a late fire is not a lost one
        "  max_instances: 10",  # runs of a dead replica count until reaped: do not skip
        # Five: in one CI run on a loaded 2-core machine a fire met three misfortunes, one
        # an attempt (its replica killed before its end was written, the next one frozen,
        # the third losing its lease to cut connections), and ended interrupted. Each is
        # handled as it should be; three attempts were too few for this much chaos.
        "  retry: {attempts: 5, delay: 0s}",
        "jobs:",
    ]
    for i in range(JOBS):
        lines += [f"  j{i:02d}:", "    trigger: {interval: 1s}", '    run: {call: "chaos:fire"}']
    for i in range(SINGLE):
        lines += [
            f"  m{i:02d}:",
            "    trigger: {interval: 1s}",
            '    run: {call: "chaos:fire"}',
            "    max_instances: 1",
        ]
    return "\n".join(lines) + "\n"


class Replica:
    def __init__(self, folder: Path, url: str, index: int) -> None:
        self.folder, self.url, self.index = folder, url, index
        self.log = folder / f"replica{index}.log"
        self.starts = 0
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        with self.log.open("a") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "yamlcron",
                    "run",
                    "-f",
                    "jobs.yaml",
                    "--store",
                    self.url,
                    "--lease-ttl",
                    str(LEASE),
                    "--node",
                    f"r{self.index}.{self.starts}",
                    "--no-watch",
                    "--workers",
                    "100",  # a replica may take a whole second's 50 fires of 0.5 s each
                ],
                cwd=self.folder,
                env=clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def kill_and_restart(self) -> None:
        self.proc.kill()
        self.proc.wait()
        time.sleep(1.0)
        self.proc = self._start()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        return self.proc.wait(60)


def test_three_replicas_run_every_fire_once_through_kills_freezes_and_cut_connections(
    postgres_url: str, tmp_path: Path
) -> None:
    (tmp_path / "chaos.py").write_text(JOB)
    (tmp_path / "jobs.yaml").write_text(_manifest())
    # The replicas' connections carry a name of their own: the server is shared, and only
    # theirs are cut.
    app = f"yc_chaos_{uuid.uuid4().hex[:12]}"
    replicas = [Replica(tmp_path, f"{postgres_url}&application_name={app}", i) for i in range(3)]
    db = psycopg.connect(postgres_url, autocommit=True)
    try:
        _wait(lambda: _live(db) == 3, "three live replicas", replicas)
        time.sleep(3.0)  # warm-up
        start = _db_micros(db)
        began = time.monotonic()
        kills, next_kill, freezes = 0, KILL_EVERY, list(FREEZES)
        cuts, next_cut = 0, CUT_EVERY / 2
        while (elapsed := time.monotonic() - began) < WINDOW:
            if elapsed >= next_cut:
                cuts += _cut_connections(db, app)
                next_cut += CUT_EVERY
            if elapsed >= next_kill:
                replicas[0].kill_and_restart()
                kills += 1
                next_kill += KILL_EVERY
            elif freezes and elapsed >= freezes[0] and _running_on(db, "r1."):
                freezes.pop(0)  # freeze it with runs under way, so their results come late
                replicas[1].proc.send_signal(signal.SIGSTOP)
                time.sleep(FREEZE_FOR)
                replicas[1].proc.send_signal(signal.SIGCONT)
            time.sleep(0.1)
        end = _db_micros(db)
        time.sleep(3 * LEASE)  # let the last interrupted runs be reaped and retried
        codes = [r.stop() for r in replicas]
        report = _check(db, tmp_path, start, end)
    finally:
        db.close()
        for r in replicas:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()
    report["kills"] = kills
    report["connections_cut"] = cuts
    print("\nchaos:", ", ".join(f"{k}={v}" for k, v in report.items()))
    assert codes == [0, 0, 0], [r.log.read_text()[-2000:] for r in replicas]
    assert report["expected"] >= JOBS * (WINDOW - 1)
    assert report["duplicates"] == 0
    assert report["lost"] == 0
    assert report["unfinished"] == 0
    assert report["late_results_accepted"] == 0
    assert report["skipped_with_the_outcome_known"] == 0
    assert cuts >= WINDOW / CUT_EVERY  # at least one connection each round
    frozen = replicas[1].log.read_text()
    assert "was discarded" in frozen  # results it brought back after its lease were refused
    assert "joined again" in frozen


def _check(db: psycopg.Connection[Any], folder: Path, start: int, end: int) -> dict[str, Any]:
    anchors = dict(db.execute("SELECT id, anchor FROM jobs").fetchall())
    second = 1_000_000
    expected = {
        (job, anchor + k * second)
        for job, anchor in anchors.items()
        for k in range(-(-(start - anchor) // second), (end - anchor) // second + 1)
        if start <= anchor + k * second < end
    }
    rows = db.execute(
        "SELECT job_id, scheduled_at, attempt, status, started_at FROM runs "
        "WHERE scheduled_at >= %s AND scheduled_at < %s",
        (start, end),
    ).fetchall()
    skips = _skips(db, start, end)
    for row in db.execute(
        "SELECT id, job_id, node, lease, scheduled_at, started_at FROM runs "
        "WHERE status = 'running' ORDER BY id LIMIT 5"
    ).fetchall():
        print("left running:", row)
    first = Counter((job, at) for job, at, attempt, _, _ in rows if attempt == 1)
    last: dict[tuple[str, int], tuple[int, str]] = {}
    for job, at, attempt, status, _ in rows:
        if (job, at) not in last or attempt > last[(job, at)][0]:
            last[(job, at)] = (attempt, status)
    # A justified skip of a max_instances: 1 job is a final outcome, as success is.
    done = {fire: ("success" if fire in skips["justified"] else s) for fire, (_, s) in last.items()}
    executed = Counter(
        tuple(line.split()[:3]) for line in (folder / "executions.log").read_text().splitlines()
    )
    late = db.execute(
        "SELECT COUNT(*) FROM runs r JOIN nodes n ON n.token = r.lease "
        "WHERE r.status IN ('success', 'failure', 'timeout') AND r.recorded_at > n.expires_at"
    ).fetchone()
    lateness = sorted(
        (started - at) / 1000 for job, at, attempt, _, started in rows if attempt == 1 and started
    )
    retried = [
        (started - at) / 1000 for job, at, attempt, _, started in rows if attempt > 1 and started
    ]
    return {
        "expected": len(expected),
        "runs": len(rows),
        "duplicates": sum(n - 1 for n in first.values() if n > 1)
        + sum(n - 1 for n in executed.values() if n > 1),
        "lost": len(expected - set(first)),
        "unfinished": sum(1 for fire in expected if done.get(fire) != "success"),
        "unfinished_queued": sum(
            1
            for job, at in db.execute("SELECT job_id, scheduled_at FROM queue").fetchall()
            if (job, at) in expected and done.get((job, at)) != "success"
        ),
        "unfinished_as": dict(
            Counter(
                f"{last[fire][1]}@{last[fire][0]}"
                for fire in expected
                if done.get(fire, "") not in ("success", "") and fire in last
            )
        ),
        "skipped": len(skips["justified"]) + len(skips["unjustified"]),
        "skipped_with_the_outcome_known": len(skips["unjustified"]),
        "interrupted_and_retried": len(retried),
        "late_results_accepted": late[0] if late else None,
        "lateness_ms_p50": round(statistics.median(lateness), 1),
        "lateness_ms_p99": round(lateness[int(len(lateness) * 0.99)], 1),
        "lateness_ms_max": round(lateness[-1], 1),
        "retry_start_ms_max": round(max(retried, default=0.0), 1),
    }


def _skips(db: psycopg.Connection[Any], start: int, end: int) -> dict[str, set[tuple[str, int]]]:
    """The skipped fires in the window, justified or not by a run of the job under way.

    Under way for the replica that skipped: another run of the job claimed before the skip
    whose end was not recorded yet (on another replica) or had not happened (on the
    replica itself, which knows its runs' ends before the store does, unless another
    replica reaped the run: then it learns of it only when its result is refused).
    """
    skipped = db.execute(
        "SELECT id, job_id, scheduled_at, started_at, node FROM runs "
        "WHERE status = 'skipped' AND scheduled_at >= %s AND scheduled_at < %s",
        (start, end),
    ).fetchall()
    found: dict[str, set[tuple[str, int]]] = {"justified": set(), "unjustified": set()}
    for run_id, job, at, skipped_at, node in skipped:
        # Claimed before the skip, or in the same pass (an earlier fire of the job, due with
        # it after a pass the store could not serve: ids are given in claiming order).
        blocking = db.execute(
            "SELECT 1 FROM runs WHERE job_id = %s AND status NOT IN ('skipped', 'missed') "
            "AND (id < %s OR started_at <= %s + %s) "
            "AND CASE WHEN node = %s THEN status = 'interrupted' OR finished_at IS NULL "
            "OR finished_at >= %s - %s ELSE recorded_at IS NULL OR recorded_at >= %s - %s END "
            "LIMIT 1",
            (job, run_id, skipped_at, SLACK_US, node, skipped_at, SLACK_US, skipped_at, STALE_US),
        ).fetchone()
        found["justified" if blocking else "unjustified"].add((job, at))
        if not blocking:
            window = db.execute(
                "SELECT id, node, status, attempt, (started_at - %s) / 1000, "
                "(finished_at - %s) / 1000, (recorded_at - %s) / 1000 FROM runs "
                "WHERE job_id = %s AND id <> %s AND status <> 'skipped' "
                "AND started_at BETWEEN %s - 8000000 AND %s + %s ORDER BY started_at",
                (skipped_at, skipped_at, skipped_at, job, run_id, skipped_at, skipped_at, SLACK_US),
            ).fetchall()
            moment = datetime.fromtimestamp(skipped_at / 1e6, UTC).isoformat()
            print("unjustified skip", job, node, run_id, moment, "runs (ms from it):", window)
    return found


def _cut_connections(db: psycopg.Connection[Any], app: str) -> int:
    """End every connection of the replicas (named ``app``); how many there were."""
    rows = db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (app,),
    ).fetchall()
    return len(rows)


def _running_on(db: psycopg.Connection[Any], node: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM runs WHERE status = 'running' AND node LIKE %s LIMIT 1", (node + "%",)
    ).fetchone()
    return row is not None


def _live(db: psycopg.Connection[Any]) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM nodes WHERE reaped_at IS NULL AND "
        "expires_at > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
    ).fetchone()
    return int(row[0]) if row else 0


def _db_micros(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT").fetchone()
    assert row is not None
    return int(row[0])


def _wait(check: object, what: str, replicas: list[Replica], timeout: float = 30) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except psycopg.Error:
            pass  # the tables are not there until the first replica migrates
        time.sleep(0.1)
    logs = "\n".join(r.log.read_text()[-1500:] for r in replicas)
    pytest.fail(f"timed out waiting for {what}:\n{logs}")
