"""yamlcron embedded in a web app's workers: each fire once, and how fast a standby takes over.

Runs the example apps of examples/webapps/ under their real servers (gunicorn with 4 sync
workers, uvicorn with 4 workers) on a SQLite store, with the 1 s interval job, for
``--seconds``; halfway it kills the active worker with SIGKILL. Prints, per server: fires
run, fires run twice, seconds missing from the store, the statuses recorded, and the
takeover time (the kill to a standby holding the store's lock, polled every 10 ms).

    python bench/embedded.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples" / "webapps"
SERVERS = {
    "gunicorn -w 4 (Flask)": ["gunicorn", "-w", "4", "-b", "127.0.0.1:0", "flask_app:app"],
    "uvicorn --workers 4 (FastAPI)": [
        "uvicorn",
        "--workers",
        "4",
        "--port",
        "0",
        "fastapi_app:app",
    ],
}


def holder(folder: Path) -> int | None:
    try:
        return int((folder / ".yamlcron" / "state.db.daemon").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def measure(args: list[str], seconds: float) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="yamlcron-bench-")) / "site"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__", ".yamlcron"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("YAMLCRON_")}
    env |= {"PYTHONPATH": str(folder), "YAMLCRON_FILE": str(folder / "jobs.yaml")}
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        time.sleep(seconds / 2)
        active = holder(folder)
        assert active is not None, (folder / "server.log").read_text()
        os.kill(active, signal.SIGKILL)
        killed = time.monotonic()
        while holder(folder) in (active, None):
            time.sleep(0.01)
        takeover = time.monotonic() - killed
        time.sleep(seconds / 2)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        with contextlib.suppress(ProcessLookupError):  # workers left behind, if any
            os.killpg(server.pid, signal.SIGKILL)
    lines = (folder / "fires.log").read_text().split("\n")
    fires = Counter(line.split()[0] for line in lines if line)
    with sqlite3.connect(folder / ".yamlcron" / "state.db") as db:
        rows = db.execute("SELECT scheduled_at, status FROM runs ORDER BY scheduled_at").fetchall()
    stored = {at // 1_000_000 for at, _ in rows}
    missing = max(stored) - min(stored) + 1 - len(stored)
    shutil.rmtree(folder.parent)
    return {
        "fires": sum(fires.values()),
        "twice": sum(1 for n in fires.values() if n > 1),
        "missing": missing,
        "statuses": dict(Counter(status for _, status in rows)),
        "takeover ms": round(takeover * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    print("| server | fires | run twice | seconds missing | statuses | takeover ms |")
    print("|---|---|---|---|---|---|")
    for name, args in SERVERS.items():
        row = measure(args, seconds)
        print(f"| {name} | " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
