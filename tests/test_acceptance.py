"""Accepting findings: one owner for a warning, two different owners for a critical one."""

from __future__ import annotations

from gates.acceptance import Acceptance, apply_acceptances, finding_key
from gates.result import Finding, GateResult, Status

WARN = Finding("sensitivity.minors", "warning", "children", image_id="a", field="alt", context="Two children")
CRIT = Finding("metadata.gps", "critical", "GPS position embedded", image_id="a", field="exif", context="52.1N")


def _gate(*findings: Finding, limit: int = 0) -> GateResult:
    counted = sum(1 for f in findings if f.severity != "info")
    return GateResult(
        gate="sensitivity",
        status=Status.FAIL if counted > limit else Status.PASS,
        summary=f"{len(findings)} findings",
        image_id="a",
        measured=float(counted),
        threshold=float(limit),
        unit="findings",
        values={"counted": counted},
        findings=findings,
    )


def test_a_warning_accepted_by_one_owner_passes() -> None:
    [r] = apply_acceptances([_gate(WARN)], [Acceptance(finding_key(WARN), "U1", "Parents signed releases")])
    assert r.status is Status.PASS and r.values["accepted"] == 1 and r.measured == 0
    assert r.evidence["accepted"] == [{"finding": finding_key(WARN), "by": "U1", "reason": "Parents signed releases"}]


def test_a_critical_finding_needs_two_different_owners() -> None:
    once = [Acceptance(finding_key(CRIT), "U1", "ok")]
    assert apply_acceptances([_gate(CRIT)], once)[0].status is Status.FAIL
    same_twice = [*once, Acceptance(finding_key(CRIT), "U1", "really ok")]
    assert apply_acceptances([_gate(CRIT)], same_twice)[0].status is Status.FAIL
    two = [*once, Acceptance(finding_key(CRIT), "U2", "agreed")]
    assert apply_acceptances([_gate(CRIT)], two)[0].status is Status.PASS


def test_partially_accepted_gate_still_fails_and_other_gates_are_untouched() -> None:
    budget = GateResult(
        gate="image_budget",
        status=Status.FAIL,
        summary="too big",
        image_id="a",
        measured=400000.0,
        threshold=300000.0,
        unit="bytes",
    )
    out = apply_acceptances([_gate(WARN, CRIT), budget], [Acceptance(finding_key(WARN), "U1", "fine")])
    assert out[0].status is Status.FAIL and out[0].measured == 1
    assert out[1] is budget


def test_keys_are_stable_and_distinct() -> None:
    assert finding_key(WARN) == finding_key(Finding(**WARN.to_dict()))
    assert finding_key(WARN) != finding_key(CRIT)
