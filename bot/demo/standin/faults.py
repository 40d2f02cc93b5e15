"""Failures the stand-in produces on request, so tests can watch the bot survive a bad Slack day."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultKind", "FaultPlan"]

FaultKind = Literal["rate_limited", "server_error", "drop"]
_KINDS: tuple[str, ...] = ("rate_limited", "server_error", "drop")


@dataclass
class Fault:
    """One injected failure rule.

    ``count`` fires on the next N matching calls; ``rate`` fires on each matching call with that
    probability, drawn from a generator seeded with ``seed`` so a flaky-Slack test is repeatable.
    """

    kind: FaultKind
    method: str | None = None
    count: int | None = None
    rate: float | None = None
    seed: int | None = None
    retry_after: int = 1
    status: int = 500
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(_KINDS)}")
        if self.count is None and self.rate is None:
            self.count = 1
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self._rng = random.Random(self.seed)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def matches(self, method: str) -> bool:
        return self.method is None or self.method == method

    def roll(self) -> bool:
        """Decide whether this call fails; counts the failure when it does."""
        if self.exhausted:
            return False
        if self.rate is not None and self._rng.random() >= self.rate:
            return False
        self.fired += 1
        return True


class FaultPlan:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, method: str) -> Fault | None:
        """The first rule that fires for this call, if any; spent count-based rules are dropped."""
        chosen: Fault | None = None
        for fault in self.faults:
            if fault.matches(method) and fault.roll():
                chosen = fault
                break
        self.faults = [f for f in self.faults if not f.exhausted]
        return chosen
