"""What ``Yamlcron.trigger`` returns: a fire asked for, and a way to wait for its outcome."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from yamlcron.interfaces import Store
from yamlcron.runs import Run


@dataclass(frozen=True)
class RunHandle:
    """A fire that was asked for; ``result`` waits for its final outcome (after retries).

    A fire run here (``Yamlcron.trigger`` without a loop) is over when the handle is
    made: ``outcome`` is its final run, and ``stopped`` what stopped it, if anything: a
    signal's number, or ``TIMED_OUT`` (0) when its time ran out.
    """

    store: Store
    job_id: str
    scheduled_at: datetime
    outcome: Run | None = None
    stopped: int | None = None

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Run:
        """The final run of this fire; TimeoutError if it has not ended within ``timeout``."""
        from yamlcron.scheduler.loop import final_run

        if self.outcome is not None:
            return self.outcome
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            final = final_run(self.store, self.job_id, self.scheduled_at)
            if final is not None:
                return final
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run of {self.job_id} not finished within {timeout} s")
            time.sleep(poll)
