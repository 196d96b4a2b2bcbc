"""A real Prometheus scrapes a real daemon, and loads the alert rules of the docs.

Debian's ``prometheus`` package (prometheus and promtool); without it these tests skip with
a reason, and fail under ``YAMLCRON_TEST_STRICT=1`` (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import quote, urlsplit

import pytest

from tests.processes import Served, serving
from tests.tools import ROOT, call, free_port, tool

pytestmark = [pytest.mark.process, pytest.mark.timeout(180)]

ALERTS = ROOT / "docs" / "alerts.yml"
#: Scrapes that make the test's 30 s of scraping, one a second.
SCRAPES = 30


def test_the_alert_rules_of_the_docs_load() -> None:
    promtool = tool("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 2 rules found" in done.stdout


def test_the_operating_page_shows_the_rules_as_they_are() -> None:
    page = (ALERTS.parent / "operating.md").read_text()
    assert f"```yaml\n{ALERTS.read_text()}```" in page


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "jobs.yaml").write_text(
        "version: 1\njobs:\n"
        "  good: {trigger: {interval: 1s}, run: {shell: 'echo fine'}}\n"
        "  broken: {trigger: {interval: 1s}, run: {shell: 'exit 1'}}\n"
    )
    with serving(tmp_path) as served:
        yield served


@pytest.fixture
def prometheus(tmp_path: Path, served: Served) -> Iterator[str]:
    """Prometheus scraping the daemon every second, with the docs' rules; its URL."""
    binary = tool("prometheus")
    target = urlsplit(served.url).netloc
    folder = tmp_path / "prometheus"
    folder.mkdir()
    config = folder / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(ALERTS)],
                "scrape_configs": [
                    {"job_name": "yamlcron", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    port = free_port()
    with (folder / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """The instant vector of ``expr``; empty while Prometheus is not listening yet."""
    try:
        reply = call(f"{url}/api/v1/query?query={quote(expr)}")
    except URLError:
        return []
    if reply.status != 200:
        return []
    result: list[dict[str, Any]] = reply.json()["data"]["result"]
    return result


def test_prometheus_scrapes_runs_and_last_success_and_fires_the_failure_alert(
    prometheus: str, served: Served
) -> None:
    started = time.time()
    deadline = time.monotonic() + 120

    def scraped() -> bool:
        scrapes = query(prometheus, 'count_over_time(up{job="yamlcron"}[5m])')
        return bool(scrapes) and float(scrapes[0]["value"][1]) >= SCRAPES

    while not scraped():
        assert time.monotonic() < deadline, "Prometheus did not scrape the daemon for 30 s"
        time.sleep(1)
    up = query(prometheus, 'min_over_time(up{job="yamlcron"}[5m])')
    assert up[0]["value"][1] == "1"  # every scrape succeeded
    runs = query(prometheus, 'yamlcron_runs_total{job_id="good",status="success"}')
    assert float(runs[0]["value"][1]) >= 1
    last = query(prometheus, 'yamlcron_job_last_success_timestamp_seconds{job_id="good"}')
    assert float(last[0]["value"][1]) >= started - 5
    rules = call(f"{prometheus}/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert {(r["name"], r["health"]) for r in rules} == {
        ("YamlcronJobNotSucceeding", "ok"),
        ("YamlcronRunsFailing", "ok"),
    }
    alerts = call(f"{prometheus}/api/v1/alerts").json()["data"]["alerts"]
    firing = {(a["labels"]["alertname"], a["labels"]["job_id"], a["state"]) for a in alerts}
    assert ("YamlcronRunsFailing", "broken", "firing") in firing
    assert not any(job_id == "good" for _, job_id, _ in firing)
