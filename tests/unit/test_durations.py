"""Durations: kept to the millisecond, from 1 ms to 10,000 years, and shown as they parse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yamlcron.durations import (
    MAX_SECONDS,
    DurationRangeError,
    format_duration,
    kept,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        (0, 0.0, "0s"),
        ("0ms", 0.0, "0s"),
        ("1ms", 0.001, "1ms"),
        ("1.0004s", 1.0004, "1s"),  # kept to the millisecond
        ("90s", 90.0, "1m30s"),
        ("1h30m", 5400.0, "1h30m"),
        ("1.5h", 5400.0, "1h30m"),
        ("2w 3d", 1468800.0, "2w3d"),
        (900, 900.0, "15m"),
    ],
)
def test_parse_and_show(text: int | str, seconds: float, shown: str) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert format_duration(parse_duration(text)) == shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.4ms", "'0.4ms' is shorter than 1ms, the shortest duration"),
        ("0.0001s", "'0.0001s' is shorter than 1ms"),
        ("999999999999w", "'999999999999w' is longer than 10,000 years"),
        ("9" * 400 + "s", "is longer than 10,000 years"),  # a float of infinity
        (10**400, "is longer than 10,000 years"),  # an int no float can hold
    ],
)
def test_a_duration_out_of_range_is_refused(text: int | str, message: str) -> None:
    with pytest.raises(DurationRangeError, match=message):
        parse_duration(text)


def test_nothing_renders_empty() -> None:
    # Rendered "" before: the canonical form then failed to parse back, a traceback.
    assert format_duration(0.0004) == "0s"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(millis=st.integers(1, round(MAX_SECONDS * 1000)))
def test_every_duration_shows_as_it_parses(millis: int) -> None:
    shown = format_duration(millis / 1000)
    assert shown
    assert round(parse_duration(shown) * 1000) == millis


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    parts=st.lists(
        st.tuples(st.integers(1, 9999), st.sampled_from(["w", "d", "h", "m", "s", "ms"])),
        min_size=1,
        max_size=6,
    )
)
def test_a_duration_is_kept_exactly_as_its_shown_text_parses(parts: list[tuple[int, str]]) -> None:
    # A job's spec from the manifest holds kept(seconds); the one rebuilt from the store
    # parses the shown text: both must be the same float, or the two specs differ.
    seconds = parse_duration("".join(f"{n}{unit}" for n, unit in parts))
    assert parse_duration(format_duration(seconds)) == kept(seconds)
