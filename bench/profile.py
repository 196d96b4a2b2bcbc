"""Where a fire's CPU goes: per thread and per step, in one in-process yamlcron on SQLite.

    python bench/profile.py [--rate 1000] [--window 10] [--burst N]

The lateness workload of ``bench/run.py`` (N interval jobs a second, staggered, no-op
callable), or with ``--burst`` N jobs due at one instant. Two views of the same window:

- **per thread**: CPU the scheduler's threads used (``/proc/self/task/*/schedstat``, in
  nanoseconds: ``stat``'s 10 ms ticks lose most of 64 workers' short runs), in µs a
  fire. Workers are summed; the leader of the pool is one of them.
- **per step**: CPU each step of the fire path used on the thread that ran it
  (``time.thread_time_ns`` around the call; a step's figure includes the steps it calls),
  in µs a call and µs a fire. The wrappers add about 1 µs a call.

Timings print here, never in a test: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from daemons import burst_manifest
from run import _pct, lateness_manifest, recorded_lateness
from windows import sleep_until

from yamlcron import Yamlcron
from yamlcron.plugins.thread import ThreadExecutor
from yamlcron.registry import build_registry
from yamlcron.scheduler.claiming import Claimer
from yamlcron.scheduler.loop import Scheduler
from yamlcron.scheduler.runner import Executors, Runner
from yamlcron.store.firing import FiringSQL

#: The steps timed, by owner: the loop's pass, the worker's run, the recorder's write.
STEPS: list[tuple[type, list[str]]] = [
    (Scheduler, ["_tick", "_fires"]),
    (FiringSQL, ["due", "next_wakeup", "claim", "_insert_runs", "finish_many", "_record_ends"]),
    (Claimer, ["decide", "_hand_out"]),
    (Runner, ["execute", "followups"]),
    (Executors, ["outcome"]),
    (ThreadExecutor, ["execute"]),
]


class Steps:
    """CPU time of the wrapped methods, on the thread that ran each call."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def wrap(self, owner: type, name: str) -> None:
        original = getattr(owner, name)
        label = f"{owner.__name__}.{name}"
        cpu, calls = self.cpu, self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time_ns()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[label] += time.thread_time_ns() - start
                calls[label] += 1

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.cpu.clear()
        self.calls.clear()


def per_thread() -> dict[str, float]:
    """CPU seconds of each of this process's threads, workers summed under one name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    used: dict[str, float] = defaultdict(float)
    for tid in os.listdir("/proc/self/task"):
        try:
            on_cpu = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
        except FileNotFoundError:  # ended meanwhile
            continue
        name = names.get(int(tid), "other")
        if name.startswith("yamlcron-worker"):
            name = "yamlcron-worker (all)"
        used[name] += on_cpu / 1e9
    return used


def measure(rate: int, window: float, burst: int) -> None:
    steps = Steps()
    for owner, names in STEPS:
        for name in names:
            steps.wrap(owner, name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=3 if not burst else 5)).replace(
            microsecond=0
        )
        text = burst_manifest(burst, start, 30) if burst else lateness_manifest(rate, start)
        (path / "jobs.yaml").write_text(text)
        cron = Yamlcron(
            path / "jobs.yaml", registry=build_registry(autoload=False), workers=64, freeze_gc=True
        )
        cron.start()
        warm = start + (timedelta(seconds=2) if not burst else -timedelta(milliseconds=200))
        end = warm + timedelta(seconds=window)
        sleep_until(warm)
        steps.reset()
        before, times_before = per_thread(), os.times()
        sleep_until(end)
        after, times_after = per_thread(), os.times()
        cpu, calls = Counter(steps.cpu), Counter(steps.calls)
        time.sleep(1.5)
        cron.stop(timeout=10)
        late = recorded_lateness(path, start if burst else warm, end)
    fires = burst or rate * window
    what = f"burst of {burst}" if burst else f"{rate:,} fires/s"
    print(f"yamlcron on SQLite, {what}, {window:g} s window, python {sys.version.split()[0]}")
    if late:
        print(
            f"lateness p50 {_pct(late, 0.5):.3g} ms, p99 {_pct(late, 0.99):.3g} ms, "
            f"max {max(late):.3g} ms; ran {len(late):,} of {fires:,.0f}"
        )
    user = times_after.user - times_before.user
    system = times_after.system - times_before.system
    print(
        f"process: {(user + system) / fires * 1e6:.0f} µs a fire "
        f"(user {user / fires * 1e6:.0f}, system {system / fires * 1e6:.0f})\n"
    )
    print("| thread | CPU µs a fire |\n|---|---|")
    for name in sorted(after, key=lambda n: before.get(n, 0) - after[n]):
        if (used := after[name] - before.get(name, 0)) > 0:
            print(f"| {name} | {used / fires * 1e6:.1f} |")
    print("\n| step | calls | CPU µs a call | CPU µs a fire |\n|---|---|---|---|")
    for label, total in cpu.most_common():
        print(
            f"| {label} | {calls[label]:,} | {total / calls[label] / 1e3:.1f} "
            f"| {total / fires / 1e3:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="fires a second (default 1,000)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--burst", type=int, default=0, help="N jobs due at one instant instead")
    args = parser.parse_args()
    measure(args.rate, args.window, args.burst)


if __name__ == "__main__":
    main()
