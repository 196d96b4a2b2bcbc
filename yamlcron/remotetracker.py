"""The tracker: one thread per daemon that sends remote runs and follows them to their end.

The loop hands it each claimed ``task`` run instead of a worker (``submit``); a start or a
reaped lease hands it the remote runs of schedulers that are gone (``adopt``). It sends
what is due, in batches per executor, notes them sent, polls what was sent every
``poll`` seconds, again in batches, and records each outcome through the runner, so a
remote run's end is written, announced and followed (retries, ``after`` steps) exactly as
a local run's is. A shutdown ``detach``es it: the runs go on in their engine, and the next
scheduler adopts them (``yamlcron.remote``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from yamlcron.errors import StoreError
from yamlcron.events import RunEvent
from yamlcron.interfaces import Outcome, Store
from yamlcron.model import JobSpec
from yamlcron.registry import Registry
from yamlcron.remote import RemoteExecutor, RemoteRun, RemoteStore, reference, remote_run
from yamlcron.runs import Finish, Lease, Run, RunError, RunStatus
from yamlcron.scheduler.runner import Runner

log = logging.getLogger("yamlcron.remote")

#: Seconds between two polls of the runs under way.
POLL = 0.5
#: Seconds before a batch the engine refused is sent again (doubling up to ``RETRY_MAX``).
RETRY_FIRST = 1.0
RETRY_MAX = 30.0


@dataclass(slots=True)
class _Item:
    """One remote run this tracker follows."""

    run: Run
    spec: JobSpec
    lease: Lease
    heard: bool
    remote: RemoteRun
    due: datetime  # when to send it (its jitter), or to try again
    sent: bool = False
    started: datetime | None = None
    tries: int = 0


class Tracker:
    """Sends and follows every remote run of one scheduler, on one thread. Thread-safe."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        runner: Runner,
        clock: Callable[[], datetime],
    ) -> None:
        """Nothing starts until a run is submitted or adopted."""
        self.store = store
        self.registry = registry
        self.runner = runner
        self.clock = clock
        #: Where ``${VAR}`` in executor options is read from, when each run is sent.
        self.environ: Mapping[str, str] = os.environ
        self.poll = POLL
        self._items: dict[int, _Item] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._identity: str | None = None
        self._unmarked: list[int] = []  # sent, to be noted at the next poll (_mark_sent)

    def _remote_store(self) -> RemoteStore:
        if not isinstance(self.store, RemoteStore):
            raise StoreError("this store does not keep remote runs (task runs)")
        return self.store

    def _reference(self, run: Run) -> str:
        if self._identity is None:
            self._identity = self._remote_store().store_identity()
        return reference(self._identity, run.job_id, run.scheduled_at, run.attempt)

    # -- from the loop ------------------------------------------------------------------

    def submit(self, run: Run, spec: JobSpec, lease: Lease, heard: bool) -> None:
        """A claimed remote run: send it at its start time, then follow it."""
        item = _Item(
            run=run,
            spec=spec,
            lease=lease,
            heard=heard,
            remote=remote_run(run, spec, self._reference(run), self.environ),
            due=run.started_at or self.clock(),
        )
        self._add([item])

    def adopt(self, lease: Lease) -> int:
        """Take over the remote runs of schedulers that are gone; how many were adopted."""
        if not isinstance(self.store, RemoteStore):
            return 0  # a store without remote runs has none to adopt
        adopted = self.store.adopt_remote(lease)
        if not adopted:
            return 0
        jobs = self.runner.reaped([a.run for a in adopted])
        items: list[_Item] = []
        orphans: list[Finish] = []
        for found in adopted:
            run = found.run
            spec = jobs.get(run.id, (None, ()))[0]
            if spec is None:  # its job was removed: nothing says how to ask its engine
                message = "its job was removed while it ran elsewhere; its outcome is unknown"
                outcome = Outcome(
                    status=RunStatus.INTERRUPTED, error=RunError(type="Removed", message=message)
                )
                now = self.clock()
                orphans.append(
                    Finish(run=run.ended(outcome, run.started_at or now, now), lease=lease)
                )
                continue
            log.info("adopted remote run %s of %s (%s)", run.id, run.job_id, found.reference)
            remote = remote_run(run, spec, found.reference, self.environ)
            item = _Item(
                run=run,
                spec=spec,
                lease=lease,
                heard=self.runner.listener.hears(spec),
                remote=remote,
                due=self.clock(),
                sent=found.sent,
                started=run.started_at if found.sent else None,
            )
            items.append(item)
        if orphans:
            self.store.finish_many(orphans)
        self._add(items, adopted=True)
        return len(items)

    def _add(self, items: list[_Item], *, adopted: bool = False) -> None:
        with self._wake:
            if adopted:  # an adopted run already here (our own lease, renewed) is not counted twice
                fresh = [i for i in items if i.run.id not in self._items]
                for item in items:
                    if item.run.id in self._items:
                        self._items[item.run.id].lease = item.lease
                with self.runner.lock:
                    self.runner.count(Counter(i.run.job_id for i in fresh))
                self.runner.handed.update(i.run.id for i in fresh)
                items = fresh
            for item in items:
                self._items[item.run.id] = item
            if self._thread is None and items:
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._follow, name="yamlcron-remote", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()

    def detach(self, timeout: float = 10.0) -> None:
        """Stop following: the runs go on in their engine; the next scheduler adopts them."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._mark_sent()
        with self._wake:
            self._thread = None
            left = list(self._items.values())
            self._items.clear()
        self.runner.handed.difference_update(i.run.id for i in left)
        if left:
            self.runner.release(i.run.job_id for i in left)
            log.info(
                "%d remote run(s) go on without this scheduler; the next one adopts them", len(left)
            )

    # -- the thread ---------------------------------------------------------------------

    def _follow(self) -> None:
        next_poll = self.clock()
        while not self._stopped():
            with self._wake:
                items = list(self._items.values())
            now = self.clock()
            self._send([i for i in items if not i.sent and i.due <= now], now)
            if now >= next_poll:
                self._mark_sent()
                self._poll([i for i in items if i.sent])
                next_poll = self.clock() + timedelta(seconds=self.poll)
            with self._wake:
                if self._stopping:
                    break
                wait = (next_poll - self.clock()).total_seconds()
                pending = [i.due for i in self._items.values() if not i.sent]
                if pending:
                    wait = min(wait, (min(pending) - self.clock()).total_seconds())
                if wait > 0:
                    self._wake.wait(min(wait, self.poll))

    def _stopped(self) -> bool:
        with self._wake:
            return self._stopping

    def _executor(self, name: str) -> RemoteExecutor:
        executor = self.registry.executor(name)
        assert isinstance(executor, RemoteExecutor)  # the manifest's check: task runs only
        return executor

    def _send(self, due: list[_Item], now: datetime) -> None:
        for name, batch in _by_executor(due).items():
            try:
                ended = self._executor(name).send([i.remote for i in batch])
            except Exception as exc:  # the engine's error: the runs wait and are sent again
                self._refused(batch, exc, now)
                continue
            for item in batch:
                item.sent, item.started = True, now
                if item.heard:
                    running = replace(item.run, started_at=now)
                    self.runner.announce(
                        RunEvent(
                            kind="started", run=running, job=item.spec, folder=self.runner.folder
                        )
                    )
            self._unmarked += [i.run.id for i in batch]
            self._conclude({i.remote.reference: i for i in batch}, ended)

    def _mark_sent(self) -> None:
        """Note what was sent since the last poll, in one transaction (one disk flush).

        A crash before it leaves runs sent but not noted: the next scheduler sends them
        again under the same reference, which the engine (or its guard) runs once.
        """
        if not self._unmarked:
            return
        sent, self._unmarked = self._unmarked, []
        try:
            self._remote_store().mark_sent(sent)
        except StoreError as exc:
            log.warning("could not note %d remote run(s) as sent: %s", len(sent), exc)

    def _refused(self, batch: list[_Item], exc: Exception, now: datetime) -> None:
        log.error(
            "could not send %d task run(s) via %s: %s", len(batch), batch[0].spec.executor, exc
        )
        for item in batch:
            expires = item.remote.expires_at
            if expires is not None and now > expires:
                message = f"not sent within misfire_grace_time: {exc}"
                missed = Outcome(
                    status=RunStatus.MISSED, error=RunError(type="Missed", message=message)
                )
                self._conclude({item.remote.reference: item}, {item.remote.reference: missed})
                continue
            item.tries += 1
            delay = min(RETRY_FIRST * 2 ** (item.tries - 1), RETRY_MAX)
            item.due = now + timedelta(seconds=delay)

    def _poll(self, sent: list[_Item]) -> None:
        for name, batch in _by_executor(sent).items():
            try:
                ended = self._executor(name).poll([i.remote for i in batch])
            except Exception as exc:  # the engine's error: asked again at the next poll
                log.error("could not poll %d task run(s) via %s: %s", len(batch), name, exc)
                continue
            self._conclude({i.remote.reference: i for i in batch}, ended)

    def _conclude(self, items: Mapping[str, _Item], ended: Mapping[str, Outcome]) -> None:
        for ref, outcome in ended.items():
            item = items.get(ref)
            if item is None:
                continue
            with self._wake:
                if self._items.pop(item.run.id, None) is None:
                    continue  # detached meanwhile: the next scheduler records it
            final = item.run.ended(outcome, item.started or self.clock(), self.clock())
            self.runner.conclude(final, item.spec, item.lease, item.heard)


def _by_executor(items: list[_Item]) -> dict[str, list[_Item]]:
    groups: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        groups[item.spec.executor].append(item)
    return groups
