"""The cost of a fire: yamlcron beside APScheduler 3 and 4 in one interleaved run (issue 21).

    pip install -e '.[bench]'     # APScheduler 3; APScheduler 4 gets a venv of its own
    createdb -h 127.0.0.1 -U postgres peerbench
    python bench/fires.py --url postgresql://postgres@127.0.0.1/peerbench            # 15-25 min
    python bench/fires.py --url postgresql://postgres@127.0.0.1/peerbench --quick    # 3-4 min

Systems: yamlcron on SQLite, on PostgreSQL with one replica and with three (real
``yamlcron run`` processes, bench/daemons.py); APScheduler 3 on its MemoryJobStore and its
SQLAlchemyJobStore on SQLite and on the same PostgreSQL (bench/aps3.py, a fresh process
each); APScheduler 4's SQLAlchemyDataStore on that PostgreSQL and its MemoryDataStore
(bench/aps4.py, a fresh process in a venv of its own). Each repetition runs every workload
on every system once, the order of the systems rotating from one repetition to the next;
each run gets a fresh folder and a fresh PostgreSQL schema.

Workloads: lateness at N fires/s (N interval jobs every second, staggered over the second,
grace 1 s: p50/p99 of start - scheduled time, share missed, process CPU over the window
per fire run, every process counted); the burst (N jobs due at one instant, grace 30 s:
seconds from the instant to the last start and to the last run recorded, runs missed); and
a short search for the highest rate with nothing missed for the three yamlcron systems.
Beside the table: bare croniter next-fires/s, the machine's yardstick (bench/run.py).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aps3
import aps4
import daemons
import psycopg
from fires_report import report
from replicas import _drop, _schema
from run import fresh, next_fires_per_second

# A peer that missed this share of the fires at a rate is not run at the higher rates of the
# repetition: its row keeps that share as a bound of what it would miss there.
HOPELESS = 0.99
# Rates the search picks from, so that a target's rate (5,000/s) is one it can land on.
# 9,000 and 11,000 narrow the brackets where the replica target (three replicas at 1.5x one's)
# was left undecided: [6,000, 10,000) for one against [10,000, 12,500) for three.
LADDER = [500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 7500]
LADDER += [9000, 10000, 11000, 12500, 15000, 20000]
# First guess of the seconds from starting a system to its being ready, for 10,000 jobs and a
# replica, if the lateness runs did not tell (they do: their setup, scaled to the burst).
LEADS = {"yamlcron": 4.0, "aps3": 10.0, "aps4": 20.0}


@dataclass(frozen=True)
class System:
    """One column of the comparison: who schedules, on what store, how many processes."""

    label: str
    side: str  # yamlcron, aps3 or aps4
    store: str  # sqlite, memory or postgres
    replicas: int = 1


SYSTEMS = [
    System("yamlcron SQLite", "yamlcron", "sqlite"),
    System("yamlcron PostgreSQL, 1 replica", "yamlcron", "postgres"),
    System("yamlcron PostgreSQL, 3 replicas", "yamlcron", "postgres", 3),
    System("APScheduler 3 memory", "aps3", "memory"),
    System("APScheduler 3 SQLite", "aps3", "sqlite"),
    System("APScheduler 3 PostgreSQL", "aps3", "postgres"),
    System("APScheduler 4 memory", "aps4", "memory"),
    System("APScheduler 4 PostgreSQL", "aps4", "postgres"),
]
SEARCHED = SYSTEMS[:3]


@contextmanager
def schema(system: System, base: str) -> Iterator[str | None]:
    """A fresh schema on ``base`` for a PostgreSQL system (its URL), else None."""
    if system.store != "postgres":
        yield None
        return
    name, url = _schema(base)
    try:
        yield url
    finally:
        _drop(base, name)


def lateness(system: System, base: str, rate: int, warm: float, window: float) -> dict[str, Any]:
    with schema(system, base) as url:
        if system.side == "yamlcron":
            return daemons.lateness(url, system.replicas, rate, warm, window)
        sqlalchemy = url and url.replace("postgresql://", "postgresql+psycopg://", 1)
        if system.side == "aps3":
            return fresh(aps3.lateness, sqlalchemy or system.store, rate, warm, window)
        spec = {"workload": "lateness", "url": sqlalchemy, "jobs": rate, "warm": warm}
        return aps4.measure({**spec, "window": window})


def burst(
    system: System, base: str, jobs: int, grace: float, leads: dict[str, float]
) -> dict[str, Any]:
    """The burst, again with more lead if the system was not ready before the instant."""
    for _ in range(3):
        lead = leads.get(system.label, 2 + LEADS[system.side] * jobs / 10000 * system.replicas)
        with schema(system, base) as url:
            if system.side == "yamlcron":
                result = daemons.burst(url, system.replicas, jobs, lead, grace)
            else:
                sqlalchemy = url and url.replace("postgresql://", "postgresql+psycopg://", 1)
                if system.side == "aps3":
                    result = fresh(aps3.burst, sqlalchemy or system.store, jobs, lead, grace)
                else:
                    spec = {"workload": "burst", "url": sqlalchemy, "jobs": jobs, "lead": lead}
                    result = aps4.measure({**spec, "grace": grace})
        setup = result.get("not_ready", result.get("setup", 0.0))
        leads[system.label] = 2 + setup * 1.5  # for the next try or repetition
        if "not_ready" not in result:
            return result
        print(f"  {system.label}: not ready after {setup:.1f} s, again", file=sys.stderr)
    raise RuntimeError(f"{system.label}: never ready before the burst")


def search(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    rates: list[int],
    steps: int,
    probe: Any,
) -> dict[str, dict[str, Any]]:
    """The highest rate with nothing missed of each searched system: from the rates already
    measured, then ``steps`` probes on the ladder, the systems taking turns."""
    found: dict[str, dict[str, Any]] = {}
    for system in SEARCHED:
        runs = {rate: results[system.label][f"lateness {rate}"] for rate in rates}
        clean = [r for r, rs in runs.items() if all(x["missed"] == 0 for x in rs)]
        lo = max(clean, default=0)
        hi = min((r for r, rs in runs.items() if r > lo and r not in clean), default=None)
        found[system.label] = {"lo": lo, "hi": hi, "probes": []}
    for _ in range(steps):
        for system in SEARCHED:
            state = found[system.label]
            above = [
                r for r in LADDER if r > state["lo"] and (state["hi"] is None or r < state["hi"])
            ]
            if not above:
                continue
            # Unbounded: double; bounded: the middle of the ladder between (the lower middle:
            # from 3,000 to 10,000 that is 5,000, a target's rate).
            if state["hi"] is None:
                rate = min(above, key=lambda r: abs(r - 2 * max(state["lo"], 1)))
            else:
                rate = above[(len(above) - 1) // 2]
            result = probe(system, rate)
            missed = result["missed"]
            state["probes"].append((rate, missed, result["busy"]))
            if missed == 0:
                state["lo"] = rate
            else:
                state["hi"] = rate
            print(f"  search {system.label}: {rate}/s missed {missed:.2%}", file=sys.stderr)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL database of the bench's own (not `test`)")
    parser.add_argument("--quick", action="store_true", help="1,000/s only, a burst of 1,000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--rates", nargs="+", type=int, help="default 1000 3000 10000")
    parser.add_argument("--burst", type=int, help="jobs of the burst (default 10,000)")
    parser.add_argument("--burst-grace", type=float, help="seconds (default 30; quick 5)")
    parser.add_argument("--window", type=float, help="seconds measured (default 6; quick 2)")
    parser.add_argument("--search-steps", type=int, help="probes a system (default 3; quick 1)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    options = parser.parse_args()
    if not options.url:
        parser.error("give --url postgresql://... (a database of the bench's own)")
    psycopg.connect(options.url).close()  # before the first run, not after the SQLite ones
    quick = options.quick
    rates = options.rates or ([1000] if quick else [1000, 3000, 10000])
    jobs = options.burst or (1000 if quick else 10000)
    window = options.window or (2.0 if quick else 6.0)
    warm = 1.5 if quick else 2.0
    grace = options.burst_grace or (5.0 if quick else 30.0)
    steps = options.search_steps if options.search_steps is not None else (1 if quick else 3)
    began = time.monotonic()
    yardstick = [fresh(next_fires_per_second, False)]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s.label: {} for s in SYSTEMS}
    leads: dict[str, float] = {}
    for rep in range(options.repeat):
        order = SYSTEMS[rep % len(SYSTEMS) :] + SYSTEMS[: rep % len(SYSTEMS)]
        for at, rate in enumerate(rates):
            for system in order:
                lower = results[system.label].get(f"lateness {rates[at - 1]}") if at else None
                if system.side != "yamlcron" and lower and lower[-1]["missed"] >= HOPELESS:
                    # Its setup of N jobs can take minutes, to run nearly nothing again.
                    result = {"skipped": rates[at - 1], "missed": lower[-1]["missed"]}
                else:
                    result = lateness(system, options.url, rate, warm, window)
                results[system.label].setdefault(f"lateness {rate}", []).append(result)
                _progress(rep, f"{rate}/s", system, result, began)
        for system in order:
            if system.label not in leads:  # the setup of the most jobs run, scaled to the burst's
                rate, took = max(
                    (r, runs[-1]["setup"])
                    for r in rates
                    if "setup" in (runs := results[system.label][f"lateness {r}"])[-1]
                )
                leads[system.label] = 3 + 1.2 * took * max(jobs / rate, 1)
            result = burst(system, options.url, jobs, grace, leads)
            results[system.label].setdefault("burst", []).append(result)
            _progress(rep, "burst", system, result, began)
        # After each repetition too: this machine's speed was seen to vary twofold within
        # minutes, and the spread says how far apart in speed the repetitions ran.
        yardstick.append(fresh(next_fires_per_second, False))
    found = search(results, rates, steps, lambda s, r: lateness(s, options.url, r, warm, window))
    yardstick.append(fresh(next_fires_per_second, False))
    setting = {
        "python": sys.version.split()[0],
        "apscheduler4": aps4.version(),
        "repeat": options.repeat,
        "window": window,
        "burst": jobs,
        "burst_grace": grace,
        "rates": rates,
        "yardstick": yardstick,
        "minutes": (time.monotonic() - began) / 60,
    }
    report(results, found, setting)
    if options.json:
        options.json.write_text(
            json.dumps({"setting": setting, "results": results, "search": found}, indent=1)
        )


def _progress(rep: int, what: str, system: System, result: dict[str, Any], began: float) -> None:
    shown = {
        k: round(v, 4) if isinstance(v, float) and not math.isnan(v) else v
        for k, v in result.items()
    }
    print(
        f"[{(time.monotonic() - began) / 60:4.1f} min] rep {rep + 1} {what} {system.label}: {shown}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, psycopg.Error) as error:  # no database, or a system that never started
        raise SystemExit(f"bench/fires.py: {error}") from None
