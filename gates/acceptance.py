"""Findings a reviewer accepted with a reason, applied to a phase's gate results.

A finding is identified by what it says (rule, image, field, matched text), so the same finding
keeps its identity when the gates run again. A critical finding counts as accepted only when two
different owners accepted it: no single person can wave one through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from gates.result import Finding, GateResult, Status

# Severities that count against a findings gate's limit by default (the policy's min_severity
# for sensitivity, and the metadata gate's fixed floor, are both "warning").
COUNTED = frozenset({"warning", "critical"})
CRITICAL_ACCEPTORS = 2


def finding_key(f: Finding) -> str:
    raw = "\x1f".join([f.rule, f.image_id or "", f.field or "", f.context or ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Acceptance:
    finding_key: str
    by: str
    reason: str


def accepted_keys(acceptances: Sequence[Acceptance], severities: Mapping[str, str]) -> set[str]:
    """Keys whose acceptance is complete: one owner, or two different owners for a critical one."""
    people: dict[str, set[str]] = {}
    for a in acceptances:
        people.setdefault(a.finding_key, set()).add(a.by)
    need = {k: CRITICAL_ACCEPTORS if severities.get(k) == "critical" else 1 for k in people}
    return {k for k, who in people.items() if len(who) >= need[k]}


def apply_acceptances(results: Sequence[GateResult], acceptances: Sequence[Acceptance]) -> list[GateResult]:
    """Re-judge findings gates with their accepted findings set aside; other gates are untouched."""
    if not acceptances:
        return list(results)
    severities = {finding_key(f): f.severity for r in results for f in r.findings}
    done = accepted_keys(acceptances, severities)
    reasons = {a.finding_key: a for a in acceptances}
    out: list[GateResult] = []
    for r in results:
        accepted = [f for f in r.findings if finding_key(f) in done]
        if not accepted or r.unit != "findings" or r.threshold is None:
            out.append(r)
            continue
        counted_before = int(r.values.get("counted", sum(1 for f in r.findings if f.severity in COUNTED)))
        counted_now = max(0, counted_before - sum(1 for f in accepted if f.severity in COUNTED))
        remaining = len(r.findings) - len(accepted)
        if r.status is Status.FAIL and counted_now <= r.threshold:
            status = Status.WARN if remaining else Status.PASS
        else:
            status = r.status
        out.append(
            replace(
                r,
                status=status,
                summary=f"{r.summary} ({len(accepted)} accepted with a reason)",
                measured=float(counted_now),
                values={**r.values, "counted": counted_now, "accepted": len(accepted)},
                evidence={
                    **r.evidence,
                    "accepted": [
                        {
                            "finding": finding_key(f),
                            "by": reasons[finding_key(f)].by,
                            "reason": reasons[finding_key(f)].reason,
                        }
                        for f in accepted
                    ],
                },
            )
        )
    return out
