"""Every transition and every refusal of the release state machine (gates/phases.py)."""

from __future__ import annotations

import pytest

from gates.phases import TERMINAL, Event, Phase, Refused, Snapshot, State, Transition, allowed_events, apply, initial

S = Snapshot


def _after(s: Snapshot, e: Event) -> Snapshot:
    t = apply(s, e)
    assert isinstance(t, Transition), t
    return t.after


def _refused(s: Snapshot, e: Event) -> str:
    t = apply(s, e)
    assert isinstance(t, Refused), t
    return t.reason


def test_a_release_starts_in_preview_running() -> None:
    assert initial() == S(Phase.PREVIEW, State.RUNNING)


@pytest.mark.parametrize("phase", list(Phase))
def test_gates_passing_asks_for_a_decision(phase: Phase) -> None:
    assert _after(S(phase, State.RUNNING), Event.GATES_PASSED) == S(phase, State.AWAITING)


def test_a_failed_preview_blocks_and_a_failed_traffic_phase_rolls_back() -> None:
    assert _after(S(Phase.PREVIEW, State.RUNNING), Event.GATES_FAILED) == S(Phase.PREVIEW, State.BLOCKED)
    assert _after(S(Phase.CANARY, State.RUNNING), Event.GATES_FAILED) == S(Phase.CANARY, State.ROLLED_BACK)
    assert _after(S(Phase.GLOBAL, State.RUNNING), Event.GATES_FAILED) == S(Phase.GLOBAL, State.ROLLED_BACK)


def test_approving_moves_to_the_next_phase_and_the_last_completes() -> None:
    t = apply(S(Phase.PREVIEW, State.AWAITING), Event.APPROVE)
    assert isinstance(t, Transition) and t.phase_finished and t.after == S(Phase.CANARY, State.RUNNING)
    assert _after(S(Phase.CANARY, State.AWAITING), Event.APPROVE) == S(Phase.GLOBAL, State.RUNNING)
    assert _after(S(Phase.GLOBAL, State.AWAITING), Event.APPROVE) == S(Phase.GLOBAL, State.COMPLETED)


@pytest.mark.parametrize("state", [State.AWAITING, State.BLOCKED, State.PAUSED])
def test_reject_ends_the_release_from_every_waiting_state(state: State) -> None:
    paused_from = State.AWAITING if state is State.PAUSED else None
    assert _after(S(Phase.CANARY, state, paused_from), Event.REJECT) == S(Phase.CANARY, State.REJECTED)


def test_nobody_approves_past_a_failed_gate_a_running_gate_or_a_pause() -> None:
    assert "nobody can approve past a failed gate" in _refused(S(Phase.PREVIEW, State.BLOCKED), Event.APPROVE)
    assert "still running" in _refused(S(Phase.CANARY, State.RUNNING), Event.APPROVE)
    assert "resume it first" in _refused(S(Phase.CANARY, State.PAUSED, State.AWAITING), Event.APPROVE)


@pytest.mark.parametrize("state", [State.RUNNING, State.AWAITING, State.BLOCKED])
def test_pause_remembers_where_it_was_and_resume_returns_there(state: State) -> None:
    paused = _after(S(Phase.CANARY, state), Event.PAUSE)
    assert paused == S(Phase.CANARY, State.PAUSED, paused_from=state)
    assert _after(paused, Event.RESUME) == S(Phase.CANARY, state)  # paused_from is cleared


def test_pause_and_resume_refusals() -> None:
    assert "already paused" in _refused(S(Phase.CANARY, State.PAUSED, State.RUNNING), Event.PAUSE)
    assert "not paused" in _refused(S(Phase.CANARY, State.RUNNING), Event.RESUME)


def test_rerun_from_blocked_or_awaiting() -> None:
    assert _after(S(Phase.PREVIEW, State.BLOCKED), Event.RERUN) == S(Phase.PREVIEW, State.RUNNING)
    assert _after(S(Phase.CANARY, State.AWAITING), Event.RERUN) == S(Phase.CANARY, State.RUNNING)
    assert "not allowed" in _refused(S(Phase.CANARY, State.RUNNING), Event.RERUN)


@pytest.mark.parametrize("state", [State.RUNNING, State.AWAITING, State.BLOCKED, State.PAUSED])
def test_rollback_from_any_live_traffic_state(state: State) -> None:
    assert _after(S(Phase.GLOBAL, state), Event.ROLLBACK) == S(Phase.GLOBAL, State.ROLLED_BACK)


def test_preview_has_nothing_to_roll_back() -> None:
    assert "Preview sends no traffic" in _refused(S(Phase.PREVIEW, State.AWAITING), Event.ROLLBACK)


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(Event))
def test_an_ended_release_refuses_everything(state: State, event: Event) -> None:
    reason = _refused(S(Phase.CANARY, state), event)
    assert reason == f"the release is already {state.value.replace('_', ' ')}"


def test_allowed_events_lists_exactly_what_apply_accepts() -> None:
    assert allowed_events(S(Phase.PREVIEW, State.AWAITING)) == [Event.APPROVE, Event.REJECT, Event.RERUN, Event.PAUSE]
    assert allowed_events(S(Phase.CANARY, State.PAUSED, State.AWAITING)) == [Event.REJECT, Event.RESUME, Event.ROLLBACK]
    assert allowed_events(S(Phase.GLOBAL, State.COMPLETED)) == []
