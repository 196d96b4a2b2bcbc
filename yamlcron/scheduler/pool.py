"""Where runs are executed: a fixed pool of threads, or the caller's thread.

A run claimed ahead of its start is held by the pool until then (``submit_at``). One idle
thread, the leader, sleeps until the earliest start and runs that work itself: one
wake-up a fire, where a timer thread handing each run to a worker, which then slept out
the last millisecond, took three, each a futex round and a turn for the interpreter
lock (bench/README.md, "Where a fire's CPU goes"). Before running it, the leader wakes
another thread to lead in its place, unless the work is *quick* (the same work's last
run took under ``QUICK``): then it runs it and leads on, and quick work due together runs
one after another on that one thread, where dozens of threads taking turns for the
interpreter lock spent several times its CPU. A quick job that turns out slow is noticed
by the watcher, an idle thread that looks every ``WATCH`` seconds while work is held and
takes the lead from quick work running longer than that: such a surprise delays the
fires after it by ``2 * WATCH`` at most, never by the job's length (unless every thread
is busy, when every fire waits for a free one).

``concurrent.futures.ThreadPoolExecutor`` builds a future, a condition and a work item per
call and wakes a thread through a semaphore: at ten thousand runs a second that was a
tenth of the scheduler's time, for futures nobody read. Here a submit is an append under
one lock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from yamlcron.giveway import awaited

log = logging.getLogger(__name__)

Work = Callable[[], None]
#: Whether a unit of work is quick, as known now: asked at its start, not when it was handed
#: in (work claimed a second ahead, before any like it ran, is known to be quick by then).
Quick = Callable[[], bool] | bool

#: A run this short runs on the thread that waited for its start (see the module's doc).
QUICK = 0.001
#: Seconds between two looks of the watcher while work is held (see the module's doc).
WATCH = 0.01


class Pool(Protocol):
    """Runs units of work (a claimed run each) for the scheduler."""

    def submit(self, work: Work) -> None:
        """Run ``work``, now or on another thread; it catches its own errors."""
        ...

    def shutdown(self) -> None:
        """Let the work submitted so far end, then release the threads; returns at once."""
        ...


class InlinePool:
    """Runs each unit of work on the thread that submits it (``trigger`` without a daemon)."""

    def submit(self, work: Work) -> None:
        """Run ``work`` now, here."""
        work()

    def shutdown(self) -> None:
        """Nothing to release."""


class WorkerPool:
    """``size`` daemon threads running work as it is submitted, or at its start time.

    The threads start with the first submit: a scheduler that never fires starts none.
    ``clock`` tells the time of ``submit_at``'s starts (the scheduler's).
    """

    def __init__(
        self, size: int, clock: Callable[[], datetime], name: str = "yamlcron-worker"
    ) -> None:
        self._size = size
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._followers = threading.Condition(self._lock)  # idle: work ready, or a lead to take
        self._leading = threading.Condition(self._lock)  # the leader: a sooner start, a change
        self._watching = threading.Condition(self._lock)  # the watcher: work is held now
        self._ready: deque[Work] = deque()
        self._held: list[tuple[datetime, int, Work, Quick]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting on _followers and not yet woken
        self._leader: threading.Thread | None = None
        self._inline = False  # the leader is running quick work itself
        self._inline_since = 0.0  # since when (monotonic)
        self._called = False  # the leader was woken for work ready to run: nobody else is idle
        self._watcher: threading.Thread | None = None
        self._watcher_waits = False  # the watcher waits without a timeout
        self._released = False  # held work goes out at once (stopping)
        self._closing = False

    def submit(self, work: Work) -> None:
        """Run ``work`` on the next free thread (after ``shutdown``: here, now)."""
        with self._lock:
            if not self._closing:
                self._start()
                self._ready.append(work)
                self._wake_one()
                return
        work()  # never lost, though nothing should come after a shutdown

    def submit_at(self, start: datetime, work: Work, quick: Quick = False) -> None:
        """Run ``work`` at ``start``; ``quick``: it takes under ``QUICK`` seconds.

        ``quick`` may be a callable, asked at the start. Once held work is released
        (stopping), at once: each unit of work waits out what is left of its start itself.
        """
        with self._lock:
            if not self._released:
                self._start()
                sooner = not self._held or start < self._held[0][0]
                heapq.heappush(self._held, (start, next(self._order), work, quick))
                if self._leader is None:
                    self._wake_one()  # to lead
                elif sooner and not self._inline:
                    self._leading.notify()  # it sleeps until a later start
                if self._watcher_waits:
                    self._watching.notify()  # work is held: look every WATCH seconds
                return
        self.submit(work)

    def release_held(self) -> None:
        """Hand out what is held now, in time order, and what comes later at once (stopping)."""
        with self._lock:
            self._release()

    def shutdown(self) -> None:
        """Let the threads end once the work submitted before this is done; returns at once."""
        with self._lock:
            self._closing = True
            self._threads = []
            self._release()

    def _release(self) -> None:
        self._released = True
        self._ready.extend(work for _, _, work, _ in sorted(self._held))
        self._held = []
        self._idle = 0
        self._followers.notify_all()
        self._leading.notify_all()
        self._watching.notify_all()

    def _start(self) -> None:
        if self._threads:
            return
        self._threads = [
            threading.Thread(target=self._work, name=f"{self._name}_{i}", daemon=True)
            for i in range(self._size)
        ]
        for thread in self._threads:
            thread.start()

    def _wake_follower(self) -> bool:
        """Under the lock: wake an idle follower, if any; whether one was."""
        if not self._idle:
            return False
        self._idle -= 1  # counted out here: a second call wakes a second thread
        self._followers.notify()
        return True

    def _wake_one(self) -> None:
        """Under the lock: an idle thread looks for work (none may be idle: all are busy)."""
        if self._wake_follower():
            return
        if self._watcher is not None:
            self._watching.notify()
        elif self._leader is not None and not self._inline:
            self._called = True
            self._leading.notify()

    def _work(self) -> None:
        me = threading.current_thread()
        try:
            with self._lock:
                while (work := self._next(me)) is not None:
                    self._lock.release()
                    try:
                        work()
                    finally:
                        self._lock.acquire()
        except BaseException:
            # Work catches its own errors (the runner's executor boundary catches a job's,
            # sys.exit() included): what escapes is a bug, which must not shrink the pool.
            log.exception("worker thread %s died; starting another in its place", me.name)
            self._replace(me)

    def _next(self, me: threading.Thread) -> Work | None:
        """Under the lock: the next work for ``me`` to run, None when the pool is closing."""
        while True:
            if self._leader is me:
                self._inline = False
                if (work := self._lead()) is not None:
                    return work
            elif self._ready:
                return self._ready.popleft()
            elif self._held and self._leader is None:
                self._leader = me
            elif self._closing:
                return None
            elif self._watcher is None:
                self._watch(me)
            else:
                self._idle += 1
                self._followers.wait()  # whoever woke it counted it out

    def _lead(self) -> Work | None:
        """Under the lock, leading: the work to run, None having stepped down."""
        while self._held and not self._called:
            start, _, work, quick = self._held[0]
            wait = (start - self._clock()).total_seconds()
            if wait > 0:
                awaited(wait)  # then the loop and the recorder let this thread in
                self._leading.wait(wait)
                continue
            awaited(None)
            heapq.heappop(self._held)
            if quick if isinstance(quick, bool) else quick():
                self._inline = True  # back to leading once it is done
                self._inline_since = time.monotonic()
            else:
                self._step_down()
            return work
        awaited(None)
        self._step_down()  # called for work ready to run, which comes first
        return None

    def _step_down(self) -> None:
        self._leader = None
        self._called = False
        if self._held:
            self._wake_one()

    def _watch(self, me: threading.Thread) -> None:
        """Under the lock, as the watcher for one wait: then take the lead from one held up."""
        self._watcher = me
        if not self._held:
            self._watcher_waits = True
            self._watching.wait()
            self._watcher_waits = False
            self._watcher = None
            return
        self._watching.wait(WATCH)
        self._watcher = None  # whoever goes idle next watches, this thread again most often
        if (
            self._inline
            and time.monotonic() - self._inline_since >= WATCH
            and self._held
            and self._held[0][0] <= self._clock()
        ):
            # The leader's quick work turned out slow: lead in its place, and let an idle
            # thread watch in ours.
            self._inline = False
            self._leader = me
            self._wake_follower()

    def _replace(self, lost: threading.Thread) -> None:
        """Start a thread in the place of ``lost`` (unless the pool was shut down since)."""
        with self._lock:
            if self._leader is lost:
                self._inline = False
                self._step_down()
            if lost not in self._threads:
                return
            thread = threading.Thread(target=self._work, name=lost.name, daemon=True)
            self._threads[self._threads.index(lost)] = thread
            thread.start()
