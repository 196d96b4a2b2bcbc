"""Does the HTTP server delay fires? Fire lateness with and without HTTP load, in one run.

    python bench/http.py                  # 1,000 fires/s, 20 s windows, 3 repetitions
    python bench/http.py --quick          # 10 s windows, one repetition

The lateness workload of bench/run.py (N interval jobs every second, staggered, no-op
calls, SQLite store) runs five ways per repetition, interleaved: without ``--http``;
with the server on and idle; and with the server under a load loop of 200 requests a
second from another process: four keep-alive clients reading the API and health, and one
scraping ``/metrics``, every 15 s (Prometheus's default) in one run and every second in
another (bounded: paced, never more than one request in flight on each connection, so a
slow server slows the load instead of piling it up). The server answers from a process of
its own; a last run serves the 15 s load on threads of the daemon instead, as before
(``HttpOptions(threads=True)``). Prints
lateness p50 / p99 / max and missed fires for each, the ratio to the run without HTTP,
and what the load loop achieved. See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http``: run as a script, its folder
# would come first on sys.path and shadow it for every module importing http.client.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import http.client  # noqa: E402
import importlib.util  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402


def _load_run_module() -> Any:
    """bench/run.py, whose lateness workload and helpers this reuses."""
    if "benchrun" in sys.modules:
        return sys.modules["benchrun"]
    spec = importlib.util.spec_from_file_location("benchrun", HERE / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchrun"] = module
    spec.loader.exec_module(module)
    return module


benchrun = _load_run_module()

#: Requests the load loop's API clients cycle through: reads of the API and health.
PATHS = (
    "/api/v1/jobs/j{n}",
    "/api/v1/jobs/j{n}/runs?limit=10",
    "/livez",
    "/readyz",
    "/api/v1/replicas",
    "/api/v1/manifest",
    "/api/v1/jobs/j{n}/runs?limit=1&status=success",
)
#: API clients, each on a keep-alive connection, paced; one more client scrapes /metrics.
CONNECTIONS = 4
#: The runs, by how often /metrics is scraped: never (no server), never (server idle),
#: every 15 s (Prometheus's default interval) and every second, with the API load; then
#: every 15 s once more, served on threads of the daemon (``HttpOptions(threads=True)``)
#: rather than from the server's own process, as it was before.
MODES = {
    "off": 0.0,
    "idle": 0.0,
    "load, scrape 15 s": 1 / 15,
    "load, scrape 1 s": 1.0,
    "load, scrape 15 s, threads": 1 / 15,
}


def lateness(jobs: int, window: float, mode: str, rate: int) -> dict[str, float]:
    """The lateness workload of bench/run.py, with the server ``off``, ``idle`` or ``load``ed."""
    from yamlcron import Yamlcron
    from yamlcron.http.options import HttpOptions
    from yamlcron.registry import build_registry

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "benchjobs.py").write_text("def noop():\n    return None\n")
        start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        (path / "jobs.yaml").write_text(benchrun.lateness_manifest(jobs, start))
        cron = Yamlcron(
            path / "jobs.yaml",
            registry=build_registry(autoload=False),
            workers=64,
            freeze_gc=True,  # as `yamlcron run` does
            http=None
            if mode == "off"
            else HttpOptions("127.0.0.1", 0, "bench", threads=mode.endswith("threads")),
        )
        cron.start()
        warm = start + timedelta(seconds=2)
        end = warm + timedelta(seconds=window)
        load = None
        done = multiprocessing.get_context("spawn").Queue()
        if mode.startswith("load"):
            assert cron.http is not None
            seconds = (end - datetime.now(UTC)).total_seconds()
            load = multiprocessing.get_context("spawn").Process(
                target=load_loop,
                args=(cron.http.url, rate, MODES[mode], seconds, jobs, done),
            )
            load.start()
        time.sleep(max((warm - datetime.now(UTC)).total_seconds(), 0))
        cpu = time.process_time()
        time.sleep(max((end - datetime.now(UTC)).total_seconds(), 0))
        cpu = (time.process_time() - cpu) / window
        time.sleep(1.5)
        served = {"requests/s": 0.0, "request p99 ms": 0.0, "errors": 0.0}
        if load is not None:
            served = done.get(timeout=60)
            load.join()
        cron.stop(timeout=10)
        late = benchrun.recorded_lateness(path, warm, end)
    return {
        "p50": benchrun._pct(late, 0.5),
        "p99": benchrun._pct(late, 0.99),
        "max": max(late, default=float("nan")),
        "missed %": 100 * (1 - len(late) / (jobs * window)),
        "CPU s/s": cpu,
        **served,
    }


def load_loop(url: str, rate: int, scrapes: float, seconds: float, jobs: int, done: Any) -> None:
    """``rate`` requests a second for ``seconds``, paced, over ``CONNECTIONS`` keep-alives;
    ``scrapes`` of them a second are of /metrics, on a connection of their own."""
    parts = urlsplit(url)
    took: list[float] = []
    errors = [0]
    lock = threading.Lock()
    begin = time.monotonic()
    per_connection = (rate - scrapes) / CONNECTIONS

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        scraper = index == CONNECTIONS
        pace = scrapes if scraper else per_connection
        sent = 0
        while True:
            due = begin + (sent + index / (CONNECTIONS + 1)) / pace
            if max(due, time.monotonic()) - begin > seconds:
                break
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # paced; a slow answer delays this client, never piles up
            path = "/metrics" if scraper else PATHS[(sent * CONNECTIONS + index) % len(PATHS)]
            path = path.format(n=sent % jobs)
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            with lock:
                took.append((time.perf_counter() - t0) * 1000)
                errors[0] += response.status >= 400
            sent += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    done.put(
        {
            "requests/s": len(took) / elapsed,
            "request p99 ms": benchrun._pct(took, 0.99),
            "errors": float(errors[0]),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 s windows, one repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000, help="fires per second")
    parser.add_argument("--rate", type=int, default=200, help="HTTP requests per second")
    options = parser.parse_args()
    window = 10.0 if options.quick else 20.0
    repeat = 1 if options.quick else options.repeat
    modes = tuple(MODES)
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for rep in range(repeat):
        # Each repetition starts one mode further on: no mode always runs first, or after
        # the heaviest one.
        for mode in modes[rep % len(modes) :] + modes[: rep % len(modes)]:
            print(f"repetition {rep + 1}/{repeat}: HTTP {mode}", file=sys.stderr)
            results[mode].append(benchrun.fresh(lateness, options.jobs, window, mode, options.rate))
    base = statistics.median(r["p99"] for r in results["off"])
    print(
        f"fire lateness at {options.jobs} fires/s on SQLite, {window:.0f} s windows, "
        f"{repeat} repetitions, median [min-max]; load: {options.rate} requests/s asked"
    )
    columns = (
        "p50",
        "p99",
        "max",
        "missed %",
        "CPU s/s",
        "requests/s",
        "request p99 ms",
        "errors",
    )
    print("| HTTP | " + " | ".join(columns) + " | p99 / without |")
    print("|---" * (len(columns) + 2) + "|")
    for mode in modes:
        cells = [benchrun._cell([r[c] for r in results[mode]]) for c in columns]
        ratio = statistics.median(r["p99"] for r in results[mode]) / base
        print(f"| {mode} | " + " | ".join(cells) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
