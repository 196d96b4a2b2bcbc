"""Calling back when one file changes, through watchdog on its folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirDeletedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

#: What a finished write or a replacement of the file sends. The kernel drops every other
#: event of the folder: a SQLite store beside the file writes its WAL on every commit, and
#: waking the observer's threads to ignore each write costs a busy daemon real CPU
#: (bench/README.md, "Measured in the store").
_WRITTEN = [FileClosedEvent, FileCreatedEvent, FileMovedEvent]
#: What deleting a file, or the folder itself, sends.
_DELETED = [FileDeletedEvent, DirDeletedEvent]


class _Handler(FileSystemEventHandler):
    def __init__(self, names: set[str], gone: Path | None, callback: Callable[[], None]) -> None:
        self.names = names
        self.gone = gone
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileDeletedEvent | DirDeletedEvent):
            deleted = Path(str(event.src_path))
            if self.gone is not None and deleted in (self.gone, self.gone.parent):
                self.callback()
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(Path(str(p)).name in self.names for p in paths if p):
            self.callback()


def watch_file(
    path: Path, callback: Callable[[], None], *, gone: Path | None = None
) -> Callable[[], None]:
    """Watch ``path``'s folder and call ``callback`` when the file is written or replaced.

    The folder, not the file, is watched, so replacing the file (write and rename) is seen.
    A write counts once the writer closes the file. With ``gone`` (a file of that folder),
    deleting it or the folder calls ``callback`` too. Returns a function that stops the
    observer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    observer = Observer()
    handler = _Handler({path.name}, gone, callback)
    kinds = _WRITTEN + (_DELETED if gone is not None else [])
    observer.schedule(handler, str(path.parent), recursive=False, event_filter=kinds)
    observer.daemon = True
    observer.start()

    def stop() -> None:
        observer.stop()
        observer.join(timeout=5)

    return stop
