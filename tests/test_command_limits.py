"""The sliding one-minute window behind the /release rate limits."""

from __future__ import annotations

from bot.listeners.limits import CommandLimits, SlidingWindow


def test_the_window_slides() -> None:
    now = [0.0]
    w = SlidingWindow(limit=2, seconds=60, clock=lambda: now[0])
    assert w.wait("u") == 0 and w.wait("u") == 0
    assert w.wait("u") == 60
    now[0] = 30
    assert w.wait("u") == 30 and w.wait("v") == 0  # other keys are counted apart
    now[0] = 60
    assert w.wait("u") == 0


def test_zero_means_no_limit_and_channels_are_limited_too() -> None:
    assert all(SlidingWindow(limit=0).wait("u") == 0 for _ in range(1000))
    limits = CommandLimits.per_minute(per_user=100, per_channel=3)
    answers = [limits.refusal(f"U{i}", "C1") for i in range(4)]
    assert answers[:3] == [None, None, None]
    assert answers[3] is not None and answers[3].startswith("This channel has sent 3 commands")
