"""Freezing a daemon's long-lived objects out of the cyclic collector, on a fake clock."""

from __future__ import annotations

import gc

from yamlcron.scheduler.gcfreeze import LAST, Freezer


def test_freezes_come_at_doubling_intervals_up_to_the_last() -> None:
    now = 100.0
    freezer = Freezer(clock=lambda: now)
    frozen_at = []
    try:
        for step in range(80):
            now = 100.0 + step / 2
            if freezer():
                frozen_at.append(now - 100.0)
        assert frozen_at == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        assert gc.get_freeze_count() > 0  # what was alive is out of the collector's view
        now += 10 * LAST  # the interval stops growing at LAST
        assert freezer()
        now += LAST
        assert freezer()
    finally:
        gc.unfreeze()  # give this test process its collector back
