"""The release lifecycle: start, run a phase's gates, decide, move on, and tell Slack.

Each step is: decide with ``gates.phases`` → record with ``storage`` (one transaction with its
audit entry) → tell Slack. Slack failures are logged and never undo a recorded decision.

One file per concern, each layer building on the one below (no file reaches up):
``core`` (collaborators, tasks, thread) → ``summary`` (report) → ``rollback`` → ``traffic`` (the
ramp) → ``evaluation`` (gates and their results) → ``start`` → ``decide``. ``Lifecycle`` is the face.
"""

from __future__ import annotations

from bot.release.core import (
    BOT,
    OBSERVE_TIMER,
    RECONCILE_TIMER,
    REVIEW_TIMER,
    TERMINAL_STATES,
    Artifact,
    ChartMaker,
    Clock,
    PhaseEvaluator,
    ReleaseHooks,
    bundle_facts,
    state_change,
    thread_note,
)
from bot.release.decide import Decisions

__all__ = [
    "BOT",
    "OBSERVE_TIMER",
    "RECONCILE_TIMER",
    "REVIEW_TIMER",
    "TERMINAL_STATES",
    "Artifact",
    "ChartMaker",
    "Clock",
    "Lifecycle",
    "PhaseEvaluator",
    "ReleaseHooks",
    "bundle_facts",
    "state_change",
    "thread_note",
]


class Lifecycle(Decisions):
    """A release's whole flow, built up one concern per module (see the module docstring)."""
