"""What one `yamlcron` command costs from start to exit, as a pre-commit hook pays it.

    python bench/startup.py                          # this install, 20 runs each
    python bench/startup.py --other before=/path/to/old/venv/bin/yamlcron

Each round runs every command once, in turn (so a noisy machine is noisy for all of them
alike): the bare interpreter (the floor no Python CLI goes under), `yamlcron --help`, and
`yamlcron validate` of a 3-job manifest, for this install and for each `--other`
executable. Prints the median and the 90th percentile wall time, in milliseconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MANIFEST = """\
version: 1
jobs:
  a: {trigger: {cron: "0 3 * * *"}, run: {command: [echo, a]}}
  b: {trigger: {interval: 15m}, run: {shell: "echo b"}}
  c: {trigger: {after: a}, run: {call: "tasks:c"}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--other", action="append", default=[], metavar="LABEL=EXECUTABLE")
    args = parser.parse_args()
    here = shutil.which("yamlcron", path=str(Path(sys.executable).parent)) or "yamlcron"
    installs = {"this": here, **dict(o.split("=", 1) for o in args.other)}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "jobs.yaml").write_text(MANIFEST)
        commands = {("python", "-c pass"): [sys.executable, "-c", "pass"]}
        for label, exe in installs.items():
            commands[(label, "--help")] = [exe, "--help"]
            commands[(label, "validate")] = [exe, "validate"]
        times: dict[tuple[str, str], list[float]] = {key: [] for key in commands}
        for _ in range(args.runs):
            for key, argv in commands.items():
                started = time.perf_counter()
                done = subprocess.run(argv, cwd=folder, capture_output=True, check=False)
                times[key].append(time.perf_counter() - started)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(argv)} failed: {done.stderr.decode()}")
    print(f"{'install':<10} {'command':<10} {'median ms':>10} {'p90 ms':>8}  ({args.runs} runs)")
    for (label, command), samples in times.items():
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(
            f"{label:<10} {command:<10} {statistics.median(samples) * 1000:>10.0f} {p90 * 1000:>8.0f}"
        )


if __name__ == "__main__":
    main()
