"""Reload the manifest when its file changes, however it was replaced.

The manifest's folder is watched, not the file: an editor's write-and-rename, ``git
checkout``/``git pull``, and a Kubernetes ConfigMap (the file is a symlink through ``..data``,
which is swapped atomically) all show up as events in the folder. Every event only starts
a short debounce; when the folder has been quiet for it, the file's content hash is
compared with the last one seen, and only a changed hash reloads. A slow timer re-reads the
file as a backstop for filesystems that send no events (network mounts).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)


def content_digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes (through symlinks); None while it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class _Nudge(FileSystemEventHandler):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.event.set()


class ManifestWatcher:
    """Calls ``reload`` once per content change of ``path``, from a thread of its own."""

    def __init__(
        self,
        path: Path,
        reload: Callable[[], object],
        *,
        interval: float = 30.0,
        debounce: float = 0.2,
    ) -> None:
        self.path = path
        self.reload = reload
        self.interval = interval
        self.debounce = debounce
        self._nudged = threading.Event()
        self._stopped = threading.Event()
        self._seen = content_digest(path)
        self._observer = Observer()
        self._thread = threading.Thread(target=self._loop, name="yamlcron-watch", daemon=True)

    def start(self) -> None:
        """Start watching the folder and the backstop timer."""
        folder = self.path.absolute().parent
        self._observer.schedule(_Nudge(self._nudged), str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop both; a reload under way finishes first."""
        self._stopped.set()
        self._nudged.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._nudged.wait(self.interval)
            # Quiet for `debounce` before reading: an editor's save is several events.
            while self._nudged.is_set() and not self._stopped.is_set():
                self._nudged.clear()
                self._stopped.wait(self.debounce)
            if self._stopped.is_set():
                return
            self.check()

    def check(self) -> bool:
        """Reload if the content changed since last seen; True when it did."""
        digest = content_digest(self.path)
        if digest is None or digest == self._seen:
            return False
        self._seen = digest
        log.info("%s changed; reloading", self.path)
        self.reload()
        return True
