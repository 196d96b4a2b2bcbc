"""How long `validate`, `apply` and the start of `yamlcron run` take for big manifests.

Each figure is the median of several fresh processes (`python -m yamlcron ...`), so it
includes start-up, as a user sees it. Peak memory is the child's max RSS.

    python bench/manifest_scale.py [--sizes 1000 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import manifest_text, ready  # bench/run.py: the same manifests and start probe


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "yamlcron", *args], cwd=cwd, capture_output=True, check=False
    )
    took = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr.decode())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    print(f"manifest scale ({env_note}); median of {options.repeat} fresh processes")
    print(
        f"{'jobs':>7} | {'validate s':>10} | {'cold apply s':>12} | {'re-apply s':>10} | "
        f"{'ready s':>7} | {'peak RSS MiB':>12}"
    )
    for count in options.sizes:
        validate, cold, again, starts, peaks = [], [], [], [], []
        for _ in range(options.repeat):
            with tempfile.TemporaryDirectory() as folder:
                cwd = Path(folder)
                (cwd / "jobs.yaml").write_text(manifest_text(count))
                took, _ = timed(["validate"], cwd)
                validate.append(took)
                took, peak = timed(["apply", "-o", "json"], cwd)
                cold.append(took)
                peaks.append(peak)
                took, _ = timed(["apply", "-o", "json"], cwd)
                again.append(took)
                starts.append(ready(cwd))
        print(
            f"{count:>7} | {statistics.median(validate):>10.2f} | {statistics.median(cold):>12.2f}"
            f" | {statistics.median(again):>10.2f} | {statistics.median(starts):>7.2f}"
            f" | {max(peaks):>12.0f}"
        )


if __name__ == "__main__":
    main()
