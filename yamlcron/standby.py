"""One active scheduler per store among the processes of a web app: the others stand by.

A web server runs an app in several worker processes (gunicorn ``-w 4``, uvicorn
``--workers 4``), and each of them calls ``Yamlcron(...).start()``. On PostgreSQL every
one becomes a replica (leases and the claim make each fire run once). A SQLite store has
room for one scheduler: its daemon lock is held by the process that runs it. There the
first worker to take the lock is the active scheduler, and every other one becomes a
*standby*: a thread that says so in one log line, then tries the lock again every
``POLL`` seconds. The lock is an ``flock``, which the kernel releases when its holder
exits or dies (``kill -9`` included), so a standby takes over within ``POLL`` seconds
and then does what the active one did: recover the runs cut short, apply the manifest,
run the loop.

After ``fork`` a process keeps nothing of its parent's service (see ``after_fork``):
gunicorn's ``--preload`` builds the app in its master, and each worker must start its
own scheduler, named after its own pid, on connections of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from yamlcron.errors import StoreError, YamlcronError

log = logging.getLogger("yamlcron.run")

#: Seconds between a standby's tries of the lock: how soon it takes over.
POLL = 0.2

T = TypeVar("T")

#: What a child keeps of its parent's objects so that they are never closed there: closing
#: a SQLite connection opened before the fork may checkpoint the database under the parent.
_inherited: list[object] = []


class Standby(Generic[T]):
    """Start a scheduler now if ``lock`` succeeds; else wait for it in a thread.

    ``lock`` takes the store's daemon lock and raises StoreError while another process
    holds it; ``begin`` then makes this process the active scheduler (recover, apply)
    and ``loop`` runs it until it is stopped. Both run at most once, in that order.
    """

    def __init__(
        self,
        lock: Callable[[], None],
        begin: Callable[[], T],
        loop: Callable[[], None],
        poll: float = POLL,
    ) -> None:
        self._lock = lock
        self._begin = begin
        self._loop = loop
        self._poll = poll
        self._stopped = threading.Event()
        self._turn = threading.Lock()  # held while taking over: ``cancel`` waits for it
        self.active = False
        self.thread: threading.Thread | None = None

    def start(self) -> T | None:
        """Become the active scheduler (``begin``'s answer), or stand by (None)."""
        try:
            self._lock()
        except StoreError as exc:
            log.info("standing by: %s; this process takes over when it stops", exc)
            self.thread = threading.Thread(target=self._wait, name="yamlcron-standby", daemon=True)
            self.thread.start()
            return None
        began = self._begin()
        self.active = True
        self.thread = threading.Thread(target=self._loop, name="yamlcron-loop", daemon=True)
        self.thread.start()
        return began

    def _wait(self) -> None:
        while not self._stopped.wait(self._poll):
            with self._turn:
                if self._stopped.is_set() or not self._took_lock():
                    continue
                try:
                    self._begin()
                except YamlcronError as exc:
                    log.error("cannot take over, standing down: %s", exc)
                    return
                self.active = True
            log.info("taking over: this process is now the active scheduler")
            self._loop()
            return

    def _took_lock(self) -> bool:
        try:
            self._lock()
        except StoreError:
            return False
        return True

    def cancel(self) -> None:
        """Stand by no longer; once this returns a standby never takes over."""
        self._stopped.set()
        with self._turn:
            pass


#: Each live object that forgets its parent's work after a fork, with how it forgets.
_forgetters: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()


def after_fork(owner: T, forget: Callable[[T], None]) -> None:
    """Call ``forget(owner)`` in the child of every later ``fork``, while ``owner`` lives."""
    _forgetters[owner] = forget


def _in_child() -> None:
    for owner, forget in list(_forgetters.items()):
        forget(owner)


def inherit(*objects: object) -> None:
    """Keep what the parent opened, unused and never closed, in a forked child."""
    _inherited.extend(o for o in objects if o is not None)


os.register_at_fork(after_in_child=_in_child)
