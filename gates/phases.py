"""The release state machine: every allowed transition is in ``_TRANSITIONS`` and nowhere else.

A release is always in one phase (preview → canary → global) and one state. Anything not
listed below is refused with a reason the bot can show to the person who tried it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum


class Phase(StrEnum):
    PREVIEW = "preview"
    CANARY = "canary"
    GLOBAL = "global"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def next(self) -> Phase | None:
        order = list(Phase)
        i = order.index(self)
        return order[i + 1] if i + 1 < len(order) else None


class State(StrEnum):
    RUNNING = "running"  # gates of the current phase are being evaluated
    AWAITING = "awaiting"  # gates passed; the phase owner's decision is requested
    BLOCKED = "blocked"  # a gate failed; only Reject or "Re-run gates" remain
    PAUSED = "paused"  # held by an owner or by an SLA that ran out twice
    COMPLETED = "completed"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


TERMINAL = frozenset({State.COMPLETED, State.REJECTED, State.ROLLED_BACK})


class DecisionKind(StrEnum):
    """What an owner decided; the button's value and the stored ``decisions.decision``."""

    APPROVE = "approve"
    REJECT = "reject"


class RequestState(StrEnum):
    """An approval request is decided once (compare-and-set on AWAITING) or superseded by a change."""

    AWAITING = "awaiting"
    DECIDED = "decided"
    SUPERSEDED = "superseded"


# The same set as plain values, in a fixed order, for SQL (``NOT IN (…)``, the partial unique index).
TERMINAL_VALUES: tuple[str, ...] = tuple(sorted(s.value for s in TERMINAL))


class Event(StrEnum):
    GATES_PASSED = "gates_passed"
    GATES_FAILED = "gates_failed"
    APPROVE = "approve"
    REJECT = "reject"
    RERUN = "rerun"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Snapshot:
    phase: Phase
    state: State
    paused_from: State | None = None


@dataclass(frozen=True)
class Transition:
    before: Snapshot
    after: Snapshot
    event: Event
    # True when the event ended a phase (approved → next phase starts, or release ends).
    phase_finished: bool = False


@dataclass(frozen=True)
class Refused:
    reason: str


def initial() -> Snapshot:
    return Snapshot(Phase.PREVIEW, State.RUNNING)


def _approve(s: Snapshot) -> Snapshot:
    nxt = s.phase.next
    if nxt is None:
        return Snapshot(s.phase, State.COMPLETED)
    return Snapshot(nxt, State.RUNNING)


def _gates_failed(s: Snapshot) -> Snapshot:
    # Canary and Global have live traffic on the candidate: a failed gate takes it away at once.
    if s.phase is Phase.PREVIEW:
        return Snapshot(s.phase, State.BLOCKED)
    return Snapshot(s.phase, State.ROLLED_BACK)


_TRANSITIONS: dict[tuple[State, Event], Callable[[Snapshot], Snapshot]] = {
    (State.RUNNING, Event.GATES_PASSED): lambda s: Snapshot(s.phase, State.AWAITING),
    (State.RUNNING, Event.GATES_FAILED): _gates_failed,
    (State.AWAITING, Event.APPROVE): _approve,
    (State.AWAITING, Event.REJECT): lambda s: Snapshot(s.phase, State.REJECTED),
    (State.BLOCKED, Event.REJECT): lambda s: Snapshot(s.phase, State.REJECTED),
    (State.BLOCKED, Event.RERUN): lambda s: Snapshot(s.phase, State.RUNNING),
    (State.AWAITING, Event.RERUN): lambda s: Snapshot(s.phase, State.RUNNING),
    (State.RUNNING, Event.PAUSE): lambda s: Snapshot(s.phase, State.PAUSED, paused_from=s.state),
    (State.AWAITING, Event.PAUSE): lambda s: Snapshot(s.phase, State.PAUSED, paused_from=s.state),
    (State.BLOCKED, Event.PAUSE): lambda s: Snapshot(s.phase, State.PAUSED, paused_from=s.state),
    (State.PAUSED, Event.RESUME): lambda s: Snapshot(s.phase, s.paused_from or State.RUNNING),
    (State.PAUSED, Event.REJECT): lambda s: Snapshot(s.phase, State.REJECTED),
}


def _why_not(s: Snapshot, event: Event) -> str:
    if s.state in TERMINAL:
        return f"the release is already {s.state.value.replace('_', ' ')}"
    if event is Event.APPROVE:
        if s.state is State.BLOCKED:
            return "a gate failed: nobody can approve past a failed gate (reject, or re-run the gates)"
        if s.state is State.RUNNING:
            return f"the {s.phase.label} gates are still running"
        if s.state is State.PAUSED:
            return "the release is paused: resume it first"
    if event is Event.RESUME:
        return "the release is not paused"
    if event is Event.PAUSE and s.state is State.PAUSED:
        return "the release is already paused"
    if event is Event.ROLLBACK and s.phase is Phase.PREVIEW:
        return "nothing to roll back: Preview sends no traffic to the candidate (reject it instead)"
    return f"{event.value} is not allowed while {s.phase.label} is {s.state.value}"


def apply(s: Snapshot, event: Event) -> Transition | Refused:
    """Apply ``event`` to ``s``: the new snapshot, or the reason it is refused."""
    if event is Event.ROLLBACK and s.phase is not Phase.PREVIEW and s.state not in TERMINAL:
        return Transition(s, Snapshot(s.phase, State.ROLLED_BACK), event)
    rule = _TRANSITIONS.get((s.state, event))
    if rule is None:
        return Refused(_why_not(s, event))
    after = rule(s)
    if after.state is not State.PAUSED:
        after = replace(after, paused_from=None)
    finished = event is Event.APPROVE
    return Transition(s, after, event, phase_finished=finished)


def allowed_events(s: Snapshot) -> list[Event]:
    return [e for e in Event if isinstance(apply(s, e), Transition)]
