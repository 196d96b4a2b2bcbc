"""Calling back when one file changes, through watchdog on its folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Handler(FileSystemEventHandler):
    def __init__(self, names: set[str], callback: Callable[[], None]) -> None:
        self.names = names
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if any(Path(str(p)).name in self.names for p in paths if p):
            self.callback()


def watch_file(path: Path, callback: Callable[[], None]) -> Callable[[], None]:
    """Watch ``path``'s folder and call ``callback`` on any event naming the file.

    The folder, not the file, is watched, so replacing the file (write and rename) is seen.
    Returns a function that stops the observer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    observer = Observer()
    observer.schedule(_Handler({path.name}, callback), str(path.parent), recursive=False)
    observer.daemon = True
    observer.start()

    def stop() -> None:
        observer.stop()
        observer.join(timeout=5)

    return stop
