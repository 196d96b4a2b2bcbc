"""The container image, checked without a Docker engine (none runs here, nor in CI): the
Dockerfile's conventions, the build context .dockerignore leaves, and the HEALTHCHECK's
script against a real local HTTP server."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.tools import ROOT

HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def last(word: str) -> str:
    return [rest for w, rest in instructions() if w == word][-1]


def test_the_image_is_slim_non_root_and_exec_form() -> None:
    bases = [rest.split()[0] for word, rest in instructions() if word == "FROM"]
    assert all(base.endswith("-slim") for base in bases), bases
    user = last("USER").split(":")[0]
    assert user.isdigit()  # numeric: Kubernetes' runAsNonRoot can check it
    assert int(user) != 0
    assert json.loads(last("ENTRYPOINT")) == ["yamlcron"]  # exec form: yamlcron is PID 1
    assert json.loads(last("CMD")) == ["run", "-f", "/etc/yamlcron/jobs.yaml"]
    assert last("STOPSIGNAL") == "SIGTERM"
    check = last("HEALTHCHECK")
    assert json.loads(check.split("CMD", 1)[1]) == [
        "python",
        "/usr/local/lib/yamlcron-healthcheck.py",
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves ``path`` out: the last pattern matching it, or a parent
    folder of it, decides (Docker's rule)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        if any(fnmatch.fnmatchcase(p, pattern.lstrip("!")) for p in prefixes):
            ignored = not keep
    return ignored


def context() -> list[str]:
    """The files of the build context: those of the tree .dockerignore does not leave out."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p for p in lines if p.strip() and not p.startswith("#")]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [f for f in tracked if not _ignored(f, patterns)]


def test_the_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    files = context()
    for word, rest in instructions():
        if word == "COPY" and "--from" not in rest:
            for source in rest.split()[:-1]:
                assert any(f == source or f.startswith(source + "/") for f in files), source
    tops = {f.split("/")[0] for f in files}
    assert tops == {"pyproject.toml", "README.md", "yamlcron", "plugins", "schemas", "deploy"}
    assert not [f for f in files if f.startswith(("tests/", "bench/", ".git"))]


@pytest.mark.process
def test_the_package_builds_from_the_context_alone(tmp_path: Path) -> None:
    """The image's ``pip wheel``, offline, on a copy of the build context."""
    for name in context():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip, "--wheel-dir", str(tmp_path / "wheels"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert [w.name.split("-")[0] for w in (tmp_path / "wheels").iterdir()] == ["yamlcron"]


class Livez(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/livez" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer(("127.0.0.1", 0), Livez) as httpd:
        thread = threading.Thread(target=httpd.serve_forever)
        thread.start()
        yield httpd
        httpd.shutdown()
        thread.join()


def healthcheck(address: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "YAMLCRON_HTTP"}
    if address is not None:
        env["YAMLCRON_HTTP"] = address
    done = subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, timeout=60, check=False
    )
    return done.returncode


def test_the_healthcheck_asks_livez(server: HTTPServer) -> None:
    port = server.server_address[1]
    assert healthcheck(f"0.0.0.0:{port}") == 0
    Livez.status = 503
    try:
        assert healthcheck(f"127.0.0.1:{port}") == 1
    finally:
        Livez.status = 200
    assert healthcheck("") == 0  # --http turned off: nothing to ask
    assert healthcheck(None) == 0


def test_the_healthcheck_fails_when_nothing_answers() -> None:
    with HTTPServer(("127.0.0.1", 0), Livez) as idle:
        port = idle.server_address[1]
    assert healthcheck(f"127.0.0.1:{port}") == 1
