"""Where a traffic ramp should be at a given moment.

The ramp is a pure function of the phase's start time, so a restarted bot (or a second replica)
computes the same step without remembering anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RampPosition:
    percent: float
    step: int  # 0-based index into the steps
    final: bool
    # When the final step was (or will be) reached; the phase observes at least one `every` there.
    final_at: datetime


def position(steps: Sequence[float], every: timedelta, started_at: datetime, now: datetime) -> RampPosition:
    if not steps:
        raise ValueError("a ramp needs at least one step")
    elapsed = max(now - started_at, timedelta(0))
    step = min(int(elapsed / every), len(steps) - 1)
    final_at = started_at + every * (len(steps) - 1)
    return RampPosition(percent=float(steps[step]), step=step, final=step == len(steps) - 1, final_at=final_at)


def settled(steps: Sequence[float], every: timedelta, started_at: datetime, now: datetime) -> bool:
    """At the last step and held there for one full interval: ready to be judged for approval."""
    pos = position(steps, every, started_at, now)
    return pos.final and now >= pos.final_at + every


def region_split(regions: dict[str, float]) -> dict[str, float]:
    """Normalise per-region weights to ratios that sum to 1 (empty stays empty)."""
    total = sum(v for v in regions.values() if v > 0)
    if total <= 0:
        return {}
    return {k: round(v / total, 4) for k, v in sorted(regions.items()) if v > 0}
