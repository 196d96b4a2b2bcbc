"""When a replica's lease is renewed: the beats' timing, a pure function of the last beat."""

from __future__ import annotations

import pytest

from yamlcron.scheduler.lease import beat_delay


def test_beats_come_a_third_of_the_ttl_apart_from_start_to_start() -> None:
    assert beat_delay(30.0, 0.0, failed=False) == pytest.approx(10.0)
    # A reap that took 4 s after the renewal does not push the next renewal back 4 s.
    assert beat_delay(30.0, 4.0, failed=False) == pytest.approx(6.0)
    assert beat_delay(30.0, 12.0, failed=False) == 0.0  # overdue: at once


def test_two_refused_beats_in_a_row_leave_the_lease_standing() -> None:
    ttl, spent = 3.0, 0.05  # each beat, refused or not, takes ``spent``
    start = beat_delay(ttl, spent, failed=False) + spent  # of the first refused beat
    start += beat_delay(ttl, spent, failed=True) + spent  # of the second
    start += beat_delay(ttl, spent, failed=True) + spent  # of the third, which renews
    assert start == pytest.approx(ttl / 3 + 2 * ttl / 10)  # not ttl: the lease stands
