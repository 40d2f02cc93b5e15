"""Result and evidence types shared by every gate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    INCONCLUSIVE = "inconclusive"
    FAIL = "fail"


# Higher is worse; a phase is as bad as its worst gate.
_SEVERITY_ORDER = {Status.PASS: 0, Status.WARN: 1, Status.INCONCLUSIVE: 2, Status.FAIL: 3}


def worst(statuses: Iterable[Status]) -> Status:
    result = Status.PASS
    for s in statuses:
        if _SEVERITY_ORDER[s] > _SEVERITY_ORDER[result]:
            result = s
    return result


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer must look at (a risky word, a leaked GPS tag, an off-brand colour)."""

    rule: str
    severity: str  # info | warning | critical
    message: str
    image_id: str | None = None
    field: str | None = None
    context: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "image_id": self.image_id,
            "field": self.field,
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            rule=str(d["rule"]),
            severity=str(d["severity"]),
            message=str(d["message"]),
            image_id=d.get("image_id"),
            field=d.get("field"),
            context=d.get("context"),
        )


@dataclass(frozen=True)
class GateResult:
    """What one gate concluded, for one image or for the whole release (``image_id`` None).

    ``measured``/``threshold``/``unit`` carry the headline number shown in Slack; ``values``
    holds every measured value by name (the JSON contract of ``gate preview``), and
    ``evidence`` anything an auditor needs to recompute the verdict.
    """

    gate: str
    status: Status
    summary: str
    image_id: str | None = None
    measured: float | None = None
    threshold: float | None = None
    unit: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status.value,
            "summary": self.summary,
            "image_id": self.image_id,
            "measured": self.measured,
            "threshold": self.threshold,
            "unit": self.unit,
            "values": dict(self.values),
            "evidence": dict(self.evidence),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateResult:
        return cls(
            gate=str(d["gate"]),
            status=Status(d["status"]),
            summary=str(d["summary"]),
            image_id=d.get("image_id"),
            measured=d.get("measured"),
            threshold=d.get("threshold"),
            unit=str(d.get("unit") or ""),
            values=dict(d.get("values") or {}),
            evidence=dict(d.get("evidence") or {}),
            findings=tuple(Finding.from_dict(f) for f in d.get("findings") or ()),
        )
