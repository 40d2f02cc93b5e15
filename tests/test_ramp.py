"""Where the ramp should be: a pure function of the phase's start time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gates.ramp import position, region_split, settled

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EVERY = timedelta(minutes=5)


def test_steps_follow_the_clock_and_stop_at_the_last() -> None:
    steps = [5.0, 10.0]
    assert position(steps, EVERY, T0, T0).percent == 5
    assert position(steps, EVERY, T0, T0 + timedelta(minutes=4, seconds=59)).percent == 5
    assert position(steps, EVERY, T0, T0 + EVERY).percent == 10
    late = position(steps, EVERY, T0, T0 + timedelta(hours=3))
    assert late.percent == 10 and late.final and late.step == 1
    assert position(steps, EVERY, T0, T0 - timedelta(seconds=5)).percent == 5  # clock skew: never negative


def test_settled_means_a_full_interval_at_the_last_step() -> None:
    steps = [25.0, 50.0, 100.0]
    assert not settled(steps, EVERY, T0, T0 + 2 * EVERY)
    assert settled(steps, EVERY, T0, T0 + 3 * EVERY)


def test_region_split_normalises_weights() -> None:
    assert region_split({"eu": 1, "us": 3}) == {"eu": 0.25, "us": 0.75}
    assert region_split({}) == {}
    assert region_split({"eu": 0}) == {}
