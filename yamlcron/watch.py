"""Reload the manifest when its file changes, however it was replaced.

The manifest's folder is watched, not the file: an editor's write-and-rename, ``git
checkout``/``git pull``, and a Kubernetes ConfigMap (the file is a symlink through ``..data``,
which is swapped atomically) all show up as events in the folder. Only events that name the
manifest, or the first step of its symlink chain (``..data``), count; reads and events on
other files (a log written beside it) do not. An event starts a short debounce: once the
manifest has been left alone for it (or at most a second after the first event), the file's
content hash is compared with the last one applied, and only a changed hash reloads. A slow
timer re-reads the file as a backstop for filesystems that send no events (network mounts).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from yamlcron.manifest import file_digest
from yamlcron.model import AppliedManifest

log = logging.getLogger(__name__)

#: The longest a burst of events may delay a reload, in seconds.
MAX_SETTLE = 1.0


#: Every event that writes, asked of the kernel (watchdog filters the same way on other
#: systems): reads never change what the manifest says, and the backstop's own read of
#: the manifest every interval, or a process reading a file beside it, wake nothing.
_WRITES = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
]


def relevant_names(path: Path) -> set[str]:
    """The names in the folder whose change can change ``path``'s content."""
    names = {path.name}
    if path.is_symlink():
        target = Path(os.readlink(path))
        if not target.is_absolute() and target.parts:
            names.add(target.parts[0])  # ..data in a ConfigMap mount
    return names


class _Nudge(FileSystemEventHandler):
    def __init__(self, event: threading.Event, names: Callable[[], set[str]]) -> None:
        self.event = event
        self.names = names

    def on_any_event(self, event: FileSystemEvent) -> None:
        touched = {
            Path(str(p)).name for p in (event.src_path, getattr(event, "dest_path", "")) if p
        }
        if touched & self.names():
            self.event.set()


class ManifestWatcher:
    """Calls ``reload`` once per content change of ``path``, from a thread of its own."""

    def __init__(
        self,
        path: Path,
        reload: Callable[[], object],
        *,
        applied: str | None,
        interval: float = 30.0,
        debounce: float = 0.2,
    ) -> None:
        """``applied`` is the digest of the content running now: any other content reloads."""
        self.path = path
        self.reload = reload
        self.interval = interval
        self.debounce = debounce
        self._nudged = threading.Event()
        self._stopped = threading.Event()
        # Not the file as it is now: a save between the apply and this start must be seen.
        self._seen = applied
        self._observer = Observer()
        self._thread = threading.Thread(target=self._loop, name="yamlcron-watch", daemon=True)

    def start(self) -> None:
        """Start watching the folder and the backstop timer."""
        folder = self.path.absolute().parent
        nudge = _Nudge(self._nudged, lambda: relevant_names(self.path))
        self._observer.schedule(nudge, str(folder), recursive=False, event_filter=_WRITES)
        self._observer.daemon = True
        self._observer.start()
        self._thread.start()
        self._nudged.set()  # compare once at start

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
            # Quiet for `debounce` before reading (an editor's save is several events), but
            # never wait past MAX_SETTLE for a file that keeps changing.
            settle_by = time.monotonic() + MAX_SETTLE
            while self._nudged.is_set() and not self._stopped.is_set():
                self._nudged.clear()
                self._stopped.wait(self.debounce)
                if time.monotonic() >= settle_by:
                    break
            if self._stopped.is_set():
                return
            self.check()

    def check(self) -> bool:
        """Reload if the content changed since last seen; True when it did."""
        digest = file_digest(self.path)
        if digest is None or digest == self._seen:
            return False
        self._seen = digest
        log.info("%s changed; reloading", self.path)
        self.reload()
        return True


def watch_manifest(
    path: Path, reload: Callable[[], object], applied: AppliedManifest | None, interval: float
) -> Callable[[], None]:
    """Start a ``ManifestWatcher`` of ``path`` for the manifest ``applied``; returns its stop."""
    digest = None if applied is None else applied.digest
    watcher = ManifestWatcher(path, reload, applied=digest, interval=interval)
    watcher.start()
    return watcher.stop
