"""How often one person, or one channel, may send ``/release`` commands: a sliding one-minute window.

A command can start image decoding and database work; a burst from one member (or a script in a
channel) must not crowd out everyone else's acks. Kept per process, which is enough to stop a burst
at the replica it lands on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

PER_USER_PER_MINUTE = 20
PER_CHANNEL_PER_MINUTE = 60
WINDOW_SECONDS = 60.0


@dataclass
class SlidingWindow:
    limit: int
    seconds: float = WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, key: str) -> float:
        """0 when ``key`` may go now (and counts it), else how many seconds until it may."""
        if self.limit <= 0:
            return 0.0  # no limit configured
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        while seen and now - seen[0] >= self.seconds:
            seen.popleft()
        if len(seen) >= self.limit:
            return self.seconds - (now - seen[0])
        seen.append(now)
        return 0.0


@dataclass
class CommandLimits:
    users: SlidingWindow = field(default_factory=lambda: SlidingWindow(PER_USER_PER_MINUTE))
    channels: SlidingWindow = field(default_factory=lambda: SlidingWindow(PER_CHANNEL_PER_MINUTE))

    @classmethod
    def per_minute(cls, per_user: int, per_channel: int) -> CommandLimits:
        return cls(SlidingWindow(per_user), SlidingWindow(per_channel))

    def refusal(self, user: str, channel: str) -> str | None:
        """A polite answer when this command is one too many, else None."""
        wait = self.users.wait(user)
        if wait:
            return (
                f"You have sent {self.users.limit} commands in the last minute; "
                f"please try again in {max(1, round(wait))} s."
            )
        wait = self.channels.wait(channel)
        if wait:
            return (
                f"This channel has sent {self.channels.limit} commands in the last minute; "
                f"please try again in {max(1, round(wait))} s."
            )
        return None
