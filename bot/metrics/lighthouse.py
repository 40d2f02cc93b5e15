"""Lighthouse reports as lab samples for the Canary gates.

Accepts a navigation report (an LHR: ``{"lighthouseVersion", "audits", ...}``) or a user-flow
result (``{"steps": [{"lhr": ...}, ...]}``). What each step can measure depends on its
``gatherMode``:

* navigation: LCP, TBT and CLS. TBT stands in for INP: a lab run has no user input, and TBT is
  the lab metric that moves with the main-thread work that makes interactions slow.
* timespan: INP where the flow interacted (``interaction-to-next-paint``), TBT and CLS.
* snapshot: nothing time-based, so no samples.

A metric that errored (``scoreDisplayMode: error`` or a null ``numericValue``) or is absent where
the step should have it is skipped with the reason, so the import can tell the user what it did
not take instead of storing a zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gates.metrics import CohortName

LabMetric = Literal["LCP", "INP", "CLS"]


@dataclass(frozen=True)
class _Audit:
    audit: str
    metric: LabMetric
    proxy: bool  # True when the lab value only stands in for the field metric


_LCP = _Audit("largest-contentful-paint", "LCP", False)
_TBT = _Audit("total-blocking-time", "INP", True)
_CLS = _Audit("cumulative-layout-shift", "CLS", False)
_INP = _Audit("interaction-to-next-paint", "INP", False)

_EXPECTED: Final[dict[str, tuple[_Audit, ...]]] = {
    "navigation": (_LCP, _TBT, _CLS),
    "timespan": (_TBT, _CLS, _INP),
    "snapshot": (),
}


class LighthouseError(ValueError):
    """The file is not a Lighthouse report we understand; the message says what is wrong."""


@dataclass(frozen=True)
class LabSample:
    metric: LabMetric  # the web-vitals metric this sample feeds (TBT feeds INP)
    value: float  # ms for LCP/TBT/INP, unitless for CLS
    audit: str  # the Lighthouse audit it came from
    proxy: bool
    step: int
    step_name: str
    gather_mode: str
    url: str | None
    fetch_time: str | None

    @property
    def id(self) -> str:
        """Stable per report, step and audit, so importing the same report twice dedupes."""
        return f"lh:{self.fetch_time or 'unknown'}:{self.step}:{self.audit}"

    def to_item(self, release: str, cohort: CohortName, region: str = "lab", page: str | None = None) -> dict[str, Any]:
        """The ``POST /api/v1/metrics`` shape, so the import goes through the same validation."""
        return {
            "name": self.metric,
            "value": self.value,
            "id": self.id,
            "release": release,
            "cohort": cohort,
            "region": region,
            "page": page if page is not None else (self.url or None),
            "navigationType": "lab",
            "source": "lighthouse",
            "audit": self.audit,
        }


@dataclass(frozen=True)
class Skipped:
    step: int
    step_name: str
    audit: str
    reason: str


@dataclass(frozen=True)
class LighthouseImport:
    samples: list[LabSample] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _steps(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(report.get("steps"), list):
        out: list[tuple[str, Mapping[str, Any]]] = []
        for i, step in enumerate(report["steps"]):
            if not isinstance(step, Mapping) or not isinstance(step.get("lhr"), Mapping):
                raise LighthouseError(f"user-flow step {i} has no 'lhr' object")
            out.append((str(step.get("name") or f"step {i}"), step["lhr"]))
        return out
    if isinstance(report.get("audits"), Mapping):
        return [(str(report.get("finalDisplayedUrl") or report.get("requestedUrl") or "navigation"), report)]
    raise LighthouseError(
        "not a Lighthouse report: expected 'audits' (a navigation report) or 'steps' (a user-flow result)"
    )


def _numeric(audit: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """(value, None) or (None, why it cannot be used)."""
    if audit.get("scoreDisplayMode") == "error":
        msg = audit.get("errorMessage") or "no message"
        return None, f"errored in Lighthouse: {msg}"
    v = audit.get("numericValue")
    if v is None:
        return None, "has no numericValue"
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        return None, f"numericValue {v!r} is not a finite non-negative number"
    return float(v), None


def parse_lighthouse(report: Mapping[str, Any]) -> LighthouseImport:
    """Lab samples from a navigation report or a user-flow result, and what was skipped and why."""
    if not isinstance(report, Mapping):
        raise LighthouseError("not a Lighthouse report: the top level must be a JSON object")
    result = LighthouseImport()
    for i, (name, lhr) in enumerate(_steps(report)):
        mode = str(lhr.get("gatherMode") or "navigation")
        audits = lhr.get("audits")
        if not isinstance(audits, Mapping):
            result.skipped.append(Skipped(i, name, "*", "step has no audits"))
            continue
        expected = _EXPECTED.get(mode)
        if expected is None:
            result.skipped.append(Skipped(i, name, "*", f"unknown gatherMode {mode!r}"))
            continue
        if not expected:
            result.skipped.append(Skipped(i, name, "*", f"a {mode} step measures no web vitals"))
            continue
        url = lhr.get("finalDisplayedUrl") or lhr.get("finalUrl") or lhr.get("requestedUrl")
        for spec in expected:
            audit = audits.get(spec.audit)
            if not isinstance(audit, Mapping):
                why = "absent from the report"
                if spec is _INP:
                    why += " (the flow did not interact during this step)"
                result.skipped.append(Skipped(i, name, spec.audit, why))
                continue
            value, why_not = _numeric(audit)
            if value is None:
                result.skipped.append(Skipped(i, name, spec.audit, why_not or "unusable"))
                continue
            result.samples.append(
                LabSample(
                    metric=spec.metric,
                    value=value,
                    audit=spec.audit,
                    proxy=spec.proxy,
                    step=i,
                    step_name=name,
                    gather_mode=mode,
                    url=str(url) if url else None,
                    fetch_time=str(lhr["fetchTime"]) if lhr.get("fetchTime") else None,
                )
            )
    return result
