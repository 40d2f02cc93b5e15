from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.metrics.lighthouse import LighthouseError, parse_lighthouse
from gates.metrics import MetricSample, validate_item


@pytest.fixture
def load(reference_dir: Path) -> Callable[[str], dict[str, Any]]:
    """Reads one of Lighthouse's own sample reports from the reference data (tests/reference.py)."""

    def read(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((reference_dir / "lighthouse" / name).read_text(encoding="utf-8"))
        return data

    return read


def test_navigation_report(load: Callable[[str], dict[str, Any]]) -> None:
    res = parse_lighthouse(load("sample_v2.json"))
    by_audit = {s.audit: s for s in res.samples}
    assert set(by_audit) == {"largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift"}
    assert by_audit["largest-contentful-paint"].metric == "LCP"
    assert by_audit["largest-contentful-paint"].value == pytest.approx(10884.681)
    tbt = by_audit["total-blocking-time"]
    assert tbt.metric == "INP" and tbt.proxy and tbt.value == pytest.approx(1055.198)
    assert by_audit["cumulative-layout-shift"].value == pytest.approx(0.099576)
    assert res.skipped == []
    assert all(s.gather_mode == "navigation" and s.step == 0 for s in res.samples)


def test_user_flow_with_errored_and_absent_metrics(load: Callable[[str], dict[str, Any]]) -> None:
    res = parse_lighthouse(load("sample-flow-result.json"))
    got = [(s.step, s.metric, s.audit) for s in res.samples]
    assert got == [
        (0, "CLS", "cumulative-layout-shift"),
        (1, "CLS", "cumulative-layout-shift"),
        (1, "INP", "interaction-to-next-paint"),
        (3, "CLS", "cumulative-layout-shift"),
    ]
    inp = next(s for s in res.samples if s.audit == "interaction-to-next-paint")
    assert inp.value == pytest.approx(41.019) and not inp.proxy and inp.gather_mode == "timespan"

    skipped = {(k.step, k.audit): k.reason for k in res.skipped}
    # Navigation steps: LCP and TBT errored in Lighthouse itself.
    for step in (0, 3):
        assert "errored" in skipped[(step, "largest-contentful-paint")]
        assert "HostDPR" in skipped[(step, "total-blocking-time")]
    assert "errored" in skipped[(1, "total-blocking-time")]
    assert "measures no web vitals" in skipped[(2, "*")]
    assert len(res.skipped) == 6


def test_samples_pass_ingestion_validation(load: Callable[[str], dict[str, Any]]) -> None:
    res = parse_lighthouse(load("sample-flow-result.json"))
    items = [s.to_item("summer-hero", "canary") for s in res.samples]
    parsed = [validate_item(i, {"summer-hero"}) for i in items]
    assert all(isinstance(p, MetricSample) for p in parsed), parsed
    assert len({i["id"] for i in items}) == len(items)


def test_absent_and_null_metrics_in_a_navigation_report() -> None:
    report = {
        "lighthouseVersion": "13.4.1",
        "gatherMode": "navigation",
        "audits": {
            "largest-contentful-paint": {"scoreDisplayMode": "numeric", "numericValue": None},
            "cumulative-layout-shift": {"scoreDisplayMode": "numeric", "numericValue": float("nan")},
        },
    }
    res = parse_lighthouse(report)
    assert res.samples == []
    reasons = {k.audit: k.reason for k in res.skipped}
    assert reasons["largest-contentful-paint"] == "has no numericValue"
    assert reasons["total-blocking-time"] == "absent from the report"
    assert "not a finite" in reasons["cumulative-layout-shift"]


@pytest.mark.parametrize("bad", [{}, {"steps": [{"name": "x"}]}, {"audits": []}])
def test_not_a_report(bad: dict[str, Any]) -> None:
    with pytest.raises(LighthouseError):
        parse_lighthouse(bad)
