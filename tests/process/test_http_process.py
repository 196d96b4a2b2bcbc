"""The HTTP server's own process (``yamlcron.http.process``): beside a real daemon, never in its way."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.process.test_http_api import TOKEN, write
from tests.processes import Daemon, serving, url_of
from tests.tools import call

CHILD = "yamlcron.http.child"


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` and that run the HTTP server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and CHILD.encode() in argv:
            found.append(int(entry.name))
    return found


def server_of(daemon: Daemon) -> int:
    """The pid of ``daemon``'s server process, once it runs.

    The daemon says it serves once its socket listens, which is before the process that
    answers is started (requests wait in the socket's queue meanwhile): look until it is.
    """
    daemon.wait_for(lambda: len(children(daemon.proc.pid)) == 1, "the server's process")
    [server] = children(daemon.proc.pid)
    return server


def test_requests_are_served_by_a_process_of_their_own(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "token").write_text(TOKEN)
    with serving(tmp_path, "--http-token-file", "token") as served:
        server = server_of(served.daemon)
        # The token never shows on the server's command line, where any user could read it.
        assert TOKEN.encode() not in Path(f"/proc/{server}/cmdline").read_bytes()
        reply = call(served.url + "/api/v1/jobs/hello/trigger?wait=60", "POST", token=TOKEN)
        assert reply.json()["status"] == "success"
        # Counted by the daemon, read by the server's process at the scrape.
        metrics = call(served.url + "/metrics").body.decode()
        assert 'yamlcron_runs_total{job_id="hello",status="success"} 1.0' in metrics
        assert call(served.url + "/livez").json() == {"alive": True}
    assert children(served.daemon.proc.pid) == []


def test_a_server_process_that_dies_is_started_again(tmp_path: Path) -> None:
    write(tmp_path)
    with serving(tmp_path) as served:
        server = server_of(served.daemon)
        os.kill(server, signal.SIGKILL)
        served.daemon.wait_for(
            lambda: "starting it again" in served.daemon.log.read_text(), "the restart"
        )
        served.daemon.wait_for(lambda: len(children(served.daemon.proc.pid)) == 1, "a new one")
        assert call(served.url + "/readyz").json() == {"ready": True}


def test_ctrl_c_in_a_terminal_stops_the_daemon_and_its_server_cleanly(tmp_path: Path) -> None:
    write(tmp_path)
    daemon = Daemon(tmp_path, "--http", "127.0.0.1:0", session=True)
    try:
        url = url_of(daemon)
        assert call(url + "/livez").status == 200
        server = server_of(daemon)
        os.killpg(daemon.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole group
        assert daemon.exit_code() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
    text = daemon.log.read_text()
    assert "Traceback" not in text
    assert "starting it again" not in text  # it ended with the daemon, not before it
    assert not Path(f"/proc/{server}").exists()
