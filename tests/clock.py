"""A fake clock to inject as the scheduler's: it answers the same moment until moved."""

from __future__ import annotations

from datetime import datetime


class FakeClock:
    """Answers ``now``; tests move it by setting ``now`` or with ``at``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> datetime:
        """Move to ``moment`` and answer it."""
        self.now = moment
        return moment
