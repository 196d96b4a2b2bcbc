"""The fire path replayed on one thread: claim, run and record, counted in instructions.

    python bench/replay.py [--fires 1500] [--per-pass 30]       # CPU µs a fire, this thread
    python bench/replay.py --callgrind [--fires 1500]           # instructions a fire (valgrind)

The lateness workload of ``bench/run.py`` (1,000 interval jobs a second, staggered, no-op
callable) on a SQLite store, driven by a fake clock that moves ``--per-pass`` ms a pass: each
pass of the loop claims the fires of those milliseconds (about as many as a pass claims in a
daemon at 1,000/s), the thread executor runs each at once on this thread, and the pass's ends
are written in one batch, as the recorder would. No thread, timer or wake-up is involved: what
is left is the Python and SQLite work a fire costs.

``--callgrind`` runs this script twice under ``valgrind --tool=callgrind`` (with no fire, then
with ``--fires``) and prints the difference a fire: the same count run after run, whatever else
the machine is doing (this project's machines vary twofold in speed within minutes), so a
change of 1 % in the work a fire shows, where ``bench/profile.py``'s CPU figures need many
interleaved runs to show 10 %. Instructions are not seconds: a threaded daemon spends two to
three times this thread's CPU a fire (wake-ups, caches gone cold while a thread slept;
bench/README.md, "Where a fire's CPU goes").
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from run import lateness_manifest

from yamlcron import reconcile
from yamlcron.manifest import parse_manifest
from yamlcron.registry import build_registry
from yamlcron.scheduler import loop
from yamlcron.scheduler.groupcommit import write_batch
from yamlcron.scheduler.parts import Parts
from yamlcron.scheduler.pool import InlinePool
from yamlcron.store.sqlite import SQLiteStore

RATE = 1000
#: Passes before the count starts: the schedules parsed, the statements prepared.
WARM_PASSES = 10


class PassCommit:
    """The recorder's batching without its thread: ends are written when flushed."""

    def __init__(
        self,
        write: Callable[[list[Any]], Any],
        done: Callable[..., None],
        *,
        settled: Callable[[list[Any]], None],
    ) -> None:
        self._write, self._done, self._settled = write, done, settled
        self._items: list[Any] = []

    def put(self, item: Any) -> None:
        self._items.append(item)

    def flush(self, timeout: float | None = None) -> bool:
        batch, self._items = self._items, []
        if batch:
            write_batch(batch, self._write, self._done, self._settled)
        return True

    def close(self, timeout: float | None = None) -> None:
        self.flush()


class Clock:
    """The scheduler's time, moved by the replay."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def replay(fires: int, per_pass: int) -> tuple[int, float, int]:
    """Fires counted, this thread's CPU seconds for them, and every run recorded a success
    (the warm-up's too)."""
    # Claim only what is due: the inline pool runs each claimed run at once, and a run
    # claimed ahead would wait out its start on the real clock.
    loop.LEAD = timedelta(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        text = lateness_manifest(RATE, start)
        manifest = parse_manifest(text, path / "jobs.yaml")
        store = SQLiteStore(path / "state.db")
        stored = store.load_jobs()
        reconcile.apply(reconcile.plan(manifest, stored, start), manifest, store, stored, start)
        clock = Clock(start)
        parts = Parts(clock=clock, pool=InlinePool(), commit=PassCommit)
        scheduler = loop.Scheduler(store, build_registry(autoload=False), path, parts=parts)
        step = timedelta(milliseconds=per_pass)

        def passes(count: int) -> None:
            for _ in range(count):
                clock.now += step
                scheduler.tick(clock.now)
                scheduler.runner.flush()

        passes(WARM_PASSES)
        count = fires // per_pass
        cpu = time.thread_time()
        passes(count)
        cpu = time.thread_time() - cpu
        store.close()
        with closing(sqlite3.connect(path / "state.db")) as db:  # a count: no run decoded
            (recorded,) = db.execute(
                "SELECT count(*) FROM runs WHERE status = 'success'"
            ).fetchone()
    return count * per_pass, cpu, recorded


def instructions(runs: list[int], per_pass: int) -> list[int]:
    """Instructions this script executes with each count of fires, under callgrind (at once)."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    procs = [
        subprocess.Popen(
            [*command, __file__, "--fires", str(fires), "--per-pass", str(per_pass)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for fires in runs
    ]
    counts = []
    for proc in procs:
        _, err = proc.communicate()
        found = re.search(r"Collected : (\d+)", err)
        if proc.returncode or found is None:
            raise SystemExit(f"valgrind failed: {err.strip()[-300:]}")
        counts.append(int(found[1]))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fires", type=int, default=1500, help="fires counted (default 1,500)")
    parser.add_argument("--per-pass", type=int, default=30, help="ms of fires a pass claims")
    parser.add_argument("--callgrind", action="store_true", help="instructions a fire")
    args = parser.parse_args()
    if args.callgrind:
        base, total = instructions([0, args.fires], args.per_pass)
        fires = args.fires // args.per_pass * args.per_pass
        print(f"{(total - base) / fires:,.0f} instructions a fire ({fires:,} fires, callgrind)")
        return
    fires, cpu, recorded = replay(args.fires, args.per_pass)
    if fires:
        print(
            f"{cpu / fires * 1e6:.1f} µs CPU a fire on one thread ({fires:,} fires; "
            f"{recorded:,} runs recorded as successes, the warm-up's with them)"
        )


if __name__ == "__main__":
    main()
