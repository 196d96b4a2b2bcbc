"""Claiming a pass's fires and handing the claimed runs out, each at its start time.

The loop (``yamlcron.scheduler.loop``) says what is due and when to pass; this module
decides under the runner's lock (``max_instances`` sees every run under way), writes the
claims in one store transaction, and hands each ``running`` run to the pool. A run
claimed ahead of its start (the loop claims up to ``LEAD`` ahead, jitter starts later)
is held by the pool until its time (``WorkerPool.submit_at``), so a start does not wait
for the loop, which may be in the middle of a claim's disk flush.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from yamlcron import firing
from yamlcron.errors import LeaseLostError, StoreError
from yamlcron.events import RunEvent, run_event
from yamlcron.giveway import give_way, giving_way
from yamlcron.interfaces import Store
from yamlcron.model import JobSpec
from yamlcron.runs import Claim, Lease, Queued, Run, RunStatus
from yamlcron.scheduler.lease import LeaseKeeper
from yamlcron.scheduler.parts import RunListener
from yamlcron.scheduler.pool import Pool, WorkerPool
from yamlcron.scheduler.runner import Runner

if TYPE_CHECKING:
    from yamlcron.remotetracker import Tracker

log = logging.getLogger("yamlcron.scheduler")


class Claimer:
    """Writes a pass's claims and hands their runs out. The loop's thread only (and ``run_now``'s).

    ``pool``: where runs are executed; runs handed to it whose start is still ahead are
    held until ``release`` is called at or after their start.
    """

    def __init__(
        self,
        runner: Runner,
        lease: LeaseKeeper,
        pool: Pool,
        wakeup: Callable[[], None],
        remote: Tracker | None = None,
    ) -> None:
        """Nothing is read or written until a pass claims.

        ``remote``: where remote runs go (``task`` runs): followed there, they hold no worker.
        """
        self.store: Store = runner.store
        self.runner = runner
        self.lease = lease
        self.pool = pool
        #: Holds the runs claimed ahead until their start, when the pool can.
        self._timed = pool if isinstance(pool, WorkerPool) else None
        self._listener: RunListener = runner.listener
        self._folder: Path = runner.folder
        self._wakeup = wakeup
        self._remote = remote
        self._clock = runner.clock
        #: A claim failed: did it commit? Its runs are looked for (``adopt``) next pass.
        self.unsure = False

    def decide(
        self,
        fires: Sequence[firing.DueFires],
        queued: Sequence[tuple[Queued, JobSpec | None]],
        now: datetime,
        everywhere: Counter[str],
        uniform: firing.Uniform,
    ) -> tuple[list[Claim], Counter[str]]:
        """The claims of a pass, whose starts count as under way from now on.

        Under the runner's lock, so ``max_instances`` sees every run this scheduler has
        under way, and the runs of others (``everywhere``) that are not its own.
        """
        with self.runner.lock:
            running = self.runner.counted(everywhere)
            claims = firing.decide(giving_way(fires), queued, now, running, uniform)
            starts = firing.starts(claims)
            self.runner.count(starts)
        return claims, starts

    def dispatch(
        self,
        claims: list[Claim],
        starts: Counter[str],
        specs: dict[str, JobSpec],
        pool: Pool | None = None,
    ) -> None:
        """Write ``claims`` and hand their runs out (on ``pool``, else the loop's)."""
        written = self.claim(claims, starts) if claims else []
        self._hand_out(written, specs, pool or self.pool)

    def claim(self, claims: list[Claim], starts: Counter[str]) -> list[tuple[Run, Lease]]:
        """Write the claims, whose ``starts`` were counted as running when decided.

        Counted before the write, so the runner's lock is not held across its disk flush:
        the recorder needs it to release every run that ends. The starts that were not
        written (another replica claimed the fire first, or the lease was lost) are
        released here. Each run comes with the lease it was claimed under: only that lease
        may finish it.
        """
        lease = self.lease.current()
        written: list[Run] = []
        try:
            written = self.store.claim(claims, lease, self.runner.source)
        except LeaseLostError:
            self.lease.rejoin(lease)  # nothing was claimed; the next pass tries anew
            self._wakeup()
        except StoreError:
            # A connection cut during COMMIT leaves us not knowing whether the claim was
            # written: if it was, its runs are ours and nobody else will ever run them.
            self.unsure = True
            raise
        finally:  # a store error too: what was not written does not run
            starts.subtract(r.job_id for r in written if r.status == RunStatus.RUNNING)
            if unwritten := list(starts.elements()):
                self.runner.release(unwritten)
        return [(run, lease) for run in written]

    def adopt(self) -> None:
        """Run the runs a claim wrote though it failed to say so: claimed, never handed out."""
        lease = self.lease.current()
        known = self.runner.known()  # before the read: a run recorded meanwhile is not read
        orphans = [run for run in self.store.claimed(lease) if run.id not in known]
        self.unsure = False
        if not orphans:
            return
        specs = {  # the jobs read as a reap reads them: a removed or damaged one is left
            spec.id: spec for spec, _ in self.runner.reaped(orphans).values() if spec is not None
        }
        orphans = [run for run in orphans if run.job_id in specs]  # reaped once we leave
        for run in orphans:
            log.warning(
                "run %s of %s was claimed as the connection was cut; running it now",
                run.id,
                run.job_id,
            )
        with self.runner.lock:
            self.runner.count(Counter(run.job_id for run in orphans))
        self._hand_out([(run, lease) for run in orphans], specs, self.pool)

    def close(self) -> None:
        """Hand out the runs held for their start now (stopping): each worker waits it out."""
        if self._timed is not None:
            self._timed.release_held()

    def _hand_out(
        self, written: list[tuple[Run, Lease]], specs: dict[str, JobSpec], pool: Pool
    ) -> None:
        """Start the claimed ``running`` runs on ``pool``; announce the others.

        The loop and ``run_now`` both come here, so a manual run without a daemon is
        announced as one through it is (``submitted``, ``skipped``, ...).
        """
        now = self._clock()
        timed = self._timed if pool is self.pool else None
        for run, lease in written:
            give_way()  # handing out a pass's runs is a long stretch (yamlcron.giveway)
            spec = specs[run.job_id]
            heard = self._listener.hears(spec)  # asked once per run: the answer travels with it
            if run.status == RunStatus.RUNNING:
                self.runner.handed.add(run.id)
                if heard:
                    self.runner.announce(
                        RunEvent(kind="submitted", run=run, job=spec, folder=self._folder)
                    )
                if spec.remote and self._remote is not None:  # sent at its start by the tracker
                    self._remote.submit(run, spec, lease, heard)
                    continue
                work = partial(self.runner.execute, run, spec, lease, heard)
                start = run.started_at
                # Quick work due now goes through the leader too: one thread runs it in turn.
                # Whether it is quick is asked again at its start: a burst claimed ahead is
                # handed out before the first of its runs has shown how long they take.
                if (
                    timed is not None
                    and start is not None
                    and (start > now or self.runner.quick(spec))
                ):
                    timed.submit_at(start, work, partial(self.runner.quick, spec))
                else:
                    pool.submit(work)
            elif heard:
                self.runner.announce(run_event(run, spec, folder=self._folder))
